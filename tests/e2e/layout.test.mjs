// Long login IDs: an e-mail ID and a 128-character one (the longest a user ID may be) stay
// inside the widget's card and the demo page, on a 360-pixel phone and on a desktop, on the
// registration, confirmation and code screens.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newDevice, openDemo, press, screen, serverAndBrowser, shownCode } from './harness.mjs';

let server;
let browser;

serverAndBrowser((s, b) => {
  server = s;
  browser = b;
});

/** Whether anything on the page, in the widget's shadow root too, is wider than its box. */
async function overflows(page) {
  return page.evaluate(() => {
    const wide = [];
    const root = document.documentElement;
    if (root.scrollWidth > root.clientWidth) wide.push(`page ${root.scrollWidth} > ${root.clientWidth}`);
    const host = document.querySelector('cloud-otp');
    for (const el of host.shadowRoot.querySelectorAll('p, h2, .who')) {
      // Visually hidden text (for screen readers) is 1 pixel wide on purpose.
      if (el.clientWidth > 1 && el.scrollWidth > el.clientWidth + 1) wide.push(`${el.tagName} "${el.textContent.slice(0, 40)}"`);
    }
    return wide;
  });
}

for (const kind of ['mobile', 'desktop']) {
  describe(`${kind} viewport`, () => {
    // Each viewport registers its own IDs: another browser would be an unapproved device.
    const stamp = `${kind}-${Date.now().toString(36)}`;
    const ids = {
      email: `kim.minseo.${stamp}@academy-example.co.kr`,
      longest: `long-${stamp}-`.padEnd(128, 'x'),
    };
    for (const [name, user] of Object.entries(ids)) {
      it(`keeps a ${name} login ID inside the card`, async () => {
        const { context, page } = await newDevice(browser, kind);
        await openDemo(page, server, user);
        assert.deepEqual(await overflows(page), [], 'register screen');
        await screen(page, `long-id-${name}-register`);
        await press(page.getByRole('button', { name: 'Register cloud OTP' }));
        await page.getByRole('heading', { name: 'Confirm registration' }).waitFor();
        assert.deepEqual(await overflows(page), [], 'confirm screen');
        await press(page.getByRole('button', { name: 'Confirm', exact: true }));
        await shownCode(page);
        assert.deepEqual(await overflows(page), [], 'code screen');
        await screen(page, `long-id-${name}-code`);
        await context.close();
      });
    }
  });
}
