//! The optional PIN, part of the key rather than a screen lock (issue 6): the browser keeps a
//! random seed as a non-extractable HKDF key, and the HMAC key is derived from it with the PIN,
//! exactly as the core's `derive_pin_key` does natively (HKDF-SHA-256, RFC 5869).
//!
//! A wrong PIN therefore gives a working key that makes wrong codes, which the server's
//! five-failure lock counts; nobody can try PINs offline without the seed, and the seed never
//! leaves the browser (the server stores only the derived key).

use cloud_otp_core::PIN_SALT;
use js_sys::{Array, Object, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::CryptoKey;
use zeroize::Zeroizing;

use crate::keystore::{KEY_LEN, crypto_error, import_raw, subtle};
use crate::{Error, js};

/// A trainee's PIN: 4 or 6 digits as the institution's policy says (Any OTP asks for 6, mOTP
/// for 4). It is wiped from memory when dropped and never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(Zeroizing<String>);

impl Pin {
    /// Checks a PIN typed for a policy of `digits` digits (4 or 6).
    ///
    /// ```
    /// use cloud_otp_web::pin::Pin;
    /// assert!(Pin::new("1234", 4).is_ok());
    /// assert!(Pin::new("123456", 4).is_err());
    /// assert!(Pin::new("12a4", 4).is_err());
    /// assert!(Pin::new("1234", 0).is_err());
    /// ```
    pub fn new(text: &str, digits: u8) -> Result<Pin, Error> {
        let fits = matches!(digits, 4 | 6)
            && text.len() == usize::from(digits)
            && text.bytes().all(|b| b.is_ascii_digit());
        if fits {
            Ok(Pin(Zeroizing::new(text.to_owned())))
        } else {
            Err(Error::InvalidInput("pin"))
        }
    }

    /// How many digits the PIN has.
    pub fn digits(&self) -> u8 {
        self.0.len() as u8
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// A PIN is a secret: `Debug` shows only its length.
impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pin({} digits, redacted)", self.0.len())
    }
}

/// Imports a device seed as a non-extractable HKDF key with the one usage given: `deriveKey`
/// for the copy kept in IndexedDB, `deriveBits` for the throwaway copy that computes the key
/// sent to the server at registration. The kept copy cannot `deriveBits`, so no script can
/// read the HMAC key out of it even with the PIN.
pub async fn import_seed(seed: &[u8], usage: &str) -> Result<CryptoKey, Error> {
    let params = Object::new();
    js::set(&params, "name", "HKDF");
    import_raw(seed, &params, usage).await
}

/// The HKDF parameters: SHA-256, the core's salt, the PIN as info (RFC 5869 section 2).
fn hkdf_params(pin: &Pin) -> Object {
    let params = Object::new();
    js::set(&params, "name", "HKDF");
    js::set(&params, "hash", "SHA-256");
    js::set(&params, "salt", Uint8Array::from(PIN_SALT));
    js::set(&params, "info", Uint8Array::from(pin.bytes()));
    params
}

/// The account's HMAC-SHA-1 key for `pin`, derived from the kept seed; non-extractable, for
/// signing only.
pub async fn derive_key(seed: &CryptoKey, pin: &Pin) -> Result<CryptoKey, Error> {
    let hmac = Object::new();
    js::set(&hmac, "name", "HMAC");
    js::set(&hmac, "hash", "SHA-1");
    js::set(&hmac, "length", (KEY_LEN * 8) as u32);
    let promise = subtle()?
        .derive_key_with_object_and_object(
            &hkdf_params(pin),
            seed,
            &hmac,
            false,
            &Array::of1(&JsValue::from_str("sign")),
        )
        .map_err(|e| crypto_error(&e))?;
    // deriveKey resolves to a CryptoKey (WebCrypto): no instanceof check in the module.
    Ok(JsFuture::from(promise)
        .await
        .map_err(|e| crypto_error(&e))?
        .unchecked_into())
}

/// The derived key's 20 bytes, for the one registration request that sends it to the server.
pub async fn derive_bits(seed: &[u8], pin: &Pin) -> Result<Zeroizing<Vec<u8>>, Error> {
    let key = import_seed(seed, "deriveBits").await?;
    let promise = subtle()?
        .derive_bits_with_object(&hkdf_params(pin), &key, (KEY_LEN * 8) as u32)
        .map_err(|e| crypto_error(&e))?;
    // deriveBits resolves to an ArrayBuffer (WebCrypto), which Uint8Array reads as it is.
    let bits = JsFuture::from(promise)
        .await
        .map_err(|e| crypto_error(&e))?;
    let view = Uint8Array::new(&bits);
    let out = Zeroizing::new(view.to_vec());
    view.fill(0, 0, view.length());
    Ok(out)
}
