// Measures the web app's budgets (issue 7; reported in docs/benchmarks.md; size.test.mjs
// asserts the size budget):
//   size: dist/ (wasm + JS + CSS + HTML) compressed with gzip -9, budget 60 KiB, beside the
//         same job done with the npm otpauth library bundled by esbuild (bench/node);
//   speed: navigation start to the first code on screen on the standalone page, for a browser
//          that is already registered, on localhost: the median of 20 loads, budget 150 ms;
//   WebCrypto: codes per second in the page (HMAC-SHA-1 of a non-extractable key, then the
//          dynamic truncation), one at a time and 64 at once, 3 rounds of 2 s each.
// Usage (after building, like run.sh): node tests/e2e/bench.mjs   (prints JSON)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  appSize, launch, newDevice, newUser, register, root, startServer,
} from './harness.mjs';

const { total, files } = appSize();

// The otpauth way, bundled and minified as a site would ship it.
const node = resolve(root, 'bench/node');
if (!existsSync(join(node, 'node_modules/esbuild'))) {
  execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: node });
}
const bundle = join(mkdtempSync(join(tmpdir(), 'cloud-otp-bench-')), 'otpauth-app.js');
execFileSync(join(node, 'node_modules/.bin/esbuild'), [
  join(node, 'otpauth-app.mjs'), '--bundle', '--minify', '--format=esm', `--outfile=${bundle}`,
  '--log-level=warning',
]);
const otpauthGzip = gzipSync(readFileSync(bundle), { level: 9 }).length;

const server = await startServer();
const browser = await launch();
const loads = [];
const webcrypto = [];

/** Runs in the page: WebCrypto codes per second, sequential and 64 in flight. */
async function codesPerSecond() {
  const key = await crypto.subtle.importKey(
    'raw', new TextEncoder().encode('12345678901234567890'),
    { name: 'HMAC', hash: 'SHA-1' }, false, ['sign']);
  const code = async (counter) => {
    const msg = new DataView(new ArrayBuffer(8));
    msg.setBigUint64(0, BigInt(counter));
    const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, msg));
    const o = mac[19] & 0xf;
    const bin = ((mac[o] & 0x7f) << 24) | (mac[o + 1] << 16) | (mac[o + 2] << 8) | mac[o + 3];
    return String(bin % 1e6).padStart(6, '0');
  };
  const measure = async (parallel) => {
    let n = 0;
    const start = performance.now();
    while (performance.now() - start < 2000 && n < 5e6) {
      await Promise.all(Array.from({ length: parallel }, (_, i) => code(n + i)));
      n += parallel;
    }
    return Math.round(n / ((performance.now() - start) / 1000));
  };
  return { sequential: await measure(1), parallel64: await measure(64) };
}

try {
  const { page } = await newDevice(browser, 'desktop');
  await register(page, server, newUser('bench'));
  // Records when the digits first read "123 456", in ms since navigation start.
  await page.context().addInitScript(() => {
    new MutationObserver((_, observer) => {
      const digits = document.querySelector('.digits');
      if (digits && /^\d{3} \d{3}$/.test(digits.textContent)) {
        window.__firstCode = performance.now();
        observer.disconnect();
      }
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });
  for (let i = 0; i < 21; i++) {
    await page.goto(`${server.base}/`);
    await page.waitForFunction(() => window.__firstCode !== undefined);
    // The first load warms the HTTP cache and the compiled-module cache, like a returning trainee.
    if (i > 0) loads.push(await page.evaluate(() => window.__firstCode));
  }
  for (let round = 0; round < 3; round++) {
    webcrypto.push(await page.evaluate(codesPerSecond));
  }
} finally {
  await browser.close();
  await server.stop();
}

loads.sort((a, b) => a - b);
const median = (loads[9] + loads[10]) / 2;
console.log(JSON.stringify({
  gzip_bytes: { total, files },
  gzip_kib: Math.round((total / 1024) * 10) / 10,
  otpauth_esbuild_gzip_bytes: otpauthGzip,
  webcrypto_codes_per_s: webcrypto,
  first_code_ms: {
    median: Math.round(median * 10) / 10,
    min: Math.round(loads[0] * 10) / 10,
    max: Math.round(loads[loads.length - 1] * 10) / 10,
    loads: loads.length,
  },
}, null, 2));
