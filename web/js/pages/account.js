// Your account: who you are, and your own password (any signed-in admin).

import { put } from '../api.js';
import { h, fill, field, toast } from '../dom.js';

export async function accountPage(ctx) {
  ctx.title('Your account');
  const current = h('input', { type: 'password', name: 'current-password', autocomplete: 'current-password', required: true });
  const first = h('input', { type: 'password', name: 'new-password', autocomplete: 'new-password', required: true, minlength: 12 });
  const again = h('input', { type: 'password', name: 'confirm-password', autocomplete: 'new-password', required: true });
  const error = h('p', { class: 'error-box', role: 'alert' });
  error.classList.add('hidden');
  const form = h('form', { class: 'panel', 'aria-labelledby': 'password-h', novalidate: true },
    h('h2', { id: 'password-h' }, 'Change your password'),
    h('p', { class: 'muted' }, 'At least 12 characters. Your other sessions end; this one stays.'),
    error,
    field('Current password', current),
    field('New password', first),
    field('New password again', again),
    h('button', { type: 'submit', class: 'primary' }, 'Change password'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.classList.add('hidden');
    const problem = !current.value ? 'Enter your current password.'
      : first.value.length < 12 ? 'The new password needs at least 12 characters.'
        : first.value !== again.value ? 'The two new passwords differ.' : null;
    if (problem) {
      error.textContent = problem;
      error.classList.remove('hidden');
      return;
    }
    try {
      await put('/me/password', { current_password: current.value, new_password: first.value });
      for (const i of [current, first, again]) i.value = '';
      toast('Password changed. Your other sessions ended.');
    } catch (e) {
      error.textContent = e.message;
      error.classList.remove('hidden');
    }
  });
  fill(ctx.main,
    h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Your account'),
      h('p', { class: 'muted' }, `${ctx.me.name || ctx.me.email}, ${ctx.me.role}`))),
    form);
}
