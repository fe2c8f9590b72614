// The synchronizations: which agent is connected, how the last run went; adding one
// shows its Application ID and Secret Token once.

import { get, post } from '../api.js';
import { h, fill, field, table, modal, showSecretOnce } from '../dom.js';
import { ago, time, STATUS_TEXT } from '../format.js';

export function agentStatus(s) {
  if (!s.agents || s.agents.length === 0) {
    return h('span', { class: 'badge not-connected' }, h('span', { class: 'dot', 'aria-hidden': 'true' }), 'Not connected');
  }
  const a = s.agents[0];
  const more = s.agents.length > 1 ? ` (+${s.agents.length - 1} more)` : '';
  return h('span', null,
    h('span', { class: 'badge connected' }, h('span', { class: 'dot on', 'aria-hidden': 'true' }), 'Connected'),
    ' ', h('span', { class: 'agent-host' }, a.hostname), more,
    h('div', { class: 'muted small' }, `heartbeat ${ago(a.last_heartbeat_at)}`));
}

export function statusBadge(status) {
  return h('span', { class: `badge ${status}` }, STATUS_TEXT[status] || status);
}

/**
 * A run whose deletions wait for a decision, as a call to act: what is held, why, and
 * Review leading to the run. `name` names the synchronization on the list.
 */
export function heldBanner(runId, held, reason, name) {
  const what = `${held.toLocaleString()} ${held === 1 ? 'deletion waits' : 'deletions wait'} for a decision`;
  return h('div', { class: 'banner held', role: 'region', 'aria-label': name ? `${name}: held deletions` : 'Held deletions' },
    h('span', { class: 'banner-icon', 'aria-hidden': 'true' }, '!'),
    h('div', { class: 'banner-text' },
      h('strong', null, name ? `${name}: ${what}` : `${what[0].toUpperCase()}${what.slice(1)}`),
      h('div', null, reason)),
    h('a', { class: 'button primary', href: `#/runs/${runId}`, 'aria-label': name ? `Review the held deletions of ${name}` : 'Review the held deletions' }, 'Review'));
}

/** The runs that touched a user or a group (`names`: synchronization names by ID). */
export function touchingRuns(runs, names, what, none) {
  return h('section', { class: 'panel', 'aria-labelledby': 'touching-runs-h' },
    h('h2', { id: 'touching-runs-h' }, `Runs that touched it (${runs.length})`),
    h('p', { class: 'muted' }, what),
    table(['Started', 'Status', 'Synchronization'], runs.map((r) => h('tr', { 'data-run': r.id },
      h('td', null, h('a', { href: `#/runs/${r.id}` }, time(r.started_at))),
      h('td', null, statusBadge(r.status), r.dry_run ? h('span', { class: 'muted' }, ' dry run') : null),
      h('td', null, names.get(r.synchronization_id) || 'a deleted synchronization'))),
    none));
}

function row(s) {
  const run = s.last_run;
  return h('tr', { 'data-sync': s.id },
    h('td', null, h('a', { href: `#/syncs/${s.id}` }, s.name)),
    h('td', { class: 'hide-narrow' }, h('code', null, s.id)),
    h('td', { class: 'agent-cell' }, agentStatus(s)),
    h('td', null, run
      ? h('a', { href: `#/runs/${run.id}` }, statusBadge(run.status), run.dry_run ? ' dry run ' : ' ', h('span', { class: 'muted' }, ago(run.finished_at || run.started_at)))
      : h('span', { class: 'muted' }, 'Never run')));
}

export async function addSync(onAdded) {
  const added = await modal('Add synchronization', (close) => {
    const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 200, autocomplete: 'off' });
    const error = h('p', { class: 'error-box', role: 'alert' });
    error.classList.add('hidden');
    const form = h('form', null,
      h('p', null, 'A synchronization connects one directory (LDAP or Active Directory) to this tenant through an agent you install on a host that can reach it.'),
      field('Name', name, 'For example the directory or site it reads, such as “Head office AD”.'),
      error,
      h('div', { class: 'buttons' },
        h('button', { type: 'button', onclick: () => close(null) }, 'Cancel'),
        h('button', { type: 'submit', class: 'primary' }, 'Add')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        close(await post('/synchronizations', { name: name.value }));
      } catch (e) {
        error.textContent = e.message;
        error.classList.remove('hidden');
      }
    });
    setTimeout(() => name.focus());
    return form;
  });
  if (!added) return;
  await showSecretOnce(`“${added.name}” added`, [
    ['Application ID', added.id],
    ['Secret Token', added.secret],
    ['AD_CONNECT_AUTH line for adc.cfg', `AD_CONNECT_AUTH=${added.id}:${added.secret}`],
  ], 'Copy the Secret Token now. It is shown only this once: the server keeps only a hash of it and cannot show it again. If it is lost, rotate it on the synchronization’s page.');
  onAdded(added);
}

export async function syncsPage(ctx) {
  ctx.title('Synchronizations');
  const body = h('div');
  const head = h('div', { class: 'page-head' },
    h('div', null, h('h1', null, 'Synchronizations'),
      h('p', { class: 'muted' }, 'Each synchronization keeps this tenant’s users in step with one directory, through its agent.')),
    ctx.can('system-admin')
      ? h('button', { type: 'button', class: 'primary', onclick: () => addSync((s) => { location.hash = `#/syncs/${s.id}`; }) }, 'Add synchronization')
      : null);
  fill(ctx.main, head, body);
  const load = async () => {
    const all = await get('/synchronizations');
    if (!ctx.alive()) return;
    const waiting = all.filter((s) => s.last_run && s.last_run.awaiting_decision);
    fill(body, waiting.map((s) => heldBanner(s.last_run.id, s.last_run.awaiting_decision.held, s.last_run.awaiting_decision.reason, s.name)), table(['Name', { text: 'Application ID', class: 'hide-narrow' }, 'Agent', 'Last run'], all.map(row),
      ctx.can('system-admin')
        ? 'No synchronization yet. Add one, then install the agent from Downloads.'
        : 'No synchronization yet.'));
  };
  await load();
  ctx.onChange((kind) => kind === 'run' || kind === 'agents', load);
}
