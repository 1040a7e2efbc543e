// The trainee's flows in all three engines (Chromium, Firefox ESR, WebKitGTK: the Safari
// engine), through WebDriver against the real server: registration, the code, the keypad, the
// pass reaching the site and siteverify; a replayed code; wrong codes down to suspension and the
// unlock; an unapproved browser taking over; the device clock hours off; Korean; and the events
// the page is told of each outcome, in order. Firefox runs without any pref that answers its
// storage-persistence prompt. Every screen is checked with axe-core and photographed as
// target/screenshots/ENGINE-NAME.png.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  button, engineLabels, engines, heading, newUser, openDevice, startRelay, startServer, text,
  wrongCode,
} from './harness.mjs';
import { startTrainingSite } from './site.mjs';
import { error, recordEvents, told, toldWithoutPasses } from './told.mjs';

let server;
let site;
let siteOrigin;

// One server for the whole file, and a second training site on its own origin whose pages set
// the device clock (a script that runs before the widget, like a phone set hours off).
before(async () => {
  server = await startServer();
  site = await startTrainingSite(server, { name: 'Clock Academy', code: '5678' }, async (req, res) => {
    const url = new URL(req.url, siteOrigin);
    if (url.pathname === '/clock.js') {
      res.setHeader('content-type', 'text/javascript');
      res.end(`// The test's device: its clock runs SHIFT ms off, and with CORES it is another machine
// (a processor count of its own, so another fingerprint, as a second computer has).
const params = new URL(document.currentScript.src).searchParams;
const shift = Number(params.get('shift'));
if (params.get('cores')) {
  Object.defineProperty(Navigator.prototype, 'hardwareConcurrency', { get: () => Number(params.get('cores')) });
}
const RealDate = Date;
class DeviceDate extends RealDate {
  constructor(...args) { if (args.length) super(...args); else super(RealDate.now() + shift); }
  static now() { return RealDate.now() + shift; }
}
window.Date = DeviceDate;
// With HOLDTIME, the server's clock answers only when the test says so (a 'release-time' event
// on the document, which reaches the page from WebDriver's sandbox too): a slow phone network.
if (params.get('holdtime')) {
  const realFetch = window.fetch;
  const released = new Promise((done) => document.addEventListener('release-time', done));
  window.fetch = (input, init) => (String(input).includes('/v1/time')
    ? released.then(() => realFetch(input, init))
    : realFetch(input, init));
}
// With NOSTORE, IndexedDB refuses to keep a CryptoKey, as some private modes and Lockdown Mode do.
if (params.get('nostore')) {
  const put = IDBObjectStore.prototype.put;
  IDBObjectStore.prototype.put = function (value, key) {
    if (value instanceof CryptoKey) throw new DOMException('cannot clone', 'DataCloneError');
    return put.call(this, value, key);
  };
}
// What the page's own clock says, for the test to read: WebDriver's scripts run beside the page
// (in Firefox, in a sandbox with the original Date), not in it.
document.documentElement.dataset.deviceNow = String(Date.now());`);
      return;
    }
    if (url.pathname === '/told.js') {
      res.setHeader('content-type', 'text/javascript');
      res.end(`// Records the widget's events from the start (it runs before the module).\n(${recordEvents})();`);
      return;
    }
    if (url.pathname === '/phone') {
      // A phone's viewport, 360 pixels wide and HEIGHT high (740 by default), in any engine: a
      // frame has a viewport of its own, where a desktop browser's window keeps a width of its
      // own (Firefox 500 pixels, MiniBrowser 447).
      const height = Number(url.searchParams.get('height')) || 740;
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Phone</title>
<link rel="icon" href="data:,"></head><body style="margin:0">
<iframe title="Clock Academy on a phone" style="width:360px;height:${height}px;border:0;display:block"
 src="/lesson?user=${encodeURIComponent(url.searchParams.get('user'))}&shift=0&long=1"></iframe></body></html>`);
      return;
    }
    // A new session, or with SESSION one the test kept (spent, or expired); with SERVER the
    // widget asks another address for the same server (a relay the test cuts off).
    const opened = url.searchParams.get('session') ? { session: url.searchParams.get('session') }
      : await institution('/v1/sessions', { user_id: url.searchParams.get('user'), purpose: 'exam' });
    const widgetServer = url.searchParams.get('server') || server.base;
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Clock Academy</title>
<link rel="icon" href="data:,">
<script src="/clock.js?shift=${Number(url.searchParams.get('shift'))}&cores=${Number(url.searchParams.get('cores')) || ''}&holdtime=${url.searchParams.get('holdtime') || ''}&nostore=${url.searchParams.get('nostore') || ''}"></script>
<script type="module" src="${server.base}/cloud-otp.js"></script></head>
<body><main><h1>Clock Academy</h1>
<cloud-otp server="${widgetServer}" session="${opened.session}"></cloud-otp><script src="/told.js"></script>
${url.searchParams.get('long') ? '<section style="height:1500px"><h2>Lesson 1</h2><p>The lesson goes on below the OTP step.</p></section>' : ''}</main></body></html>`);
  });
  siteOrigin = site.origin;
});

after(async () => {
  await site?.close();
  await server?.stop();
});

/** Calls the institution API of the clock site's institution: POSTs `body`, or GETs without. */
const institution = (path, body) => site.institution(path, body);

/** Waits until the server's time is 7 to 40 s into a step, where the last visit's clock offset
 * gives a code at once (the widget does not use it within 5 s of either end of a step). */
async function clearOfStepEdges() {
  while (Date.now() % 60000 < 7000 || Date.now() % 60000 > 40000) {
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Types `code` on the keypad and confirms it. */
async function enter(device, code, confirm = 'Confirm') {
  await device.keypad(code);
  await device.click(button(confirm, true));
}

for (const engine of engines) {
  const label = engineLabels[engine];

  describe(engine, () => {
    it('registers with no prompt answered, shows the code, takes it on the keypad, and the site verifies the pass; a replay is refused', async () => {
      const device = await openDevice(engine);
      try {
        const user = newUser(`${engine}-flow`);
        await device.openDemo(server, user);
        await device.waitFor(text(`the OTP device of ID ${user}`));
        await device.screen('register');

        await device.click(button('Register cloud OTP'));
        await device.waitFor(heading('Confirm registration'));
        await device.waitFor(text(`Register ${label} as the OTP device of ID ${user}?`));
        await device.screen('confirm');

        // Firefox would ask "store data in persistent storage?" here; nobody answers, and the
        // code comes anyway.
        await device.click(button('Confirm', true));
        const code = await device.code();
        await device.screen('code');
        if (engine === 'firefox') {
          // The code came with the persistence permission still unanswered ("prompt"): no pref
          // and no person answered the question the module asks after storing the key.
          const asked = await device.eval(() =>
            navigator.permissions.query({ name: 'persistent-storage' }).then((p) => p.state));
          assert.equal(asked, 'prompt', 'the persistence prompt is unanswered');
        }

        await device.eval(recordEvents);
        await device.keypad(code.slice(0, 4) + '9');
        await device.click(button('Delete last digit'));
        await device.keypad(code.slice(4));
        assert.equal(await device.value('Type the code'), code);
        await device.screen('typed');

        await device.click(button('Confirm', true));
        await device.waitFor(heading('OTP confirmed'));
        // The demo site's backend redeemed the pass with /v1/siteverify.
        const result = await device.waitFor(text(`Verified: ${user} passed OTP for "exam"`));
        assert.match(await result.getText(), new RegExp(`on ${label}\\.`));
        // The demo page's own line follows: the trainee is registered now.
        await device.waitFor(text('(status: active)'));
        await device.screen('success');
        // The page was told the pass alone, on the element. It is single-use: the site
        // redeemed it already.
        const [passed] = await told(device);
        assert.deepEqual(await toldWithoutPasses(device), [{ type: 'cloud-otp-pass' }]);
        const again = await server.api('POST', '/v1/siteverify', { pass: passed.detail.pass });
        assert.equal(again.body.success, false, JSON.stringify(again.body));

        // The same code again, with a new session: refused as replayed, and the page told.
        await device.openDemo(server, user);
        await device.code();
        await device.eval(recordEvents);
        await enter(device, code);
        await device.waitFor(text('This code was already used. Wait for the next code and type it.'));
        await device.screen('replayed');
        assert.deepEqual(await told(device), [error('replayed')]);
      } finally {
        await device.close();
      }
    });

    it('counts wrong codes down to suspension, telling the page each, and works again after the unlock', async () => {
      const device = await openDevice(engine);
      try {
        const user = newUser(`${engine}-lock`);
        const lesson = `${siteOrigin}/lesson?user=${encodeURIComponent(user)}&shift=0`;
        await device.goto(lesson);
        await device.click(button('Register cloud OTP'));
        await device.click(button('Confirm', true));
        const code = await device.code();
        for (let left = 4; left >= 1; left--) {
          await enter(device, wrongCode(code));
          await device.waitFor(text(`Attempts left before OTP is suspended: ${left}.`));
          if (left === 4) {
            // Styled as a problem: the colour of errors and a bar beside it, besides the words.
            const color = await device.eval(() => {
              const status = document.querySelector('cloud-otp').shadowRoot.querySelector('.status[data-bad="1"]');
              return status && getComputedStyle(status).color;
            });
            assert.equal(color, 'rgb(180, 35, 24)');
            await device.screen('wrong');
          }
        }
        await enter(device, wrongCode(code));
        await device.waitFor(heading('OTP is suspended'));
        await device.waitFor(text(`Five wrong codes in a row suspended OTP for ID ${user}.`));
        await device.screen('suspended');
        const countdown = [4, 3, 2, 1].map((left) => error('invalid_code', { attemptsLeft: left }));
        assert.deepEqual(await told(device), [...countdown, error('locked')]);

        // Opened again while suspended: told as the widget mounts, once, whatever the language.
        await device.goto(lesson);
        await device.waitFor(heading('OTP is suspended'));
        await device.click(button('한국어'));
        await device.waitFor(button('English'));
        await device.click(button('English'));
        await device.waitFor(heading('OTP is suspended'));
        assert.deepEqual(await told(device), [error('locked')]);

        const unlocked = await institution(`/v1/users/${encodeURIComponent(user)}/unlock`, {});
        assert.equal(unlocked.status, 'active', JSON.stringify(unlocked));
        await device.click(button('Check again'));
        await enter(device, await device.code());
        await device.waitFor(heading('OTP confirmed'));
        const [, passed] = await told(device);
        assert.deepEqual(await toldWithoutPasses(device), [error('locked'), { type: 'cloud-otp-pass' }]);
        const verified = await institution('/v1/siteverify', { pass: passed.detail.pass });
        assert.equal(verified.success, true, JSON.stringify(verified));
      } finally {
        await device.close();
      }
    });

    it('names the registered browser on another machine, which can take over', async () => {
      const first = await openDevice(engine);
      const second = await openDevice(engine);
      // The same engine on the same computer has the same fingerprint, which is this browser
      // after its data was erased (the next test): the second one is another machine.
      const lesson = (user, machine) =>
        `${siteOrigin}/lesson?user=${encodeURIComponent(user)}&shift=0${machine ? '&cores=3' : ''}`;
      try {
        const user = newUser(`${engine}-moved`);
        await first.goto(lesson(user, false));
        await first.click(button('Register cloud OTP'));
        await first.click(button('Confirm', true));
        await first.code();

        await second.goto(lesson(user, true));
        await second.waitFor(heading('This browser is not your OTP device'));
        // Both browsers carry the same label: the registration's time tells them apart.
        const named = await second.eval((el) => el.textContent,
          await second.waitFor(text(`OTP for ID ${user} is registered on ${label}`)));
        assert.match(named, /\(registered [A-Z][a-z]+ \d{1,2}, \d{4}(,| at) \d{1,2}:\d{2}\s?[AP]M\)/, named);
        await second.screen('unapproved');
        // The page was told as the widget mounted, with the device the screen names.
        const [unapproved] = await told(second);
        assert.deepEqual(await told(second), [error('unapproved_device', { device: { label, registeredAt: unapproved.detail.device.registeredAt } })]);
        assert.match(unapproved.detail.device.registeredAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d/);
        await second.click(button('Register this browser instead'));
        await second.waitFor(heading('Confirm registration'));
        await second.screen('replace-confirm');
        await second.click(button('Confirm', true));
        await enter(second, await second.code());
        await second.waitFor(heading('OTP confirmed'));
        assert.deepEqual(await toldWithoutPasses(second), [unapproved, { type: 'cloud-otp-pass' }]);

        // The first browser is told as it opens, and shows no code the server would refuse.
        await first.goto(lesson(user, false));
        await first.waitFor(heading('This browser is not your OTP device'));
        assert.equal(await first.eval(() => document.querySelector('cloud-otp').shadowRoot.querySelector('.digits')), null);
        await first.screen('replaced');
        const [replaced] = await told(first);
        assert.deepEqual(await told(first), [error('unapproved_device', { device: { label, registeredAt: replaced.detail.device.registeredAt } })]);
        assert.ok(Date.parse(replaced.detail.device.registeredAt) >= Date.parse(unapproved.detail.device.registeredAt));
      } finally {
        await first.close();
        await second.close();
      }
    });

    it('tells a browser whose data was erased so, and registers it again in one step; a spent session is expired', async () => {
      const device = await openDevice(engine);
      try {
        const user = newUser(`${engine}-erased`);
        const lesson = `${siteOrigin}/lesson?user=${encodeURIComponent(user)}&shift=0`;
        await device.goto(lesson);
        await device.click(button('Register cloud OTP'));
        await device.click(button('Confirm', true));
        await device.code();
        // What Safari does after 7 days without a visit, and what clearing site data does.
        await device.eval(() => new Promise((done, fail) => {
          const request = indexedDB.deleteDatabase('cloud-otp');
          request.onsuccess = () => done(true);
          request.onerror = () => fail(request.error);
        }));
        await device.goto(lesson);
        await device.waitFor(heading("This browser's OTP data was erased"));
        await device.waitFor(text(`ID ${user} was registered in this browser (${label}, `));
        await device.screen('erased');
        // Told as the registration erased: the key this browser had is missing.
        assert.deepEqual(await told(device), [error('key_missing')]);
        await device.click(button('Register this browser again'));
        await enter(device, await device.code());
        await device.waitFor(heading('OTP confirmed'));
        const [, passed] = await told(device);
        assert.deepEqual(await toldWithoutPasses(device), [error('key_missing'), { type: 'cloud-otp-pass' }]);
        const verified = await institution('/v1/siteverify', { pass: passed.detail.pass });
        assert.equal(verified.success, true, JSON.stringify(verified));
        const { events: audit } = await institution(`/v1/audit?user_id=${encodeURIComponent(user)}`);
        const events = audit.map((e) => `${e.event}:${e.outcome}`).filter((e) => e.startsWith('device_'));
        assert.deepEqual(events.sort(), [
          'device_registered:registered', 'device_reregistered:registered', 'device_retired:reregistered',
        ]);

        // The session that verification spent, opened again: expired, and the page told.
        const spent = await device.eval(() => document.querySelector('cloud-otp').getAttribute('session'));
        await device.goto(`${lesson}&session=${encodeURIComponent(spent)}`);
        await device.waitFor(heading('This OTP request has expired'));
        await device.screen('expired');
        assert.deepEqual(await told(device), [error('invalid_session')]);
      } finally {
        await device.close();
      }
    });

    it('tells the page when the server cannot be reached and when this browser cannot keep keys', async () => {
      const relay = await startRelay(server.base);
      let device;
      try {
        device = await openDevice(engine);
        const user = newUser(`${engine}-told`);
        // The widget's server is a relay to the real one, switched off: connections refused.
        await relay.off();
        await device.goto(`${siteOrigin}/lesson?user=${encodeURIComponent(user)}&shift=0&server=${encodeURIComponent(relay.base)}`);
        await device.waitFor(heading('Cannot reach the OTP server'));
        await device.screen('told-offline');
        assert.deepEqual(await told(device), [error('network_error')]);
        await relay.on();
        await device.click(button('Try again'));
        await device.waitFor(button('Register cloud OTP'));
        assert.deepEqual(await told(device), [error('network_error')], 'the offer tells nothing');

        await device.goto(`${siteOrigin}/lesson?user=${encodeURIComponent(user)}&shift=0&nostore=1`);
        await device.click(button('Register cloud OTP'));
        await device.click(button('Confirm', true));
        await device.waitFor(heading('This browser cannot keep the OTP key'));
        await device.screen('told-no-storage');
        assert.deepEqual(await told(device), [error('key_not_storable')]);
      } finally {
        await device?.close();
        await relay.off();
      }
    });

    it('keeps an e-mail and a 128-character login ID inside the card, on a 360-pixel phone and on a desktop', async () => {
      const device = await openDevice(engine);
      // Whether anything on the page, in the widget's shadow root too, is wider than its box.
      const overflows = () => device.eval(() => {
        const wide = [];
        const root = document.documentElement;
        if (root.scrollWidth > root.clientWidth) wide.push(`page ${root.scrollWidth} > ${root.clientWidth}`);
        for (const el of document.querySelector('cloud-otp').shadowRoot.querySelectorAll('p, h2, .who')) {
          // Visually hidden text (for screen readers) is 1 pixel wide on purpose.
          if (el.clientWidth > 1 && el.scrollWidth > el.clientWidth + 1) wide.push(`${el.tagName} "${el.textContent.slice(0, 40)}"`);
        }
        return wide;
      });
      try {
        for (const phone of [true, false]) {
          const stamp = `${engine}-${phone ? 'phone' : 'desktop'}-${Date.now().toString(36)}`;
          for (const [name, user] of [['email', `kim.minseo.${stamp}@academy-example.co.kr`], ['longest', `long-${stamp}-`.padEnd(128, 'x')]]) {
            await device.goto(`${siteOrigin}/${phone ? 'phone' : 'lesson'}?user=${encodeURIComponent(user)}&shift=0`);
            if (phone) await device.frame();
            const width = await device.eval(() => window.innerWidth);
            assert.ok(phone ? width === 360 : width >= 1024, `${engine}: the page is ${width} pixels wide`);
            await device.waitFor(button('Register cloud OTP'));
            assert.deepEqual(await overflows(), [], `register screen, ${name} ID, ${width} px`);
            await device.click(button('Register cloud OTP'));
            await device.waitFor(heading('Confirm registration'));
            assert.deepEqual(await overflows(), [], `confirm screen, ${name} ID, ${width} px`);
            await device.click(button('Confirm', true));
            await device.code();
            assert.deepEqual(await overflows(), [], `code screen, ${name} ID, ${width} px`);
            await device.screen(`long-id-${name}-${width}`, { whole: !phone });
            if (phone) await device.frame(null);
          }
        }
      } finally {
        await device.close();
      }
    });

    it('keeps the code and the typed field in view beside Confirm on a short phone screen', async () => {
      const device = await openDevice(engine);
      try {
        // 360 x 560: what a browser's bars leave of a small phone's screen (an iPhone SE's Safari).
        await device.goto(`${siteOrigin}/phone?height=560&user=${encodeURIComponent(newUser(`${engine}-phone`))}`);
        await device.frame();
        assert.deepEqual(await device.eval(() => [window.innerWidth, window.innerHeight]), [360, 560]);
        // Not within 10 s of a step's end, where the code card adds its "wait for the next code".
        await clearOfStepEdges();
        await device.click(button('Register cloud OTP'));
        await device.click(button('Confirm', true));
        await device.code();
        // Where the code, the typed field and Confirm are with Confirm scrolled to `block`.
        const boxes = (block) => device.eval((at) => {
          const root = document.querySelector('cloud-otp').shadowRoot;
          const button = [...root.querySelectorAll('button')].find((b) => b.textContent.trim() === 'Confirm');
          button.scrollIntoView({ block: at });
          const box = (el) => { const r = el.getBoundingClientRect(); return { top: r.top, bottom: r.bottom }; };
          return {
            card: box(root.querySelector('.code')), digits: box(root.querySelector('.digits')),
            field: box(root.querySelector('.entry')), confirm: box(button),
          };
        }, block);
        // Down to Confirm, as a trainee's thumb goes: the code, the field and Confirm all fit.
        const end = await boxes('end');
        assert.ok(end.confirm.bottom <= 561, `Confirm is on screen: ${JSON.stringify(end)}`);
        assert.ok(end.digits.top >= 0, `the code is on screen with Confirm: ${JSON.stringify(end)}`);
        assert.ok(end.field.top >= end.card.bottom, `the code's card does not cover the typed field: ${JSON.stringify(end)}`);
        await device.screen('phone-confirm', { whole: false });
        // Halfway there, the code stays at the top of the screen.
        const half = await boxes('center');
        assert.ok(half.digits.top >= 0 && half.digits.bottom <= half.confirm.top, `the code stays in view: ${JSON.stringify(half)}`);
        await device.screen('phone-halfway', { whole: false });
      } finally {
        await device.close();
      }
    });

    it('speaks Korean to a Korean browser', async () => {
      const device = await openDevice(engine, { locale: 'ko-KR' });
      try {
        const user = newUser(`${engine}-ko`);
        await device.openDemo(server, user);
        await device.waitFor(button('클라우드 OTP 등록'));
        const lang = await device.eval((el) => el.getAttribute('lang'), await device.waitFor({ css: '.cotp' }));
        assert.equal(lang, 'ko');
        await device.screen('ko-register');
        await device.click(button('클라우드 OTP 등록'));
        await device.waitFor(heading('등록 확인'));
        // The browser's label in Korean word order, and no particle glued to English words.
        const [name, os] = label.split(' on ');
        await device.waitFor(text(`이 브라우저(${os}의 ${name})를 아이디 ${user}의 OTP 기기로 등록할까요?`));
        await device.screen('ko-confirm');
        await device.click(button('확인', true));
        const code = await device.code();
        await device.waitFor(text('인증번호 입력'));
        await device.screen('ko-code');
        await enter(device, code, '확인');
        await device.waitFor(heading('OTP 인증 완료'));
        await device.waitFor(text(`Verified: ${user}`));
        await device.screen('ko-success');
      } finally {
        await device.close();
      }
    });

    it('sends a code computed on the last visit\'s clock only once the server\'s time confirms it: a clock moved between visits costs no attempt', async () => {
      const device = await openDevice(engine);
      try {
        const user = newUser(`${engine}-clock-moved`);
        await device.goto(`${siteOrigin}/lesson?user=${encodeURIComponent(user)}&shift=0`);
        await device.click(button('Register cloud OTP'));
        await device.click(button('Confirm', true));
        await device.code();
        // The next visit: the device clock was set 3 hours ahead in between, and the server's
        // time is slow to come. The code on screen is the last visit's offset's, so not the
        // server's.
        await clearOfStepEdges();
        await device.goto(`${siteOrigin}/lesson?user=${encodeURIComponent(user)}&shift=${3 * 3600 * 1000}&holdtime=1`);
        const quick = await device.code();
        await enter(device, quick);
        await device.waitFor(text('Checking'));
        await device.eval(() => document.dispatchEvent(new Event('release-time')));
        await device.waitFor(text('This device\'s clock moved since your last visit, so the code changed.'));
        await device.screen('clock-moved');
        const code = await device.code();
        assert.notEqual(code, quick);
        // Nothing was sent: no attempt counted toward suspension.
        const status = await institution(`/v1/users/${encodeURIComponent(user)}`);
        assert.equal(status.failures, 0, JSON.stringify(status));
        await enter(device, code);
        await device.waitFor(heading('OTP confirmed'));
      } finally {
        await device.close();
      }
    });

    it('sends a code typed before the server\'s time came as soon as that time confirms it', async () => {
      const device = await openDevice(engine);
      try {
        const user = newUser(`${engine}-held`);
        await device.goto(`${siteOrigin}/lesson?user=${encodeURIComponent(user)}&shift=0`);
        await device.click(button('Register cloud OTP'));
        await device.click(button('Confirm', true));
        await device.code();
        // The next visit, the clock as it was: the code shown at once is the server's.
        await clearOfStepEdges();
        await device.goto(`${siteOrigin}/lesson?user=${encodeURIComponent(user)}&shift=0&holdtime=1`);
        await enter(device, await device.code());
        await device.waitFor(text('Checking'));
        await device.eval(() => document.dispatchEvent(new Event('release-time')));
        await device.waitFor(heading('OTP confirmed'));
      } finally {
        await device.close();
      }
    });

    for (const [name, hours] of [['behind', -3], ['ahead', 9.5]]) {
      it(`gives codes the server accepts with the device clock ${Math.abs(hours)} hours ${name}`, async () => {
        const device = await openDevice(engine);
        try {
          const user = newUser(`${engine}-clock`);
          const shift = hours * 3600 * 1000;
          await device.goto(`${siteOrigin}/lesson?user=${encodeURIComponent(user)}&shift=${shift}`);
          const pageNow = await device.eval(() => Number(document.documentElement.dataset.deviceNow));
          const skew = pageNow - Date.now();
          assert.ok(Math.abs(skew - shift) < 60000, `the page's clock is ${skew} ms off`);
          await device.eval(() => {
            document.addEventListener('cloud-otp-pass', (e) => { window.__pass = e.detail.pass; });
          });
          await device.click(button('Register cloud OTP'));
          await device.click(button('Confirm', true));
          const code = await device.code();
          await device.screen(`clock-${name}-code`);
          await enter(device, code);
          await device.waitFor(heading('OTP confirmed'));
          await device.screen(`clock-${name}`);
          const verified = await institution('/v1/siteverify', { pass: await device.eval(() => window.__pass) });
          assert.equal(verified.success, true, JSON.stringify(verified));
          assert.equal(verified.user_id, user);
          // Every engine sends the page's origin with the code, and siteverify names it.
          assert.equal(verified.origin, siteOrigin);
        } finally {
          await device.close();
        }
      });
    }
  });
}
