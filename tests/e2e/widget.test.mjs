// The <cloud-otp> widget on the demo training site, against the real server, in a desktop and
// a mobile (touch) viewport: registration, the code, the keypad, the pass reaching the site and
// siteverify; wrong, replayed and offline codes; suspension and unlock; an unapproved device
// taking over; Korean and English; a browser that cannot keep keys. Every screen is checked with
// axe-core and for CSP violations, and photographed into target/screenshots/.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  expectNoCsp, labels, newDevice, newUser, openDemo, press, register, screen,
  shownCode, serverAndBrowser, typeOnKeypad, wrongCode,
} from './harness.mjs';

let server;
let browser;

serverAndBrowser((s, b) => {
  server = s;
  browser = b;
});

const other = { desktop: 'mobile', mobile: 'desktop' };

for (const kind of ['desktop', 'mobile']) {
  describe(`${kind} viewport`, () => {
    it('registers, shows the code, takes it on the keypad, and the site verifies the pass', async () => {
      const { context, page } = await newDevice(browser, kind);
      // The device clock is three hours behind: codes come from the server's time anyway.
      await page.clock.setSystemTime(new Date(Date.now() - 3 * 3600 * 1000));
      const user = newUser(`${kind}-flow`);
      await openDemo(page, server, user);
      assert.ok(await page.evaluate(() => Date.now()) < Date.now() - 2 * 3600 * 1000);
      await page.evaluate(() => {
        document.addEventListener('cloud-otp-pass', (e) => { window.__pass = e.detail; });
      });
      await page.getByText(`the OTP device of ID ${user}`).waitFor();
      await screen(page, 'register');

      await press(page.getByRole('button', { name: 'Register cloud OTP' }));
      await page.getByRole('heading', { name: 'Confirm registration' }).waitFor();
      await page.getByText(`Register ${labels[kind]} as the OTP device of ID ${user}?`).waitFor();
      await screen(page, 'confirm');

      await press(page.getByRole('button', { name: 'Confirm', exact: true }));
      const code = await shownCode(page);
      assert.match(await page.getByRole('timer').textContent(), /^\d{1,2} s$/);
      await screen(page, 'code');

      const field = page.getByLabel('Type the code');
      if (kind === 'mobile') {
        // The keypad is the default; the native numeric keyboard is one tap away.
        assert.equal(await field.getAttribute('inputmode'), 'none');
        await press(page.getByRole('button', { name: 'Use the phone keyboard' }));
        assert.equal(await field.getAttribute('inputmode'), 'numeric');
        assert.equal(await field.getAttribute('autocomplete'), 'one-time-code');
        await field.blur();
      }
      await typeOnKeypad(page, code.slice(0, 4) + '9');
      await press(page.getByRole('button', { name: 'Delete last digit' }));
      await typeOnKeypad(page, code.slice(4));
      assert.equal(await field.inputValue(), code);
      await screen(page, 'typed');

      await press(page.getByRole('button', { name: 'Confirm', exact: true }));
      await page.getByRole('heading', { name: 'OTP confirmed' }).waitFor();
      // The demo site's backend redeemed the pass with /v1/siteverify.
      await page.locator('#result', { hasText: `Verified: ${user} passed OTP for "exam"` }).waitFor();
      assert.match(await page.locator('#result').textContent(), new RegExp(`on ${labels[kind]}\\.`));
      const pass = await page.evaluate(() => window.__pass);
      assert.equal(typeof pass.pass, 'string');
      assert.ok(Date.parse(pass.expiresAt) > Date.now(), 'the pass expires in the future');
      await screen(page, 'success');
      // Only IndexedDB holds the device key, as a non-extractable CryptoKey: nothing secret (or
      // anything at all) is written to localStorage, sessionStorage or cookies (issue 8).
      const kept = await page.evaluate(() => ({
        local: Object.keys(localStorage), session: Object.keys(sessionStorage), cookie: document.cookie,
      }));
      assert.deepEqual(kept, { local: [], session: [], cookie: '' });
      assert.deepEqual(await context.cookies(), []);
      await context.close();
    });

    it('says wrong, offline and replayed codes plainly and keeps what was typed offline', async () => {
      const { context, page } = await newDevice(browser, kind);
      const user = newUser(`${kind}-outcomes`);
      const code = await register(page, server, user);

      // A wrong code, typed on the physical keyboard (desktop) or the keypad (touch).
      if (kind === 'desktop') {
        await page.getByRole('button', { name: '5', exact: true }).focus();
        await page.keyboard.type(wrongCode(code));
        await page.keyboard.press('Backspace');
        await page.keyboard.type(wrongCode(code).slice(5));
        await page.getByLabel('Type the code').press('Enter');
      } else {
        await typeOnKeypad(page, wrongCode(code));
        await press(page.getByRole('button', { name: 'Confirm', exact: true }));
      }
      await page.getByText('Wrong code. Attempts left before OTP is suspended: 4.').waitFor();
      assert.equal(await page.getByLabel('Type the code').inputValue(), '');
      await screen(page, 'wrong');

      // The server cannot be reached: the typed code stays for "Try again".
      await page.route('**/v1/verify', (route) => route.abort('internetdisconnected'));
      if (kind === 'desktop') {
        // Pasted with spaces, as codes are often copied.
        await page.getByRole('button', { name: 'Clear' }).focus();
        await page.evaluate((text) => {
          const data = new DataTransfer();
          data.setData('text', `${text.slice(0, 3)} ${text.slice(3)}`);
          const target = document.querySelector('cloud-otp').shadowRoot.activeElement;
          target.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, composed: true }));
        }, code);
      } else {
        await typeOnKeypad(page, code);
      }
      await press(page.getByRole('button', { name: 'Confirm', exact: true }));
      await page.getByText('Could not reach the OTP server. What you typed is kept: try again.').waitFor();
      assert.equal(await page.getByLabel('Type the code').inputValue(), code);
      await screen(page, 'network');
      await page.unroute('**/v1/verify');
      await press(page.getByRole('button', { name: 'Try again' }));
      await page.getByRole('heading', { name: 'OTP confirmed' }).waitFor();
      await page.locator('#result', { hasText: `Verified: ${user}` }).waitFor();

      // The same code again, with a new session: refused as replayed (docs/product.md rule 3).
      await openDemo(page, server, user);
      await typeOnKeypad(page, code);
      await press(page.getByRole('button', { name: 'Confirm', exact: true }));
      await page.getByText('This code was already used. Wait for the next code and type it.').waitFor();
      await screen(page, 'replayed');
      await context.close();
    });

    it('suspends after five wrong codes and works again after the institution unlocks', async () => {
      const { context, page } = await newDevice(browser, kind);
      const user = newUser(`${kind}-lock`);
      const code = await register(page, server, user);
      for (let left = 4; left >= 1; left--) {
        await typeOnKeypad(page, wrongCode(code));
        await press(page.getByRole('button', { name: 'Confirm', exact: true }));
        await page.getByText(`Attempts left before OTP is suspended: ${left}.`).waitFor();
      }
      await typeOnKeypad(page, wrongCode(code));
      await press(page.getByRole('button', { name: 'Confirm', exact: true }));
      await page.getByRole('heading', { name: 'OTP is suspended' }).waitFor();
      await page.getByText(`Five wrong codes in a row suspended OTP for ID ${user}.`).waitFor();
      await page.getByText('To unlock it, contact Demo Academy').waitFor();
      await screen(page, 'suspended');

      // A reload shows the same: the suspension is the server's, not the page's.
      await openDemo(page, server, user);
      await page.getByRole('heading', { name: 'OTP is suspended' }).waitFor();
      const unlocked = await server.api('POST', `/v1/users/${encodeURIComponent(user)}/unlock`, {});
      assert.equal(unlocked.status, 200);
      assert.equal(unlocked.body.status, 'active');
      await press(page.getByRole('button', { name: 'Check again' }));
      const fresh = await shownCode(page);
      await typeOnKeypad(page, fresh);
      await press(page.getByRole('button', { name: 'Confirm', exact: true }));
      await page.locator('#result', { hasText: `Verified: ${user}` }).waitFor();
      await expectNoCsp(page);
      await context.close();
    });

    it('names the registered device on another browser, which can take over', async () => {
      const first = await newDevice(browser, other[kind]);
      const user = newUser(`${kind}-moved`);
      await register(first.page, server, user);

      const { context, page } = await newDevice(browser, kind);
      await openDemo(page, server, user);
      await page.getByRole('heading', { name: 'This browser is not your OTP device' }).waitFor();
      // The date and the time of the registration: same-label browsers are told apart by it.
      const date = new Date().toLocaleDateString('en', { dateStyle: 'long' });
      await page.getByText(new RegExp(
        `OTP for ID ${user} is registered on ${labels[other[kind]]} \\(registered ${date},? at \\d{1,2}:\\d{2}\\s?[AP]M\\)\\.`,
      )).waitFor();
      await page.getByText(`If you register this browser instead, ${labels[other[kind]]} stops working for OTP.`).waitFor();
      await screen(page, 'unapproved');

      await press(page.getByRole('button', { name: 'Register this browser instead' }));
      await page.getByRole('heading', { name: 'Confirm registration' }).waitFor();
      await screen(page, 'replace-confirm');
      await press(page.getByRole('button', { name: 'Confirm', exact: true }));
      const code = await shownCode(page);
      await typeOnKeypad(page, code);
      await press(page.getByRole('button', { name: 'Confirm', exact: true }));
      await page.locator('#result', { hasText: `on ${labels[kind]}.` }).waitFor();

      // The first browser is told so as it opens, and shows no code the server would refuse.
      await openDemo(first.page, server, user);
      await first.page.getByRole('heading', { name: 'This browser is not your OTP device' }).waitFor();
      await first.page.getByText(`is registered on ${labels[kind]}`).waitFor();
      assert.equal(await first.page.locator('.digits').count(), 0);
      await expectNoCsp(first.page);
      await first.context.close();
      await context.close();
    });

    it('speaks Korean to a Korean browser and switches to English and back', async () => {
      const { context, page } = await newDevice(browser, kind, { locale: 'ko-KR' });
      const user = newUser(`${kind}-ko`);
      await openDemo(page, server, user);
      await page.getByRole('button', { name: '클라우드 OTP 등록' }).waitFor();
      assert.equal(await page.locator('.cotp').getAttribute('lang'), 'ko');
      await screen(page, 'ko-register');

      await press(page.getByRole('button', { name: 'English' }));
      await page.getByRole('button', { name: 'Register cloud OTP' }).waitFor();
      assert.equal(await page.locator('.cotp').getAttribute('lang'), 'en');
      await press(page.getByRole('button', { name: '한국어' }));
      await press(page.getByRole('button', { name: '클라우드 OTP 등록' }));
      await page.getByRole('heading', { name: '등록 확인' }).waitFor();
      // The browser's label in Korean word order, and no particle glued to English words.
      const [name, os] = labels[kind].split(' on ');
      await page.getByText(`이 브라우저(${os}의 ${name})를 아이디 ${user}의 OTP 기기로 등록할까요?`).waitFor();
      await screen(page, 'ko-confirm');
      await press(page.getByRole('button', { name: '확인', exact: true }));
      const code = await shownCode(page);
      await page.getByText('인증번호 입력').waitFor();
      await screen(page, 'ko-code');

      // Switching keeps what is typed, and the code stays on screen (no loading in between).
      await typeOnKeypad(page, code.slice(0, 3));
      await press(page.getByRole('button', { name: 'English' }));
      assert.equal(await page.getByLabel('Type the code').inputValue(), code.slice(0, 3));
      assert.match(await page.locator('.digits').textContent(), /^\d{3} \d{3}$/);
      await press(page.getByRole('button', { name: '한국어' }));
      await typeOnKeypad(page, code.slice(3));
      await press(page.getByRole('button', { name: '확인', exact: true }));
      await page.getByRole('heading', { name: 'OTP 인증 완료' }).waitFor();
      await page.locator('#result', { hasText: `Verified: ${user}` }).waitFor();
      await screen(page, 'ko-success');
      await context.close();
    });

    it('hints to wait for the next code on entry near the end of a step, then moves on', async () => {
      const { context, page } = await newDevice(browser, kind);
      const user = newUser(`${kind}-hint`);
      await register(page, server, user);
      // The server's clock as this page sees it: 5 seconds before the end of a step.
      await page.route('**/v1/time', (route) => {
        const now = Date.now();
        route.fulfill({ json: { now_ms: now - (now % 60000) + 55000 } });
      });
      await openDemo(page, server, user);
      const code = await shownCode(page);
      const hint = page.getByText('This code changes in a few seconds: you can wait for the next one.');
      await hint.waitFor();
      assert.match(await page.getByRole('timer').textContent(), /^[1-6] s$/);
      // Screen readers hear once, politely, that the code is about to change.
      await page.locator('[aria-live=polite]', { hasText: '10 seconds left. A new code follows' }).waitFor();
      await screen(page, 'hint');
      // At the step boundary the next code replaces it, the hint goes and the clock restarts.
      await page.locator('.digits').filter({ hasNotText: `${code.slice(0, 3)} ${code.slice(3)}` }).waitFor({ timeout: 15000 });
      await hint.waitFor({ state: 'hidden' });
      // The page's first code is marked for User Timing (docs/widget.md) once, not again for the next.
      assert.equal(await page.evaluate(() => performance.getEntriesByName('cloud-otp:first-code').length), 1);
      assert.match(await page.getByRole('timer').textContent(), /^(60|59|58) s$/);
      await expectNoCsp(page);
      await context.close();
    });

    it('shows a returning trainee the code before the server answers the clock check', async () => {
      const { context, page } = await newDevice(browser, kind);
      await register(page, server, newUser(`${kind}-quick`));
      // The next visit: the server's clock answers only after 3 seconds.
      let answered = 0;
      await page.route('**/v1/time', async (route) => {
        await new Promise((r) => setTimeout(r, 3000));
        answered += 1;
        await route.continue();
      });
      // The last visit's clock offset is used only 5 s or more from either end of a step.
      while (Date.now() % 60000 < 7000 || Date.now() % 60000 > 50000) {
        await new Promise((r) => setTimeout(r, 250));
      }
      const timeAnswer = page.waitForResponse('**/v1/time');
      await page.goto(`${server.base}/`);
      const quick = await shownCode(page);
      assert.equal(answered, 0, 'the code was on screen before the clock check answered');
      const marks = await page.evaluate(() => performance.getEntriesByName('cloud-otp:first-code').map((m) => m.startTime));
      assert.equal(marks.length, 1, 'the first code is marked for User Timing, once');
      assert.ok(marks[0] > 0, `the mark is after navigation start: ${marks}`);
      // The server's answer confirms it: the same code stays.
      await timeAnswer;
      await page.waitForTimeout(200);
      assert.equal(await shownCode(page), quick);
      await expectNoCsp(page);
      await context.close();
    });

    it('explains a browser that cannot keep keys, before anything is sent', async () => {
      const { context, page } = await newDevice(browser, kind);
      // As in some private modes and Lockdown Mode: IndexedDB refuses to store a CryptoKey.
      await context.addInitScript(() => {
        const put = IDBObjectStore.prototype.put;
        IDBObjectStore.prototype.put = function (value, key) {
          if (value instanceof CryptoKey) throw new DOMException('cannot clone', 'DataCloneError');
          return put.call(this, value, key);
        };
      });
      let registrations = 0;
      page.on('request', (r) => { if (r.url().endsWith('/v1/devices')) registrations += 1; });
      const user = newUser(`${kind}-private`);
      await openDemo(page, server, user);
      await press(page.getByRole('button', { name: 'Register cloud OTP' }));
      await press(page.getByRole('button', { name: 'Confirm', exact: true }));
      await page.getByRole('heading', { name: 'This browser cannot keep the OTP key' }).waitFor();
      await page.getByText('Open this page in a normal window or another browser').waitFor();
      assert.equal(registrations, 0);
      await screen(page, 'no-storage');
      await context.close();
    });

    it('tells a browser whose data was erased so, and registers it again in one step', async () => {
      const { context, page } = await newDevice(browser, kind);
      const user = newUser(`${kind}-erased`);
      await register(page, server, user);
      // What Safari does after 7 days without a visit, and what clearing site data does.
      await page.evaluate(() => new Promise((done, fail) => {
        const request = indexedDB.deleteDatabase('cloud-otp');
        request.onsuccess = done;
        request.onerror = () => fail(request.error);
        request.onblocked = () => fail(new Error('blocked'));
      }));
      await openDemo(page, server, user);
      await page.getByRole('heading', { name: "This browser's OTP data was erased" }).waitFor();
      await page.getByText(`ID ${user} was registered in this browser (${labels[kind]}, `).waitFor();
      assert.equal(await page.getByText('This browser is not your OTP device').count(), 0);
      await screen(page, 'erased');
      await press(page.getByRole('button', { name: 'Register this browser again' }));
      await shownCode(page);
      const { body } = await server.api('GET', `/v1/audit?user_id=${encodeURIComponent(user)}`);
      const events = body.events.map((e) => `${e.event}:${e.outcome}`);
      assert.deepEqual(events.filter((e) => e.startsWith('device_')).sort(), [
        'device_registered:registered', 'device_reregistered:registered', 'device_retired:reregistered',
      ]);
      await context.close();
    });

    it('registers nothing when a stored key reads back as nothing', async () => {
      const { context, page } = await newDevice(browser, kind);
      // As some iPhone builds do: the key is stored, but reading it back gives nothing.
      await context.addInitScript(() => {
        const get = IDBObjectStore.prototype.get;
        IDBObjectStore.prototype.get = function (key) {
          const request = get.call(this, key);
          if (key === 'key-check') Object.defineProperty(request, 'result', { get: () => undefined });
          return request;
        };
      });
      let registrations = 0;
      page.on('request', (r) => { if (r.url().endsWith('/v1/devices')) registrations += 1; });
      const user = newUser(`${kind}-blank-key`);
      await openDemo(page, server, user);
      await press(page.getByRole('button', { name: 'Register cloud OTP' }));
      await press(page.getByRole('button', { name: 'Confirm', exact: true }));
      await page.getByRole('heading', { name: 'This browser cannot keep the OTP key' }).waitFor();
      await page.getByText('Nothing was registered, and your ID is as it was.').waitFor();
      assert.equal(registrations, 0);
      await context.close();
    });
  });
}
