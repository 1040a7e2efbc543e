// The patches post-build.mjs applies to Trunk's output, as functions of bytes and text with no
// file access, so that patch.test.mjs tests each on its own. Every patch checks what it finds
// and what it makes: a pattern it expects and does not find, or a module that no longer
// validates, throws, so the build fails loudly instead of shipping a file left unpatched.

/** A build step that found something other than what it expects. */
export class PatchError extends Error {
  constructor(message) {
    super(`post-build: ${message}`);
    this.name = 'PatchError';
  }
}

function leb(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    if (at >= bytes.length) throw new PatchError('a LEB128 number runs past the end of the module');
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

// Skips the limits of a table or memory type.
function skipLimits(bytes, at) {
  const flags = bytes[at++];
  [, at] = leb(bytes, at);
  if (flags & 1) [, at] = leb(bytes, at);
  return at;
}

/** The module's sections (WebAssembly core specification, section 5.5). */
export function sections(bytes) {
  if (bytes.length < 8 || bytes.readUInt32LE(0) !== 0x6d736100) {
    throw new PatchError('not a WebAssembly module');
  }
  const found = [];
  for (let at = 8; at < bytes.length; ) {
    const id = bytes[at];
    const [size, start] = leb(bytes, at + 1);
    if (start + size > bytes.length) throw new PatchError(`section ${id} runs past the end of the module`);
    found.push({ id, start, end: start + size, head: at });
    at = start + size;
  }
  return found;
}

/** The import section's entries, with their descriptions as raw bytes. */
export function imports(bytes, section) {
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
    else throw new PatchError(`unknown import kind ${kind}`);
    out.push({ module, field, kind, table, desc: bytes.subarray(descStart, at) });
  }
  return out;
}

/** The export section's entries: name, and the kind and index as raw bytes. */
export function exportsOf(bytes, section) {
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

/** Throws unless `bytes` is a valid module (with the features the build enables). */
export function mustValidate(bytes, what) {
  if (!WebAssembly.validate(bytes)) throw new PatchError(`${what} is not a valid WebAssembly module`);
}

/**
 * Points the `__wbindgen_externrefs` export at the externref table, which Debian's wasm-opt
 * (binaryen 108) points at table 0, in place. Returns true when it changed the export, false
 * when it was right already; throws when the module has no such table or export.
 */
export function fixTableExport(bytes) {
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
  if (externref < 0 || externref > 127) throw new PatchError('the module has no externref table (index under 128)');
  const exportSection = all.find((s) => s.id === 7);
  // A table export (kind 1) whose index is one byte; `desc` is a view into `bytes`.
  const entry = exportSection && exportsOf(bytes, exportSection).find(
    (e) => e.field === '__wbindgen_externrefs' && e.desc[0] === 1 && e.desc.length === 2);
  if (!entry) throw new PatchError('the module exports no table `__wbindgen_externrefs`');
  if (entry.desc[1] === externref) return false;
  entry.desc[1] = externref;
  mustValidate(bytes, 'the module with its table export repaired');
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

/**
 * Short names for the hashed wasm-bindgen imports and the closure exports, in the module and
 * the glue alike: `[bytes, glue, renamed]`. Only names the glue uses in exactly one place are
 * renamed. Throws when nothing was renamed (wasm-bindgen's output changed shape) or when the
 * module it makes does not validate.
 */
export function shortNames(bytes, glue) {
  const all = sections(bytes);
  const importSection = all.find((s) => s.id === 2);
  const exportSection = all.find((s) => s.id === 7);
  if (!importSection || !exportSection) throw new PatchError('the module has no import or no export section');
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
  if (renamed === 0) throw new PatchError('no import or export renamed: the glue no longer has the shape expected');
  const rebuilt = Buffer.concat([
    bytes.subarray(0, 8),
    ...all.map((s) => {
      if (s === importSection) return encodeSection(2, imported);
      if (s === exportSection) return encodeSection(7, exported);
      return bytes.subarray(s.head, s.end);
    }),
  ]);
  mustValidate(rebuilt, 'the module with short names');
  return [rebuilt, glue, renamed];
}

/**
 * The glue without the export of `initSync`, which no page uses (the pages load the module
 * with the default export, `init`); the minifier then drops that second loader.
 */
export function dropInitSync(glue) {
  const from = 'export { initSync, __wbg_init as default };';
  if (!glue.includes(from)) throw new PatchError('the glue does not export `initSync` the way wasm-bindgen 0.2 does');
  return glue.replace(from, 'export { __wbg_init as default };');
}

/**
 * The page without the `<link data-trunk rel=rust>` tag that Trunk leaves when it does not
 * inject scripts, and the `data-integrity=none` it leaves on the style sheet's link.
 */
export function cleanPage(html) {
  const trunkLink = /<link\b[^>]*\bdata-trunk\b[^>]*>/g;
  if (!trunkLink.test(html)) throw new PatchError('the page has no `<link data-trunk>` left to drop');
  return html.replace(trunkLink, '').replace(/ data-integrity="?none"?/g, '');
}

/**
 * `text` with each file of `versions` (name -> version) named at a versioned address,
 * `NAME?v=VERSION`; throws when `text` does not name one of them as an address.
 */
export function pinAddresses(text, what, versions) {
  for (const [file, version] of Object.entries(versions)) {
    // The name as an address: after a quote, a slash or `=`, before a quote, a space or `>`.
    const address = new RegExp(`(?<=["'/=])${file.replace(/[.]/g, '\\.')}(?=["'\\s>])`, 'g');
    if (!address.test(text)) throw new PatchError(`${what} does not name ${file}`);
    text = text.replace(address, `${file}?v=${version}`);
  }
  return text;
}

/**
 * The versioned addresses a page loads (`/app.js?v=0123456789`): what the service worker keeps
 * (www/sw.js). Fails when the page names none.
 */
export function pageFiles(html) {
  // Quoted or not: Trunk's minifier drops the quotes it can.
  const address = /(?<=(?:href|src)=["']?)\/[\w.-]+\?v=[0-9a-f]{10}(?=["'\s>])/g;
  const files = [...new Set([...html.matchAll(address)].map((m) => m[0]))];
  if (files.length === 0) throw new PatchError('the page names no versioned address');
  return files.sort();
}

/**
 * Writes the files the service worker keeps, and a digest of the page as its cache name, into the
 * (minified) worker: its string literals "@FILES@" (in an array) and "@VERSION@". Fails when
 * either is missing, so a rewritten worker cannot ship with an empty list.
 */
export function fillWorker(source, files, version) {
  const list = /(?<=\[[^\]]*)(["'])@FILES@\1/g;
  const name = /(["'])@VERSION@\1/g;
  if (!list.test(source)) throw new PatchError('the service worker has no ["@FILES@"] list');
  if (!name.test(source)) throw new PatchError('the service worker has no "@VERSION@"');
  return source
    .replace(list, files.map((f) => JSON.stringify(f)).join(','))
    .replace(name, JSON.stringify(version));
}

// The function names of the module's name section (index -> name), empty without one.
function functionNames(bytes, all) {
  const names = new Map();
  for (const s of all.filter((c) => c.id === 0)) {
    let [section, at] = name(bytes, s.start);
    if (section !== 'name') continue;
    while (at < s.end) {
      const kind = bytes[at];
      const [size, start] = leb(bytes, at + 1);
      at = start + size;
      if (kind !== 1) continue;
      let [n, p] = leb(bytes, start);
      for (; n > 0; n--) {
        let index, text;
        [index, p] = leb(bytes, p);
        [text, p] = name(bytes, p);
        names.set(index, text);
      }
    }
  }
  return names;
}

/**
 * The module with every wasm-bindgen closure entry point (`invoke::<...>`) in its function
 * table replaced by the first of them: `[bytes, replaced]`. wasm-bindgen's closure
 * descriptions take each entry point's address, so the linker puts it in the table, but the
 * glue calls the entry points of the closures the module makes through their exports, never
 * through the table, and wasm-bindgen's CLI runs and drops the descriptions. The entries left
 * are those of every closure type js-sys describes (typed arrays' `forEach`, `Set`'s, ...),
 * which no code calls; once they are out of the table the optimizer drops them (552 bytes of
 * gzipped module). Needs the name section (wasm-bindgen's output, before wasm-opt); throws
 * when there is none or the table's segment is not in the one shape wasm-bindgen leaves.
 */
export function dropClosureTable(bytes) {
  const all = sections(bytes);
  const names = functionNames(bytes, all);
  if (names.size === 0) throw new PatchError('the module has no function names to find its closure entry points by');
  const elements = all.find((s) => s.id === 9);
  if (!elements) throw new PatchError('the module has no element section');
  const shim = (index) => /^wasm_bindgen(\[[0-9a-f]+\])?::convert::closures::_::invoke::/.test(names.get(index) ?? '');
  let [n, at] = leb(bytes, elements.start);
  const out = [...unsigned(n)];
  let first;
  let replaced = 0;
  for (; n > 0; n--) {
    // Flags 0: an active segment of table 0 at `i32.const N`, then its function indices.
    if (bytes[at] !== 0 || bytes[at + 1] !== 0x41) throw new PatchError('an element segment is not `(elem (i32.const N) func ...)`');
    const offsetStart = at;
    [, at] = leb(bytes, at + 2);
    if (bytes[at++] !== 0x0b) throw new PatchError('an element segment offset is not a lone i32.const');
    out.push(...bytes.subarray(offsetStart, at));
    let count;
    [count, at] = leb(bytes, at);
    out.push(...unsigned(count));
    for (; count > 0; count--) {
      let index;
      [index, at] = leb(bytes, at);
      if (shim(index)) {
        if (first === undefined) first = index;
        else if (index !== first) { index = first; replaced++; }
      }
      out.push(...unsigned(index));
    }
  }
  if (at !== elements.end) throw new PatchError('the element section has bytes after its segments');
  const rebuilt = Buffer.concat([
    bytes.subarray(0, 8),
    ...all.map((s) => (s === elements ? Buffer.from([9, ...unsigned(out.length), ...out]) : bytes.subarray(s.head, s.end))),
  ]);
  mustValidate(rebuilt, 'the module with its closure entry points out of the table');
  return [rebuilt, replaced];
}
