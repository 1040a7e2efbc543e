//! Checked input: each type is built once from untrusted text and guarantees its format from
//! then on. A failure carries a message that names the field and never echoes the value.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use cloud_otp_core::{Digits, Secret};

/// The webhook receiver's URL, checked in its own module (`webhook_url`).
pub use crate::webhook_url::WebhookUrl;

/// Why a field was refused: a fixed, human-readable sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub &'static str);

/// True for text of `min..=max` characters, none of them [`looks_like_another`], that
/// neither starts nor ends with a space.
fn printable(text: &str, min: usize, max: usize) -> bool {
    let n = text.chars().count();
    (min..=max).contains(&n)
        && !text.starts_with(' ')
        && !text.ends_with(' ')
        && !text.chars().any(looks_like_another)
}

/// Characters refused in user IDs, labels, purposes and names because text with them looks
/// like other text, or like nothing: every space but the ASCII space (U+00A0, U+2007,
/// U+3000, ...), control, format (U+0600, U+1BCA0, U+1D173, ...), private-use, unassigned
/// and surrogate code points, line and paragraph separators, variation selectors (U+180B to
/// U+180F, U+FE00 to U+FE0F, U+E0100 to U+E01EF), the blank Braille pattern U+2800, and the
/// rest of [`is_invisible`]. Nothing is normalised: an ID is either refused or kept exactly
/// as sent and compared exactly. Letters of other scripts that resemble Latin ones (a
/// Cyrillic "а") are different characters of a real script and are allowed (docs/api.md).
///
/// ```
/// use cloud_otp_server::validate::{UserId, looks_like_another};
/// for c in ['\u{00A0}', '\u{2007}', '\u{3000}', '\u{2800}', '\u{FE0F}', '\u{E0100}',
///           '\u{180B}', '\u{1D173}', '\u{1BCA0}', '\u{0600}', '\u{E000}', '\u{0378}'] {
///     assert!(looks_like_another(c), "{:X}", u32::from(c));
/// }
/// assert!(!looks_like_another(' ') && !looks_like_another('а') && !looks_like_another('한'));
/// assert!(UserId::parse("trainee 1").is_ok() && UserId::parse("trainee 1 ").is_err());
/// ```
pub fn looks_like_another(c: char) -> bool {
    use unicode_properties::{GeneralCategory as G, UnicodeGeneralCategory};
    if c == ' ' {
        return false;
    }
    is_invisible(c)
        || matches!(
            c,
            '\u{180B}'..='\u{180F}' | '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}' | '\u{2800}'
        )
        || matches!(
            c.general_category(),
            G::SpaceSeparator
                | G::LineSeparator
                | G::ParagraphSeparator
                | G::Control
                | G::Format
                | G::Surrogate
                | G::PrivateUse
                | G::Unassigned
        )
}

/// Characters that show nothing or reorder the text around them: the soft hyphen, zero-width
/// spaces and joiners, directional marks, embeddings, overrides and isolates, invisible
/// operators, line and paragraph separators, the byte-order mark, the Hangul fillers,
/// interlinear annotation and tag characters. In an ID, label or purpose they make two
/// different values look alike, or make one look like another in an audit view (Unicode TR 36 section 2, and the "Trojan
/// Source" bidirectional-override attack, CVE-2021-42574).
///
/// ```
/// use cloud_otp_server::validate::{UserId, is_invisible};
/// assert!(is_invisible('\u{202E}') && is_invisible('\u{200B}') && is_invisible('\u{FEFF}'));
/// assert!(!is_invisible('a') && !is_invisible('한') && !is_invisible('１'));
/// assert!(UserId::parse("admin\u{202E}txt.exe").is_err());
/// assert!(UserId::parse("트레이니-１").is_ok());
/// ```
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// The checked text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_type!(
    /// A trainee's opaque login ID: 1 to 128 printable characters (see
    /// [`looks_like_another`]), compared exactly.
    UserId
);

impl UserId {
    /// Checks a user ID.
    ///
    /// ```
    /// use cloud_otp_server::validate::UserId;
    /// assert!(UserId::parse("trainee-001").is_ok());
    /// assert!(UserId::parse("").is_err());
    /// assert!(UserId::parse("a\nb").is_err());
    /// assert!(UserId::parse(&"x".repeat(129)).is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        if printable(text, 1, 128) {
            Ok(UserId(text.to_owned()))
        } else {
            Err(Invalid("user_id must be 1 to 128 printable characters"))
        }
    }
}

text_type!(
    /// Why the institution asks for OTP: course_entry, periodic, exam, assignment, or other
    /// text of 1 to 64 printable characters.
    Purpose
);

impl Purpose {
    /// The purposes docs/product.md names; any other short text is accepted too.
    pub const KNOWN: [&'static str; 4] = ["course_entry", "periodic", "exam", "assignment"];

    /// Checks a purpose.
    ///
    /// ```
    /// use cloud_otp_server::validate::Purpose;
    /// assert!(Purpose::parse("exam").is_ok());
    /// assert!(Purpose::parse("week 3 quiz").is_ok());
    /// assert!(Purpose::parse("").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        if printable(text, 1, 64) {
            Ok(Purpose(text.to_owned()))
        } else {
            Err(Invalid("purpose must be 1 to 64 printable characters"))
        }
    }
}

text_type!(
    /// A device's human label, such as "Chrome on Windows": 1 to 64 printable characters.
    Label
);

impl Label {
    /// Checks a label.
    ///
    /// ```
    /// use cloud_otp_server::validate::Label;
    /// assert!(Label::parse("Chrome on Windows").is_ok());
    /// assert!(Label::parse("").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        if printable(text, 1, 64) {
            Ok(Label(text.to_owned()))
        } else {
            Err(Invalid("label must be 1 to 64 printable characters"))
        }
    }
}

text_type!(
    /// A browser fingerprint: a SHA-256 as 64 hexadecimal digits, kept in lower case.
    Fingerprint
);

impl Fingerprint {
    /// Checks a fingerprint.
    ///
    /// ```
    /// use cloud_otp_server::validate::Fingerprint;
    /// assert_eq!(Fingerprint::parse(&"AB".repeat(32)).unwrap().as_str(), "ab".repeat(32));
    /// assert!(Fingerprint::parse("abc").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Fingerprint(text.to_ascii_lowercase()))
        } else {
            Err(Invalid("fingerprint must be 64 hexadecimal digits"))
        }
    }
}

text_type!(
    /// An institution's customer code: exactly 4 ASCII digits.
    CustomerCode
);

impl CustomerCode {
    /// Checks a customer code.
    ///
    /// ```
    /// use cloud_otp_server::validate::CustomerCode;
    /// assert!(CustomerCode::parse("1234").is_ok());
    /// assert!(CustomerCode::parse("12345").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        if text.len() == 4 && text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(CustomerCode(text.to_owned()))
        } else {
            Err(Invalid("customer_code must be exactly 4 digits"))
        }
    }
}

/// How many digits a one-time code has: the core's [`Digits::SIX`] (docs/product.md rule 1),
/// the one place the server takes it from.
///
/// ```
/// use cloud_otp_server::validate::{OTP_CODE_REFUSAL, OTP_DIGITS, OtpCode};
/// let n = usize::from(OTP_DIGITS.get());
/// assert_eq!(cloud_otp_core::Policy::PRODUCT.digits, OTP_DIGITS);
/// assert!(OTP_CODE_REFUSAL.ends_with(&format!(" {n} digits")));
/// assert!(OtpCode::parse(&"7".repeat(n)).is_ok());
/// assert!(OtpCode::parse(&"7".repeat(n - 1)).is_err() && OtpCode::parse(&"7".repeat(n + 1)).is_err());
/// ```
pub const OTP_DIGITS: Digits = Digits::SIX;

/// The refusal of a one-time code that is not [`OTP_DIGITS`] ASCII digits (a `&'static str`,
/// as [`Invalid`] holds; a test checks that its number is [`OTP_DIGITS`]).
pub const OTP_CODE_REFUSAL: &str = "code must be exactly 6 digits";

/// How many digits an activation code has (docs/product.md rule 9): six as well, but its own
/// number, not an OTP code's.
///
/// ```
/// use cloud_otp_server::validate::{ACTIVATION_CODE_DIGITS, ACTIVATION_CODE_REFUSAL, ActivationCode};
/// let n = ACTIVATION_CODE_DIGITS;
/// assert!(ACTIVATION_CODE_REFUSAL.ends_with(&format!(" {n} digits")));
/// assert!(ActivationCode::parse(&"0".repeat(n)).is_ok());
/// assert!(ActivationCode::parse(&"0".repeat(n + 1)).is_err());
/// ```
pub const ACTIVATION_CODE_DIGITS: usize = 6;

/// The refusal of an activation code that is not [`ACTIVATION_CODE_DIGITS`] ASCII digits.
pub const ACTIVATION_CODE_REFUSAL: &str = "activation_code must be exactly 6 digits";

/// Whether `text` is exactly `n` ASCII digits.
fn digits_only(text: &str, n: usize) -> bool {
    text.len() == n && text.bytes().all(|b| b.is_ascii_digit())
}

text_type!(
    /// A one-time code as typed: exactly [`OTP_DIGITS`] ASCII digits (docs/product.md rule 1).
    OtpCode
);

impl OtpCode {
    /// Checks a one-time code.
    ///
    /// ```
    /// use cloud_otp_server::validate::OtpCode;
    /// assert!(OtpCode::parse("012345").is_ok());
    /// assert!(OtpCode::parse("12345").is_err());
    /// assert!(OtpCode::parse("12345a").is_err());
    /// assert!(OtpCode::parse("١٢٣٤٥٦").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        if digits_only(text, usize::from(OTP_DIGITS.get())) {
            Ok(OtpCode(text.to_owned()))
        } else {
            Err(Invalid(OTP_CODE_REFUSAL))
        }
    }
}

text_type!(
    /// An activation code as typed: exactly [`ACTIVATION_CODE_DIGITS`] ASCII digits
    /// (docs/product.md rule 9).
    ActivationCode
);

impl ActivationCode {
    /// Checks an activation code.
    ///
    /// ```
    /// use cloud_otp_server::validate::ActivationCode;
    /// assert!(ActivationCode::parse("000123").is_ok());
    /// assert!(ActivationCode::parse("0001234").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        if digits_only(text, ACTIVATION_CODE_DIGITS) {
            Ok(ActivationCode(text.to_owned()))
        } else {
            Err(Invalid(ACTIVATION_CODE_REFUSAL))
        }
    }
}

text_type!(
    /// A device identifier issued by the server: 1 to 64 base64url characters.
    DeviceId
);

impl DeviceId {
    /// Checks a device identifier.
    ///
    /// ```
    /// use cloud_otp_server::validate::DeviceId;
    /// assert!(DeviceId::parse("Qm9i_-x").is_ok());
    /// assert!(DeviceId::parse("a b").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let ok = (1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(DeviceId(text.to_owned()))
        } else {
            Err(Invalid("device_id must be 1 to 64 base64url characters"))
        }
    }
}

text_type!(
    /// A bearer token (session, pass, API key) as received: 1 to 256 visible ASCII characters.
    /// Whether it is valid is for the database to say.
    Token
);

impl Token {
    /// Checks the shape of a token.
    ///
    /// ```
    /// use cloud_otp_server::validate::Token;
    /// assert!(Token::parse("abc_DEF-123").is_ok());
    /// assert!(Token::parse("").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        if (1..=256).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(Token(text.to_owned()))
        } else {
            Err(Invalid("token must be 1 to 256 visible ASCII characters"))
        }
    }
}

text_type!(
    /// The idempotency key of a siteverify: 1 to 64 characters of `A-Z a-z 0-9 - _ . :`, a
    /// UUID for example, chosen by the institution's backend and sent again on a retry.
    IdempotencyKey
);

impl IdempotencyKey {
    /// Checks the shape of an idempotency key.
    ///
    /// ```
    /// use cloud_otp_server::validate::IdempotencyKey;
    /// assert!(IdempotencyKey::parse("4d6e1a2c-8f3b-4b7e-9a51-3c2d1e0f9a8b").is_ok());
    /// assert!(IdempotencyKey::parse("").is_err());
    /// assert!(IdempotencyKey::parse("a b").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let ok = (1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        if ok {
            Ok(IdempotencyKey(text.to_owned()))
        } else {
            Err(Invalid(
                "idempotency_key must be 1 to 64 characters of A-Z a-z 0-9 - _ . :",
            ))
        }
    }
}

text_type!(
    /// An institution's display name (the authenticator app's issuer): 1 to 100 printable
    /// characters.
    TenantName
);

impl TenantName {
    /// Checks a tenant name.
    ///
    /// ```
    /// use cloud_otp_server::validate::TenantName;
    /// assert!(TenantName::parse("Demo Academy").is_ok());
    /// assert!(TenantName::parse("").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        if printable(text, 1, 100) {
            Ok(TenantName(text.to_owned()))
        } else {
            Err(Invalid("name must be 1 to 100 printable characters"))
        }
    }
}

text_type!(
    /// A web origin (RFC 6454): `http` or `https`, a host and an optional port, no path.
    /// Kept in lower case, as browsers send it in the Origin header.
    Origin
);

impl Origin {
    /// Checks and normalizes an origin; one trailing slash is dropped.
    ///
    /// ```
    /// use cloud_otp_server::validate::Origin;
    /// assert_eq!(Origin::parse("https://LMS.example:8443/").unwrap().as_str(), "https://lms.example:8443");
    /// assert!(Origin::parse("https://lms.example/login").is_err());
    /// assert!(Origin::parse("ftp://lms.example").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        const BAD: Invalid = Invalid("origin must look like https://host[:port] with no path");
        let lower = text.to_ascii_lowercase();
        let lower = lower.strip_suffix('/').unwrap_or(&lower);
        let rest = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"))
            .ok_or(BAD)?;
        let ok = !rest.is_empty()
            && rest.len() <= 253
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
        if ok {
            Ok(Origin(lower.to_owned()))
        } else {
            Err(BAD)
        }
    }
}

/// Decodes a device secret sent by the browser: base64url (padding optional) of exactly 20
/// bytes, the HMAC-SHA1 key length RFC 4226 section 4 recommends.
///
/// ```
/// use cloud_otp_server::validate::device_secret;
/// assert_eq!(device_secret("AAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap().as_bytes(), &[0; 20]);
/// assert!(device_secret("AAAA").is_err());
/// assert!(device_secret("not base64!").is_err());
/// ```
pub fn device_secret(text: &str) -> Result<Secret, Invalid> {
    const BAD: Invalid = Invalid("secret must be 20 bytes in base64url");
    Secret::new(base64url_20(text).ok_or(BAD)?).map_err(|_| BAD)
}

/// Decodes the proof of a stored key ([`cloud_otp_core::proof`]) sent with a registration:
/// base64url (padding optional) of exactly 20 bytes.
///
/// ```
/// use cloud_otp_server::validate::key_proof;
/// assert_eq!(key_proof("AAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap(), [0; 20]);
/// assert!(key_proof("").is_err());
/// ```
pub fn key_proof(text: &str) -> Result<Vec<u8>, Invalid> {
    base64url_20(text).ok_or(Invalid("proof must be 20 bytes in base64url"))
}

/// base64url, padding optional, of exactly 20 bytes.
fn base64url_20(text: &str) -> Option<Vec<u8>> {
    let engine = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    engine.decode(text).ok().filter(|bytes| bytes.len() == 20)
}

/// An institution's PIN policy: how many digits the PIN has that the trainee's browser mixes
/// into its device key, or none. The PIN itself never reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PinDigits {
    /// No PIN (stored as 0).
    #[default]
    Off,
    /// A 4-digit PIN.
    Four,
    /// A 6-digit PIN.
    Six,
}

impl PinDigits {
    /// Checks the operator's spelling: `off`, `4` or `6`.
    ///
    /// ```
    /// use cloud_otp_server::validate::PinDigits;
    /// assert_eq!(PinDigits::parse("off"), Ok(PinDigits::Off));
    /// assert_eq!(PinDigits::parse("6").map(PinDigits::digits), Ok(6));
    /// assert!(PinDigits::parse("5").is_err());
    /// assert!(PinDigits::parse("0").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        match text {
            "off" => Ok(PinDigits::Off),
            "4" => Ok(PinDigits::Four),
            "6" => Ok(PinDigits::Six),
            _ => Err(Invalid("--pin must be off, 4 or 6")),
        }
    }

    /// The stored value: 0 (no PIN), 4 or 6.
    pub fn from_digits(digits: i64) -> Option<Self> {
        match digits {
            0 => Some(PinDigits::Off),
            4 => Some(PinDigits::Four),
            6 => Some(PinDigits::Six),
            _ => None,
        }
    }

    /// The number of digits, 0 for no PIN.
    pub fn digits(self) -> u8 {
        match self {
            PinDigits::Off => 0,
            PinDigits::Four => 4,
            PinDigits::Six => 6,
        }
    }
}

impl std::fmt::Display for PinDigits {
    /// `off`, `4` or `6`, as the operator types it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PinDigits::Off => f.write_str("off"),
            other => write!(f, "{}", other.digits()),
        }
    }
}
