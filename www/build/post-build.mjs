// Trunk post-build hook for the wasm-bindgen output in the staging directory (or the directory
// given as argument). Eight jobs, jobs 1 to 3 leaving what is already right unchanged:
//
// 0. Optimize the module for size with wasm-opt (WASM_OPT below), after pointing the closure
//    entry points in its function table at one of them (`dropClosureTable` in patch.mjs), so
//    that the optimizer drops the unused ones; release builds only, as Trunk did. Trunk runs
//    no wasm-opt itself (index.html, `data-wasm-opt="0"`): the entry points are found by the
//    function names wasm-opt drops.
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
// 6. Write into the service worker (www/sw.js) the versioned addresses the page loads, which it
//    keeps for the installed app to open with no network, and the page's digest as its cache name.
// 7. Write a gzip -9 copy beside every page, script, style sheet, manifest and module
//    (NAME.gz), which the server sends to browsers that accept gzip
//    (crates/server/src/statics.rs).
//
// The patches themselves are in patch.mjs (tested by patch.test.mjs): each fails the build when
// it does not find what it expects, and every module it writes is validated first.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { minify as terser } from 'terser';
import {
  cleanPage, dropClosureTable, dropInitSync, fillWorker, fixTableExport, mustValidate, pageFiles, pinAddresses, shortNames,
} from './patch.mjs';

// wasm-opt's options (job 0). The browsers the app supports all have these features.
// `--low-memory-unused`: Rust puts its stack below 1 MiB and its data above, so the first KiB
// is never addressed and constant offsets fold into loads and stores. A function with one
// caller is inlined only when it is small (20 instructions; by default, whatever its size):
// inlining every async step into the widget's one effect future made functions of 26 KB, and
// not doing it is 1,368 bytes less gzipped module (15 to 25 all give about the same;
// docs/benchmarks.md).
const WASM_OPT = [
  '-Oz', '--enable-bulk-memory', '--enable-nontrapping-float-to-int', '--enable-sign-ext',
  '--enable-mutable-globals', '--enable-reference-types', '--enable-multivalue', '--converge',
  '--zero-filled-memory', '--low-memory-unused', '--strip-producers',
  '--one-caller-inline-max-function-size=20',
];

const dir = process.env.TRUNK_STAGING_DIR || process.argv[2];
if (!dir) throw new Error('post-build: no TRUNK_STAGING_DIR and no directory argument');
const files = readdirSync(dir);

// Job 2.
if (files.includes('index.html')) {
  const page = join(dir, 'index.html');
  writeFileSync(page, cleanPage(readFileSync(page, 'utf8')));
}

// Jobs 0, 1 and 3.
for (const file of files) {
  if (!file.endsWith('_bg.wasm')) continue;
  const wasmPath = join(dir, file);
  const gluePath = join(dir, file.replace(/_bg\.wasm$/, '.js'));
  mustValidate(readFileSync(wasmPath), `${file} as Trunk built it`);
  // A debug build (`trunk build` without --release) is left unoptimized, as Trunk leaves it.
  if (process.env.TRUNK_PROFILE !== 'debug') {
    const [pruned, dropped] = dropClosureTable(readFileSync(wasmPath));
    writeFileSync(wasmPath, pruned);
    console.log(`post-build: ${dropped} closure entry points of ${file} out of its table`);
    execFileSync('wasm-opt', [...WASM_OPT, wasmPath, '-o', wasmPath], { stdio: 'inherit' });
  }
  const bytes = readFileSync(wasmPath);
  mustValidate(bytes, `${file} after wasm-opt`);
  if (fixTableExport(bytes)) console.log(`post-build: repaired the externref table export of ${file}`);
  const [renamedBytes, renamedGlue, renamed] = shortNames(bytes, readFileSync(gluePath, 'utf8'));
  writeFileSync(wasmPath, renamedBytes);
  writeFileSync(gluePath, dropInitSync(renamedGlue));
  console.log(`post-build: ${renamed} imports and exports of ${file} renamed`);
}

// Job 4: every script is an ES module but the service worker, a classic script (the engines
// tested all run those; module workers are newer); names the page or the module reach
// (exports, the import object's keys, properties) stay as they are, and the worker's own
// top-level names are shortened like a module's (nothing else sees them).
for (const file of files) {
  if (!file.endsWith('.js')) continue;
  const path = join(dir, file);
  const source = readFileSync(path, 'utf8');
  const { code } = await terser(source, {
    module: file !== 'sw.js',
    toplevel: true,
    ecma: 2020,
    compress: { passes: 2 },
    format: { comments: false },
  });
  writeFileSync(path, code);
  console.log(`post-build: ${file} minified, ${source.length} to ${code.length} bytes`);
}

// The manifest, whose every byte counts in the app's size (the browser reads it on each
// visit), without its spaces.
if (files.includes('manifest.webmanifest')) {
  const path = join(dir, 'manifest.webmanifest');
  writeFileSync(path, JSON.stringify(JSON.parse(readFileSync(path, 'utf8'))));
}

// Job 5: versioned addresses. Each file a page loads by a fixed name gets `?v=` and the first
// 10 hex digits of its SHA-256 wherever it is named, innermost first (the module in the glue,
// the glue in the scripts, everything in the page), and the server keeps such an address in
// browsers' caches for a year when the version is the file's (crates/server/src/statics.rs).
// cloud-otp.js, which training sites name in their pages, and index.html keep plain addresses.
const version = (file) =>
  createHash('sha256').update(readFileSync(join(dir, file))).digest('hex').slice(0, 10);
function pin(file, names) {
  if (!files.includes(file)) return; // Not in this build.
  const path = join(dir, file);
  const versions = Object.fromEntries(names.map((name) => [name, version(name)]));
  writeFileSync(path, pinAddresses(readFileSync(path, 'utf8'), file, versions));
}
if (files.includes('cloud-otp-web_bg.wasm')) {
  pin('cloud-otp-web.js', ['cloud-otp-web_bg.wasm']);
  pin('app.js', ['cloud-otp-web.js']);
  pin('cloud-otp.js', ['cloud-otp-web.js', 'cloud-otp.css']);
  pin('index.html', ['cloud-otp-web_bg.wasm', 'cloud-otp-web.js', 'cloud-otp.css', 'app.js']);
  console.log('post-build: addresses versioned');
}

// Job 6: the page's versioned addresses (minified, the worker is filled after job 4).
if (files.includes('sw.js') && files.includes('index.html')) {
  const page = readFileSync(join(dir, 'index.html'), 'utf8');
  const keep = pageFiles(page);
  // Of the page itself, which names the files' versions: the worker answers the page from its
  // copy first, so a page changed alone must still make a new worker.
  const digest = createHash('sha256').update(page).digest('hex').slice(0, 10);
  const path = join(dir, 'sw.js');
  writeFileSync(path, fillWorker(readFileSync(path, 'utf8'), keep, `cloud-otp-${digest}`));
  console.log(`post-build: the service worker keeps / and ${keep.length} files`);
}

// Job 7, last, so that the copies are of the final files.
for (const file of readdirSync(dir)) {
  if (!/\.(wasm|js|css|html|webmanifest)$/.test(file)) continue;
  writeFileSync(join(dir, `${file}.gz`), gzipSync(readFileSync(join(dir, file)), { level: 9 }));
}
