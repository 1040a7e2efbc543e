// The standalone trainee page (index.html): without a session it shows this browser's codes
// (code-check mode, with a switcher between IDs) or, with none registered, the activation form; with
// ?session= it hosts the widget. Desktop and mobile viewports, axe-core, CSP, screenshots.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  newDevice, newUser, press, register, screen, shownCode, serverAndBrowser, typeOnKeypad,
} from './harness.mjs';

let server;
let browser;

serverAndBrowser((s, b) => {
  server = s;
  browser = b;
});

for (const kind of ['desktop', 'mobile']) {
  describe(`${kind} viewport`, () => {
    it('offers activation when this browser holds no OTP yet', async () => {
      const { context, page } = await newDevice(browser, kind);
      await page.goto(`${server.base}/`);
      await page.getByRole('heading', { name: 'Activate cloud OTP' }).waitFor();
      await page.getByText('No activation code? Your training site may register this browser').waitFor();
      await screen(page, 'standalone-empty');
      await context.close();
    });

    it('loads the module, its glue, the script and the style sheet from the cache on the next visit', async () => {
      const { context, page } = await newDevice(browser, kind);
      const heading = page.getByRole('heading', { name: 'Activate cloud OTP' });
      await page.goto(`${server.base}/`);
      await heading.waitFor();
      await page.goto(`${server.base}/`);
      await heading.waitFor();
      // Resource Timing's transferSize is 0 for an answer from the cache and the header size
      // for a revalidation (304): the versioned files must not even be revalidated.
      const loaded = await page.evaluate(() => Object.fromEntries(performance
        .getEntriesByType('resource').map((r) => [new URL(r.name).pathname, r.transferSize])));
      for (const file of ['/cloud-otp-web_bg.wasm', '/cloud-otp-web.js', '/app.js', '/cloud-otp.css']) {
        assert.equal(loaded[file], 0, `${file} came from the cache (${JSON.stringify(loaded)})`);
      }
      await context.close();
    });

    it('shows the code of each registered ID, which the code check accepts', async () => {
      const { context, page } = await newDevice(browser, kind);
      const first = newUser(`${kind}-check-a`);
      const second = newUser(`${kind}-check-b`);
      await register(page, server, first);
      await register(page, server, second);

      await page.goto(`${server.base}/`);
      await page.getByText('Type this code where your training site asks for it.').waitFor();
      const picker = page.getByLabel('ID', { exact: true });
      assert.deepEqual(await picker.locator('option').allTextContents(), [first, second]);
      const code = await shownCode(page);
      await screen(page, 'standalone-code');
      // Copy puts the code on the clipboard and says so (docs/product.md rule 11).
      await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.base });
      await press(page.getByRole('button', { name: 'Copy' }));
      await page.locator('[aria-live=polite]', { hasText: 'Copied' }).waitFor();
      const copied = await page.evaluate(() => navigator.clipboard.readText());
      // The code shown when Copy was pressed (the step may have ended just before).
      assert.ok([code, await shownCode(page)].includes(copied), `copied ${copied}`);
      // The site's own code field sends it to POST /v1/check (the code-check way).
      const checked = await server.api('POST', '/v1/check', { user_id: first, code });
      assert.equal(checked.status, 200, JSON.stringify(checked.body));
      assert.equal(checked.body.success, true);

      await picker.selectOption({ label: second });
      await page.getByText(`ID ${second}`).waitFor();
      const other = await shownCode(page);
      const again = await server.api('POST', '/v1/check', { user_id: second, code: other });
      assert.equal(again.body.success, true, JSON.stringify(again.body));
      await context.close();
    });

    it('hosts the widget with ?session= and hands over the pass', async () => {
      const { context, page } = await newDevice(browser, kind);
      const user = newUser(`${kind}-hosted`);
      const opened = await server.api('POST', '/v1/sessions', { user_id: user, purpose: 'periodic' });
      assert.equal(opened.status, 201);
      await page.goto(`${server.base}/?session=${encodeURIComponent(opened.body.session)}`);
      await page.evaluate(() => {
        document.addEventListener('cloud-otp-pass', (e) => { window.__pass = e.detail.pass; });
      });
      await press(page.getByRole('button', { name: 'Register cloud OTP' }));
      await press(page.getByRole('button', { name: 'Confirm', exact: true }));
      const code = await shownCode(page);
      await typeOnKeypad(page, code);
      await press(page.getByRole('button', { name: 'Confirm', exact: true }));
      await page.getByRole('heading', { name: 'OTP confirmed' }).waitFor();
      await screen(page, 'standalone-success');
      const pass = await page.evaluate(() => window.__pass);
      const verified = await server.api('POST', '/v1/siteverify', { pass });
      assert.equal(verified.body.success, true);
      assert.equal(verified.body.user_id, user);
      assert.equal(verified.body.purpose, 'periodic');
      // A pass is single-use.
      const twice = await server.api('POST', '/v1/siteverify', { pass });
      assert.equal(twice.body.success, false);
      await context.close();
    });

    it('says when the session has expired', async () => {
      const { context, page } = await newDevice(browser, kind);
      await page.goto(`${server.base}/?session=expired-or-made-up-session-token`);
      await page.getByRole('heading', { name: 'This OTP request has expired' }).waitFor();
      await page.getByText('Reload the page to start again.').waitFor();
      await screen(page, 'expired');
      await context.close();
    });

    it('says when the OTP server cannot be reached, and retries', async () => {
      const { context, page } = await newDevice(browser, kind);
      const user = newUser(`${kind}-offline`);
      const opened = await server.api('POST', '/v1/sessions', { user_id: user, purpose: 'exam' });
      await page.route('**/v1/status', (route) => route.abort('internetdisconnected'));
      await page.goto(`${server.base}/?session=${encodeURIComponent(opened.body.session)}`);
      await page.getByRole('heading', { name: 'Cannot reach the OTP server' }).waitFor();
      await screen(page, 'offline');
      await page.unroute('**/v1/status');
      await press(page.getByRole('button', { name: 'Try again' }));
      await page.getByRole('button', { name: 'Register cloud OTP' }).waitFor();
      await context.close();
    });
  });
}
