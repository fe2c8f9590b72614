// Cancelling a run from its page, against the server, agent and slapd the Rust test
// started: the run is stuck on a directory that stopped answering; the admin opens it,
// cancels, and reads what the run kept. Then the same page on a phone.

import { BASE, log, scenario, newPage, shot, expectClean, expectLabels, expectFitsWidth, assert, signIn } from './lib.mjs';

const EMAIL = process.env.ADC_ADMIN_EMAIL;
const PASSWORD = process.env.ADC_ADMIN_PASSWORD;
const RUN = process.env.ADC_RUN;

await scenario(async (browser) => {
  const page = await newPage(browser);
  await signIn(page, EMAIL, PASSWORD);

  log('a running run offers Cancel run');
  await page.goto(`${BASE}/#/runs/${RUN}`);
  await page.getByRole('heading', { name: /^Run of / }).waitFor();
  await page.locator('.run-status').getByText('running').waitFor();
  const cancel = page.getByRole('button', { name: 'Cancel run' });
  await cancel.waitFor();
  await expectLabels(page);
  await shot(page, '01-running');

  log('the dialog says what happens; keeping it running changes nothing');
  await cancel.click();
  const dialog = page.getByRole('dialog', { name: 'Cancel this run?' });
  await dialog.getByText('nothing is deleted').waitFor();
  await shot(page, '02-confirm');
  await dialog.getByRole('button', { name: 'Keep it running' }).click();
  await page.locator('.run-status').getByText('running').waitFor();

  log('cancelled: the status says by whom, the button is gone');
  await cancel.click();
  await page.getByRole('dialog', { name: 'Cancel this run?' }).getByRole('button', { name: 'Cancel the run' }).click();
  await page.locator('.run-status').getByText('cancelled').first().waitFor();
  await page.locator('.run-status').getByText(/cancelled by /).waitFor();
  assert(await page.getByRole('button', { name: 'Cancel run' }).count() === 0, 'no Cancel on a cancelled run');
  await shot(page, '03-cancelled');
  await expectClean(page);

  log('on a phone');
  const phone = await newPage(browser, { width: 390, height: 844 });
  await signIn(phone, EMAIL, PASSWORD);
  await phone.goto(`${BASE}/#/runs/${RUN}`);
  await phone.locator('.run-status').getByText(/cancelled by /).waitFor();
  await expectFitsWidth(phone);
  await shot(phone, '04-phone');
});
