//! Where blocks come from: the [`BlockSource`] trait and [`BlockMap`], an in-memory map of
//! CID to block bytes (borrowed from a CAR, or owned).

use crate::car::Block;
use crate::cid::Cid;
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Anything that can hand out a block by CID: a map, a CAR slice, a store.
pub trait BlockSource {
    /// The block's bytes, if the source has it.
    fn get(&self, cid: &Cid) -> Option<Cow<'_, [u8]>>;

    /// Does the source have the block?
    fn contains(&self, cid: &Cid) -> bool {
        self.get(cid).is_some()
    }
}

/// Hashes a CID by the first bytes of its digest: they are already uniformly random (a
/// SHA-256 output), so running them through SipHash again would only cost time.
#[derive(Default)]
pub struct CidHasher(u64);

impl Hasher for CidHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // `Cid`'s `Hash` writes its whole binary form; the tail is digest bytes.
        let tail = &bytes[bytes.len().saturating_sub(8)..];
        let mut word = [0u8; 8];
        word[..tail.len()].copy_from_slice(tail);
        self.0 ^= u64::from_le_bytes(word);
    }

    fn write_usize(&mut self, _: usize) {
        // The length prefix `Hash for [u8]` writes carries no entropy.
    }
}

/// A `HashMap` keyed by CID with [`CidHasher`].
pub type CidMap<V> = HashMap<Cid, V, BuildHasherDefault<CidHasher>>;

/// Blocks in memory, by CID. The first copy of a repeated block wins, as in a CAR.
#[derive(Debug, Default, Clone)]
pub struct BlockMap<'a> {
    blocks: CidMap<Cow<'a, [u8]>>,
}

impl<'a> BlockMap<'a> {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The blocks of a parsed CAR, borrowed.
    #[must_use]
    pub fn from_car_blocks(blocks: &[Block<'a>]) -> Self {
        let mut map = Self::default();
        map.blocks.reserve(blocks.len());
        for block in blocks {
            map.blocks
                .entry(block.cid)
                .or_insert(Cow::Borrowed(block.data));
        }
        map
    }

    /// Adds a block unless one with this CID is there already.
    pub fn insert(&mut self, cid: Cid, data: Cow<'a, [u8]>) {
        self.blocks.entry(cid).or_insert(data);
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The blocks, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&Cid, &[u8])> {
        self.blocks.iter().map(|(cid, data)| (cid, data.as_ref()))
    }

    /// The total size of the block data.
    #[must_use]
    pub fn data_size(&self) -> usize {
        self.blocks.values().map(|data| data.len()).sum()
    }
}

impl BlockSource for BlockMap<'_> {
    fn get(&self, cid: &Cid) -> Option<Cow<'_, [u8]>> {
        self.blocks
            .get(cid)
            .map(|data| Cow::Borrowed(data.as_ref()))
    }

    fn contains(&self, cid: &Cid) -> bool {
        self.blocks.contains_key(cid)
    }
}

impl<S: BlockSource + ?Sized> BlockSource for &S {
    fn get(&self, cid: &Cid) -> Option<Cow<'_, [u8]>> {
        (**self).get(cid)
    }

    fn contains(&self, cid: &Cid) -> bool {
        (**self).contains(cid)
    }
}

/// A source with no blocks (building a tree from nothing).
pub struct NoBlocks;

impl BlockSource for NoBlocks {
    fn get(&self, _: &Cid) -> Option<Cow<'_, [u8]>> {
        None
    }
}
