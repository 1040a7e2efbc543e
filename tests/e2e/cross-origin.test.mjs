// A training site on another origin embeds <cloud-otp> with one script tag from the cloud-otp
// server, under the Content-Security-Policy that docs/integration.md recommends: the module and
// stylesheet load from the server's origin, the key lives in the site's IndexedDB, the API calls
// are cross-origin (CORS for the institution's registered origin), and the site's backend
// redeems the pass with its own API key.
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  expectNoCsp, newDevice, newUser, press, screen, shownCode, serverAndBrowser, typeOnKeypad,
} from './harness.mjs';
import { startTrainingSite } from './site.mjs';

let server;
let browser;
let site;
// The site's one page, which the test writes once it has a session.
let lesson = '';

serverAndBrowser(async (s, b) => {
  server = s;
  browser = b;
  site = await startTrainingSite(server, { name: 'Other Academy', code: '5678' }, (req, res) => {
    const otp = server.base;
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.setHeader('content-security-policy',
      `default-src 'self'; script-src 'self' ${otp} 'wasm-unsafe-eval'; style-src 'self' ${otp}; ` +
      `connect-src ${otp}; img-src 'self' data:`);
    res.end(lesson);
  });
});

after(async () => {
  await site?.close();
});

it('works embedded on another origin under a strict CSP', async () => {
  const user = newUser('lms');
  const session = await site.session(user, 'course_entry');
  const otp = server.base;
  lesson = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Other Academy</title>
<link rel="icon" href="data:,">
<script type="module" src="${otp}/cloud-otp.js"></script></head>
<body><main><h1>Other Academy</h1>
<cloud-otp server="${otp}" session="${session}"></cloud-otp></main></body></html>`;

  const { context, page } = await newDevice(browser, 'desktop');
  await page.goto(`${site.origin}/lesson`);
  await page.evaluate(() => {
    document.querySelector('cloud-otp').addEventListener('cloud-otp-pass', (e) => { window.__pass = e.detail.pass; });
  });
  await press(page.getByRole('button', { name: 'Register cloud OTP' }));
  await press(page.getByRole('button', { name: 'Confirm', exact: true }));
  const code = await shownCode(page);
  await typeOnKeypad(page, code);
  await press(page.getByRole('button', { name: 'Confirm', exact: true }));
  await page.getByRole('heading', { name: 'OTP confirmed' }).waitFor();
  await screen(page, 'cross-origin-success');
  await expectNoCsp(page);

  // The key is in the training site's IndexedDB, not the OTP server's.
  const databases = await page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name));
  assert.ok(databases.includes('cloud-otp'));

  const verified = await site.institution('/v1/siteverify', { pass: await page.evaluate(() => window.__pass) });
  assert.equal(verified.success, true);
  assert.equal(verified.user_id, user);
  // The engine sent the page's origin with the code, and siteverify names it.
  assert.equal(verified.origin, site.origin);
  assert.equal(verified.test, false);
  await context.close();
});
