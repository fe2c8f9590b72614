// The tenant's audit log: who did what, to what, from where. Filters by actor, action,
// target and time; keyset pages; the same selection as a CSV file; and (system-admin)
// how long entries are kept. Nothing here changes an entry: the server offers no way.

import { get, put, query } from '../api.js';
import { h, fill, field, table, toast } from '../dom.js';
import { time } from '../format.js';

const PAGE = 50;

// Every action the server records, as the page says it. A browser test checks that
// this covers the OpenAPI document's list.
export const ACTIONS = {
  'session.signed_in': 'signed in',
  'session.sign_in_failed': 'failed to sign in',
  'session.signed_out': 'signed out',
  'synchronization.created': 'added synchronization',
  'synchronization.changed': 'changed synchronization',
  'synchronization.deleted': 'deleted synchronization',
  'synchronization.secret_rotated': 'rotated the Secret Token of',
  'run.started': 'started a run of',
  'run.cancelled': 'cancelled a run of',
  'run.approved': 'approved the held deletions of a run of',
  'run.rejected': 'rejected the held deletions of a run of',
  'user.created': 'added user',
  'user.changed': 'changed user',
  'user.enabled': 'enabled user',
  'user.disabled': 'disabled user',
  'user.detached': 'detached user',
  'user.deleted': 'deleted user',
  'group.created': 'added group',
  'group.deleted': 'deleted group',
  'group.detached': 'detached group',
  'group.member_added': 'added a member to group',
  'group.member_removed': 'removed a member from group',
  'token.created': 'created API token',
  'token.revoked': 'revoked API token',
  'admin.created': 'added admin',
  'admin.changed': 'changed admin',
  'admin.deleted': 'removed admin',
  'admin.password_reset': 'reset the password of',
  'admin.password_changed': 'changed the password of',
  'tenant.created': 'created tenant',
  'audit.retention_changed': 'changed the audit retention',
  'notification.endpoint_created': 'added notification endpoint',
  'notification.endpoint_changed': 'changed notification endpoint',
  'notification.endpoint_deleted': 'removed notification endpoint',
  'notification.secret_rotated': 'gave a new signing key to',
  'notification.test_sent': 'sent a test notification to',
  'notification.settings_changed': 'changed the notification thresholds',
  'agent.connected': 'agent connected to',
  'agent.disconnected': 'agent disconnected from',
};

const OBJECTS = [
  ['session', 'Sign-ins and sign-outs'], ['synchronization', 'Synchronizations'], ['run', 'Runs'],
  ['user', 'Users'], ['group', 'Groups'], ['token', 'API tokens'], ['admin', 'Admins'],
  ['agent', 'Agents'], ['notification', 'Notifications'], ['audit', 'Audit settings'], ['tenant', 'Tenant'],
];

const ACTOR_KIND = { admin: 'admin', token: 'API token', agent: 'agent', schedule: 'schedule', cli: 'command line' };

/** What the details say, a line each: changed fields as old → new, nested values under
 * dotted names; empty values are left out. */
function details(d) {
  if (!d || typeof d !== 'object') return null;
  const show = (v) => (v === null || v === undefined ? '—' : Array.isArray(v) ? v.join(', ') : String(v));
  const lines = [];
  const flat = (prefix, v) => {
    if (v === null || v === undefined || v === '') return;
    if (typeof v === 'object' && !Array.isArray(v)) {
      for (const [k, x] of Object.entries(v)) flat(prefix ? `${prefix}.${k}` : k, x);
    } else lines.push(`${prefix}: ${show(v)}`);
  };
  for (const [k, v] of Object.entries(d)) {
    if (k === 'changes' && v && typeof v === 'object') {
      for (const [f, c] of Object.entries(v)) lines.push(`${f}: ${show(c.old)} → ${show(c.new)}`);
    } else flat(k, v);
  }
  return lines.length ? h('ul', { class: 'audit-details' }, lines.map((l) => h('li', null, l))) : null;
}

/** A datetime-local value (local time) as RFC 3339, or '' when empty. */
function rfc3339(local) {
  if (!local) return '';
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

export async function auditPage(ctx) {
  ctx.title('Audit log');
  const settings = await get('/audit/settings');
  if (!ctx.alive()) return;
  const actor = h('input', { type: 'search', name: 'actor', placeholder: 'E-mail, token, host', autocomplete: 'off' });
  const action = h('select', { name: 'action' },
    h('option', { value: '' }, 'All actions'),
    OBJECTS.map(([obj, label]) => h('optgroup', { label },
      h('option', { value: obj }, `${label}: all`),
      Object.entries(ACTIONS).filter(([a]) => a.startsWith(`${obj}.`)).map(([a, text]) => h('option', { value: a }, `${a} — ${text}`)))));
  const target = h('input', { type: 'search', name: 'target', placeholder: 'Name or ID', autocomplete: 'off' });
  const from = h('input', { type: 'datetime-local', name: 'from' });
  const to = h('input', { type: 'datetime-local', name: 'to' });
  const list = h('div');
  const pageInfo = h('span', { class: 'muted', role: 'status' });
  const prev = h('button', { type: 'button' }, '← Newer');
  const next = h('button', { type: 'button' }, 'Older →');
  const csv = h('a', { class: 'button', download: 'audit-log.csv' }, 'Download CSV');
  // Cursors of the pages seen so far: cursors[i] starts page i.
  let cursors = [null];
  let page = 0;
  let nextBefore = null;
  const filters = () => ({
    actor: actor.value.trim(), action: action.value, target: target.value.trim(), from: rfc3339(from.value), to: rfc3339(to.value),
  });
  let seq = 0;
  const load = async () => {
    seq += 1;
    const mine = seq;
    const f = filters();
    csv.href = `/api/v1/audit${query({ ...f, format: 'csv' })}`;
    const res = await get(`/audit${query({ ...f, before: cursors[page], limit: PAGE })}`);
    if (!ctx.alive() || mine !== seq) return;
    nextBefore = res.next_before;
    // On a phone the time goes under the actor: two columns fit its width.
    fill(list, table([{ text: 'When', class: 'hide-narrow' }, 'Who', 'What', { text: 'From', class: 'hide-narrow' }],
      res.entries.map((e) => h('tr', { 'data-entry': e.id, 'data-action': e.action },
        h('td', { class: 'nowrap hide-narrow' }, time(e.at)),
        h('td', { class: 'audit-who' }, h('div', null, e.actor_name), h('div', { class: 'muted small' }, ACTOR_KIND[e.actor_kind] || e.actor_kind)),
        h('td', { class: 'audit-what' },
          h('div', null, ACTIONS[e.action] || e.action, e.target_name ? [' ', h('strong', null, e.target_name)] : null),
          details(e.details)),
        // The request ID's start is enough to find it in the server log; all of it on hover.
        h('td', { class: 'hide-narrow' }, h('div', null, e.address || '—'),
          e.request_id ? h('div', { class: 'muted small', title: `Request ID ${e.request_id}` }, `req ${e.request_id.slice(0, 8)}`) : null))),
      'No entry matches.'));
    prev.disabled = page === 0;
    next.disabled = nextBefore === null;
    fill(pageInfo, `Page ${page + 1} · ${res.entries.length} ${res.entries.length === 1 ? 'entry' : 'entries'}`);
  };
  const fail = (e) => toast(e.message, 'error');
  const restart = () => { cursors = [null]; page = 0; load().catch(fail); };
  prev.addEventListener('click', () => { if (page > 0) { page -= 1; load().catch(fail); } });
  next.addEventListener('click', () => {
    if (nextBefore === null) return;
    cursors[page + 1] = nextBefore;
    page += 1;
    load().catch(fail);
  });
  let timer = null;
  for (const input of [actor, target]) input.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(restart, 250); });
  for (const input of [action, from, to]) input.addEventListener('change', restart);
  const form = h('form', { class: 'filters', role: 'search' },
    field('Who', actor), field('Action', action), field('Target', target), field('From', from), field('Until', to));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); restart(); });

  fill(ctx.main,
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, 'Audit log'),
        h('p', { class: 'muted' }, 'Who did what, to what, and from where. Entries cannot be changed or deleted; they are kept for the retention below.')),
      csv),
    h('section', { class: 'panel' }, form, list, h('div', { class: 'pager' }, pageInfo, prev, next)),
    retention(ctx, settings));
  await load();
}

/** How long entries are kept: a system-admin sets it; everyone else reads it. */
function retention(ctx, settings) {
  const section = h('section', { class: 'panel', 'aria-labelledby': 'retention-h' }, h('h2', { id: 'retention-h' }, 'Retention'));
  if (!ctx.can('system-admin')) {
    section.append(h('p', null, `Entries are kept ${settings.retention_days} days.`));
    return section;
  }
  const days = h('input', { type: 'number', name: 'retention_days', min: 30, max: 3650, required: true, value: String(settings.retention_days) });
  const error = h('p', { class: 'error-box hidden', role: 'alert' });
  const form = h('form', { class: 'inline-form' },
    field('Keep entries for (days)', days, 'From 30 days to 10 years. Older entries are removed at once when you shorten it.'),
    error,
    h('button', { type: 'submit', class: 'primary' }, 'Save retention'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.classList.add('hidden');
    try {
      const s = await put('/audit/settings', { retention_days: Number(days.value) });
      toast(`Audit entries are kept ${s.retention_days} days.`);
    } catch (e) {
      error.textContent = e.message;
      error.classList.remove('hidden');
    }
  });
  section.append(form);
  return section;
}
