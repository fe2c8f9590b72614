// A system-admin reads the audit log: entries say who did what to what, filters narrow
// them, pages go back in time, the CSV holds the selection, a hostile name stays text,
// and the retention is set within its bounds. Then a viewer, and a phone.

import { log, scenario, newPage, shot, expectClean, expectLabels, expectFitsWidth, assert, signIn } from './lib.mjs';

const EMAIL = process.env.ADC_ADMIN_EMAIL;
const PASSWORD = process.env.ADC_ADMIN_PASSWORD;
const VIEWER = process.env.ADC_VIEWER_EMAIL;
const VIEWER_PASSWORD = process.env.ADC_VIEWER_PASSWORD;

await scenario(async (browser) => {
  const page = await newPage(browser);
  await signIn(page, EMAIL, PASSWORD);
  await page.getByRole('link', { name: 'Audit log', exact: true }).click();
  await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
  const rows = page.locator('tr[data-entry]');
  await rows.first().waitFor();
  await expectLabels(page);

  log('entries say who did what to what, with the old and new values');
  const changed = page.locator('tr[data-action="synchronization.changed"]').first();
  await changed.getByText('changed synchronization').waitFor();
  await changed.getByText('corp', { exact: true }).waitFor();
  await changed.getByText('schedule_minutes: — → 30').waitFor();
  await changed.getByText(EMAIL).waitFor();
  const failed = page.locator('tr[data-action="session.sign_in_failed"]').first();
  await failed.getByText("reason: wrong password").waitFor();
  await failed.getByText('127.0.0.1').waitFor();
  await shot(page, '01-audit-log');

  log('every action the server records can be chosen');
  const known = (await (await page.request.get('/api/v1/openapi.json')).json()).components.schemas.AuditAction.enum;
  const offered = await page.getByLabel('Action').locator('option').evaluateAll((os) => os.map((o) => o.value));
  const missing = known.filter((a) => !offered.includes(a));
  assert(missing.length === 0, `actions missing from the filter: ${missing}`);

  log('a hostile name is shown as the characters it is');
  await page.locator('tr[data-action="user.created"]').first().getByText('<img src=x onerror=alert(1)>').waitFor();

  log('filters narrow the list; a filter nothing matches says so');
  await page.getByLabel('Action').selectOption('synchronization.changed');
  await page.waitForFunction(() => [...document.querySelectorAll('tr[data-entry]')].every((r) => r.dataset.action === 'synchronization.changed'));
  assert(await rows.count() === 1, `one change, not ${await rows.count()}`);
  await page.getByLabel('Action').selectOption('');
  await page.getByLabel('Who').fill('nobody@example.com');
  await page.getByText('No entry matches.').waitFor();
  await page.getByLabel('Who').fill('');
  await page.getByLabel('Target').fill('user-07');
  await page.waitForFunction(() => document.querySelectorAll('tr[data-entry]').length === 1);
  await page.getByLabel('Target').fill('');

  log('pages go back in time and return');
  await page.waitForFunction(() => document.querySelectorAll('tr[data-entry]').length === 50);
  const newest = await rows.first().getAttribute('data-entry');
  await page.getByRole('button', { name: 'Older →' }).click();
  await page.getByText('Page 2 ·').waitFor();
  assert(await rows.first().getAttribute('data-entry') !== newest, 'page 2 shows older entries');
  await page.getByRole('button', { name: '← Newer' }).click();
  await page.getByText('Page 1 ·').waitFor();
  assert(await rows.first().getAttribute('data-entry') === newest, 'back to the newest');

  log('the CSV holds the selection');
  await page.getByLabel('Action').selectOption('user');
  await page.waitForFunction(() => [...document.querySelectorAll('tr[data-entry]')].every((r) => r.dataset.action.startsWith('user.')));
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download CSV' }).click()]);
  const csv = await (await import('node:fs/promises')).readFile(await download.path(), 'utf8');
  const lines = csv.trim().split('\n');
  assert(lines[0].startsWith('id,at,actor_kind'), `a header: ${lines[0]}`);
  assert(lines.length === 1 + 56 && lines.slice(1).every((l) => l.includes(',user.created,')), `56 user entries: ${lines.length - 1}`);

  log('the retention is set within its bounds');
  const days = page.getByLabel('Keep entries for (days)');
  assert(await days.inputValue() === '365', 'a year by default');
  await days.fill('90');
  await page.getByRole('button', { name: 'Save retention' }).click();
  await page.getByText('Audit entries are kept 90 days.').waitFor();
  await shot(page, '02-filtered-and-retention');
  await expectClean(page);

  log('a viewer reads the log and the retention, and cannot change it');
  const viewer = await newPage(browser);
  await signIn(viewer, VIEWER, VIEWER_PASSWORD);
  await viewer.goto('/#/audit');
  await viewer.locator('tr[data-entry]').first().waitFor();
  await viewer.getByText('Entries are kept 90 days.').waitFor();
  assert(await viewer.getByRole('button', { name: 'Save retention' }).count() === 0, 'no retention form');
  await expectClean(viewer);

  log('on a phone');
  const phone = await newPage(browser, { width: 390, height: 844 });
  await signIn(phone, EMAIL, PASSWORD);
  await phone.goto('/#/audit');
  await phone.locator('tr[data-entry]').first().waitFor();
  await expectFitsWidth(phone);
  await shot(phone, '03-phone');
  await expectClean(phone);
});
