// The installable app in the three engines over WebDriver (harness.mjs openDevice): the
// registered app opened with the server unreachable shows a code that the server accepts once
// it is back, a new build reaches a returning browser, and Safari on an iPhone gets the Home
// Screen advice, dismissed for good. The server is made unreachable by a relay that the test
// switches off (WebDriver has no offline switch). Chromium's installability verdict and the checks that the worker leaves the API and
// the demo site alone are in app.test.mjs (Playwright).
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import assert from 'node:assert/strict';
import {
  IPHONE, button, dist, engines, field, heading, newUser, openDevice, startRelay, startServer, text,
} from './harness.mjs';

const ADVICE = 'Add Cloud OTP to your Home Screen';
const OFFLINE = 'Offline: this code is computed on the time measured on your last visit.';

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

/**
 * Makes the built app in `web` a new build, as `scripts/build-web.sh` would: a new page (marked
 * `<meta name=build content=second>`) and so a new worker (its cache name). Both beside their
 * gzip copies, which the server prefers.
 */
function newBuild(web) {
  const rewrite = (file, change) => {
    const path = join(web, file);
    const before = readFileSync(path, 'utf8');
    const after = change(before);
    assert.notEqual(after, before, `the new build changes ${file}`);
    writeFileSync(path, after);
    writeFileSync(`${path}.gz`, gzipSync(after, { level: 9 }));
  };
  rewrite('index.html', (page) => page.replace('<meta charset=utf-8>', '<meta charset=utf-8><meta name=build content=second>'));
  rewrite('sw.js', (worker) => worker.replace(/"cloud-otp-[0-9a-f]{10}"/, '"cloud-otp-second"'));
}

/** Types `value` in the form's field `label` and presses `next`. */
async function fill(device, label, value, next = 'Next') {
  const input = await device.waitFor(field(label));
  await input.clear();
  await input.sendKeys(value);
  await device.click(button(next, true));
}

for (const engine of engines) {
  describe(engine, () => {
    it('with the server unreachable the installed app shows a code, which the server accepts once it is back', async () => {
      const relay = await startRelay(server.base);
      const device = await openDevice(engine);
      try {
        const user = newUser(`${engine}-offline`);
        const issued = await server.api('POST', `/v1/users/${encodeURIComponent(user)}/activation`, {});
        await device.goto(`${relay.base}/`);
        await fill(device, 'Customer code (4 digits)', '1234');
        await fill(device, 'Login ID', user);
        await fill(device, 'Activation code (6 digits)', issued.body.activation_code, 'Activate');
        await device.code();
        await device.controlled(`${relay.base}/`);
        await device.code();

        await relay.off();
        await device.goto(`${relay.base}/`);
        const offline = await device.code();
        await device.waitFor(text(OFFLINE));
        await device.screen('app-offline', { whole: false });
        await relay.on();
        const checked = await server.api('POST', '/v1/check', { user_id: user, code: offline });
        assert.equal(checked.body.success, true, `${engine}: the code shown offline: ${JSON.stringify(checked.body)}`);
      } finally {
        await device.close();
        await relay.off().catch(() => {});
      }
    });

    it('a new build reaches a returning browser on the visit after the one that finds it', async () => {
      // A server of its own, on a copy of dist/ that the test then rebuilds in place.
      const web = mkdtempSync(join(tmpdir(), 'cloud-otp-dist-'));
      cpSync(dist, web, { recursive: true });
      const own = await startServer({ web });
      const device = await openDevice(engine);
      const build = () => device.eval(() => document.querySelector('meta[name=build]')?.content ?? 'first');
      try {
        await device.goto(`${own.base}/`);
        await device.waitFor(heading('Activate cloud OTP'));
        await device.controlled(`${own.base}/`);

        newBuild(web);
        // The page comes from the worker's copy: this visit is still the first build, and it
        // asks for the worker again, which finds the new one.
        await device.goto(`${own.base}/`);
        await device.waitFor(heading('Activate cloud OTP'));
        assert.equal(await build(), 'first');
        const names = await device.driver.executeAsyncScript(`const done = arguments[arguments.length - 1];
          const until = Date.now() + 20000;
          (async function poll() {
            const keys = await caches.keys();
            if ((keys.length === 1 && keys[0] === 'cloud-otp-second') || Date.now() > until) done(keys);
            else setTimeout(poll, 100);
          })();`);
        assert.deepEqual(names, ['cloud-otp-second'], `${engine}: the new worker keeps its copy and drops the old`);
        await device.goto(`${own.base}/`);
        await device.waitFor(heading('Activate cloud OTP'));
        assert.equal(await build(), 'second');
      } finally {
        await device.close();
        await own.stop();
        rmSync(web, { recursive: true, force: true });
      }
    });

    it('as Safari on an iPhone it advises the Home Screen until dismissed', async () => {
      const device = await openDevice(engine, { userAgent: IPHONE });
      try {
        assert.match(await device.eval(() => navigator.userAgent), /iPhone/);
        await device.goto(`${server.base}/`);
        await device.waitFor(heading(ADVICE));
        await device.waitFor(heading('Activate cloud OTP'));
        await device.screen('app-ios-advice', { whole: false });
        await device.click(button('OK', true));
        await device.goto(`${server.base}/`);
        await device.waitFor(heading('Activate cloud OTP'));
        assert.equal(await device.find(heading(ADVICE)), null, 'not after dismissal');
      } finally {
        await device.close();
      }
    });

    it('as a desktop browser it gives no advice', async () => {
      const device = await openDevice(engine);
      try {
        await device.goto(`${server.base}/`);
        await device.waitFor(heading('Activate cloud OTP'));
        assert.equal(await device.find(heading(ADVICE)), null);
      } finally {
        await device.close();
      }
    });
  });
}
