// A running run, alive: waiting for the agent, then the manifest sent and the read
// under way with a progress bar and an estimate, Cancel at the top.

import { log, scenario, newPage, shot, expectClean, expectFitsWidth, ask, assert, signIn } from './lib.mjs';

const RUN = process.env.ADC_RUN;

await scenario(async (browser) => {
  const page = await newPage(browser);
  await signIn(page, process.env.ADC_ADMIN_EMAIL, process.env.ADC_ADMIN_PASSWORD);
  await page.goto(`/#/runs/${RUN}`);
  const live = page.getByRole('region', { name: 'Running' });
  log('waiting for the agent');
  await live.getByText('Waiting for the agent…').waitFor();
  const cancel = page.getByRole('button', { name: 'Cancel run' });
  assert((await cancel.boundingBox()).y < 200, 'Cancel is at the top of the run');
  await shot(page, 'run-waiting');

  log('the manifest is sent; the read begins');
  await ask({ ask: 'manifest' });
  await live.getByText('Reading the directory…').waitFor();
  await live.getByText('0 of about 300 users read (0 %)').waitFor();
  await ask({ ask: 'progress', read: 60 });
  await live.getByText('60 entries read so far.').waitFor();
  // Two reports a few seconds apart give the page a speed, and so an estimate.
  await page.waitForTimeout(2500);
  await ask({ ask: 'progress', read: 150 });
  await live.getByText(/150 of about 300 users read \(50 %\) — about .+ left/).waitFor();
  const bar = live.getByRole('progressbar');
  assert(await bar.getAttribute('value') === '150' && await bar.getAttribute('max') === '300', 'the bar stands at 150 of 300');
  assert(await live.locator('[aria-current=step]').textContent() === '▶ Reading the directory', 'the current phase is marked in words');
  await shot(page, 'run-reading');

  log('pushed, not polled: quiet while nothing changes, at once when something does');
  const asked = [];
  page.on('request', (r) => { if (r.url().includes('/api/v1/') && !r.url().endsWith('/api/v1/events')) asked.push(r.url()); });
  await page.waitForTimeout(4000);
  assert(asked.length === 0, `the page asked nothing while nothing changed: ${asked.join(', ')}`);
  await ask({ ask: 'progress', read: 210 });
  await live.getByText(/210 of about 300 users read \(70 %\)/).waitFor();

  const phone = await newPage(browser, { width: 390, height: 844 });
  await signIn(phone, process.env.ADC_ADMIN_EMAIL, process.env.ADC_ADMIN_PASSWORD);
  await phone.goto(`/#/runs/${RUN}`);
  await phone.getByRole('region', { name: 'Running' }).getByText('Reading the directory…').waitFor();
  await expectFitsWidth(phone);
  await shot(phone, 'phone-run-reading');

  log('cancel');
  await cancel.click();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel the run' }).click();
  await page.locator('.run-status').getByText('Cancelled').waitFor();
  assert(await live.count() === 0, 'no progress once the run ended');
  expectClean(page);
  expectClean(phone);
});
