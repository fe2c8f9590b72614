// An admin added with a one-time password signs in: the page asks for its own password
// before anything else, refuses a short or mismatched one, then opens the app.

import { log, scenario, newPage, shot, expectClean, expectLabels, assert } from './lib.mjs';
import { BASE } from './lib.mjs';

const EMAIL = process.env.ADC_NEW_EMAIL;
const ONE_TIME = process.env.ADC_ONE_TIME_PASSWORD;

await scenario(async (browser) => {
  const page = await newPage(browser);
  await page.goto(`${BASE}/`);
  await page.getByLabel('E-mail').fill(EMAIL);
  await page.getByLabel('Password').fill(ONE_TIME);
  await page.getByRole('button', { name: 'Sign in' }).click();

  log('a one-time password leads to setting one\'s own');
  await page.getByRole('heading', { name: 'Set your password' }).waitFor();
  await expectLabels(page);
  await page.getByLabel('New password', { exact: true }).fill('short');
  await page.getByLabel('New password again').fill('short');
  await page.getByRole('button', { name: 'Set password' }).click();
  await page.getByText('at least 12 characters').first().waitFor();
  await page.getByLabel('New password', { exact: true }).fill('my-own-password-2026');
  await page.getByLabel('New password again').fill('my-own-password-2027');
  await page.getByRole('button', { name: 'Set password' }).click();
  await page.getByText('The two passwords differ.').waitFor();
  await shot(page, '01-set-password');
  await page.getByLabel('New password again').fill('my-own-password-2026');
  await page.getByRole('button', { name: 'Set password' }).click();

  log('then the app opens');
  await page.getByRole('heading', { name: 'Synchronizations', level: 1 }).waitFor();
  assert(await page.getByRole('heading', { name: 'Set your password' }).count() === 0, 'the form is gone');
  await shot(page, '02-signed-in');
  await expectClean(page);
});
