// Notifications (system-admin): webhook endpoints and e-mail recipients, what each
// hears of, a test send, the delivery log (status, attempts, last error), and when an
// agent counts as offline and a synchronization as stale.

import { get, post, patch, put, del } from '../api.js';
import { h, fill, field, table, toast, confirmAction, showSecretOnce } from '../dom.js';
import { time, ago } from '../format.js';

const EVENTS = [
  ['run.failed', 'A run failed'],
  ['run.held', 'A run is held: deletions wait for approval'],
  ['run.succeeded', 'A run succeeded'],
  ['agent.offline', 'No agent connected for longer than the threshold'],
  ['synchronization.stale', 'No successful run for longer than the threshold'],
];
const DEFAULT_EVENTS = ['run.failed', 'run.held', 'agent.offline', 'synchronization.stale'];
const EVENT_TEXT = Object.fromEntries([...EVENTS, ['test', 'Test']]);

const SIGNING = 'Copy the key now: it is shown only this once. The receiver checks X-ADC-Signature, '
  + 'sha256=HMAC-SHA256(key, X-ADC-Timestamp + "." + body), before it trusts a request.';

export async function notificationsPage(ctx) {
  ctx.title('Notifications');
  const settings = await get('/notifications/settings');
  if (!ctx.alive()) return;
  const endpointsBox = h('div');
  const logBox = h('div');

  const act = async (what, done) => {
    try { await what(); await loadEndpoints(); await loadLog(); toast(done); } catch (e) { toast(e.message, 'error'); }
  };
  // Everything about an endpoint sits in its first cell; a phone shows "Hears of" in
  // the endpoint's card below it.
  const endpointRow = (e) => h('tr', { 'data-endpoint': e.target },
    h('td', { class: 'audit-what' },
      h('div', null, h('span', { class: 'badge' }, e.kind === 'webhook' ? 'Webhook' : 'E-mail'), ' ',
        h('span', { class: e.enabled ? 'badge enabled' : 'badge disabled' }, e.enabled ? 'Active' : 'Paused')),
      h('div', { class: 'mono' }, e.target),
      h('div', { class: 'row-actions' },
        h('button', { type: 'button', class: 'small', onclick: () => act(() => post(`/notifications/endpoints/${e.id}/test`), `A test notification is on its way to ${e.target}.`) }, 'Send test'),
        h('button', { type: 'button', class: 'small', onclick: () => act(() => patch(`/notifications/endpoints/${e.id}`, { enabled: !e.enabled }), e.enabled ? `${e.target} is paused.` : `${e.target} receives notifications again.`) }, e.enabled ? 'Pause' : 'Resume'),
        e.kind === 'webhook' ? h('button', { type: 'button', class: 'small', onclick: async () => {
          if (!await confirmAction(`New signing key for ${e.target}?`, 'The current key stops signing at once: the receiver needs the new one.', 'Make a new key')) return;
          try {
            const r = await post(`/notifications/endpoints/${e.id}/secret`);
            await showSecretOnce(`New signing key for ${e.target}`, [['Signing key', r.secret]], SIGNING);
          } catch (err) { toast(err.message, 'error'); }
        } }, 'New key') : null,
        h('button', { type: 'button', class: 'small danger', onclick: async () => {
          if (!await confirmAction(`Remove ${e.target}?`, 'It receives nothing more; its delivery log goes with it.', 'Remove', true)) return;
          await act(() => del(`/notifications/endpoints/${e.id}`), `${e.target} was removed.`);
        } }, 'Remove'))),
    h('td', { class: 'hide-narrow' }, h('ul', { class: 'plain-list' }, EVENTS.filter(([x]) => e.events.includes(x)).map(([, text]) => h('li', null, text)))));

  async function loadEndpoints() {
    const list = await get('/notifications/endpoints');
    if (!ctx.alive()) return;
    fill(endpointsBox, table(['Endpoint', { text: 'Hears of', class: 'hide-narrow' }], list.map(endpointRow), 'No endpoint yet: nobody is told when a run fails.'));
  }

  const STATUS = { pending: 'badge held', delivered: 'badge enabled', failed: 'badge failed' };
  async function loadLog() {
    const list = await get('/notifications/deliveries?limit=50');
    if (!ctx.alive()) return;
    fill(logBox, table(['When', 'Event', 'To', 'Status', { text: 'Last error', class: 'hide-narrow' }],
      list.map((d) => h('tr', { 'data-delivery': d.id, 'data-event': d.event },
        h('td', { class: 'nowrap' }, ago(d.created_at)),
        h('td', null, EVENT_TEXT[d.event] || d.event),
        h('td', { class: 'audit-what mono' }, d.target),
        h('td', null, h('span', { class: STATUS[d.status] || 'badge' }, d.status),
          h('div', { class: 'muted small' }, `${d.attempts} ${d.attempts === 1 ? 'attempt' : 'attempts'}`,
            d.status === 'pending' && d.attempts > 0 ? `, next ${time(d.next_attempt_at)}` : '')),
        // A delivered one keeps the reason its earlier attempts failed, marked as such.
        h('td', { class: 'hide-narrow audit-what small' }, !d.last_error ? '—'
          : d.status === 'delivered' ? h('span', { class: 'muted' }, `Before: ${d.last_error}`) : d.last_error))),
      'Nothing sent yet.'));
  }

  // Adding an endpoint.
  const kind = h('select', { name: 'kind' },
    h('option', { value: 'webhook' }, 'Webhook (HTTPS POST, signed)'),
    h('option', { value: 'email', disabled: !settings.email_available }, settings.email_available ? 'E-mail' : 'E-mail (the server has no SMTP settings)'));
  const target = h('input', { type: 'text', name: 'target', required: true, autocomplete: 'off', class: 'wide', placeholder: 'https://hooks.example.com/ad-connect' });
  const targetField = field('URL', target);
  kind.addEventListener('change', () => {
    const webhook = kind.value === 'webhook';
    targetField.querySelector('label').textContent = webhook ? 'URL' : 'E-mail address';
    target.type = webhook ? 'text' : 'email';
    target.placeholder = webhook ? 'https://hooks.example.com/ad-connect' : 'it-oncall@example.com';
  });
  const boxes = EVENTS.map(([value, label]) => {
    const box = h('input', { type: 'checkbox', name: 'events', value, id: `ev-${value}`, checked: DEFAULT_EVENTS.includes(value) });
    return h('div', { class: 'inline field' }, box, h('label', { for: box.id }, label));
  });
  const error = h('p', { class: 'error-box hidden', role: 'alert' });
  const form = h('form', { class: 'panel', 'aria-labelledby': 'add-endpoint-h' },
    h('h2', { id: 'add-endpoint-h' }, 'Add an endpoint'),
    field('Kind', kind), targetField,
    h('fieldset', { class: 'plain' }, h('legend', null, 'Tell it when'), boxes),
    error,
    h('button', { type: 'submit', class: 'primary' }, 'Add endpoint'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.classList.add('hidden');
    const events = [...form.querySelectorAll('input[name=events]:checked')].map((b) => b.value);
    try {
      const made = await post('/notifications/endpoints', { kind: kind.value, target: target.value, events });
      target.value = '';
      await loadEndpoints();
      if (made.secret) await showSecretOnce(`Webhook ${made.target} added`, [['Signing key', made.secret]], SIGNING);
      else toast(`${made.target} will be told by e-mail.`);
    } catch (e) {
      error.textContent = e.message;
      error.classList.remove('hidden');
    }
  });

  // Thresholds.
  const offline = h('input', { type: 'number', name: 'agent_offline_minutes', min: 1, max: 10080, required: true, value: String(settings.agent_offline_minutes) });
  const stale = h('input', { type: 'number', name: 'stale_factor', min: 1, max: 100, required: true, value: String(settings.stale_factor) });
  const thresholds = h('form', { class: 'panel', 'aria-labelledby': 'thresholds-h' },
    h('h2', { id: 'thresholds-h' }, 'Thresholds'),
    field('Agent offline after (minutes)', offline, 'No agent of a synchronization connected for this long.'),
    field('Stale after (schedule intervals)', stale, 'A scheduled synchronization without a successful run for this many intervals.'),
    h('button', { type: 'submit', class: 'primary' }, 'Save thresholds'));
  thresholds.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const s = await put('/notifications/settings', { agent_offline_minutes: Number(offline.value), stale_factor: Number(stale.value) });
      toast(`Offline after ${s.agent_offline_minutes} min; stale after ${s.stale_factor} intervals.`);
    } catch (e) { toast(e.message, 'error'); }
  });

  const notes = [];
  if (!settings.links_available) notes.push('Messages carry no link to this page: the server’s operator sets ADC_PUBLIC_URL.');
  if (!settings.email_available) notes.push('E-mail needs the server’s SMTP settings (ADC_SMTP_HOST, ADC_SMTP_FROM); webhooks work without them.');
  fill(ctx.main,
    h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Notifications'),
      h('p', { class: 'muted' }, 'Who is told when a run fails or waits for approval, an agent goes away, or a synchronization stops succeeding. A failed delivery is tried again, less and less often, for a day.'))),
    notes.length ? h('div', { class: 'panel note', role: 'note' }, notes.map((n) => h('p', null, n))) : null,
    h('section', { class: 'panel', 'aria-labelledby': 'endpoints-h' }, h('h2', { id: 'endpoints-h' }, 'Endpoints'), endpointsBox),
    form,
    h('section', { class: 'panel', 'aria-labelledby': 'log-h' }, h('h2', { id: 'log-h' }, 'Delivery log'), logBox),
    thresholds);
  await Promise.all([loadEndpoints(), loadLog()]);
  ctx.onChange((kind) => kind === 'deliveries', loadLog);
}
