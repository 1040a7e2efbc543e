// The <cloud-otp> element: what a training site embeds with one script tag,
//   <script type="module" src="https://otp.example.org/cloud-otp.js"></script>
//   <cloud-otp server="https://otp.example.org" session="..."></cloud-otp>
// It loads the WebAssembly module and the stylesheet from the server this file came from and
// renders the widget in its own shadow root. On success the widget dispatches `cloud-otp-pass`
// ({detail: {pass, expiresAt}}) inside that root; the event bubbles and is composed, so the page
// hears it on this element (and on the document).
const base = new URL('./', import.meta.url);
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
  #widget = null;
  #box = null;
  #ready = null;

  connectedCallback() {
    if (!this.#box) {
      const root = this.attachShadow({ mode: 'open' });
      const css = document.createElement('link');
      css.rel = 'stylesheet';
      css.href = new URL('cloud-otp.css', base).href;
      // Mount once the stylesheet is in, so the widget never shows unstyled.
      const styled = new Promise((done) => { css.onload = css.onerror = done; });
      this.#box = document.createElement('div');
      root.append(css, this.#box);
      this.#ready = Promise.all([load(), styled]).then(([m]) => m);
    }
    this.#mount();
  }

  disconnectedCallback() {
    this.#widget?.unmount();
    this.#widget = null;
  }

  attributeChangedCallback() {
    if (this.#widget) this.#mount();
  }

  async #mount() {
    const m = await this.#ready;
    if (!this.isConnected) return;
    this.#widget?.unmount();
    this.#widget = m.mount(this.#box, {
      server: this.getAttribute('server') || base.origin,
      session: this.getAttribute('session'),
      lang: this.getAttribute('lang') || undefined,
    });
  }
}

if (!customElements.get('cloud-otp')) customElements.define('cloud-otp', CloudOtpElement);
