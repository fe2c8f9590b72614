// One user: who it is, where it comes from, and the groups it is in, directly and
// through nested groups (what pass-through authentication answers with).

import { get } from '../api.js';
import { h, fill, table } from '../dom.js';
import { time } from '../format.js';
import { providerName } from './groups.js';

export async function userPage(ctx, id) {
  const [user, direct, effective, syncs] = await Promise.all([
    get(`/users/${id}`), get(`/users/${id}/groups`), get(`/users/${id}/groups?effective=true`), get('/synchronizations'),
  ]);
  if (!ctx.alive()) return;
  ctx.title(user.username);
  const names = new Map(syncs.map((s) => [s.id, s.name]));
  const directIds = new Set(direct.groups.map((g) => g.id));
  fill(ctx.main,
    h('p', null, h('a', { href: '#/users' }, '← Users')),
    h('div', { class: 'page-head' }, h('div', null, h('h1', null, user.username), user.display_name ? h('p', { class: 'muted' }, user.display_name) : null)),
    h('div', { class: 'grid2' },
      h('section', { class: 'panel', 'aria-labelledby': 'about-h' },
        h('h2', { id: 'about-h' }, 'About'),
        h('dl', { class: 'facts' },
          h('dt', null, 'State'), h('dd', null, user.enabled ? h('span', { class: 'badge enabled' }, 'Enabled') : h('span', { class: 'badge disabled' }, user.removed_from_source ? 'Disabled (left the source)' : 'Disabled')),
          h('dt', null, 'E-mail'), h('dd', null, user.email || '—'),
          h('dt', null, 'Provider'), h('dd', null, providerName(user.provider, names)),
          user.source_dn ? [h('dt', null, 'Directory entry'), h('dd', null, h('code', null, user.source_dn))] : null,
          h('dt', null, 'Updated'), h('dd', null, time(user.updated_at)))),
      h('section', { class: 'panel', 'aria-labelledby': 'groups-h' },
        h('h2', { id: 'groups-h' }, `Groups (${effective.groups.length})`),
        h('p', { class: 'muted' }, 'Every group the user is in, directly or through a nested group: what other services see.'),
        table(['Group', 'How'], effective.groups.map((g) => h('tr', { 'data-group': g.id },
          h('td', null, h('a', { href: `#/groups/${g.id}` }, g.name)),
          h('td', null, directIds.has(g.id) ? 'direct member' : 'through a nested group'))),
        'In no group.'))));
}
