//! Proofs over partial trees.
//!
//! - Operation inversion (sync 1.1): a commit's CAR slice carries the new tree's changed nodes
//!   plus the unchanged ones a consumer needs to undo the commit's operations. Undoing them on
//!   the partial tree must give the previous root (`prevData`). [`invert`] does the check;
//!   [`proof_nodes`] finds the nodes a producer must send, by performing the same undo on the
//!   full tree and noting every node it reads, plus the paths to each written key's neighbours
//!   (what the reference implementations send), so consumers with other algorithms are served.
//! - Record proofs (`com.atproto.sync.getRecord`): the nodes on the path to a key prove its value,
//!   or its absence.

use super::diff::{Action, RecordOp};
use super::tree::Tree;
use crate::blocks::BlockSource;
use crate::cid::Cid;
use crate::error::{Error, MstReason};
use std::collections::HashSet;

/// Why an inversion failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvertError {
    /// The slice lacks a node the inversion needs.
    Incomplete,
    /// Two operations on one key.
    DuplicatePath(Vec<u8>),
    /// An operation does not match the tree (the reason says how).
    Mismatch(&'static str, Vec<u8>),
    /// A malformed node or key.
    Malformed(Error),
}

impl From<Error> for InvertError {
    fn from(err: Error) -> Self {
        match err {
            Error::Mst {
                reason: MstReason::MissingBlock,
            } => Self::Incomplete,
            other => Self::Malformed(other),
        }
    }
}

/// The operations in the order inversion applies them: deletes first, then by key. Duplicate
/// keys are refused.
///
/// # Errors
/// [`InvertError::DuplicatePath`].
pub fn normalize(ops: &[RecordOp]) -> Result<Vec<&RecordOp>, InvertError> {
    let mut sorted: Vec<&RecordOp> = ops.iter().collect();
    sorted.sort_by(|a, b| {
        (a.action != Action::Delete)
            .cmp(&(b.action != Action::Delete))
            .then_with(|| a.key.cmp(&b.key))
    });
    let mut keys: Vec<&[u8]> = ops.iter().map(|op| op.key.as_slice()).collect();
    keys.sort_unstable();
    if let Some(pair) = keys.windows(2).find(|w| w[0] == w[1]) {
        return Err(InvertError::DuplicatePath(pair[0].to_vec()));
    }
    Ok(sorted)
}

/// Checks every operation against the tree as it is after them.
fn check_forward<S: BlockSource>(tree: &mut Tree<S>, ops: &[&RecordOp]) -> Result<(), InvertError> {
    for op in ops {
        let found = tree.get(&op.key)?;
        let expected = match op.action {
            Action::Create | Action::Update => op.cid,
            Action::Delete => None,
        };
        if found != expected {
            let why = match op.action {
                Action::Delete => "deleted key still in the tree",
                _ => "operation CID not at its path in the tree",
            };
            return Err(InvertError::Mismatch(why, op.key.clone()));
        }
    }
    Ok(())
}

/// Undoes the operations, in order, on a tree.
fn undo<S: BlockSource>(tree: &mut Tree<S>, ops: &[&RecordOp]) -> Result<(), InvertError> {
    for op in ops {
        let mismatch = |why| InvertError::Mismatch(why, op.key.clone());
        match op.action {
            Action::Create => {
                if tree.delete(&op.key)? != op.cid {
                    return Err(mismatch("created key not in the tree"));
                }
            }
            Action::Update => {
                let prev = op.prev.ok_or_else(|| mismatch("update without prev"))?;
                if tree.put(&op.key, prev)? != op.cid {
                    return Err(mismatch("updated key holds another CID"));
                }
            }
            Action::Delete => {
                let prev = op.prev.ok_or_else(|| mismatch("delete without prev"))?;
                if tree.put(&op.key, prev)?.is_some() {
                    return Err(mismatch("deleted key still in the tree"));
                }
            }
        }
    }
    Ok(())
}

/// Undoes `ops` on the (possibly partial) tree at `new_root` and returns the root it gives,
/// which the caller compares with `prevData`.
///
/// # Errors
/// [`InvertError`].
pub fn invert<S: BlockSource>(
    source: S,
    new_root: &Cid,
    ops: &[RecordOp],
) -> Result<Cid, InvertError> {
    let ordered = normalize(ops)?;
    let mut tree = Tree::open(source, new_root)?;
    check_forward(&mut tree, &ordered)?;
    undo(&mut tree, &ordered)?;
    Ok(tree.root_cid()?)
}

/// The nodes of the tree at `new_root` that a commit making `ops` must carry so that consumers
/// can invert it (changed nodes included), in a stable order without repeats.
///
/// # Errors
/// A missing or malformed node, or operations that do not match the tree.
pub fn proof_nodes<S: BlockSource>(
    source: &S,
    new_root: &Cid,
    ops: &[RecordOp],
) -> Result<Vec<Cid>, InvertError> {
    let ordered = normalize(ops)?;
    let mut nodes = vec![*new_root];
    let mut tree = Tree::open_logged(source, new_root)?;
    undo(&mut tree, &ordered)?;
    nodes.extend(tree.take_loads());
    for op in &ordered {
        let mut after = Tree::open_logged(source, new_root)?;
        after.list(Some(&op.key), None, false, 2)?;
        nodes.extend(after.take_loads());
        let mut before = Tree::open_logged(source, new_root)?;
        before.list(None, Some(&op.key), true, 1)?;
        nodes.extend(before.take_loads());
    }
    let mut seen = HashSet::new();
    nodes.retain(|cid| seen.insert(*cid));
    Ok(nodes)
}

/// The value at `key` in the tree at `root`, and the nodes on the path to it (which prove the
/// value, or that there is none).
///
/// # Errors
/// A missing or malformed node.
pub fn record_proof<S: BlockSource>(
    source: &S,
    root: &Cid,
    key: &[u8],
) -> Result<(Option<Cid>, Vec<Cid>), Error> {
    let mut tree = Tree::open_logged(source, root)?;
    let value = tree.get(key)?;
    let mut nodes = vec![*root];
    nodes.extend(tree.take_loads());
    Ok((value, nodes))
}

/// Checks a record proof: the value at `key` according to the proof's nodes (none: proven
/// absent).
///
/// # Errors
/// [`MstReason::MissingBlock`] when the nodes do not reach the key, or a malformed node.
pub fn check_record_proof<S: BlockSource>(
    source: S,
    root: &Cid,
    key: &[u8],
) -> Result<Option<Cid>, Error> {
    Tree::open(source, root)?.get(key)
}
