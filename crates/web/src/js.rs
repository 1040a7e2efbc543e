//! Thin helpers at the JavaScript edge: reading and writing object fields, global objects, and
//! waiting for DOM events with listeners that are removed when the wait ends.

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Event, EventTarget};

#[wasm_bindgen]
extern "C" {
    /// The global `fetch`, present in windows and workers alike; `catch` turns a synchronous
    /// TypeError (a malformed URL) into an `Err` instead of a trap.
    #[wasm_bindgen(catch, js_name = fetch)]
    pub(crate) fn global_fetch(
        input: &str,
        init: &web_sys::RequestInit,
    ) -> Result<Promise, JsValue>;

    /// `AbortSignal.timeout(ms)`; `catch` because browsers before 2022 lack it.
    #[wasm_bindgen(catch, js_namespace = AbortSignal, js_name = timeout)]
    pub(crate) fn abort_after(ms: u32) -> Result<web_sys::AbortSignal, JsValue>;
}

/// A property of the global object (`indexedDB`, `crypto`, `navigator`, ...), or `None` when it
/// is missing, `undefined` or `null`, as happens in some private modes and insecure contexts.
pub(crate) fn global(name: &str) -> Option<JsValue> {
    field(&js_sys::global(), name)
}

/// A field of a JavaScript object, or `None` when it is missing, `undefined` or `null`.
pub(crate) fn field(object: &JsValue, name: &str) -> Option<JsValue> {
    if !object.is_object() && !object.is_function() {
        return None;
    }
    Reflect::get(object, &JsValue::from_str(name))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// A string field, or `None` when it is absent or not a string.
pub(crate) fn string_field(object: &JsValue, name: &str) -> Option<String> {
    field(object, name).and_then(|v| v.as_string())
}

/// A numeric field, or `None` when it is absent, not a number, or not finite.
pub(crate) fn number_field(object: &JsValue, name: &str) -> Option<f64> {
    field(object, name)
        .and_then(|v| v.as_f64())
        .filter(|n| n.is_finite())
}

/// A boolean field, or `None` when it is absent or not a boolean.
pub(crate) fn bool_field(object: &JsValue, name: &str) -> Option<bool> {
    field(object, name).and_then(|v| v.as_bool())
}

/// Sets a field on a fresh object this module owns; setting a data property on a plain object
/// cannot fail, so the result is ignored.
pub(crate) fn set(object: &Object, name: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(object, &JsValue::from_str(name), &value.into());
}

/// The `name` of a DOMException or Error (`"DataCloneError"`, `"QuotaExceededError"`, ...),
/// which is all this module needs to tell failures apart; messages may hold details that do not
/// belong in our errors.
pub(crate) fn error_name(error: &JsValue) -> String {
    string_field(error, "name").unwrap_or_else(|| "UnknownError".to_owned())
}

/// An event listener that is removed from its target when dropped, so no JavaScript callback
/// outlives the Rust code that registered it.
pub(crate) struct Listener {
    target: EventTarget,
    kind: &'static str,
    callback: Closure<dyn FnMut(Event)>,
}

impl Listener {
    /// Registers `handler` for `kind` events on `target`.
    pub(crate) fn new(
        target: &EventTarget,
        kind: &'static str,
        handler: impl FnMut(Event) + 'static,
    ) -> Result<Listener, JsValue> {
        let callback = Closure::<dyn FnMut(Event)>::new(handler);
        target.add_event_listener_with_callback(kind, callback.as_ref().unchecked_ref())?;
        Ok(Listener {
            target: target.clone(),
            kind,
            callback,
        })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // Removing a listener that is registered cannot fail; nothing useful to do if it did.
        let _ = self
            .target
            .remove_event_listener_with_callback(self.kind, self.callback.as_ref().unchecked_ref());
    }
}

/// Waits for the first `success` event (`Ok`) or any of the `failures` events (`Err`) on
/// `target`. Call it before yielding to the event loop after starting the operation, so the
/// event cannot be missed (IndexedDB dispatches its events in later tasks).
pub(crate) async fn first_event(
    target: &EventTarget,
    success: &'static str,
    failures: &[&'static str],
) -> Result<Event, JsValue> {
    let mut settle: Option<(Function, Function)> = None;
    let promise = Promise::new(&mut |resolve, reject| settle = Some((resolve, reject)));
    // The Promise constructor runs its executor synchronously, so both functions are here.
    let Some((resolve, reject)) = settle else {
        return Err(JsValue::from_str("Promise executor did not run"));
    };
    let mut listeners = Vec::with_capacity(1 + failures.len());
    listeners.push(Listener::new(target, success, move |event| {
        let _ = resolve.call1(&JsValue::UNDEFINED, &event);
    })?);
    for &kind in failures {
        let reject = reject.clone();
        listeners.push(Listener::new(target, kind, move |event| {
            let _ = reject.call1(&JsValue::UNDEFINED, &event);
        })?);
    }
    let outcome = JsFuture::from(promise).await;
    drop(listeners);
    outcome.map(Event::unchecked_from_js)
}
