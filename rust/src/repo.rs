//! A whole repository export (the CAR `com.atproto.sync.getRepo` serves) checked in one pass,
//! with no Python involved, so that a large import or resync can run while other threads work.
//!
//! [`verify`] reads the CAR (every block hashed), decodes the commit named by the first root,
//! walks the Merkle Search Tree from the commit's `data` root, rebuilds the tree from the
//! records found and requires the same root, and requires every record block to be present;
//! optionally every record must be strict DAG-CBOR and a map. The signature is not checked
//! here: which keys may have signed is the caller's business (a DID document, a key history).
//!
//! The result keeps the CAR's bytes and answers for its blocks by CID, so a caller can take
//! the records, the tree's blocks and any block in small pieces. The tree's nodes are the ones
//! the rebuild produced: a node's CID is the hash of its bytes, so equal roots mean the CAR's
//! reachable nodes are exactly these, byte for byte. Each distinct block of the tree comes with
//! how many times the tree references it (once per record path whose value it is, once more if
//! it is a node), what a store that counts references needs.

use crate::blocks::{BlockMap, BlockSource, CidMap};
use crate::car::{self, DEFAULT_MAX_BLOCK_SIZE};
use crate::cid::Cid;
use crate::commit::Commit;
use crate::dagcbor::{self, Sink};
use crate::error::{CborReason, Error, MstReason};
use crate::mst::{self, Tree};
use crate::sync::{ErrorCode, Failure};
use std::ops::Range;

/// A repository CAR that passed [`verify`].
#[derive(Debug)]
pub struct VerifiedRepo {
    bytes: Vec<u8>,
    /// The first copy of each block, as a range of `bytes`.
    index: CidMap<Range<usize>>,
    pub roots: Vec<Cid>,
    pub commit_cid: Cid,
    pub did: String,
    pub version: u8,
    pub rev: Option<String>,
    pub data: Cid,
    /// `(path, record CID)` in key order.
    pub records: Vec<(Vec<u8>, Cid)>,
    /// The tree's nodes, children before parents.
    pub nodes: Vec<Cid>,
    /// The tree's distinct blocks, in CID order (their order in a store keyed by CID, so that
    /// writing them in this order fills the store's pages one after the other), and the
    /// references to each.
    pub tree: Vec<(Cid, u32)>,
}

impl VerifiedRepo {
    /// The bytes of a block of the CAR.
    #[must_use]
    pub fn block(&self, cid: &Cid) -> Option<&[u8]> {
        self.index
            .get(cid)
            .and_then(|range| self.bytes.get(range.clone()))
    }

    /// The signed commit's bytes.
    #[must_use]
    pub fn commit_block(&self) -> &[u8] {
        self.block(&self.commit_cid).unwrap_or_default()
    }
}

/// What [`verify`] learns from the CAR, before the bytes move into the result.
struct Checked {
    index: CidMap<Range<usize>>,
    roots: Vec<Cid>,
    commit_cid: Cid,
    did: String,
    version: u8,
    rev: Option<String>,
    data: Cid,
    records: Vec<(Vec<u8>, Cid)>,
    nodes: Vec<Cid>,
}

/// Verifies the repository CAR `bytes` (kept in the result).
///
/// # Errors
/// A [`Failure`] with the code a relay would count: `bad_car` or `hash_mismatch` (the CAR),
/// `missing_block` (the commit, a tree node or a record), `malformed` (the commit, a node, a
/// key, or with `check_records` a record that is not a DAG-CBOR map) or `inversion_mismatch`
/// (the records do not rebuild to the commit's root).
pub fn verify(bytes: Vec<u8>, check_records: bool) -> Result<VerifiedRepo, Failure> {
    let checked = check(&bytes, check_records)?;
    let tree = references(&checked.nodes, &checked.records);
    Ok(VerifiedRepo {
        tree,
        bytes,
        index: checked.index,
        roots: checked.roots,
        commit_cid: checked.commit_cid,
        did: checked.did,
        version: checked.version,
        rev: checked.rev,
        data: checked.data,
        records: checked.records,
        nodes: checked.nodes,
    })
}

fn check(bytes: &[u8], check_records: bool) -> Result<Checked, Failure> {
    // The hashes are checked on this thread alone: a server verifying a large import keeps
    // its other cores for the requests it serves meanwhile.
    let (parsed, outcome) =
        car::parse(bytes, DEFAULT_MAX_BLOCK_SIZE).map_err(|err| Failure::car(&err))?;
    car::verify_blocks(&parsed.blocks)
        .and(outcome)
        .map_err(|err| Failure::car(&err))?;
    let start = bytes.as_ptr() as usize;
    let mut index = CidMap::default();
    index.reserve(parsed.blocks.len());
    for block in &parsed.blocks {
        let at = block.data.as_ptr() as usize - start;
        index.entry(block.cid).or_insert(at..at + block.data.len());
    }
    let blocks = BlockMap::from_car_blocks(&parsed.blocks);
    let commit_cid = *parsed
        .roots
        .first()
        .ok_or_else(|| Failure::new(ErrorCode::BadCar, "the CAR has no root"))?;
    let commit_bytes = blocks.get(&commit_cid).ok_or_else(|| {
        Failure::new(
            ErrorCode::MissingBlock,
            "the commit block is not in the CAR",
        )
    })?;
    let commit = Commit::decode(&commit_bytes)
        .map_err(|err| Failure::new(ErrorCode::Malformed, err.detail()))?;
    let records = Tree::open(&blocks, &commit.data)
        .and_then(|mut tree| tree.list(None, None, false, usize::MAX))
        .map_err(tree_failure)?;
    let built = mst::build(&records).map_err(tree_failure)?;
    if built.root != commit.data {
        return Err(Failure::new(
            ErrorCode::InversionMismatch,
            format!(
                "the records rebuild to {}, the commit says {}",
                built.root, commit.data
            ),
        ));
    }
    check_record_blocks(&records, &blocks, check_records)?;
    Ok(Checked {
        roots: parsed.roots.clone(),
        commit_cid,
        did: commit.did.to_owned(),
        version: commit.version,
        rev: commit.rev.map(str::to_owned),
        data: commit.data,
        records,
        nodes: built.blocks.into_iter().map(|(cid, _)| cid).collect(),
        index,
    })
}

/// The distinct blocks of a tree and the references to each (see [`VerifiedRepo::tree`]).
fn references(nodes: &[Cid], records: &[(Vec<u8>, Cid)]) -> Vec<(Cid, u32)> {
    let mut counts: CidMap<u32> = CidMap::default();
    for cid in nodes.iter().chain(records.iter().map(|(_, cid)| cid)) {
        *counts.entry(*cid).or_insert(0) += 1;
    }
    let mut tree: Vec<(Cid, u32)> = counts.into_iter().collect();
    tree.sort_unstable();
    tree
}

/// A tree error as the failure it is: a node missing from the CAR, or a malformed tree.
fn tree_failure(err: Error) -> Failure {
    let code = match err {
        Error::Mst {
            reason: MstReason::MissingBlock,
        } => ErrorCode::MissingBlock,
        _ => ErrorCode::Malformed,
    };
    Failure::new(code, err.to_string())
}

/// Every record block is present and, with `decode`, a strict DAG-CBOR map.
fn check_record_blocks(
    records: &[(Vec<u8>, Cid)],
    blocks: &BlockMap<'_>,
    decode: bool,
) -> Result<(), Failure> {
    let mut missing = records.iter().filter(|(_, cid)| !blocks.contains(cid));
    if let Some((first, _)) = missing.next() {
        let count = 1 + missing.count();
        return Err(Failure::new(
            ErrorCode::MissingBlock,
            format!(
                "{count} record blocks are missing, first {}",
                String::from_utf8_lossy(first)
            ),
        ));
    }
    if !decode {
        return Ok(());
    }
    let mut checked: CidMap<()> = CidMap::default();
    for (path, cid) in records {
        if checked.insert(*cid, ()).is_some() {
            continue;
        }
        let data = blocks.get(cid).unwrap_or_default();
        let path = String::from_utf8_lossy(path);
        match dagcbor::decode_with(&data, &mut Shape) {
            Ok(true) => {}
            Ok(false) => {
                return Err(Failure::new(
                    ErrorCode::Malformed,
                    format!("the record at {path} is not a map"),
                ));
            }
            Err(err) => {
                return Err(Failure::new(
                    ErrorCode::Malformed,
                    format!("the record at {path} is not valid DAG-CBOR: {err}"),
                ));
            }
        }
    }
    Ok(())
}

/// Checks a DAG-CBOR value as strictly as decoding it (UTF-8 text and keys included) without
/// building it: the value is whether it is a map.
struct Shape;

fn text(value: &[u8], offset: usize) -> Result<bool, Error> {
    std::str::from_utf8(value)
        .map(|_| false)
        .map_err(|_| Error::cbor(offset, CborReason::InvalidUtf8))
}

impl<'a> Sink<'a> for Shape {
    type Value = bool;
    type List = ();
    type Map = ();
    type Error = Error;

    fn null(&mut self) -> Result<bool, Error> {
        Ok(false)
    }
    fn bool(&mut self, _: bool) -> Result<bool, Error> {
        Ok(false)
    }
    fn int(&mut self, _: i64) -> Result<bool, Error> {
        Ok(false)
    }
    fn bytes(&mut self, _: &'a [u8]) -> Result<bool, Error> {
        Ok(false)
    }
    fn text(&mut self, value: &'a [u8], offset: usize) -> Result<bool, Error> {
        text(value, offset)
    }
    fn link(&mut self, _: Cid) -> Result<bool, Error> {
        Ok(false)
    }
    fn list_begin(&mut self, _: usize) -> Result<(), Error> {
        Ok(())
    }
    fn list_push(&mut self, (): &mut (), _: usize, _: bool) -> Result<(), Error> {
        Ok(())
    }
    fn list_end(&mut self, (): ()) -> Result<bool, Error> {
        Ok(false)
    }
    fn map_begin(&mut self, _: usize) -> Result<(), Error> {
        Ok(())
    }
    fn map_insert(
        &mut self,
        (): &mut (),
        key: &'a [u8],
        key_offset: usize,
        _: bool,
    ) -> Result<(), Error> {
        text(key, key_offset).map(|_| ())
    }
    fn map_end(&mut self, (): ()) -> Result<bool, Error> {
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cid::DAG_CBOR;
    use crate::commit;
    use crate::crypto::PrivateKey;
    use crate::ipld::Ipld;

    const DID: &str = "did:plc:abcdefghijklmnopqrstuvwx";

    fn record(text: &str) -> (Cid, Vec<u8>) {
        let value = Ipld::Map(vec![
            ("$type".into(), Ipld::String("app.bsky.feed.post".into())),
            ("text".into(), Ipld::String(text.into())),
        ]);
        let data = dagcbor::encode(&value);
        (Cid::compute(&data, DAG_CBOR).unwrap(), data)
    }

    /// A repository of `count` records as a CAR; `skip` leaves one record block out.
    fn repo_car(count: usize, skip: Option<usize>) -> (Vec<u8>, Cid) {
        let made: Vec<_> = (0..count).map(|n| record(&format!("post {n}"))).collect();
        let pairs: Vec<(String, Cid)> = made
            .iter()
            .enumerate()
            .map(|(n, (cid, _))| (format!("app.bsky.feed.post/{n:013}"), *cid))
            .collect();
        let built = mst::build(&pairs).unwrap();
        let key = PrivateKey::generate(crate::crypto::Curve::K256);
        let signed = commit::sign(DID, "3jzfcijpj2z2a", &built.root, &key).unwrap();
        let mut blocks: Vec<(Cid, Vec<u8>)> = vec![(signed.cid, signed.bytes)];
        blocks.extend(built.blocks);
        for (n, (cid, data)) in made.into_iter().enumerate() {
            if skip != Some(n) {
                blocks.push((cid, data));
            }
        }
        let car = car::write(&[signed.cid], blocks.iter().map(|(c, d)| (c, d.as_slice())));
        (car, built.root)
    }

    #[test]
    fn a_whole_repository_verifies_and_answers_for_its_blocks() {
        let (car, root) = repo_car(300, None);
        let repo = verify(car, true).unwrap();
        assert_eq!(repo.did, DID);
        assert_eq!(repo.data, root);
        assert_eq!(repo.records.len(), 300);
        assert!(repo.records.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(!repo.nodes.is_empty());
        for cid in &repo.nodes {
            assert!(repo.block(cid).is_some());
        }
        // every node and every record (all different here) once, in CID order
        assert_eq!(repo.tree.len(), repo.nodes.len() + 300);
        assert!(repo.tree.iter().all(|(_, refs)| *refs == 1));
        assert!(repo.tree.windows(2).all(|w| w[0].0 < w[1].0));
        let (_, first) = &repo.records[0];
        assert_eq!(
            Cid::compute(repo.block(first).unwrap(), DAG_CBOR).unwrap(),
            *first
        );
        assert_eq!(Commit::decode(repo.commit_block()).unwrap().data, root);
    }

    #[test]
    fn records_must_be_strict_dag_cbor_maps() {
        let shape = |data: &[u8]| dagcbor::decode_with(data, &mut Shape);
        let (_, map) = record("hello");
        assert_eq!(shape(&map), Ok(true));
        let list = dagcbor::encode(&Ipld::List(vec![Ipld::String("a".into())]));
        assert_eq!(shape(&list), Ok(false));
        // {"a": text with an invalid UTF-8 byte}: the error decoding would give
        let bad = [0xa1, 0x61, b'a', 0x61, 0xff];
        assert_eq!(shape(&bad), dagcbor::decode(&bad).map(|_| true));
        assert_eq!(
            shape(&bad).unwrap_err().to_string(),
            "invalid DAG-CBOR: invalid UTF-8 at offset 3"
        );
        assert!(shape(&map[..map.len() - 1]).is_err());
    }

    #[test]
    fn a_missing_record_or_a_broken_car_fails_with_its_code() {
        let (car, _) = repo_car(20, Some(7));
        let failure = verify(car, false).unwrap_err();
        assert_eq!(failure.code, ErrorCode::MissingBlock);
        assert!(failure.reason.starts_with("1 record blocks are missing"));
        let (mut car, _) = repo_car(20, None);
        let last = car.len() - 3;
        car[last] ^= 0xff;
        assert_eq!(
            verify(car, false).unwrap_err().code,
            ErrorCode::HashMismatch
        );
        assert_eq!(
            verify(b"nope".to_vec(), false).unwrap_err().code,
            ErrorCode::BadCar
        );
    }
}
