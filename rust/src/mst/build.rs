//! Building a whole tree from its key/value pairs in one pass.
//!
//! The tree is a pure function of the key set, so it can be built top-down from the sorted keys:
//! the root holds the keys of the highest layer, and each gap between them is built, one layer
//! lower, from the keys that fall in it. Only live nodes are produced.

use super::key;
use super::node;
use crate::cid::{self, Cid};
use crate::error::{Error, MstReason, Result};

/// A built tree: the root CID and every node, children before parents.
pub struct Built {
    pub root: Cid,
    pub blocks: Vec<(Cid, Vec<u8>)>,
}

struct Item<'k> {
    key: &'k [u8],
    value: Cid,
    height: u32,
}

/// Builds the tree holding `pairs` (any order).
///
/// # Errors
/// [`MstReason::InvalidKey`] or [`MstReason::DuplicateKey`].
pub fn build<K: AsRef<[u8]>>(pairs: &[(K, Cid)]) -> Result<Built> {
    let mut items = pairs
        .iter()
        .map(|(k, v)| {
            let key = k.as_ref();
            key::validate(key)?;
            Ok(Item {
                key,
                value: *v,
                height: key::height(key),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    items.sort_unstable_by(|a, b| a.key.cmp(b.key));
    if items.windows(2).any(|w| w[0].key == w[1].key) {
        return Err(Error::mst(MstReason::DuplicateKey));
    }
    let mut blocks = Vec::with_capacity(items.len() / 2 + 1);
    let mut scratch = Vec::with_capacity(1024);
    let root = match items.iter().map(|i| i.height).max() {
        None => {
            let data = node::encode(&node::NodeData::default());
            let cid = Cid::compute(&data, cid::DAG_CBOR)?;
            blocks.push((cid, data));
            cid
        }
        Some(top) => write_node(&items, top, &mut blocks, &mut scratch)?,
    };
    Ok(Built { root, blocks })
}

/// Writes the node at `layer` holding `items` (all of height <= `layer`, at least one item).
fn write_node(
    items: &[Item<'_>],
    layer: u32,
    blocks: &mut Vec<(Cid, Vec<u8>)>,
    scratch: &mut Vec<u8>,
) -> Result<Cid> {
    // Gaps are the runs between this layer's keys.
    let mut links: Vec<Option<Cid>> = Vec::new();
    let mut here: Vec<&Item<'_>> = Vec::new();
    let mut run_start = 0;
    for (i, item) in items.iter().enumerate() {
        if item.height == layer {
            links.push(write_gap(&items[run_start..i], layer, blocks, scratch)?);
            here.push(item);
            run_start = i + 1;
        }
    }
    links.push(write_gap(&items[run_start..], layer, blocks, scratch)?);
    let mut out = std::mem::take(scratch);
    node::encode_into(
        &mut out,
        links[0].as_ref(),
        here.len(),
        here.iter()
            .zip(&links[1..])
            .map(|(item, right)| (item.key, &item.value, right.as_ref())),
    );
    let cid = Cid::compute(&out, cid::DAG_CBOR)?;
    blocks.push((cid, out.clone()));
    *scratch = out;
    Ok(cid)
}

fn write_gap(
    run: &[Item<'_>],
    layer: u32,
    blocks: &mut Vec<(Cid, Vec<u8>)>,
    scratch: &mut Vec<u8>,
) -> Result<Option<Cid>> {
    if run.is_empty() {
        return Ok(None);
    }
    // Keys of a gap are strictly lower than `layer`, so `layer >= 1` here.
    write_node(run, layer - 1, blocks, scratch).map(Some)
}
