// A training site of the tests: an HTTP server on its own loopback origin, registered as an
// institution of its own on the real cloud-otp server (`tenant create` with that origin), with
// the institution API at hand as its backend would call it. The pages are the test's.
import { createServer } from 'node:http';

/**
 * Starts a site for `server` (harness.mjs startServer) as the institution `name` with customer
 * `code` (`args`: more `tenant create` options); `handle(req, res, site)` answers its requests.
 * Resolves to `{ origin, key, institution(path, body), session(user, purpose), close() }`.
 */
export async function startTrainingSite(server, { name, code, args = [] }, handle) {
  const http = createServer((req, res) => handle(req, res, site));
  await new Promise((done) => http.listen(0, '127.0.0.1', done));
  const origin = `http://127.0.0.1:${http.address().port}`;
  const key = server.cli('tenant', 'create', '--name', name, '--customer-code', code,
    '--origin', origin, ...args).trim().split('\n').pop().trim();
  const site = {
    origin,
    key,
    http,
    /** Calls the institution API with the site's key: POSTs `body`, or GETs without; the JSON. */
    async institution(path, body) {
      const response = await fetch(server.base + path, {
        method: body ? 'POST' : 'GET',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: body && JSON.stringify(body),
      });
      return response.json();
    },
    /** A new OTP session for `user`: its token. */
    async session(user, purpose = 'exam') {
      return (await site.institution('/v1/sessions', { user_id: user, purpose })).session;
    },
    close: () => new Promise((done) => http.close(done)),
  };
  return site;
}
