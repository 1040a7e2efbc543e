// The <cloud-otp> element: what a training site embeds with one script tag,
//   <script type="module" src="https://otp.example.org/cloud-otp.js"></script>
//   <cloud-otp server="https://otp.example.org" session="..."></cloud-otp>
// It loads the WebAssembly module and the stylesheet from the server this file came from and
// renders the widget in its own shadow root. On success the widget dispatches `cloud-otp-pass`
// ({detail: {pass, expiresAt}}) inside that root; the event bubbles and is composed, so the page
// hears it on this element (and on the document). The element keeps the pass (`pass`,
// `expiresAt`, `expired`), says `cloud-otp-expired` when it dies unused, starts over on
// `reset(session?)`, and inside a <form> keeps it in a hidden field of its light DOM (named by
// `name`, default `cloud-otp-pass`), so the form's submission carries it (docs/widget.md).
const base = new URL('./', import.meta.url);
// How long the server keeps a pass (docs/api.md), counted here from its arrival rather than by
// `expiresAt`, which is the server's time: the device clock may be hours off (product rule 8).
const LIFE = 120e3;
let module;

// The module is fetched and compiled once, however many elements the page has.
function load() {
  module ??= import(new URL('cloud-otp-web.js', base).href).then(async (m) => {
    await m.default();
    return m;
  });
  return module;
}

class CloudOtpElement extends HTMLElement {
  static observedAttributes = ['server', 'session', 'lang'];
  #widget;
  #box;
  #ready;
  #turn = 0;
  // The last pass event's detail, {pass, expiresAt}, until a reset, a new session or a removal.
  #got;
  #end;
  #timer;
  // The form's field, there before a pass too (empty), so the site's backend always finds the
  // key, as CAPTCHA widgets do.
  #field = document.createElement('input');

  get pass() { return this.#got?.pass ?? null; }
  get expiresAt() { return this.#got?.expiresAt ?? null; }
  get expired() { return !!this.#got && Date.now() >= this.#end; }

  connectedCallback() {
    if (!this.#box) {
      const root = this.attachShadow({ mode: 'open' });
      const css = document.createElement('link');
      css.rel = 'stylesheet';
      css.href = new URL('cloud-otp.css', base).href;
      this.#box = document.createElement('div');
      root.append(css, this.#box);
      // Mount once the stylesheet is in, so the widget never shows unstyled.
      const m = load();
      this.#ready = new Promise((done) => { css.onload = css.onerror = done; }).then(() => m);
      // Heard on the own root only: another element's pass, or one a script fakes on this
      // element, is never taken for this one's.
      root.addEventListener('cloud-otp-pass', ({ detail }) => {
        this.#forget();
        this.#field.value = (this.#got = detail).pass;
        this.#end = Date.now() + LIFE;
        this.#timer = setTimeout(() => {
          this.#field.value = '';
          this.dispatchEvent(new CustomEvent('cloud-otp-expired', { bubbles: true, composed: true, detail }));
        }, LIFE);
      });
    }
    // Only inside a form; an element moved out keeps its field, empty, where nothing posts it.
    this.#field.type = 'hidden';
    this.#field.name = this.getAttribute('name') || 'cloud-otp-pass';
    if (this.closest('form')) this.append(this.#field);
    this.#mount();
  }

  disconnectedCallback() {
    this.#forget();
    this.#widget?.unmount();
    this.#widget = null;
  }

  attributeChangedCallback(name) {
    // A new session is a new start: the old one's pass is not this one's.
    if (name === 'session') this.#forget();
    if (this.#ready) this.#mount();
  }

  /** Forgets the pass and starts the widget over, with `session` when given. */
  reset(session) {
    this.#forget();
    if (session != null) this.setAttribute('session', session);
    this.#mount();
  }

  #forget() {
    clearTimeout(this.#timer);
    this.#got = null;
    this.#field.value = '';
  }

  // Only the last of several calls in a row mounts (attributes set one by one, a reset, a
  // removal and return within one task as React's StrictMode does), and none while detached.
  async #mount() {
    const turn = ++this.#turn;
    const m = await this.#ready;
    if (turn !== this.#turn || !this.isConnected) return;
    this.#widget?.unmount();
    this.#widget = m.mount(this.#box, {
      server: this.getAttribute('server') || base.origin,
      session: this.getAttribute('session'),
      lang: this.getAttribute('lang') || undefined,
    });
  }
}

if (!customElements.get('cloud-otp')) customElements.define('cloud-otp', CloudOtpElement);
