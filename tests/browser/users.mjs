// Users: how many match, one user's every field, extra attributes, provider, groups
// and the runs that touched it, Detach explained; a manual user added by hand.

import { log, scenario, newPage, shot, expectClean, expectFitsWidth, expectNothingOffScreen, assert, signIn } from './lib.mjs';

const USER = process.env.ADC_USER;

await scenario(async (browser) => {
  const page = await newPage(browser);
  await signIn(page, process.env.ADC_ADMIN_EMAIL, process.env.ADC_ADMIN_PASSWORD);
  log('the list counts what matches');
  await page.goto('/#/users');
  await page.getByText('15 users match').waitFor();
  await page.getByLabel('Search').fill('user0000');
  await page.getByText('10 users match').waitFor();
  await shot(page, 'users-searched');
  await page.getByLabel('Search').fill('nat');
  await page.getByText('3 users match').waitFor();
  const names = await page.locator('tr[data-user] a.username').allTextContents();
  assert(names.join(' ') === 'nat1 nat2 nat10', `natural order: ${names.join(' ')}`);

  log('one user, all of it');
  await page.goto(`/#/users/${USER}`);
  const about = page.getByRole('region', { name: 'About' });
  await about.getByText('Third Person').first().waitFor();
  for (const text of ['user00003@example.com', 'uid=user00003,ou=people,dc=example,dc=com', 'corp']) {
    await about.getByText(text).first().waitFor();
  }
  assert(await about.getByRole('link', { name: 'corp' }).getAttribute('href') !== null, 'the provider links to its synchronization');
  const extra = page.getByRole('region', { name: /Extra attributes/ });
  await extra.locator('tr[data-attribute=employee_type]').getByText('contractor').waitFor();
  const runs = page.getByRole('region', { name: /Runs that touched it/ });
  await runs.getByRole('heading', { name: 'Runs that touched it (2)' }).waitFor();
  const actions = page.getByRole('region', { name: 'Actions' });
  await actions.getByText(/Detaching makes it a manual user/).waitFor();
  await shot(page, 'user');
  await runs.getByRole('link').first().click();
  await page.getByRole('heading', { name: /^Run of/ }).waitFor();
  await page.locator('tr[data-subject=user]').getByText('display name: Given3 Surname3 → Third Person').waitFor();

  log('on a phone');
  const phone = await newPage(browser, { width: 390, height: 844 });
  await signIn(phone, process.env.ADC_ADMIN_EMAIL, process.env.ADC_ADMIN_PASSWORD);
  await phone.goto(`/#/users/${USER}`);
  await phone.getByRole('region', { name: /Extra attributes/ }).getByText('contractor').waitFor();
  await expectFitsWidth(phone);
  await expectNothingOffScreen(phone);
  await shot(phone, 'phone-user');

  log('a manual user, added by hand');
  await page.goto('/#/users');
  await page.getByRole('button', { name: 'Add user' }).click();
  const dialog = page.getByRole('dialog', { name: 'Add a user' });
  await dialog.getByLabel('Username').fill('pat@example.com');
  await dialog.getByLabel('Display name').fill('Pat Manual');
  await shot(page, 'add-user');
  await dialog.getByRole('button', { name: 'Add user' }).click();
  await page.getByRole('heading', { name: 'pat@example.com', level: 1 }).waitFor();
  await page.getByRole('region', { name: 'About' }).getByText('manual (made by hand or detached)').waitFor();
  await page.goto('/#/users');
  await page.getByText('16 users match').waitFor();
  // The same username again is refused with the server's reason, in the dialog.
  await page.getByRole('button', { name: 'Add user' }).click();
  await dialog.getByLabel('Username').fill('PAT@example.com');
  await dialog.getByRole('button', { name: 'Add user' }).click();
  await dialog.getByRole('alert').waitFor();
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  expectClean(page, ['409']);
  expectClean(phone);
});
