//! otpauth:// URIs (the Key URI Format of authenticator apps): build and parse.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::{Algorithm, Digits, Error, Secret, Step};

/// Everything but unreserved characters (RFC 3986 section 2.3) is escaped.
const ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The longest URI parsed; QR codes of authenticator apps are far shorter.
const MAX_URI_LEN: usize = 4096;

/// Whether the key counts time steps or events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Time-based (RFC 6238), with a period in seconds.
    Totp {
        /// Seconds per code.
        period: Step,
    },
    /// Counter-based (RFC 4226), with the next counter value.
    Hotp {
        /// The counter the next code uses.
        counter: u64,
    },
}

/// The content of an otpauth:// URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUri {
    /// TOTP or HOTP.
    pub kind: Kind,
    /// The issuer (institution name), shown by apps above the account.
    pub issuer: Option<String>,
    /// The account name (the trainee's login ID).
    pub account: String,
    /// The shared secret.
    pub secret: Secret,
    /// The HMAC hash function.
    pub algorithm: Algorithm,
    /// Digits per code.
    pub digits: Digits,
}

impl KeyUri {
    /// Builds the URI, with the label `issuer:account` and the issuer repeated as a parameter,
    /// as the format recommends for older apps.
    ///
    /// ```
    /// use cloud_otp_core::{Algorithm, Digits, Secret, Step};
    /// use cloud_otp_core::otpauth::{Kind, KeyUri};
    /// let uri = KeyUri {
    ///     kind: Kind::Totp { period: Step::SIXTY },
    ///     issuer: Some("Demo Academy".into()),
    ///     account: "trainee 1".into(),
    ///     secret: Secret::new(b"1234567890".to_vec()).unwrap(),
    ///     algorithm: Algorithm::Sha1,
    ///     digits: Digits::SIX,
    /// };
    /// assert_eq!(
    ///     uri.to_uri(),
    ///     "otpauth://totp/Demo%20Academy:trainee%201?secret=GEZDGNBVGY3TQOJQ&issuer=Demo%20Academy&algorithm=SHA1&digits=6&period=60"
    /// );
    /// assert_eq!(KeyUri::parse(&uri.to_uri()).unwrap(), uri);
    /// ```
    pub fn to_uri(&self) -> String {
        let enc = |s: &str| utf8_percent_encode(s, ESCAPE).to_string();
        let (kind, tail) = match self.kind {
            Kind::Totp { period } => ("totp", format!("&period={}", period.secs())),
            Kind::Hotp { counter } => ("hotp", format!("&counter={counter}")),
        };
        let label = match &self.issuer {
            Some(issuer) => format!("{}:{}", enc(issuer), enc(&self.account)),
            None => enc(&self.account),
        };
        let issuer = self
            .issuer
            .as_deref()
            .map(|i| format!("&issuer={}", enc(i)))
            .unwrap_or_default();
        format!(
            "otpauth://{kind}/{label}?secret={}{issuer}&algorithm={}&digits={}{tail}",
            self.secret.to_base32(),
            self.algorithm,
            self.digits.get(),
        )
    }

    /// Parses a URI. Defaults follow the format: SHA1, 6 digits, period 30, counter required
    /// for HOTP. Errors name what is wrong and never echo the secret.
    ///
    /// ```
    /// use cloud_otp_core::otpauth::{Kind, KeyUri};
    /// use cloud_otp_core::Error;
    /// let k = KeyUri::parse("otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQ").unwrap();
    /// assert_eq!(k.issuer.as_deref(), Some("ACME"));
    /// assert_eq!(k.account, "alice");
    /// assert!(matches!(k.kind, Kind::Totp { period } if period.secs() == 30));
    /// assert_eq!(KeyUri::parse("otpauth://totp/a?digits=6"), Err(Error::MissingSecret));
    /// ```
    pub fn parse(uri: &str) -> Result<KeyUri, Error> {
        if uri.len() > MAX_URI_LEN {
            return Err(Error::Uri("longer than 4096 bytes"));
        }
        let rest = strip_prefix_ignore_case(uri, "otpauth://")
            .ok_or(Error::Uri("scheme is not otpauth://"))?;
        let (kind_name, rest) = rest.split_once('/').ok_or(Error::Uri("no label"))?;
        let (label, query) = rest.split_once('?').unwrap_or((rest, ""));
        // The issuer prefix ends at a literal colon; names escape their own colons, so
        // `to_uri` output round-trips exactly. An encoded colon (%3A) also separates when the
        // prefix equals the issuer parameter, as the Key URI Format allows both.
        let (raw_issuer, raw_account) = match label.split_once(':') {
            Some((i, a)) => (Some(decode(i)?), decode(a)?),
            None => (None, decode(label)?),
        };

        let mut secret = None;
        let mut issuer = None;
        let mut algorithm = Algorithm::Sha1;
        let mut digits = Digits::SIX;
        let mut period = None;
        let mut counter = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value)?;
            match key {
                "secret" => secret = Some(Secret::from_base32(&value)?),
                "issuer" => issuer = Some(value.trim().to_string()),
                "algorithm" => algorithm = value.parse()?,
                "digits" => digits = Digits::new(number(&value, "digits is not a number")?)?,
                "period" => period = Some(Step::new(number(&value, "period is not a number")?)?),
                "counter" => counter = Some(number(&value, "counter is not a number")?),
                // Unknown parameters (image, color, ...) are ignored, as apps do.
                _ => {}
            }
        }
        let secret = secret.ok_or(Error::MissingSecret)?;
        let (label_issuer, account) = match (raw_issuer, &issuer) {
            (Some(i), _) => (Some(i.trim().to_string()), raw_account.trim().to_string()),
            (None, Some(param)) => match raw_account.split_once(':') {
                Some((i, a)) if i.trim() == param.as_str() => {
                    (Some(i.trim().to_string()), a.trim().to_string())
                }
                _ => (None, raw_account.trim().to_string()),
            },
            (None, None) => (None, raw_account.trim().to_string()),
        };
        if account.is_empty() {
            return Err(Error::Uri("empty account name"));
        }
        if let (Some(a), Some(b)) = (&label_issuer, &issuer)
            && a != b
        {
            return Err(Error::Uri(
                "issuer parameter differs from the label's issuer",
            ));
        }
        let kind = match kind_name.to_ascii_lowercase().as_str() {
            "totp" => Kind::Totp {
                period: period.unwrap_or(Step::new(30)?),
            },
            "hotp" => Kind::Hotp {
                counter: counter.ok_or(Error::Uri("hotp needs a counter"))?,
            },
            _ => return Err(Error::Uri("type is neither totp nor hotp")),
        };
        Ok(KeyUri {
            kind,
            issuer: issuer.or(label_issuer),
            account,
            secret,
            algorithm,
            digits,
        })
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn decode(s: &str) -> Result<String, Error> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| Error::Uri("percent-encoding is not UTF-8"))
}

fn number(s: &str, what: &'static str) -> Result<u64, Error> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::Uri(what));
    }
    s.parse().map_err(|_| Error::Uri(what))
}
