// The installable app (docs/integration.md, "The installable app"), in Chromium through
// Playwright: the browser's own verdict that the page can be installed (the DevTools
// protocol's Page.getInstallabilityErrors and Page.getAppManifest), the registered app opened
// with the server unreachable showing a code that the server accepts once it is back, the API
// and the demo site's widget never answered by the service worker, and the Home Screen advice
// on an iPhone's Safari only. The same offline and advice flows run in Firefox and WebKit too:
// app-engines.test.mjs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import {
  IPAD, IPHONE, newDevice, newUser, press, register, screen, serverAndBrowser, shownCode, startRelay,
} from './harness.mjs';

const ADVICE = 'Add Cloud OTP to your Home Screen';
const OFFLINE = 'Offline: this code is computed on the time measured on your last visit.';

let server;
let browser;
serverAndBrowser((s, b) => {
  server = s;
  browser = b;
});

/** Activates `user` with `code` at the demo institution (customer code 1234) on the form at `/`. */
async function activate(page, user, code) {
  for (const [label, value, next] of [['Customer code (4 digits)', '1234', 'Next'], ['Login ID', user, 'Next'],
    ['Activation code (6 digits)', code, 'Activate']]) {
    await page.getByLabel(label).fill(value);
    await press(page.getByRole('button', { name: next, exact: true }));
  }
  await page.getByText('Type this code where your training site asks for it.').waitFor();
}

/** Opens `/` at `base` and waits until the service worker is active and controls the page. */
async function installed(page, base) {
  await page.goto(`${base}/`);
  await page.evaluate(() => navigator.serviceWorker.ready);
  // The page that registered the worker is not controlled by it: the next load is.
  await page.reload();
  assert.ok(await page.evaluate(() => !!navigator.serviceWorker.controller), 'the worker controls /');
}

it('Chromium finds the page installable and its manifest without errors', async () => {
  // A profile on disk: Chromium installs nothing from an incognito profile (Playwright's
  // contexts are), and says so ("in-incognito").
  const profile = mkdtempSync(join(tmpdir(), 'cloud-otp-install-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync'],
  });
  const page = context.pages()[0] || await context.newPage();
  await installed(page, server.base);
  const cdp = await context.newCDPSession(page);
  const manifest = await cdp.send('Page.getAppManifest');
  assert.deepEqual(manifest.errors, [], JSON.stringify(manifest.errors));
  assert.equal(manifest.url, `${server.base}/manifest.webmanifest`);
  const parsed = JSON.parse(manifest.data);
  assert.equal(parsed.display, 'standalone');
  assert.equal(parsed.start_url, '/');
  assert.match(parsed.name, /클라우드 OTP/);
  assert.match(parsed.name, /Cloud OTP/);
  const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
  assert.deepEqual(installabilityErrors, [], JSON.stringify(installabilityErrors));
  // The icons it names are there, as PNG.
  for (const icon of parsed.icons) {
    const r = await fetch(new URL(icon.src, server.base));
    assert.equal(r.headers.get('content-type'), 'image/png', icon.src);
  }
  await context.close();
  rmSync(profile, { recursive: true, force: true });
});

it('with the server unreachable the installed app shows a code, which the server accepts once it is back', async () => {
  // The app on a relay to the server, which the test switches off: the page, its worker and
  // the account's server are all the relay's address.
  const relay = await startRelay(server.base);
  const { context, page } = await newDevice(browser, 'desktop');
  const user = newUser('offline');
  const issued = await server.api('POST', `/v1/users/${encodeURIComponent(user)}/activation`, {});
  assert.equal(issued.status, 201, JSON.stringify(issued.body));
  await installed(page, relay.base);
  await activate(page, user, issued.body.activation_code);
  await shownCode(page);
  assert.equal(await page.getByText(OFFLINE).isVisible(), false);

  await relay.off();
  await context.setOffline(true);
  await page.reload();
  const offline = await shownCode(page);
  await page.getByText(OFFLINE).waitFor();
  await screen(page, 'app-offline');
  assert.equal(await page.evaluate(() => navigator.onLine), false);

  await context.setOffline(false);
  await relay.on();
  const checked = await server.api('POST', '/v1/check', { user_id: user, code: offline });
  assert.equal(checked.body.success, true, `the code shown offline: ${JSON.stringify(checked.body)}`);
  await context.close();
  await relay.off();
});

it('answers the page and its files from the copy, never the API or the demo site, and the demo widget works as before', async () => {
  const { context, page } = await newDevice(browser, 'desktop');
  await installed(page, server.base);
  const answers = [];
  page.on('response', (r) => answers.push([new URL(r.url()).pathname, r.fromServiceWorker()]));
  await page.reload();
  await page.getByRole('heading', { name: 'Activate cloud OTP' }).waitFor();
  assert.ok(await page.evaluate(async () => (await (await fetch('/v1/time')).json()).now_ms > 0));
  // Chromium routes by the worker's rules without starting it (static routing): the page and
  // its files from the worker's copy, /v1/ from the network; Resource Timing says which (an
  // entry is added once its body is read).
  const sources = Object.fromEntries(await page.evaluate(() => [
    ...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource'),
  ].map((e) => [new URL(e.name).pathname, e.workerFinalSourceType])));
  assert.deepEqual(sources, {
    '/': 'cache',
    '/app.js': 'cache',
    '/cloud-otp-web.js': 'cache',
    '/cloud-otp-web_bg.wasm': 'cache',
    '/cloud-otp.css': 'cache',
    '/v1/time': 'network',
  });
  assert.ok(answers.some(([path, sw]) => path === '/v1/time' && sw === false), JSON.stringify(answers));
  assert.ok(!answers.some(([path, sw]) => path.startsWith('/v1/') && sw), JSON.stringify(answers));

  // The demo site's lesson page is in the worker's scope and still answered by the network,
  // and so is every file of it but the versioned ones the app keeps too (the same bytes: a
  // browser's rules cannot tell which page asks); its widget registers and verifies as before.
  // (In a tab of its own: a tab keeps the files it loaded in memory for the next page, whoever
  // answered them.)
  answers.length = 0;
  const demo = await context.newPage();
  demo.kind = 'desktop';
  demo.on('response', (r) => answers.push([new URL(r.url()).pathname, r.fromServiceWorker()]));
  const user = newUser('sw-demo');
  const code = await register(demo, server, user);
  assert.ok(await demo.evaluate(() => !!navigator.serviceWorker.controller), 'the demo page is in scope');
  assert.ok(answers.length > 5, JSON.stringify(answers));
  const kept = new Set(['/cloud-otp.css', '/cloud-otp-web.js', '/cloud-otp-web_bg.wasm']);
  assert.deepEqual(answers.filter(([path, sw]) => sw && !kept.has(path)), [],
    'nothing of the demo page but the versioned files came from the worker');
  assert.ok(answers.some(([path, sw]) => path.startsWith('/demo/') && !sw), JSON.stringify(answers));
  assert.match(code, /^\d{6}$/);
  await context.close();
});

for (const [name, ua, touch] of [['iPhone', IPHONE, 0], ['iPad', IPAD, 5]]) {
  it(`on ${name} Safari the page advises the Home Screen once, until dismissed; never when standalone`, async () => {
    const { context, page } = await newDevice(browser, 'mobile', { userAgent: ua });
    if (touch) await context.addInitScript((n) => Object.defineProperty(Navigator.prototype, 'maxTouchPoints', { get: () => n }), touch);
    await page.goto(`${server.base}/`);
    await page.getByRole('heading', { name: ADVICE }).waitFor();
    await page.getByText('Safari erases a site\'s data, OTP key included, after 7 days').waitFor();
    await page.getByRole('heading', { name: 'Activate cloud OTP' }).waitFor();
    if (name === 'iPhone') await screen(page, 'app-ios-advice');
    await press(page.getByRole('button', { name: 'OK', exact: true }));
    await page.getByRole('heading', { name: ADVICE }).waitFor({ state: 'hidden' });
    await page.reload();
    await page.getByRole('heading', { name: 'Activate cloud OTP' }).waitFor();
    assert.equal(await page.getByRole('heading', { name: ADVICE }).count(), 0, 'not after dismissal');
    await context.close();

    // Opened from the Home Screen (navigator.standalone): no advice.
    const standalone = await newDevice(browser, 'mobile', { userAgent: ua });
    await standalone.context.addInitScript(() => Object.defineProperty(Navigator.prototype, 'standalone', { get: () => true }));
    await standalone.page.goto(`${server.base}/`);
    await standalone.page.getByRole('heading', { name: 'Activate cloud OTP' }).waitFor();
    assert.equal(await standalone.page.getByRole('heading', { name: ADVICE }).count(), 0);
    await standalone.context.close();
  });
}

it('a desktop browser, an Android phone, or a Mac without touch get no advice', async () => {
  for (const [kind, options] of [['desktop', {}], ['mobile', {}], ['desktop', { userAgent: IPAD }]]) {
    const { context, page } = await newDevice(browser, kind, options);
    await page.goto(`${server.base}/`);
    await page.getByRole('heading', { name: 'Activate cloud OTP' }).waitFor();
    assert.equal(await page.getByRole('heading', { name: ADVICE }).count(), 0, `${kind} ${JSON.stringify(options)}`);
    await context.close();
  }
});
