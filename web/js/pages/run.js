// One run: status, counts, the effective settings and their sources, the change list
// with filters, and for a held run the held deletions with Approve / Reject.

import { get, post, query } from '../api.js';
import { h, fill, field, table, toast, confirmAction } from '../dom.js';
import { time, duration, SETTINGS, humanReason } from '../format.js';
import { statusBadge } from './syncs.js';

const COUNTS = ['read', 'created', 'updated', 'deleted', 'disabled', 'unchanged', 'skipped', 'conflicts', 'errors', 'held'];
// Shown when the run read groups (adc.yaml has a `groups` section).
const GROUP_COUNTS = [
  ['groups_read', 'groups read'], ['groups_created', 'groups created'], ['groups_updated', 'groups updated'],
  ['groups_deleted', 'groups deleted'], ['groups_disabled', 'groups disabled'], ['groups_unchanged', 'groups unchanged'],
  ['members_added', 'members added'], ['members_removed', 'members removed'], ['members_unresolved', 'members unresolved'],
];
const SUBJECTS = [['user', 'Users'], ['group', 'Groups'], ['membership', 'Memberships']];
const OPERATIONS = ['create', 'update', 'enable', 'delete', 'disable', 'add-member', 'remove-member', 'read'];
const OUTCOMES = [['applied', 'Applied'], ['planned', 'Planned (dry run)'], ['held', 'Held'], ['skipped', 'Skipped by policy'], ['conflict', 'Conflict'], ['error', 'Error'], ['unresolved', 'Unresolved member'], ['warning', 'Warning']];
const SOURCE = { server: 'server', agent: 'agent', default: 'default' };

/** What a change row is about: a user, a group, or member → group. */
/** Which kind of read the run did, and why, in the admin's words. */
function readText(run) {
  if (!run.read_kind) return 'not started yet';
  const what = run.read_kind === 'delta' ? 'Only what changed since the last run' : 'Every entry (full read)';
  return run.read_reason ? `${what}: ${run.read_reason}` : what;
}

function subjectCell(c) {
  if (c.subject === 'group') {
    return c.group_id ? h('a', { href: `#/groups/${c.group_id}`, class: 'group-name' }, c.username) : c.username;
  }
  if (c.subject === 'membership') {
    const member = c.user_id ? h('a', { href: `#/users/${c.user_id}`, class: 'username' }, c.username)
      : c.member_group_id ? h('a', { href: `#/groups/${c.member_group_id}` }, c.username) : c.username;
    const group = c.group_id ? h('a', { href: `#/groups/${c.group_id}` }, c.group) : c.group;
    return [member, h('span', { class: 'muted' }, ' in '), group];
  }
  return c.user_id ? h('a', { href: `#/users/${c.user_id}`, class: 'username' }, c.username) : c.username;
}

/** What an update changed, one line per field: old → new (— for no value). */
function fieldChanges(c) {
  if (!c.fields || !c.fields.length) return null;
  const v = (x) => (x === null || x === undefined || x === '' ? h('span', { class: 'muted' }, '—') : h('span', { class: 'value' }, x));
  return h('ul', { class: 'field-changes', 'aria-label': `What changed for ${c.username}` }, c.fields.map((f) =>
    h('li', { 'data-field': f.field }, h('span', { class: 'field-name' }, FIELD_NAMES[f.field] || f.field), ': ', v(f.old), h('span', { 'aria-label': 'becomes' }, ' → '), v(f.new))));
}

const FIELD_NAMES = {
  username: 'username', email: 'e-mail', display_name: 'display name', given_name: 'given name',
  surname: 'surname', enabled: 'state', source_dn: 'directory entry',
};

function changeRow(c) {
  return h('tr', { 'data-subject': c.subject },
    h('td', null, subjectCell(c)),
    h('td', null, c.operation, fieldChanges(c)),
    h('td', null, c.outcome),
    h('td', { class: 'hide-narrow' }, h('code', null, c.external_id || '')));
}

/**
 * A run's changes, paged ("Show more") and searchable. `held` lists only the deletions
 * the guard holds (the held panel); otherwise the filters pick what to show.
 */
function changeList(runId, { preset = '', held = false, total = null } = {}) {
  const search = h('input', { type: 'search', autocomplete: 'off', placeholder: 'Name or external ID' });
  const subject = h('select', null, h('option', { value: '' }, 'Everything'), SUBJECTS.map(([v, l]) => h('option', { value: v }, l)));
  const op = h('select', null, h('option', { value: '' }, 'All operations'), OPERATIONS.map((o) => h('option', { value: o }, o)));
  const out = h('select', null, h('option', { value: '' }, 'All outcomes'), OUTCOMES.map(([v, l]) => h('option', { value: v }, l)));
  if (preset) out.value = preset;
  const list = h('div');
  const shown = h('span', { class: 'muted', role: 'status' });
  // Shown once a page says there is more.
  const more = h('button', { type: 'button', class: 'hidden' }, 'Show more');
  let after = null;
  let rows = [];
  let seq = 0;
  const headers = held ? ['About', 'Operation'] : ['About', 'Operation', 'Outcome', { text: 'External ID', class: 'hide-narrow' }];
  const load = async (reset) => {
    // A newer load (another filter, a live refresh) makes an older answer moot.
    seq += 1;
    const mine = seq;
    const from = reset ? null : after;
    const filter = held
      ? { outcome: 'held' }
      : { subject: subject.value, operation: op.value, outcome: out.value };
    const page = await get(`/runs/${runId}/changes${query({ ...filter, q: search.value.trim(), after: from, limit: 100 })}`);
    if (mine !== seq) return;
    rows = (reset ? [] : rows).concat(page.changes.map(held ? heldRow : changeRow));
    after = page.next_after;
    fill(list, table(headers, rows, search.value.trim() ? 'Nothing matches the search.' : 'No change matches.'));
    more.classList.toggle('hidden', after === null);
    const of = total !== null && !search.value.trim() ? ` of ${total.toLocaleString()}` : '';
    fill(shown, `${rows.length.toLocaleString()}${of} shown`);
  };
  const reload = () => load(true).catch((e) => toast(e.message, 'error'));
  more.addEventListener('click', () => load(false).catch((e) => toast(e.message, 'error')));
  let timer = null;
  search.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(reload, 250); });
  for (const s of [op, subject, out]) s.addEventListener('change', reload);
  const filters = h('form', { class: 'filters', role: 'search' },
    field(held ? 'Search the held deletions' : 'Search', search),
    held ? null : [field('About', subject), field('Operation', op), field('Outcome', out)]);
  filters.addEventListener('submit', (ev) => { ev.preventDefault(); reload(); });
  const body = [filters, list, h('div', { class: 'pager' }, shown, more)];
  const box = held ? h('div', null, body)
    : h('section', { class: 'panel', 'aria-labelledby': 'changes-h' }, h('h2', { id: 'changes-h' }, 'Changes'), body);
  return { box, load };
}

function heldRow(c) {
  return h('tr', null, h('td', null, subjectCell(c)), h('td', null, c.operation));
}

/** The decision a held run waits for: why, Approve and Reject, and what is held. */
function heldPanel(ctx, run, reload) {
  const n = run.counts.held.toLocaleString();
  const buttons = ctx.can('operator') ? h('div', { class: 'actions decision' },
    h('button', { type: 'button', class: 'primary', onclick: async () => {
      const ok = await confirmAction('Approve the held deletions?', `Exactly the ${n} deletions listed (of users, groups or memberships) are applied, once.`, 'Approve', true);
      if (!ok) return;
      try { await post(`/runs/${run.id}/approve`); toast('Approved: the held deletions were applied.'); reload(); } catch (e) { toast(e.message, 'error'); }
    } }, 'Approve'),
    h('button', { type: 'button', onclick: async () => {
      const ok = await confirmAction('Reject the held deletions?', 'Nobody listed is deleted or disabled. A later run may hold them again.', 'Reject');
      if (!ok) return;
      try { await post(`/runs/${run.id}/reject`); toast('Rejected: nobody was deleted.'); reload(); } catch (e) { toast(e.message, 'error'); }
    } }, 'Reject')) : h('p', { class: 'muted' }, 'An operator or system-admin can approve or reject them.');
  const list = changeList(run.id, { held: true, total: run.counts.held });
  const box = h('section', { class: 'panel held-panel', 'aria-labelledby': 'held-h' },
    h('div', { class: 'decision-head' },
      h('div', null,
        h('h2', { id: 'held-h' }, `${n} deletions held by the deletion guard`),
        h('p', { class: 'held-reason' }, h('strong', null, 'Why: '), run.held_reason || 'the deletion guard’s limits were exceeded.')),
      buttons),
    h('p', { class: 'warning' }, 'Creates and updates were applied; these deletions of users, groups or memberships wait for a decision. Approve applies exactly these, once; Reject deletes nobody.'),
    list.box);
  list.load(true).catch((e) => toast(e.message, 'error'));
  return box;
}

const PHASES = [
  ['waiting', 'Waiting for the agent'],
  ['manifest', 'Sending the manifest'],
  ['reading', 'Reading the directory'],
  ['applying', 'Applying changes'],
  ['deletions', 'Applying deletions'],
];

function failureBox(run) {
  const { short, check } = humanReason(run.error);
  return h('div', { class: 'error-box failure', role: 'alert' },
    h('p', { class: 'failure-short' }, h('strong', null, short)),
    check ? h('p', null, 'Check: ', check, '.') : null,
    h('details', null, h('summary', null, 'Details as reported'), h('p', { class: 'mono failure-detail' }, run.error)));
}

/**
 * A running run, alive: its phase among all of them, the entries read so far and, once
 * the manifest's size is known, a progress bar with an estimate of the time left.
 */
function liveBox(run, sample) {
  const p = run.progress || { phase: 'waiting', read: null, expected: null };
  const at = PHASES.findIndex(([k]) => k === p.phase);
  const steps = h('ol', { class: 'phases', 'aria-label': 'Phases' }, PHASES.map(([k, label], i) =>
    h('li', { class: i < at ? 'done' : i === at ? 'current' : null, 'aria-current': i === at ? 'step' : null },
      i < at ? '✓ ' : i === at ? '▶ ' : '', label)));
  const read = p.read ?? 0;
  const lines = [h('p', { class: 'live-now' }, h('strong', null, `${PHASES[Math.max(at, 0)][1]}…`),
    p.read !== null ? ` ${read.toLocaleString()} entries read so far.` : '')];
  if (p.expected && p.phase === 'reading') {
    const pct = Math.min(100, Math.floor((read * 100) / p.expected));
    let eta = '';
    const rate = sample.rate(read);
    if (rate > 0 && read < p.expected) eta = ` — about ${duration(Math.round(((p.expected - read) / rate) * 1000))} left`;
    lines.push(h('label', { for: 'read-progress', class: 'progress-label' },
      `${read.toLocaleString()} of about ${p.expected.toLocaleString()} users read (${pct} %)${eta}`),
    h('progress', { id: 'read-progress', max: p.expected, value: Math.min(read, p.expected) }, `${pct} %`));
  }
  return h('section', { class: 'panel live', 'aria-labelledby': 'live-h' },
    h('h2', { id: 'live-h' }, 'Running'), steps, lines);
}

/** The read's speed from the page's own observations: entries per second. */
function rateSampler() {
  let first = null;
  return {
    rate(read) {
      const now = Date.now();
      if (!first || read < first.read) first = { read, at: now };
      const secs = (now - first.at) / 1000;
      return secs >= 2 ? (read - first.read) / secs : 0;
    },
  };
}

export async function runPage(ctx, id) {
  let run = await get(`/runs/${id}`);
  if (!ctx.alive()) return;
  const held = () => run.status === 'held' && !run.decision;
  const changes = changeList(id);
  const back = h('a', { href: `#/syncs/${run.synchronization_id}` }, '← Synchronization');
  const heading = h('h1');
  const errorBox = h('div');
  const liveBoxHolder = h('div');
  const sampler = rateSampler();
  const actions = h('div', { class: 'actions' });
  const heldBox = h('div');
  const facts = h('div');
  const counts = h('div');
  const settings = h('div');
  let heldShown = null;
  const update = () => {
    ctx.title(`Run ${time(run.started_at)}`);
    fill(heading, 'Run of ', time(run.started_at));
    fill(errorBox, run.error && run.status === 'failed' ? failureBox(run) : null);
    fill(liveBoxHolder, run.status === 'running' ? liveBox(run, sampler) : null);
    fill(actions, run.status === 'running' && ctx.can('operator') ? h('button', { type: 'button', class: 'danger', onclick: async () => {
      const ok = await confirmAction('Cancel this run?', 'The agent stops reading. What was applied so far stays; nothing is deleted. The next run picks up from there.', 'Cancel the run', true, 'Keep it running');
      if (!ok) return;
      try { await post(`/runs/${run.id}/cancel`); toast('Cancelled: what was applied stays, nothing was deleted.'); reload(); } catch (e) { toast(e.message, 'error'); }
    } }, 'Cancel run') : null);
    if (heldShown !== held()) {
      heldShown = held();
      fill(heldBox, heldShown ? heldPanel(ctx, run, reload) : null);
    }
    fill(facts, h('dl', { class: 'facts' },
      h('dt', null, 'Status'), h('dd', { class: 'run-status' }, statusBadge(run.status), run.decision ? ` — deletions ${run.decision}` : '', run.status === 'cancelled' && run.error ? ` — ${run.error}` : ''),
      h('dt', null, 'Started'), h('dd', null, time(run.started_at)),
      h('dt', null, 'Duration'), h('dd', null, run.status === 'running' ? 'running…' : duration(run.duration_ms)),
      h('dt', null, 'Trigger'), h('dd', null, `${run.trigger} (${run.triggered_by})`),
      h('dt', null, 'Kind'), h('dd', null, [run.dry_run ? 'dry run' : 'applies changes', run.full ? 'full resync' : null].filter(Boolean).join(', ')),
      h('dt', null, 'Read'), h('dd', { class: 'run-read' }, readText(run))));
    const groups = GROUP_COUNTS.some(([k]) => run.counts[k] > 0);
    fill(counts, groups ? h('h3', null, 'Users') : null, h('div', { class: 'counts' }, COUNTS.map((k) =>
      h('div', { class: 'count', 'data-count': k }, h('b', null, String(run.counts[k])), h('span', null, k)))),
    groups ? [h('h3', null, 'Groups and members'), h('div', { class: 'counts' }, GROUP_COUNTS.map(([k, label]) =>
      h('div', { class: 'count', 'data-count': k }, h('b', null, String(run.counts[k] ?? 0)), h('span', null, label))))] : null);
    fill(settings, table(['Setting', 'Value', 'Source'], SETTINGS.map(([k]) => {
      const e = run.settings[k];
      return h('tr', { 'data-setting': k }, h('td', null, k), h('td', null, e.value ? 'on' : 'off'), h('td', null, SOURCE[e.source] || e.source));
    }), ''));
  };
  async function reload() {
    run = await get(`/runs/${id}`);
    if (!ctx.alive()) return;
    update();
    await changes.load(true);
  }
  fill(ctx.main,
    h('p', null, back),
    h('div', { class: 'page-head' }, heading, actions),
    errorBox, liveBoxHolder, heldBox,
    h('div', { class: 'grid2' },
      h('section', { class: 'panel', 'aria-labelledby': 'summary-h' }, h('h2', { id: 'summary-h' }, 'Summary'), facts, h('h2', null, 'Counts'), counts),
      h('section', { class: 'panel', 'aria-labelledby': 'eff-h' }, h('h2', { id: 'eff-h' }, 'Effective settings'), settings)),
    changes.box);
  update();
  await changes.load(true);
  // Live: the server says when this run changes (its progress, its end, a decision).
  ctx.onChange((kind, d) => kind === 'run' && d.run_id === id, reload);
}
