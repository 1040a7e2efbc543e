// The post-build patches on their own (node --test in www/build): a small module made here, in
// the shape wasm-bindgen and Debian's wasm-opt leave, and glue text in wasm-bindgen's shape.
// Each patch does its job on the expected input and fails loudly on an unexpected one.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import {
  PatchError, cleanPage, dropClosureTable, dropInitSync, fillWorker, fixTableExport, mustValidate, pageFiles,
  pinAddresses, sections, shortNames,
} from './patch.mjs';

const IMPORT = '__wbg_log_0123456789abcdef';
const CLOSURE = 'wasm_bindgen_0123456789abcdef___convert__closures_____invoke';

const bytesOf = (text) => [...Buffer.from(text, 'utf8')];
const str = (text) => [bytesOf(text).length, ...bytesOf(text)];
const section = (id, body) => [id, body.length, ...body];

/**
 * A module with an imported function, a funcref and an externref table, and the externref
 * table exported as `__wbindgen_externrefs` from table `exportedTable` (binaryen 108 writes 0).
 */
function module({ exportedTable = 0, externrefTable = true, closure = CLOSURE } = {}) {
  const tables = externrefTable ? [2, 0x70, 0, 1, 0x6f, 0, 1] : [1, 0x70, 0, 1];
  return Buffer.from([
    0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, [1, 0x60, 0, 0]),
    ...section(2, [1, ...str('wbg'), ...str(IMPORT), 0, 0]),
    ...section(4, tables),
    ...section(7, [2, ...str('__wbindgen_externrefs'), 1, exportedTable, ...str(closure), 0, 0]),
  ]);
}

const GLUE = `function __wbg_get_imports() {
    const import0 = {
        __proto__: null,
        ${IMPORT}: function(arg0) {
            console.log(arg0);
        },
    };
    return { './cloud-otp-web_bg.js': import0 };
}
function ${CLOSURE}(arg0) {
    wasm.${CLOSURE}(arg0);
}
export { initSync, __wbg_init as default };
`;

/** The export entry named `field`: its kind and index bytes. */
function exported(bytes, field) {
  const text = bytes.toString('latin1');
  const at = text.indexOf(field) + field.length;
  assert.ok(at >= field.length, `${field} is exported`);
  return [bytes[at], bytes[at + 1]];
}

it('the test module is a valid module, with the export binaryen 108 gets wrong', () => {
  mustValidate(module(), 'the test module');
  assert.deepEqual(exported(module(), '__wbindgen_externrefs'), [1, 0]);
});

it('points __wbindgen_externrefs at the externref table, once', () => {
  const bytes = module();
  assert.equal(fixTableExport(bytes), true);
  assert.deepEqual(exported(bytes, '__wbindgen_externrefs'), [1, 1]);
  mustValidate(bytes, 'the repaired module');
  assert.equal(fixTableExport(bytes), false, 'a right export is left as it is');
});

it('fails the build on a module without the table or the export it repairs', () => {
  assert.throws(() => fixTableExport(module({ externrefTable: false, exportedTable: 0 })), PatchError);
  const noExport = module();
  noExport.write('__wbindgen_externrefX', noExport.indexOf('__wbindgen_externrefs'), 'latin1');
  assert.throws(() => fixTableExport(noExport), /exports no table `__wbindgen_externrefs`/);
});

it('renames the hashed import and the closure export in the module and the glue alike', () => {
  const [bytes, glue, renamed] = shortNames(module({ exportedTable: 1 }), GLUE);
  assert.equal(renamed, 2);
  mustValidate(bytes, 'the renamed module');
  const text = bytes.toString('latin1');
  assert.ok(!text.includes(IMPORT) && !text.includes(CLOSURE), 'the long names are gone');
  assert.match(glue, /^\s*w0: function\(arg0\)/m);
  assert.match(glue, /^function x1\(arg0\) \{\n\s*wasm\.x1\(arg0\);/m);
  assert.ok(!glue.includes(IMPORT) && !glue.includes(CLOSURE));
  assert.deepEqual(exported(bytes, 'x1'), [0, 0]);
});

it('fails the build when the glue no longer has the shape it renames', () => {
  const other = GLUE.replaceAll(`${IMPORT}: function`, `"${IMPORT}": (arg0) =>`)
    .replaceAll(`wasm.${CLOSURE}(`, `wasm["${CLOSURE}"](`);
  assert.throws(() => shortNames(module({ exportedTable: 1 }), other), /no import or export renamed/);
});

it('never writes a module that does not validate', () => {
  const broken = module({ exportedTable: 1 });
  broken[broken.length - 1] = 0x7f; // The closure export now names function 127, which does not exist.
  assert.throws(() => mustValidate(broken, 'a broken module'), /not a valid WebAssembly module/);
  assert.throws(() => shortNames(broken, GLUE), /not a valid WebAssembly module/);
  assert.throws(() => sections(Buffer.from('not wasm')), /not a WebAssembly module/);
});

it('drops the export of initSync, or fails when the glue exports otherwise', () => {
  assert.match(dropInitSync(GLUE), /^export \{ __wbg_init as default \};$/m);
  assert.throws(() => dropInitSync('export { __wbg_init as default };'), PatchError);
});

it("drops Trunk's leftover tags from the page, or fails when there are none", () => {
  const page = '<head><link data-trunk rel="rust" href="crates/web/Cargo.toml">'
    + '<link rel="stylesheet" href="/cloud-otp.css" data-integrity="none"></head>';
  assert.equal(cleanPage(page), '<head><link rel="stylesheet" href="/cloud-otp.css"></head>');
  assert.throws(() => cleanPage('<head></head>'), /no `<link data-trunk>`/);
});

it('versions every address it is given, or fails when one is not named', () => {
  const page = '<script type="module" src="/app.js"></script><link href="/cloud-otp.css">';
  assert.equal(
    pinAddresses(page, 'index.html', { 'app.js': 'a1', 'cloud-otp.css': 'c2' }),
    '<script type="module" src="/app.js?v=a1"></script><link href="/cloud-otp.css?v=c2">',
  );
  // Only addresses: a mention in running text is not one.
  assert.throws(
    () => pinAddresses('see app.js. <script src="/x.js">', 'index.html', { 'app.js': 'a1' }),
    /index\.html does not name app\.js/,
  );
});

it('lists the versioned addresses of a page, or fails when it has none', () => {
  const page = '<link rel="modulepreload" href="/a.js?v=0123456789"><script src="/b.js?v=abcdef0123">'
    + '</script><link href="/a.js?v=0123456789"><link rel="manifest" href="/manifest.webmanifest">'
    + '<link href=/c.css?v=fedcba9876 rel=stylesheet><script src=/d.js?v=0000000000></script>';
  assert.deepEqual(pageFiles(page),
    ['/a.js?v=0123456789', '/b.js?v=abcdef0123', '/c.css?v=fedcba9876', '/d.js?v=0000000000']);
  assert.throws(() => pageFiles('<script src="/app.js"></script>'), PatchError);
});

it("writes the worker's files and cache name wherever the minifier left them, or fails", () => {
  const minified = 'const e="@VERSION@";oninstall=()=>caches.open(e).then(c=>c.addAll(["/","@FILES@"]));'
    + 'onfetch=t=>["@FILES@"].includes(t)';
  assert.equal(
    fillWorker(minified, ['/a.js?v=0123456789', '/b.css?v=abcdef0123'], 'f00d'),
    'const e="f00d";oninstall=()=>caches.open(e).then(c=>c.addAll(["/","/a.js?v=0123456789","/b.css?v=abcdef0123"]));'
      + 'onfetch=t=>["/a.js?v=0123456789","/b.css?v=abcdef0123"].includes(t)',
  );
  assert.throws(() => fillWorker('const e="@VERSION@";', ['/a'], 'v'), PatchError);
  assert.throws(() => fillWorker('x=["@FILES@"]', ['/a'], 'v'), PatchError);
});

/**
 * A module with three functions in its table, named as the linker names them: `app::run`,
 * then two wasm-bindgen closure entry points; `names: false` leaves the name section out.
 */
function tableModule({ names = true } = {}) {
  const shim = (t) => `wasm_bindgen[0123456789abcdef]::convert::closures::_::invoke::<${t}, true>`;
  const fnNames = [[0, 'app::run'], [1, shim('f64')], [2, shim('i8')]];
  const nameMap = [3, ...fnNames.flatMap(([i, n]) => [i, ...str(n)])];
  // Sizes over 127 take two LEB128 bytes.
  const leb2 = (n) => [(n & 0x7f) | 0x80, n >> 7];
  const nameBody = [...str('name'), 1, ...leb2(nameMap.length), ...nameMap];
  return Buffer.from([
    0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, [1, 0x60, 0, 0]),
    ...section(3, [3, 0, 0, 0]),
    ...section(4, [1, 0x70, 0, 3]),
    ...section(9, [1, 0, 0x41, 0, 0x0b, 3, 0, 1, 2]),
    ...section(10, [3, 2, 0, 0x0b, 2, 0, 0x0b, 2, 0, 0x0b]),
    ...(names ? [0, ...leb2(nameBody.length), ...nameBody] : []),
  ]);
}

it('dropClosureTable points every closure entry point in the table at the first one', () => {
  const input = tableModule();
  mustValidate(input, 'the test module');
  const [out, replaced] = dropClosureTable(input);
  assert.equal(replaced, 1);
  const elements = sections(out).find((s) => s.id === 9);
  // app::run stays, the second entry point now names the first.
  assert.deepEqual([...out.subarray(elements.start, elements.end)], [1, 0, 0x41, 0, 0x0b, 3, 0, 1, 1]);
});

it('dropClosureTable fails without the names it finds entry points by', () => {
  assert.throws(() => dropClosureTable(tableModule({ names: false })), PatchError);
});
