// The standalone trainee page, the installable app: mounts the widget with the session from
// ?session= (a training site that sends the trainee here), or without one to show this
// browser's codes, and registers the service worker (www/sw.js) that lets the installed app
// open with no network. A file, not an inline script: the server's Content-Security-Policy
// forbids inline scripts.
import init, { mount } from './cloud-otp-web.js';

await init();
const n = navigator;
const ua = n.userAgent;
// Safari on an iPhone or iPad (iPadOS reports a Mac, but a Mac has no touch screen), not
// already the Home Screen app: it is told once, until dismissed, to add the app to the Home
// Screen (docs/browsers.md). Chrome, Firefox and Edge on iOS name themselves.
let advise = false;
try {
  advise =
    (/iP(hone|ad|od)/.test(ua) || (/Macintosh/.test(ua) && n.maxTouchPoints > 1)) &&
    !/CriOS|FxiOS|EdgiOS/.test(ua) &&
    !n.standalone &&
    !matchMedia('(display-mode: standalone)').matches &&
    !localStorage.getItem('cloud-otp-advised') &&
    (() => localStorage.setItem('cloud-otp-advised', 1));
} catch {
  // Storage refused (Safari set to block all cookies): no advice; the widget tells the rest.
}
mount(document.getElementById('otp'), {
  session: new URLSearchParams(location.search).get('session'),
  app: true,
  advise,
});
// Asked again on every visit: the worker answers the page from its copy, and a new build is a
// new worker. Offline the check fails, quietly.
n.serviceWorker?.register('/sw.js').then((r) => r.update()).catch(() => {});
