// Trunk post-build hook for the wasm-bindgen output in the staging directory (or the directory
// given as argument). Four jobs, the first three leaving what is already right unchanged:
//
// 1. Repair the table export that Debian's wasm-opt (binaryen 108) writes wrongly: wasm-bindgen's
//    modules have two tables, the function table and the externref table exported as
//    `__wbindgen_externrefs`; binaryen 108's binary writer exports table 0 instead (a plain
//    `wasm-opt -O0` round trip shows it), and the glue's `table.grow` then fails.
// 2. Drop the `<link data-trunk rel=rust>` tag that Trunk leaves in index.html when it does not
//    inject scripts (www/app.js loads the module): it means nothing to a browser.
// 3. Minify the glue, which Trunk's own minifier cannot parse: give the imports short names (the
//    hashed names such as `__wbg_createElement_74049073a11f9c31` appear in both files and do not
//    compress), and drop comments and indentation. Only names that are imports of the wasm module
//    and keys of the glue's import object are renamed, in both files alike.
// 4. Write a gzip -9 copy beside every page, script, style sheet and module (NAME.gz), which
//    the server sends to browsers that accept gzip (crates/server/src/statics.rs).
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

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

function encodeImports(entries) {
  const out = [...unsigned(entries.length)];
  for (const e of entries) {
    for (const text of [e.module, e.field]) {
      const utf8 = Buffer.from(text, 'utf8');
      out.push(...unsigned(utf8.length), ...utf8);
    }
    out.push(...e.desc);
  }
  return Buffer.from(out);
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
  let [n, at] = leb(bytes, exportSection.start);
  for (; n > 0; n--) {
    let field;
    [field, at] = name(bytes, at);
    const kind = bytes[at++];
    const indexAt = at;
    [, at] = leb(bytes, at);
    if (kind === 1 && field === '__wbindgen_externrefs' && at === indexAt + 1) {
      if (bytes[indexAt] === externref) return false;
      bytes[indexAt] = externref;
      return true;
    }
  }
  return false;
}

// Job 3: short import names in the module and the glue, and a glue without comments.
function minify(bytes, glue) {
  const all = sections(bytes);
  const importSection = all.find((s) => s.id === 2);
  if (!importSection) return [bytes, glue, 0];
  const entries = imports(bytes, importSection);
  const renames = new Map();
  for (const e of entries) {
    // A hashed wasm-bindgen import that the glue defines exactly once, as an object key.
    const key = new RegExp(`^\\s*${e.field}: function`, 'gm');
    if (/^__wbg_\w+_[0-9a-f]{16}$/.test(e.field) && (glue.match(key) || []).length === 1
        && glue.split(e.field).length === 2) {
      renames.set(e.field, `w${renames.size.toString(36)}`);
    }
  }
  for (const e of entries) if (renames.has(e.field)) e.field = renames.get(e.field);
  for (const [from, to] of renames) glue = glue.replace(`${from}: function`, `${to}: function`);
  const section = encodeImports(entries);
  const rebuilt = Buffer.concat([
    bytes.subarray(0, importSection.head),
    Buffer.from([2, ...unsigned(section.length)]),
    section,
    bytes.subarray(importSection.end),
  ]);
  // wasm-bindgen's glue has no multi-line strings or template literals, so whole-line comments
  // and indentation can go without changing what any line means.
  glue = glue
    .replace(/^[ \t]*\/\*\*[\s\S]*?\*\/[ \t]*\n/gm, '')
    .replace(/^[ \t]*\/\/.*\n/gm, '')
    .replace(/^[ \t]+/gm, '');
  return [rebuilt, glue, renames.size];
}

// Job 2.
const page = join(dir, 'index.html');
try {
  const html = readFileSync(page, 'utf8');
  const cleaned = html.replace(/<link\b[^>]*\bdata-trunk\b[^>]*>/g, '');
  if (cleaned !== html) writeFileSync(page, cleaned);
} catch {
  // No index.html: nothing to clean.
}

for (const file of readdirSync(dir)) {
  if (!file.endsWith('_bg.wasm')) continue;
  const wasmPath = join(dir, file);
  const gluePath = join(dir, file.replace(/_bg\.wasm$/, '.js'));
  let bytes = readFileSync(wasmPath);
  if (fixTableExport(bytes)) console.log(`post-build: repaired the externref table export of ${file}`);
  let glue;
  try {
    glue = readFileSync(gluePath, 'utf8');
  } catch {
    writeFileSync(wasmPath, bytes);
    continue;
  }
  const [minified, minifiedGlue, renamed] = minify(bytes, glue);
  writeFileSync(wasmPath, minified);
  writeFileSync(gluePath, minifiedGlue);
  console.log(`post-build: ${renamed} imports renamed, glue minified`);
}

// Job 4, last, so that the copies are of the final files.
for (const file of readdirSync(dir)) {
  if (!/\.(wasm|js|css|html)$/.test(file)) continue;
  writeFileSync(join(dir, `${file}.gz`), gzipSync(readFileSync(join(dir, file)), { level: 9 }));
}
