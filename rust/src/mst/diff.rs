//! Structural diff of two trees: the record operations that turn one into the other, and the
//! nodes each side has that the other lacks. Subtrees with the same CID on both sides are
//! skipped without being read, so the cost follows the size of the change, not of the trees.

use super::key;
use super::node::{self, NodeData};
use crate::blocks::BlockSource;
use crate::cid::{self, Cid};
use crate::error::{Error, MstReason, Result};
use std::collections::HashSet;

/// What happened to one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
}

impl Action {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

/// One record operation: `cid` is the new value (none for a delete), `prev` the old one (none
/// for a create).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordOp {
    pub action: Action,
    pub key: Vec<u8>,
    pub cid: Option<Cid>,
    pub prev: Option<Cid>,
}

/// The difference between an old and a new tree.
#[derive(Debug, Default)]
pub struct Diff {
    /// In key order.
    pub ops: Vec<RecordOp>,
    /// Nodes of the new tree that the old one does not have.
    pub new_nodes: Vec<Cid>,
    /// Nodes of the old tree that the new one does not have.
    pub removed_nodes: Vec<Cid>,
}

/// One position in an in-order walk: a whole subtree, or one entry.
enum Item<'w> {
    Subtree(Cid),
    Leaf(&'w [u8], Cid),
}

struct Frame {
    node: NodeData,
    /// Items are `gap 0, entry 0, gap 1, entry 1, ..., gap n`.
    position: usize,
    layer: Option<u32>,
}

/// An in-order walk that can step over a subtree or open it.
struct Walker<'s, S> {
    source: &'s S,
    stack: Vec<Frame>,
    visited: Vec<Cid>,
}

impl<'s, S: BlockSource> Walker<'s, S> {
    fn new(source: &'s S, root: Option<Cid>) -> Self {
        // A frame for a node holding only the root as its left subtree.
        // The empty tree's one node is a constant: counted as visited without being read.
        let empty = super::tree::empty_root();
        let visited = if root == Some(empty) {
            vec![empty]
        } else {
            Vec::new()
        };
        let root = root.filter(|cid| *cid != empty);
        let top = Frame {
            node: NodeData {
                left: root,
                entries: Vec::new(),
            },
            position: 0,
            layer: None,
        };
        Self {
            source,
            stack: vec![top],
            visited,
        }
    }

    fn peek(&mut self) -> Option<Item<'_>> {
        // Step over empty gaps and finished frames.
        loop {
            let frame = self.stack.last_mut()?;
            if frame.position > 2 * frame.node.entries.len() {
                self.stack.pop();
            } else if frame.position % 2 == 0 && gap(&frame.node, frame.position / 2).is_none() {
                frame.position += 1;
            } else {
                break;
            }
        }
        let frame = self.stack.last()?;
        if frame.position % 2 == 0 {
            gap(&frame.node, frame.position / 2).map(Item::Subtree)
        } else {
            let entry = &frame.node.entries[frame.position / 2];
            Some(Item::Leaf(&entry.key, entry.value))
        }
    }

    fn advance(&mut self) {
        if let Some(frame) = self.stack.last_mut() {
            frame.position += 1;
        }
    }

    /// Opens the subtree at the current position.
    fn open(&mut self, cid: Cid) -> Result<()> {
        let parent_layer = self.stack.last().and_then(|f| f.layer);
        self.advance();
        if cid.codec() != cid::DAG_CBOR {
            return Err(Error::mst(MstReason::NodeLink));
        }
        let data = self
            .source
            .get(&cid)
            .ok_or(Error::mst(MstReason::MissingBlock))?;
        let node = node::decode(&data)?;
        let layer = match parent_layer {
            Some(parent) => Some(
                parent
                    .checked_sub(1)
                    .ok_or(Error::mst(MstReason::WrongLayer))?,
            ),
            None => node.entries.first().map(|e| key::height(&e.key)),
        };
        if let Some(layer) = layer {
            if node.entries.iter().any(|e| key::height(&e.key) != layer) {
                return Err(Error::mst(MstReason::WrongLayer));
            }
        }
        // Below the root a node needs a key or a child; the root of a non-empty tree a key.
        let entry_less_root = parent_layer.is_none() && node.left.is_some();
        if node.entries.is_empty()
            && (entry_less_root || parent_layer.is_some() && node.left.is_none())
        {
            return Err(Error::mst(MstReason::EmptyNode));
        }
        self.visited.push(cid);
        self.stack.push(Frame {
            node,
            position: 0,
            layer,
        });
        Ok(())
    }
}

/// The subtree link before entry `i` (`i == entries.len()`: after the last).
fn gap(node: &NodeData, i: usize) -> Option<Cid> {
    if i == 0 {
        node.left
    } else {
        node.entries[i - 1].right
    }
}

/// The diff from the tree at `old` (none: the empty tree) to the tree at `new`.
///
/// # Errors
/// A missing or malformed node.
pub fn diff<S: BlockSource>(source: &S, old: Option<Cid>, new: Cid) -> Result<Diff> {
    let mut before = Walker::new(source, old);
    let mut after = Walker::new(source, Some(new));
    let mut ops = Vec::new();
    let mut last_key: Option<Vec<u8>> = None;
    let mut push = |op: RecordOp| -> Result<()> {
        if last_key
            .as_ref()
            .is_some_and(|k| k.as_slice() >= op.key.as_slice())
        {
            return Err(Error::mst(MstReason::KeyOrder));
        }
        last_key = Some(op.key.clone());
        ops.push(op);
        Ok(())
    };
    loop {
        let a = before.peek().map(|item| match item {
            Item::Subtree(cid) => (Some(cid), None),
            Item::Leaf(key, value) => (None, Some((key.to_vec(), value))),
        });
        let b = after.peek().map(|item| match item {
            Item::Subtree(cid) => (Some(cid), None),
            Item::Leaf(key, value) => (None, Some((key.to_vec(), value))),
        });
        match (a, b) {
            (None, None) => break,
            (Some((Some(x), _)), Some((Some(y), _))) if x == y => {
                before.advance();
                after.advance();
            }
            (Some((Some(x), _)), Some((Some(y), _))) => {
                before.open(x)?;
                after.open(y)?;
            }
            (Some((Some(x), _)), _) => before.open(x)?,
            (_, Some((Some(y), _))) => after.open(y)?,
            (Some((None, Some((key, prev)))), None) => {
                push(RecordOp {
                    action: Action::Delete,
                    key,
                    cid: None,
                    prev: Some(prev),
                })?;
                before.advance();
            }
            (None, Some((None, Some((key, cid))))) => {
                push(RecordOp {
                    action: Action::Create,
                    key,
                    cid: Some(cid),
                    prev: None,
                })?;
                after.advance();
            }
            (Some((None, Some((old_key, prev)))), Some((None, Some((new_key, cid))))) => {
                match old_key.cmp(&new_key) {
                    std::cmp::Ordering::Equal => {
                        if prev != cid {
                            push(RecordOp {
                                action: Action::Update,
                                key: new_key,
                                cid: Some(cid),
                                prev: Some(prev),
                            })?;
                        }
                        before.advance();
                        after.advance();
                    }
                    std::cmp::Ordering::Less => {
                        push(RecordOp {
                            action: Action::Delete,
                            key: old_key,
                            cid: None,
                            prev: Some(prev),
                        })?;
                        before.advance();
                    }
                    std::cmp::Ordering::Greater => {
                        push(RecordOp {
                            action: Action::Create,
                            key: new_key,
                            cid: Some(cid),
                            prev: None,
                        })?;
                        after.advance();
                    }
                }
            }
            _ => unreachable!("items are either subtrees or leaves"),
        }
    }
    let old_nodes: HashSet<Cid> = before.visited.iter().copied().collect();
    let new_set: HashSet<Cid> = after.visited.iter().copied().collect();
    let mut seen = HashSet::new();
    let new_nodes = after
        .visited
        .into_iter()
        .filter(|c| !old_nodes.contains(c) && seen.insert(*c))
        .collect();
    let mut seen = HashSet::new();
    let removed_nodes = before
        .visited
        .into_iter()
        .filter(|c| !new_set.contains(c) && seen.insert(*c))
        .collect();
    Ok(Diff {
        ops,
        new_nodes,
        removed_nodes,
    })
}
