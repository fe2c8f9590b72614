// The tenant's directory: search by name or e-mail, provider and state; keyset paging,
// so page 2 000 is as fast as page 1.

import { get, post, patch, del, query } from '../api.js';
import { h, fill, field, table, toast, confirmAction, modal } from '../dom.js';
import { ago } from '../format.js';

const PAGE = 50;

/** A manual user, made by hand: no synchronization changes it. */
async function addUser() {
  const made = await modal('Add a user', (close) => {
    const input = (name, type = 'text') => h('input', { type, name, autocomplete: 'off', maxlength: 256 });
    const username = input('username');
    username.required = true;
    const email = input('email', 'email');
    const display = input('display_name');
    const given = input('given_name');
    const surname = input('surname');
    const enabled = h('input', { type: 'checkbox', checked: true, id: 'new-user-enabled' });
    const error = h('p', { class: 'error-box', role: 'alert' });
    error.classList.add('hidden');
    const form = h('form', null,
      h('p', null, 'A manual user belongs to this tenant only: no synchronization updates, disables or deletes it.'),
      field('Username', username, 'How the user signs in; unique in this tenant, in any case.'),
      field('E-mail', email), field('Display name', display), field('Given name', given), field('Surname', surname),
      h('div', { class: 'inline field' }, enabled, h('label', { for: 'new-user-enabled' }, 'Enabled')),
      error,
      h('div', { class: 'buttons' },
        h('button', { type: 'button', onclick: () => close(null) }, 'Cancel'),
        h('button', { type: 'submit', class: 'primary' }, 'Add user')));
    const opt = (i) => i.value.trim() || null;
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        close(await post('/users', {
          username: username.value.trim(), email: opt(email), display_name: opt(display), given_name: opt(given), surname: opt(surname), enabled: enabled.checked,
        }));
      } catch (e) {
        error.textContent = e.message;
        error.classList.remove('hidden');
      }
    });
    setTimeout(() => username.focus());
    return form;
  });
  if (!made) return;
  toast(`${made.username} added.`);
  location.hash = `#/users/${made.id}`;
}

export async function usersPage(ctx) {
  ctx.title('Users');
  const syncs = await get('/synchronizations');
  if (!ctx.alive()) return;
  const names = new Map(syncs.map((s) => [s.id, s.name]));
  const q = h('input', { type: 'search', name: 'q', placeholder: 'Name or e-mail', autocomplete: 'off' });
  const provider = h('select', { name: 'provider' },
    h('option', { value: '' }, 'All'),
    h('option', { value: 'manual' }, 'Manual users'),
    syncs.map((s) => h('option', { value: s.id }, s.name)));
  const enabled = h('select', { name: 'enabled' },
    h('option', { value: '' }, 'All'), h('option', { value: 'true' }, 'Enabled'), h('option', { value: 'false' }, 'Disabled'));
  const list = h('div');
  const pageInfo = h('span', { class: 'muted', role: 'status' });
  const prev = h('button', { type: 'button' }, '← Previous');
  const next = h('button', { type: 'button' }, 'Next →');
  // Cursors of the pages seen so far: cursors[i] starts page i.
  const count = h('p', { class: 'total', role: 'status' });
  let total = '0';
  let totalOne = false;
  let cursors = [null];
  let page = 0;
  let nextAfter = null;

  // A system-admin may disable or enable anyone, detach a synced user (its source then
  // leaves it alone) and delete a manual one (architecture §5.4).
  const admin = ctx.can('system-admin');
  const act = async (fn, done) => {
    try { await fn(); toast(done); await load(); } catch (e) { toast(e.message, 'error'); }
  };
  const actions = (u) => h('div', { class: 'actions' },
    h('button', { type: 'button', class: 'small', 'aria-label': `${u.enabled ? 'Disable' : 'Enable'} ${u.username}`,
      onclick: () => act(() => patch(`/users/${u.id}`, { enabled: !u.enabled }), `${u.username} ${u.enabled ? 'disabled' : 'enabled'}.`) },
    u.enabled ? 'Disable' : 'Enable'),
    u.provider !== 'manual'
      ? h('button', { type: 'button', class: 'small', 'aria-label': `Detach ${u.username}`, onclick: async () => {
        const ok = await confirmAction(`Detach ${u.username}?`, 'Its synchronization will no longer update, disable or delete it: it becomes a manual user.', 'Detach');
        if (ok) await act(() => patch(`/users/${u.id}`, { detach: true }), `${u.username} is now a manual user.`);
      } }, 'Detach')
      : h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete ${u.username}`, onclick: async () => {
        const ok = await confirmAction(`Delete ${u.username}?`, 'The user is removed from this tenant’s directory.', 'Delete', true);
        if (ok) await act(() => del(`/users/${u.id}`), `${u.username} deleted.`);
      } }, 'Delete'));
  let seq = 0;
  const load = async () => {
    // Typing fires several searches; only the newest may fill the table.
    seq += 1;
    const mine = seq;
    const res = await get(`/users${query({ q: q.value.trim(), provider: provider.value, enabled: enabled.value, after: cursors[page], limit: PAGE })}`);
    if (!ctx.alive() || mine !== seq) return;
    nextAfter = res.next_after;
    fill(list, table(['Username', 'Display name', { text: 'E-mail', class: 'hide-narrow' }, 'Provider', 'State', { text: 'Updated', class: 'hide-narrow' }, admin ? 'Actions' : null].filter(Boolean),
      res.users.map((u) => h('tr', { 'data-user': u.id },
        h('td', null, h('a', { href: `#/users/${u.id}`, class: 'username' }, u.username)),
        h('td', { class: 'display-name' }, u.display_name || ''),
        h('td', { class: 'hide-narrow' }, u.email || ''),
        h('td', null, u.provider === 'manual' ? 'manual' : names.get(u.provider) || 'a deleted synchronization'),
        h('td', null, u.enabled ? h('span', { class: 'badge enabled' }, 'Enabled') : h('span', { class: 'badge disabled' }, u.removed_from_source ? 'Disabled (left the source)' : 'Disabled')),
        h('td', { class: 'hide-narrow' }, ago(u.updated_at)),
        admin ? h('td', null, actions(u)) : null)),
      'No user matches.'));
    prev.disabled = page === 0;
    next.disabled = nextAfter === null;
    if (res.total !== null && res.total !== undefined) {
      const n = res.total.toLocaleString();
      total = res.total_capped ? `${n}+` : n;
      totalOne = res.total === 1;
    }
    fill(pageInfo, `Page ${page + 1} · ${res.users.length} ${res.users.length === 1 ? 'user' : 'users'} shown`);
    fill(count, `${total} ${totalOne ? 'user matches' : 'users match'}`);
  };
  const restart = () => { cursors = [null]; page = 0; load().catch((e) => toast(e.message, 'error')); };
  prev.addEventListener('click', () => { if (page > 0) { page -= 1; load().catch((e) => toast(e.message, 'error')); } });
  next.addEventListener('click', () => {
    if (nextAfter === null) return;
    cursors[page + 1] = nextAfter;
    page += 1;
    load().catch((e) => toast(e.message, 'error'));
  });
  let timer = null;
  q.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(restart, 250); });
  provider.addEventListener('change', restart);
  enabled.addEventListener('change', restart);
  const form = h('form', { class: 'filters', role: 'search' }, field('Search', q), field('Provider', provider), field('State', enabled));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); restart(); });
  fill(ctx.main,
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, 'Users'), h('p', { class: 'muted' }, 'Everyone in this tenant’s directory: from synchronizations and made by hand.')),
      admin ? h('button', { type: 'button', class: 'primary', onclick: () => addUser() }, 'Add user') : null),
    h('section', { class: 'panel' }, form, count, list, h('div', { class: 'pager' }, pageInfo, prev, next)));
  await load();
}
