// What every browser scenario shares: Debian's chromium started headless, a line
// protocol to the Rust test that owns the real server, agent and slapd, screenshots,
// and the checks every page must pass (labels, no stray markup, no console errors).

import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export const BASE = process.env.ADC_BASE_URL;
export const ARTIFACTS = process.env.ADC_ARTIFACTS;
mkdirSync(ARTIFACTS, { recursive: true });

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

/** Asks the Rust side to do something with the real parts; resolves to its answer. */
export async function ask(request) {
  process.stdout.write(`@@ ${JSON.stringify(request)}\n`);
  const { value, done } = await lines.next();
  if (done) throw new Error(`no answer to ${request.ask}`);
  const answer = JSON.parse(value);
  if (answer.error) throw new Error(`${request.ask}: ${answer.error}`);
  return answer;
}

export function log(msg) {
  process.stdout.write(`${msg}\n`);
}

// playwright starts chromium on a fresh, empty profile of its own each time.
export async function launch() {
  const browser = await chromium.launch({
    executablePath: process.env.ADC_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const close = () => browser.close();
  return { browser, close };
}

/** A page that fails the test on any script error, CSP report or alert(). */
const pages = [];

export async function newPage(browser, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport, acceptDownloads: true, baseURL: BASE });
  const page = await context.newPage();
  pages.push(page);
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`script error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') page.problems.push(`console: ${m.text()}`); });
  page.on('dialog', (d) => { page.problems.push(`a script opened a ${d.type()}: ${d.message()}`); d.dismiss(); });
  page.setDefaultTimeout(20000);
  return page;
}

// A page loaded before signing in asks /api/v1/me and gets 401: chromium logs it.
export function expectClean(page, expectedErrors = []) {
  const expected = [...expectedErrors, 'status of 401'];
  const left = page.problems.filter((p) => !expected.some((e) => p.includes(e)));
  if (left.length) throw new Error(`problems on the page:\n${left.join('\n')}`);
}

// axe-core, evaluated through the debugging protocol: the page's own policy forbids any
// script it did not serve, and rightly so.
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * axe-core finds no serious or critical violation of WCAG 2.1 A/AA on the page as it is
 * now (every screenshot checks the page it shows, at its size).
 */
export async function expectAccessible(page, name) {
  const violations = await page.evaluate(async (source) => {
    if (!window.axe) (0, eval)(source);
    const result = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
      resultTypes: ['violations'],
    });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.slice(0, 3).map((n) => `${n.target.join(' ')} — ${n.failureSummary.replace(/\s+/g, ' ')}`).join('\n    ')}`);
  }, AXE);
  if (violations.length) throw new Error(`accessibility violations on ${name}:\n${violations.join('\n')}`);
}

export async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  log(`screenshot ${name}.png`);
  await expectAccessible(page, name);
}

/** Every visible control has a label a screen reader announces. */
export async function expectLabels(page) {
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter((el) => el.type !== 'hidden' && el.offsetParent !== null)
    .filter((el) => {
      if (el.tagName === 'BUTTON') return !(el.textContent.trim() || el.getAttribute('aria-label'));
      return el.labels.length === 0 && !el.getAttribute('aria-label') && !el.closest('label');
    })
    .map((el) => el.outerHTML.slice(0, 120)));
  if (unlabelled.length) throw new Error(`controls without a label:\n${unlabelled.join('\n')}`);
}

/** The page fits its width: nothing but tables may scroll sideways. */
export async function expectFitsWidth(page) {
  const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
  if (scroll > width + 1) throw new Error(`the page is ${scroll}px wide in a ${width}px window`);
}

/**
 * No control, link or cell is off-screen to the right: on a phone everything is
 * reachable without scrolling sideways (a command in a code box may scroll in its box).
 */
export async function expectNothingOffScreen(page) {
  const off = await page.evaluate(() => [...document.querySelectorAll('main button, main a, main input, main select, main td, main th, main .badge')]
    .filter((el) => el.offsetParent !== null && !el.closest('pre'))
    // A card table's header row is there for screen readers only, clipped to nothing.
    .filter((el) => { const head = el.closest('thead'); return !head || getComputedStyle(head).position !== 'absolute'; })
    .filter((el) => {
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.right > window.innerWidth + 1;
    })
    .map((el) => `${el.outerHTML.slice(0, 100)} (right edge at ${Math.round(el.getBoundingClientRect().right)}px)`));
  if (off.length) throw new Error(`off-screen in a ${await page.evaluate(() => window.innerWidth)}px window:\n${off.slice(0, 8).join('\n')}`);
}

export function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

export async function signIn(page, email, password) {
  await page.goto('/');
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Synchronizations', level: 1 }).waitFor();
}

/** Runs a scenario: a browser, then `fn`, then a clean exit code. */
export async function scenario(fn) {
  const started = Date.now();
  const { browser, close } = await launch();
  try {
    await fn(browser);
    log(`browser scenario passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (e) {
    process.stderr.write(`${e.stack || e}\n`);
    process.exitCode = 1;
    // What each page showed when it failed, beside the other screenshots.
    for (const [i, p] of pages.entries()) {
      await p.screenshot({ path: join(ARTIFACTS, `failure-${i}.png`), fullPage: true }).catch(() => {});
      process.stderr.write(`page ${i} at ${p.url()}: problems ${JSON.stringify(p.problems)}\n`);
    }
  } finally {
    await close();
    process.stdin.destroy();
  }
}
