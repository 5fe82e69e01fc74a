//! Unsigned LEB128 varints (multiformats `unsigned-varint`), strict.
//!
//! Written by hand because the rule set is tiny and the strictness matters: at most 9 bytes
//! (63 bits) and minimal encoding only (no trailing `0x00` group), as the multiformats spec
//! requires; general-purpose LEB128 crates accept overlong forms.

/// Maximum number of bytes in a multiformats varint.
pub const MAX_LEN: usize = 9;

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarintError {
    /// The input ended inside the varint.
    Truncated,
    /// Overlong (non-minimal) or longer than 9 bytes.
    Invalid,
}

/// Reads one varint from the start of `data`, returning the value and the bytes it used.
///
/// # Errors
/// [`VarintError::Truncated`] if `data` ends first, [`VarintError::Invalid`] if the encoding is
/// not minimal or exceeds 9 bytes.
pub fn decode(data: &[u8]) -> Result<(u64, usize), VarintError> {
    let mut value: u64 = 0;
    for (i, &byte) in data.iter().enumerate() {
        if i == MAX_LEN {
            return Err(VarintError::Invalid);
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if byte == 0 && i > 0 {
                return Err(VarintError::Invalid);
            }
            return Ok((value, i + 1));
        }
    }
    if data.len() >= MAX_LEN {
        return Err(VarintError::Invalid);
    }
    Err(VarintError::Truncated)
}

/// Appends the minimal varint encoding of `value` to `out`.
pub fn encode(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        // Truncation is the point: the low seven bits plus the continuation flag.
        #[allow(clippy::cast_possible_truncation)]
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    #[allow(clippy::cast_possible_truncation)]
    out.push(value as u8);
}

/// The number of bytes [`encode`] writes for `value`.
#[must_use]
pub const fn encoded_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_boundaries() {
        for value in [0, 1, 127, 128, 255, 300, 16_383, 16_384, (1 << 63) - 1] {
            let mut out = Vec::new();
            encode(value, &mut out);
            assert_eq!(out.len(), encoded_len(value));
            assert_eq!(decode(&out), Ok((value, out.len())));
        }
    }

    #[test]
    fn known_bytes() {
        let mut out = Vec::new();
        encode(300, &mut out);
        assert_eq!(out, [0xac, 0x02]);
        assert_eq!(decode(&[0x12, 0xff]), Ok((0x12, 1)));
    }

    #[test]
    fn rejects_non_minimal_and_overlong() {
        assert_eq!(decode(&[0x80, 0x00]), Err(VarintError::Invalid));
        assert_eq!(decode(&[0x81, 0x80, 0x00]), Err(VarintError::Invalid));
        assert_eq!(decode(&[0xff; 10]), Err(VarintError::Invalid));
        assert_eq!(decode(&[0xff; 9]), Err(VarintError::Invalid));
    }

    #[test]
    fn reports_truncation() {
        assert_eq!(decode(&[]), Err(VarintError::Truncated));
        assert_eq!(decode(&[0x80]), Err(VarintError::Truncated));
        assert_eq!(decode(&[0xff, 0xff]), Err(VarintError::Truncated));
    }
}
