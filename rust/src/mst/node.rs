//! One MST node as bytes: the strict decoder and the canonical encoder.
//!
//! A node is the DAG-CBOR map `{e: [entry...], l: link | null}`, an entry
//! `{k: bytes, p: int, t: link | null, v: link}`, with `k` the key's suffix after the `p` bytes it
//! shares with the previous entry's key in the same node. Every key is always present (`l` and
//! `t` as `null` when empty). Decoding goes through the strict DAG-CBOR decoder with a sink that
//! builds the node directly, so canonical-form checks are the decoder's and nothing is
//! re-encoded to check it.

use super::key;
use crate::cid::{self, Cid};
use crate::dagcbor::{self, Sink};
use crate::error::{Error, MstReason, Result};

/// A decoded entry: the full key (prefix compression undone), its value, its right subtree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryData {
    pub key: Vec<u8>,
    pub value: Cid,
    pub right: Option<Cid>,
}

/// A decoded node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeData {
    pub left: Option<Cid>,
    pub entries: Vec<EntryData>,
}

/// Values the node sink builds; anything else in a node is a shape error.
enum Item<'a> {
    Null,
    Int(i64),
    Bytes(&'a [u8]),
    Link(Cid),
    Entry(RawEntry<'a>),
    Entries(Vec<RawEntry<'a>>),
    Node(Option<Cid>, Vec<RawEntry<'a>>),
}

struct RawEntry<'a> {
    prefix: usize,
    suffix: &'a [u8],
    value: Cid,
    right: Option<Cid>,
}

/// Fields seen in one map, by name.
#[derive(Default)]
struct Fields<'a> {
    e: Option<Item<'a>>,
    l: Option<Item<'a>>,
    k: Option<Item<'a>>,
    p: Option<Item<'a>>,
    t: Option<Item<'a>>,
    v: Option<Item<'a>>,
}

fn shape() -> Error {
    Error::mst(MstReason::NodeShape)
}

/// A link to another node: a DAG-CBOR CID or null.
fn node_link(item: Item<'_>) -> Result<Option<Cid>> {
    match item {
        Item::Null => Ok(None),
        Item::Link(cid) if cid.codec() == cid::DAG_CBOR => Ok(Some(cid)),
        Item::Link(_) => Err(Error::mst(MstReason::NodeLink)),
        _ => Err(shape()),
    }
}

struct NodeSink;

impl<'a> Sink<'a> for NodeSink {
    type Value = Item<'a>;
    type List = Vec<RawEntry<'a>>;
    type Map = Fields<'a>;
    type Error = Error;

    fn null(&mut self) -> Result<Item<'a>> {
        Ok(Item::Null)
    }
    fn bool(&mut self, _: bool) -> Result<Item<'a>> {
        Err(shape())
    }
    fn int(&mut self, value: i64) -> Result<Item<'a>> {
        Ok(Item::Int(value))
    }
    fn bytes(&mut self, value: &'a [u8]) -> Result<Item<'a>> {
        Ok(Item::Bytes(value))
    }
    fn text(&mut self, _: &'a [u8], _: usize) -> Result<Item<'a>> {
        Err(shape())
    }
    fn link(&mut self, cid: Cid) -> Result<Item<'a>> {
        Ok(Item::Link(cid))
    }
    fn list_begin(&mut self, len: usize) -> Result<Vec<RawEntry<'a>>> {
        Ok(Vec::with_capacity(len))
    }
    fn list_push(&mut self, list: &mut Vec<RawEntry<'a>>, _: usize, value: Item<'a>) -> Result<()> {
        match value {
            Item::Entry(entry) => {
                list.push(entry);
                Ok(())
            }
            _ => Err(shape()),
        }
    }
    fn list_end(&mut self, list: Vec<RawEntry<'a>>) -> Result<Item<'a>> {
        Ok(Item::Entries(list))
    }
    fn map_begin(&mut self, _: usize) -> Result<Fields<'a>> {
        Ok(Fields::default())
    }
    fn map_insert(
        &mut self,
        map: &mut Fields<'a>,
        key: &'a [u8],
        _: usize,
        value: Item<'a>,
    ) -> Result<()> {
        // The decoder has already rejected duplicate keys.
        let slot = match key {
            b"e" => &mut map.e,
            b"l" => &mut map.l,
            b"k" => &mut map.k,
            b"p" => &mut map.p,
            b"t" => &mut map.t,
            b"v" => &mut map.v,
            _ => return Err(shape()),
        };
        *slot = Some(value);
        Ok(())
    }
    fn map_end(&mut self, map: Fields<'a>) -> Result<Item<'a>> {
        match map {
            Fields {
                e: Some(Item::Entries(entries)),
                l: Some(left),
                k: None,
                p: None,
                t: None,
                v: None,
            } => Ok(Item::Node(node_link(left)?, entries)),
            Fields {
                e: None,
                l: None,
                k: Some(Item::Bytes(suffix)),
                p: Some(Item::Int(prefix)),
                t: Some(right),
                v: Some(Item::Link(value)),
            } => Ok(Item::Entry(RawEntry {
                prefix: usize::try_from(prefix).map_err(|_| shape())?,
                suffix,
                value,
                right: node_link(right)?,
            })),
            _ => Err(shape()),
        }
    }
}

/// Decodes and checks one node: canonical DAG-CBOR, exact shape, prefixes within the previous
/// key, keys valid and strictly increasing. (Layers are checked by the tree, which knows them.)
///
/// A canonical node's bytes are fully determined by its contents, so a reader that expects
/// exactly those bytes is both strict and fast; anything else goes through the general strict
/// decoder, which names the problem.
///
/// # Errors
/// [`Error::DagCbor`] for bad CBOR, [`Error::Mst`] for a bad node.
pub fn decode(data: &[u8]) -> Result<NodeData> {
    if let Some(node) = Canonical::new(data).node() {
        return node;
    }
    let Item::Node(left, raw) = dagcbor::decode_with(data, &mut NodeSink)? else {
        return Err(shape());
    };
    finish(left, raw)
}

/// Undoes prefix compression and checks the keys.
fn finish(left: Option<Cid>, raw: Vec<RawEntry<'_>>) -> Result<NodeData> {
    let mut entries: Vec<EntryData> = Vec::with_capacity(raw.len());
    for entry in raw {
        push_entry(
            &mut entries,
            entry.prefix,
            entry.suffix,
            entry.value,
            entry.right,
        )?;
    }
    Ok(NodeData { left, entries })
}

/// Appends the entry whose key is the previous key's first `prefix` bytes then `suffix`,
/// checking the prefix, the key and the order.
fn push_entry(
    entries: &mut Vec<EntryData>,
    prefix: usize,
    suffix: &[u8],
    value: Cid,
    right: Option<Cid>,
) -> Result<()> {
    let previous: &[u8] = entries.last().map_or(&[], |e| &e.key);
    if prefix > previous.len() {
        return Err(Error::mst(MstReason::PrefixTooLong));
    }
    // Compression is mandatory: the suffix must not start with the next shared byte.
    if !entries.is_empty() && prefix < previous.len() && suffix.first() == Some(&previous[prefix]) {
        return Err(Error::mst(MstReason::PrefixNotShared));
    }
    let mut full = Vec::with_capacity(prefix + suffix.len());
    full.extend_from_slice(&previous[..prefix]);
    full.extend_from_slice(suffix);
    key::validate(&full)?;
    if !entries.is_empty() && previous >= full.as_slice() {
        return Err(Error::mst(MstReason::KeyOrder));
    }
    entries.push(EntryData {
        key: full,
        value,
        right,
    });
    Ok(())
}

/// Reads a node laid out exactly as the canonical encoder writes it; `None` at the first byte
/// that differs (the general decoder then reports why).
struct Canonical<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Canonical<'a> {
    const fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    fn expect(&mut self, bytes: &[u8]) -> Option<()> {
        let end = self.pos + bytes.len();
        (self.data.get(self.pos..end)? == bytes).then(|| self.pos = end)
    }

    fn byte(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// A head of `major` type with its argument in shortest form.
    fn head(&mut self, major: u8) -> Option<u64> {
        let initial = self.byte()?;
        if initial >> 5 != major {
            return None;
        }
        let (value, min) = match initial & 0x1f {
            info @ 0..=23 => return Some(u64::from(info)),
            24 => (u64::from(self.byte()?), 24),
            25 => {
                let b = self.data.get(self.pos..self.pos + 2)?;
                self.pos += 2;
                (u64::from(u16::from_be_bytes([b[0], b[1]])), 0x100)
            }
            _ => return None,
        };
        (value >= min).then_some(value)
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.head(dagcbor::MAJOR_BYTES)?).ok()?;
        let slice = self.data.get(self.pos..self.pos + len)?;
        self.pos += len;
        Some(slice)
    }

    fn link(&mut self) -> Option<Cid> {
        self.expect(&[0xd8, 0x2a])?;
        let (&zero, body) = self.bytes()?.split_first()?;
        if zero != 0 {
            return None;
        }
        Cid::from_bytes(body).ok()
    }

    fn optional_link(&mut self) -> Option<Option<Cid>> {
        if self.data.get(self.pos) == Some(&dagcbor::NULL) {
            self.pos += 1;
            return Some(None);
        }
        self.link().map(Some)
    }

    /// The node, or its first broken rule; `None` when the bytes are not laid out canonically.
    fn node(mut self) -> Option<Result<NodeData>> {
        self.expect(&[0xa2, 0x61, b'e'])?;
        let count = usize::try_from(self.head(dagcbor::MAJOR_ARRAY)?).ok()?;
        // Each entry takes more than 16 bytes: a hostile count cannot drive the allocation.
        if count > self.data.len() / 16 {
            return None;
        }
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            self.expect(&[0xa4, 0x61, b'k'])?;
            let suffix = self.bytes()?;
            self.expect(&[0x61, b'p'])?;
            let prefix = usize::try_from(self.head(dagcbor::MAJOR_UNSIGNED)?).ok()?;
            self.expect(&[0x61, b't'])?;
            let right = self.optional_link()?;
            self.expect(&[0x61, b'v'])?;
            let value = self.link()?;
            // Links to other nodes must be DAG-CBOR: leave that error to the general path.
            if right.is_some_and(|c| c.codec() != cid::DAG_CBOR) {
                return None;
            }
            if let Err(err) = push_entry(&mut entries, prefix, suffix, value, right) {
                return Some(Err(err));
            }
        }
        self.expect(&[0x61, b'l'])?;
        let left = self.optional_link()?;
        if left.is_some_and(|c| c.codec() != cid::DAG_CBOR) || self.pos != self.data.len() {
            return None;
        }
        Some(Ok(NodeData { left, entries }))
    }
}

/// The number of leading bytes `a` and `b` share.
#[must_use]
pub fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn write_optional_link(out: &mut Vec<u8>, link: Option<&Cid>) {
    match link {
        Some(cid) => dagcbor::write_link(out, cid),
        None => out.push(dagcbor::NULL),
    }
}

/// Encodes a node canonically into `out` (which is cleared first): a generic entry iterator so
/// the tree can encode its own node type without building a [`NodeData`].
pub fn encode_into<'k, I>(out: &mut Vec<u8>, left: Option<&Cid>, count: usize, entries: I)
where
    I: IntoIterator<Item = (&'k [u8], &'k Cid, Option<&'k Cid>)>,
{
    out.clear();
    out.push(0xa2);
    dagcbor::write_str(out, b"e");
    dagcbor::write_head(out, dagcbor::MAJOR_ARRAY, count as u64);
    let mut previous: &[u8] = &[];
    for (key, value, right) in entries {
        let shared = common_prefix(previous, key);
        out.push(0xa4);
        dagcbor::write_str(out, b"k");
        dagcbor::write_bytes(out, &key[shared..]);
        dagcbor::write_str(out, b"p");
        dagcbor::write_head(out, dagcbor::MAJOR_UNSIGNED, shared as u64);
        dagcbor::write_str(out, b"t");
        write_optional_link(out, right);
        dagcbor::write_str(out, b"v");
        dagcbor::write_link(out, value);
        previous = key;
    }
    dagcbor::write_str(out, b"l");
    write_optional_link(out, left);
}

/// Encodes a node canonically.
#[must_use]
pub fn encode(node: &NodeData) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + node.entries.len() * 80);
    encode_into(
        &mut out,
        node.left.as_ref(),
        node.entries.len(),
        node.entries
            .iter()
            .map(|e| (e.key.as_slice(), &e.value, e.right.as_ref())),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `{e: [], l: null}`.
    const EMPTY: [u8; 7] = [0xa2, 0x61, 0x65, 0x80, 0x61, 0x6c, 0xf6];

    #[test]
    fn empty_node_round_trips() {
        let node = decode(&EMPTY).unwrap();
        assert_eq!(node, NodeData::default());
        assert_eq!(encode(&node), EMPTY);
    }

    #[test]
    fn prefix_compression_round_trips() {
        let value = Cid::compute(b"record", cid::DAG_CBOR).unwrap();
        let node = NodeData {
            left: None,
            entries: ["com.ex/aaa", "com.ex/aab", "com.ex/b"]
                .iter()
                .map(|k| EntryData {
                    key: k.as_bytes().to_vec(),
                    value,
                    right: None,
                })
                .collect(),
        };
        let bytes = encode(&node);
        assert_eq!(decode(&bytes).unwrap(), node);
    }

    #[test]
    fn canonical_reader_takes_canonical_nodes_and_defers_the_rest() {
        let value = Cid::compute(b"record", cid::DAG_CBOR).unwrap();
        let node = NodeData {
            left: Some(value),
            entries: vec![EntryData {
                key: b"com.ex/a".to_vec(),
                value,
                right: None,
            }],
        };
        let bytes = encode(&node);
        assert!(Canonical::new(&bytes).node().is_some_and(|n| n.is_ok()));
        assert_eq!(decode(&bytes).unwrap(), node);
        // `p: 0` written as the two-byte 0x18 0x00: not canonical, so the general decoder runs
        // and names the problem.
        let at = bytes
            .windows(3)
            .position(|w| w == [0x61, b'p', 0x00])
            .unwrap()
            + 2;
        let mut loose = bytes[..at].to_vec();
        loose.extend_from_slice(&[0x18, 0x00]);
        loose.extend_from_slice(&bytes[at + 1..]);
        assert!(Canonical::new(&loose).node().is_none());
        assert_eq!(
            decode(&loose).unwrap_err().reason(),
            "non-shortest integer encoding"
        );
        // Trailing bytes.
        let mut long = bytes.clone();
        long.push(0);
        assert!(Canonical::new(&long).node().is_none());
        assert_eq!(
            decode(&long).unwrap_err().reason(),
            "trailing bytes after value"
        );
    }

    #[test]
    fn rejects_bad_shapes() {
        let reason = |bytes: &[u8]| decode(bytes).unwrap_err().reason();
        // {e: [], l: null, x: 1} is not a node.
        assert_eq!(
            reason(&[0xa3, 0x61, 0x65, 0x80, 0x61, 0x6c, 0xf6, 0x61, 0x78, 0x01]),
            "malformed MST node"
        );
        // {e: []} lacks `l`.
        assert_eq!(reason(&[0xa1, 0x61, 0x65, 0x80]), "malformed MST node");
        // A list.
        assert_eq!(reason(&[0x80]), "malformed MST node");
        // {e: [1], l: null}.
        assert_eq!(
            reason(&[0xa2, 0x61, 0x65, 0x81, 0x01, 0x61, 0x6c, 0xf6]),
            "malformed MST node"
        );
    }
}
