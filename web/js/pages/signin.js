// Sign in. A wrong password and an unknown e-mail read the same.

import { post, put, setCsrf } from '../api.js';
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
      if (who.must_change_password) {
        setCsrf(who.csrf_token);
        ownPasswordForm(main, password.value, () => onSignedIn({ ...who, must_change_password: false, name: who.email, via: 'session' }));
        return;
      }
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

/** After a one-time password: the admin sets its own before anything else. */
function ownPasswordForm(main, oneTime, done) {
  const first = h('input', { type: 'password', name: 'new-password', autocomplete: 'new-password', required: true, minlength: 12 });
  const again = h('input', { type: 'password', name: 'confirm-password', autocomplete: 'new-password', required: true });
  const error = h('p', { class: 'error-box', role: 'alert' });
  error.classList.add('hidden');
  const button = h('button', { type: 'submit', class: 'primary' }, 'Set password');
  const form = h('form', { class: 'panel signin', novalidate: true },
    h('h1', null, 'Set your password'),
    h('p', { class: 'muted' }, 'You signed in with a one-time password. Choose your own (at least 12 characters) to continue.'),
    error,
    field('New password', first),
    field('New password again', again),
    button);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.classList.add('hidden');
    const problem = first.value.length < 12 ? 'The password needs at least 12 characters.'
      : first.value !== again.value ? 'The two passwords differ.' : null;
    if (problem) {
      error.textContent = problem;
      error.classList.remove('hidden');
      return;
    }
    button.disabled = true;
    try {
      await put('/me/password', { current_password: oneTime, new_password: first.value });
      done();
    } catch (e) {
      error.textContent = e.message;
      error.classList.remove('hidden');
    } finally {
      button.disabled = false;
    }
  });
  fill(main, form);
  first.focus();
}
