// Roles in the page: a viewer sees no button it may not use and the server refuses it
// anyway; an operator starts runs and decides on held deletions, and manages nothing.

import { log, scenario, newPage, shot, expectClean, assert, signIn } from './lib.mjs';

const SYNC = process.env.ADC_SYNC_ID;
const HELD = process.env.ADC_HELD_RUN;

/** A state-changing call from inside the page, as its own code would make it. */
async function tryPost(page, path) {
  return page.evaluate(async (p) => {
    const me = await (await fetch('/api/v1/me')).json();
    const r = await fetch(`/api/v1${p}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrf_token }, body: '{}' });
    return r.status;
  }, path);
}

await scenario(async (browser) => {
  log('viewer');
  const viewer = await newPage(browser);
  // By keyboard only: the e-mail field has the focus, Tab moves on, Enter signs in.
  await viewer.goto('/');
  await viewer.getByLabel('E-mail').waitFor();
  await viewer.keyboard.type(process.env.ADC_VIEWER_EMAIL);
  await viewer.keyboard.press('Tab');
  await viewer.keyboard.type(process.env.ADC_VIEWER_PASSWORD);
  await viewer.keyboard.press('Enter');
  await viewer.getByRole('heading', { name: 'Synchronizations', level: 1 }).waitFor();
  // Tab reaches the navigation; Enter follows a link.
  for (let i = 0; i < 10; i += 1) {
    await viewer.keyboard.press('Tab');
    if (await viewer.evaluate(() => document.activeElement.textContent === 'Users')) break;
  }
  await viewer.keyboard.press('Enter');
  await viewer.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
  await viewer.getByText(/Page 1 · \d+ users shown/).waitFor();
  assert(await viewer.getByRole('button', { name: /^(Disable|Detach|Delete) / }).count() === 0, 'no user actions for a viewer');
  await viewer.goto('/#/');
  await viewer.getByRole('link', { name: 'corp', exact: true }).waitFor();
  assert(await viewer.getByRole('button', { name: 'Add synchronization' }).count() === 0, 'no Add for a viewer');
  assert(await viewer.getByRole('link', { name: 'API tokens' }).count() === 0, 'no API tokens for a viewer');
  await viewer.getByRole('link', { name: 'corp', exact: true }).click();
  await viewer.getByRole('heading', { name: 'Policy' }).waitFor();
  for (const name of ['Sync now', 'Dry run', 'Full resync', 'Rotate secret', 'Delete synchronization', 'Save policy']) {
    assert(await viewer.getByRole('button', { name }).count() === 0, `no ${name} for a viewer`);
  }
  assert(await viewer.getByRole('group', { name: 'no-delete' }).getByLabel('Enforced on').isDisabled(), 'settings are read-only');
  await viewer.getByText('Only a system-admin can change the policy.').waitFor();
  await shot(viewer, 'viewer-synchronization');
  await viewer.goto(`/#/runs/${HELD}`);
  const held = viewer.getByRole('region', { name: /deletions held/ });
  await held.getByText('An operator or system-admin can approve or reject them.').waitFor();
  assert(await held.getByRole('button', { name: /^(Approve|Reject)$/ }).count() === 0, 'no Approve or Reject for a viewer');
  assert(await tryPost(viewer, `/runs/${HELD}/approve`) === 403, 'the server refuses a viewer’s approval');
  assert(await tryPost(viewer, `/synchronizations/${SYNC}/runs`) === 403, 'the server refuses a viewer’s run');
  await viewer.goto('/#/tokens');
  await viewer.getByRole('heading', { name: 'Not found' }).waitFor();
  expectClean(viewer, ['403']);

  log('operator');
  const op = await newPage(browser);
  await signIn(op, process.env.ADC_OPERATOR_EMAIL, process.env.ADC_OPERATOR_PASSWORD);
  assert(await op.getByRole('button', { name: 'Add synchronization' }).count() === 0, 'no Add for an operator');
  await op.getByRole('link', { name: 'corp', exact: true }).click();
  await op.getByRole('button', { name: 'Sync now' }).waitFor();
  for (const name of ['Rotate secret', 'Delete synchronization', 'Save policy']) {
    assert(await op.getByRole('button', { name }).count() === 0, `no ${name} for an operator`);
  }
  await op.goto(`/#/runs/${HELD}`);
  const panel = op.getByRole('region', { name: /deletions held/ });
  await panel.getByRole('cell', { name: 'user00001@example.com' }).waitFor();
  await shot(op, 'operator-held-run');
  await panel.getByRole('button', { name: 'Reject' }).click();
  await op.getByRole('dialog').getByRole('button', { name: 'Reject' }).click();
  await op.getByText('deletions rejected by operator@example.com').waitFor();
  expectClean(op);
});
