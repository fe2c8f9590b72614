// API tokens for automation (system-admin): create with a role (shown once), revoke.

import { get, post, del } from '../api.js';
import { h, fill, field, table, toast, confirmAction, showSecretOnce } from '../dom.js';
import { time, ago } from '../format.js';

export async function tokensPage(ctx) {
  ctx.title('API tokens');
  const list = h('div');
  const load = async () => {
    const tokens = await get('/tokens');
    if (!ctx.alive()) return;
    fill(list, table(['Name', 'Role', 'Pass-through authentication', 'Created', 'Last used', ''],
      tokens.map((t) => h('tr', { 'data-token': t.id },
        h('td', null, t.name),
        h('td', null, t.role),
        h('td', null, t.can_authenticate ? 'allowed' : '—'),
        h('td', null, time(t.created_at)),
        h('td', null, t.last_used_at ? ago(t.last_used_at) : 'never'),
        h('td', null, h('button', { type: 'button', class: 'danger small', 'aria-label': `Revoke ${t.name}`, onclick: async () => {
          if (!await confirmAction(`Revoke “${t.name}”?`, 'Anything using this token is refused from now on.', 'Revoke', true)) return;
          try { await del(`/tokens/${t.id}`); toast('Token revoked.'); await load(); } catch (e) { toast(e.message, 'error'); }
        } }, 'Revoke')))),
      'No API token yet.'));
  };
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 200, autocomplete: 'off' });
  const role = h('select', { name: 'role' },
    h('option', { value: 'viewer' }, 'viewer — reads everything'),
    h('option', { value: 'operator' }, 'operator — also starts runs, decides on held deletions'),
    h('option', { value: 'system-admin' }, 'system-admin — everything'));
  const canAuth = h('input', { type: 'checkbox', name: 'can_authenticate', id: 'tok-auth' });
  const error = h('p', { class: 'error-box', role: 'alert' });
  error.classList.add('hidden');
  const form = h('form', { class: 'panel', 'aria-labelledby': 'new-token-h' },
    h('h2', { id: 'new-token-h' }, 'New token'),
    field('Name', name, 'What uses it, for example “HR system”.'),
    field('Role', role),
    h('div', { class: 'inline field' }, canAuth, h('label', { for: 'tok-auth' }, 'May check users’ passwords (POST /api/v1/authenticate)')),
    error,
    h('button', { type: 'submit', class: 'primary' }, 'Create token'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.classList.add('hidden');
    try {
      const t = await post('/tokens', { name: name.value, role: role.value, can_authenticate: canAuth.checked });
      name.value = '';
      await load();
      await showSecretOnce(`Token “${t.name}” created`, [['Token', t.secret]],
        'Copy the token now. It is shown only this once; send it as “Authorization: Bearer <token>”.');
    } catch (e) {
      error.textContent = e.message;
      error.classList.remove('hidden');
    }
  });
  fill(ctx.main,
    h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'API tokens'), h('p', { class: 'muted' }, 'Tokens let other systems use the REST API with a role.'))),
    form,
    h('section', { class: 'panel', 'aria-labelledby': 'tokens-h' }, h('h2', { id: 'tokens-h' }, 'Tokens'), list));
  await load();
}
