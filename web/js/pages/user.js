// One user: every field, its extra attributes, where it comes from, the groups it is
// in (directly and through nested groups: what pass-through authentication answers
// with), the runs that touched it, and what a system-admin may do with it.

import { get, patch, del } from '../api.js';
import { h, fill, table, toast, confirmAction } from '../dom.js';
import { time } from '../format.js';
import { providerName } from './groups.js';
import { touchingRuns } from './syncs.js';

const DETACH_TEXT = 'Detaching makes it a manual user: its synchronization will no longer update, disable or delete it, and you manage it here from then on. The directory entry is not touched; if the synchronization should own it again, delete the manual user and run the synchronization.';

function state(user) {
  if (user.enabled) return h('span', { class: 'badge enabled' }, 'Enabled');
  return h('span', { class: 'badge disabled' }, user.removed_from_source ? 'Disabled (left the source)' : 'Disabled');
}

function actions(ctx, user, reload) {
  if (!ctx.can('system-admin')) return null;
  const act = async (fn, done) => {
    try { await fn(); toast(done); await reload(); } catch (e) { toast(e.message, 'error'); }
  };
  const synced = user.provider !== 'manual';
  return h('section', { class: 'panel', 'aria-labelledby': 'user-actions-h' },
    h('h2', { id: 'user-actions-h' }, 'Actions'),
    h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: () => act(() => patch(`/users/${user.id}`, { enabled: !user.enabled }), `${user.username} ${user.enabled ? 'disabled' : 'enabled'}.`) },
        user.enabled ? 'Disable' : 'Enable'),
      synced
        ? h('button', { type: 'button', onclick: async () => {
          const ok = await confirmAction(`Detach ${user.username}?`, DETACH_TEXT, 'Detach');
          if (ok) await act(() => patch(`/users/${user.id}`, { detach: true }), `${user.username} is now a manual user.`);
        } }, 'Detach')
        : h('button', { type: 'button', class: 'danger', onclick: async () => {
          const ok = await confirmAction(`Delete ${user.username}?`, 'The user is removed from this tenant’s directory.', 'Delete', true);
          if (!ok) return;
          try { await del(`/users/${user.id}`); toast(`${user.username} deleted.`); location.hash = '#/users'; } catch (e) { toast(e.message, 'error'); }
        } }, 'Delete')),
    h('p', { class: 'muted small' }, synced
      ? ['Disable keeps the user but refuses its sign-ins; the synchronization enables it again only if the directory’s state changes. ', DETACH_TEXT]
      : 'A manual user is managed here only: no synchronization changes it.'));
}

export async function userPage(ctx, id) {
  const main = h('div');
  fill(ctx.main, main);
  const load = async () => {
    const [user, direct, effective, syncs, runs] = await Promise.all([
      get(`/users/${id}`), get(`/users/${id}/groups`), get(`/users/${id}/groups?effective=true`), get('/synchronizations'), get(`/users/${id}/runs`),
    ]);
    if (!ctx.alive()) return;
    ctx.title(user.username);
    const names = new Map(syncs.map((s) => [s.id, s.name]));
    const directIds = new Set(direct.groups.map((g) => g.id));
    const row = (label, value) => [h('dt', null, label), h('dd', null, value === null || value === undefined || value === '' ? h('span', { class: 'muted' }, '—') : value)];
    const extra = Object.entries(user.extra || {}).sort(([a], [b]) => a.localeCompare(b));
    fill(main,
      h('p', null, h('a', { href: '#/users' }, '← Users')),
      h('div', { class: 'page-head' }, h('div', null, h('h1', null, user.username), user.display_name ? h('p', { class: 'muted' }, user.display_name) : null)),
      h('div', { class: 'grid2' },
        h('section', { class: 'panel', 'aria-labelledby': 'about-h' },
          h('h2', { id: 'about-h' }, 'About'),
          h('dl', { class: 'facts user-facts' },
            row('State', state(user)),
            row('Username', user.username),
            row('E-mail', user.email),
            row('Display name', user.display_name),
            row('Given name', user.given_name),
            row('Surname', user.surname),
            row('Provider', user.provider === 'manual' ? 'manual (made by hand or detached)'
              : h('a', { href: `#/syncs/${user.provider}` }, providerName(user.provider, names))),
            row('External ID', user.external_id ? h('code', null, user.external_id) : null),
            row('Directory entry', user.source_dn ? h('code', null, user.source_dn) : null),
            row('Created', time(user.created_at)),
            row('Updated', time(user.updated_at)))),
        h('section', { class: 'panel', 'aria-labelledby': 'extra-h' },
          h('h2', { id: 'extra-h' }, `Extra attributes (${extra.length})`),
          h('p', { class: 'muted' }, 'What adc.yaml’s attribute map reads besides the standard fields.'),
          table(['Attribute', 'Value'], extra.map(([k, v]) => h('tr', { 'data-attribute': k }, h('td', null, h('code', null, k)), h('td', { class: 'attr-value' }, v))), 'None.'))),
      actions(ctx, user, load),
      h('section', { class: 'panel', 'aria-labelledby': 'groups-h' },
        h('h2', { id: 'groups-h' }, `Groups (${effective.groups.length})`),
        h('p', { class: 'muted' }, 'Every group the user is in, directly or through a nested group: what other services see.'),
        table(['Group', 'How'], effective.groups.map((g) => h('tr', { 'data-group': g.id },
          h('td', null, h('a', { href: `#/groups/${g.id}` }, g.name)),
          h('td', null, directIds.has(g.id) ? 'direct member' : 'through a nested group'))),
        'In no group.')),
      touchingRuns(runs, names, 'Among the 50 newest runs: each created, updated, disabled, held or skipped this user. Open one to see what changed.', 'No recent run touched this user.'));
  };
  await load();
}
