// The built web app stays within its size budget (docs/benchmarks.md): every file a browser
// loads, compressed with gzip -9 (the page, its scripts, style sheet and module, the service
// worker and the manifest), under the budget of harness.mjs (61 KiB; the target is 60); the
// installed app's icons, which no browser loads to show a code, under a budget of their own.
// gzip -9 of the same bytes is the same size on every machine, so this is a check of the
// build, not a timing.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { appSize, iconBudget, sizeBudget } from './harness.mjs';

it(`the built app is under ${sizeBudget / 1024} KiB with gzip -9`, () => {
  const { total, files } = appSize();
  assert.ok(files['cloud-otp-web_bg.wasm'] > 0, `the module was built (${JSON.stringify(files)})`);
  assert.ok(
    total < sizeBudget,
    `${total} bytes is ${total - sizeBudget} over the budget of ${sizeBudget}: ${JSON.stringify(files)}`,
  );
});

it(`the installable app's worker and manifest count, and its icons are under ${iconBudget / 1024} KiB`, () => {
  const { files } = appSize();
  for (const name of ['sw.js', 'manifest.webmanifest']) {
    assert.ok(files[name] > 0, `${name} is built and counted (${JSON.stringify(files)})`);
  }
  const icons = appSize({ icons: true });
  assert.deepEqual(Object.keys(icons.files), ['apple-touch-icon.png', 'icon-192.png', 'icon-512.png']);
  assert.ok(
    icons.total < iconBudget,
    `the icons' ${icons.total} bytes are over their budget of ${iconBudget}: ${JSON.stringify(icons.files)}`,
  );
});
