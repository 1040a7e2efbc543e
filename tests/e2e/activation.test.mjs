// Activation on the standalone page (the Any OTP way, docs/product.md rule 9): customer code, login
// ID and activation code step by step, each failure told on its step with its stable code;
// several IDs from different institutions with a switcher (rule 10); and the optional PIN that
// is part of the key. Desktop and mobile viewports, axe-core, CSP, screenshots.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  newDevice, newUser, press, register, screen, shownCode, serverAndBrowser, typeOnKeypad,
  wrongCode,
} from './harness.mjs';

let server;
let browser;
/** A second institution, with a 6-digit PIN policy: its customer code and API key. */
const pinInstitute = { name: 'PIN Institute', code: '5678', key: '' };
/** A third one, without a PIN. */
const secondAcademy = { name: 'Second Academy', code: '2468', key: '' };

serverAndBrowser((s, b) => {
  server = s;
  browser = b;
  const created = server.cli('tenant', 'create', '--name', pinInstitute.name, '--customer-code',
    pinInstitute.code, '--origin', server.base, '--pin', '6');
  pinInstitute.key = created.trim().split('\n').pop();
  secondAcademy.key = server.cli('tenant', 'create', '--name', secondAcademy.name,
    '--customer-code', secondAcademy.code, '--origin', server.base).trim().split('\n').pop();
  server.cli('tenant', 'create', '--name', 'Closed Institute', '--customer-code', '5555');
  server.cli('tenant', 'update', '--customer-code', '5555', '--close');
});

/** Calls the institution API with the API key of `institution`. */
async function apiOf(institution, method, path, body) {
  const response = await fetch(server.base + path, {
    method,
    headers: { authorization: `Bearer ${institution.key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** Calls the institution API of the PIN institution. */
const pinApi = (method, path, body) => apiOf(pinInstitute, method, path, body);

/** Types `value` into the form's field labelled `label` and presses the primary button. */
async function step(page, label, value, button = 'Next') {
  const field = page.getByLabel(label);
  await field.fill(value);
  await press(page.getByRole('button', { name: button, exact: true }));
}

/** The form's error line, once it says `text`. */
/**
 * The form's alert with the stable code `code` (its `data-code`); returns the words the trainee
 * reads, which never carry the code itself (a trainee reads sentences, support reads codes).
 */
async function formError(page, code) {
  const alert = page.locator(`[role=alert][data-code="${code}"]`);
  await alert.waitFor();
  const words = await alert.textContent();
  assert.doesNotMatch(words, /[a-z]+_[a-z_]+|\(|\)/, `the alert shows a raw code: ${words}`);
  return words;
}

/** Activates `user` at the institution with `customerCode`, from the form's first step. */
async function activate(page, customerCode, user, code) {
  await step(page, 'Customer code (4 digits)', customerCode);
  await step(page, 'Login ID', user);
  await step(page, 'Activation code (6 digits)', code, 'Activate');
}

/** Types a PIN on the keypad and confirms it. */
async function typePin(page, pin) {
  await typeOnKeypad(page, pin);
  await press(page.getByRole('button', { name: 'Confirm', exact: true }));
}

for (const kind of ['desktop', 'mobile']) {
  describe(`${kind} viewport`, () => {
    it('activates step by step and tells every failure on its step', async () => {
      const { context, page } = await newDevice(browser, kind);
      const user = newUser(`${kind}-act`);
      await page.goto(`${server.base}/`);
      await page.getByRole('heading', { name: 'Activate cloud OTP' }).waitFor();
      await page.getByText('Step 1 of 3').waitFor();
      await screen(page, 'activate-customer');
      // Korean too; what is typed survives the switch.
      await page.getByLabel('Customer code (4 digits)').fill('12');
      await press(page.getByRole('button', { name: '한국어' }));
      await page.getByRole('heading', { name: '클라우드 OTP 활성화' }).waitFor();
      assert.equal(await page.getByLabel('고객 코드(4자리)').inputValue(), '12');
      await screen(page, 'ko-activate');
      await press(page.getByRole('button', { name: 'English' }));

      // Step 1: the customer code.
      await step(page, 'Customer code (4 digits)', '12');
      assert.match(await formError(page, 'invalid_input'), /4-digit customer code/);
      await step(page, 'Customer code (4 digits)', '9999');
      assert.match(await formError(page, 'unknown_customer'), /No institution has customer code 9999/);
      await screen(page, 'activate-unknown-customer');
      await step(page, 'Customer code (4 digits)', '5555');
      assert.match(await formError(page, 'service_closed'), /customer code 5555 is not open for OTP service/);
      await step(page, 'Customer code (4 digits)', '1234');

      // Step 2: the login ID; the institution is named.
      await page.getByText('Step 2 of 3').waitFor();
      await page.getByText('Institution: Demo Academy (customer code 1234)').waitFor();
      await screen(page, 'activate-login');
      await step(page, 'Login ID', user);

      // Step 3: no activation code was issued for this ID yet: back to step 2 with the reason.
      await page.getByText('Step 3 of 3').waitFor();
      await step(page, 'Activation code (6 digits)', '123456', 'Activate');
      assert.match(await formError(page, 'not_enrolled'), new RegExp(`ID ${user} is not enrolled`));
      assert.equal(await page.getByLabel('Login ID').inputValue(), user, 'the ID is kept');
      const issued = await server.api('POST', `/v1/users/${encodeURIComponent(user)}/activation`, {});
      assert.equal(issued.status, 201, JSON.stringify(issued.body));
      const code = issued.body.activation_code;

      await step(page, 'Login ID', user);
      await step(page, 'Activation code (6 digits)', wrongCode(code), 'Activate');
      assert.match(await formError(page, 'invalid_activation'), /Attempts left: 4\./);
      await screen(page, 'activate-wrong-code');

      // Offline: nothing typed is lost, and trying again works.
      await page.route('**/v1/devices', (route) => route.abort('internetdisconnected'));
      await step(page, 'Activation code (6 digits)', code, 'Activate');
      assert.match(await formError(page, 'network_error'), /Could not reach the OTP server/);
      assert.equal(await page.getByLabel('Activation code (6 digits)').inputValue(), code);
      await page.unroute('**/v1/devices');
      await press(page.getByRole('button', { name: 'Activate', exact: true }));

      // Activated: the code screen, and the site's own code field accepts its code.
      await page.getByText('Type this code where your training site asks for it.').waitFor();
      await page.getByText(`ID ${user}`, { exact: true }).waitFor();
      const shown = await shownCode(page);
      const checked = await server.api('POST', '/v1/check', { user_id: user, code: shown });
      assert.equal(checked.body.success, true, JSON.stringify(checked.body));
      await screen(page, 'activate-done');
      await context.close();

      // The code is single use: another browser cannot activate with it.
      const other = await newDevice(browser, kind);
      await other.page.goto(`${server.base}/`);
      await activate(other.page, '1234', user, code);
      assert.match(await formError(other.page, 'activation_used'), /already used/);
      await screen(other.page, 'activate-used');
      await other.context.close();
    });

    it('holds IDs of two institutions, one with a PIN, behind a switcher', async () => {
      const { context, page } = await newDevice(browser, kind);
      const first = newUser(`${kind}-sw-a`);
      const second = newUser(`${kind}-sw-b`);
      const a = await server.api('POST', `/v1/users/${encodeURIComponent(first)}/activation`, {});
      const b = await pinApi('POST', `/v1/users/${encodeURIComponent(second)}/activation`, {});
      assert.equal(b.status, 201, JSON.stringify(b.body));

      await page.goto(`${server.base}/`);
      await activate(page, '1234', first, a.body.activation_code);
      await shownCode(page);

      // A second ID, at the PIN institution: the PIN is chosen twice on the keypad.
      await press(page.getByRole('button', { name: 'Add an ID' }));
      await activate(page, pinInstitute.code, second, b.body.activation_code);
      await page.getByRole('heading', { name: 'Choose a PIN' }).waitFor();
      await page.getByText('PIN Institute asks for a 6-digit PIN').waitFor();
      await screen(page, 'pin-choose');
      await typePin(page, '135790');
      await page.getByRole('heading', { name: 'Type the PIN again' }).waitFor();
      await typePin(page, '135791');
      await page.getByText('The two PINs differ. Choose a PIN again.').waitFor();
      await typePin(page, '135790');
      await page.getByRole('heading', { name: 'Type the PIN again' }).waitFor();
      await typePin(page, '135790');

      const picker = page.getByLabel('ID', { exact: true });
      await page.getByText(`ID ${second}`, { exact: true }).waitFor();
      assert.deepEqual(await picker.locator('option').allTextContents(), [first, second]);
      const pinCode = await shownCode(page);
      const ok = await pinApi('POST', '/v1/check', { user_id: second, code: pinCode });
      assert.equal(ok.body.success, true, JSON.stringify(ok.body));
      await screen(page, 'switcher');

      await picker.selectOption({ label: first });
      await page.getByText(`ID ${first}`, { exact: true }).waitFor();
      const plain = await shownCode(page);
      const okFirst = await server.api('POST', '/v1/check', { user_id: first, code: plain });
      assert.equal(okFirst.body.success, true, JSON.stringify(okFirst.body));

      // A new visit asks for the PIN again before the code; a wrong PIN gives a code the
      // server refuses and counts.
      await page.reload();
      await page.getByText(`ID ${first}`, { exact: true }).waitFor();
      await page.getByLabel('ID', { exact: true }).selectOption({ label: second });
      await page.getByRole('heading', { name: 'Enter your PIN' }).waitFor();
      await screen(page, 'pin-enter');
      await typePin(page, '000000');
      const fromWrongPin = await shownCode(page);
      const refused = await pinApi('POST', '/v1/check', { user_id: second, code: fromWrongPin });
      assert.equal(refused.body.error, 'invalid_code', JSON.stringify(refused.body));
      assert.equal(refused.body.attempts_left, 4);
      await page.reload();
      await page.getByLabel('ID', { exact: true }).selectOption({ label: second });
      await page.getByRole('heading', { name: 'Enter your PIN' }).waitFor();
      await typePin(page, '135790');
      await page.getByText(`ID ${second}`, { exact: true }).waitFor();
      // The right PIN's code is the right key's: in the step of the first check it is that
      // code again (replayed), after the step changed it is accepted; never invalid_code.
      const rightAgain = await shownCode(page);
      const again = await pinApi('POST', '/v1/check', { user_id: second, code: rightAgain });
      assert.ok(
        again.body.success === true
          || (again.body.error === 'replayed' && rightAgain === pinCode),
        `${rightAgain} after ${pinCode}: ${JSON.stringify(again.body)}`,
      );

      // Removing an ID makes room (10 at most) and keeps the other.
      await press(page.getByRole('button', { name: 'Remove this ID' }));
      await page.getByRole('heading', { name: 'Remove this ID from this browser?' }).waitFor();
      await screen(page, 'remove-id');
      await press(page.getByRole('button', { name: 'Remove', exact: true }));
      await page.getByText(`ID ${first}`, { exact: true }).waitFor();
      await shownCode(page);
      assert.equal(await page.getByLabel('ID', { exact: true }).count(), 0, 'one ID: no switcher');
      await context.close();
    });

    it('keeps the same login ID at two institutions apart', async () => {
      const { context, page } = await newDevice(browser, kind);
      const user = newUser(`${kind}-twin`);
      const path = `/v1/users/${encodeURIComponent(user)}/activation`;
      const here = await server.api('POST', path, {});
      const there = await apiOf(secondAcademy, 'POST', path, {});
      await page.goto(`${server.base}/`);
      await activate(page, '1234', user, here.body.activation_code);
      await shownCode(page);
      await press(page.getByRole('button', { name: 'Add an ID' }));
      await activate(page, secondAcademy.code, user, there.body.activation_code);
      const picker = page.getByLabel('ID', { exact: true });
      await picker.waitFor();
      assert.deepEqual(await picker.locator('option').allTextContents(),
        [`${user} · 1234`, `${user} · ${secondAcademy.code}`]);
      // Each account has its own key: each institution accepts its own code only.
      const second = await shownCode(page);
      await picker.selectOption({ label: `${user} · 1234` });
      await page.waitForFunction((code) =>
        document.querySelector('.digits')?.textContent.replace(/\D/g, '') !== code, second);
      const first = await shownCode(page);
      const ok = await server.api('POST', '/v1/check', { user_id: user, code: first });
      assert.equal(ok.body.success, true, JSON.stringify(ok.body));
      const ok2 = await apiOf(secondAcademy, 'POST', '/v1/check', { user_id: user, code: second });
      assert.equal(ok2.body.success, true, JSON.stringify(ok2.body));
      await context.close();
    });

    it('says when the ID has a device already, and activates this browser instead', async () => {
      const user = newUser(`${kind}-act-replace`);
      const first = await newDevice(browser, kind);
      await register(first.page, server, user);
      await first.context.close();
      const issued = await server.api('POST', `/v1/users/${encodeURIComponent(user)}/activation`, {});
      const { context, page } = await newDevice(browser, kind);
      await page.goto(`${server.base}/`);
      await activate(page, '1234', user, issued.body.activation_code);
      assert.match(await formError(page, 'device_exists'), /already has OTP on another device/);
      await page.getByText(/Activating here retires OTP on Chrome on (Linux|Android)/).waitFor();
      await screen(page, 'activate-exists');
      await press(page.getByRole('button', { name: 'Activate this browser instead' }));
      const code = await shownCode(page);
      const checked = await server.api('POST', '/v1/check', { user_id: user, code });
      assert.equal(checked.body.success, true, JSON.stringify(checked.body));
      await context.close();
    });

    it('asks for a PIN when the embedded widget registers at a PIN institution', async () => {
      const { context, page } = await newDevice(browser, kind);
      const user = newUser(`${kind}-pin-widget`);
      const opened = await pinApi('POST', '/v1/sessions', { user_id: user, purpose: 'exam' });
      assert.equal(opened.status, 201, JSON.stringify(opened.body));
      await page.goto(`${server.base}/?session=${encodeURIComponent(opened.body.session)}`);
      await press(page.getByRole('button', { name: 'Register cloud OTP' }));
      await press(page.getByRole('button', { name: 'Confirm', exact: true }));
      await page.getByRole('heading', { name: 'Choose a PIN' }).waitFor();
      await typePin(page, '246802');
      await typePin(page, '246802');
      const code = await shownCode(page);
      await typeOnKeypad(page, code);
      await press(page.getByRole('button', { name: 'Confirm', exact: true }));
      await page.getByRole('heading', { name: 'OTP confirmed' }).waitFor();
      await context.close();
    });
  });
}
