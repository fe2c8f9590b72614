// Run history at a glance: a full-width table with every column and the failed run's
// reason in words, a chart with a time axis and a log scale that marks failed, held and dry
// runs and explains each mark.

import { log, scenario, newPage, shot, expectClean, expectFitsWidth, assert, signIn } from './lib.mjs';

const SYNC = process.env.ADC_SYNC_ID;
// The failed run's reason as the page says it first.
const REASON = 'The agent could not reach the directory.';

/** The drawn height of a run's bar (its coloured parts). The chart is drawn anew when a
 * run changes (live events): a bar measured as it is replaced reads 0, and every drawn bar
 * is at least 2 px, so it is measured until it is drawn. */
async function barHeight(page, runId) {
  for (let tries = 0; ; tries += 1) {
    const h = await page.locator(`svg.chart g.bar[data-run="${runId}"]`).evaluate((g) => {
      const parts = [...g.querySelectorAll('rect.seg, rect.none')].map((r) => r.getBBox());
      return Math.max(...parts.map((b) => b.y + b.height)) - Math.min(...parts.map((b) => b.y));
    });
    if (h > 0 || tries >= 50) return h;
    await page.waitForTimeout(100);
  }
}

await scenario(async (browser) => {
  const page = await newPage(browser);
  await signIn(page, process.env.ADC_ADMIN_EMAIL, process.env.ADC_ADMIN_PASSWORD);
  await page.goto(`/#/syncs/${SYNC}`);
  const history = page.getByRole('region', { name: 'Run history' });
  await history.locator('tr[data-run]').nth(4).waitFor();

  log('the table: every column, the reason in the failed run’s row');
  const failedRow = history.locator('tr[data-run]').first();
  await failedRow.getByText('Failed').waitFor();
  await failedRow.getByText(REASON).waitFor();
  await history.locator('tr[data-run]').nth(1).getByText('Held: 2 deletions in one run — the guard allows 1').waitFor();
  const clipped = await history.locator('.table-wrap').evaluate((w) => w.scrollWidth > w.clientWidth + 1);
  assert(!clipped, 'no column of the run table is cut off at 1280 px');
  for (const col of ['Started', 'Status', 'Created', 'Updated', 'Deleted', 'Disabled', 'Conflicts', 'Errors', 'Duration', 'Reason']) {
    assert(await history.getByRole('columnheader', { name: col, exact: true }).isVisible(), `the ${col} column shows`);
  }

  log('the chart: time axis, log scale, marks explained');
  const ids = await history.locator('tr[data-run]').evaluateAll((rows) => rows.map((r) => r.dataset.run));
  const [failedId, heldId, dryId, smallId, bigId] = ids;
  assert(await page.locator('svg.chart text.time').count() >= 2, 'times under the bars');
  const big = await barHeight(page, bigId);
  const small = await barHeight(page, smallId);
  assert(small >= big * 0.15, `a run of 3 changes is visible beside one of 2 000 (${small} vs ${big} px)`);
  assert(await page.locator(`svg.chart g.bar[data-run="${failedId}"] .failure-mark`).count() === 1, 'the failed run is marked ✕');
  assert(await page.locator(`svg.chart g.bar[data-run="${heldId}"] .held-mark`).count() === 1, 'the held run is marked !');
  assert(await page.locator(`svg.chart g.bar.dry[data-run="${dryId}"]`).count() === 1, 'the dry run is drawn as one');
  const failedBar = await barHeight(page, failedId);
  assert(failedBar <= big * 0.25, `a failed run does not dominate the chart (${failedBar} vs ${big} px)`);
  const legend = history.locator('.legend');
  for (const text of ['Created', 'Updated', 'Deleted', 'Disabled', 'Conflicts', 'Dry run', 'Failed run', 'Held', 'No change', 'log scale']) {
    await legend.getByText(text).first().waitFor();
  }
  await history.screenshot({ path: `${process.env.ADC_ARTIFACTS}/history-panel.png` });
  await shot(page, 'synchronization-history');

  log('an update says what it changed');
  await history.locator(`tr[data-run="${smallId}"]`).getByRole('link').first().click();
  const change = page.locator('tr[data-subject=user]').filter({ hasText: 'user00000@example.com' });
  await change.getByRole('list', { name: 'What changed for user00000@example.com' }).getByText('display name: Given0 Surname0 → Renamed').waitFor();
  await shot(page, 'run-with-updates');
  await page.goBack();
  await history.locator('tr[data-run]').nth(4).waitFor();

  log('the failed run: the reason in words first, what to check, the detail below');
  await failedRow.getByRole('link').first().click();
  const alert = page.getByRole('alert');
  await alert.getByText(REASON).waitFor();
  await alert.getByText('Check: addr in adc.yaml').waitFor();
  assert(!(await alert.getByText(process.env.ADC_FAILED_REASON).isVisible()), 'the raw detail waits behind Details');
  await alert.getByText('Details as reported').click();
  await alert.getByText(process.env.ADC_FAILED_REASON).waitFor();
  await shot(page, 'failed-run');

  log('on a phone');
  const phone = await newPage(browser, { width: 390, height: 844 });
  await signIn(phone, process.env.ADC_ADMIN_EMAIL, process.env.ADC_ADMIN_PASSWORD);
  await phone.goto(`/#/syncs/${SYNC}`);
  await phone.getByRole('region', { name: 'Run history' }).locator('tr[data-run]').nth(4).waitFor();
  await expectFitsWidth(phone);
  await phone.getByRole('region', { name: 'Run history' }).screenshot({ path: `${process.env.ADC_ARTIFACTS}/phone-history-panel.png` });
  await shot(phone, 'phone-synchronization-history');
  expectClean(page);
  expectClean(phone);
});
