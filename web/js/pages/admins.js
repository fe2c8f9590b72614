// Admin accounts of the tenant (system-admin): add one with a one-time password (shown
// once), change its role, disable or enable it, reset its password, remove it. The
// server keeps the last enabled system-admin; its refusal is shown as it says.

import { get, post, patch, del } from '../api.js';
import { h, fill, field, table, toast, confirmAction, showSecretOnce } from '../dom.js';
import { time } from '../format.js';

const ROLES = [
  ['viewer', 'viewer — reads everything'],
  ['operator', 'operator — also starts runs, decides on held deletions'],
  ['system-admin', 'system-admin — everything, including admins'],
];

export async function adminsPage(ctx) {
  ctx.title('Admins');
  const list = h('div');
  const act = async (what, done) => {
    // Reload before the toast: what the toast says is then what the table shows (a
    // refused role change is already back to the stored role when its reason appears).
    try { await what(); await load(); toast(done); } catch (e) { await load(); toast(e.message, 'error'); }
  };
  const row = (a) => {
    const role = h('select', { 'aria-label': `Role of ${a.email}`, onchange: () =>
      act(() => patch(`/admins/${a.id}`, { role: role.value }), `${a.email} is now ${role.value}.`) },
    ROLES.map(([v]) => h('option', { value: v, selected: v === a.role }, v)));
    const state = a.disabled ? 'disabled' : a.must_change_password ? 'must set a password' : 'active';
    const buttons = h('div', { class: 'row-actions' },
      h('button', { type: 'button', class: 'small', onclick: () => act(
        () => patch(`/admins/${a.id}`, { disabled: !a.disabled }),
        a.disabled ? `${a.email} can sign in again.` : `${a.email} is disabled; its sessions ended.`) },
      a.disabled ? 'Enable' : 'Disable'),
      h('button', { type: 'button', class: 'small', onclick: async () => {
        if (!await confirmAction(`Reset the password of ${a.email}?`, 'Its sessions end. You get a one-time password to hand over; the admin sets its own at the next sign-in.', 'Reset password', true)) return;
        try {
          const r = await post(`/admins/${a.id}/password`);
          await load();
          await showSecretOnce(`New password for ${a.email}`, [['One-time password', r.password]],
            'Hand it over now: it is shown only this once. The admin must choose its own at the next sign-in.');
        } catch (e) { toast(e.message, 'error'); }
      } }, 'Reset password'),
      h('button', { type: 'button', class: 'danger small', onclick: async () => {
        if (!await confirmAction(`Remove ${a.email}?`, 'The account and its sessions are deleted. The tenant’s last enabled system-admin cannot be removed.', 'Remove', true)) return;
        act(() => del(`/admins/${a.id}`), `${a.email} was removed.`);
      } }, 'Remove'));
    // E-mail, state and actions in one cell: a phone shows them without scrolling.
    return h('tr', { 'data-admin': a.email },
      h('td', null,
        h('div', null, a.email, a.email === ctx.me.name ? h('span', { class: 'muted' }, ' (you)') : null, ' ',
          h('span', { class: a.disabled ? 'badge failed' : a.must_change_password ? 'badge held' : 'badge enabled' }, state)),
        buttons),
      h('td', null, role),
      h('td', { class: 'hide-narrow' }, time(a.created_at)));
  };
  async function load() {
    const admins = await get('/admins');
    if (!ctx.alive()) return;
    fill(list, table(['Admin', 'Role', { text: 'Added', class: 'hide-narrow' }], admins.map(row), 'No admin.'));
  }
  const email = h('input', { type: 'email', name: 'email', required: true, autocomplete: 'off' });
  const role = h('select', { name: 'role' }, ROLES.map(([v, label]) => h('option', { value: v }, label)));
  const error = h('p', { class: 'error-box', role: 'alert' });
  error.classList.add('hidden');
  const form = h('form', { class: 'panel', 'aria-labelledby': 'new-admin-h', novalidate: true },
    h('h2', { id: 'new-admin-h' }, 'Add an admin'),
    field('E-mail', email),
    field('Role', role),
    error,
    h('button', { type: 'submit', class: 'primary' }, 'Add admin'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.classList.add('hidden');
    try {
      const made = await post('/admins', { email: email.value, role: role.value });
      email.value = '';
      await load();
      await showSecretOnce(`${made.admin.email} added`, [['One-time password', made.password]],
        'Hand it over now: it is shown only this once. The admin chooses its own password at the first sign-in.');
    } catch (e) {
      error.textContent = e.message;
      error.classList.remove('hidden');
    }
  });
  fill(ctx.main,
    h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Admins'), h('p', { class: 'muted' }, 'Who may sign in to this page, and with which role.'))),
    form,
    h('section', { class: 'panel', 'aria-labelledby': 'admins-h' }, h('h2', { id: 'admins-h' }, 'Admin accounts'), list));
  await load();
}
