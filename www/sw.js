// The installable app's service worker (docs/widget.md, "The installable app"): it keeps the
// standalone page and the files it loads, so the app opens and shows codes with no network.
// The build (www/build/post-build.mjs) writes the page's versioned addresses into FILES and a
// digest of the page into VERSION; a new build is a new worker, which keeps its own copy and drops
// the old ones. Only the page at / and the files it loads are answered here: the /demo/ pages,
// every other page and every API call (/v1/...) go to the network untouched (where the browser
// routes, the versioned files those pages share with / come from the copy: the same bytes), and
// the worker never stores an answer it did not fetch at install.
//
// The page and its files come from the copy first. A return visit then waits for nothing, and
// where the browser routes requests itself (Chromium's static routing, `addRoutes`), not even
// for this worker to start: every request of a page it controls would otherwise wait for it
// (docs/benchmarks.md). A new build reaches the trainee on the visit after the one that found
// it: app.js asks for this file again on every visit.
const VERSION = '@VERSION@';
const FILES = ['@FILES@'];
// The pages at / this worker answered, by client id: only their requests come from the copy.
const app = new Set();

self.oninstall = (e) => {
  const copy = { cacheName: VERSION };
  const routes = e.addRoutes?.([
    { condition: { requestMode: 'navigate', urlPattern: { pathname: '/', search: '' } }, source: copy },
    ...FILES.map((f) => {
      const [pathname, search] = f.split('?');
      return { condition: { urlPattern: { pathname, search } }, source: copy };
    }),
    // A page at / with a query (a training site's ?session=): the handler below.
    { condition: { requestMode: 'navigate', urlPattern: { pathname: '/' } }, source: 'fetch-event' },
    { condition: { urlPattern: { pathname: '*' } }, source: 'network' },
  ]);
  // Routes a browser refuses leave the handler below to answer everything.
  e.waitUntil(Promise.all([routes?.catch(() => {}), caches.open(VERSION).then((c) => c.addAll(['/', ...FILES]))]).then(() => self.skipWaiting()));
};

self.onactivate = (e) => {
  e.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== VERSION).map((k) => caches.delete(k)))));
};

/** The copy of `request`, else the network. */
const copyFirst = (request) => caches.match(request, { cacheName: VERSION, ignoreVary: true }).then((hit) => hit || fetch(request));

self.onfetch = (e) => {
  const r = e.request;
  const url = new URL(r.url);
  if (r.method !== 'GET' || url.origin !== location.origin) return;
  if (r.mode === 'navigate') {
    if (url.pathname !== '/') return;
    app.add(e.resultingClientId);
    // With a query, the network first (a site's session needs it anyway); the copy when it
    // cannot answer.
    e.respondWith(url.search ? fetch(r).catch(() => caches.match('/', { cacheName: VERSION })) : copyFirst(r));
  } else if (app.has(e.clientId) && FILES.includes(url.pathname + url.search)) {
    e.respondWith(copyFirst(r));
  }
};
