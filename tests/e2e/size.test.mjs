// The built web app stays within its size budget (docs/benchmarks.md): what a browser downloads
// on a first visit, compressed with gzip -9, for each way in (harness.mjs `entries`): the
// standalone page (its scripts, style sheet and module, the service worker and the manifest),
// and a site's page with the widget (cloud-otp.js and the same module and style sheet); each
// under the budget of harness.mjs (61 KiB; the target is 60). The installed app's icons, which
// no browser loads to show a code, are under a budget of their own. gzip -9 of the same bytes
// is the same size on every machine, so this is a check of the build, not a timing.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { appSize, entries, iconBudget, sizeBudget } from './harness.mjs';

for (const entry of Object.keys(entries)) {
  it(`the ${entry}'s first visit is under ${sizeBudget / 1024} KiB with gzip -9`, () => {
    const { total, files } = appSize({ entry });
    assert.deepEqual(Object.keys(files).sort(), [...entries[entry]].sort(), 'every file of it was built');
    assert.ok(
      total < sizeBudget,
      `${total} bytes is ${total - sizeBudget} over the budget of ${sizeBudget}: ${JSON.stringify(files)}`,
    );
  });
}

it('every built file is loaded by a way in, or is an icon: none escapes the budget', () => {
  const counted = new Set(Object.values(entries).flat());
  assert.deepEqual(Object.keys(appSize().files).filter((n) => !counted.has(n)), []);
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
