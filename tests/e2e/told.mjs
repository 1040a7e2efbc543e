// What the page is told by the widget, as the tests read it: a recorder of the <cloud-otp>
// element's events (cloud-otp-pass, cloud-otp-error) and the helpers that read and compare
// its record, for the WebDriver tests of every engine.
import assert from 'node:assert/strict';

/**
 * Records the events the widget tells the page, on the <cloud-otp> element, as JSON in its
 * `data-told`: WebDriver's scripts run beside the page (in Firefox, in a sandbox), and both
 * read the DOM. It runs in the lesson page (told.js, before the widget mounts) and, through
 * `device.eval`, in the demo site's.
 */
export function recordEvents() {
  const element = document.querySelector('cloud-otp');
  const seen = [];
  for (const type of ['cloud-otp-pass', 'cloud-otp-error']) {
    element.addEventListener(type, (event) => {
      seen.push({ type: event.type, detail: event.detail });
      element.dataset.told = JSON.stringify(seen);
    });
  }
}

/** The events recorded on the page's <cloud-otp> element so far, in order. */
export async function told(device) {
  return JSON.parse(await device.eval(() => document.querySelector('cloud-otp').dataset.told || '[]'));
}

/** A `cloud-otp-error` event's record, with `code` and the rest of its detail. */
export const error = (code, more = {}) => ({ type: 'cloud-otp-error', detail: { code, ...more } });

/** The recorded events, each pass's detail checked and left out (a pass is new each time). */
export async function toldWithoutPasses(device) {
  return (await told(device)).map((e) => {
    if (e.type !== 'cloud-otp-pass') return e;
    assert.match(e.detail.pass, /^\S{16,}$/);
    assert.ok(Date.parse(e.detail.expiresAt) > Date.now(), `the pass expires later: ${e.detail.expiresAt}`);
    return { type: e.type };
  });
}
