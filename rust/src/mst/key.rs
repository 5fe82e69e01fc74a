//! MST keys: validation and layer ("height").

use crate::error::{Error, MstReason, Result};
use sha2::{Digest, Sha256};

/// The longest key accepted (the reference implementations' cap).
pub const MAX_KEY_LEN: usize = 1024;

/// Checks a key is `collection/rkey`: one `/`, both sides non-empty, characters from
/// `[A-Za-z0-9._~:-]`, at most [`MAX_KEY_LEN`] bytes.
///
/// # Errors
/// [`MstReason::InvalidKey`].
pub fn validate(key: &[u8]) -> Result<()> {
    if is_valid(key) {
        Ok(())
    } else {
        Err(Error::mst(MstReason::InvalidKey))
    }
}

/// Is `key` a valid MST key?
#[must_use]
pub fn is_valid(key: &[u8]) -> bool {
    if key.len() > MAX_KEY_LEN {
        return false;
    }
    let mut slash = None;
    for (i, &byte) in key.iter().enumerate() {
        match byte {
            b'/' if slash.is_none() => slash = Some(i),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'~' | b':' | b'-' => {}
            _ => return false,
        }
    }
    matches!(slash, Some(i) if i > 0 && i + 1 < key.len())
}

/// The key's layer: leading zero bits of SHA-256(key), two bits per layer (fanout 4).
#[must_use]
pub fn height(key: &[u8]) -> u32 {
    let digest = Sha256::digest(key);
    let mut zeros = 0;
    for &byte in digest.iter() {
        if byte == 0 {
            zeros += 8;
        } else {
            zeros += byte.leading_zeros();
            break;
        }
    }
    zeros / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_heights() {
        for (key, expected) in [
            ("", 0),
            ("asdf", 0),
            ("blue", 1),
            ("2653ae71", 0),
            ("88bfafc7", 2),
            ("2a92d355", 4),
            ("884976f5", 6),
            ("app.bsky.feed.post/454397e440ec", 4),
            ("app.bsky.feed.post/9adeb165882c", 8),
        ] {
            assert_eq!(height(key.as_bytes()), expected, "{key}");
        }
    }

    #[test]
    fn key_rules() {
        assert!(is_valid(b"com.example.record/3jui7kd54zh2y"));
        assert!(is_valid(b"a/b"));
        assert!(is_valid(b"coll/rkey:with~chars-_.x"));
        for bad in [
            &b""[..],
            b"/",
            b"a/",
            b"/b",
            b"nokey",
            b"a/b/c",
            b"a b/c",
            b"a/\xc3\xa9",
            b"a/b\0",
        ] {
            assert!(!is_valid(bad), "{bad:?}");
        }
        let long = [b"c/".as_slice(), &[b'k'; MAX_KEY_LEN - 2]].concat();
        assert!(is_valid(&long));
        let too_long = [long.as_slice(), b"k"].concat();
        assert!(!is_valid(&too_long));
    }
}
