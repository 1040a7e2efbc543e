// Where the time to the first code goes: for a registered browser on the standalone page, the
// moments (ms since navigation start) at which the page's own calls start (>) and settle (<):
// fetch, WebAssembly instantiation, IndexedDB open/get/getAll, navigator.storage.persisted,
// WebCrypto importKey/sign, and when the code is first on screen (CODE); then, per file, when
// it was asked for, when it arrived and its transferSize (0: from the cache; about 300: a 304).
// One warm-up load, then LOADS (default 8) loads, one line each. docs/benchmarks-history.md reads it.
// Usage (after building, like run.sh): CLOUD_OTP_BIN=target/debug/cloud-otp node tests/e2e/timeline.mjs
import { launch, newDevice, newUser, register, startServer } from './harness.mjs';

const loads = Number(process.env.LOADS || 8);
const server = await startServer();
const browser = await launch();
try {
  const { page } = await newDevice(browser, 'desktop');
  await register(page, server, newUser('timeline'));
  await page.context().addInitScript(() => {
    const marks = (window.__marks = []);
    const mark = (name) => marks.push(`${name}@${Math.round(performance.now() * 10) / 10}`);
    const wrap = (object, method, name) => {
      const original = object[method];
      object[method] = function (...args) {
        mark(`${name}>`);
        const result = original.apply(this, args);
        if (result && typeof result.then === 'function') {
          result.then(() => mark(`${name}<`), () => mark(`${name}!`));
        }
        return result;
      };
    };
    wrap(WebAssembly, 'instantiateStreaming', 'wasm');
    wrap(WebAssembly, 'instantiate', 'wasm');
    wrap(window, 'fetch', 'fetch');
    wrap(SubtleCrypto.prototype, 'importKey', 'import');
    wrap(SubtleCrypto.prototype, 'sign', 'sign');
    wrap(IDBFactory.prototype, 'open', 'idbopen');
    wrap(IDBObjectStore.prototype, 'get', 'idbget');
    wrap(IDBObjectStore.prototype, 'getAll', 'idbgetall');
    wrap(StorageManager.prototype, 'persisted', 'persisted');
    mark('script');
    new MutationObserver((_, observer) => {
      const digits = document.querySelector('.digits');
      if (digits && /^\d{3} \d{3}$/.test(digits.textContent)) {
        mark('CODE');
        observer.disconnect();
      }
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });
  for (let i = 0; i <= loads; i++) {
    await page.goto(`${server.base}/`);
    await page.waitForFunction(() => window.__marks.some((m) => m.startsWith('CODE@')));
    const marks = await page.evaluate(() => window.__marks.join(' '));
    const files = await page.evaluate(() => performance.getEntriesByType('resource').map((r) =>
      `${new URL(r.name).pathname} ${Math.round(r.startTime)}-${Math.round(r.responseEnd)} ms ${r.transferSize} B`));
    // The first load warms the caches, like the benchmark's.
    if (i > 0) console.log(`${marks}\n    ${files.join(', ')}`);
  }
} finally {
  await browser.close();
  await server.stop();
}
