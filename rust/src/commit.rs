//! Repository commits: decode (v2 without `rev`, v3 with any `prev`), build and sign v3 (with
//! `prev: null`), and verify a signature.
//!
//! A commit is the map `{did, rev, sig, data, prev, version}`; the signature covers the canonical
//! CBOR of the same map without `sig`, and the commit's CID hashes the signed bytes. For a
//! received commit the unsigned bytes are cut out of the received ones (drop the `sig` entry,
//! decrement the map length): the strict decoder has proven them canonical, so this equals the
//! canonical re-encoding without re-encoding anything.

use crate::cid::{self, Cid};
use crate::crypto::{PrivateKey, PublicKey, SignatureError};
use crate::dagcbor::{self, Sink};
use crate::error::{CborReason, Error};
use crate::tid::Tid;
use std::fmt;

/// Why bytes are not a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitError {
    /// Not canonical DAG-CBOR.
    Cbor(Error),
    /// A missing, extra or mistyped field, or an unsupported version.
    Shape(&'static str),
}

impl CommitError {
    /// The human-readable detail.
    #[must_use]
    pub fn detail(&self) -> String {
        match self {
            Self::Cbor(err) => err.to_string(),
            Self::Shape(why) => format!("malformed commit: {why}"),
        }
    }
}

impl fmt::Display for CommitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail())
    }
}

impl std::error::Error for CommitError {}

impl From<Error> for CommitError {
    fn from(err: Error) -> Self {
        Self::Cbor(err)
    }
}

/// A decoded commit, borrowing from its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit<'a> {
    pub did: &'a str,
    pub version: u8,
    pub data: Cid,
    /// Absent only in v2 commits.
    pub rev: Option<&'a str>,
    pub prev: Option<Cid>,
    pub sig: &'a [u8],
    /// The canonical bytes of the commit without `sig` (what was signed).
    unsigned: Vec<u8>,
}

enum Item<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Bytes(&'a [u8]),
    Link(Cid),
    Map(Box<Fields<'a>>),
}

#[derive(Default)]
struct Fields<'a> {
    did: Option<&'a str>,
    version: Option<i64>,
    data: Option<Cid>,
    rev: Option<&'a str>,
    prev: Option<Option<Cid>>,
    sig: Option<&'a [u8]>,
    /// Where the `sig` entry starts and where the entry after it starts (if any).
    sig_span: Option<(usize, Option<usize>)>,
    count: usize,
}

struct CommitSink {
    depth: usize,
}

impl<'a> Sink<'a> for CommitSink {
    type Value = Item<'a>;
    type List = ();
    type Map = Fields<'a>;
    type Error = CommitError;

    fn null(&mut self) -> Result<Item<'a>, CommitError> {
        Ok(Item::Null)
    }
    fn bool(&mut self, _: bool) -> Result<Item<'a>, CommitError> {
        Err(CommitError::Shape("unexpected boolean"))
    }
    fn int(&mut self, value: i64) -> Result<Item<'a>, CommitError> {
        Ok(Item::Int(value))
    }
    fn bytes(&mut self, value: &'a [u8]) -> Result<Item<'a>, CommitError> {
        Ok(Item::Bytes(value))
    }
    fn text(&mut self, value: &'a [u8], offset: usize) -> Result<Item<'a>, CommitError> {
        std::str::from_utf8(value)
            .map(Item::Text)
            .map_err(|_| Error::cbor(offset, CborReason::InvalidUtf8).into())
    }
    fn link(&mut self, cid: Cid) -> Result<Item<'a>, CommitError> {
        Ok(Item::Link(cid))
    }
    fn list_begin(&mut self, _: usize) -> Result<(), CommitError> {
        Err(CommitError::Shape("unexpected list"))
    }
    fn list_push(&mut self, (): &mut (), _: usize, _: Item<'a>) -> Result<(), CommitError> {
        Err(CommitError::Shape("unexpected list"))
    }
    fn list_end(&mut self, (): ()) -> Result<Item<'a>, CommitError> {
        Err(CommitError::Shape("unexpected list"))
    }
    fn map_begin(&mut self, _: usize) -> Result<Fields<'a>, CommitError> {
        self.depth += 1;
        if self.depth > 1 {
            return Err(CommitError::Shape("unexpected nested map"));
        }
        Ok(Fields::default())
    }
    fn map_insert(
        &mut self,
        map: &mut Fields<'a>,
        key: &'a [u8],
        key_offset: usize,
        value: Item<'a>,
    ) -> Result<(), CommitError> {
        map.count += 1;
        if let Some((_, next @ None)) = &mut map.sig_span {
            *next = Some(key_offset);
        }
        let shape = CommitError::Shape;
        match (key, value) {
            (b"did", Item::Text(did)) => map.did = Some(did),
            (b"version", Item::Int(version)) => map.version = Some(version),
            (b"data", Item::Link(cid)) => map.data = Some(cid),
            (b"rev", Item::Text(rev)) => map.rev = Some(rev),
            (b"prev", Item::Link(cid)) => map.prev = Some(Some(cid)),
            (b"prev", Item::Null) => map.prev = Some(None),
            (b"sig", Item::Bytes(sig)) => {
                map.sig = Some(sig);
                map.sig_span = Some((key_offset, None));
            }
            (b"did" | b"version" | b"data" | b"rev" | b"prev" | b"sig", _) => {
                return Err(shape("field of the wrong type"));
            }
            _ => return Err(shape("unexpected field")),
        }
        Ok(())
    }
    fn map_end(&mut self, map: Fields<'a>) -> Result<Item<'a>, CommitError> {
        Ok(Item::Map(Box::new(map)))
    }
}

impl<'a> Commit<'a> {
    /// Decodes a signed commit strictly.
    ///
    /// # Errors
    /// [`CommitError`] naming the problem.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, CommitError> {
        let Item::Map(fields) = dagcbor::decode_with(bytes, &mut CommitSink { depth: 0 })? else {
            return Err(CommitError::Shape("not a map"));
        };
        let shape = CommitError::Shape;
        let did = fields.did.ok_or(shape("missing did"))?;
        let data = fields.data.ok_or(shape("missing data"))?;
        let sig = fields.sig.ok_or(shape("missing sig"))?;
        let version = match fields.version {
            Some(3) => 3,
            Some(2) => 2,
            Some(_) => return Err(shape("unsupported version")),
            None => return Err(shape("missing version")),
        };
        if version == 3 && fields.rev.is_none() {
            return Err(shape("missing rev"));
        }
        if version == 3 && fields.prev.is_none() {
            return Err(shape("missing prev"));
        }
        if let Some(rev) = fields.rev {
            Tid::parse(rev).map_err(|_| shape("rev is not a TID"))?;
        }
        // Entries are at most six, so the map head is the single byte 0xa0 + count.
        let (start, end) = fields.sig_span.ok_or(shape("missing sig"))?;
        let end = end.unwrap_or(bytes.len());
        let mut unsigned = Vec::with_capacity(bytes.len() - (end - start));
        // `count` is at most 6 here (every other key was refused).
        #[allow(clippy::cast_possible_truncation)]
        unsigned.push(0xa0 | (fields.count - 1) as u8);
        unsigned.extend_from_slice(&bytes[1..start]);
        unsigned.extend_from_slice(&bytes[end..]);
        Ok(Self {
            did,
            version,
            data,
            rev: fields.rev,
            prev: fields.prev.flatten(),
            sig,
            unsigned,
        })
    }

    /// The bytes the signature covers.
    #[must_use]
    pub fn unsigned_bytes(&self) -> &[u8] {
        &self.unsigned
    }

    /// Checks the signature against `key`.
    ///
    /// # Errors
    /// The [`SignatureError`] (wrong length, high S, or not valid).
    pub fn verify(&self, key: &PublicKey) -> Result<(), SignatureError> {
        key.verify(&self.unsigned, self.sig)
    }
}

/// Encodes `{did, rev, [sig,] data, prev: null, version: 3}` canonically.
fn encode_v3(did: &str, rev: &str, data: &Cid, sig: Option<&[u8; 64]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(160 + did.len());
    out.push(if sig.is_some() { 0xa6 } else { 0xa5 });
    dagcbor::write_str(&mut out, b"did");
    dagcbor::write_str(&mut out, did.as_bytes());
    dagcbor::write_str(&mut out, b"rev");
    dagcbor::write_str(&mut out, rev.as_bytes());
    if let Some(sig) = sig {
        dagcbor::write_str(&mut out, b"sig");
        dagcbor::write_bytes(&mut out, sig);
    }
    dagcbor::write_str(&mut out, b"data");
    dagcbor::write_link(&mut out, data);
    dagcbor::write_str(&mut out, b"prev");
    out.push(dagcbor::NULL);
    dagcbor::write_str(&mut out, b"version");
    out.push(3);
    out
}

/// A commit this process signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub cid: Cid,
    pub bytes: Vec<u8>,
}

/// Builds and signs a v3 commit (`prev: null`).
///
/// # Errors
/// Never in practice (CID construction of fresh SHA-256 output).
pub fn sign(did: &str, rev: &str, data: &Cid, key: &PrivateKey) -> Result<Signed, Error> {
    let unsigned = encode_v3(did, rev, data, None);
    let sig = key.sign(&unsigned);
    let bytes = encode_v3(did, rev, data, Some(&sig));
    let cid = Cid::compute(&bytes, cid::DAG_CBOR)?;
    Ok(Signed { cid, bytes })
}

/// Is `rev` a valid successor of `previous`? Revs are TIDs and order as strings.
#[must_use]
pub fn rev_is_newer(rev: &str, previous: &str) -> bool {
    rev > previous
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Curve;

    #[test]
    fn signs_and_verifies_and_cuts_unsigned_bytes_exactly() {
        let key = PrivateKey::generate(Curve::K256);
        let data = crate::mst::empty_root();
        let signed = sign("did:plc:abc", "3jzfcijpj2z2a", &data, &key).unwrap();
        let commit = Commit::decode(&signed.bytes).unwrap();
        assert_eq!(commit.did, "did:plc:abc");
        assert_eq!(commit.rev, Some("3jzfcijpj2z2a"));
        assert_eq!(commit.version, 3);
        assert_eq!(commit.prev, None);
        assert_eq!(commit.data, data);
        assert_eq!(
            commit.unsigned_bytes(),
            encode_v3("did:plc:abc", "3jzfcijpj2z2a", &data, None)
        );
        assert!(commit.verify(&key.public_key()).is_ok());
        let other = PrivateKey::generate(Curve::K256);
        assert_eq!(
            commit.verify(&other.public_key()),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn refuses_bad_commits() {
        let shape = |bytes: &[u8]| match Commit::decode(bytes) {
            Err(CommitError::Shape(why)) => why,
            other => panic!("{other:?}"),
        };
        let data = crate::mst::empty_root();
        let unsigned = encode_v3("did:plc:abc", "3jzfcijpj2z2a", &data, None);
        assert_eq!(shape(&unsigned), "missing sig");
        let mut bad_rev = encode_v3("did:plc:abc", "3jzfcijpj2z2a", &data, Some(&[0; 64]));
        let at = bad_rev
            .windows(13)
            .position(|w| w == b"3jzfcijpj2z2a")
            .unwrap();
        bad_rev[at] = b'z';
        assert_eq!(shape(&bad_rev), "rev is not a TID");
        let mut v4 = encode_v3("did:plc:abc", "3jzfcijpj2z2a", &data, Some(&[0; 64]));
        *v4.last_mut().unwrap() = 4;
        assert_eq!(shape(&v4), "unsupported version");
        assert!(matches!(
            Commit::decode(&[0xa0, 0x00]),
            Err(CommitError::Cbor(_))
        ));
        assert_eq!(shape(&[0x80]), "unexpected list");
    }

    #[test]
    fn rev_order() {
        assert!(rev_is_newer("3jzfcijpj2z2b", "3jzfcijpj2z2a"));
        assert!(!rev_is_newer("3jzfcijpj2z2a", "3jzfcijpj2z2a"));
    }
}
