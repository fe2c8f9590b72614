// One synchronization: its agents, runs (chart and table, live while one runs), its
// policy (settings, schedule, deletion guard), and the secret and delete actions.

import { get, post, patch, del } from '../api.js';
import { h, fill, field, table, toast, confirmAction, showSecretOnce, copyRow, uid } from '../dom.js';
import { ago, time, duration, SETTINGS, humanReason } from '../format.js';
import { runChart, legend } from '../chart.js';
import { statusBadge, heldBanner } from './syncs.js';

const CHOICES = [['true', 'Enforced on'], ['false', 'Enforced off'], ['null', 'Left to the agent']];
const SOURCE = { server: 'set here', agent: 'from the agent’s adc.yaml', default: 'the default' };

/** Why a run did not simply succeed: a failure's or cancellation's reason, the guard's. */
function runReason(r) {
  if (r.status === 'held') return r.decision ? `Held: deletions ${r.decision}` : `Held: ${r.held_reason || 'the deletion guard’s limits'}`;
  if (r.status === 'failed' && r.error) return humanReason(r.error).short;
  if (r.error) return r.error;
  return '';
}

function runRow(r) {
  const c = r.counts;
  return h('tr', { 'data-run': r.id, class: r.status === 'failed' ? 'failed-run' : null },
    h('td', { class: 'nowrap' }, h('a', { href: `#/runs/${r.id}` }, time(r.started_at))),
    h('td', null, statusBadge(r.status), r.dry_run ? h('div', { class: 'muted small' }, 'dry run') : null, r.read_kind === 'delta' ? h('div', { class: 'muted small', title: 'Only what changed since the last run was read' }, 'changes only') : null, r.full ? h('div', { class: 'muted small' }, 'full') : null),
    h('td', { class: 'hide-narrow' }, r.trigger),
    ['created', 'updated', 'deleted', 'disabled', 'conflicts', 'errors'].map((k) => h('td', { class: 'num' }, c[k].toLocaleString())),
    h('td', { class: 'num hide-narrow nowrap' }, duration(r.duration_ms)),
    h('td', { class: 'run-reason' }, runReason(r)));
}

function agentsTable(agents) {
  return table(['Host', 'Version', { text: 'Address', class: 'hide-narrow' }, 'Connected', 'Last heartbeat'],
    agents.map((a) => h('tr', null,
      h('td', null, a.hostname),
      h('td', null, a.agent_version),
      h('td', { class: 'hide-narrow' }, a.remote_addr),
      h('td', null, ago(a.connected_at)),
      h('td', null, ago(a.last_heartbeat_at)))),
    'No agent connected. Download the agent, put this synchronization’s Secret Token in adc.cfg, and start it.');
}

// The agent archives, with this synchronization's Application ID already in adc.cfg.
function downloadLinks(sync, offered) {
  if (!offered.length) return h('p', { class: 'muted' }, 'This server offers no agent download.');
  return h('p', { class: 'downloads' }, 'Download the agent with this Application ID in adc.cfg (only the Secret Token is left to paste): ',
    offered.map((p, i) => [i ? ' · ' : null,
      h('a', { href: `${p.url}?synchronization=${encodeURIComponent(sync.id)}`, download: p.filename }, p.filename)]));
}

/**
 * What to do next on a synchronization that has never run: install the agent, give it
 * the secret, start a first run. Each step says whether it is done in words, not only
 * in colour.
 */
function gettingStarted(sync, agents) {
  const connected = agents.length > 0;
  const step = (done, title, ...body) => h('li', { class: done ? 'step done' : 'step' },
    h('span', { class: 'step-state' }, done ? '✓ Done' : 'To do'), ' ', h('strong', null, title), h('div', null, body));
  return h('section', { class: 'panel getting-started', 'aria-labelledby': 'start-h' },
    h('h2', { id: 'start-h' }, 'Getting started'),
    h('p', null, 'This synchronization has not run yet. Three steps take it to its first run:'),
    h('ol', { class: 'steps' },
      step(connected, 'Install the agent on a host that can reach your directory.',
        'Download it below (its adc.cfg already carries this Application ID); ',
        h('a', { href: '#/downloads' }, 'Downloads'), ' has the install steps for systemd and for containers.'),
      step(connected, 'Give it the Secret Token and start it.',
        'Put the Secret Token shown when this synchronization was added into adc.cfg (lost it? Rotate the secret below), describe the directory in adc.yaml, then run ',
        h('code', null, 'adc check'), ' and start the service. The agent appears under Connected agents within seconds.'),
      step(false, 'Start a first run.',
        connected
          ? 'The agent is connected: start a Dry run to see what would change without changing anything, then Sync now.'
          : 'Once the agent is connected, start a Dry run to see what would change, then Sync now.')));
}

function policyForm(ctx, sync, lastRun, onSaved) {
  const admin = ctx.can('system-admin');
  const inputs = {};
  const fieldsets = SETTINGS.map(([key, desc]) => {
    const name = uid('set');
    const current = sync.settings[key] === undefined ? null : sync.settings[key];
    const radios = CHOICES.map(([value, label]) => {
      const input = h('input', { type: 'radio', name, value, disabled: !admin, checked: String(current) === value });
      return h('label', null, input, label);
    });
    inputs[key] = name;
    const eff = lastRun && lastRun.settings[key];
    return h('fieldset', { class: 'setting', 'data-setting': key },
      h('legend', null, key),
      h('p', { class: 'desc' }, desc),
      h('div', { class: 'choices' }, radios),
      h('div', { class: 'used muted' }, eff
        ? `Last run used: ${eff.value ? 'on' : 'off'} (${SOURCE[eff.source] || eff.source})`
        : 'Not used by a run yet'));
  });
  const schedOn = h('input', { type: 'checkbox', checked: sync.schedule_minutes !== null, disabled: !admin });
  const sched = h('input', { type: 'number', min: 1, max: 10080, value: sync.schedule_minutes ?? 60, disabled: !admin, style: null });
  const fullEvery = h('input', { type: 'number', min: 0, max: 8784, value: sync.full_read_hours ?? 24, disabled: !admin });
  const g = sync.deletion_guard;
  const maxDelOn = h('input', { type: 'checkbox', checked: g.max_deletes !== null, disabled: !admin });
  const maxDel = h('input', { type: 'number', min: 0, value: g.max_deletes ?? 500, disabled: !admin });
  const maxPctOn = h('input', { type: 'checkbox', checked: g.max_percent !== null, disabled: !admin });
  const maxPct = h('input', { type: 'number', min: 0, max: 100, value: g.max_percent ?? 20, disabled: !admin });
  const minUsers = h('input', { type: 'number', min: 0, value: g.min_users_for_percent, disabled: !admin });
  const check = (input, label) => { input.id = uid(); return h('div', { class: 'inline' }, input, h('label', { for: input.id }, label)); };
  const error = h('p', { class: 'error-box', role: 'alert' });
  error.classList.add('hidden');
  const form = h('form', { class: 'panel', 'aria-labelledby': 'policy-h' },
    h('h2', { id: 'policy-h' }, 'Policy'),
    h('p', { class: 'muted' }, 'Settings enforced here win over the agent’s adc.yaml, and the server enforces them when it applies changes.'),
    fieldsets,
    h('h2', null, 'Schedule'),
    check(schedOn, 'Run automatically'),
    field('Minutes between runs', sched),
    h('p', { class: 'muted' }, 'Where the directory allows it (OpenLDAP with syncprov, Active Directory), a run reads only what changed since the last one. A full read finds deletions the directory did not report; it comes this often, and whenever the agent’s settings change.'),
    field('Hours between full reads (0: every run reads in full)', fullEvery),
    h('h2', null, 'Deletion guard'),
    h('p', { class: 'muted' }, 'A run that would delete or disable more than this holds its deletions until someone approves them.'),
    check(maxDelOn, 'Limit the number of deletions'),
    field('Most deletions per run', maxDel),
    check(maxPctOn, 'Limit the share of users deleted'),
    field('Most users deleted, in percent', maxPct),
    field('The share applies from this many users', minUsers),
    error,
    admin ? h('button', { type: 'submit', class: 'primary' }, 'Save policy') : h('p', { class: 'muted' }, 'Only a system-admin can change the policy.'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.classList.add('hidden');
    const settings = {};
    for (const [key, name] of Object.entries(inputs)) {
      const v = form.querySelector(`input[name="${name}"]:checked`).value;
      settings[key] = v === 'null' ? null : v === 'true';
    }
    const num = (input) => Number.parseInt(input.value, 10);
    try {
      const saved = await patch(`/synchronizations/${sync.id}`, {
        settings,
        schedule_minutes: schedOn.checked ? num(sched) : null,
        full_read_hours: num(fullEvery),
        deletion_guard: {
          max_deletes: maxDelOn.checked ? num(maxDel) : null,
          max_percent: maxPctOn.checked ? num(maxPct) : null,
          min_users_for_percent: num(minUsers),
        },
      });
      toast('Policy saved.');
      onSaved(saved);
    } catch (e) {
      error.textContent = e.message;
      error.classList.remove('hidden');
    }
  });
  return form;
}

async function startRun(ctx, sync, body, what) {
  try {
    const run = await post(`/synchronizations/${sync.id}/runs`, body);
    toast(`${what} started.`);
    location.hash = `#/runs/${run.id}`;
  } catch (e) {
    toast(e.message, 'error');
  }
}

export async function syncPage(ctx, id) {
  let sync = await get(`/synchronizations/${id}`);
  let runs = await get(`/synchronizations/${id}/runs?limit=30`);
  let agents = await get(`/synchronizations/${id}/agents`);
  if (!ctx.alive()) return;
  ctx.title(sync.name);

  const title = h('h1');
  const runButtons = h('div', { class: 'actions' });
  const agentsBox = h('div');
  const downloadsBox = h('div');
  get('/downloads').then((offered) => { if (ctx.alive()) fill(downloadsBox, downloadLinks(sync, offered)); }).catch(() => {});
  const chartBox = h('div');
  const runsBox = h('div');
  const policyBox = h('div');
  const status = h('p', { class: 'muted', role: 'status' });

  const renderButtons = () => {
    if (!ctx.can('operator')) { fill(runButtons); return; }
    const running = runs.some((r) => r.status === 'running');
    const none = agents.length === 0;
    const why = none ? 'No agent is connected.' : running ? 'A run is in progress.' : null;
    fill(runButtons,
      h('button', { type: 'button', class: 'primary', disabled: !!why, title: why, onclick: () => startRun(ctx, sync, {}, 'Sync') }, 'Sync now'),
      h('button', { type: 'button', disabled: !!why, title: why, onclick: () => startRun(ctx, sync, { dry_run: true }, 'Dry run') }, 'Dry run'),
      h('button', { type: 'button', disabled: !!why, title: why, onclick: () => startRun(ctx, sync, { full: true }, 'Full resync') }, 'Full resync'));
    fill(status, why || '');
  };
  const bannerBox = h('div');
  const startBox = h('div');
  const renderLive = () => {
    fill(title, sync.name);
    // Only the newest run's deletions can still be decided on.
    const newest = runs[0];
    fill(bannerBox, newest && newest.status === 'held' && !newest.decision
      ? heldBanner(newest.id, newest.counts.held, newest.held_reason || 'the deletion guard’s limits were exceeded.')
      : null);
    renderButtons();
    fill(startBox, runs.length === 0 ? gettingStarted(sync, agents) : null);
    fill(agentsBox, agentsTable(agents));
    fill(chartBox, runs.length
      ? [runChart(runs, (r) => { location.hash = `#/runs/${r.id}`; }), legend()]
      : h('p', { class: 'muted' }, 'No run yet.'));
    fill(runsBox, table(['Started', 'Status', { text: 'Trigger', class: 'hide-narrow' },
      { text: 'Created', class: 'num' }, { text: 'Updated', class: 'num' }, { text: 'Deleted', class: 'num' },
      { text: 'Disabled', class: 'num' }, { text: 'Conflicts', class: 'num' }, { text: 'Errors', class: 'num' },
      { text: 'Duration', class: 'num hide-narrow' }, 'Reason'], runs.map(runRow), 'No run yet.'));
  };
  const renderPolicy = () => fill(policyBox, policyForm(ctx, sync, runs.find((r) => r.status !== 'running'), (s) => { sync = s; renderLive(); }));

  const danger = ctx.can('system-admin') ? h('section', { class: 'panel', 'aria-labelledby': 'danger-h' },
    h('h2', { id: 'danger-h' }, 'Secret and removal'),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'danger', onclick: async () => {
        const n = agents.length;
        const ok = await confirmAction('Rotate the Secret Token?', [
          'A new Secret Token is made and the current one stops working at once.',
          n ? `${n} connected agent${n > 1 ? 's' : ''} will be disconnected now and cannot reconnect until adc.cfg holds the new secret.` : 'No agent is connected now.',
        ], 'Rotate secret', true);
        if (!ok) return;
        try {
          const r = await post(`/synchronizations/${sync.id}/secret`);
          await showSecretOnce('New Secret Token', [['Application ID', r.id], ['Secret Token', r.secret], ['AD_CONNECT_AUTH line for adc.cfg', `AD_CONNECT_AUTH=${r.id}:${r.secret}`]],
            'Copy the new Secret Token now. It is shown only this once; put it in adc.cfg on every agent host and restart the agents.');
        } catch (e) { toast(e.message, 'error'); }
      } }, 'Rotate secret'),
      h('button', { type: 'button', class: 'danger', onclick: async () => {
        const ok = await confirmAction(`Delete “${sync.name}”?`, [
          'Its agents are disconnected and its run history is deleted.',
          'Its users stay in the directory and become manual users.',
        ], 'Delete synchronization', true);
        if (!ok) return;
        try {
          await del(`/synchronizations/${sync.id}`);
          toast(`“${sync.name}” deleted.`);
          location.hash = '#/';
        } catch (e) { toast(e.message, 'error'); }
      } }, 'Delete synchronization'))) : null;

  fill(ctx.main,
    h('p', null, h('a', { href: '#/' }, '← Synchronizations')),
    h('div', { class: 'page-head' }, h('div', null, title, h('div', { class: 'app-id' }, copyRow('Application ID', sync.id))), h('div', null, runButtons, status)),
    bannerBox,
    startBox,
    h('section', { class: 'panel', 'aria-labelledby': 'agents-h' }, h('h2', { id: 'agents-h' }, 'Connected agents'), agentsBox, downloadsBox),
    h('section', { class: 'panel', 'aria-labelledby': 'runs-h' }, h('h2', { id: 'runs-h' }, 'Run history'),
      chartBox, runsBox),
    policyBox,
    danger);
  renderLive();
  renderPolicy();

  // Live: the server says when a run or an agent of this synchronization changes.
  ctx.onChange((kind, d) => (kind === 'run' || kind === 'agents') && d.synchronization_id === id, async () => {
    const [s, r, a] = await Promise.all([get(`/synchronizations/${id}`), get(`/synchronizations/${id}/runs?limit=30`), get(`/synchronizations/${id}/agents`)]);
    if (!ctx.alive()) return;
    sync = { ...sync, name: s.name };
    runs = r;
    agents = a;
    renderLive();
  });
}
