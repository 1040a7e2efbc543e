// The <cloud-otp> element's lifecycle and forms in all three engines (Chromium, Firefox ESR,
// WebKitGTK) over WebDriver (harness.mjs openDevice), against the real server and a training
// site of its own (lifecycle-site.mjs): the form's hidden field, empty before the pass and
// redeemed by the site's backend after a real POST; the element created by a script after the
// page loaded, removed and put back, reset after a wrong code and with a new session; several
// elements on one page, one inside the page's own web component; in Firefox and WebKit an unused
// pass expiring on the real clock (two minutes; Chromium's runs on Playwright's clock in
// lifecycle.test.mjs).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { button, engines, newUser, openDevice, startServer, text, wrongCode } from './harness.mjs';
import { startSite } from './lifecycle-site.mjs';

let server;
let site;
before(async () => {
  server = await startServer();
  site = await startSite(server);
});
after(async () => {
  await site?.close();
  await server?.stop();
});

// Runs in the page (its source is put into the scripts below): the element with `id`, looked
// for through open shadow roots, as the site's own component hides one.
const BY_ID = `const byId = (id, root = document) => root.getElementById?.(id)
  || [...root.querySelectorAll('*')].map((e) => e.shadowRoot && byId(id, e.shadowRoot)).find(Boolean) || null;`;

/** Runs `body` (a script body that may use `byId`) in the page until it returns something truthy. */
async function until(device, what, body, ...args) {
  const end = Date.now() + 20000;
  for (;;) {
    const got = await device.eval(`${BY_ID}\n${body}`, ...args);
    if (got) return got;
    if (Date.now() > end) {
      const shown = await device.eval(`${BY_ID}
        return [...document.querySelectorAll('cloud-otp')].concat(byId('inner') || [])
          .map((el) => '#' + el.id + ': ' + el.shadowRoot?.textContent).join(' | ');`);
      throw new Error(`${device.engine}: no ${what} within 20 s; the widgets show ${shown.slice(0, 1500)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Clicks, through WebDriver, the visible button named `name` in the widget of element `id`. */
async function clickIn(device, id, name) {
  const found = await until(device, `button ${name} in #${id}`, `
    const [id, name] = arguments;
    const root = byId(id)?.shadowRoot;
    return root && [...root.querySelectorAll('button')].find((b) => b.getClientRects().length
      && (b.getAttribute('aria-label') || b.textContent).replace(/\\s+/g, ' ').trim() === name);`, id, name);
  await found.click();
}

/** Waits until the widget of element `id` shows `words`. */
function shows(device, id, words) {
  return until(device, `"${words}" in #${id}`,
    'const root = byId(arguments[0])?.shadowRoot; return !!root && root.textContent.includes(arguments[1]);', id, words);
}

/** Registers the browser in the widget of element `id` and types its code; resolves to the pass. */
async function pass(device, id, code) {
  await clickIn(device, id, 'Register cloud OTP');
  await clickIn(device, id, 'Confirm');
  return enter(device, id, code);
}

/** The code the widget of element `id` shows, once it shows one. */
function codeIn(device, id) {
  return until(device, `a code in #${id}`, `
    const digits = byId(arguments[0])?.shadowRoot.querySelector('.digits')?.textContent || '';
    return /^\\d{3} \\d{3}$/.test(digits) && digits.replace(/\\D/g, '');`, id);
}

/** Types the code the widget of `id` shows (or `code`), confirms it; resolves to the element's pass. */
async function enter(device, id, code) {
  for (const d of code ?? await codeIn(device, id)) await clickIn(device, id, d);
  await clickIn(device, id, 'Confirm');
  if (code) return null;
  await shows(device, id, 'OTP confirmed');
  return until(device, `the pass of #${id}`, 'return byId(arguments[0]).pass;', id);
}

/** The element `id`'s properties and the hidden fields of its form, in the page. */
function state(device, id) {
  return device.eval(`${BY_ID}
    const el = byId(arguments[0]);
    const form = el.closest('form');
    return { pass: el.pass, expiresAt: el.expiresAt, expired: el.expired,
      fields: form ? [...new FormData(form)].filter(([name]) => name !== 'answer') : null,
      children: el.children.length };`, id);
}

/** What the institution's backend learns from redeeming `pass`. */
async function redeem(pass) {
  const { success, user_id: user, error } = await site.institution('/v1/siteverify', { pass });
  return success ? user : error;
}

for (const engine of engines) {
  describe(engine, () => {
    it('in a form: the hidden field is there and empty before the pass, holds it after, and the POST is redeemed by the site', async () => {
      const device = await openDevice(engine);
      try {
        const user = newUser(`${engine}-form`);
        // Before a pass the form posts the key, empty, under the name the page gave.
        await device.goto(`${site.origin}/form?user=${encodeURIComponent(user)}&name=exam-otp`);
        await device.waitFor(button('Register cloud OTP'));
        await device.click(button('Hand in the exam'));
        await device.waitFor(text('Empty field exam-otp'));

        await device.goto(`${site.origin}/form?user=${encodeURIComponent(user)}`);
        await device.eval(() => {
          const el = document.querySelector('cloud-otp');
          el.id = 'exam';
          window.__passes = [];
          document.addEventListener('cloud-otp-pass', (e) => window.__passes.push(e.detail));
        });
        await device.waitFor(button('Register cloud OTP'));
        assert.deepEqual(await state(device, 'exam'), {
          pass: null, expiresAt: null, expired: false, fields: [['cloud-otp-pass', '']], children: 1,
        });
        await device.screen('lifecycle-form-before');

        const got = await pass(device, 'exam');
        const [heard] = await device.eval(() => window.__passes);
        assert.deepEqual(await state(device, 'exam'), {
          pass: heard.pass, expiresAt: heard.expiresAt, expired: false, fields: [['cloud-otp-pass', got]], children: 1,
        });
        assert.equal(got, heard.pass);
        assert.ok(Date.parse(heard.expiresAt) > 0, heard.expiresAt);
        await device.screen('lifecycle-form-pass');

        // The site's own submit button; no script of the site's own carries the pass.
        await device.click(button('Hand in the exam'));
        await device.waitFor(text(`Verified: ${user}, answer 42`));
        await device.screen('lifecycle-form-posted');
        assert.equal(await redeem(got), 'invalid_or_used_pass', 'the form spent it');
      } finally {
        await device.close();
      }
    });

    // Chromium's is on Playwright's clock (lifecycle.test.mjs); here the real two minutes pass.
    if (engine !== 'chromium') {
      it('an unused pass expires after its 120 s on the page\'s own timer: expired, cloud-otp-expired once, the field emptied', async () => {
        const device = await openDevice(engine);
        try {
          await device.goto(`${site.origin}/form?user=${encodeURIComponent(newUser(`${engine}-expiry`))}`);
          await device.eval(() => {
            document.querySelector('cloud-otp').id = 'exam';
            window.__expired = [];
            document.addEventListener('cloud-otp-expired', (e) => window.__expired.push(e.detail));
          });
          const got = await pass(device, 'exam');
          assert.equal((await state(device, 'exam')).expired, false);
          // Still alive well into its life; then `until` waits its 20 s around the end.
          await new Promise((r) => setTimeout(r, 105000));
          assert.equal((await state(device, 'exam')).expired, false, 'not before its time');
          await until(device, 'cloud-otp-expired', 'return window.__expired.length > 0;');
          await new Promise((r) => setTimeout(r, 1000));
          const after = await state(device, 'exam');
          assert.deepEqual(after, {
            pass: got, expiresAt: after.expiresAt, expired: true, fields: [['cloud-otp-pass', '']], children: 1,
          });
          assert.deepEqual(await device.eval(() => window.__expired.map((d) => d.pass)), [got], 'told once');
        } finally {
          await device.close();
        }
      });
    }

    it('created by a script after load, removed and put back, reset after a wrong code and with a new session', async () => {
      const device = await openDevice(engine);
      try {
        const [first, second] = [newUser(`${engine}-reset-a`), newUser(`${engine}-reset-b`)];
        await device.goto(`${site.origin}/blank`);
        await device.waitFor(text('Blank lesson'));
        await device.eval(() => {
          window.__errors = [];
          window.addEventListener('error', (e) => window.__errors.push(e.message));
          window.addEventListener('unhandledrejection', (e) => window.__errors.push(String(e.reason)));
        });
        // A framework's way: created, given its server, put in a form, its session only later.
        await device.eval((base) => {
          const el = document.createElement('cloud-otp');
          el.id = 'late';
          el.setAttribute('server', base);
          const form = document.createElement('form');
          document.querySelector('main').append(form);
          form.append(el);
        }, server.base);
        await device.eval((session) => document.getElementById('late').setAttribute('session', session),
          await site.session(first));
        await shows(device, 'late', `the OTP device of ID ${first}`);

        // Removed: the widget is gone from its root and nothing throws; put back, it is there
        // again, once, also when both happen in one task (React's StrictMode).
        const removed = await device.eval(() => {
          const el = document.getElementById('late');
          const form = el.parentNode;
          el.remove();
          const left = el.shadowRoot.lastChild.childElementCount;
          form.append(el);
          el.remove();
          form.append(el);
          return left;
        });
        assert.equal(removed, 0, 'the unmounted widget leaves nothing in the root');
        await shows(device, 'late', `the OTP device of ID ${first}`);
        // And in two tasks, as a framework that moves it does.
        await device.eval(() => { window.__late = document.getElementById('late'); window.__late.remove(); });
        await device.eval(() => document.querySelector('form').append(window.__late));
        await shows(device, 'late', `the OTP device of ID ${first}`);
        assert.equal(await device.eval(() => document.getElementById('late').shadowRoot.querySelectorAll('.cotp').length), 1);

        // A wrong code, then reset(): the same session from the start, and the right code passes.
        await clickIn(device, 'late', 'Register cloud OTP');
        await clickIn(device, 'late', 'Confirm');
        await enter(device, 'late', wrongCode(await codeIn(device, 'late')));
        await shows(device, 'late', 'Attempts left before OTP is suspended: 4.');
        await device.screen('lifecycle-wrong');
        await device.eval(() => document.getElementById('late').reset());
        await until(device, 'the code screen again',
          "const t = byId('late').shadowRoot.textContent; return !t.includes('Attempts left') && t.includes('Confirm');");
        const passed = await enter(device, 'late');
        assert.equal((await state(device, 'late')).fields[0][1], passed);

        // reset(session): the pass is forgotten at once, and the new session's trainee starts.
        const after = await device.eval((session) => {
          const el = document.getElementById('late');
          el.reset(session);
          return { pass: el.pass, expiresAt: el.expiresAt, expired: el.expired, session: el.getAttribute('session'),
            field: el.querySelector('input').value };
        }, await site.session(second));
        assert.equal(after.pass, null);
        assert.equal(after.expiresAt, null);
        assert.equal(after.expired, false);
        assert.equal(after.field, '');
        assert.notEqual(after.session, null);
        await shows(device, 'late', `the OTP device of ID ${second}`);
        await device.screen('lifecycle-reset');
        const again = await pass(device, 'late');
        assert.notEqual(again, passed);
        assert.equal(await redeem(passed), first);
        assert.equal(await redeem(again), second);

        // Removed after a pass: the field (which leaves with it) is emptied, the pass forgotten.
        const gone = await device.eval(() => {
          const el = document.getElementById('late');
          const field = el.querySelector('input');
          el.remove();
          return { pass: el.pass, field: field.value, form: [...new FormData(document.querySelector('form'))] };
        });
        assert.deepEqual(gone, { pass: null, field: '', form: [] });
        assert.deepEqual(await device.eval(() => window.__errors), []);
      } finally {
        await device.close();
      }
    });

    it('several on one page, one inside the page\'s own web component: each its own session and pass, the module loaded once', async () => {
      const device = await openDevice(engine);
      try {
        const [inner, outer] = [newUser(`${engine}-inner`), newUser(`${engine}-outer`)];
        await device.goto(`${site.origin}/blank`);
        await device.waitFor(text('Panel'));
        await device.eval((base, innerSession, outerSession) => {
          window.__heard = [];
          document.addEventListener('cloud-otp-pass', (e) => window.__heard.push([e.target.localName, e.detail.pass]));
          const a = document.createElement('cloud-otp');
          a.id = 'inner';
          a.setAttribute('server', base);
          a.setAttribute('session', innerSession);
          document.querySelector('site-panel').shadowRoot.querySelector('form').append(a);
          // Attributes after it is connected, this time.
          const b = document.createElement('cloud-otp');
          b.id = 'outer';
          document.querySelector('main').append(b);
          b.setAttribute('server', base);
          b.setAttribute('session', outerSession);
        }, server.base, await site.session(inner), await site.session(outer));
        await shows(device, 'inner', `the OTP device of ID ${inner}`);
        await shows(device, 'outer', `the OTP device of ID ${outer}`);
        // Styled inside the page's shadow root too: the sheet is in and applies.
        const styled = await device.eval(`${BY_ID}
          const el = byId('inner');
          return [getComputedStyle(el).display, getComputedStyle(el.shadowRoot.querySelector('.cotp')).containerType];`);
        assert.deepEqual(styled, ['block', 'inline-size']);
        await device.screen('lifecycle-two');

        // Interleaved, as two trainees' widgets would never be, but each keeps to its own.
        await clickIn(device, 'outer', 'Register cloud OTP');
        await clickIn(device, 'inner', 'Register cloud OTP');
        await clickIn(device, 'inner', 'Confirm');
        await clickIn(device, 'outer', 'Confirm');
        const innerPass = await enter(device, 'inner');
        assert.equal(await device.eval(() => document.getElementById('outer').pass), null);
        const outerPass = await enter(device, 'outer');
        await device.screen('lifecycle-two-passed');

        assert.deepEqual(await device.eval(() => window.__heard), [['site-panel', innerPass], ['cloud-otp', outerPass]]);
        assert.deepEqual((await state(device, 'inner')).fields, [['cloud-otp-pass', innerPass]]);
        const alone = await state(device, 'outer');
        assert.deepEqual([alone.pass, alone.expired, alone.fields, alone.children], [outerPass, false, null, 0],
          'outside a form it adds no field');
        const loads = await device.eval(() => performance.getEntriesByType('resource').map((e) => e.name)
          .filter((n) => /cloud-otp-web(\.js|_bg\.wasm)/.test(n)).map((n) => new URL(n).pathname));
        assert.deepEqual(loads.sort(), ['/cloud-otp-web.js', '/cloud-otp-web_bg.wasm']);
        assert.equal(await redeem(innerPass), inner);
        assert.equal(await redeem(outerPass), outer);
      } finally {
        await device.close();
      }
    });
  });
}
