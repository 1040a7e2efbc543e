// A training site's backend, complete and with no dependencies, that embeds cloud-otp three
// ways: a plain HTML page with a few lines of its own script (/plain), a Vue component (/vue),
// and a server-rendered form that posts the pass with no script of the site's own (/form).
// Each opens an OTP session for the trainee with the institution's API key and redeems the
// pass with POST /v1/siteverify: the key never reaches a page. docs/examples.md shows and
// explains it; tests/e2e/examples.test.mjs runs all three in Chromium, Firefox and WebKit.
//
//   CLOUD_OTP_SERVER=https://otp.example.org CLOUD_OTP_API_KEY=cok_... PORT=3000 \
//     node examples/training-site/server.mjs
//
// Who the trainee is comes from the site's own login; here, for the example, from `?user=` on
// the page's address (and the form's hidden `user` field).
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const otp = process.env.CLOUD_OTP_SERVER || 'http://127.0.0.1:8080';
const apiKey = process.env.CLOUD_OTP_API_KEY;
// Where vue.esm-browser.prod.js is (its npm package's dist/ folder): a real site bundles Vue.
const vueDist = process.env.VUE_DIST || join(here, '../../tests/e2e/node_modules/vue/dist');
if (!apiKey) {
  console.error('training-site: set CLOUD_OTP_API_KEY to the institution\'s API key');
  process.exit(2);
}

/** POSTs `body` to the cloud-otp institution API; resolves to its status and JSON answer. */
async function institution(path, body) {
  const response = await fetch(otp + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, answer: await response.json() };
}

/** Opens an OTP session for `user`, for an exam. */
const openSession = (user) => institution('/v1/sessions', { user_id: user, purpose: 'exam' });

// A test institution's pass (`"test": true`) lets nobody in, unless this is the site's own CI
// running with a test key (CLOUD_OTP_TEST=1): a test key that reaches production opens nothing.
const acceptTest = process.env.CLOUD_OTP_TEST === '1';

/**
 * Redeems `pass` and checks that it was earned by `user`: a pass is single-use, and its answer,
 * not the page's word, says who passed.
 */
async function redeem(pass, user) {
  const { answer } = await institution('/v1/siteverify', { pass });
  const real = answer.test === false || acceptTest;
  return { ...answer, success: answer.success === true && answer.user_id === user && real };
}

// The pages' one style rule: readable on a phone and on a desktop.
const STYLE = '  <style>body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }\n    button { font: inherit; margin-top: 1rem; padding: 0.5rem 1.5rem; }</style>\n';

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The form page: the session is opened here, on the server, and rendered into the element. */
function formPage(user, session) {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Exam sign-in (form)</title>
${STYLE}  <script type="module" src="${otp}/cloud-otp.js"></script>
</head>
<body>
  <main>
    <h1>Confirm it is you</h1>
    <form method="post" action="/form">
      <input type="hidden" name="user" value="${escape(user)}">
      <cloud-otp server="${otp}" session="${escape(session)}"></cloud-otp>
      <button type="submit">Start the exam</button>
    </form>
  </main>
</body>
</html>
`;
}

/** The answer page of the form: what siteverify said. */
function resultPage(result) {
  const said = result.success ? `Passed: ${escape(result.user_id)} may start the exam.` : `Not passed (${escape(result.error || 'another trainee')}).`;
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Exam sign-in</title>
${STYLE}</head>
<body><main><h1>Exam sign-in</h1><p id="result">${said}</p></main></body>
</html>
`;
}

/** Reads a request's body, at most 16 KiB. */
async function body(req) {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 16384) throw new Error('body too large');
  }
  return text;
}

function send(res, status, type, text) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(text);
}

const files = {
  '/plain': ['plain.html', 'text/html; charset=utf-8'],
  '/vue': ['vue.html', 'text/html; charset=utf-8'],
  '/cloud-otp-vue.js': ['cloud-otp-vue.js', 'text/javascript'],
};

const server = createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://site');
    const user = url.searchParams.get('user') || 'trainee-001';
    if (req.method === 'GET' && files[url.pathname]) {
      const [name, type] = files[url.pathname];
      const page = await readFile(join(here, name), 'utf8');
      return send(res, 200, type, page.replaceAll('https://otp.example.org', otp));
    }
    if (req.method === 'GET' && url.pathname === '/vendor/vue.js') {
      return send(res, 200, 'text/javascript', await readFile(join(vueDist, 'vue.esm-browser.prod.js')));
    }
    // The pages' own API: a session for the signed-in trainee, and the pass redeemed.
    if (req.method === 'POST' && url.pathname === '/api/session') {
      const { status, answer } = await openSession(user);
      return send(res, status === 201 ? 200 : 502, 'application/json', JSON.stringify({ session: answer.session }));
    }
    if (req.method === 'POST' && url.pathname === '/api/redeem') {
      const { pass } = JSON.parse(await body(req));
      return send(res, 200, 'application/json', JSON.stringify(await redeem(String(pass), user)));
    }
    if (req.method === 'GET' && url.pathname === '/form') {
      const { status, answer } = await openSession(user);
      if (status !== 201) return send(res, 502, 'text/plain', `no OTP session: ${answer.error}`);
      return send(res, 200, 'text/html; charset=utf-8', formPage(user, answer.session));
    }
    if (req.method === 'POST' && url.pathname === '/form') {
      const form = new URLSearchParams(await body(req));
      const pass = form.get('cloud-otp-pass') || '';
      const result = pass ? await redeem(pass, form.get('user') || '') : { success: false, error: 'no_pass' };
      return send(res, result.success ? 200 : 403, 'text/html; charset=utf-8', resultPage(result));
    }
    return send(res, 404, 'text/plain', 'not found');
  } catch (e) {
    console.error(`training-site: ${req.method} ${req.url}: ${e.message}`);
    return send(res, 500, 'text/plain', 'the training site failed');
  }
});

server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`training site on http://127.0.0.1:${server.address().port}/ (pages /plain, /vue, /form)`);
});
