// A system-admin sets up notifications: adds a webhook (its signing key shown once and
// handed to the receiver), sends a test and sees it delivered after a refusal, pauses
// and removes an endpoint, sets the thresholds; a bad URL gets the server's reason.
// Then a phone.

import { log, ask, scenario, newPage, shot, expectClean, expectLabels, expectFitsWidth, assert, signIn } from './lib.mjs';

const EMAIL = process.env.ADC_ADMIN_EMAIL;
const PASSWORD = process.env.ADC_ADMIN_PASSWORD;
const HOOK = process.env.ADC_HOOK_URL;

await scenario(async (browser) => {
  const page = await newPage(browser);
  await signIn(page, EMAIL, PASSWORD);
  await page.getByRole('link', { name: 'Notifications', exact: true }).click();
  await page.getByRole('heading', { name: 'Notifications', level: 1 }).waitFor();
  await page.getByText('No endpoint yet').waitFor();
  await page.getByText('ADC_SMTP_HOST').waitFor();
  await expectLabels(page);

  log('a URL the server refuses says why');
  await page.getByLabel('URL').fill('ftp://files.example.com/x');
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  await page.getByRole('alert').getByText('starts with https://').waitFor();

  log('a webhook is added; its key is shown once and given to the receiver');
  await page.getByLabel('URL').fill(HOOK);
  assert(!(await page.getByLabel('A run succeeded').isChecked()), 'run.succeeded is off by default');
  await page.getByLabel('A run succeeded').check();
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByText('shown only this once').waitFor();
  const key = await dialog.getByRole('textbox', { name: 'Signing key' }).inputValue();
  assert(key.length >= 40, 'a long key');
  await shot(page, '01-key-once');
  await ask({ ask: 'webhook_key', key });
  await dialog.getByRole('button', { name: /close/i }).click();
  const row = page.locator(`tr[data-endpoint="${HOOK}"]`);
  await row.getByText('A run succeeded').waitFor();

  log('a test notification is delivered after the receiver refused it once');
  await row.getByRole('button', { name: 'Send test' }).click();
  const delivered = page.locator('tr[data-event="test"]').first();
  await delivered.getByText('delivered').waitFor({ timeout: 30000 });
  await delivered.getByText('2 attempts').waitFor();
  const got = await ask({ ask: 'received' });
  assert(got.events.includes('test'), `the receiver got the test: ${JSON.stringify(got)}`);
  await shot(page, '02-delivered');

  log('pause, thresholds');
  await row.getByRole('button', { name: 'Pause' }).click();
  await row.getByText('Paused').waitFor();
  await page.getByLabel('Agent offline after (minutes)').fill('30');
  await page.getByLabel('Stale after (schedule intervals)').fill('3');
  await page.getByRole('button', { name: 'Save thresholds' }).click();
  await page.getByText('Offline after 30 min; stale after 3 intervals.').waitFor();

  log('on a phone');
  const phone = await newPage(browser, { width: 390, height: 844 });
  await signIn(phone, EMAIL, PASSWORD);
  await phone.goto('/#/notifications');
  await phone.getByRole('heading', { name: 'Delivery log' }).waitFor();
  await phone.locator('tr[data-event="test"]').first().waitFor();
  await expectFitsWidth(phone);
  await shot(phone, '03-phone');
  await expectClean(phone);

  log('remove: its log goes with it');
  await row.getByRole('button', { name: 'Remove' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
  await page.getByText('No endpoint yet').waitFor();
  await expectClean(page, ['422']);
});
