// Measures the web app's budgets (issue 7; reported in docs/benchmarks.md; size.test.mjs
// asserts the size budget):
//   size: dist/ (wasm + JS + CSS + HTML) compressed with gzip -9, all of it and what each way in
//         (the standalone page, the embedded widget) downloads on a first visit, beside the
//         same job done with the npm otpauth library bundled by esbuild (bench/node);
//   speed: navigation start to the first code on screen on the standalone page, for a browser
//          that is already registered, on localhost: the median of 20 loads (BENCH_LOADS) after
//          a warm-up, budget 150 ms. In Chromium (Playwright) with the app's service worker and
//          with service workers blocked, beside, and the median of the differences of the two in
//          each turn; then in each engine (harness.mjs `engines`: Chromium, Firefox, WebKit,
//          over WebDriver) with the worker, as the app ships, once the worker controls the page.
//          Every engine is read the same way: the app's own User Timing mark
//          `cloud-otp:first-code` (docs/widget.md), made as it sets the digits; nothing of the
//          benchmark's runs in the page before it;
//   WebCrypto: codes per second in the page (HMAC-SHA-1 of a non-extractable key, then the
//          dynamic truncation), one at a time and 64 at once, 3 rounds of 2 s each.
// Usage (after building, like run.sh): node tests/e2e/bench.mjs   (prints JSON; CLOUD_OTP_ENGINES
// as in run.sh)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  appSize, engines, launch, newDevice, newUser, openDevice, register, root, startServer,
} from './harness.mjs';

const { total, files } = appSize();
const firstVisit = { page: appSize({ entry: 'page' }).total, widget: appSize({ entry: 'widget' }).total };

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
const count = Number(process.env.BENCH_LOADS ?? 20);
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

/** Runs in the page: the app's mark of its first code, in ms since navigation start, once made. */
function firstCodeMark() {
  return new Promise((done) => {
    (function poll() {
      const [mark] = performance.getEntriesByName('cloud-otp:first-code');
      if (mark) done(mark.startTime);
      else setTimeout(poll, 10);
    })();
  });
}

/** A registered Chromium browser; `options` go to the browser context. */
async function returningBrowser(options) {
  const { page } = await newDevice(browser, 'desktop', options);
  await register(page, server, newUser('bench'));
  return page;
}

/** One load of the standalone page: ms from navigation start to the first code. */
async function firstCode(page) {
  await page.goto(`${server.base}/`);
  return page.evaluate(firstCodeMark);
}

/** `count` loads of the standalone page in a registered browser of `engine` (WebDriver), with
 *  the worker: ms from navigation start to the first code of each. */
async function engineLoads(engine) {
  const device = await openDevice(engine);
  try {
    await device.register(server, newUser(`bench-${engine}`));
    // The warm-up: the first load fills the caches and installs the worker, the next is its.
    await device.goto(`${server.base}/`);
    await device.controlled(`${server.base}/`);
    const times = [];
    for (let i = 0; i < count; i++) {
      await device.goto(`${server.base}/`);
      times.push(await device.driver.executeAsyncScript(
        `(${firstCodeMark})().then(arguments[arguments.length - 1]);`));
    }
    return times;
  } finally {
    await device.close();
  }
}

const withoutWorker = [];
const byEngine = {};
try {
  // The installed app's service worker answers the page when the network fails; a return
  // visit must not be slower for it: a browser with it and one with service workers blocked,
  // loading in turn so that both see the same moments of the machine. The first load of each
  // warms the HTTP cache and the compiled-module cache, like a returning trainee.
  const page = await returningBrowser({});
  const blocked = await returningBrowser({ serviceWorkers: 'block' });
  for (let i = 0; i <= count; i++) {
    const a = await firstCode(page);
    const b = await firstCode(blocked);
    if (i > 0) {
      loads.push(a);
      withoutWorker.push(b);
    }
  }
  await blocked.context().close();
  for (let round = 0; round < 3; round++) {
    webcrypto.push(await page.evaluate(codesPerSecond));
  }
  // Playwright's Chromium closed first, then one engine at a time: the machine has two cores.
  await browser.close();
  for (const engine of engines) byEngine[engine] = spread(await engineLoads(engine));
} finally {
  await browser.close();
  await server.stop();
}

/** Median, min and max of load times, rounded to 0.1 ms. */
function spread(times) {
  const t = [...times].sort((a, b) => a - b);
  const r = (x) => Math.round(x * 10) / 10;
  const half = t.length >> 1;
  const median = t.length % 2 ? t[half] : (t[half - 1] + t[half]) / 2;
  return { median: r(median), min: r(t[0]), max: r(t[t.length - 1]), loads: t.length };
}

console.log(JSON.stringify({
  gzip_bytes: { total, files },
  gzip_bytes_first_visit: firstVisit,
  gzip_kib: Math.round((total / 1024) * 10) / 10,
  otpauth_esbuild_gzip_bytes: otpauthGzip,
  webcrypto_codes_per_s: webcrypto,
  first_code_ms: spread(loads),
  first_code_ms_service_workers_blocked: spread(withoutWorker),
  // Each turn's two loads saw the same moment of the machine: the worker's own cost.
  first_code_ms_worker_minus_blocked: spread(loads.map((a, i) => a - withoutWorker[i])),
  // With the worker, over WebDriver: Chromium again beside the other two, the same way.
  first_code_ms_by_engine: byEngine,
}, null, 2));
