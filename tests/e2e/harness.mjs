// Shared pieces of the end-to-end tests: the real cloud-otp server (started here on a free
// loopback port with a temporary data directory and the demo institution), Debian's Chromium
// driven by playwright-core, desktop and mobile contexts, and the checks every screen gets:
// axe-core, Content-Security-Policy violations, and a screenshot under target/screenshots/.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const bin = resolve(root, process.env.CLOUD_OTP_BIN || 'target/debug/cloud-otp');
const dist = resolve(root, process.env.CLOUD_OTP_DIST || 'dist');
export const shots = resolve(root, process.env.CLOUD_OTP_SCREENSHOTS || 'target/screenshots');
const axeSource = readFileSync(join(root, 'tests/e2e/node_modules/axe-core/axe.min.js'), 'utf8');

/** The web app's size budget (issue 7): every built file compressed with gzip -9, under 60 KiB. */
export const sizeBudget = 60 * 1024;

/**
 * The built app's files compressed with gzip -9, in bytes: `{ total, files: { name: bytes } }`.
 * The build's .gz copies (what the server sends to browsers that accept gzip) are the same
 * files compressed: measured once, through their originals.
 */
export function appSize() {
  const files = {};
  let total = 0;
  for (const name of readdirSync(dist).filter((n) => !n.endsWith('.gz')).sort()) {
    const gz = gzipSync(readFileSync(join(dist, name)), { level: 9 }).length;
    files[name] = gz;
    total += gz;
  }
  return { total, files };
}

/** The two viewports every screen is checked in. */
export const viewports = {
  desktop: { viewport: { width: 1280, height: 900 } },
  mobile: {
    viewport: { width: 360, height: 740 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    userAgent:
      'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) ' +
      'Chrome/156.0.0.0 Mobile Safari/537.36',
  },
};

/** The label the server keeps for a browser registered in each viewport. */
export const labels = { desktop: 'Chrome on Linux', mobile: 'Chrome on Android' };

/** Starts `cloud-otp serve --demo` and resolves when it prints its URL. */
export async function startServer() {
  const data = mkdtempSync(join(tmpdir(), 'cloud-otp-e2e-'));
  const child = spawn(
    bin,
    ['serve', '--demo', '--dist', dist, '--listen', '127.0.0.1:0', '--rate-limit', '0'],
    { env: { ...process.env, CLOUD_OTP_DATA_DIR: data, RUST_LOG: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stderr.on('data', (chunk) => { log += chunk; });
  const url = await new Promise((done, fail) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const line = out.split('\n').find((l) => l.startsWith('http'));
      if (line) done(line.trim());
    });
    child.on('exit', (code) => fail(new Error(`cloud-otp exited with ${code} before listening:\n${log}`)));
    child.on('error', (e) => fail(new Error(`cannot start ${bin}: ${e.message} (build it first)`)));
  });
  const base = new URL(url).origin;
  const apiKey = readFileSync(join(data, 'demo-api-key'), 'utf8').trim();
  return {
    base,
    /** Calls the institution API with the demo institution's key. */
    async api(method, path, body) {
      const response = await fetch(base + path, {
        method,
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : null };
    },
    /** Runs the `cloud-otp` CLI on the same data directory; returns its standard output. */
    cli(...args) {
      return execFileSync(bin, args, { env: { ...process.env, CLOUD_OTP_DATA_DIR: data, RUST_LOG: 'warn' } }).toString();
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((done) => { if (child.exitCode !== null) done(); else child.on('exit', done); });
      rmSync(data, { recursive: true, force: true });
    },
    log: () => log,
  };
}

/**
 * Starts the server and the browser before a test file's tests, hands them to `use(server,
 * browser)` (which may also set up more, such as institutions), and stops both after them.
 */
export function serverAndBrowser(use) {
  let server;
  let browser;
  before(async () => {
    server = await startServer();
    browser = await launch();
    await use(server, browser);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
    ],
  });
}

/** A new browser profile (its own IndexedDB: its own OTP device) in a viewport. */
export async function newDevice(browser, kind, options = {}) {
  const context = await browser.newContext({ ...viewports[kind], locale: 'en-US', ...options });
  // Every CSP violation, in any frame or shadow root, is recorded for `expectNoCsp`.
  await context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__csp.push(`${e.violatedDirective}: ${e.blockedURI}`);
    }, true);
  });
  const page = await context.newPage();
  page.kind = kind;
  page.problems = [];
  page.on('console', (m) => {
    if (/Content.Security.Policy|Refused to/i.test(m.text())) page.problems.push(m.text());
  });
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  return { context, page };
}

/** Asserts that nothing on the page violated the Content-Security-Policy or threw. */
export async function expectNoCsp(page) {
  const violations = await page.evaluate(() => window.__csp);
  assert.deepEqual([...violations, ...page.problems], []);
}

/** Runs axe-core on the whole page, shadow roots included: no serious or critical violations. */
export async function expectAccessible(page, screen) {
  await page.evaluate(axeSource);
  const results = await page.evaluate(() =>
    window.axe.run(document, { resultTypes: ['violations'] }));
  // axe itself adds an inline <style> while it runs, which the CSP rightly blocks: that is the
  // test tool's doing, so it is forgotten (the page was checked just before).
  await page.evaluate(() => { window.__csp.length = 0; });
  page.problems = page.problems.filter((p) => !p.startsWith('Applying inline style'));
  const bad = results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(bad, [], `axe on the ${screen} screen`);
}

/** Checks a screen (axe, CSP) and keeps its screenshot as target/screenshots/KIND-NAME.png. */
export async function screen(page, name) {
  mkdirSync(shots, { recursive: true });
  // Screenshots show the screen at rest: no caret, no ring animation half-way.
  await page.screenshot({ path: join(shots, `${page.kind}-${name}.png`), fullPage: true, animations: 'disabled', caret: 'hide' });
  await expectNoCsp(page);
  await expectAccessible(page, `${page.kind} ${name}`);
}

/** A trainee ID no other test uses. */
export function newUser(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** Clicks on desktop, taps on a touch screen. */
export async function press(locator) {
  if (locator.page().kind === 'mobile') await locator.tap();
  else await locator.click();
}

/** The widget's code as digits ("972307"), once one is shown. */
export async function shownCode(page) {
  const digits = page.locator('.digits');
  await assert.doesNotReject(digits.filter({ hasText: /^\d{3} \d{3}$/ }).waitFor());
  return (await digits.textContent()).replace(/\D/g, '');
}

/** A six-digit code that is surely wrong: every digit of `code` moved by five. */
export function wrongCode(code) {
  return [...code].map((d) => String((Number(d) + 5) % 10)).join('');
}

/** Types `code` on the on-screen keypad. */
export async function typeOnKeypad(page, code) {
  for (const d of code) await press(page.getByRole('button', { name: d, exact: true }));
}

/** Opens the demo training site for `user` and waits for the widget to show a screen. */
export async function openDemo(page, server, user) {
  await page.goto(`${server.base}/demo/?user_id=${encodeURIComponent(user)}&purpose=exam`);
  await page.locator('cloud-otp h2').first().waitFor();
}

/** Registers the page's browser for `user` through the demo site; leaves it on the code screen. */
export async function register(page, server, user) {
  await openDemo(page, server, user);
  await press(page.getByRole('button', { name: 'Register cloud OTP' }));
  await press(page.getByRole('button', { name: 'Confirm', exact: true }));
  return shownCode(page);
}
