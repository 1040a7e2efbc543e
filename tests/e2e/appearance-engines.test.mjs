// The widget's appearance in the three engines over WebDriver (harness.mjs openDevice): on a
// light system, theme="dark" and size="compact" in a 280-pixel sidebar; on a dark system (the
// engine's own switch: Chromium's --force-dark-mode, Firefox's ui.systemUsesDarkTheme,
// WebKitGTK's GTK theme), the dark theme with no attribute and theme="light". English and
// Korean, the code screen and the wrong-code screen: axe-core (colour contrast included), the
// computed colours, and screenshots under target/screenshots/appearance/. Playwright's checks
// of the other alerts and the standalone page are in appearance.test.mjs.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { button, engines, newUser, openDevice, startServer, text, wrongCode } from './harness.mjs';
import { appearance, fits, luminance, words } from './appearance.mjs';
import { startSite } from './appearance-site.mjs';

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

// On each system: the element's attributes, and whether the widget must come out dark.
const systems = {
  light: [
    { name: 'dark', theme: 'dark', dark: true },
    { name: 'compact', size: 'compact', dark: false },
  ],
  dark: [
    { name: 'auto-dark', dark: true },
    { name: 'light', theme: 'light', dark: false },
  ],
};

for (const engine of engines) {
  describe(engine, () => {
    for (const [system, cases] of Object.entries(systems)) {
      it(`on a ${system} system: ${cases.map((c) => c.name).join(', ')}, in English and Korean`, async () => {
        const device = await openDevice(engine, { dark: system === 'dark' });
        try {
          assert.equal(await device.eval(() => matchMedia('(prefers-color-scheme: dark)').matches), system === 'dark',
            `${engine} reports a ${system} system`);
          for (const c of cases) {
            for (const lang of ['en', 'ko']) {
              const label = `${engine} ${c.name} ${lang}`;
              const width = c.size ? 280 : 720;
              await device.goto(site.url(newUser(`${engine}-look`), { theme: c.theme, size: c.size, lang, width }));
              await device.click(button(words[lang].register));
              await device.click(button(words[lang].confirm, true));
              const code = await device.code();
              const seen = await device.eval(appearance);
              if (c.dark) {
                assert.ok(luminance(seen.card) < 0.05, `${label}: a dark card: ${seen.card}`);
                assert.ok(luminance(seen.host) < 0.05, `${label}: a dark box: ${seen.host}`);
                assert.ok(luminance(seen.ink) > 0.6, `${label}: light text: ${seen.ink}`);
              } else {
                assert.ok(luminance(seen.card) > 0.9, `${label}: a light card: ${seen.card}`);
                assert.ok(luminance(seen.ink) < 0.05, `${label}: dark text: ${seen.ink}`);
                if (c.theme === 'light') assert.ok(luminance(seen.host) > 0.8, `${label}: a light box: ${seen.host}`);
              }
              if (c.size) {
                assert.equal(seen.width, 280);
                assert.deepEqual(await device.eval(fits), [], `${label}: nothing wider than the sidebar`);
              }
              await device.screen(`${c.name}-${lang}-code`, { folder: 'appearance' });

              await device.keypad(wrongCode(code));
              await device.click(button(words[lang].confirm, true));
              await device.waitFor(text(words[lang].wrong));
              if (c.size) assert.deepEqual(await device.eval(fits), [], `${label}: the wrong-code screen fits`);
              await device.screen(`${c.name}-${lang}-wrong`, { folder: 'appearance' });
            }
          }
        } finally {
          await device.close();
        }
      });
    }
  });
}
