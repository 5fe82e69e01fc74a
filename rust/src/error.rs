//! The core's one error type.
//!
//! Each variant says what kind of input was bad, where (byte offset) and why (a reason whose text
//! is stable: the Python layer exposes it as `err.reason` and tests match on it).

use std::fmt;

/// Why a DAG-CBOR byte string was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CborReason {
    UnexpectedEnd,
    TrailingBytes,
    IndefiniteLength,
    NonShortest,
    Float,
    UnsupportedTag,
    UnsupportedSimple,
    ReservedInfo,
    InvalidUtf8,
    KeyNotString,
    DuplicateKey,
    KeyOrder,
    IntegerRange,
    TooDeep,
    LinkNotBytes,
    LinkPrefix,
    LinkInvalid,
}

impl CborReason {
    /// The stable text of the reason.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UnexpectedEnd => "unexpected end of input",
            Self::TrailingBytes => "trailing bytes after value",
            Self::IndefiniteLength => "indefinite length not allowed",
            Self::NonShortest => "non-shortest integer encoding",
            Self::Float => "float not allowed",
            Self::UnsupportedTag => "unsupported tag",
            Self::UnsupportedSimple => "unsupported simple value",
            Self::ReservedInfo => "reserved additional info",
            Self::InvalidUtf8 => "invalid UTF-8",
            Self::KeyNotString => "map key must be a string",
            Self::DuplicateKey => "duplicate map key",
            Self::KeyOrder => "map keys not in canonical order",
            Self::IntegerRange => "integer out of 64-bit range",
            Self::TooDeep => "nesting depth exceeds 64",
            Self::LinkNotBytes => "CID link must be a byte string",
            Self::LinkPrefix => "CID link missing 0x00 prefix",
            Self::LinkInvalid => "invalid CID link",
        }
    }
}

/// Why a CID (binary or string) was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CidReason {
    UnsupportedMultibase,
    InvalidBase,
    UnsupportedVersion,
    Truncated,
    InvalidVarint,
    DigestLength,
    TrailingBytes,
    UnsupportedCodec,
    TooLong,
}

impl CidReason {
    /// The stable text of the reason.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UnsupportedMultibase => "unsupported multibase",
            Self::InvalidBase => "invalid base encoding",
            Self::UnsupportedVersion => "unsupported CID version",
            Self::Truncated => "truncated",
            Self::InvalidVarint => "invalid varint",
            Self::DigestLength => "digest length mismatch",
            Self::TrailingBytes => "trailing bytes",
            Self::UnsupportedCodec => "unsupported codec",
            Self::TooLong => "CID too long",
        }
    }
}

/// Why a CAR file was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CarReason {
    Truncated,
    InvalidVarint,
    EmptyHeader,
    InvalidHeader,
    UnsupportedVersion,
    BlockTooShort,
    BlockTooLarge,
    InvalidBlockCid,
    HashMismatch,
    UnsupportedHash,
}

impl CarReason {
    /// The stable text of the reason.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Truncated => "truncated",
            Self::InvalidVarint => "invalid varint",
            Self::EmptyHeader => "header length is zero",
            Self::InvalidHeader => "invalid header",
            Self::UnsupportedVersion => "unsupported CAR version",
            Self::BlockTooShort => "block length too short",
            Self::BlockTooLarge => "block too large",
            Self::InvalidBlockCid => "invalid block CID",
            Self::HashMismatch => "block hash mismatch",
            Self::UnsupportedHash => "unsupported hash function",
        }
    }
}

/// Why a Merkle Search Tree (a node, a key, or a tree built from blocks) was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MstReason {
    InvalidKey,
    DuplicateKey,
    NodeShape,
    NodeLink,
    PrefixTooLong,
    PrefixNotShared,
    KeyOrder,
    WrongLayer,
    EmptyNode,
    MissingBlock,
}

impl MstReason {
    /// The stable text of the reason.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidKey => "invalid MST key",
            Self::DuplicateKey => "duplicate MST key",
            Self::NodeShape => "malformed MST node",
            Self::NodeLink => "MST node link is not a DAG-CBOR CID",
            Self::PrefixTooLong => "MST entry prefix longer than the previous key",
            Self::PrefixNotShared => {
                "MST entry prefix shorter than the bytes shared with the previous key"
            }
            Self::KeyOrder => "MST keys out of order",
            Self::WrongLayer => "MST key at the wrong layer",
            Self::EmptyNode => "empty MST node where none is allowed",
            Self::MissingBlock => "MST block not found",
        }
    }
}

/// Every failure the core reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Malformed or non-canonical DAG-CBOR; `offset` is where the offending item starts.
    DagCbor { offset: usize, reason: CborReason },
    /// A malformed CID.
    Cid { reason: CidReason },
    /// A malformed CAR file; `offset` is where the offending section starts.
    Car { offset: usize, reason: CarReason },
    /// A Merkle Search Tree that breaks the rules.
    Mst { reason: MstReason },
}

impl Error {
    #[cold]
    #[must_use]
    pub const fn cbor(offset: usize, reason: CborReason) -> Self {
        Self::DagCbor { offset, reason }
    }

    #[cold]
    #[must_use]
    pub const fn cid(reason: CidReason) -> Self {
        Self::Cid { reason }
    }

    #[cold]
    #[must_use]
    pub const fn car(offset: usize, reason: CarReason) -> Self {
        Self::Car { offset, reason }
    }

    #[cold]
    #[must_use]
    pub const fn mst(reason: MstReason) -> Self {
        Self::Mst { reason }
    }

    /// The stable reason text.
    #[must_use]
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::DagCbor { reason, .. } => reason.as_str(),
            Self::Cid { reason } => reason.as_str(),
            Self::Car { reason, .. } => reason.as_str(),
            Self::Mst { reason } => reason.as_str(),
        }
    }

    /// The byte offset of the problem, where one is known.
    #[must_use]
    pub const fn offset(&self) -> Option<usize> {
        match self {
            Self::DagCbor { offset, .. } | Self::Car { offset, .. } => Some(*offset),
            Self::Cid { .. } | Self::Mst { .. } => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subject = match self {
            Self::DagCbor { .. } => "invalid DAG-CBOR",
            Self::Cid { .. } => "invalid CID",
            Self::Car { .. } => "invalid CAR",
            Self::Mst { .. } => "invalid MST",
        };
        match self.offset() {
            Some(offset) => write!(f, "{subject}: {} at offset {offset}", self.reason()),
            None => write!(f, "{subject}: {}", self.reason()),
        }
    }
}

impl std::error::Error for Error {}

/// The core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_keeps_offset_and_reason() {
        let err = Error::cbor(7, CborReason::KeyOrder);
        assert_eq!(
            err.to_string(),
            "invalid DAG-CBOR: map keys not in canonical order at offset 7"
        );
        assert_eq!(err.offset(), Some(7));
        let err = Error::cid(CidReason::Truncated);
        assert_eq!(err.to_string(), "invalid CID: truncated");
        assert_eq!(err.offset(), None);
    }
}
