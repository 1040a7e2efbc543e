// The installable app's service worker (docs/integration.md, "The installable app"): it keeps
// the standalone page and the files it loads, so the app opens and shows codes with no network.
// The build (www/build/post-build.mjs) writes the page's versioned addresses into FILES and
// their digest into VERSION; a new build is a new worker, which keeps its own copy and drops
// the old ones. Only the page at / and the requests of such pages are answered here: the
// /demo/ pages, every other page and every API call (/v1/...) go to the network untouched, and
// the worker never stores an answer it did not fetch at install.
const VERSION = '@VERSION@';
const FILES = ['@FILES@'];
// The pages at / this worker answered, by client id: only their requests come from the copy.
const app = new Set();

self.oninstall = (e) => {
  e.waitUntil(caches.open(VERSION).then((c) => c.addAll(['/', ...FILES])).then(() => self.skipWaiting()));
};

self.onactivate = (e) => {
  e.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== VERSION).map((k) => caches.delete(k)))));
};

self.onfetch = (e) => {
  const r = e.request;
  const url = new URL(r.url);
  if (r.method !== 'GET' || url.origin !== location.origin) return;
  if (r.mode === 'navigate') {
    if (url.pathname !== '/') return;
    app.add(e.resultingClientId);
    // The network first, so that online nothing changes; the copy when it cannot answer.
    e.respondWith(fetch(r).catch(() => caches.match('/', { cacheName: VERSION })));
  } else if (app.has(e.clientId) && FILES.includes(url.pathname + url.search)) {
    // Versioned addresses never change: the copy, else the network.
    e.respondWith(caches.match(r, { cacheName: VERSION, ignoreVary: true }).then((hit) => hit || fetch(r)));
  }
};
