// The page's frame: who is signed in, the navigation, and which page the address
// (#/...) shows. Each page gets a context whose timers stop when the page is left.

import { api, post, setCsrf, ApiError } from './api.js';
import { h, fill, toast } from './dom.js';
import { signinPage } from './pages/signin.js';
import { syncsPage } from './pages/syncs.js';
import { syncPage } from './pages/sync.js';
import { runPage } from './pages/run.js';
import { usersPage } from './pages/users.js';
import { userPage } from './pages/user.js';
import { groupsPage } from './pages/groups.js';
import { groupPage } from './pages/group.js';
import { downloadsPage } from './pages/downloads.js';
import { tokensPage } from './pages/tokens.js';
import { adminsPage } from './pages/admins.js';
import { accountPage } from './pages/account.js';
import { auditPage } from './pages/audit.js';
import { notificationsPage } from './pages/notifications.js';

const RANK = { viewer: 0, operator: 1, 'system-admin': 2 };

const routes = [
  { re: /^\/$/, page: syncsPage, nav: 'syncs' },
  { re: /^\/syncs\/([0-9a-f-]{36})$/, page: syncPage, nav: 'syncs' },
  { re: /^\/runs\/([0-9a-f-]{36})$/, page: runPage, nav: 'syncs' },
  { re: /^\/users$/, page: usersPage, nav: 'users' },
  { re: /^\/users\/([0-9a-f-]{36})$/, page: userPage, nav: 'users' },
  { re: /^\/groups$/, page: groupsPage, nav: 'groups' },
  { re: /^\/groups\/([0-9a-f-]{36})$/, page: groupPage, nav: 'groups' },
  { re: /^\/downloads$/, page: downloadsPage, nav: 'downloads' },
  { re: /^\/tokens$/, page: tokensPage, nav: 'tokens', role: 'system-admin' },
  { re: /^\/admins$/, page: adminsPage, nav: 'admins', role: 'system-admin' },
  { re: /^\/audit$/, page: auditPage, nav: 'audit' },
  { re: /^\/notifications$/, page: notificationsPage, nav: 'notifications', role: 'system-admin' },
  { re: /^\/account$/, page: accountPage, nav: null },
];

const NAV = [
  ['syncs', '#/', 'Synchronizations'],
  ['users', '#/users', 'Users'],
  ['groups', '#/groups', 'Groups'],
  ['downloads', '#/downloads', 'Downloads'],
  ['tokens', '#/tokens', 'API tokens', 'system-admin'],
  ['admins', '#/admins', 'Admins', 'system-admin'],
  ['notifications', '#/notifications', 'Notifications', 'system-admin'],
  ['audit', '#/audit', 'Audit log'],
];

let me = null;
let current = null; // AbortController of the page on screen

// What changes is pushed by the server (Server-Sent Events, /api/v1/events): a run, the
// agents of a synchronization, a notification's delivery. Pages listen while they are on
// screen; nothing polls. `ready` (the stream began, or began again after a break) and
// `missed` mean "read everything again".
const KINDS = ['run', 'agents', 'deliveries', 'ready', 'missed'];
// Changes kept for a page that is still loading; beyond them it reads everything again.
const EARLY_MAX = 200;
let live = null;
const listeners = new Set();

function openLive() {
  if (live) return;
  live = new EventSource('/api/v1/events');
  for (const kind of KINDS) {
    live.addEventListener(kind, (e) => {
      let data = {};
      try { data = JSON.parse(e.data); } catch { /* an event without data */ }
      for (const l of listeners) l(kind, data);
    });
  }
}

function closeLive() {
  if (live) live.close();
  live = null;
}

function can(role) {
  return me !== null && RANK[me.role] >= RANK[role];
}

function renderFrame(active) {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  if (!me) {
    fill(nav);
    fill(who);
    return;
  }
  fill(nav, NAV.filter(([, , , role]) => !role || can(role)).map(([key, href, text]) =>
    h('a', { href, 'aria-current': key === active ? 'page' : null }, text)));
  fill(who,
    h('a', { href: '#/account', class: 'who-link', title: 'Your account and password' }, me.name || me.email),
    h('span', { class: 'role', title: 'Your role' }, me.role),
    h('button', { type: 'button', class: 'small', onclick: signOut }, 'Sign out'));
}

async function signOut() {
  try { await post('/auth/logout'); } catch { /* signed out either way */ }
  closeLive();
  me = null;
  setCsrf(null);
  location.hash = '#/';
  render();
}

function signedIn(who) {
  me = who;
  setCsrf(who.csrf_token);
  openLive();
  render();
}

function render() {
  if (current) current.abort();
  current = new AbortController();
  const { signal } = current;
  const main = document.getElementById('main');
  if (!me) {
    renderFrame(null);
    document.title = 'Sign in — ad-connect';
    signinPage(main, signedIn);
    return;
  }
  const path = (location.hash.replace(/^#/, '') || '/').split('?')[0];
  const route = routes.find((r) => r.re.test(path));
  renderFrame(route ? route.nav : null);
  if (!route || (route.role && !can(route.role))) {
    fill(main, h('h1', null, 'Not found'), h('p', null, 'There is no such page. ', h('a', { href: '#/' }, 'Back to the synchronizations.')));
    return;
  }
  const params = path.match(route.re).slice(1);
  // Changes heard while the page loads, before it says which ones it follows: a run
  // that ends while its page fetches it must still show as ended.
  const early = [];
  const collect = (kind, data) => {
    if (early.length < EARLY_MAX) early.push([kind, data]);
    else early[EARLY_MAX - 1] = ['missed', {}];
  };
  listeners.add(collect);
  signal.addEventListener('abort', () => listeners.delete(collect));
  const ctx = {
    me,
    can,
    signal,
    main,
    alive: () => !signal.aborted,
    title: (t) => { document.title = `${t} — ad-connect`; },
    /**
     * Calls `fn` when the server says something changed that `wanted(kind, data)`
     * accepts (and after a break in the stream), while the page is on screen: at most
     * every 300 ms, never twice at once, the last change never lost.
     */
    onChange(wanted, fn) {
      let timer = null;
      let busy = false;
      let again = false;
      const fire = async () => {
        timer = null;
        if (signal.aborted) return;
        if (busy) { again = true; return; }
        busy = true;
        try { await fn(); } catch (e) { if (!(e instanceof ApiError && e.status === 401)) console.warn(e); }
        busy = false;
        if (again) { again = false; timer = setTimeout(fire, 300); }
      };
      const l = (kind, data) => {
        if (kind !== 'ready' && kind !== 'missed' && !wanted(kind, data)) return;
        if (!timer) timer = setTimeout(fire, 300);
      };
      listeners.add(l);
      for (const [kind, data] of early) l(kind, data);
      signal.addEventListener('abort', () => { listeners.delete(l); clearTimeout(timer); });
    },
  };
  fill(main, h('p', { class: 'muted' }, 'Loading…'));
  route.page(ctx, ...params).catch((e) => {
    if (signal.aborted) return;
    if (e instanceof ApiError && e.status === 401) return;
    fill(main, h('h1', null, 'Something went wrong'), h('p', { class: 'error-box', role: 'alert' }, e.message));
  });
  main.focus({ preventScroll: true });
}

window.addEventListener('hashchange', render);
window.addEventListener('adc:signed-out', () => {
  if (!me) return;
  closeLive();
  me = null;
  setCsrf(null);
  toast('Your session ended. Please sign in again.', 'error');
  render();
});

async function start() {
  try {
    me = await api('GET', '/me');
    if (me.via !== 'session') me = null;
    else if (me.must_change_password) {
      // A session opened with a one-time password: sign in again to set one's own.
      setCsrf(me.csrf_token);
      try { await post('/auth/logout'); } catch { /* signed out either way */ }
      me = null;
      setCsrf(null);
    } else setCsrf(me.csrf_token);
  } catch {
    me = null;
  }
  if (me) openLive();
  render();
}

start();

