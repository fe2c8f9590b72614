// Groups in a real browser, against the server, agent and slapd the Rust test started
// (a directory with devs, ops and everyone = devs + ops + a member outside the scope,
// synced once): find a group, see its members direct and effective, a user's groups,
// make a manual group and fill it, read the run's group counts; then on a phone.

import { log, scenario, newPage, shot, expectClean, expectLabels, expectFitsWidth, assert, signIn } from './lib.mjs';

const EMAIL = process.env.ADC_ADMIN_EMAIL;
const PASSWORD = process.env.ADC_ADMIN_PASSWORD;
const RUN = process.env.ADC_RUN;

await scenario(async (browser) => {
  const page = await newPage(browser);
  await signIn(page, EMAIL, PASSWORD);

  log('the groups, with their member counts');
  await page.getByRole('link', { name: 'Groups', exact: true }).click();
  await page.getByRole('heading', { name: 'Groups', level: 1 }).waitFor();
  const row = (name) => page.getByRole('row').filter({ has: page.getByRole('link', { name, exact: true }) });
  await row('everyone').waitFor();
  assert((await row('devs').getByRole('cell').nth(1).textContent()) === '3', 'devs has 3 members');
  assert((await row('everyone').getByRole('cell').nth(1).textContent()) === '2', 'everyone has 2 direct members (the one outside the scope is not one)');
  await expectLabels(page);
  await shot(page, '01-groups');
  await page.getByText('3 groups match').waitFor();
  await page.getByLabel('Search').fill('dev');
  await page.getByText('1 group shown').waitFor();
  await page.getByText('1 group matches').waitFor();
  assert(await row('ops').count() === 0, 'the search leaves ops out');
  await page.getByLabel('Search').fill('');
  await row('ops').waitFor();

  log('a group: direct members, then effective ones through nesting');
  await page.getByRole('link', { name: 'everyone', exact: true }).click();
  await page.getByRole('heading', { name: 'everyone', level: 1 }).waitFor();
  const members = page.getByRole('region', { name: 'Members' });
  await members.getByRole('link', { name: 'devs', exact: true }).waitFor();
  assert(await members.getByRole('link', { name: 'user00000@example.com' }).count() === 0, 'direct: no user');
  await members.getByLabel('Show').selectOption('effective');
  await members.getByRole('link', { name: 'user00003@example.com' }).waitFor();
  assert(await members.getByRole('link', { name: /^user0000[0-3]@example.com$/ }).count() === 4, 'the four users of devs and ops');
  await page.getByText('read-only: its directory decides').waitFor();
  // The run that made it, and its members, is listed with the group.
  await page.getByRole('heading', { name: 'Runs that touched it (1)' }).waitFor();
  assert(await page.getByRole('button', { name: 'Delete group' }).count() === 0, 'a synced group cannot be deleted by hand');
  await expectLabels(page);
  await shot(page, '02-group-effective-members');

  log('a user: the groups it is in, direct or through a nested group');
  await members.getByRole('link', { name: 'user00001@example.com' }).click();
  await page.getByRole('heading', { name: 'user00001@example.com', level: 1 }).waitFor();
  const groups = page.getByRole('region', { name: /^Groups/ });
  await groups.getByRole('row').filter({ hasText: 'devs' }).getByText('direct member').waitFor();
  await groups.getByRole('row').filter({ hasText: 'everyone' }).getByText('through a nested group').waitFor();
  await shot(page, '03-user-groups');

  log('a manual group, made and filled by hand');
  await page.getByRole('link', { name: 'Groups', exact: true }).click();
  await page.getByRole('button', { name: 'Add group' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Name').fill('club');
  await dialog.getByLabel('Description').fill('Made by hand');
  await expectLabels(page);
  await dialog.getByRole('button', { name: 'Add' }).click();
  await page.getByRole('heading', { name: 'club', level: 1 }).waitFor();
  await page.getByLabel('Add a member').fill('user00005@example.com');
  await page.getByRole('button', { name: 'Add member' }).click();
  await members.getByRole('link', { name: 'user00005@example.com' }).waitFor();
  await page.getByLabel('Add a member').fill('devs');
  await page.getByRole('button', { name: 'Add member' }).click();
  await members.getByRole('link', { name: 'devs', exact: true }).waitFor();
  await page.getByLabel('Add a member').fill('nobody-here');
  await page.getByRole('button', { name: 'Add member' }).click();
  await page.getByText('No user or group is named nobody-here.').waitFor();
  await expectLabels(page);
  await shot(page, '04-manual-group');

  log('the run: group counts and the membership changes');
  await page.goto(`/#/runs/${RUN}`);
  await page.getByRole('heading', { name: 'Groups and members' }).waitFor();
  const count = async (k) => page.locator(`[data-count="${k}"] b`).textContent();
  assert(await count('groups_created') === '3', 'three groups created');
  assert(await count('members_added') === '6', 'six memberships');
  assert(await count('members_unresolved') === '1', 'the member outside the scope');
  const changes = page.getByRole('region', { name: 'Changes' });
  await changes.getByLabel('About').selectOption('membership');
  await changes.getByLabel('Outcome').selectOption('unresolved');
  await changes.getByRole('cell', { name: /uid=ghost/ }).waitFor();
  await expectLabels(page);
  await shot(page, '05-run-with-groups');

  log('a synced group detached: manual from now on, Detach says what it does');
  await page.goto('/#/groups');
  await page.getByRole('link', { name: 'ops', exact: true }).click();
  await page.getByRole('heading', { name: 'ops', level: 1 }).waitFor();
  const actions = page.getByRole('region', { name: 'Actions' });
  await actions.getByText(/Detaching makes it a manual group/).waitFor();
  await actions.getByRole('button', { name: 'Detach' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Detach' }).click();
  await page.getByText('ops is now a manual group.').waitFor();
  await page.getByText('(managed here)').waitFor();
  await shot(page, '05b-detached-group');
  expectClean(page);

  log('a phone');
  const phone = await newPage(browser, { width: 390, height: 844 });
  await signIn(phone, EMAIL, PASSWORD);
  await phone.getByRole('link', { name: 'Groups', exact: true }).click();
  await phone.getByRole('link', { name: 'everyone', exact: true }).waitFor();
  await expectFitsWidth(phone);
  await shot(phone, '06-phone-groups');
  await phone.getByRole('link', { name: 'everyone', exact: true }).click();
  await phone.getByRole('heading', { name: 'everyone', level: 1 }).waitFor();
  await expectFitsWidth(phone);
  await shot(phone, '07-phone-group');
  expectClean(phone);
});
