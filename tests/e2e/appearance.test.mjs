// The widget's appearance in Chromium (Playwright, which emulates the system's colour scheme):
// the dark theme by the system's choice and by theme="dark", the light theme forced by
// theme="light" while the system prefers dark, and size="compact" in a 280-pixel sidebar, in
// English and Korean, on the code screen and the wrong-code, hint and suspended screens; the
// standalone page following the system, with the Home Screen advice and an activation error.
// Each screen gets axe-core (colour contrast included) and a screenshot under
// target/screenshots/appearance/ (desktop-*.png, mobile-*.png). The same in Chromium, Firefox
// and WebKit over WebDriver: appearance-engines.test.mjs (ENGINE-*.png).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  IPHONE, newDevice, newUser, press, screen, serverAndBrowser, shownCode, typeOnKeypad, wrongCode,
} from './harness.mjs';
import { appearance, contrast, fits, focusRing, luminance, words } from './appearance.mjs';
import { startSite } from './appearance-site.mjs';

let server;
let browser;
let site;

serverAndBrowser(async (s, b) => {
  server = s;
  browser = b;
  site = await startSite(s);
});
after(() => site?.close());

/** A device with the system's colour scheme `scheme`, on the site's page with `attrs`. */
async function open(scheme, attrs, user) {
  const { context, page } = await newDevice(browser, 'desktop', { colorScheme: scheme });
  page.kind = 'appearance/desktop';
  await page.goto(site.url(user, attrs));
  await page.locator('cloud-otp h2').first().waitFor();
  return { context, page };
}

/** Registers the page's browser (in the element's language); leaves it on the code screen. */
async function register(page, lang) {
  await press(page.getByRole('button', { name: words[lang].register }));
  await press(page.getByRole('button', { name: words[lang].confirm, exact: true }));
  return shownCode(page);
}

/** What the computed styles say: the element's box, a card, the text (appearance.mjs). */
const look = (page) => page.evaluate(appearance);

// theme, the system's scheme, and whether the widget must come out dark.
const cases = [
  { name: 'dark', theme: 'dark', scheme: 'light', dark: true },
  { name: 'auto-dark', theme: undefined, scheme: 'dark', dark: true },
  { name: 'light', theme: 'light', scheme: 'dark', dark: false },
  { name: 'auto-light', theme: 'auto', scheme: 'light', dark: false },
  { name: 'compact', theme: undefined, scheme: 'light', dark: false, size: 'compact' },
  { name: 'compact-dark', theme: 'dark', scheme: 'light', dark: true, size: 'compact' },
];

for (const lang of ['en', 'ko']) {
  describe(`${lang}`, () => {
    for (const c of cases) {
      it(`${c.name}: theme=${c.theme ?? '(none)'} size=${c.size ?? '(none)'} with a ${c.scheme} system`, async () => {
        const user = newUser(`look-${c.name}`);
        const width = c.size ? 280 : 720;
        const { context, page } = await open(c.scheme, { theme: c.theme, size: c.size, lang, width }, user);
        try {
          const code = await register(page, lang);
          const seen = await look(page);
          if (c.dark) {
            assert.ok(luminance(seen.card) < 0.05, `a dark card: ${seen.card}`);
            assert.ok(luminance(seen.host) < 0.05, `a dark box of its own: ${seen.host}`);
            assert.ok(luminance(seen.ink) > 0.6, `light text: ${seen.ink}`);
          } else {
            assert.ok(luminance(seen.card) > 0.9, `a light card: ${seen.card}`);
            assert.ok(luminance(seen.ink) < 0.05, `dark text: ${seen.ink}`);
            // A light theme the system chose draws on the site's page, as before; a forced one
            // paints its own light box (here on the dark page of a dark system).
            if (c.theme === 'light') assert.ok(luminance(seen.host) > 0.8, `a light box: ${seen.host}`);
            else assert.equal(seen.host, 'rgba(0, 0, 0, 0)');
          }
          assert.equal(seen.scheme, c.theme === 'dark' || c.theme === 'light' ? c.theme : 'light dark');
          if (c.size) {
            assert.deepEqual(await page.evaluate(fits), [], 'nothing wider than the 280-pixel sidebar');
            assert.equal(seen.width, 280);
          }
          // The keyboard's focus ring (the first key after the field) stands out from the card.
          await page.getByRole('button', { name: '1', exact: true }).focus();
          await page.keyboard.press('Shift+Tab');
          await page.keyboard.press('Tab');
          const ring = await page.evaluate(focusRing);
          assert.equal(ring?.name, '1', 'the keyboard is on key 1');
          assert.equal(ring.style, 'solid');
          assert.ok(contrast(ring.color, seen.card) >= 3, `the focus ring ${ring.color} on the card ${seen.card}`);
          await screen(page, `${c.name}-${lang}-code`);

          await typeOnKeypad(page, wrongCode(code));
          await press(page.getByRole('button', { name: words[lang].confirm, exact: true }));
          await page.getByText(words[lang].wrong).waitFor();
          if (c.size) assert.deepEqual(await page.evaluate(fits), [], 'the wrong-code screen fits too');
          await screen(page, `${c.name}-${lang}-wrong`);
        } finally {
          await context.close();
        }
      });
    }
  });
}

describe('the other alerts in dark', () => {
  it('suspended, after five wrong codes, is readable in dark', async () => {
    const { context, page } = await open('dark', { lang: 'en' }, newUser('look-suspended'));
    try {
      const code = await register(page, 'en');
      for (let i = 0; i < 5; i++) {
        await typeOnKeypad(page, wrongCode(code));
        await press(page.getByRole('button', { name: 'Confirm', exact: true }));
        if (i < 4) await page.getByText(`Attempts left before OTP is suspended: ${4 - i}.`).waitFor();
      }
      await page.getByRole('heading', { name: 'OTP is suspended' }).waitFor();
      await screen(page, 'auto-dark-en-suspended');
    } finally {
      await context.close();
    }
  });

  it('the hint near the end of a step is readable in dark', async () => {
    const { context, page } = await open('dark', { lang: 'en' }, newUser('look-hint'));
    try {
      await register(page, 'en');
      // The server's clock as this page sees it: 5 seconds before the end of a step.
      await page.route('**/v1/time', (route) => {
        const now = Date.now();
        route.fulfill({ json: { now_ms: now - (now % 60000) + 55000 } });
      });
      await page.reload();
      await page.getByText('This code changes in a few seconds: you can wait for the next one.').waitFor();
      await screen(page, 'auto-dark-en-hint');
    } finally {
      await context.close();
    }
  });

  it('the standalone page follows a dark system: the Home Screen advice and an activation error', async () => {
    const { context, page } = await newDevice(browser, 'mobile', { colorScheme: 'dark', userAgent: IPHONE });
    page.kind = 'appearance/mobile';
    try {
      await page.goto(`${server.base}/`);
      await page.getByRole('heading', { name: 'Add Cloud OTP to your Home Screen' }).waitFor();
      const seen = await page.evaluate(() => ({
        scheme: getComputedStyle(document.documentElement).colorScheme,
        body: getComputedStyle(document.body).backgroundColor,
      }));
      assert.equal(seen.scheme, 'light dark');
      assert.ok(luminance(seen.body) < 0.05, `a dark page: ${seen.body}`);
      await screen(page, 'standalone-dark-advice');
      await page.getByLabel('Customer code (4 digits)').fill('9999');
      await press(page.getByRole('button', { name: 'Next', exact: true }));
      await page.getByText('No institution has customer code 9999').waitFor();
      await screen(page, 'standalone-dark-error');
    } finally {
      await context.close();
    }
  });
});
