//! The browser's fingerprint: a SHA-256 over stable traits of the browser and machine, and a
//! human label ("Chrome on Linux") the unapproved-device screen can show.
//!
//! It is a second signal next to the key in IndexedDB, not the binding (docs/architecture.md): a browser
//! update must not change it, so it holds families and hardware traits, never a version.

use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Document, HtmlCanvasElement, WebGlRenderingContext};

use crate::text::{concat, decimal};
use crate::{Error, js, keystore};

/// The traits the fingerprint is made of, each free of version numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Components {
    /// Browser family, such as "Chrome" or "Safari".
    pub browser: &'static str,
    /// Operating system family, such as "Windows" or "Android".
    pub os: &'static str,
    /// WebGL vendor and renderer with version numbers removed (empty without WebGL).
    pub gpu: String,
    /// Logical processors (`navigator.hardwareConcurrency`; 0 when unknown).
    pub cores: u32,
    /// Approximate memory in MiB (`navigator.deviceMemory`, Chromium only; 0 when unknown).
    pub memory_mib: u32,
    /// Screen colour depth in bits (0 when unknown).
    pub color_depth: u32,
    /// The system the label names: [`Components::os`], except "iPhone" and "iPad" for iOS and
    /// for an iPad that presents itself as a Mac ([`label_system`]). Not hashed: the
    /// fingerprints of devices registered before it existed stay the same.
    pub system: &'static str,
}

impl Components {
    /// Builds the components from what the browser reports; pure, so tests can feed it the
    /// user agents and renderer strings of other browsers.
    ///
    /// ```
    /// use cloud_otp_web::fingerprint::Components;
    /// let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
    ///           Chrome/131.0.0.0 Safari/537.36";
    /// let c = Components::new(ua, 0, "Google Inc. / ANGLE (Intel, Vulkan 1.3.0)", 8, Some(8.0), Some(24.0));
    /// assert_eq!(c.label(), "Chrome on Windows");
    /// assert_eq!(c.gpu, "Google Inc. / ANGLE (Intel, Vulkan");
    /// assert_eq!(c.memory_mib, 8192);
    /// ```
    pub fn new(
        user_agent: &str,
        max_touch_points: u32,
        gpu: &str,
        cores: u32,
        memory_gb: Option<f64>,
        color_depth: Option<f64>,
    ) -> Components {
        Components {
            browser: browser_family(user_agent),
            os: os_family(user_agent),
            gpu: strip_versions(gpu),
            cores,
            memory_mib: memory_gb.map_or(0, |gb| (gb * 1024.0).round() as u32),
            color_depth: color_depth.map_or(0, |d| d as u32),
            system: label_system(user_agent, max_touch_points),
        }
    }

    /// The text that is hashed: one `name=value` per component, in a fixed order. It must never
    /// change: the server compares its hash with the one sent at registration.
    ///
    /// ```
    /// use cloud_otp_web::fingerprint::Components;
    /// let ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
    ///           Chrome/131.0.0.0 Safari/537.36";
    /// let c = Components::new(ua, 0, "Mesa / llvmpipe (LLVM 19.1.7, 256 bits)", 2, Some(0.5), Some(24.0));
    /// assert_eq!(
    ///     c.canonical(),
    ///     "cloud-otp-fingerprint\nbrowser=Chrome\nos=Linux\ngpu=Mesa / llvmpipe (LLVM 256 bits)\n\
    ///      cores=2\nmemory_mib=512\ncolor_depth=24\n"
    /// );
    /// ```
    pub fn canonical(&self) -> String {
        let number = |n: u32| decimal(u64::from(n));
        concat(&[
            "cloud-otp-fingerprint\nbrowser=",
            self.browser,
            "\nos=",
            self.os,
            "\ngpu=",
            &self.gpu,
            "\ncores=",
            &number(self.cores),
            "\nmemory_mib=",
            &number(self.memory_mib),
            "\ncolor_depth=",
            &number(self.color_depth),
            "\n",
        ])
    }

    /// A label a person recognises, such as "Chrome on Linux" or "Safari on iPad".
    pub fn label(&self) -> String {
        concat(&[self.browser, " on ", self.system])
    }
}

/// The browser family named in a user agent. Order matters: Edge, Whale, Samsung Internet
/// and Opera also say "Chrome", and every Chromium browser also says "Safari".
///
/// ```
/// use cloud_otp_web::fingerprint::browser_family;
/// assert_eq!(browser_family("... HeadlessChrome/156.0.0.0 Safari/537.36"), "Chrome");
/// assert_eq!(browser_family("... Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86"), "Edge");
/// assert_eq!(browser_family("... Version/18.1 Mobile/15E148 Safari/604.1"), "Safari");
/// ```
pub fn browser_family(user_agent: &str) -> &'static str {
    let has = |token: &str| has_token(user_agent, token);
    if has("Edg/") || has("EdgA/") || has("EdgiOS/") {
        "Edge"
    } else if has("Whale/") {
        "Whale"
    } else if has("SamsungBrowser/") {
        "Samsung Internet"
    } else if has("OPR/") || has("Opera") {
        "Opera"
    } else if has("Firefox/") || has("FxiOS/") {
        "Firefox"
    } else if has("Chrome/") || has("CriOS/") || has("Chromium/") {
        "Chrome"
    } else if has("Safari/") {
        "Safari"
    } else {
        "Browser"
    }
}

/// Whether `text` contains `token`, compared as bytes: `str::contains` would link the standard
/// library's substring search and its slicing panics, kilobytes of wasm for a user agent.
fn has_token(text: &str, token: &str) -> bool {
    text.as_bytes()
        .windows(token.len())
        .any(|w| w == token.as_bytes())
}

/// The operating system family named in a user agent, as hashed. Android says "Linux" too, so
/// it is checked first; iPadOS may present itself as macOS, which is stable, so it is kept here
/// (the label tells the iPad apart: [`label_system`]).
///
/// ```
/// use cloud_otp_web::fingerprint::os_family;
/// assert_eq!(os_family("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36"), "Android");
/// assert_eq!(os_family("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"), "Linux");
/// assert_eq!(os_family("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)"), "iOS");
/// ```
pub fn os_family(user_agent: &str) -> &'static str {
    let has = |token: &str| has_token(user_agent, token);
    if has("Windows") {
        "Windows"
    } else if has("Android") {
        "Android"
    } else if has("iPhone") || has("iPad") || has("iPod") {
        "iOS"
    } else if has("CrOS") {
        "ChromeOS"
    } else if has("Macintosh") || has("Mac OS X") {
        "macOS"
    } else if has("Linux") || has("X11") {
        "Linux"
    } else {
        "unknown system"
    }
}

/// The system a person would name: [`os_family`], with iOS told apart as "iPhone" or "iPad".
///
/// iPadOS Safari (and Chrome, Firefox, Edge and Whale there, which request desktop sites) sends
/// the user agent of a Mac. No Mac has a touch screen, so a "Macintosh" user agent with more than
/// one touch point (`navigator.maxTouchPoints`) is an iPad; `max_touch_points` is 0 where unknown.
///
/// ```
/// use cloud_otp_web::fingerprint::label_system;
/// let mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like \
///            Gecko) Version/18.1 Safari/605.1.15";
/// assert_eq!(label_system(mac, 0), "macOS");
/// assert_eq!(label_system(mac, 5), "iPad");
/// assert_eq!(label_system("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)", 5), "iPhone");
/// ```
pub fn label_system(user_agent: &str, max_touch_points: u32) -> &'static str {
    match os_family(user_agent) {
        "iOS" if has_token(user_agent, "iPad") => "iPad",
        "iOS" if has_token(user_agent, "iPod") => "iPod touch",
        "iOS" => "iPhone",
        "macOS" if max_touch_points > 1 => "iPad",
        os => os,
    }
}

/// Drops every word that holds a dotted version number ("23.2.1", "D3D11-27.20.100.8681") and
/// squeezes the spaces, so a driver or browser update leaves the text unchanged.
///
/// ```
/// use cloud_otp_web::fingerprint::strip_versions;
/// assert_eq!(strip_versions("OpenGL 4.6 (Core Profile) Mesa 23.2.1-1ubuntu3"),
///            "OpenGL (Core Profile) Mesa");
/// assert_eq!(strip_versions("NVIDIA GeForce RTX 3060 vs_5_0"), "NVIDIA GeForce RTX 3060 vs_5_0");
/// ```
pub fn strip_versions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text
        .split_whitespace()
        .filter(|word| !has_dotted_number(word))
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Whether `text` holds a digit, a dot and a digit in a row: the shape of every version number.
pub fn has_dotted_number(text: &str) -> bool {
    text.as_bytes()
        .windows(3)
        .any(|w| w[0].is_ascii_digit() && w[1] == b'.' && w[2].is_ascii_digit())
}

/// What the browser reports about itself and its machine, read from `navigator`, `screen` and
/// a throwaway WebGL context.
pub fn collect() -> Components {
    let navigator = js::global("navigator").unwrap_or(JsValue::UNDEFINED);
    let user_agent = js::string_field(&navigator, "userAgent").unwrap_or_default();
    let cores = js::number_field(&navigator, "hardwareConcurrency").map_or(0, |n| n as u32);
    let memory_gb = js::number_field(&navigator, "deviceMemory");
    let touch_points = js::number_field(&navigator, "maxTouchPoints").map_or(0, |n| n as u32);
    let color_depth = js::global("screen").and_then(|s| js::number_field(&s, "colorDepth"));
    Components::new(
        &user_agent,
        touch_points,
        &webgl_gpu(),
        cores,
        memory_gb,
        color_depth,
    )
}

/// WebGL's vendor and renderer, unmasked where the browser allows it; empty without WebGL.
fn webgl_gpu() -> String {
    // WEBGL_debug_renderer_info: UNMASKED_VENDOR_WEBGL and UNMASKED_RENDERER_WEBGL.
    const UNMASKED_VENDOR: u32 = 0x9245;
    const UNMASKED_RENDERER: u32 = 0x9246;
    let Some(gl) = webgl_context() else {
        return String::new();
    };
    let (vendor, renderer) = match gl.get_extension("WEBGL_debug_renderer_info") {
        Ok(Some(_)) => (UNMASKED_VENDOR, UNMASKED_RENDERER),
        _ => (
            WebGlRenderingContext::VENDOR,
            WebGlRenderingContext::RENDERER,
        ),
    };
    let text = |name| {
        gl.get_parameter(name)
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    let gpu = concat(&[&text(vendor), " / ", &text(renderer)]);
    // Browsers cap the number of live WebGL contexts: give this one back at once.
    if let Ok(Some(lose)) = gl.get_extension("WEBGL_lose_context")
        && let Some(lose_context) =
            js::field(&lose, "loseContext").and_then(|f| f.dyn_into::<js_sys::Function>().ok())
    {
        let _ = lose_context.call0(&lose);
    }
    gpu
}

/// A WebGL context on a canvas of its own. The casts are unchecked: a window's `document` is a
/// Document, `createElement("canvas")` makes an HTMLCanvasElement and `getContext("webgl")`
/// gives a WebGLRenderingContext or null (HTML standard), so the module carries no instanceof
/// checks for them.
fn webgl_context() -> Option<WebGlRenderingContext> {
    let document: Document = js::global("document")?.unchecked_into();
    let canvas: HtmlCanvasElement = document.create_element("canvas").ok()?.unchecked_into();
    Some(canvas.get_context("webgl").ok()??.unchecked_into())
}

/// A fingerprint as sent to the server: the hash and the label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// SHA-256 of [`Components::canonical`], 64 lowercase hex digits.
    pub hash: String,
    /// The human label, such as "Chrome on Linux".
    pub label: String,
}

impl Fingerprint {
    /// Hashes the components with WebCrypto.
    pub async fn of(components: &Components) -> Result<Fingerprint, Error> {
        Ok(Fingerprint {
            hash: keystore::sha256_hex(components.canonical().as_bytes()).await?,
            label: components.label(),
        })
    }

    /// The fingerprint of this browser.
    pub async fn current() -> Result<Fingerprint, Error> {
        Fingerprint::of(&collect()).await
    }
}
