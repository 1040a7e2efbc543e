// HOTP computations per second in Node (docs/benchmarks.md, part 3), the same work as
// crates/core/benches/hotp.rs: HMAC-SHA-1 of an 8-byte counter, dynamic truncation
// (RFC 4226 section 5.3), 6 digits. Once with node:crypto's createHmac, once with the npm
// otpauth library. Each measurement runs a bounded number of batches for about 3 seconds
// and prints one JSON line.
import { createHmac } from 'node:crypto';
import * as OTPAuth from 'otpauth';

const SECRET = '12345678901234567890'; // RFC 4226 Appendix D
const key = Buffer.from(SECRET, 'latin1');
const counterBuf = Buffer.alloc(8);

function hotpCreateHmac(counter) {
  counterBuf.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(counterBuf).digest();
  const offset = mac[19] & 0xf;
  const bin =
    ((mac[offset] & 0x7f) << 24) |
    (mac[offset + 1] << 16) |
    (mac[offset + 2] << 8) |
    mac[offset + 3];
  return String(bin % 1000000).padStart(6, '0');
}

const otpauth = new OTPAuth.HOTP({
  secret: OTPAuth.Secret.fromLatin1(SECRET),
  algorithm: 'SHA1',
  digits: 6,
});
const hotpOtpauth = (counter) => otpauth.generate({ counter });

// RFC 4226 Appendix D: counter 1 gives 287082; a wrong implementation measures nothing.
for (const [name, fn] of [['createHmac', hotpCreateHmac], ['otpauth', hotpOtpauth]]) {
  if (fn(1) !== '287082') throw new Error(`${name} computes wrong codes`);
}

function measure(fn, seconds) {
  const batch = 10000;
  let sink = 0;
  let counter = 0;
  for (let i = 0; i < batch * 5; i++) sink += fn(counter++).length; // warm-up, JIT
  const start = process.hrtime.bigint();
  let done = 0;
  const maxBatches = 100000;
  for (let b = 0; b < maxBatches; b++) {
    for (let i = 0; i < batch; i++) sink += fn(counter++).length;
    done += batch;
    if (Number(process.hrtime.bigint() - start) / 1e9 >= seconds) break;
  }
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  if (sink === 0) throw new Error('nothing computed');
  return done / secs;
}

const seconds = Number(process.env.BENCH_SECONDS ?? 3);
for (const [name, fn] of [['node createHmac', hotpCreateHmac], ['npm otpauth 9.5.2', hotpOtpauth]]) {
  console.log(JSON.stringify({ impl: name, node: process.version, ops_per_s: measure(fn, seconds) }));
}
