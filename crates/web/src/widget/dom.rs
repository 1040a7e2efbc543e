//! Small DOM helpers for the widget: building elements, and a timer guard that, like
//! [`Listener`], cancels its JavaScript callback when dropped.

use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;
use web_sys::{Element, Event, EventTarget, HtmlElement};

pub(crate) use crate::js::Listener;

#[wasm_bindgen]
extern "C" {
    // Bound without `catch`: the widget only creates elements with constant, valid tag names.
    #[wasm_bindgen(js_namespace = document, js_name = createElement)]
    fn create_element(tag: &str) -> HtmlElement;

    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(callback: &Function, ms: f64) -> f64;

    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: f64);
}

/// A new `tag` element with class `class` (none when empty), appended to `parent`.
pub(crate) fn el(parent: &Element, tag: &str, class: &str) -> HtmlElement {
    let e = create_element(tag);
    if !class.is_empty() {
        e.set_class_name(class);
    }
    let _ = parent.append_child(&e);
    e
}

/// Like [`el`], with text content.
pub(crate) fn text(parent: &Element, tag: &str, class: &str, content: &str) -> HtmlElement {
    let e = el(parent, tag, class);
    e.set_text_content(Some(content));
    e
}

/// A `<button type="button">` with a label.
pub(crate) fn button(parent: &Element, class: &str, label: &str) -> HtmlElement {
    let b = text(parent, "button", class, label);
    attr(&b, "type", "button");
    b
}

/// A button whose `value` names what it does, for the widget's one click listener.
pub(crate) fn action_button(
    parent: &Element,
    class: &str,
    label: &str,
    value: &str,
) -> HtmlElement {
    let b = button(parent, class, label);
    attr(&b, "value", value);
    b
}

/// Sets an attribute; setting a valid name on an element the widget made cannot fail.
pub(crate) fn attr(e: &Element, name: &str, value: &str) {
    let _ = e.set_attribute(name, value);
}

/// A property of a JavaScript object as a string (`value` of an input, `key` of an event).
pub(crate) fn prop(object: &JsValue, name: &str) -> String {
    crate::js::string_field(object, name).unwrap_or_default()
}

/// Sets a property of a JavaScript object (`value` of an input or a select).
pub(crate) fn set_prop(object: &JsValue, name: &str, value: &str) {
    let _ = Reflect::set(object, &JsValue::from_str(name), &JsValue::from_str(value));
}

/// Calls `object.name(arg)` when the method exists, and returns its result.
pub(crate) fn call(object: &JsValue, name: &str, arg: &JsValue) -> Option<JsValue> {
    let method: Function = crate::js::field(object, name)?.dyn_into().ok()?;
    method.call1(object, arg).ok()
}

/// Registers `handler` for `kind` events on `target`; the listener lives as long as the guard.
pub(crate) fn on(
    target: &EventTarget,
    kind: &'static str,
    handler: impl FnMut(Event) + 'static,
) -> Option<Listener> {
    Listener::new(target, kind, handler).ok()
}

/// A `setTimeout` that is cleared when the guard is dropped, so no callback outlives the screen
/// or the widget that scheduled it.
pub(crate) struct Timer {
    id: f64,
    _callback: Closure<dyn FnMut()>,
}

impl Timer {
    /// Runs `f` once after `ms` milliseconds.
    pub(crate) fn after(ms: f64, f: impl FnOnce() + 'static) -> Timer {
        let callback = Closure::once(f);
        let id = set_timeout(callback.as_ref().unchecked_ref(), ms);
        Timer {
            id,
            _callback: callback,
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        clear_timeout(self.id);
    }
}
