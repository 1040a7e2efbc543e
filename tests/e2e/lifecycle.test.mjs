// The pass's expiry on the <cloud-otp> element, in Chromium (Playwright): the page's clock is
// moved past the pass's 120 seconds (page.clock), which only Playwright can do without making
// the test wait; the server's passes always live 120 s, so the WebDriver engines cannot see it
// sooner. The properties, `cloud-otp-expired` once, the form's field emptied and a POST that
// then carries no pass. The rest of the lifecycle, in three engines, is lifecycle-engines.test.mjs.
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { newDevice, newUser, press, screen, serverAndBrowser, shownCode, typeOnKeypad } from './harness.mjs';
import { startSite } from './lifecycle-site.mjs';

let browser;
let site;
serverAndBrowser(async (s, b) => {
  browser = b;
  site = await startSite(s);
});
after(() => site?.close());

/** Registers the browser in the form page's widget and types its code; resolves once the
 * element holds the pass. */
async function earnPass(page) {
  await press(page.getByRole('button', { name: 'Register cloud OTP' }));
  await press(page.getByRole('button', { name: 'Confirm', exact: true }));
  await typeOnKeypad(page, await shownCode(page));
  await press(page.getByRole('button', { name: 'Confirm', exact: true }));
  await page.waitForFunction(() => document.querySelector('cloud-otp').pass);
}

/** The element's properties and its form's hidden field, in the page. */
const state = (page) => page.evaluate(() => {
  const el = document.querySelector('cloud-otp');
  return { pass: el.pass, expiresAt: el.expiresAt, expired: el.expired, field: el.querySelector('input').value };
});

it('says cloud-otp-expired once when the pass dies unused, empties the field, and keeps the pass readable', async () => {
  const { context, page } = await newDevice(browser, 'desktop');
  try {
    // The page's own clock, which runs on as a real one until the test moves it ahead.
    await page.clock.install();
    const user = newUser('expiry');
    await page.goto(`${site.origin}/form?user=${encodeURIComponent(user)}`);
    await page.evaluate(() => {
      window.__heard = [];
      for (const type of ['cloud-otp-pass', 'cloud-otp-expired']) {
        document.addEventListener(type, (e) => window.__heard.push([type, e.detail, e.bubbles, e.composed]));
      }
    });
    await earnPass(page);
    await page.getByRole('heading', { name: 'OTP confirmed' }).waitFor();
    const [[, detail]] = await page.evaluate(() => window.__heard);
    assert.deepEqual(await state(page), { pass: detail.pass, expiresAt: detail.expiresAt, expired: false, field: detail.pass });

    // A second before its end the pass is still there.
    await page.clock.fastForward(119_000);
    assert.deepEqual(await state(page), { pass: detail.pass, expiresAt: detail.expiresAt, expired: false, field: detail.pass });
    assert.equal((await page.evaluate(() => window.__heard)).length, 1);

    await page.clock.fastForward(2_000);
    await page.clock.fastForward(300_000);
    assert.deepEqual(await page.evaluate(() => window.__heard), [
      ['cloud-otp-pass', detail, true, true], ['cloud-otp-expired', detail, true, true],
    ]);
    assert.deepEqual(await state(page), { pass: detail.pass, expiresAt: detail.expiresAt, expired: true, field: '' });
    await screen(page, 'lifecycle-expired');

    // The form then posts the key with no pass in it.
    await press(page.getByRole('button', { name: 'Hand in the exam' }));
    await page.getByText('Empty field cloud-otp-pass').waitFor();
  } finally {
    await context.close();
  }
});

it('forgets an expired pass on reset()', async () => {
  const { context, page } = await newDevice(browser, 'desktop');
  try {
    await page.clock.install();
    const user = newUser('expiry-reset');
    await page.goto(`${site.origin}/form?user=${encodeURIComponent(user)}`);
    await earnPass(page);
    await page.clock.fastForward(121_000);
    assert.equal((await state(page)).expired, true);
    await page.evaluate((session) => document.querySelector('cloud-otp').reset(session), await site.session(newUser('next')));
    assert.deepEqual(await state(page), { pass: null, expiresAt: null, expired: false, field: '' });
    await page.getByRole('button', { name: 'Register cloud OTP' }).waitFor();
  } finally {
    await context.close();
  }
});
