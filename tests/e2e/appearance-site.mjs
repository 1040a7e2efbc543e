// The training site of the appearance tests (appearance.test.mjs, appearance-engines.test.mjs):
// a lesson page on its own origin whose sidebar, of a width the test chooses, holds a
// <cloud-otp> element with the attributes the test asks for (theme, size, lang), written in the
// page as a site would write them. The page follows the system's colour scheme itself
// (color-scheme: light dark, system colours), so a forced light widget is seen on a dark page
// and a dark one on a light page.
import { startTrainingSite } from './site.mjs';

/** Starts the site next to `server` (harness.mjs startServer), as an institution of its own. */
export async function startSite(server) {
  const site = await startTrainingSite(server, { name: 'Sidebar Academy', code: '6789' }, async (req, res, { origin }) => {
    const q = new URL(req.url, origin).searchParams;
    const session = await site.session(q.get('user'));
    const attrs = ['theme', 'size', 'lang']
      .filter((name) => q.get(name))
      .map((name) => ` ${name}="${q.get(name)}"`).join('');
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>Sidebar Academy</title>
<link rel="icon" href="data:,">
<style>body { margin: 0; font-family: sans-serif; background: Canvas; color: CanvasText; display: flex; }
aside { box-sizing: border-box; width: ${Number(q.get('width')) || 280}px; flex: none; padding: 0; }
main { padding: 1rem; }</style>
<script type="module" src="${server.base}/cloud-otp.js"></script></head>
<body><aside><cloud-otp server="${server.base}" session="${session}"${attrs}></cloud-otp></aside>
<main><h1>Sidebar Academy</h1><p>The lesson goes on beside the OTP step.</p></main></body></html>`);
  });
  return {
    origin: site.origin,
    /** The lesson page for `user`, with the element's attributes and the sidebar's width. */
    url: (user, { theme, size, lang, width } = {}) => {
      const q = new URLSearchParams({ user });
      for (const [name, value] of Object.entries({ theme, size, lang, width })) if (value) q.set(name, value);
      return `${site.origin}/?${q}`;
    },
    close: site.close,
  };
}
