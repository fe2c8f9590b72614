// Held deletions as a call to act: the banner on the list and on the synchronization,
// Review to the run, the reason beside Approve and Reject, the held list searched and
// paged; then approved, and the banner is gone.

import { log, scenario, newPage, shot, expectClean, expectFitsWidth, assert, signIn } from './lib.mjs';

const RUN = process.env.ADC_HELD_RUN;
const REASON = '150 of 300 users, 50 % — the guard allows 20 %';

/**
 * Presses Tab until the focused element is the one `is` accepts (at most 60 times), and
 * checks that the focus shows: an outline or the focus ring's shadow.
 */
async function tabTo(page, is) {
  // A string is evaluated through the debugging protocol: the page's policy forbids eval.
  const test = `!!(${is.toString()})(document.activeElement)`;
  for (let i = 0; i < 60; i += 1) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(test)) {
      const shown = await page.evaluate(() => {
        const st = getComputedStyle(document.activeElement);
        return (st.outlineStyle !== 'none' && st.outlineWidth !== '0px') || st.boxShadow !== 'none';
      });
      assert(shown, 'the focused control shows its focus');
      return;
    }
  }
  const at = await page.evaluate(() => document.activeElement.outerHTML.slice(0, 120));
  throw new Error(`Tab never reached ${is}; the focus is on ${at}`);
}

await scenario(async (browser) => {
  const phone = await newPage(browser, { width: 390, height: 844 });
  await signIn(phone, process.env.ADC_ADMIN_EMAIL, process.env.ADC_ADMIN_PASSWORD);
  await phone.getByRole('region', { name: 'corp: held deletions' }).getByText(REASON).waitFor();
  await expectFitsWidth(phone);
  await shot(phone, 'phone-list-with-held-banner');

  log('the list');
  const page = await newPage(browser);
  await signIn(page, process.env.ADC_ADMIN_EMAIL, process.env.ADC_ADMIN_PASSWORD);
  const banner = page.getByRole('region', { name: 'corp: held deletions' });
  await banner.getByText('corp: 150 deletions wait for a decision').waitFor();
  await banner.getByText(REASON).waitFor();
  await shot(page, 'list-with-held-banner');

  log('the synchronization');
  await page.getByRole('link', { name: 'corp', exact: true }).click();
  const syncBanner = page.getByRole('region', { name: 'Held deletions' });
  await syncBanner.getByText(REASON).waitFor();
  // Above the fold: the banner is seen without scrolling.
  const box = await syncBanner.boundingBox();
  assert(box.y + box.height < 800, `the banner is on the first screen (at ${box.y}px)`);
  await shot(page, 'synchronization-with-held-banner');

  log('review');
  await syncBanner.getByRole('link', { name: 'Review the held deletions' }).click();
  await page.waitForURL(`**/#/runs/${RUN}`);
  const panel = page.getByRole('region', { name: /150 deletions held/ });
  await panel.getByText(REASON).waitFor();
  const approve = panel.getByRole('button', { name: 'Approve' });
  const at = await approve.boundingBox();
  assert(at.y < 400, `Approve is at the top of the run (at ${at.y}px)`);
  await panel.getByText('100 of 150 shown').waitFor();
  await panel.getByRole('button', { name: 'Show more' }).click();
  await panel.getByText('150 of 150 shown').waitFor();
  assert(await panel.getByRole('button', { name: 'Show more' }).isHidden(), 'no more to show');
  await panel.getByLabel('Search the held deletions').fill('user00007@');
  await panel.getByText('1 shown').waitFor();
  await panel.getByRole('cell', { name: 'user00007@example.com' }).waitFor();
  await shot(page, 'held-run-searched');
  await panel.getByLabel('Search the held deletions').fill('user00200');
  await panel.getByText('Nothing matches the search.').waitFor();

  log('on a phone');
  await phone.goto(`/#/runs/${RUN}`);
  await phone.getByRole('region', { name: /150 deletions held/ }).getByText(REASON).waitFor();
  await expectFitsWidth(phone);
  await shot(phone, 'phone-held-run');

  log('approve, by keyboard alone: Review from the list, Approve, confirm');
  await page.goto('/#/');
  await page.getByRole('region', { name: 'corp: held deletions' }).waitFor();
  await tabTo(page, (el) => el.getAttribute('aria-label') === 'Review the held deletions of corp');
  await page.keyboard.press('Enter');
  await page.waitForURL(`**/#/runs/${RUN}`);
  await panel.getByText(REASON).waitFor();
  await tabTo(page, (el) => el.tagName === 'BUTTON' && el.textContent === 'Approve');
  await shot(page, 'keyboard-focus-on-approve');
  await page.keyboard.press('Enter');
  const confirm = page.getByRole('dialog');
  await confirm.getByText('Exactly the 150 deletions listed').waitFor();
  await page.keyboard.press('Escape');
  await confirm.waitFor({ state: 'detached' });
  assert(await approve.isVisible(), 'Escape closes the dialog and decides nothing');
  assert(await page.evaluate(() => document.activeElement.textContent) === 'Approve', 'the focus is back on Approve');
  await page.keyboard.press('Enter');
  await tabTo(page, (el) => el.closest('dialog') && el.textContent === 'Approve');
  await page.keyboard.press('Enter');
  await page.getByText('Approved: the held deletions were applied.').waitFor();
  await page.getByText(/deletions approved by/).waitFor();
  await page.goto('/#/');
  await page.getByRole('link', { name: 'corp', exact: true }).waitFor();
  assert(await page.getByRole('region', { name: 'corp: held deletions' }).count() === 0, 'no banner once decided');
  expectClean(page);
  expectClean(phone);
});
