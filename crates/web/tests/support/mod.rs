//! Helpers that more than one browser test binary needs: browser behaviour made to happen on
//! purpose, where this machine's browsers do not show it by themselves.
#![allow(clippy::unwrap_used)]

use wasm_bindgen::{JsCast, JsValue};

/// Makes every IndexedDB read answer `undefined` until the returned function is called.
pub fn blank_idb_reads() -> js_sys::Function {
    let patch = js_sys::Function::new_no_args(
        "const get = IDBObjectStore.prototype.get;\n\
         IDBObjectStore.prototype.get = function (key) {\n\
           const request = get.call(this, key);\n\
           Object.defineProperty(request, 'result', { get: () => undefined });\n\
           return request;\n\
         };\n\
         return () => { IDBObjectStore.prototype.get = get; };",
    );
    patch.call0(&JsValue::NULL).unwrap().unchecked_into()
}
