// The agent download: each platform the server offers, this computer's first.

import { get } from '../api.js';
import { h, fill, table } from '../dom.js';
import { bytes } from '../format.js';

function visitorOs() {
  const p = ((navigator.userAgentData && navigator.userAgentData.platform) || navigator.platform || navigator.userAgent || '').toLowerCase();
  if (p.includes('win')) return 'windows';
  if (p.includes('mac')) return 'macos';
  if (p.includes('linux') || p.includes('x11')) return 'linux';
  return null;
}

export async function downloadsPage(ctx) {
  ctx.title('Downloads');
  const offered = await get('/downloads');
  if (!ctx.alive()) return;
  const os = visitorOs();
  const sorted = [...offered].sort((a, b) => (b.os === os) - (a.os === os));
  const rows = sorted.map((p) => h('tr', { 'data-platform': p.name },
    h('td', null, h('strong', null, p.name), p.os === os ? h('span', { class: 'badge connected' }, ' This computer') : null),
    h('td', null, p.format),
    h('td', { class: 'num' }, bytes(p.binary_size)),
    h('td', null, h('a', { class: 'button primary', href: p.url, download: p.filename }, `Download ${p.filename}`))));
  fill(ctx.main,
    h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Download the agent'),
      h('p', { class: 'muted' }, 'The agent runs on a host that can reach your directory and connects out to this server; no inbound port is needed.'))),
    h('section', { class: 'panel' }, table(['Platform', 'Archive', { text: 'Agent size', class: 'num' }, ''], rows,
      'This server offers no agent: put the adc binary in the folder named by ADC_AGENT_DIST.')),
    h('section', { class: 'panel' },
      h('h2', null, 'Install'),
      h('ol', null,
        h('li', null, 'Unpack the archive to ', h('code', null, '/opt/ad-connect'), '.'),
        h('li', null, 'In ', h('code', null, 'adc.cfg'), ', put the synchronization’s Application ID and Secret Token in ', h('code', null, 'AD_CONNECT_AUTH'), ' (a synchronization’s own page offers the archive with its Application ID filled in). The server’s address is filled in already.'),
        h('li', null, 'In ', h('code', null, 'adc.yaml'), ', describe your directory; every key is explained there. Keep ', h('code', null, 'dry-run: true'), ' for a first look.'),
        h('li', null, 'Check with ', h('code', null, 'adc check'), ', then start the service: ', h('code', null, 'systemctl enable --now adc'), '. The synchronization shows the agent as connected within seconds.'))));
}
