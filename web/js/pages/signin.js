// Sign in. A wrong password and an unknown e-mail read the same.

import { post } from '../api.js';
import { h, fill, field } from '../dom.js';

export function signinPage(main, onSignedIn) {
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { class: 'error-box', role: 'alert' });
  error.classList.add('hidden');
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'panel signin', novalidate: true },
    h('h1', null, 'Sign in'),
    h('p', { class: 'muted' }, 'ad-connect administration'),
    error,
    field('E-mail', email),
    field('Password', password),
    button);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.classList.add('hidden');
    if (!email.value.trim() || !password.value) {
      error.textContent = 'Enter your e-mail and password.';
      error.classList.remove('hidden');
      return;
    }
    button.disabled = true;
    try {
      const who = await post('/auth/login', { email: email.value.trim(), password: password.value });
      onSignedIn({ ...who, name: who.email, via: 'session' });
    } catch (e) {
      error.textContent = e.status === 401 ? 'Wrong e-mail or password.' : e.message;
      error.classList.remove('hidden');
      password.value = '';
      password.focus();
    } finally {
      button.disabled = false;
    }
  });
  fill(main, form);
  email.focus();
}
