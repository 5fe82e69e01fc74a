//! Strict DAG-CBOR (DRISL) as atproto uses it: canonical encoding and strict decoding.
//!
//! Written by hand because no crate gives both halves of what we need: decoding that rejects
//! every non-canonical form (non-shortest heads, unsorted or duplicate keys, indefinite lengths,
//! floats, tags other than 42, trailing bytes) with the byte offset of the offence, and a decoder
//! that builds the caller's values directly (Python objects in the bindings, [`Ipld`] here)
//! through the [`Sink`] trait, with no intermediate tree.
//!
//! Limits: containers may nest [`MAX_DEPTH`] deep; integers are signed 64-bit.

use crate::cid::Cid;
use crate::error::{CborReason, Error, Result};
use crate::ipld::Ipld;

/// The deepest container nesting accepted: a value inside 64 containers decodes, a 65th
/// container is rejected.
pub const MAX_DEPTH: usize = 64;

pub const MAJOR_UNSIGNED: u8 = 0;
pub const MAJOR_NEGATIVE: u8 = 1;
pub const MAJOR_BYTES: u8 = 2;
pub const MAJOR_TEXT: u8 = 3;
pub const MAJOR_ARRAY: u8 = 4;
pub const MAJOR_MAP: u8 = 5;
pub const MAJOR_TAG: u8 = 6;
pub const MAJOR_SIMPLE: u8 = 7;
/// The CBOR tag of a CID link.
pub const TAG_CID: u64 = 42;
pub const FALSE: u8 = 0xf4;
pub const TRUE: u8 = 0xf5;
pub const NULL: u8 = 0xf6;

// ---------------------------------------------------------------------------------------------
// Encoding

/// Appends `bytes`; short runs (most keys and values) are copied without a call to `memcpy`.
#[inline(always)]
pub fn push_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.len() <= 16 {
        out.reserve(bytes.len());
        for &byte in bytes {
            out.push(byte);
        }
    } else {
        out.extend_from_slice(bytes);
    }
}

/// Appends a shortest-form head (major type and argument).
#[inline(always)]
pub fn write_head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let m = major << 5;
    // Each cast is guarded by the range test before it.
    #[allow(clippy::cast_possible_truncation)]
    if arg < 24 {
        out.push(m | arg as u8);
    } else if arg <= 0xff {
        out.extend_from_slice(&[m | 24, arg as u8]);
    } else if arg <= 0xffff {
        out.push(m | 25);
        out.extend_from_slice(&(arg as u16).to_be_bytes());
    } else if arg <= 0xffff_ffff {
        out.push(m | 26);
        out.extend_from_slice(&(arg as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

/// Appends an integer.
#[inline]
pub fn write_int(out: &mut Vec<u8>, value: i64) {
    if value >= 0 {
        write_head(out, MAJOR_UNSIGNED, value.unsigned_abs());
    } else {
        // -1 - value, computed without overflow for i64::MIN.
        write_head(out, MAJOR_NEGATIVE, !(value as u64));
    }
}

/// Appends a text string.
#[inline]
pub fn write_str(out: &mut Vec<u8>, value: &[u8]) {
    write_head(out, MAJOR_TEXT, value.len() as u64);
    push_bytes(out, value);
}

/// Appends a byte string.
#[inline]
pub fn write_bytes(out: &mut Vec<u8>, value: &[u8]) {
    write_head(out, MAJOR_BYTES, value.len() as u64);
    push_bytes(out, value);
}

/// Appends a CID link: tag 42 around `0x00` followed by the binary CID.
#[inline]
pub fn write_link(out: &mut Vec<u8>, cid: &Cid) {
    let bytes = cid.as_bytes();
    out.extend_from_slice(&[0xd8, 0x2a]);
    write_head(out, MAJOR_BYTES, bytes.len() as u64 + 1);
    out.push(0);
    out.extend_from_slice(bytes);
}

/// The canonical map-key order: shorter keys first, then bytewise.
#[inline]
#[must_use]
pub fn key_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Encodes a value canonically.
#[must_use]
pub fn encode(value: &Ipld) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    encode_into(value, &mut out);
    out
}

/// Appends the canonical encoding of `value` to `out`.
pub fn encode_into(value: &Ipld, out: &mut Vec<u8>) {
    match value {
        Ipld::Null => out.push(NULL),
        Ipld::Bool(b) => out.push(if *b { TRUE } else { FALSE }),
        Ipld::Integer(i) => write_int(out, *i),
        Ipld::Bytes(b) => write_bytes(out, b),
        Ipld::String(s) => write_str(out, s.as_bytes()),
        Ipld::Link(cid) => write_link(out, cid),
        Ipld::List(items) => {
            write_head(out, MAJOR_ARRAY, items.len() as u64);
            for item in items {
                encode_into(item, out);
            }
        }
        Ipld::Map(entries) => {
            write_head(out, MAJOR_MAP, entries.len() as u64);
            let mut sorted: Vec<&(String, Ipld)> = entries.iter().collect();
            sorted.sort_by(|a, b| key_cmp(a.0.as_bytes(), b.0.as_bytes()));
            for (key, value) in sorted {
                write_str(out, key.as_bytes());
                encode_into(value, out);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// Receives decoded items and builds the caller's values.
///
/// The decoder calls the methods in document order; containers are built with
/// `*_begin`/`*_push`/`*_end`. Text is handed over as bytes with its offset: the sink checks
/// UTF-8 (a Python sink lets the interpreter's decoder do it once).
pub trait Sink<'a> {
    type Value;
    type List;
    type Map;
    type Error: From<Error>;

    fn null(&mut self) -> Result<Self::Value, Self::Error>;
    fn bool(&mut self, value: bool) -> Result<Self::Value, Self::Error>;
    fn int(&mut self, value: i64) -> Result<Self::Value, Self::Error>;
    fn bytes(&mut self, value: &'a [u8]) -> Result<Self::Value, Self::Error>;
    fn text(&mut self, value: &'a [u8], offset: usize) -> Result<Self::Value, Self::Error>;
    fn link(&mut self, cid: Cid) -> Result<Self::Value, Self::Error>;
    fn list_begin(&mut self, len: usize) -> Result<Self::List, Self::Error>;
    fn list_push(
        &mut self,
        list: &mut Self::List,
        index: usize,
        value: Self::Value,
    ) -> Result<(), Self::Error>;
    fn list_end(&mut self, list: Self::List) -> Result<Self::Value, Self::Error>;
    fn map_begin(&mut self, len: usize) -> Result<Self::Map, Self::Error>;
    fn map_insert(
        &mut self,
        map: &mut Self::Map,
        key: &'a [u8],
        key_offset: usize,
        value: Self::Value,
    ) -> Result<(), Self::Error>;
    fn map_end(&mut self, map: Self::Map) -> Result<Self::Value, Self::Error>;
}

/// A strict reader over one buffer.
pub struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    #[must_use]
    pub const fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// The current position.
    #[must_use]
    pub const fn position(&self) -> usize {
        self.pos
    }

    /// Has every byte been consumed?
    #[must_use]
    pub const fn is_done(&self) -> bool {
        self.pos >= self.data.len()
    }

    #[inline]
    fn take(&mut self, n: usize, start: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.data.len())
            .ok_or(Error::cbor(start, CborReason::UnexpectedEnd))?;
        let slice = &self.data[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    /// Reads a head: (major type, argument). Rejects non-shortest arguments, indefinite lengths
    /// and reserved additional information; leaves major type 7 to the caller.
    #[inline]
    fn head(&mut self) -> Result<(u8, u8, u64)> {
        let start = self.pos;
        let Some(&initial) = self.data.get(self.pos) else {
            return Err(Error::cbor(start, CborReason::UnexpectedEnd));
        };
        self.pos += 1;
        let major = initial >> 5;
        let info = initial & 0x1f;
        if major == MAJOR_SIMPLE {
            return Ok((major, info, 0));
        }
        let (arg, min) = match info {
            0..=23 => return Ok((major, info, u64::from(info))),
            24 => (u64::from(self.take(1, start)?[0]), 24),
            25 => {
                let b = self.take(2, start)?;
                (u64::from(u16::from_be_bytes([b[0], b[1]])), 0x100)
            }
            26 => {
                let b = self.take(4, start)?;
                (
                    u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
                    0x1_0000,
                )
            }
            27 => {
                let b = self.take(8, start)?;
                let mut word = [0u8; 8];
                word.copy_from_slice(b);
                (u64::from_be_bytes(word), 0x1_0000_0000)
            }
            31 if matches!(major, MAJOR_BYTES | MAJOR_TEXT | MAJOR_ARRAY | MAJOR_MAP) => {
                return Err(Error::cbor(start, CborReason::IndefiniteLength));
            }
            _ => return Err(Error::cbor(start, CborReason::ReservedInfo)),
        };
        if arg < min {
            return Err(Error::cbor(start, CborReason::NonShortest));
        }
        Ok((major, info, arg))
    }

    /// A length argument that must fit in what is left of the input, given that each element
    /// takes at least `min_item_size` bytes (so hostile lengths never drive an allocation).
    #[inline]
    fn length(&self, arg: u64, min_item_size: u64, start: usize) -> Result<usize> {
        let left = (self.data.len() - self.pos) as u64;
        if arg.saturating_mul(min_item_size) > left {
            return Err(Error::cbor(start, CborReason::UnexpectedEnd));
        }
        // arg <= left, which is a usize.
        #[allow(clippy::cast_possible_truncation)]
        Ok(arg as usize)
    }

    /// Decodes one value into `sink`.
    ///
    /// # Errors
    /// The first strictness violation, as a [`Error::DagCbor`], or the sink's own error.
    pub fn decode<S: Sink<'a>>(&mut self, sink: &mut S) -> Result<S::Value, S::Error> {
        self.value(sink, 0)
    }

    fn value<S: Sink<'a>>(&mut self, sink: &mut S, depth: usize) -> Result<S::Value, S::Error> {
        let start = self.pos;
        let (major, info, arg) = self.head()?;
        match major {
            MAJOR_UNSIGNED => {
                let value =
                    i64::try_from(arg).map_err(|_| Error::cbor(start, CborReason::IntegerRange))?;
                sink.int(value)
            }
            MAJOR_NEGATIVE => {
                let value =
                    i64::try_from(arg).map_err(|_| Error::cbor(start, CborReason::IntegerRange))?;
                sink.int(-1 - value)
            }
            MAJOR_BYTES => {
                let len = self.length(arg, 1, start)?;
                let bytes = self.take(len, start)?;
                sink.bytes(bytes)
            }
            MAJOR_TEXT => {
                let len = self.length(arg, 1, start)?;
                let text = self.take(len, start)?;
                sink.text(text, start)
            }
            MAJOR_ARRAY => {
                if depth >= MAX_DEPTH {
                    return Err(Error::cbor(start, CborReason::TooDeep).into());
                }
                let len = self.length(arg, 1, start)?;
                let mut list = sink.list_begin(len)?;
                for index in 0..len {
                    let item = self.value(sink, depth + 1)?;
                    sink.list_push(&mut list, index, item)?;
                }
                sink.list_end(list)
            }
            MAJOR_MAP => {
                if depth >= MAX_DEPTH {
                    return Err(Error::cbor(start, CborReason::TooDeep).into());
                }
                let len = self.length(arg, 2, start)?;
                let mut map = sink.map_begin(len)?;
                let mut previous: Option<&'a [u8]> = None;
                for _ in 0..len {
                    let key_offset = self.pos;
                    let key = self.key()?;
                    if let Some(prev) = previous {
                        match key_cmp(prev, key) {
                            std::cmp::Ordering::Less => {}
                            std::cmp::Ordering::Equal => {
                                return Err(
                                    Error::cbor(key_offset, CborReason::DuplicateKey).into()
                                );
                            }
                            std::cmp::Ordering::Greater => {
                                return Err(Error::cbor(key_offset, CborReason::KeyOrder).into());
                            }
                        }
                    }
                    previous = Some(key);
                    let value = self.value(sink, depth + 1)?;
                    sink.map_insert(&mut map, key, key_offset, value)?;
                }
                sink.map_end(map)
            }
            MAJOR_TAG => {
                if arg != TAG_CID {
                    return Err(Error::cbor(start, CborReason::UnsupportedTag).into());
                }
                let cid = self.link_body()?;
                sink.link(cid)
            }
            _ => match info {
                20 => sink.bool(false),
                21 => sink.bool(true),
                22 => sink.null(),
                25..=27 => Err(Error::cbor(start, CborReason::Float).into()),
                28..=30 => Err(Error::cbor(start, CborReason::ReservedInfo).into()),
                31 => Err(Error::cbor(start, CborReason::IndefiniteLength).into()),
                _ => Err(Error::cbor(start, CborReason::UnsupportedSimple).into()),
            },
        }
    }

    /// A map key: a text string (UTF-8 is checked by the sink).
    #[inline]
    fn key(&mut self) -> Result<&'a [u8]> {
        let start = self.pos;
        let (major, _, arg) = self.head()?;
        if major != MAJOR_TEXT {
            return Err(Error::cbor(start, CborReason::KeyNotString));
        }
        let len = self.length(arg, 1, start)?;
        self.take(len, start)
    }

    /// The byte string inside tag 42.
    fn link_body(&mut self) -> Result<Cid> {
        let start = self.pos;
        let (major, _, arg) = self.head()?;
        if major != MAJOR_BYTES {
            return Err(Error::cbor(start, CborReason::LinkNotBytes));
        }
        let len = self.length(arg, 1, start)?;
        let body = self.take(len, start)?;
        match body.split_first() {
            Some((0, cid)) => {
                Cid::from_bytes(cid).map_err(|_| Error::cbor(start, CborReason::LinkInvalid))
            }
            _ => Err(Error::cbor(start, CborReason::LinkPrefix)),
        }
    }
}

/// Builds [`Ipld`] values.
struct IpldSink;

fn utf8(value: &[u8], offset: usize) -> Result<String> {
    std::str::from_utf8(value)
        .map(str::to_owned)
        .map_err(|_| Error::cbor(offset, CborReason::InvalidUtf8))
}

impl<'a> Sink<'a> for IpldSink {
    type Value = Ipld;
    type List = Vec<Ipld>;
    type Map = Vec<(String, Ipld)>;
    type Error = Error;

    fn null(&mut self) -> Result<Ipld> {
        Ok(Ipld::Null)
    }
    fn bool(&mut self, value: bool) -> Result<Ipld> {
        Ok(Ipld::Bool(value))
    }
    fn int(&mut self, value: i64) -> Result<Ipld> {
        Ok(Ipld::Integer(value))
    }
    fn bytes(&mut self, value: &'a [u8]) -> Result<Ipld> {
        Ok(Ipld::Bytes(value.to_vec()))
    }
    fn text(&mut self, value: &'a [u8], offset: usize) -> Result<Ipld> {
        utf8(value, offset).map(Ipld::String)
    }
    fn link(&mut self, cid: Cid) -> Result<Ipld> {
        Ok(Ipld::Link(cid))
    }
    fn list_begin(&mut self, len: usize) -> Result<Vec<Ipld>> {
        Ok(Vec::with_capacity(len))
    }
    fn list_push(&mut self, list: &mut Vec<Ipld>, _index: usize, value: Ipld) -> Result<()> {
        list.push(value);
        Ok(())
    }
    fn list_end(&mut self, list: Vec<Ipld>) -> Result<Ipld> {
        Ok(Ipld::List(list))
    }
    fn map_begin(&mut self, len: usize) -> Result<Vec<(String, Ipld)>> {
        Ok(Vec::with_capacity(len))
    }
    fn map_insert(
        &mut self,
        map: &mut Vec<(String, Ipld)>,
        key: &'a [u8],
        key_offset: usize,
        value: Ipld,
    ) -> Result<()> {
        map.push((utf8(key, key_offset)?, value));
        Ok(())
    }
    fn map_end(&mut self, map: Vec<(String, Ipld)>) -> Result<Ipld> {
        Ok(Ipld::Map(map))
    }
}

/// Decodes exactly one value that fills `data`.
///
/// # Errors
/// [`Error::DagCbor`] for any violation, including trailing bytes.
pub fn decode(data: &[u8]) -> Result<Ipld> {
    decode_with(data, &mut IpldSink)
}

/// Decodes exactly one value that fills `data` into `sink`.
///
/// # Errors
/// [`Error::DagCbor`] for any violation, including trailing bytes, or the sink's error.
pub fn decode_with<'a, S: Sink<'a>>(data: &'a [u8], sink: &mut S) -> Result<S::Value, S::Error> {
    let mut decoder = Decoder::new(data);
    let value = decoder.decode(sink)?;
    if !decoder.is_done() {
        return Err(Error::cbor(decoder.position(), CborReason::TrailingBytes).into());
    }
    Ok(value)
}

/// Decodes a sequence of concatenated values (an event-stream frame is two).
///
/// # Errors
/// [`Error::DagCbor`] for any violation.
pub fn decode_multi(data: &[u8]) -> Result<Vec<Ipld>> {
    let mut decoder = Decoder::new(data);
    let mut values = Vec::new();
    while !decoder.is_done() {
        values.push(decoder.decode(&mut IpldSink)?);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(data: &[u8]) -> (&'static str, usize) {
        let err = decode(data).unwrap_err();
        (err.reason(), err.offset().unwrap())
    }

    #[test]
    fn encodes_heads_at_every_boundary() {
        let cases: &[(i64, &[u8])] = &[
            (0, &[0x00]),
            (23, &[0x17]),
            (24, &[0x18, 24]),
            (255, &[0x18, 0xff]),
            (256, &[0x19, 0x01, 0x00]),
            (65_535, &[0x19, 0xff, 0xff]),
            (65_536, &[0x1a, 0, 1, 0, 0]),
            (4_294_967_295, &[0x1a, 0xff, 0xff, 0xff, 0xff]),
            (4_294_967_296, &[0x1b, 0, 0, 0, 1, 0, 0, 0, 0]),
            (-1, &[0x20]),
            (-24, &[0x37]),
            (-25, &[0x38, 24]),
            (
                i64::MIN,
                &[0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            ),
        ];
        for (value, bytes) in cases {
            assert_eq!(encode(&Ipld::Integer(*value)), *bytes, "{value}");
            assert_eq!(decode(bytes).unwrap(), Ipld::Integer(*value));
        }
    }

    #[test]
    fn sorts_keys_length_first() {
        let map = Ipld::Map(vec![
            ("version".into(), Ipld::Integer(3)),
            ("data".into(), Ipld::Null),
            ("did".into(), Ipld::Null),
            ("sig".into(), Ipld::Null),
            ("prev".into(), Ipld::Null),
            ("rev".into(), Ipld::Null),
        ]);
        let bytes = encode(&map);
        let Ipld::Map(entries) = decode(&bytes).unwrap() else {
            panic!("not a map")
        };
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["did", "rev", "sig", "data", "prev", "version"]);
    }

    #[test]
    fn round_trips_links_and_bytes_distinctly() {
        let cid = Cid::compute(b"x", crate::cid::RAW).unwrap();
        let value = Ipld::List(vec![Ipld::Link(cid), Ipld::Bytes(cid.as_bytes().to_vec())]);
        assert_eq!(decode(&encode(&value)).unwrap(), value);
    }

    #[test]
    fn rejects_each_violation_with_its_offset() {
        assert_eq!(reason(&[]), ("unexpected end of input", 0));
        assert_eq!(reason(&[0x01, 0x02]), ("trailing bytes after value", 1));
        assert_eq!(reason(&[0x9f, 0xff]), ("indefinite length not allowed", 0));
        assert_eq!(reason(&[0x18, 0x17]), ("non-shortest integer encoding", 0));
        assert_eq!(
            reason(&[0x81, 0x19, 0x00, 0xff]),
            ("non-shortest integer encoding", 1)
        );
        assert_eq!(
            reason(&[0xfb, 0, 0, 0, 0, 0, 0, 0, 0]),
            ("float not allowed", 0)
        );
        assert_eq!(reason(&[0xc1, 0x00]), ("unsupported tag", 0));
        assert_eq!(reason(&[0xf7]), ("unsupported simple value", 0));
        assert_eq!(reason(&[0x1c]), ("reserved additional info", 0));
        assert_eq!(reason(&[0x61, 0xff]), ("invalid UTF-8", 0));
        assert_eq!(reason(&[0xa1, 0x01, 0x01]), ("map key must be a string", 1));
        assert_eq!(
            reason(&[0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02]),
            ("duplicate map key", 4)
        );
        assert_eq!(
            reason(&[0xa2, 0x62, 0x61, 0x61, 0x01, 0x61, 0x62, 0x02]),
            ("map keys not in canonical order", 5)
        );
        assert_eq!(
            reason(&[0x1b, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            ("integer out of 64-bit range", 0)
        );
        assert_eq!(
            reason(&[0xd8, 0x2a, 0x01]),
            ("CID link must be a byte string", 2)
        );
        assert_eq!(
            reason(&[0xd8, 0x2a, 0x41, 0x01]),
            ("CID link missing 0x00 prefix", 2)
        );
        assert_eq!(
            reason(&[0xd8, 0x2a, 0x42, 0x00, 0x01]),
            ("invalid CID link", 2)
        );
        assert_eq!(
            reason(&[0x5a, 0xff, 0xff, 0xff, 0xff]),
            ("unexpected end of input", 0)
        );
    }

    #[test]
    fn depth_limit() {
        let nested = |n: usize| {
            let mut bytes = vec![0x81; n];
            bytes.push(0x00);
            bytes
        };
        assert!(decode(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(
            reason(&nested(MAX_DEPTH + 1)),
            ("nesting depth exceeds 64", MAX_DEPTH)
        );
    }

    #[test]
    fn decodes_concatenated_values() {
        let values = decode_multi(&[0xa1, 0x61, 0x74, 0x01, 0xf6]).unwrap();
        assert_eq!(values.len(), 2);
        assert_eq!(values[1], Ipld::Null);
    }
}
