// Every page at 1280×800 and at 390×844: a screenshot of each (axe-core checks each
// one), and on the phone nothing off-screen and nothing wider than the window.

import { log, scenario, newPage, shot, expectClean, expectFitsWidth, expectNothingOffScreen, expectLabels, signIn } from './lib.mjs';

const SYNC = process.env.ADC_SYNC_ID;
const RUN = process.env.ADC_RUN;
const HELD = process.env.ADC_HELD_RUN;

/** An ID the page's own API gives, read from inside the page. */
async function firstId(page, path, key) {
  return page.evaluate(async ([p, k]) => (await (await fetch(`/api/v1${p}`)).json())[k][0].id, [path, key]);
}

await scenario(async (browser) => {
  for (const [size, viewport] of [['desktop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
    log(`every page on a ${size}`);
    const page = await newPage(browser, viewport);
    await signIn(page, process.env.ADC_ADMIN_EMAIL, process.env.ADC_ADMIN_PASSWORD);
    const user = await firstId(page, '/users?q=user00001', 'users');
    const group = await firstId(page, '/groups?q=devs', 'groups');
    const pages = [
      ['synchronizations', '/#/', 'Synchronizations'],
      ['synchronization', `/#/syncs/${SYNC}`, 'corp'],
      ['run', `/#/runs/${RUN}`, /^Run of/],
      ['run-held', `/#/runs/${HELD}`, /^Run of/],
      ['users', '/#/users', 'Users'],
      ['user', `/#/users/${user}`, 'user00001@example.com'],
      ['groups', '/#/groups', 'Groups'],
      ['group', `/#/groups/${group}`, 'devs'],
      ['downloads', '/#/downloads', 'Download the agent'],
      ['tokens', '/#/tokens', 'API tokens'],
      ['admins', '/#/admins', 'Admins'],
      ['notifications', '/#/notifications', 'Notifications'],
      ['audit', '/#/audit', 'Audit log'],
      ['account', '/#/account', 'Your account'],
    ];
    for (const [name, url, heading] of pages) {
      await page.goto(url);
      await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
      // Tables fill in after the heading.
      await page.waitForLoadState('networkidle');
      await expectLabels(page);
      if (size === 'phone') {
        await expectFitsWidth(page);
        await expectNothingOffScreen(page);
      }
      await shot(page, `${size}-${name}`);
    }
    expectClean(page);
  }
});
