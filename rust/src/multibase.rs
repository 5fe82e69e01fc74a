//! Multibase string encodings used by CIDs and `did:key`.
//!
//! The alphabets come from `data-encoding` (base32, base16, base64) and `bs58` (base58btc); this
//! module only maps multibase prefix characters onto them.

use data_encoding::{Encoding, Specification};
use std::sync::OnceLock;

/// A multibase encoding that strato reads (and, for base32 and base58btc, writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// `b`: RFC 4648 base32, lowercase, no padding (the atproto default).
    Base32Lower,
    /// `B`: RFC 4648 base32, uppercase, no padding.
    Base32Upper,
    /// `z`: base58 with the Bitcoin alphabet.
    Base58Btc,
    /// `f`: lowercase hexadecimal.
    Base16Lower,
    /// `F`: uppercase hexadecimal.
    Base16Upper,
    /// `m`: RFC 4648 base64, no padding.
    Base64,
    /// `u`: RFC 4648 base64url, no padding.
    Base64Url,
}

fn base32_lower() -> &'static Encoding {
    static ENCODING: OnceLock<Encoding> = OnceLock::new();
    ENCODING.get_or_init(|| {
        let mut spec = Specification::new();
        spec.symbols.push_str("abcdefghijklmnopqrstuvwxyz234567");
        spec.encoding().expect("static base32 alphabet is valid")
    })
}

impl Base {
    /// The base for a multibase prefix character.
    #[must_use]
    pub const fn from_prefix(prefix: u8) -> Option<Self> {
        Some(match prefix {
            b'b' => Self::Base32Lower,
            b'B' => Self::Base32Upper,
            b'z' => Self::Base58Btc,
            b'f' => Self::Base16Lower,
            b'F' => Self::Base16Upper,
            b'm' => Self::Base64,
            b'u' => Self::Base64Url,
            _ => return None,
        })
    }

    /// The multibase prefix character.
    #[must_use]
    pub const fn prefix(self) -> char {
        match self {
            Self::Base32Lower => 'b',
            Self::Base32Upper => 'B',
            Self::Base58Btc => 'z',
            Self::Base16Lower => 'f',
            Self::Base16Upper => 'F',
            Self::Base64 => 'm',
            Self::Base64Url => 'u',
        }
    }

    /// The base for a name as used in the Python API (`"base32"`, `"base58btc"`, ...).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "base32" => Self::Base32Lower,
            "base32upper" => Self::Base32Upper,
            "base58btc" => Self::Base58Btc,
            "base16" => Self::Base16Lower,
            "base16upper" => Self::Base16Upper,
            "base64" => Self::Base64,
            "base64url" => Self::Base64Url,
            _ => return None,
        })
    }

    /// Decodes `text` (without the prefix character); `None` if it is not valid in this base.
    #[must_use]
    pub fn decode(self, text: &[u8]) -> Option<Vec<u8>> {
        match self {
            Self::Base32Lower => base32_lower().decode(text).ok(),
            Self::Base32Upper => data_encoding::BASE32_NOPAD.decode(text).ok(),
            Self::Base58Btc => bs58::decode(text).into_vec().ok(),
            Self::Base16Lower => data_encoding::HEXLOWER.decode(text).ok(),
            Self::Base16Upper => data_encoding::HEXUPPER.decode(text).ok(),
            Self::Base64 => data_encoding::BASE64_NOPAD.decode(text).ok(),
            Self::Base64Url => data_encoding::BASE64URL_NOPAD.decode(text).ok(),
        }
    }

    /// Appends the encoding of `data` (without the prefix character) to `out`.
    pub fn encode_into(self, data: &[u8], out: &mut String) {
        match self {
            Self::Base32Lower => base32_lower().encode_append(data, out),
            Self::Base32Upper => data_encoding::BASE32_NOPAD.encode_append(data, out),
            Self::Base58Btc => out.push_str(&bs58::encode(data).into_string()),
            Self::Base16Lower => data_encoding::HEXLOWER.encode_append(data, out),
            Self::Base16Upper => data_encoding::HEXUPPER.encode_append(data, out),
            Self::Base64 => data_encoding::BASE64_NOPAD.encode_append(data, out),
            Self::Base64Url => data_encoding::BASE64URL_NOPAD.encode_append(data, out),
        }
    }
}

/// Decodes a multibase string (prefix character included).
#[must_use]
pub fn decode(text: &str) -> Option<(Base, Vec<u8>)> {
    let (&prefix, rest) = text.as_bytes().split_first()?;
    let base = Base::from_prefix(prefix)?;
    base.decode(rest).map(|bytes| (base, bytes))
}

/// Encodes `data` as a multibase string (prefix character included).
#[must_use]
pub fn encode(base: Base, data: &[u8]) -> String {
    let mut out = String::with_capacity(1 + data.len() * 2);
    out.push(base.prefix());
    base.encode_into(data, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_base() {
        let data = b"\x01\x71\x12\x20hello multibase";
        for base in [
            Base::Base32Lower,
            Base::Base32Upper,
            Base::Base58Btc,
            Base::Base16Lower,
            Base::Base16Upper,
            Base::Base64,
            Base::Base64Url,
        ] {
            let text = encode(base, data);
            assert_eq!(decode(&text), Some((base, data.to_vec())), "{base:?}");
        }
    }

    #[test]
    fn known_vectors() {
        assert_eq!(encode(Base::Base32Lower, b"foobar"), "bmzxw6ytboi");
        assert_eq!(encode(Base::Base58Btc, b"hello world"), "zStV1DL6CwTryKyV");
        assert_eq!(encode(Base::Base16Lower, b"\xab"), "fab");
    }

    #[test]
    fn rejects_bad_text() {
        assert_eq!(decode(""), None);
        assert_eq!(decode("xabc"), None);
        assert_eq!(decode("bABC"), None);
        assert_eq!(decode("b1"), None);
        assert_eq!(decode("z0OIl"), None);
    }
}
