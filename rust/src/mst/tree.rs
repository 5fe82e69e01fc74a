//! The Merkle Search Tree as a working object: nodes are loaded from a [`BlockSource`] only when
//! an operation reaches them, changed in memory, and encoded again only if they changed.
//!
//! Shape rules (the tree is a pure function of its key set): a key's layer is
//! [`key::height`]; a node at layer `L` holds the keys of layer `L` in its range, with subtrees of
//! layer `L - 1` in the gaps around them; a gap whose keys are all lower down still gets an empty
//! node at `L - 1` (links never skip a layer); the root is at the highest layer present and has
//! at least one entry (except the empty tree, the node `{e: [], l: null}`).
//!
//! Insertion splits the subtree in the gap where the new key lands into the parts below and
//! above it; deletion merges the two subtrees either side of the removed key. Both walk one path
//! (two for a merge), so a write touches `O(depth)` nodes, and the nodes it touches are exactly
//! the ones an inverting consumer needs (see [`super::proof`]).

use super::key;
use super::node::{self, NodeData};
use crate::blocks::BlockSource;
use crate::cid::{self, Cid};
use crate::error::{Error, MstReason, Result};
use std::cell::RefCell;

/// A child pointer.
#[derive(Debug, Default)]
pub(super) enum Link {
    #[default]
    Empty,
    /// Not loaded yet.
    Stored(Cid),
    Loaded(Box<Node>),
}

impl Link {
    const fn is_empty(&self) -> bool {
        matches!(self, Self::Empty)
    }
}

#[derive(Debug, Default)]
pub(super) struct Node {
    pub(super) left: Link,
    pub(super) entries: Vec<Entry>,
    /// The node's CID while it is unchanged since it was loaded or encoded.
    pub(super) cid: Option<Cid>,
}

#[derive(Debug)]
pub(super) struct Entry {
    pub(super) key: Vec<u8>,
    pub(super) value: Cid,
    pub(super) right: Link,
}

impl Node {
    /// Gap `i`: the subtree before entry `i` (`i == entries.len()` is the last one).
    fn gap_mut(&mut self, i: usize) -> &mut Link {
        if i == 0 {
            &mut self.left
        } else {
            &mut self.entries[i - 1].right
        }
    }

    fn position(&self, key: &[u8]) -> usize {
        self.entries.partition_point(|e| e.key.as_slice() < key)
    }
}

/// What a [`Tree`] reads from: a block source, and optionally a log of the nodes it loads.
pub(super) struct Reader<S> {
    pub(super) source: S,
    pub(super) loads: Option<RefCell<Vec<Cid>>>,
}

impl<S: BlockSource> Reader<S> {
    /// Loads and checks a node expected at `layer`.
    fn load(&self, cid: &Cid, layer: u32) -> Result<Box<Node>> {
        let data = self.read(cid)?;
        let node = node::decode(&data)?;
        check_layer(&node, layer)?;
        if node.entries.is_empty() && node.left.is_none() {
            return Err(Error::mst(MstReason::EmptyNode));
        }
        Ok(Box::new(from_data(node, *cid)))
    }

    fn read(&self, cid: &Cid) -> Result<std::borrow::Cow<'_, [u8]>> {
        if cid.codec() != cid::DAG_CBOR {
            return Err(Error::mst(MstReason::NodeLink));
        }
        let data = self
            .source
            .get(cid)
            .ok_or(Error::mst(MstReason::MissingBlock))?;
        if let Some(loads) = &self.loads {
            loads.borrow_mut().push(*cid);
        }
        Ok(data)
    }

    /// The node behind `link`, loading it in place if needed (`link` must not be empty).
    fn resolve<'n>(&self, link: &'n mut Link, layer: u32) -> Result<&'n mut Node> {
        if let Link::Stored(cid) = link {
            *link = Link::Loaded(self.load(cid, layer)?);
        }
        match link {
            Link::Loaded(node) => Ok(node),
            _ => Err(Error::mst(MstReason::MissingBlock)),
        }
    }

    /// Takes the node out of a non-empty link.
    fn take_node(&self, link: Link, layer: u32) -> Result<Box<Node>> {
        match link {
            Link::Stored(cid) => self.load(&cid, layer),
            Link::Loaded(node) => Ok(node),
            Link::Empty => Err(Error::mst(MstReason::MissingBlock)),
        }
    }

    /// Splits the subtree at `layer` into the parts below and above `key` (not in it).
    fn split(&self, link: Link, layer: u32, key: &[u8]) -> Result<(Link, Link)> {
        if link.is_empty() {
            return Ok((Link::Empty, Link::Empty));
        }
        let mut node = self.take_node(link, layer)?;
        let i = node.position(key);
        let gap = std::mem::take(node.gap_mut(i));
        let (below, above) = self.split(gap, layer.saturating_sub(1), key)?;
        let upper = node.entries.split_off(i);
        *node.gap_mut(i) = below;
        node.cid = None;
        let right = Node {
            left: above,
            entries: upper,
            cid: None,
        };
        Ok((normalize(node), normalize(Box::new(right))))
    }

    /// Joins two adjacent subtrees at `layer` (every key of `a` below every key of `b`).
    fn merge(&self, a: Link, b: Link, layer: u32) -> Result<Link> {
        if a.is_empty() {
            return Ok(b);
        }
        if b.is_empty() {
            return Ok(a);
        }
        let mut low = self.take_node(a, layer)?;
        let mut high = self.take_node(b, layer)?;
        let last = low.entries.len();
        let inner = std::mem::take(low.gap_mut(last));
        let first = std::mem::take(&mut high.left);
        *low.gap_mut(last) = self.merge(inner, first, layer.saturating_sub(1))?;
        low.entries.append(&mut high.entries);
        low.cid = None;
        Ok(Link::Loaded(low))
    }

    fn insert(
        &self,
        node: &mut Node,
        layer: u32,
        key: &[u8],
        height: u32,
        value: Cid,
    ) -> Result<Option<Cid>> {
        let i = node.position(key);
        if height == layer {
            if let Some(entry) = node.entries.get_mut(i).filter(|e| e.key == key) {
                let old = entry.value;
                if old != value {
                    entry.value = value;
                    node.cid = None;
                }
                return Ok(Some(old));
            }
            let gap = std::mem::take(node.gap_mut(i));
            let (below, above) = self.split(gap, layer.saturating_sub(1), key)?;
            *node.gap_mut(i) = below;
            node.entries.insert(
                i,
                Entry {
                    key: key.to_vec(),
                    value,
                    right: above,
                },
            );
            node.cid = None;
            return Ok(None);
        }
        let gap = node.gap_mut(i);
        if gap.is_empty() {
            *gap = Link::Loaded(Box::default());
        }
        let child = self.resolve(gap, layer - 1)?;
        let old = self.insert(child, layer - 1, key, height, value)?;
        if child.cid.is_none() {
            node.cid = None;
        }
        Ok(old)
    }

    fn remove(&self, link: &mut Link, layer: u32, key: &[u8], height: u32) -> Result<Option<Cid>> {
        let node = self.resolve(link, layer)?;
        let i = node.position(key);
        let removed = if height == layer {
            if node.entries.get(i).is_none_or(|e| e.key != key) {
                return Ok(None);
            }
            let entry = node.entries.remove(i);
            let gap = std::mem::take(node.gap_mut(i));
            *node.gap_mut(i) = self.merge(gap, entry.right, layer.saturating_sub(1))?;
            entry.value
        } else {
            let gap = node.gap_mut(i);
            if gap.is_empty() {
                return Ok(None);
            }
            match self.remove(gap, layer - 1, key, height)? {
                Some(value) => value,
                None => return Ok(None),
            }
        };
        node.cid = None;
        prune(link);
        Ok(Some(removed))
    }
}

/// Every key of a node at `layer` has that height, and a node at layer 0 has no children.
fn check_layer(node: &NodeData, layer: u32) -> Result<()> {
    if node.entries.iter().any(|e| key::height(&e.key) != layer)
        || (layer == 0 && (node.left.is_some() || node.entries.iter().any(|e| e.right.is_some())))
    {
        return Err(Error::mst(MstReason::WrongLayer));
    }
    Ok(())
}

fn from_data(data: NodeData, cid: Cid) -> Node {
    let link = |c: Option<Cid>| c.map_or(Link::Empty, Link::Stored);
    Node {
        left: link(data.left),
        entries: data
            .entries
            .into_iter()
            .map(|e| Entry {
                key: e.key,
                value: e.value,
                right: link(e.right),
            })
            .collect(),
        cid: Some(cid),
    }
}

/// A node with neither entries nor children disappears.
fn normalize(node: Box<Node>) -> Link {
    if node.entries.is_empty() && node.left.is_empty() {
        Link::Empty
    } else {
        Link::Loaded(node)
    }
}

fn prune(link: &mut Link) {
    if let Link::Loaded(node) = link {
        if node.entries.is_empty() && node.left.is_empty() {
            *link = Link::Empty;
        }
    }
}

/// The CID of the empty tree's root, `{e: [], l: null}`.
#[must_use]
pub fn empty_root() -> Cid {
    static EMPTY: std::sync::OnceLock<Cid> = std::sync::OnceLock::new();
    *EMPTY.get_or_init(|| {
        Cid::compute(&node::encode(&NodeData::default()), cid::DAG_CBOR)
            .unwrap_or_else(|_| unreachable!("sha-256 DAG-CBOR CIDs always build"))
    })
}

/// A block a write produced: its CID and bytes.
pub type NewBlock = (Cid, Vec<u8>);

/// A tree being read or changed.
pub struct Tree<S> {
    pub(super) reader: Reader<S>,
    pub(super) root: Link,
    /// The root's layer (meaningless while the tree is empty).
    pub(super) layer: u32,
}

impl<S: BlockSource> Tree<S> {
    /// An empty tree whose nodes (once written) are checked against `source` for newness.
    pub fn empty(source: S) -> Self {
        Self {
            reader: Reader {
                source,
                loads: None,
            },
            root: Link::Empty,
            layer: 0,
        }
    }

    /// Opens the tree whose root node is `root` (loaded and checked now).
    ///
    /// # Errors
    /// [`MstReason::MissingBlock`] if the source lacks the root, or any node error.
    pub fn open(source: S, root: &Cid) -> Result<Self> {
        Self::open_with(
            Reader {
                source,
                loads: None,
            },
            root,
        )
    }

    /// Opens a tree that logs every node it loads (for proofs).
    pub(super) fn open_logged(source: S, root: &Cid) -> Result<Self> {
        Self::open_with(
            Reader {
                source,
                loads: Some(RefCell::new(Vec::new())),
            },
            root,
        )
    }

    fn open_with(reader: Reader<S>, root: &Cid) -> Result<Self> {
        // The empty tree needs no block: its root is a constant.
        if *root == empty_root() {
            return Ok(Self {
                reader,
                root: Link::Empty,
                layer: 0,
            });
        }
        let data = node::decode(&reader.read(root)?)?;
        let Some(first) = data.entries.first() else {
            if data.left.is_some() {
                return Err(Error::mst(MstReason::EmptyNode));
            }
            return Ok(Self {
                reader,
                root: Link::Empty,
                layer: 0,
            });
        };
        let layer = key::height(&first.key);
        check_layer(&data, layer)?;
        let root = Link::Loaded(Box::new(from_data(data, *root)));
        // The log is of nodes below the root (callers know the root).
        let tree = Self {
            reader,
            root,
            layer,
        };
        tree.take_loads();
        Ok(tree)
    }

    /// The nodes loaded so far, if this tree logs them.
    pub(super) fn take_loads(&self) -> Vec<Cid> {
        self.reader
            .loads
            .as_ref()
            .map(|l| std::mem::take(&mut *l.borrow_mut()))
            .unwrap_or_default()
    }

    /// The source the tree reads from.
    pub fn source(&self) -> &S {
        &self.reader.source
    }

    /// The value stored under `key`.
    ///
    /// # Errors
    /// A missing or malformed node on the way.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Cid>> {
        if self.root.is_empty() {
            return Ok(None);
        }
        let height = key::height(key);
        let mut layer = self.layer;
        if height > layer {
            return Ok(None);
        }
        let mut link = &mut self.root;
        loop {
            let node = self.reader.resolve(link, layer)?;
            let i = node.position(key);
            if height == layer {
                return Ok(node
                    .entries
                    .get(i)
                    .filter(|e| e.key == key)
                    .map(|e| e.value));
            }
            let gap = node.gap_mut(i);
            if gap.is_empty() {
                return Ok(None);
            }
            link = gap;
            layer -= 1;
        }
    }

    /// Sets `key` to `value`, returning the value it replaced.
    ///
    /// # Errors
    /// [`MstReason::InvalidKey`], or a missing or malformed node on the way.
    pub fn put(&mut self, key: &[u8], value: Cid) -> Result<Option<Cid>> {
        key::validate(key)?;
        let height = key::height(key);
        if self.root.is_empty() {
            self.root = Link::Loaded(Box::new(Node {
                left: Link::Empty,
                entries: vec![Entry {
                    key: key.to_vec(),
                    value,
                    right: Link::Empty,
                }],
                cid: None,
            }));
            self.layer = height;
            return Ok(None);
        }
        while self.layer < height {
            let below = std::mem::take(&mut self.root);
            self.root = Link::Loaded(Box::new(Node {
                left: below,
                entries: Vec::new(),
                cid: None,
            }));
            self.layer += 1;
        }
        let node = self.reader.resolve(&mut self.root, self.layer)?;
        self.reader.insert(node, self.layer, key, height, value)
    }

    /// Removes `key`, returning its value if it was there.
    ///
    /// # Errors
    /// [`MstReason::InvalidKey`], or a missing or malformed node on the way.
    pub fn delete(&mut self, key: &[u8]) -> Result<Option<Cid>> {
        key::validate(key)?;
        if self.root.is_empty() {
            return Ok(None);
        }
        let height = key::height(key);
        if height > self.layer {
            return Ok(None);
        }
        let removed = self
            .reader
            .remove(&mut self.root, self.layer, key, height)?;
        if removed.is_some() {
            self.trim_root()?;
        }
        Ok(removed)
    }

    /// Drops entry-less nodes from the top: the root must hold a key. When the source lacks
    /// the next node down (a commit's partial tree), that node's CID is taken as the root: a
    /// producer sends no node it did not have to, and a wrong guess shows as a root mismatch.
    fn trim_root(&mut self) -> Result<()> {
        loop {
            if let Link::Stored(cid) = &self.root {
                if !self.reader.source.contains(cid) {
                    return Ok(());
                }
            }
            if self.root.is_empty() {
                return Ok(());
            }
            let node = self.reader.resolve(&mut self.root, self.layer)?;
            if !node.entries.is_empty() {
                return Ok(());
            }
            let below = std::mem::take(&mut node.left);
            self.root = below;
            self.layer = self.layer.saturating_sub(1);
        }
    }

    /// Up to `limit` entries with `start <= key < end`, in key order (or reversed).
    ///
    /// # Errors
    /// A missing or malformed node, or keys out of order across nodes.
    pub fn list(
        &mut self,
        start: Option<&[u8]>,
        end: Option<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Cid)>> {
        let mut out = Vec::new();
        if limit > 0 && !self.root.is_empty() {
            let mut walk = Listing {
                start,
                end,
                reverse,
                limit,
                out: &mut out,
            };
            walk.visit(&self.reader, &mut self.root, self.layer)?;
        }
        Ok(out)
    }

    /// Encodes every changed node; returns the root CID and the blocks the source lacks.
    ///
    /// # Errors
    /// None in practice (encoding cannot fail); kept fallible for CID construction.
    pub fn commit(&mut self) -> Result<(Cid, Vec<NewBlock>)> {
        let mut blocks = Vec::new();
        let root = self.write_all(Some(&mut blocks))?;
        Ok((root, blocks))
    }

    /// The root CID after the changes, encoding changed nodes without keeping their bytes (what
    /// an inversion check needs).
    ///
    /// # Errors
    /// As [`Tree::commit`].
    pub fn root_cid(&mut self) -> Result<Cid> {
        self.write_all(None)
    }

    fn write_all(&mut self, mut blocks: Option<&mut Vec<NewBlock>>) -> Result<Cid> {
        let source = &self.reader.source;
        match &mut self.root {
            Link::Empty => {
                let cid = empty_root();
                if let Some(blocks) = blocks {
                    if !source.contains(&cid) {
                        blocks.push((cid, node::encode(&NodeData::default())));
                    }
                }
                Ok(cid)
            }
            Link::Stored(cid) => Ok(*cid),
            Link::Loaded(node) => {
                let mut writer = Writer {
                    source,
                    blocks: blocks.take(),
                    scratch: Vec::with_capacity(1024),
                };
                writer.write(node)
            }
        }
    }
}

/// Encodes changed nodes, children first, collecting the blocks the source lacks if asked.
struct Writer<'s, 'b, S> {
    source: &'s S,
    blocks: Option<&'b mut Vec<NewBlock>>,
    scratch: Vec<u8>,
}

impl<S: BlockSource> Writer<'_, '_, S> {
    fn link(&mut self, link: &mut Link) -> Result<Option<Cid>> {
        Ok(match link {
            Link::Empty => None,
            Link::Stored(cid) => Some(*cid),
            Link::Loaded(child) => Some(self.write(child)?),
        })
    }

    fn write(&mut self, node: &mut Node) -> Result<Cid> {
        if let Some(cid) = node.cid {
            return Ok(cid);
        }
        let left = self.link(&mut node.left)?;
        let rights = node
            .entries
            .iter_mut()
            .map(|e| self.link(&mut e.right))
            .collect::<Result<Vec<_>>>()?;
        node::encode_into(
            &mut self.scratch,
            left.as_ref(),
            node.entries.len(),
            node.entries
                .iter()
                .zip(&rights)
                .map(|(e, r)| (e.key.as_slice(), &e.value, r.as_ref())),
        );
        let cid = Cid::compute(&self.scratch, cid::DAG_CBOR)?;
        if let Some(blocks) = self.blocks.as_deref_mut() {
            if !self.source.contains(&cid) {
                blocks.push((cid, self.scratch.clone()));
            }
        }
        node.cid = Some(cid);
        Ok(cid)
    }
}

/// An in-order walk over a key range.
struct Listing<'r, 'o> {
    start: Option<&'r [u8]>,
    end: Option<&'r [u8]>,
    reverse: bool,
    limit: usize,
    out: &'o mut Vec<(Vec<u8>, Cid)>,
}

impl Listing<'_, '_> {
    fn full(&self) -> bool {
        self.out.len() >= self.limit
    }

    fn in_range(&self, key: &[u8]) -> bool {
        self.start.is_none_or(|s| key >= s) && self.end.is_none_or(|e| key < e)
    }

    fn emit(&mut self, key: &[u8], value: Cid) -> Result<()> {
        if let Some((last, _)) = self.out.last() {
            let ordered = if self.reverse {
                last.as_slice() > key
            } else {
                last.as_slice() < key
            };
            if !ordered {
                return Err(Error::mst(MstReason::KeyOrder));
            }
        }
        self.out.push((key.to_vec(), value));
        Ok(())
    }

    fn visit<S: BlockSource>(
        &mut self,
        reader: &Reader<S>,
        link: &mut Link,
        layer: u32,
    ) -> Result<()> {
        let node = reader.resolve(link, layer)?;
        let n = node.entries.len();
        // Gap i lies strictly between entries i - 1 and i.
        let gap_wanted = |walk: &Self, node: &Node, i: usize| {
            let below_end = i == 0
                || walk
                    .end
                    .is_none_or(|e| node.entries[i - 1].key.as_slice() < e);
            let above_start = i == n
                || walk
                    .start
                    .is_none_or(|s| node.entries[i].key.as_slice() > s);
            below_end && above_start
        };
        let child_layer = layer.saturating_sub(1);
        for step in 0..=n {
            let i = if self.reverse { n - step } else { step };
            if self.reverse && i < n {
                self.visit_entry(node, i)?;
            }
            if self.full() {
                return Ok(());
            }
            if gap_wanted(self, node, i) && !node.gap_mut(i).is_empty() {
                self.visit(reader, node.gap_mut(i), child_layer)?;
            }
            if self.full() {
                return Ok(());
            }
            if !self.reverse && i < n {
                self.visit_entry(node, i)?;
            }
        }
        Ok(())
    }

    fn visit_entry(&mut self, node: &Node, i: usize) -> Result<()> {
        let entry = &node.entries[i];
        if !self.full() && self.in_range(&entry.key) {
            self.emit(&entry.key, entry.value)?;
        }
        Ok(())
    }
}
