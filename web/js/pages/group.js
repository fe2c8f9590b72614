// One group: where it comes from, the groups it is nested in, and its members, direct
// or effective (everyone reached through nested groups). A manual group's members are
// managed here by a system-admin; a synced group's come from its directory.

import { get, put, patch, del, query } from '../api.js';
import { h, fill, field, table, toast, confirmAction } from '../dom.js';
import { time } from '../format.js';
import { providerName } from './groups.js';
import { touchingRuns } from './syncs.js';

export async function groupPage(ctx, id) {
  const [group, syncs, runs] = await Promise.all([get(`/groups/${id}`), get('/synchronizations'), get(`/groups/${id}/runs`)]);
  if (!ctx.alive()) return;
  ctx.title(group.name);
  const names = new Map(syncs.map((s) => [s.id, s.name]));
  const manual = group.provider === 'manual';
  const admin = ctx.can('system-admin') && manual;
  const view = h('select', { name: 'view' },
    h('option', { value: 'direct' }, 'Direct members'),
    h('option', { value: 'effective' }, 'Effective (through nested groups)'));
  const list = h('div');
  const more = h('button', { type: 'button' }, 'Show more');
  const info = h('span', { class: 'muted', role: 'status' });
  let after = null;
  let rows = [];
  let seq = 0;
  const memberRow = (m) => h('tr', { 'data-member': m.id },
    h('td', null, m.kind === 'group'
      ? h('a', { href: `#/groups/${m.id}` }, m.name)
      : h('a', { href: `#/users/${m.id}`, class: 'username' }, m.name)),
    h('td', null, m.kind === 'group' ? 'group' : 'user'),
    admin && view.value === 'direct' ? h('td', null, h('button', {
      type: 'button', class: 'small danger', 'aria-label': `Remove ${m.name}`,
      onclick: async () => {
        const ok = await confirmAction(`Remove ${m.name} from ${group.name}?`, 'Only the membership goes; the member stays.', 'Remove', true);
        if (!ok) return;
        try { await del(`/groups/${id}/members/${m.id}`); toast(`${m.name} removed.`); await load(true); } catch (e) { toast(e.message, 'error'); }
      },
    }, 'Remove')) : null);
  const load = async (reset) => {
    seq += 1;
    const mine = seq;
    const page = await get(`/groups/${id}/members${query({ effective: view.value === 'effective' ? 'true' : '', after: reset ? null : after, limit: 100 })}`);
    if (!ctx.alive() || mine !== seq) return;
    rows = (reset ? [] : rows).concat(page.members.map(memberRow));
    after = page.next_after;
    const headers = ['Member', 'Kind', admin && view.value === 'direct' ? 'Actions' : null].filter(Boolean);
    fill(list, table(headers, rows, view.value === 'direct' ? 'No member.' : 'Nobody, even through nested groups.'));
    more.classList.toggle('hidden', after === null);
    fill(info, `${rows.length} shown${after === null ? '' : ' so far'}`);
  };
  view.addEventListener('change', () => load(true).catch((e) => toast(e.message, 'error')));
  more.addEventListener('click', () => load(false).catch((e) => toast(e.message, 'error')));

  const addForm = admin ? (() => {
    const who = h('input', { type: 'search', name: 'member', placeholder: 'Username or group name', autocomplete: 'off' });
    const form = h('form', { class: 'filters' }, field('Add a member', who), h('button', { type: 'submit', class: 'primary' }, 'Add member'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const name = who.value.trim();
      if (!name) return;
      try {
        const [users, groups] = await Promise.all([get(`/users${query({ q: name, limit: 50 })}`), get(`/groups${query({ q: name, limit: 50 })}`)]);
        const lower = name.toLowerCase();
        const member = users.users.find((u) => u.username.toLowerCase() === lower) || groups.groups.find((g) => g.name.toLowerCase() === lower);
        if (!member) { toast(`No user or group is named ${name}.`, 'error'); return; }
        await put(`/groups/${id}/members/${member.id}`);
        toast(`${name} added.`);
        who.value = '';
        await load(true);
      } catch (e) { toast(e.message, 'error'); }
    });
    return form;
  })() : null;

  const DETACH_TEXT = 'Detaching makes it a manual group: its synchronization will no longer update, remove or fill it, and you manage its members here from then on. Its members stay; the directory’s group is not touched.';
  const detach = ctx.can('system-admin') && !manual ? h('section', { class: 'panel', 'aria-labelledby': 'group-actions-h' },
    h('h2', { id: 'group-actions-h' }, 'Actions'),
    h('button', { type: 'button', onclick: async () => {
      const ok = await confirmAction(`Detach ${group.name}?`, DETACH_TEXT, 'Detach');
      if (!ok) return;
      try {
        await patch(`/groups/${id}`, { detach: true });
        toast(`${group.name} is now a manual group.`);
        await groupPage(ctx, id);
      } catch (e) { toast(e.message, 'error'); }
    } }, 'Detach'),
    h('p', { class: 'muted small' }, DETACH_TEXT)) : null;

  const deleteButton = admin ? h('button', { type: 'button', class: 'danger', onclick: async () => {
    const ok = await confirmAction(`Delete ${group.name}?`, 'The group and its memberships go; its members stay.', 'Delete group', true);
    if (!ok) return;
    try { await del(`/groups/${id}`); toast(`${group.name} deleted.`); location.hash = '#/groups'; } catch (e) { toast(e.message, 'error'); }
  } }, 'Delete group') : null;

  fill(ctx.main,
    h('p', null, h('a', { href: '#/groups' }, '← Groups')),
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, group.name), group.description ? h('p', { class: 'muted' }, group.description) : null),
      deleteButton),
    group.removed_from_source ? h('p', { class: 'warning' }, 'This group left its directory. It is kept with its members (delete-disables), but it no longer counts in anyone’s effective groups.') : null,
    h('div', { class: 'grid2' },
      h('section', { class: 'panel', 'aria-labelledby': 'about-h' },
        h('h2', { id: 'about-h' }, 'About'),
        h('dl', { class: 'facts' },
          h('dt', null, 'Provider'), h('dd', null, providerName(group.provider, names), manual ? ' (managed here)' : ' (read-only: its directory decides)'),
          h('dt', null, 'Direct members'), h('dd', null, String(group.member_count)),
          h('dt', null, 'Nested in'), h('dd', null, group.member_of.length
            ? group.member_of.flatMap((p, i) => [i ? ', ' : '', h('a', { href: `#/groups/${p.id}` }, p.name)])
            : 'no group'),
          group.email ? [h('dt', null, 'E-mail'), h('dd', null, group.email)] : null,
          group.external_id ? [h('dt', null, 'External ID'), h('dd', null, h('code', null, group.external_id))] : null,
          group.source_dn ? [h('dt', null, 'Directory entry'), h('dd', null, h('code', null, group.source_dn))] : null,
          Object.entries(group.extra || {}).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [h('dt', null, k), h('dd', { class: 'attr-value' }, v)]),
          h('dt', null, 'Created'), h('dd', null, time(group.created_at)),
          h('dt', null, 'Updated'), h('dd', null, time(group.updated_at)))),
      h('section', { class: 'panel', 'aria-labelledby': 'members-h' },
        h('h2', { id: 'members-h' }, 'Members'),
        h('div', { class: 'filters' }, field('Show', view)),
        addForm,
        list,
        h('div', { class: 'pager' }, info, more))),
    detach,
    touchingRuns(runs, names, 'Among the 50 newest runs: each created, updated or removed this group, or changed its members.', 'No recent run touched this group.'));
  await load(true);
}
