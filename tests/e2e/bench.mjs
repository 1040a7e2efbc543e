// Measures the web app's two budgets (issue 5; reported in docs/benchmarks.md, not asserted):
//   size: dist/ (wasm + JS + CSS + HTML) compressed with gzip -9, budget 60 KiB;
//   speed: navigation start to the first code on screen on the standalone page, for a browser
//          that is already registered, on localhost: the median of 20 loads, budget 150 ms.
// Usage (after building, like run.sh): node tests/e2e/bench.mjs   (prints JSON)
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { launch, newDevice, newUser, register, root, startServer } from './harness.mjs';

const dist = resolve(root, process.env.CLOUD_OTP_DIST || 'dist');
const files = {};
let total = 0;
for (const name of readdirSync(dist).sort()) {
  const gz = gzipSync(readFileSync(join(dist, name)), { level: 9 }).length;
  files[name] = gz;
  total += gz;
}

const server = await startServer();
const browser = await launch();
const loads = [];
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
} finally {
  await browser.close();
  await server.stop();
}

loads.sort((a, b) => a - b);
const median = (loads[9] + loads[10]) / 2;
console.log(JSON.stringify({
  gzip_bytes: { total, files },
  gzip_kib: Math.round((total / 1024) * 10) / 10,
  first_code_ms: {
    median: Math.round(median * 10) / 10,
    min: Math.round(loads[0] * 10) / 10,
    max: Math.round(loads[loads.length - 1] * 10) / 10,
    loads: loads.length,
  },
}, null, 2));
