//! The `Cid` value type: parse and format binary and string CIDs, compute blessed CIDs.
//!
//! Written by hand rather than with the `cid` crate: atproto wants strict parsing with stable
//! error reasons, a fixed inline layout (no allocation per CID: decoding an MST node or a CAR
//! creates many), and a notion of "blessed" CIDs (v1, dag-cbor or raw, sha2-256).
//! CIDv0 (bare sha2-256 multihash, dag-pb) is parsed so that any CID can be read and preserved,
//! but it is never blessed.

use crate::error::{CidReason, Error, Result};
use crate::multibase::{self, Base};
use crate::varint;
use sha2::{Digest, Sha256};
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// Multicodec code of DAG-CBOR (DRISL).
pub const DAG_CBOR: u64 = 0x71;
/// Multicodec code of raw bytes (blobs).
pub const RAW: u64 = 0x55;
/// Multicodec code of DAG-PB (the codec of every CIDv0).
pub const DAG_PB: u64 = 0x70;
/// Multihash code of SHA2-256.
pub const SHA2_256: u64 = 0x12;
/// The longest binary CID accepted (the atproto data-model guide's limit).
pub const MAX_LEN: usize = 100;
// The blessed codecs as their single-byte varints.
#[allow(clippy::cast_possible_truncation)]
const DAG_CBOR_BYTE: u8 = DAG_CBOR as u8;
#[allow(clippy::cast_possible_truncation)]
const RAW_BYTE: u8 = RAW as u8;
/// The length of every blessed binary CID.
pub const BLESSED_LEN: usize = 36;

/// A content identifier, stored as its binary form inline.
#[derive(Clone, Copy)]
pub struct Cid {
    len: u8,
    digest_start: u8,
    version: u8,
    codec: u64,
    hash_code: u64,
    bytes: [u8; MAX_LEN],
}

fn read_varint(data: &[u8], pos: &mut usize) -> Result<u64> {
    let rest = data.get(*pos..).unwrap_or_default();
    match varint::decode(rest) {
        Ok((value, used)) => {
            *pos += used;
            Ok(value)
        }
        Err(varint::VarintError::Truncated) => Err(Error::cid(CidReason::Truncated)),
        Err(varint::VarintError::Invalid) => Err(Error::cid(CidReason::InvalidVarint)),
    }
}

impl Cid {
    /// Parses one binary CID at the start of `data`, returning it and the bytes it used.
    ///
    /// # Errors
    /// A [`Error::Cid`] naming what is wrong.
    pub fn read_prefix(data: &[u8]) -> Result<(Self, usize)> {
        // Fast path: the blessed form (v1, dag-cbor or raw, sha2-256) is a fixed 4-byte prefix.
        if let Some((&[0x01, codec, 0x12, 0x20], rest)) = data.split_first_chunk::<4>() {
            if let (Some(digest), DAG_CBOR_BYTE | RAW_BYTE) = (rest.first_chunk::<32>(), codec) {
                return Ok((Self::from_sha256(u64::from(codec), digest), BLESSED_LEN));
            }
        }
        // CIDv0: a bare sha2-256 multihash. A lone 0x12 may be the start of one, so it is
        // truncated, not a CIDv1 of version 18 (a streaming reader sees such cut-off prefixes).
        if data.first() == Some(&0x12) && data.get(1).is_none_or(|&b| b == 0x20) {
            if data.len() < 34 {
                return Err(Error::cid(CidReason::Truncated));
            }
            return Ok((Self::from_parts(0, DAG_PB, SHA2_256, 2, &data[..34]), 34));
        }
        let mut pos = 0;
        let version = read_varint(data, &mut pos)?;
        if version != 1 {
            return Err(Error::cid(CidReason::UnsupportedVersion));
        }
        let codec = read_varint(data, &mut pos)?;
        let hash_code = read_varint(data, &mut pos)?;
        let digest_len = read_varint(data, &mut pos)?;
        if hash_code == SHA2_256 && digest_len != 32 {
            return Err(Error::cid(CidReason::DigestLength));
        }
        let end = usize::try_from(digest_len)
            .ok()
            .and_then(|len| pos.checked_add(len))
            .ok_or(Error::cid(CidReason::TooLong))?;
        if end > MAX_LEN {
            return Err(Error::cid(CidReason::TooLong));
        }
        if end > data.len() {
            return Err(Error::cid(CidReason::Truncated));
        }
        // `pos` is at most 4 * 9 bytes, well inside u8.
        let digest_start = u8::try_from(pos).map_err(|_| Error::cid(CidReason::TooLong))?;
        Ok((
            Self::from_parts(1, codec, hash_code, digest_start, &data[..end]),
            end,
        ))
    }

    fn from_parts(version: u8, codec: u64, hash_code: u64, digest_start: u8, raw: &[u8]) -> Self {
        let mut bytes = [0u8; MAX_LEN];
        bytes[..raw.len()].copy_from_slice(raw);
        Self {
            // Callers guarantee raw.len() <= MAX_LEN (100).
            #[allow(clippy::cast_possible_truncation)]
            len: raw.len() as u8,
            digest_start,
            version,
            codec,
            hash_code,
            bytes,
        }
    }

    /// Parses a complete binary CID.
    ///
    /// # Errors
    /// A [`Error::Cid`]; bytes after the CID are [`CidReason::TrailingBytes`].
    pub fn from_bytes(data: &[u8]) -> Result<Self> {
        let (cid, used) = Self::read_prefix(data)?;
        if used != data.len() {
            return Err(Error::cid(CidReason::TrailingBytes));
        }
        Ok(cid)
    }

    /// Parses a CID string: any multibase CIDv1, or a base58btc `Qm...` CIDv0.
    ///
    /// # Errors
    /// A [`Error::Cid`] naming what is wrong.
    pub fn parse(text: &str) -> Result<Self> {
        let Some(&prefix) = text.as_bytes().first() else {
            return Err(Error::cid(CidReason::Truncated));
        };
        if text.len() == 46 && text.starts_with("Qm") {
            let bytes = Base::Base58Btc
                .decode(text.as_bytes())
                .ok_or(Error::cid(CidReason::InvalidBase))?;
            return Self::from_bytes(&bytes);
        }
        let base = Base::from_prefix(prefix).ok_or(Error::cid(CidReason::UnsupportedMultibase))?;
        let bytes = base
            .decode(&text.as_bytes()[1..])
            .ok_or(Error::cid(CidReason::InvalidBase))?;
        let cid = Self::from_bytes(&bytes)?;
        if cid.version == 0 {
            // A CIDv0 has no multibase form.
            return Err(Error::cid(CidReason::UnsupportedVersion));
        }
        Ok(cid)
    }

    /// The blessed CIDv1 of `data` under `codec` ([`DAG_CBOR`] or [`RAW`]), hashed with
    /// sha2-256.
    ///
    /// # Errors
    /// [`CidReason::UnsupportedCodec`] for any other codec.
    pub fn compute(data: &[u8], codec: u64) -> Result<Self> {
        if codec != DAG_CBOR && codec != RAW {
            return Err(Error::cid(CidReason::UnsupportedCodec));
        }
        Ok(Self::from_sha256(codec, &Sha256::digest(data).into()))
    }

    /// The blessed CIDv1 with the given codec and sha2-256 digest.
    #[must_use]
    pub fn from_sha256(codec: u64, digest: &[u8; 32]) -> Self {
        let mut raw = [0u8; BLESSED_LEN];
        // Both blessed codecs are single-byte varints.
        #[allow(clippy::cast_possible_truncation)]
        let codec_byte = codec as u8;
        raw[..4].copy_from_slice(&[0x01, codec_byte, 0x12, 0x20]);
        raw[4..].copy_from_slice(digest);
        Self::from_parts(1, codec, SHA2_256, 4, &raw)
    }

    /// Does `data` hash to this CID? `None` when the hash function is not sha2-256 (or
    /// identity), so the check cannot be made.
    #[must_use]
    pub fn verify(&self, data: &[u8]) -> Option<bool> {
        match self.hash_code {
            SHA2_256 => Some(Sha256::digest(data).as_slice() == self.digest()),
            0x00 => Some(data == self.digest()),
            _ => None,
        }
    }

    /// The binary form.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The CID version (0 or 1).
    #[must_use]
    pub const fn version(&self) -> u8 {
        self.version
    }

    /// The multicodec code of the content.
    #[must_use]
    pub const fn codec(&self) -> u64 {
        self.codec
    }

    /// The multihash function code.
    #[must_use]
    pub const fn hash_code(&self) -> u64 {
        self.hash_code
    }

    /// The multihash digest.
    #[must_use]
    pub fn digest(&self) -> &[u8] {
        &self.bytes[usize::from(self.digest_start)..usize::from(self.len)]
    }

    /// Is this a CID that atproto allows in commits and MST nodes (v1, dag-cbor or raw,
    /// sha2-256)?
    #[must_use]
    pub const fn is_blessed(&self) -> bool {
        self.version == 1
            && (self.codec == DAG_CBOR || self.codec == RAW)
            && self.hash_code == SHA2_256
            && self.len as usize == BLESSED_LEN
    }

    /// The string form in the given multibase (CIDv0 always uses its bare base58btc form).
    #[must_use]
    pub fn encode(&self, base: Base) -> String {
        if self.version == 0 {
            return bs58::encode(self.as_bytes()).into_string();
        }
        multibase::encode(base, self.as_bytes())
    }
}

impl fmt::Display for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode(Base::Base32Lower))
    }
}

impl fmt::Debug for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cid({self})")
    }
}

impl PartialEq for Cid {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Cid {}

impl Hash for Cid {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialOrd for Cid {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Cid {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_MST: &str = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm";

    #[test]
    fn computes_the_empty_mst_root() {
        let node = [0xa2, 0x61, 0x65, 0x80, 0x61, 0x6c, 0xf6];
        let cid = Cid::compute(&node, DAG_CBOR).unwrap();
        assert_eq!(cid.to_string(), EMPTY_MST);
        assert!(cid.is_blessed());
        assert_eq!(cid.verify(&node), Some(true));
        assert_eq!(cid.verify(b"other"), Some(false));
    }

    #[test]
    fn string_round_trip_and_fields() {
        let cid = Cid::parse(EMPTY_MST).unwrap();
        assert_eq!(cid.version(), 1);
        assert_eq!(cid.codec(), DAG_CBOR);
        assert_eq!(cid.hash_code(), SHA2_256);
        assert_eq!(cid.digest().len(), 32);
        assert_eq!(Cid::from_bytes(cid.as_bytes()).unwrap(), cid);
        let z = cid.encode(Base::Base58Btc);
        assert!(z.starts_with('z'));
        assert_eq!(Cid::parse(&z).unwrap(), cid);
    }

    #[test]
    fn cid_v0() {
        let text = "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n";
        let cid = Cid::parse(text).unwrap();
        assert_eq!(cid.version(), 0);
        assert_eq!(cid.codec(), DAG_PB);
        assert!(!cid.is_blessed());
        assert_eq!(cid.to_string(), text);
    }

    #[test]
    fn rejects_bad_input() {
        let reason = |r: Result<Cid>| r.unwrap_err().reason();
        assert_eq!(reason(Cid::parse("")), "truncated");
        assert_eq!(reason(Cid::parse("xabc")), "unsupported multibase");
        assert_eq!(reason(Cid::from_bytes(&[0x12])), "truncated");
        assert_eq!(
            reason(Cid::from_bytes(&[0x12, 0x21])),
            "unsupported CID version"
        );
        assert_eq!(reason(Cid::parse("b!!")), "invalid base encoding");
        assert_eq!(
            reason(Cid::from_bytes(&[0x02, 0x71, 0x12, 0x20])),
            "unsupported CID version"
        );
        assert_eq!(
            reason(Cid::from_bytes(&[0x01, 0x71, 0x12, 0x20, 1, 2])),
            "truncated"
        );
        assert_eq!(
            reason(Cid::from_bytes(&[0x01, 0x71, 0x12, 0x10])),
            "digest length mismatch"
        );
        assert_eq!(
            reason(Cid::from_bytes(&[0x01, 0x80, 0x00])),
            "invalid varint"
        );
        let mut long = Cid::compute(b"", RAW).unwrap().as_bytes().to_vec();
        long.push(0);
        assert_eq!(reason(Cid::from_bytes(&long)), "trailing bytes");
        assert_eq!(reason(Cid::compute(b"", DAG_PB)), "unsupported codec");
        assert_eq!(
            reason(Cid::from_bytes(&[0x01, 0x55, 0x00, 0x7f])),
            "CID too long"
        );
    }

    #[test]
    fn orders_by_bytes() {
        let a = Cid::compute(b"a", RAW).unwrap();
        let b = Cid::compute(b"a", DAG_CBOR).unwrap();
        assert_eq!(a.cmp(&b), a.as_bytes().cmp(b.as_bytes()));
    }
}
