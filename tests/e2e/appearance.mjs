// What the appearance tests (appearance.test.mjs, appearance-engines.test.mjs) read in a page,
// the same in Playwright and WebDriver: the computed colours of the <cloud-otp> element, its
// focus ring, whether anything in it is wider than its box, the sizes of its tap targets; and the widget's words in
// English and Korean that the tests press and wait for.

/** The words the tests look for, in each language of the widget. */
export const words = {
  en: { register: 'Register cloud OTP', confirm: 'Confirm', wrong: 'Wrong code. Attempts left before OTP is suspended: 4.' },
  ko: { register: '클라우드 OTP 등록', confirm: '확인', wrong: '인증번호가 틀렸습니다. OTP 정지까지 남은 횟수: 4.' },
};

/** The relative luminance (WCAG) of a computed colour "rgb(r, g, b)" or "rgba(r, g, b, a)". */
export function luminance(color) {
  const [r, g, b] = color.match(/[\d.]+/g).slice(0, 3).map((v) => {
    const c = Number(v) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** The contrast ratio (WCAG) of two computed colours. */
export function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

// Runs in the page (self-contained): the focused element in the widget, its outline (style and
// colour) and its name, once the keyboard has moved the focus there.
export function focusRing() {
  const el = document.querySelector('cloud-otp').shadowRoot.activeElement;
  if (!el) return null;
  const style = getComputedStyle(el);
  return { name: el.textContent, style: style.outlineStyle, color: style.outlineColor, width: style.outlineWidth };
}

// Runs in the page (self-contained): the element's own background and colour scheme, a card's
// background, the widget's text colour, and the element's width.
export function appearance() {
  const host = document.querySelector('cloud-otp');
  const style = (el) => getComputedStyle(el);
  return {
    host: style(host).backgroundColor,
    scheme: style(host).colorScheme,
    card: style(host.shadowRoot.querySelector('.card')).backgroundColor,
    ink: style(host.shadowRoot.querySelector('.cotp')).color,
    width: Math.round(host.getBoundingClientRect().width),
  };
}

// Runs in the page (self-contained): what is wider than the element or sticks out of it (the
// page scrolling sideways, an element scrolling inside, a box past the element's edges), and
// every key or button of the keypad and the code card under 44 x 44 pixels.
export function fits() {
  const wrong = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth) wrong.push(`page ${root.scrollWidth} > ${root.clientWidth}`);
  const host = document.querySelector('cloud-otp');
  if (host.scrollWidth > host.clientWidth) wrong.push(`element ${host.scrollWidth} > ${host.clientWidth}`);
  const edge = host.getBoundingClientRect();
  for (const el of host.shadowRoot.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    // Visually hidden text (for screen readers) is 1 pixel wide on purpose.
    if (box.width <= 1 || el.matches('link, style')) continue;
    const name = `${el.tagName.toLowerCase()}.${el.className} "${el.textContent.slice(0, 20)}"`;
    if (el.scrollWidth > el.clientWidth + 1) wrong.push(`${name} scrolls: ${el.scrollWidth} > ${el.clientWidth}`);
    if (box.left < edge.left - 0.5 || box.right > edge.right + 0.5) wrong.push(`${name} is outside the element`);
    if (el.matches('.key, .primary, .ghost') && (box.width < 44 || box.height < 44)) {
      wrong.push(`${name} is ${box.width} x ${box.height}, under 44 x 44`);
    }
  }
  return wrong;
}
