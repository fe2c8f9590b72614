// The agent download: each platform the server offers, this computer's first, and the
// whole way from the archive to a running agent, with systemd or in a container.

import { get } from '../api.js';
import { h, fill, table, scrollableByKeyboard } from '../dom.js';
import { bytes } from '../format.js';

function visitorOs() {
  const p = ((navigator.userAgentData && navigator.userAgentData.platform) || navigator.platform || navigator.userAgent || '').toLowerCase();
  if (p.includes('win')) return 'windows';
  if (p.includes('mac')) return 'macos';
  if (p.includes('linux') || p.includes('x11')) return 'linux';
  return null;
}

/** A command to type, on its own line, copyable as it is. */
const cmd = (text) => scrollableByKeyboard(h('pre', { class: 'cmd' }, h('code', null, text)), 'Command');

function systemdSteps() {
  return h('section', { class: 'panel', 'aria-labelledby': 'systemd-h' },
    h('h2', { id: 'systemd-h' }, 'Install as a systemd service (Linux)'),
    h('ol', { class: 'steps' },
      h('li', null, 'Unpack the archive and copy it to ', h('code', null, '/opt/ad-connect'), ':',
        cmd('tar -xzf ad-connect-*.tar.gz && sudo cp -r ad-connect /opt/')),
      h('li', null, 'In ', h('code', null, '/opt/ad-connect/adc.cfg'), ', put the Secret Token after the Application ID in ', h('code', null, 'AD_CONNECT_AUTH'),
        ' (an archive from a synchronization’s page has its Application ID filled in; the server’s address is filled in already). Keep it readable by root only:',
        cmd('sudo chmod 600 /opt/ad-connect/adc.cfg')),
      h('li', null, 'In ', h('code', null, '/opt/ad-connect/adc.yaml'), ', describe your directory (address, bind DN and password, base DN, filter); every key is explained there. Keep ',
        h('code', null, 'dry-run: true'), ' for a first look.'),
      h('li', null, 'Check the set-up: it validates adc.yaml, binds to the directory, counts the entries and signs in to this server.',
        cmd('cd /opt/ad-connect && sudo sh -c \'set -a; . ./adc.cfg; ./bin/adc check\'')),
      h('li', null, 'Install, enable and start the service:',
        cmd('sudo cp /opt/ad-connect/adc.service /etc/systemd/system/\nsudo systemctl daemon-reload\nsudo systemctl enable --now adc')),
      h('li', null, 'Check that it runs and connected: the journal says “connected”, and the synchronization’s page shows the agent within seconds.',
        cmd('systemctl status adc\njournalctl -u adc -f'))),
    h('p', { class: 'muted' }, 'After editing adc.yaml, ', h('code', null, 'sudo systemctl reload adc'), ' re-reads it without dropping the connection. Debian and Ubuntu hosts can install the ad-connect-agent package instead (see the README).'));
}

function containerSteps() {
  return h('section', { class: 'panel', 'aria-labelledby': 'container-h' },
    h('h2', { id: 'container-h' }, 'Run in a container (Docker or Podman)'),
    h('ol', { class: 'steps' },
      h('li', null, 'Download the archive above and unpack it: its ', h('code', null, 'adc.cfg'), ' and ', h('code', null, 'adc.yaml'), ' are the container’s settings. Fill them in as for systemd (steps 2 and 3).'),
      h('li', null, 'Build the agent image from the ad-connect source (its Dockerfile’s ', h('code', null, 'agent'), ' target), or load the one you were given:',
        cmd('docker build --target agent -t adc .')),
      h('li', null, 'Check the set-up (adc.cfg tells the agent its adc.yaml is /opt/ad-connect/adc.yaml, so it is mounted there):',
        cmd('docker run --rm --env-file adc.cfg -v "$PWD/adc.yaml:/opt/ad-connect/adc.yaml:ro" adc check')),
      h('li', null, 'Start it, restarted with the host:',
        cmd('docker run -d --name adc --restart unless-stopped --env-file adc.cfg \\\n  -v "$PWD/adc.yaml:/opt/ad-connect/adc.yaml:ro" adc')),
      h('li', null, 'Check that it connected:', cmd('docker logs -f adc'))),
    h('p', { class: 'muted' }, h('code', null, 'docker stop adc'), ' lets it finish the batch in flight; ', h('code', null, 'docker kill -s HUP adc'), ' re-reads adc.yaml.'));
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
    h('section', { class: 'panel' }, table(['Platform', 'Archive', { text: 'Agent size', class: 'num' }, 'Download'], rows,
      'This server offers no agent: put the adc binary in the folder named by ADC_AGENT_DIST.'),
    h('p', { class: 'muted' }, 'Tip: download from a synchronization’s page and its adc.cfg carries that synchronization’s Application ID already.')),
    systemdSteps(),
    containerSteps());
}
