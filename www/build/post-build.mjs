// Trunk post-build hook for the wasm-bindgen output in the staging directory (or the directory
// given as argument). Six jobs, the first three leaving what is already right unchanged:
//
// 1. Repair the table export that Debian's wasm-opt (binaryen 108) writes wrongly: wasm-bindgen's
//    modules have two tables, the function table and the externref table exported as
//    `__wbindgen_externrefs`; binaryen 108's binary writer exports table 0 instead (a plain
//    `wasm-opt -O0` round trip shows it), and the glue's `table.grow` then fails.
// 2. Drop the `<link data-trunk rel=rust>` tag that Trunk leaves in index.html when it does not
//    inject scripts (www/app.js loads the module), and the `data-integrity=none` it leaves on
//    the style sheet's link: they mean nothing to a browser.
// 3. Give the module's imports and closure exports short names, in the module and the glue
//    alike: the hashed names such as `__wbg_createElement_74049073a11f9c31`, and the closure
//    exports that spell out whole Rust types (up to 339 characters), appear in both files and do
//    not compress. Only names that the glue uses in exactly one place are renamed. The glue's
//    synchronous loader, `initSync`, which no page uses, is no longer exported.
// 4. Minify every script (the glue, which Trunk's own minifier cannot parse, and www/'s scripts,
//    which Trunk copies as they are) with terser, a minifier written in JavaScript (package.json
//    here; scripts/bootstrap.sh installs it).
// 5. Version the addresses of the files the pages load (`cloud-otp-web.js?v=` and the first 10
//    hex digits of its SHA-256), so browsers may keep them (crates/server/src/statics.rs).
// 6. Write a gzip -9 copy beside every page, script, style sheet and module (NAME.gz), which
//    the server sends to browsers that accept gzip (crates/server/src/statics.rs).
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { minify as terser } from 'terser';

const dir = process.env.TRUNK_STAGING_DIR || process.argv[2];
if (!dir) throw new Error('post-build: no TRUNK_STAGING_DIR and no directory argument');

function leb(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[at++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) return [value, at];
  }
}

function unsigned(n) {
  const out = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

function name(bytes, at) {
  const [len, start] = leb(bytes, at);
  return [bytes.subarray(start, start + len).toString('utf8'), start + len];
}

// Skips a table, memory, global or tag type; returns the element type of a table.
function skipLimits(bytes, at) {
  const flags = bytes[at++];
  [, at] = leb(bytes, at);
  if (flags & 1) [, at] = leb(bytes, at);
  return at;
}

// The module's sections (WebAssembly core specification, section 5.5).
function sections(bytes) {
  const found = [];
  for (let at = 8; at < bytes.length; ) {
    const id = bytes[at];
    const [size, start] = leb(bytes, at + 1);
    found.push({ id, start, end: start + size, head: at });
    at = start + size;
  }
  return found;
}

// The import section's entries, with their descriptions as raw bytes.
function imports(bytes, section) {
  const out = [];
  let [n, at] = leb(bytes, section.start);
  for (; n > 0; n--) {
    let module, field;
    [module, at] = name(bytes, at);
    [field, at] = name(bytes, at);
    const descStart = at;
    const kind = bytes[at++];
    let table;
    if (kind === 0) [, at] = leb(bytes, at);
    else if (kind === 1) { table = bytes[at]; at = skipLimits(bytes, at + 1); }
    else if (kind === 2) at = skipLimits(bytes, at);
    else if (kind === 3) at += 2;
    else if (kind === 4) [, at] = leb(bytes, at + 1);
    else throw new Error(`post-build: unknown import kind ${kind}`);
    out.push({ module, field, kind, table, desc: bytes.subarray(descStart, at) });
  }
  return out;
}

// The export section's entries: name, kind and the index as raw bytes.
function exportsOf(bytes, section) {
  const out = [];
  let [n, at] = leb(bytes, section.start);
  for (; n > 0; n--) {
    let field;
    [field, at] = name(bytes, at);
    const descStart = at;
    [, at] = leb(bytes, at + 1);
    out.push({ field, desc: bytes.subarray(descStart, at) });
  }
  return out;
}

// Job 1: points `__wbindgen_externrefs` at the externref table. Returns true when it changed.
function fixTableExport(bytes) {
  const all = sections(bytes);
  const tables = [];
  const importSection = all.find((s) => s.id === 2);
  if (importSection) {
    for (const e of imports(bytes, importSection)) if (e.kind === 1) tables.push(e.table);
  }
  const tableSection = all.find((s) => s.id === 4);
  if (tableSection) {
    let [n, at] = leb(bytes, tableSection.start);
    for (; n > 0; n--) {
      tables.push(bytes[at]);
      at = skipLimits(bytes, at + 1);
    }
  }
  const externref = tables.indexOf(0x6f);
  const exportSection = all.find((s) => s.id === 7);
  if (externref < 0 || externref > 127 || !exportSection) return false;
  // A table export (kind 1) whose index is one byte; `desc` is a view into `bytes`.
  const entry = exportsOf(bytes, exportSection).find(
    (e) => e.field === '__wbindgen_externrefs' && e.desc[0] === 1 && e.desc.length === 2);
  if (!entry || entry.desc[1] === externref) return false;
  entry.desc[1] = externref;
  return true;
}

// An import or export section with the names of `entries`.
function encodeSection(id, entries) {
  const out = [...unsigned(entries.length)];
  for (const e of entries) {
    for (const text of e.module === undefined ? [e.field] : [e.module, e.field]) {
      const utf8 = Buffer.from(text, 'utf8');
      out.push(...unsigned(utf8.length), ...utf8);
    }
    out.push(...e.desc);
  }
  return Buffer.from([id, ...unsigned(out.length), ...out]);
}

// Job 3: short names for the hashed imports and the closure exports, in the module and the glue.
function shortNames(bytes, glue) {
  const all = sections(bytes);
  const importSection = all.find((s) => s.id === 2);
  const exportSection = all.find((s) => s.id === 7);
  if (!importSection || !exportSection) return [bytes, glue, 0];
  const once = (text) => glue.split(text).length === 2;
  const imported = imports(bytes, importSection);
  const exported = exportsOf(bytes, exportSection);
  let renamed = 0;
  for (const e of imported) {
    // A hashed wasm-bindgen import that the glue defines exactly once, as an object key.
    const key = new RegExp(`^(\\s*)${e.field}: function`, 'm');
    if (/^__wbg_\w+_[0-9a-f]{16}$/.test(e.field) && key.test(glue) && once(e.field)) {
      e.field = `w${(renamed++).toString(36)}`;
      glue = glue.replace(key, `$1${e.field}: function`);
    }
  }
  for (const e of exported) {
    // A closure's entry point: the glue calls it from a function of the same name.
    const word = new RegExp(`\\b${e.field}\\b`, 'g');
    const short = `x${renamed.toString(36)}`;
    if (/^wasm_bindgen_[0-9a-f]{16}___convert__closures_\w+$/.test(e.field)
        && glue.includes(`wasm.${e.field}(`) && !new RegExp(`\\b${short}\\b`).test(glue)) {
      glue = glue.replace(word, short);
      e.field = short;
      renamed++;
    }
  }
  const rebuilt = Buffer.concat([
    bytes.subarray(0, 8),
    ...all.map((s) => {
      if (s === importSection) return encodeSection(2, imported);
      if (s === exportSection) return encodeSection(7, exported);
      return bytes.subarray(s.head, s.end);
    }),
  ]);
  return [rebuilt, glue, renamed];
}

// Job 2.
const page = join(dir, 'index.html');
try {
  const html = readFileSync(page, 'utf8');
  const cleaned = html
    .replace(/<link\b[^>]*\bdata-trunk\b[^>]*>/g, '')
    .replace(/ data-integrity="?none"?/g, '');
  if (cleaned !== html) writeFileSync(page, cleaned);
} catch {
  // No index.html: nothing to clean.
}

for (const file of readdirSync(dir)) {
  if (!file.endsWith('_bg.wasm')) continue;
  const wasmPath = join(dir, file);
  const gluePath = join(dir, file.replace(/_bg\.wasm$/, '.js'));
  const bytes = readFileSync(wasmPath);
  if (fixTableExport(bytes)) console.log(`post-build: repaired the externref table export of ${file}`);
  let glue;
  try {
    glue = readFileSync(gluePath, 'utf8');
  } catch {
    writeFileSync(wasmPath, bytes);
    continue;
  }
  const [renamedBytes, renamedGlue, renamed] = shortNames(bytes, glue);
  writeFileSync(wasmPath, renamedBytes);
  // The pages load the module with the default export, `init` (docs/integration.md); without
  // the export of `initSync`, the minifier drops that second loader.
  writeFileSync(gluePath, renamedGlue.replace(
    'export { initSync, __wbg_init as default };', 'export { __wbg_init as default };'));
  console.log(`post-build: ${renamed} imports and exports of ${file} renamed`);
}

// Job 4: every script is an ES module; names the page or the module reach (exports, the import
// object's keys, properties) stay as they are.
for (const file of readdirSync(dir)) {
  if (!file.endsWith('.js')) continue;
  const path = join(dir, file);
  const source = readFileSync(path, 'utf8');
  const { code } = await terser(source, {
    module: true,
    ecma: 2020,
    compress: { passes: 2 },
    format: { comments: false },
  });
  writeFileSync(path, code);
  console.log(`post-build: ${file} minified, ${source.length} to ${code.length} bytes`);
}

// Job 5: versioned addresses. Each file a page loads by a fixed name gets `?v=` and the first
// 10 hex digits of its SHA-256 wherever it is named, innermost first (the module in the glue,
// the glue in the scripts, everything in the page), and the server keeps such an address in
// browsers' caches for a year when the version is the file's (crates/server/src/statics.rs).
// cloud-otp.js, which training sites name in their pages, and index.html keep plain addresses.
const version = (file) =>
  createHash('sha256').update(readFileSync(join(dir, file))).digest('hex').slice(0, 10);
function pin(file, names) {
  const path = join(dir, file);
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return; // Not in this build.
  }
  for (const name of names) {
    // The name as an address: after a quote, a slash or `=`, before a quote, a space or `>`.
    const address = new RegExp(`(?<=["'/=])${name.replace(/[.]/g, '\\.')}(?=["'\\s>])`, 'g');
    const count = (text.match(address) || []).length;
    if (count === 0) throw new Error(`post-build: ${file} does not name ${name}`);
    text = text.replace(address, `${name}?v=${version(name)}`);
  }
  writeFileSync(path, text);
}
if (readdirSync(dir).includes('cloud-otp-web_bg.wasm')) {
  pin('cloud-otp-web.js', ['cloud-otp-web_bg.wasm']);
  pin('app.js', ['cloud-otp-web.js']);
  pin('cloud-otp.js', ['cloud-otp-web.js', 'cloud-otp.css']);
  pin('index.html', ['cloud-otp-web_bg.wasm', 'cloud-otp-web.js', 'cloud-otp.css', 'app.js']);
  console.log('post-build: addresses versioned');
}

// Job 6, last, so that the copies are of the final files.
for (const file of readdirSync(dir)) {
  if (!/\.(wasm|js|css|html)$/.test(file)) continue;
  writeFileSync(join(dir, `${file}.gz`), gzipSync(readFileSync(join(dir, file)), { level: 9 }));
}
