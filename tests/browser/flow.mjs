// The whole admin flow in a real browser, against the real server, agent and slapd the
// Rust test started: sign in, add a synchronization and read its secret once, watch
// the agent connect, sync, look at users and changes, approve a held deletion,
// download the agent, make an API token, rotate the secret, and use it on a phone.

import { ask, log, scenario, newPage, shot, expectClean, expectLabels, expectFitsWidth, assert, signIn, ARTIFACTS } from './lib.mjs';
import { join } from 'node:path';

const EMAIL = process.env.ADC_ADMIN_EMAIL;
const PASSWORD = process.env.ADC_ADMIN_PASSWORD;
const PEOPLE = Number(process.env.ADC_PEOPLE);
const HOSTILE = '<img src=x onerror=alert(1)>';

await scenario(async (browser) => {
  const page = await newPage(browser);

  log('sign in: a wrong password first');
  await page.goto('/');
  await page.getByLabel('E-mail').fill(EMAIL);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Wrong e-mail or password.' }).waitFor();
  assert(await page.getByLabel('Password').inputValue() === '', 'the wrong password is cleared');
  await shot(page, '01-sign-in');
  await expectLabels(page);
  await signIn(page, EMAIL, PASSWORD);
  await page.getByText('No synchronization yet').waitFor();

  log('add a synchronization; its secret is shown once');
  await page.getByRole('button', { name: 'Add synchronization' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Name').fill('Head office');
  await expectLabels(page);
  await dialog.getByRole('button', { name: 'Add' }).click();
  await dialog.getByRole('textbox', { name: 'Secret Token', exact: true }).waitFor();
  const id = await dialog.getByRole('textbox', { name: 'Application ID', exact: true }).inputValue();
  const secret = await dialog.getByRole('textbox', { name: 'Secret Token', exact: true }).inputValue();
  assert(/^[0-9a-f-]{36}$/.test(id), `an Application ID: ${id}`);
  assert(secret.length >= 43, 'a long secret');
  await dialog.getByText('shown only this once').waitFor();
  await dialog.getByRole('button', { name: 'Copy Secret Token' }).click();
  await shot(page, '02-secret-shown-once');
  await dialog.getByRole('button', { name: /close/ }).click();
  await page.getByRole('heading', { name: 'Head office', level: 1 }).waitFor();
  const html = await page.content();
  assert(!html.includes(secret), 'the secret is gone from the page once the dialog is closed');
  const stored = await page.evaluate(() => JSON.stringify([localStorage, sessionStorage]) + document.cookie);
  assert(!stored.includes(secret), 'the secret is in no browser storage');
  await page.getByText('No agent connected').waitFor();
  assert(await page.getByRole('button', { name: 'Sync now' }).isDisabled(), 'no sync without an agent');
  // A synchronization that never ran says what to do next, and where the agent is.
  const start = page.getByRole('region', { name: 'Getting started' });
  await start.getByText('This synchronization has not run yet').waitFor();
  assert(await start.getByText('To do').count() === 3, 'three steps to do');
  assert(await start.getByRole('link', { name: 'Downloads' }).getAttribute('href') === '#/downloads', 'it links to Downloads');
  await shot(page, '02-getting-started');

  log('a real agent connects; the page turns connected by itself');
  const { hostname } = await ask({ ask: 'start-agent', id, secret });
  const agents = page.getByRole('region', { name: 'Connected agents' });
  await agents.getByRole('cell', { name: hostname, exact: true }).waitFor();
  await start.getByText('The agent is connected: start a Dry run').waitFor();
  assert(await start.getByText('✓ Done').count() === 2, 'installing and starting the agent are done');
  await shot(page, '03-synchronization');
  await expectLabels(page);

  log('the policy: enforce dry-run off, so the agent’s dry-run: true does not apply');
  const dry = page.getByRole('group', { name: 'dry-run' });
  await dry.getByLabel('Enforced off').check();
  await page.getByRole('button', { name: 'Save policy' }).click();
  await page.getByText('Policy saved.').waitFor();

  log('sync now; the run page follows it live');
  await page.getByRole('button', { name: 'Sync now' }).click();
  await page.waitForURL(/#\/runs\//);
  await page.locator('.run-status').getByText('Succeeded').waitFor({ timeout: 60000 });
  const created = await page.locator('[data-count=created] b').textContent();
  assert(Number(created) === PEOPLE, `created ${created} of ${PEOPLE}`);
  const eff = page.locator('tr[data-setting=dry-run]');
  assert((await eff.textContent()).includes('offserver'), `dry-run off from the server: ${await eff.textContent()}`);
  // The first run reads every entry and says why (the test directory has no syncprov).
  const readFact = await page.locator('.run-read').textContent();
  assert(readFact.startsWith('Every entry (full read): no watermark'), `the run's read: ${readFact}`);
  await page.getByRole('cell', { name: 'user00000@example.com', exact: true }).waitFor();
  await page.getByLabel('Operation').selectOption('update');
  await page.getByText('No change matches.').waitFor();
  await page.getByLabel('Operation').selectOption('create');
  await page.getByRole('cell', { name: 'user00001@example.com', exact: true }).waitFor();
  await shot(page, '04-run');

  log('users: the hostile display name is text');
  await page.getByRole('link', { name: 'Users' }).click();
  await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
  await page.getByLabel('Search').fill('hostile');
  await page.getByText('Page 1 · 1 user shown').waitFor();
  await page.locator('td.display-name').filter({ hasText: HOSTILE }).waitFor();
  assert(await page.locator('main img').count() === 0, 'no <img> element was made from directory data');
  await shot(page, '05-users-hostile-display-name');
  // A system-admin disables a synced user, then detaches it (after a confirmation).
  await page.getByRole('button', { name: `Disable hostile@example.com` }).click();
  await page.locator('tr[data-user]').getByText('Disabled', { exact: true }).waitFor();
  await page.getByRole('button', { name: 'Detach hostile@example.com' }).click();
  await page.getByRole('dialog').getByText('becomes a manual user').waitFor();
  await page.getByRole('dialog').getByRole('button', { name: 'Detach' }).click();
  await page.locator('tr[data-user]').getByRole('cell', { name: 'manual', exact: true }).waitFor();
  const hostile = await ask({ ask: 'user-state', username: 'hostile@example.com' });
  assert(hostile.enabled === false && hostile.provider === 'manual', `disabled and manual: ${JSON.stringify(hostile)}`);
  await page.getByLabel('Search').fill('');
  await page.getByText('Page 1').waitFor();
  await page.getByRole('button', { name: 'Next →' }).click();
  await page.getByText('Page 2').waitFor();
  await shot(page, '05-users-page-2');
  await expectLabels(page);

  log('deletion guard: three people leave, the guard allows two');
  await page.getByRole('link', { name: 'Synchronizations', exact: true }).click();
  await page.getByRole('link', { name: 'Head office' }).click();
  await page.getByLabel('Most deletions per run').fill('2');
  await page.getByRole('button', { name: 'Save policy' }).click();
  await page.getByText('Policy saved.').waitFor();
  await ask({ ask: 'remove-people', uids: ['user00001', 'user00002', 'user00003'] });
  await page.getByRole('button', { name: 'Sync now' }).click();
  await page.waitForURL(/#\/runs\//);
  const held = page.getByRole('region', { name: /3 deletions held/ });
  await held.waitFor({ timeout: 60000 });
  for (const u of ['user00001', 'user00002', 'user00003']) await held.getByRole('cell', { name: `${u}@example.com` }).waitFor();
  await shot(page, '06-run-held');
  await held.getByRole('button', { name: 'Approve' }).click();
  await page.getByRole('dialog').getByText('Exactly the 3 deletions listed').waitFor();
  await page.getByRole('dialog').getByRole('button', { name: 'Approve' }).click();
  await page.getByText('deletions approved').waitFor();
  assert(await held.count() === 0, 'the held panel is gone');
  const left = await ask({ ask: 'user-state', username: 'user00002@example.com' });
  assert(left.enabled === false, 'the approved deletion disabled user00002 (delete-disables by default)');

  log('run history chart on the synchronization');
  await page.getByRole('link', { name: '← Synchronization' }).click();
  await page.locator('svg.chart g.bar').nth(1).waitFor();
  assert(await page.getByRole('region', { name: 'Getting started' }).count() === 0, 'no getting started once it ran');
  assert(await page.locator('svg.chart g.bar').count() === 2, 'two runs in the chart');

  log('download the agent for this synchronization: its Application ID in adc.cfg');
  const appId = page.url().match(/#\/syncs\/([0-9a-f-]{36})/)[1];
  const forSync = page.getByRole('link', { name: /^ad-connect-linux-.*\.tar\.gz$/ }).first();
  await forSync.waitFor();
  const [syncDownload] = await Promise.all([page.waitForEvent('download'), forSync.click()]);
  const syncArchive = join(ARTIFACTS, `for-sync-${syncDownload.suggestedFilename()}`);
  await syncDownload.saveAs(syncArchive);
  await ask({ ask: 'check-archive', path: syncArchive, application_id: appId });

  log('download the agent');
  await page.getByRole('link', { name: 'Downloads' }).click();
  const link = page.getByRole('link', { name: /Download ad-connect-linux-/ }).first();
  await link.waitFor();
  await page.locator('tr[data-platform]').first().getByText('This computer').waitFor();
  const systemd = page.getByRole('region', { name: 'Install as a systemd service (Linux)' });
  for (const step of ['sudo cp -r ad-connect /opt/', 'sudo chmod 600 /opt/ad-connect/adc.cfg', './bin/adc check', 'sudo systemctl enable --now adc', 'journalctl -u adc -f']) {
    await systemd.getByText(step).first().waitFor();
  }
  const container = page.getByRole('region', { name: 'Run in a container (Docker or Podman)' });
  for (const step of ['docker build --target agent -t adc .', 'adc check', 'docker run -d --name adc --restart unless-stopped', 'docker logs -f adc']) {
    await container.getByText(step).first().waitFor();
  }
  await shot(page, '07-downloads');
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const archive = join(ARTIFACTS, download.suggestedFilename());
  await download.saveAs(archive);
  await ask({ ask: 'check-archive', path: archive });

  log('an API token, shown once');
  await page.getByRole('link', { name: 'API tokens' }).click();
  await page.getByLabel('Name').fill('HR system');
  await page.getByLabel('Role').selectOption('operator');
  await page.getByRole('button', { name: 'Create token' }).click();
  const token = await page.getByRole('dialog').getByRole('textbox', { name: 'Token', exact: true }).inputValue();
  assert(token.startsWith('adct_'), 'a token');
  await page.getByRole('dialog').getByRole('button', { name: /close/ }).click();
  await page.getByRole('cell', { name: 'HR system', exact: true }).waitFor();
  assert(!(await page.content()).includes(token), 'the token is gone from the page');
  assert((await ask({ ask: 'token-status', token })).status === 200, 'the new token works');
  await shot(page, '08-api-tokens');
  await expectLabels(page);
  await page.getByRole('button', { name: 'Revoke HR system' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
  await page.getByText('No API token yet.').waitFor();
  assert((await ask({ ask: 'token-status', token })).status === 401, 'the revoked token is refused');

  log('rotate the secret: the confirmation says the agent will be disconnected');
  await page.getByRole('link', { name: 'Synchronizations', exact: true }).click();
  await page.locator('.agent-cell').getByText(hostname).waitFor();
  await shot(page, '09-synchronizations');
  await page.getByRole('link', { name: 'Head office' }).click();
  await page.getByRole('button', { name: 'Rotate secret' }).click();
  await page.getByRole('dialog').getByText('1 connected agent will be disconnected').waitFor();
  await page.getByRole('dialog').getByRole('button', { name: 'Rotate secret' }).click();
  const fresh = await page.getByRole('dialog').getByRole('textbox', { name: 'Secret Token', exact: true }).inputValue();
  assert(fresh !== secret, 'a new secret');
  await page.getByRole('dialog').getByRole('button', { name: /close/ }).click();
  await page.getByText('No agent connected').waitFor();

  log('a phone');
  const phone = await newPage(browser, { width: 390, height: 844 });
  await signIn(phone, EMAIL, PASSWORD);
  await expectFitsWidth(phone);
  await shot(phone, '10-phone-synchronizations');
  await phone.getByRole('link', { name: 'Head office' }).click();
  await phone.getByRole('heading', { name: 'Policy' }).waitFor();
  await expectFitsWidth(phone);
  await shot(phone, '11-phone-synchronization');
  await phone.getByRole('link', { name: 'Users' }).click();
  await phone.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
  await expectFitsWidth(phone);
  expectClean(phone);

  log('delete the synchronization, after a confirmation');
  await page.getByRole('link', { name: 'Synchronizations', exact: true }).click();
  await page.getByRole('link', { name: 'Head office' }).click();
  await page.getByRole('button', { name: 'Delete synchronization' }).click();
  await page.getByRole('dialog').getByText('become manual users').waitFor();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  await page.getByRole('heading', { name: 'Head office', level: 1 }).waitFor();
  await page.getByRole('button', { name: 'Delete synchronization' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete synchronization' }).click();
  await page.getByText('No synchronization yet').waitFor();

  log('sign out');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  expectClean(page);
});
