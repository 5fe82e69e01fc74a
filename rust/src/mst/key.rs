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
    let mut zeros = 0;
    for byte in digest(key) {
        if byte == 0 {
            zeros += 8;
        } else {
            zeros += byte.leading_zeros();
            break;
        }
    }
    zeros / 2
}

/// SHA-256 of a key. Keys are almost always under 56 bytes, one padded block: compressing that
/// block directly skips the streaming hasher's buffering, which costs as much as the hash here.
fn digest(key: &[u8]) -> [u8; 32] {
    const INITIAL: [u32; 8] = [
        0x6a09_e667,
        0xbb67_ae85,
        0x3c6e_f372,
        0xa54f_f53a,
        0x510e_527f,
        0x9b05_688c,
        0x1f83_d9ab,
        0x5be0_cd19,
    ];
    if key.len() >= 56 {
        return Sha256::digest(key).into();
    }
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    block[key.len()] = 0x80;
    block[56..].copy_from_slice(&(key.len() as u64 * 8).to_be_bytes());
    let mut state = INITIAL;
    sha2::compress256(&mut state, &[block.into()]);
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
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
    fn one_block_digest_matches_the_streaming_hasher() {
        for len in 0..200 {
            let key: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect();
            let expected: [u8; 32] = Sha256::digest(&key).into();
            assert_eq!(digest(&key), expected, "{len}");
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
