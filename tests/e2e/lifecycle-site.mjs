// The training site of the lifecycle tests (lifecycle.test.mjs, lifecycle-engines.test.mjs): an
// institution of its own on its own loopback origin, with a page whose <form> holds the
// <cloud-otp> element and posts to the site's backend, which redeems the posted field with
// POST /v1/siteverify as a real site would; and a page with only the element's script, where
// the tests create elements as a framework does, one inside the page's own web component.
import { startTrainingSite } from './site.mjs';

/** Starts the site for `server` (harness.mjs startServer); `close()` stops it. */
export function startSite(server) {
  const page = (title, head, body) => `<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>${title}</title><link rel="icon" href="data:,">
<script type="module" src="${server.base}/cloud-otp.js"></script>${head}</head>
<body><main><h1>${title}</h1>${body}</main></body></html>`;
  return startTrainingSite(server, { name: 'Exam Academy', code: '6789' }, async (req, res, { origin, institution }) => {
    const url = new URL(req.url, origin);
    res.setHeader('content-type', 'text/html; charset=utf-8');
    if (url.pathname === '/form') {
      // The field's name, when the page gives the element one, is what the backend reads.
      const name = url.searchParams.get('name');
      const opened = await institution('/v1/sessions', { user_id: url.searchParams.get('user'), purpose: 'exam' });
      res.end(page('Final exam', '', `<form method="post" action="/submit?field=${name || 'cloud-otp-pass'}">
<p><label>Your answer <input name="answer" value="42"></label></p>
<cloud-otp server="${server.base}" session="${opened.session}"${name ? ` name="${name}"` : ''}></cloud-otp>
<p><button>Hand in the exam</button></p></form>`));
      return;
    }
    if (url.pathname === '/submit') {
      // What the form posted, as the site's backend sees it, redeemed with the real server.
      let body = '';
      for await (const chunk of req) body += chunk;
      const posted = new URLSearchParams(body);
      const field = url.searchParams.get('field');
      let said;
      if (!posted.has(field)) said = `No field ${field}`;
      else if (!posted.get(field)) said = `Empty field ${field}`;
      else {
        const verified = await institution('/v1/siteverify', { pass: posted.get(field) });
        said = verified.success ? `Verified: ${verified.user_id}, answer ${posted.get('answer')}` : `Refused: ${verified.error}`;
      }
      res.end(page('Exam handed in', '', `<p id="said">${said}</p>`));
      return;
    }
    // The page's own web component, whose shadow root holds a form (and later the element).
    res.end(page('Blank lesson', `<script type="module">
customElements.define('site-panel', class extends HTMLElement {
  constructor() {
    super();
    this.attachShadow({ mode: 'open' }).innerHTML = '<section><h2>Panel</h2><form></form></section>';
  }
});</script>`, '<site-panel></site-panel>'));
  });
}
