//! Keys and signatures: the two atproto curves, their key encodings, ECDSA signing and
//! verification.
//!
//! Spec: <https://atproto.com/specs/cryptography>. Both curves are mandatory: secp256k1 ("k256",
//! JWT `ES256K`) and NIST P-256 ("p256", `ES256`). Every signature in atproto (commits, labels,
//! PLC operations, service tokens) is ECDSA over the SHA-256 of the bytes, encoded as 64 bytes
//! `r || s`, with a low `s`.
//!
//! Crates, picked by measurement (`benches/crypto.rs`, figures in `benches/README.md`):
//! - k256 signing and verification: `secp256k1` (libsecp256k1), which keeps its own per-thread
//!   context, so no call creates one;
//! - P-256 verification: `ring`, given the 65-byte uncompressed point;
//! - P-256 signing and key handling (scalar checks, point decompression, public key
//!   derivation): `p256` from the `RustCrypto` project;
//! - key generation: the OS random source (`getrandom`).
//!
//! Tricky bits:
//! - Low-S is enforced here on both curves, never left to a crate default: signatures are
//!   normalised after signing, and verification compares `s` with `n / 2` before any curve
//!   arithmetic. Only the fixed 64-byte form is parsed, never DER.
//! - A did:key is parsed into a ready-to-verify key once; [`public_key_from_did_key_cached`] keeps
//!   recently used ones, so a relay verifying a busy account does not parse its key again.
//! - `from_multibase` also reads the legacy DID-document form (base58btc of the uncompressed
//!   point, no multicodec) and the bare compressed point some fixtures use.

use crate::multibase::{self, Base};
use crate::varint;
use p256::elliptic_curve::sec1::ToSec1Point;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

/// Multicodec code of a compressed secp256k1 public key (`secp256k1-pub`).
pub const K256_PUB_CODEC: u64 = 0xe7;
/// Multicodec code of a compressed P-256 public key (`p256-pub`).
pub const P256_PUB_CODEC: u64 = 0x1200;
/// The prefix of every did:key.
pub const DID_KEY_PREFIX: &str = "did:key:";

/// `n / 2` (rounded down) for secp256k1: the largest `s` a valid signature may carry.
const K256_HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
];
/// `n / 2` (rounded down) for P-256.
const P256_HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
];
/// Longer multibase text than this cannot hold a key (65 bytes are at most 89 base58 digits);
/// checked first because base58 decoding is quadratic in the length.
const MAX_MULTIBASE_LEN: usize = 100;

/// One of the two atproto curves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Curve {
    /// secp256k1 (`ES256K`).
    K256,
    /// NIST P-256, also secp256r1 or prime256v1 (`ES256`).
    P256,
}

impl Curve {
    /// The short name: `"k256"` or `"p256"`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::K256 => "k256",
            Self::P256 => "p256",
        }
    }

    /// The curve for a name: `"k256"` or `"secp256k1"`; `"p256"`, `"P-256"` or `"secp256r1"`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "k256" | "secp256k1" => Some(Self::K256),
            "p256" | "P-256" | "secp256r1" => Some(Self::P256),
            _ => None,
        }
    }

    const fn codec(self) -> u64 {
        match self {
            Self::K256 => K256_PUB_CODEC,
            Self::P256 => P256_PUB_CODEC,
        }
    }

    const fn half_order(self) -> &'static [u8; 32] {
        match self {
            Self::K256 => &K256_HALF_ORDER,
            Self::P256 => &P256_HALF_ORDER,
        }
    }
}

/// Why a public or private key was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// The string does not start with `did:key:`.
    NotDidKey,
    /// The multibase prefix is not `z` (base58btc).
    NotBase58Btc,
    /// Characters outside the base58 (Bitcoin) alphabet.
    BadBase58,
    /// A multicodec other than `secp256k1-pub` and `p256-pub`.
    UnknownCodec,
    /// The multicodec names the other curve than the one expected.
    CurveMismatch,
    /// Key bytes of the wrong length.
    BadLength,
    /// Not the SEC1 encoding of a point on the curve.
    BadPoint,
    /// A private scalar that is zero or not below the curve order.
    BadScalar,
}

impl KeyError {
    /// The stable text of the reason.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotDidKey => "not a did:key",
            Self::NotBase58Btc => "multibase prefix is not 'z' (base58btc)",
            Self::BadBase58 => "invalid base58btc",
            Self::UnknownCodec => "unsupported key multicodec",
            Self::CurveMismatch => "key multicodec does not match the curve",
            Self::BadLength => "wrong key length",
            Self::BadPoint => "not a point on the curve",
            Self::BadScalar => "private key out of range",
        }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid key: {}", self.as_str())
    }
}

impl std::error::Error for KeyError {}

/// Why a signature was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// Not exactly 64 bytes (DER-encoded signatures end up here).
    Length,
    /// `s` is above `n / 2`: a malleable twin of a valid signature, invalid in atproto.
    HighS,
    /// The signature does not verify for this key and message.
    Invalid,
}

impl SignatureError {
    /// The stable text of the reason.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Length => "signature is not 64 bytes",
            Self::HighS => "high-S signature",
            Self::Invalid => "signature does not verify",
        }
    }
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid signature: {}", self.as_str())
    }
}

impl std::error::Error for SignatureError {}

/// A public key, parsed once into the form its curve's verifier takes.
#[derive(Clone)]
pub struct PublicKey(PublicInner);

#[derive(Clone)]
enum PublicInner {
    /// libsecp256k1's parsed point.
    K256(secp256k1::PublicKey),
    /// The SEC1 uncompressed point (`04 || x || y`), checked to be on the curve: what `ring`
    /// verifies against.
    P256([u8; 65]),
}

impl PublicKey {
    /// Parses a `did:key:z...` string.
    ///
    /// # Errors
    /// [`KeyError::NotDidKey`] without the `did:key:` prefix, otherwise as
    /// [`PublicKey::from_multikey`].
    pub fn from_did_key(did_key: &str) -> Result<Self, KeyError> {
        let multikey = did_key
            .strip_prefix(DID_KEY_PREFIX)
            .ok_or(KeyError::NotDidKey)?;
        Self::from_multikey(multikey)
    }

    /// Parses a multikey: `z` + base58btc of the multicodec (`e7 01` for k256, `80 24` for
    /// P-256) and the 33-byte compressed point.
    ///
    /// # Errors
    /// The multibase, multicodec, length or point is wrong.
    pub fn from_multikey(multikey: &str) -> Result<Self, KeyError> {
        let (curve, point) = split_codec(&decode_base58btc(multikey)?)?;
        Self::from_sec1(&point, curve)
    }

    /// Parses a DID document's `publicKeyMultibase` for a key of `curve` (known from the
    /// verification method's type): a multikey whose codec matches `curve`, or the legacy form,
    /// `z` + base58btc of the 65-byte uncompressed point without a multicodec (the 33-byte
    /// compressed point without a multicodec, seen in interop fixtures, is read too).
    ///
    /// # Errors
    /// The multibase, multicodec, length or point is wrong, or the multicodec names the other
    /// curve ([`KeyError::CurveMismatch`]).
    pub fn from_multibase(value: &str, curve: Curve) -> Result<Self, KeyError> {
        let bytes = decode_base58btc(value)?;
        // A SEC1 point starts with 02, 03 or 04; neither multicodec starts with those bytes.
        if matches!(bytes.first(), Some(2..=4)) {
            return Self::from_sec1(&bytes, curve);
        }
        let (codec_curve, point) = split_codec(&bytes)?;
        if codec_curve != curve {
            return Err(KeyError::CurveMismatch);
        }
        Self::from_sec1(&point, curve)
    }

    /// Parses a SEC1 point: 33 bytes compressed (`02`/`03`) or 65 bytes uncompressed (`04`).
    ///
    /// # Errors
    /// [`KeyError::BadLength`] for other lengths, [`KeyError::BadPoint`] for a wrong prefix or
    /// a point not on the curve.
    pub fn from_sec1(bytes: &[u8], curve: Curve) -> Result<Self, KeyError> {
        match (bytes.len(), bytes.first()) {
            (33, Some(2 | 3)) | (65, Some(4)) => {}
            (33 | 65, _) => return Err(KeyError::BadPoint),
            _ => return Err(KeyError::BadLength),
        }
        match curve {
            Curve::K256 => secp256k1::PublicKey::from_slice(bytes)
                .map(|key| Self(PublicInner::K256(key)))
                .map_err(|_| KeyError::BadPoint),
            Curve::P256 => {
                let key =
                    p256::PublicKey::from_sec1_bytes(bytes).map_err(|_| KeyError::BadPoint)?;
                Ok(Self::from_p256(&key.to_sec1_point(false)))
            }
        }
    }

    /// From a P-256 point already checked to be on the curve, uncompressed.
    fn from_p256(point: &p256::Sec1Point) -> Self {
        let mut uncompressed = [0u8; 65];
        uncompressed.copy_from_slice(point.as_bytes());
        Self(PublicInner::P256(uncompressed))
    }

    /// The curve of this key.
    #[must_use]
    pub const fn curve(&self) -> Curve {
        match self.0 {
            PublicInner::K256(_) => Curve::K256,
            PublicInner::P256(_) => Curve::P256,
        }
    }

    /// The 33-byte SEC1 compressed point.
    #[must_use]
    pub fn compressed(&self) -> [u8; 33] {
        match &self.0 {
            PublicInner::K256(key) => key.serialize(),
            PublicInner::P256(point) => {
                let mut out = [0u8; 33];
                out[0] = 2 | (point[64] & 1);
                out[1..].copy_from_slice(&point[1..33]);
                out
            }
        }
    }

    /// The 65-byte SEC1 uncompressed point.
    #[must_use]
    pub fn uncompressed(&self) -> [u8; 65] {
        match &self.0 {
            PublicInner::K256(key) => key.serialize_uncompressed(),
            PublicInner::P256(point) => *point,
        }
    }

    /// The multikey string (`zQ3s...` for k256, `zDna...` for P-256).
    #[must_use]
    pub fn multikey(&self) -> String {
        let mut bytes = Vec::with_capacity(35);
        varint::encode(self.curve().codec(), &mut bytes);
        bytes.extend_from_slice(&self.compressed());
        multibase::encode(Base::Base58Btc, &bytes)
    }

    /// The `did:key:` form of [`PublicKey::multikey`].
    #[must_use]
    pub fn did_key(&self) -> String {
        format!("{DID_KEY_PREFIX}{}", self.multikey())
    }

    /// Verifies a 64-byte `r || s` signature over the SHA-256 of `message`.
    ///
    /// # Errors
    /// [`SignatureError::Length`] unless `signature` is 64 bytes, [`SignatureError::HighS`] if
    /// `s > n / 2`, [`SignatureError::Invalid`] if it does not verify.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        let signature: &[u8; 64] = signature.try_into().map_err(|_| SignatureError::Length)?;
        if signature[32..] > self.curve().half_order()[..] {
            return Err(SignatureError::HighS);
        }
        match &self.0 {
            PublicInner::K256(key) => {
                let signature = secp256k1::ecdsa::Signature::from_compact(signature)
                    .map_err(|_| SignatureError::Invalid)?;
                let digest = secp256k1::Message::from_digest(Sha256::digest(message).into());
                secp256k1::ecdsa::verify(&signature, digest, key)
                    .map_err(|_| SignatureError::Invalid)
            }
            PublicInner::P256(point) => {
                // ring hashes the message with SHA-256 itself.
                ring::signature::UnparsedPublicKey::new(
                    &ring::signature::ECDSA_P256_SHA256_FIXED,
                    point,
                )
                .verify(message, signature)
                .map_err(|_| SignatureError::Invalid)
            }
        }
    }

    /// Verifies like [`PublicKey::verify`], but accepts a high-S signature by checking its
    /// low-S twin `(r, n - s)`: for lenient policies over data signed before low-S was enforced.
    ///
    /// # Errors
    /// [`SignatureError::Length`] or [`SignatureError::Invalid`].
    pub fn verify_allowing_high_s(
        &self,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        let signature: &[u8; 64] = signature.try_into().map_err(|_| SignatureError::Length)?;
        let half = self.curve().half_order();
        if signature[32..] <= half[..] {
            return self.verify(message, signature);
        }
        // n = 2 * (n / 2) + 1 as n is odd; then s' = n - s, big-endian with borrow. Done by hand:
        // two 32-byte subtractions do not justify a big-integer dependency.
        let mut order = [0u8; 32];
        let mut carry = 1u8;
        for i in (0..32).rev() {
            order[i] = (half[i] << 1) | carry;
            carry = half[i] >> 7;
        }
        let mut twin = *signature;
        let mut borrow = 0u16;
        for i in (0..32).rev() {
            let (value, under) =
                u16::from(order[i]).overflowing_sub(u16::from(signature[32 + i]) + borrow);
            twin[32 + i] = value.to_le_bytes()[0];
            borrow = u16::from(under);
        }
        if borrow != 0 {
            return Err(SignatureError::Invalid);
        }
        self.verify(message, &twin)
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.curve() == other.curve() && self.compressed() == other.compressed()
    }
}

impl Eq for PublicKey {}

impl Hash for PublicKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.curve().hash(state);
        self.compressed().hash(state);
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.did_key())
    }
}

/// `z` + base58btc text to bytes, refusing text too long to be a key.
fn decode_base58btc(text: &str) -> Result<Vec<u8>, KeyError> {
    let rest = text.strip_prefix('z').ok_or(KeyError::NotBase58Btc)?;
    if rest.len() > MAX_MULTIBASE_LEN {
        return Err(KeyError::BadLength);
    }
    Base::Base58Btc
        .decode(rest.as_bytes())
        .ok_or(KeyError::BadBase58)
}

/// Splits multicodec-prefixed key bytes into the curve and the 33-byte compressed point.
fn split_codec(bytes: &[u8]) -> Result<(Curve, [u8; 33]), KeyError> {
    let (codec, used) = varint::decode(bytes).map_err(|_| KeyError::UnknownCodec)?;
    let curve = match codec {
        K256_PUB_CODEC => Curve::K256,
        P256_PUB_CODEC => Curve::P256,
        _ => return Err(KeyError::UnknownCodec),
    };
    let point = bytes[used..].try_into().map_err(|_| KeyError::BadLength)?;
    Ok((curve, point))
}

/// A private key. The secret scalar is wiped from memory when the key is dropped.
pub struct PrivateKey {
    secret: Secret,
    public: PublicKey,
}

enum Secret {
    K256(secp256k1::SecretKey),
    /// Zeroizes itself on drop.
    P256(p256::ecdsa::SigningKey),
}

impl PrivateKey {
    /// A new random key from the operating system's random source.
    ///
    /// # Panics
    /// If the operating system cannot provide random bytes.
    #[must_use]
    pub fn generate(curve: Curve) -> Self {
        let mut raw = [0u8; 32];
        loop {
            getrandom::fill(&mut raw).expect("the OS random source failed");
            // Out-of-range scalars are rare (below 2^-32 on both curves): draw again.
            let key = Self::from_bytes(&raw, curve);
            raw.fill(0);
            if let Ok(key) = key {
                return key;
            }
        }
    }

    /// A key from its 32-byte big-endian scalar `d`, which must satisfy `0 < d < n`.
    ///
    /// # Errors
    /// [`KeyError::BadLength`] unless `raw` is 32 bytes, [`KeyError::BadScalar`] if `d` is out of
    /// range.
    pub fn from_bytes(raw: &[u8], curve: Curve) -> Result<Self, KeyError> {
        let raw: &[u8; 32] = raw.try_into().map_err(|_| KeyError::BadLength)?;
        match curve {
            Curve::K256 => {
                let secret = secp256k1::SecretKey::from_secret_bytes(*raw)
                    .map_err(|_| KeyError::BadScalar)?;
                let public = PublicKey(PublicInner::K256(secret.public_key()));
                Ok(Self {
                    secret: Secret::K256(secret),
                    public,
                })
            }
            Curve::P256 => {
                let secret =
                    p256::ecdsa::SigningKey::from_slice(raw).map_err(|_| KeyError::BadScalar)?;
                let public = PublicKey::from_p256(&secret.verifying_key().to_sec1_point(false));
                Ok(Self {
                    secret: Secret::P256(secret),
                    public,
                })
            }
        }
    }

    /// The 32-byte big-endian scalar.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 32] {
        match &self.secret {
            Secret::K256(secret) => secret.to_secret_bytes(),
            Secret::P256(secret) => secret.to_bytes().into(),
        }
    }

    /// The curve of this key.
    #[must_use]
    pub const fn curve(&self) -> Curve {
        self.public.curve()
    }

    /// The matching public key.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    /// Signs the SHA-256 of `message`: deterministic (RFC 6979), `r || s`, always low-S.
    ///
    /// # Panics
    /// Never: `p256` refuses to sign only a prehash of the wrong size, and ours is 32 bytes.
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let digest: [u8; 32] = Sha256::digest(message).into();
        match &self.secret {
            Secret::K256(secret) => {
                let mut signature =
                    secp256k1::ecdsa::sign(secp256k1::Message::from_digest(digest), secret);
                // libsecp256k1 already signs low-S; normalising costs nothing and does not
                // leave the rule to a library default.
                signature.normalize_s();
                signature.serialize_compact()
            }
            Secret::P256(secret) => {
                use p256::ecdsa::signature::hazmat::PrehashSigner;
                let signature: p256::ecdsa::Signature = secret
                    .sign_prehash(&digest)
                    .expect("signing a 32-byte digest with a valid key cannot fail");
                signature.normalize_s().to_bytes().into()
            }
        }
    }
}

impl Drop for PrivateKey {
    fn drop(&mut self) {
        if let Secret::K256(secret) = &mut self.secret {
            secret.non_secure_erase();
        }
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey(public: {})", self.public.did_key())
    }
}

/// How many parsed did:keys [`public_key_from_did_key_cached`] keeps.
pub const KEY_CACHE_CAPACITY: usize = 16_384;

type KeyCache = RwLock<HashMap<Box<str>, Arc<PublicKey>>>;

fn key_cache() -> &'static KeyCache {
    static CACHE: OnceLock<KeyCache> = OnceLock::new();
    CACHE.get_or_init(|| RwLock::new(HashMap::new()))
}

/// [`PublicKey::from_did_key`] through a process-wide cache of up to [`KEY_CACHE_CAPACITY`]
/// keys, so that verifying many signatures by one account parses its key once. Thread-safe;
/// when full, an arbitrary entry makes room. Keys that fail to parse are not cached.
///
/// # Errors
/// As [`PublicKey::from_did_key`].
pub fn public_key_from_did_key_cached(did_key: &str) -> Result<Arc<PublicKey>, KeyError> {
    let cache = key_cache();
    if let Some(key) = cache
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(did_key)
    {
        return Ok(Arc::clone(key));
    }
    let key = Arc::new(PublicKey::from_did_key(did_key)?);
    let mut map = cache.write().unwrap_or_else(PoisonError::into_inner);
    if map.len() >= KEY_CACHE_CAPACITY {
        if let Some(victim) = map.keys().next().cloned() {
            map.remove(&victim);
        }
    }
    Ok(Arc::clone(
        map.entry(did_key.into())
            .or_insert_with(|| Arc::clone(&key)),
    ))
}

/// Why one verification failed: the key could not be parsed, or the signature is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyFailure {
    Key(KeyError),
    Signature(SignatureError),
}

impl From<KeyError> for VerifyFailure {
    fn from(err: KeyError) -> Self {
        Self::Key(err)
    }
}

impl From<SignatureError> for VerifyFailure {
    fn from(err: SignatureError) -> Self {
        Self::Signature(err)
    }
}

impl fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key(err) => err.fmt(f),
            Self::Signature(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for VerifyFailure {}

/// Verifies `signature` over `message` with the key of `did_key` (parsed through the cache).
///
/// # Errors
/// The did:key does not parse, or the signature does not verify.
pub fn verify_with_did_key(
    did_key: &str,
    message: &[u8],
    signature: &[u8],
) -> Result<(), VerifyFailure> {
    public_key_from_did_key_cached(did_key)?.verify(message, signature)?;
    Ok(())
}

/// The key of one [`BatchItem`]: a did:key (parsed through the cache) or a parsed key.
#[derive(Debug, Clone, Copy)]
pub enum BatchKey<'a> {
    DidKey(&'a str),
    Key(&'a PublicKey),
}

/// One signature to check in [`verify_batch`].
#[derive(Debug, Clone, Copy)]
pub struct BatchItem<'a> {
    pub key: BatchKey<'a>,
    pub message: &'a [u8],
    pub signature: &'a [u8],
}

impl BatchItem<'_> {
    /// Verifies this one item.
    ///
    /// # Errors
    /// As [`verify_with_did_key`] or [`PublicKey::verify`].
    pub fn verify(&self) -> Result<(), VerifyFailure> {
        match self.key {
            BatchKey::DidKey(did_key) => verify_with_did_key(did_key, self.message, self.signature),
            BatchKey::Key(key) => Ok(key.verify(self.message, self.signature)?),
        }
    }
}

/// Items each worker takes at a time. A verification costs 30-100 µs, so a block is a few
/// hundred microseconds of work: far more than taking the next one from the shared queue.
const BATCH_BLOCK: usize = 8;

/// Verifies every item on all cores, returning the results in input order.
///
/// Batches of fewer than two blocks run on the calling thread alone. Otherwise scoped threads
/// (one per core, the calling thread included) take blocks of items from a shared queue until
/// it is empty, so a thread that is slowed down does not hold the others back.
#[must_use]
pub fn verify_batch(items: &[BatchItem<'_>]) -> Vec<Result<(), VerifyFailure>> {
    verify_batch_with_threads(items, crate::parallel::available_threads())
}

fn verify_batch_with_threads(
    items: &[BatchItem<'_>],
    threads: usize,
) -> Vec<Result<(), VerifyFailure>> {
    crate::parallel::map(items, BATCH_BLOCK, threads, BatchItem::verify)
}

#[cfg(test)]
mod tests {
    use super::*;

    const K256_ORDER: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36,
        0x41, 0x41,
    ];
    const P256_ORDER: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ];
    const P256_EXAMPLE: &str = "did:key:zDnaembgSGUhZULN2Caob4HLJPaxBh92N7rtH21TErzqf8HQo";
    const K256_EXAMPLE: &str = "did:key:zQ3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mCvx4sSpMdLJwc";

    fn order(curve: Curve) -> &'static [u8; 32] {
        match curve {
            Curve::K256 => &K256_ORDER,
            Curve::P256 => &P256_ORDER,
        }
    }

    /// Big-endian `a - b` for `a >= b`.
    fn sub(a: &[u8; 32], b: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let mut digit = i16::from(a[i]) - i16::from(b[i]) - borrow;
            borrow = i16::from(digit < 0);
            if digit < 0 {
                digit += 256;
            }
            out[i] = u8::try_from(digit).unwrap();
        }
        assert_eq!(borrow, 0);
        out
    }

    fn high_s_twin(signature: &[u8; 64], curve: Curve) -> [u8; 64] {
        let mut twin = *signature;
        twin[32..].copy_from_slice(&sub(order(curve), &signature[32..]));
        twin
    }

    fn key(curve: Curve, fill: u8) -> PrivateKey {
        PrivateKey::from_bytes(&[fill; 32], curve).unwrap()
    }

    #[test]
    fn half_orders_are_n_shifted_right() {
        for curve in [Curve::K256, Curve::P256] {
            let n = order(curve);
            let mut half = [0u8; 32];
            let mut carry = 0u8;
            for (out, &byte) in half.iter_mut().zip(n) {
                *out = (byte >> 1) | (carry << 7);
                carry = byte & 1;
            }
            assert_eq!(&half, curve.half_order(), "{curve:?}");
        }
    }

    #[test]
    fn curve_names() {
        for (name, curve) in [
            ("k256", Curve::K256),
            ("secp256k1", Curve::K256),
            ("p256", Curve::P256),
            ("P-256", Curve::P256),
            ("secp256r1", Curve::P256),
        ] {
            assert_eq!(Curve::from_name(name), Some(curve));
        }
        assert_eq!(Curve::from_name("ed25519"), None);
        assert_eq!(Curve::K256.name(), "k256");
        assert_eq!(Curve::P256.name(), "p256");
    }

    #[test]
    fn spec_examples_round_trip() {
        for (did, curve) in [(P256_EXAMPLE, Curve::P256), (K256_EXAMPLE, Curve::K256)] {
            let key = PublicKey::from_did_key(did).unwrap();
            assert_eq!(key.curve(), curve);
            assert_eq!(key.did_key(), did);
            assert_eq!(PublicKey::from_multikey(&key.multikey()).unwrap(), key);
            let compressed = PublicKey::from_sec1(&key.compressed(), curve).unwrap();
            let uncompressed = PublicKey::from_sec1(&key.uncompressed(), curve).unwrap();
            assert_eq!(compressed, key);
            assert_eq!(uncompressed, key);
        }
    }

    #[test]
    fn multibase_forms() {
        for (did, curve) in [(P256_EXAMPLE, Curve::P256), (K256_EXAMPLE, Curve::K256)] {
            let key = PublicKey::from_did_key(did).unwrap();
            let legacy = multibase::encode(Base::Base58Btc, &key.uncompressed());
            let bare = multibase::encode(Base::Base58Btc, &key.compressed());
            for form in [key.multikey(), legacy, bare] {
                assert_eq!(PublicKey::from_multibase(&form, curve).unwrap(), key);
            }
            let other = match curve {
                Curve::K256 => Curve::P256,
                Curve::P256 => Curve::K256,
            };
            assert_eq!(
                PublicKey::from_multibase(&key.multikey(), other),
                Err(KeyError::CurveMismatch)
            );
        }
    }

    #[test]
    fn key_errors() {
        let multikey = |bytes: &[u8]| multibase::encode(Base::Base58Btc, bytes);
        let mut not_on_curve = vec![0xe7, 0x01, 0x02];
        not_on_curve.extend_from_slice(&[0xff; 32]);
        let mut bad_prefix = vec![0x80, 0x24, 0x05];
        bad_prefix.extend_from_slice(&[0x11; 32]);
        let cases: &[(String, KeyError)] = &[
            (
                K256_EXAMPLE.replace("did:key:", "did:web:"),
                KeyError::NotDidKey,
            ),
            (
                "did:key:".to_owned() + "m" + &K256_EXAMPLE[9..],
                KeyError::NotBase58Btc,
            ),
            ("did:key:z0OIl".to_owned(), KeyError::BadBase58),
            (
                format!("did:key:{}", multikey(&[0xed, 0x01, 2])),
                KeyError::UnknownCodec,
            ),
            (
                format!("did:key:{}", multikey(&[0x80])),
                KeyError::UnknownCodec,
            ),
            (
                format!("did:key:{}", multikey(&[0xe7, 0x01, 2, 3])),
                KeyError::BadLength,
            ),
            (format!("did:key:z{}", "1".repeat(200)), KeyError::BadLength),
            (
                format!("did:key:{}", multikey(&not_on_curve)),
                KeyError::BadPoint,
            ),
            (
                format!("did:key:{}", multikey(&bad_prefix)),
                KeyError::BadPoint,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                PublicKey::from_did_key(text).unwrap_err(),
                *expected,
                "{text}"
            );
        }
        assert_eq!(
            PublicKey::from_sec1(&[4; 33], Curve::P256).unwrap_err(),
            KeyError::BadPoint
        );
        assert_eq!(
            PublicKey::from_sec1(&[2; 32], Curve::P256).unwrap_err(),
            KeyError::BadLength
        );
        for curve in [Curve::K256, Curve::P256] {
            let zero = PrivateKey::from_bytes(&[0; 32], curve).unwrap_err();
            let n = PrivateKey::from_bytes(order(curve), curve).unwrap_err();
            let short = PrivateKey::from_bytes(&[1; 31], curve).unwrap_err();
            assert_eq!(
                (zero, n, short),
                (
                    KeyError::BadScalar,
                    KeyError::BadScalar,
                    KeyError::BadLength
                )
            );
            let n_minus_1 = sub(order(curve), &[&[0u8; 31][..], &[1]].concat());
            assert!(PrivateKey::from_bytes(&n_minus_1, curve).is_ok());
        }
    }

    #[test]
    fn sign_verify_low_s_deterministic() {
        for curve in [Curve::K256, Curve::P256] {
            let private = key(curve, 7);
            let public = private.public_key();
            assert_eq!(private.curve(), curve);
            assert_eq!(
                PrivateKey::from_bytes(&private.to_bytes(), curve)
                    .unwrap()
                    .public_key(),
                public
            );
            for i in 0..200u32 {
                let message = i.to_be_bytes();
                let signature = private.sign(&message);
                assert_eq!(signature, private.sign(&message));
                assert!(signature[32..] <= curve.half_order()[..]);
                assert_eq!(public.verify(&message, &signature), Ok(()));
                assert_eq!(
                    public.verify(&message, &high_s_twin(&signature, curve)),
                    Err(SignatureError::HighS)
                );
                assert_eq!(
                    public.verify(b"other", &signature),
                    Err(SignatureError::Invalid)
                );
            }
        }
    }

    #[test]
    fn bad_signatures() {
        for curve in [Curve::K256, Curve::P256] {
            let private = key(curve, 9);
            let public = private.public_key();
            let signature = private.sign(b"msg");
            assert_eq!(
                public.verify(b"msg", &signature[..63]),
                Err(SignatureError::Length)
            );
            assert_eq!(public.verify(b"msg", &[0; 65]), Err(SignatureError::Length));
            assert_eq!(
                public.verify(b"msg", &[0; 64]),
                Err(SignatureError::Invalid)
            );
            let mut zero_s = signature;
            zero_s[32..].fill(0);
            assert_eq!(public.verify(b"msg", &zero_s), Err(SignatureError::Invalid));
            let mut zero_r = signature;
            zero_r[..32].fill(0);
            assert_eq!(public.verify(b"msg", &zero_r), Err(SignatureError::Invalid));
            let mut flipped = signature;
            flipped[5] ^= 1;
            assert_eq!(
                public.verify(b"msg", &flipped),
                Err(SignatureError::Invalid)
            );
            // r >= n: the largest value with a low s.
            let mut big_r = signature;
            big_r[..32].fill(0xff);
            assert_eq!(public.verify(b"msg", &big_r), Err(SignatureError::Invalid));
        }
    }

    #[test]
    fn generated_keys_differ_and_work() {
        for curve in [Curve::K256, Curve::P256] {
            let a = PrivateKey::generate(curve);
            let b = PrivateKey::generate(curve);
            assert_ne!(a.to_bytes(), b.to_bytes());
            assert_eq!(a.public_key().verify(b"x", &a.sign(b"x")), Ok(()));
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let private = key(Curve::K256, 0x42);
        let text = format!("{private:?}");
        assert!(text.contains("did:key:zQ3s"), "{text}");
        assert!(!text.to_lowercase().contains("4242"), "{text}");
    }

    /// One test, not two: tests run in parallel and filling the cache evicts arbitrary keys.
    #[test]
    fn cache_reuses_keys_skips_errors_and_stays_bounded() {
        let first = public_key_from_did_key_cached(K256_EXAMPLE).unwrap();
        let second = public_key_from_did_key_cached(K256_EXAMPLE).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(
            public_key_from_did_key_cached("did:key:nope").unwrap_err(),
            KeyError::NotBase58Btc
        );
        for i in 0..KEY_CACHE_CAPACITY + 50 {
            let raw: [u8; 32] = Sha256::digest(i.to_be_bytes()).into();
            let did = PrivateKey::from_bytes(&raw, Curve::K256)
                .unwrap()
                .public_key()
                .did_key();
            public_key_from_did_key_cached(&did).unwrap();
        }
        assert!(key_cache().read().unwrap().len() <= KEY_CACHE_CAPACITY);
    }

    #[test]
    fn batch_results_keep_input_order() {
        let keys: Vec<PrivateKey> = [Curve::K256, Curve::P256]
            .iter()
            .enumerate()
            .map(|(i, &curve)| key(curve, u8::try_from(i).unwrap() + 3))
            .collect();
        let dids: Vec<String> = keys.iter().map(|k| k.public_key().did_key()).collect();
        let publics: Vec<PublicKey> = keys.iter().map(PrivateKey::public_key).collect();
        let messages: Vec<[u8; 4]> = (0..300u32).map(u32::to_be_bytes).collect();
        let signatures: Vec<[u8; 64]> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let mut signature = keys[i % 2].sign(m);
                if i % 7 == 0 {
                    signature[10] ^= 0x80;
                }
                signature
            })
            .collect();
        let items: Vec<BatchItem<'_>> = (0..messages.len())
            .map(|i| BatchItem {
                key: if i % 3 == 0 {
                    BatchKey::Key(&publics[i % 2])
                } else {
                    BatchKey::DidKey(&dids[i % 2])
                },
                message: &messages[i],
                signature: if i == 11 {
                    &signatures[i][..63]
                } else {
                    &signatures[i]
                },
            })
            .collect();
        for threads in [1, 2, 4] {
            let results = verify_batch_with_threads(&items, threads);
            for (i, result) in results.iter().enumerate() {
                let expected = if i == 11 {
                    Err(VerifyFailure::Signature(SignatureError::Length))
                } else if i % 7 == 0 {
                    Err(VerifyFailure::Signature(SignatureError::Invalid))
                } else {
                    Ok(())
                };
                assert_eq!(*result, expected, "item {i} with {threads} threads");
            }
        }
        let bad = [BatchItem {
            key: BatchKey::DidKey("did:web:example.com"),
            message: b"",
            signature: &[0; 64],
        }];
        assert_eq!(
            verify_batch(&bad),
            [Err(VerifyFailure::Key(KeyError::NotDidKey))]
        );
    }
}
