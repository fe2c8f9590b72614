// The Admins page as a system-admin uses it: add an operator (its one-time password
// shown once), make it a system-admin, disable it, reset its password, remove it; the
// last system-admin's own demotion is refused with the server's reason. Then a phone.

import { log, scenario, newPage, shot, expectClean, expectLabels, expectFitsWidth, assert, signIn } from './lib.mjs';

const EMAIL = process.env.ADC_ADMIN_EMAIL;
const PASSWORD = process.env.ADC_ADMIN_PASSWORD;

await scenario(async (browser) => {
  const page = await newPage(browser);
  await signIn(page, EMAIL, PASSWORD);
  await page.getByRole('link', { name: 'Admins', exact: true }).click();
  await page.getByRole('heading', { name: 'Admins', level: 1 }).waitFor();
  const row = (email) => page.locator(`tr[data-admin="${email}"]`);
  await row(EMAIL).waitFor();
  await expectLabels(page);

  log('add an operator: its one-time password is shown once');
  await page.getByLabel('E-mail').fill('ops@example.com');
  await page.getByLabel('Role', { exact: true }).selectOption('operator');
  await page.getByRole('button', { name: 'Add admin' }).click();
  const shown = page.getByRole('dialog', { name: 'ops@example.com added' });
  await shown.getByText('shown only this once').waitFor();
  await shot(page, '01-added');
  await shown.getByRole('button', { name: /close|done|copied/i }).first().click();
  await row('ops@example.com').getByText('must set a password').waitFor();

  log('the last system-admin cannot demote itself: the server says why');
  await row(EMAIL).getByLabel(`Role of ${EMAIL}`).selectOption('viewer');
  await page.getByText('last enabled system-admin').first().waitFor();
  assert(await row(EMAIL).getByLabel(`Role of ${EMAIL}`).inputValue() === 'system-admin', 'the role stays');

  log('promote, disable, reset, remove');
  await row('ops@example.com').getByLabel('Role of ops@example.com').selectOption('system-admin');
  await page.getByText('ops@example.com is now system-admin.').waitFor();
  await row('ops@example.com').getByRole('button', { name: 'Disable' }).click();
  await row('ops@example.com').getByText('disabled').waitFor();
  await row('ops@example.com').getByRole('button', { name: 'Reset password' }).click();
  await page.getByRole('dialog', { name: 'Reset the password of ops@example.com?' }).getByRole('button', { name: 'Reset password' }).click();
  const reset = page.getByRole('dialog', { name: 'New password for ops@example.com' });
  await reset.getByText('shown only this once').waitFor();
  await reset.getByRole('button', { name: /close|done|copied/i }).first().click();
  await shot(page, '02-managed');
  await row('ops@example.com').getByRole('button', { name: 'Remove' }).click();
  await page.getByRole('dialog', { name: 'Remove ops@example.com?' }).getByRole('button', { name: 'Remove' }).click();
  await page.getByText('ops@example.com was removed.').waitFor();
  assert(await row('ops@example.com').count() === 0, 'gone from the list');
  await expectClean(page, ['409', '403']);

  log('your own password, from your name in the top bar');
  await page.getByRole('link', { name: EMAIL }).click();
  await page.getByRole('heading', { name: 'Your account', level: 1 }).waitFor();
  await expectLabels(page);
  await page.getByLabel('Current password').fill('not-my-password');
  await page.getByLabel('New password', { exact: true }).fill('a-brand-new-password');
  await page.getByLabel('New password again').fill('a-brand-new-password');
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByText('the current password is wrong').waitFor();
  await page.getByLabel('Current password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByText('Password changed.').waitFor();
  await shot(page, '03-account');

  log('on a phone');
  const phone = await newPage(browser, { width: 390, height: 844 });
  await signIn(phone, EMAIL, 'a-brand-new-password');
  await phone.goto('/#/admins');
  await phone.getByRole('heading', { name: 'Admins', level: 1 }).waitFor();
  await expectFitsWidth(phone);
  await shot(phone, '04-phone');
});
