// The tenant's groups: search by name, description or e-mail and by provider, member
// counts, keyset paging; a system-admin adds manual groups here.

import { get, post, query } from '../api.js';
import { h, fill, field, table, toast, modal } from '../dom.js';
import { ago } from '../format.js';

const PAGE = 50;

/** Where a group or user comes from, in words. */
export function providerName(provider, names) {
  return provider === 'manual' ? 'manual' : names.get(provider) || 'a deleted synchronization';
}

export async function groupsPage(ctx) {
  ctx.title('Groups');
  const syncs = await get('/synchronizations');
  if (!ctx.alive()) return;
  const names = new Map(syncs.map((s) => [s.id, s.name]));
  const q = h('input', { type: 'search', name: 'q', placeholder: 'Name, description or e-mail', autocomplete: 'off' });
  const provider = h('select', { name: 'provider' },
    h('option', { value: '' }, 'All'),
    h('option', { value: 'manual' }, 'Manual groups'),
    syncs.map((s) => h('option', { value: s.id }, s.name)));
  const list = h('div');
  const pageInfo = h('span', { class: 'muted', role: 'status' });
  const count = h('p', { class: 'total', role: 'status' });
  const prev = h('button', { type: 'button' }, '← Previous');
  const next = h('button', { type: 'button' }, 'Next →');
  let cursors = [null];
  let page = 0;
  let nextAfter = null;
  let seq = 0;
  const load = async () => {
    seq += 1;
    const mine = seq;
    const res = await get(`/groups${query({ q: q.value.trim(), provider: provider.value, after: cursors[page], limit: PAGE })}`);
    if (!ctx.alive() || mine !== seq) return;
    nextAfter = res.next_after;
    fill(list, table(['Group', { text: 'Members', class: 'num' }, { text: 'Description', class: 'hide-narrow' }, 'Provider', { text: 'Updated', class: 'hide-narrow' }],
      res.groups.map((g) => h('tr', { 'data-group': g.id },
        h('td', null, h('a', { href: `#/groups/${g.id}`, class: 'group-name' }, g.name),
          g.removed_from_source ? h('span', { class: 'badge disabled', title: 'It left the source: kept with its members, but it no longer counts in anyone’s groups.' }, 'Left the source') : null),
        h('td', { class: 'num' }, String(g.member_count)),
        h('td', { class: 'hide-narrow' }, g.description || ''),
        h('td', null, providerName(g.provider, names)),
        h('td', { class: 'hide-narrow' }, ago(g.updated_at)))),
      'No group matches.'));
    prev.disabled = page === 0;
    next.disabled = nextAfter === null;
    fill(pageInfo, `Page ${page + 1} · ${res.groups.length} ${res.groups.length === 1 ? 'group' : 'groups'} shown`);
    if (res.total !== null && res.total !== undefined) {
      fill(count, `${res.total.toLocaleString()}${res.total_capped ? '+' : ''} ${res.total === 1 ? 'group matches' : 'groups match'}`);
    }
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
  const form = h('form', { class: 'filters', role: 'search' }, field('Search', q), field('Provider', provider));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); restart(); });
  const add = ctx.can('system-admin')
    ? h('button', { type: 'button', class: 'primary', onclick: () => addGroup(restart) }, 'Add group')
    : null;
  fill(ctx.main,
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, 'Groups'), h('p', { class: 'muted' }, 'Groups from synchronizations (read-only: their directory decides) and groups made by hand.')),
      add),
    h('section', { class: 'panel' }, form, count, list, h('div', { class: 'pager' }, pageInfo, prev, next)));
  await load();
}

function addGroup(done) {
  return modal('Add a manual group', (close) => {
    const name = h('input', { type: 'text', name: 'name', required: true, autocomplete: 'off' });
    const description = h('input', { type: 'text', name: 'description', autocomplete: 'off' });
    const err = h('p', { class: 'error-box hidden', role: 'alert' });
    const form = h('form', null,
      field('Name', name, 'Unique in this tenant, whatever the case.'),
      field('Description', description),
      err,
      h('div', { class: 'buttons' },
        h('button', { type: 'button', onclick: () => close(false) }, 'Cancel'),
        h('button', { type: 'submit', class: 'primary' }, 'Add')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const g = await post('/groups', { name: name.value, description: description.value.trim() || null });
        close(true);
        toast(`Group ${g.name} added.`);
        location.hash = `#/groups/${g.id}`;
        done();
      } catch (e) {
        fill(err, e.message);
        err.classList.remove('hidden');
      }
    });
    return form;
  });
}
