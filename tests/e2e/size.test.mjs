// The built web app stays within its size budget (docs/benchmarks.md): every file a browser
// loads, compressed with gzip -9, under the budget of harness.mjs (61 KiB; the target is 60). gzip -9 of the same bytes is the same
// size on every machine, so this is a check of the build, not a timing.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { appSize, sizeBudget } from './harness.mjs';

it(`the built app is under ${sizeBudget / 1024} KiB with gzip -9`, () => {
  const { total, files } = appSize();
  assert.ok(files['cloud-otp-web_bg.wasm'] > 0, `the module was built (${JSON.stringify(files)})`);
  assert.ok(
    total < sizeBudget,
    `${total} bytes is ${total - sizeBudget} over the budget of ${sizeBudget}: ${JSON.stringify(files)}`,
  );
});
