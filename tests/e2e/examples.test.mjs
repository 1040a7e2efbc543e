// The complete pages of docs/examples.md, run as a real training site
// (examples/training-site/server.mjs, its own process and origin) against the real server, in
// Chromium, Firefox and WebKit: the plain HTML page, the Vue component and the server-rendered
// form each take a trainee from registration to the site's own verdict from siteverify. The
// pages in the docs are checked to be these files, so the docs show what is tested.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  button, engines, freePort, newUser, openDevice, root, startServer, text, wrongCode,
} from './harness.mjs';

const example = join(root, 'examples/training-site');
let server;
const sites = [];
let siteOrigin;
let testOrigin;

/**
 * Starts examples/training-site/server.mjs for a new institution (`tenant create` with `args`)
 * with `env`; resolves to the site's origin.
 */
async function startExample(code, args = [], env = {}) {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const apiKey = server.cli('tenant', 'create', '--name', 'Example Academy', '--customer-code', code,
    '--origin', origin, ...args).trim().split('\n').pop().trim();
  const site = spawn(process.execPath, [join(example, 'server.mjs')], {
    env: { ...process.env, CLOUD_OTP_SERVER: server.base, CLOUD_OTP_API_KEY: apiKey, PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  sites.push(site);
  let log = '';
  site.stderr.on('data', (chunk) => { log += chunk; });
  await new Promise((done, fail) => {
    site.stdout.on('data', (chunk) => { if (String(chunk).includes('training site on')) done(); });
    site.on('exit', (status) => fail(new Error(`the training site exited with ${status}: ${log}`)));
  });
  return origin;
}

before(async () => {
  server = await startServer();
  siteOrigin = await startExample('7777');
  // The same site in its own CI: a test institution whose every code passes.
  testOrigin = await startExample('7778', ['--test', 'always-pass'], { CLOUD_OTP_TEST: '1' });
});

after(async () => {
  for (const site of sites) site.kill('SIGTERM');
  await server?.stop();
});

it('docs/examples.md shows each complete page exactly as the tested file', () => {
  const docs = readFileSync(join(root, 'docs/examples.md'), 'utf8');
  for (const name of ['plain.html', 'vue.html', 'cloud-otp-vue.js', 'server.mjs']) {
    const file = readFileSync(join(example, name), 'utf8');
    assert.ok(docs.includes(file), `docs/examples.md does not hold examples/training-site/${name} as it is`);
  }
});

for (const engine of engines) {
  describe(engine, () => {
    let device;
    before(async () => { device = await openDevice(engine); });
    after(async () => { await device?.close(); });

    /** Registers this browser for a new trainee on `page` and types the code it then shows. */
    async function passOn(page) {
      const user = newUser(`example-${page}`);
      await device.goto(`${siteOrigin}/${page}?user=${encodeURIComponent(user)}`);
      await device.click(button('Register cloud OTP'));
      await device.click(button('Confirm', true));
      const code = await device.code();
      await device.keypad(code);
      await device.click(button('Confirm', true));
      return user;
    }

    for (const page of ['plain', 'vue']) {
      it(`the ${page} page hands the pass to its backend, which siteverify confirms`, async () => {
        const user = await passOn(page);
        await device.waitFor(text(`Passed: ${user} may start the exam.`));
        await device.screen(`example-${page}`);
      });
    }

    it('a test institution\'s widget says it is testing only, and any code passes in the site\'s CI', async () => {
      const user = newUser('example-ci');
      await device.goto(`${testOrigin}/plain?user=${encodeURIComponent(user)}`);
      await device.click(button('Register cloud OTP'));
      await device.click(button('Confirm', true));
      await device.waitFor(text('Testing only: a test institution, not a real check'));
      const code = await device.code();
      await device.keypad(wrongCode(code));
      await device.click(button('Confirm', true));
      await device.waitFor(text(`Passed: ${user} may start the exam.`));
      await device.screen('example-test-institution');
    });

    it('the server-rendered form refuses a submission before the trainee passed', async () => {
      await device.goto(`${siteOrigin}/form?user=${encodeURIComponent(newUser('example-early'))}`);
      // Once the widget has drawn its screen, which moves the button down.
      await device.waitFor(button('Register cloud OTP'));
      await device.click(button('Start the exam'));
      await device.waitFor(text('Not passed (no_pass).'));
    });

    it('the server-rendered form posts the pass in its hidden field, with no script of the site\'s own', async () => {
      const user = await passOn('form');
      // The pass reaches the field once the server accepted the code.
      let field = '';
      for (let i = 0; i < 200 && !field; i++) {
        field = await device.eval(() => new FormData(document.querySelector('form')).get('cloud-otp-pass'));
        if (!field) await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(field || '', /\S{20,}/, 'the form holds the pass');
      await device.screen('example-form-page');
      await device.click(button('Start the exam'));
      await device.waitFor(text(`Passed: ${user} may start the exam.`));
      await device.screen('example-form');
    });
  });
}
