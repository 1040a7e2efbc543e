// The same job as the cloud-otp web app's code screen, written the usual way with the npm
// otpauth library: a TOTP secret kept by the page (here in localStorage, readable by any
// script), a 6-digit code every 60 s, and the seconds left. Bundled with esbuild by
// tests/e2e/bench.mjs only to compare its gzip size with dist/ (docs/benchmarks-history.md, part 2).
import * as OTPAuth from 'otpauth';

const totp = new OTPAuth.TOTP({
  algorithm: 'SHA1',
  digits: 6,
  period: 60,
  secret: OTPAuth.Secret.fromBase32(localStorage.getItem('otp-secret') || 'JBSWY3DPEHPK3PXP'),
});

function tick() {
  const now = Date.now();
  document.querySelector('#code').textContent = totp.generate({ timestamp: now });
  document.querySelector('#left').textContent = `${60 - (Math.floor(now / 1000) % 60)} s`;
  setTimeout(tick, 1000 - (now % 1000));
}
tick();
