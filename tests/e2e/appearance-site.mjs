// The training site of the appearance tests (appearance.test.mjs, appearance-engines.test.mjs):
// a lesson page on its own origin whose sidebar, of a width the test chooses, holds a
// <cloud-otp> element with the attributes the test asks for (theme, size, lang), written in the
// page as a site would write them. The page follows the system's colour scheme itself
// (color-scheme: light dark, system colours), so a forced light widget is seen on a dark page
// and a dark one on a light page.
import { createServer } from 'node:http';

/** Starts the site next to `server` (harness.mjs startServer), as an institution of its own. */
export async function startSite(server) {
  let origin;
  let key;
  const site = createServer(async (req, res) => {
    const url = new URL(req.url, origin);
    const q = url.searchParams;
    const response = await fetch(`${server.base}/v1/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: q.get('user'), purpose: 'exam' }),
    });
    const { session } = await response.json();
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
  await new Promise((done) => site.listen(0, '127.0.0.1', done));
  origin = `http://127.0.0.1:${site.address().port}`;
  key = server.cli('tenant', 'create', '--name', 'Sidebar Academy', '--customer-code', '6789',
    '--origin', origin).trim().split('\n').pop().trim();
  return {
    origin,
    /** The lesson page for `user`, with the element's attributes and the sidebar's width. */
    url: (user, { theme, size, lang, width } = {}) => {
      const q = new URLSearchParams({ user });
      for (const [name, value] of Object.entries({ theme, size, lang, width })) if (value) q.set(name, value);
      return `${origin}/?${q}`;
    },
    close: () => new Promise((done) => site.close(done)),
  };
}
