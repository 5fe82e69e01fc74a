//! The Merkle Search Tree against the interop fixtures (`mst/`, `firehose/commit-proof-fixtures`)
//! and against itself: random write sequences applied one by one must give the tree built from
//! scratch, the diff must name exactly the writes, and the proof nodes must let a consumer
//! invert them. They read `../shared` (or `$STRATO_SHARED`) and skip, saying so, without it.

use _core::blocks::BlockMap;
use _core::cid::{self, Cid};
use _core::mst::{self, node, Action, Tree};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn shared(sub: &str) -> Option<PathBuf> {
    let root = std::env::var_os("STRATO_SHARED").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("shared")
        },
        PathBuf::from,
    );
    let path = root.join(sub);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipped: shared fixtures {} are missing", path.display());
        None
    }
}

fn json(path: PathBuf) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn blocks_of(built: Vec<(Cid, Vec<u8>)>) -> BlockMap<'static> {
    let mut map = BlockMap::new();
    for (cid, data) in built {
        map.insert(cid, Cow::Owned(data));
    }
    map
}

fn add_blocks(map: &mut BlockMap<'static>, blocks: Vec<(Cid, Vec<u8>)>) {
    for (cid, data) in blocks {
        map.insert(cid, Cow::Owned(data));
    }
}

#[test]
fn interop_key_heights() {
    let Some(path) = shared("interop/mst/key_heights.json") else {
        return;
    };
    let cases = json(path);
    for case in cases.as_array().unwrap() {
        let key = case["key"].as_str().unwrap();
        let height = case["height"].as_u64().unwrap();
        assert_eq!(u64::from(mst::key::height(key.as_bytes())), height, "{key}");
    }
}

#[test]
fn interop_common_prefix() {
    let Some(path) = shared("interop/mst/common_prefix.json") else {
        return;
    };
    for case in json(path).as_array().unwrap() {
        let left = case["left"].as_str().unwrap().as_bytes();
        let right = case["right"].as_str().unwrap().as_bytes();
        let len = usize::try_from(case["len"].as_u64().unwrap()).unwrap();
        assert_eq!(node::common_prefix(left, right), len);
    }
}

#[test]
fn interop_example_keys_are_valid() {
    let Some(path) = shared("interop/mst/example_keys.txt") else {
        return;
    };
    let text = std::fs::read_to_string(path).unwrap();
    let keys: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    assert!(keys.len() > 100);
    let value = Cid::compute(b"x", cid::DAG_CBOR).unwrap();
    let pairs: Vec<(&str, Cid)> = keys.iter().map(|k| (*k, value)).collect();
    for key in &keys {
        assert!(mst::key::is_valid(key.as_bytes()), "{key}");
    }
    let built = mst::build(&pairs).unwrap();
    let blocks = blocks_of(built.blocks);
    let mut tree = Tree::open(&blocks, &built.root).unwrap();
    let listed = tree.list(None, None, false, usize::MAX).unwrap();
    let mut sorted: Vec<&str> = keys.clone();
    sorted.sort_unstable();
    let listed: Vec<String> = listed
        .into_iter()
        .map(|(k, _)| String::from_utf8(k).unwrap())
        .collect();
    assert_eq!(listed, sorted);
}

#[test]
fn empty_tree_root() {
    assert_eq!(
        mst::empty_root().to_string(),
        "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
    );
    let built = mst::build::<&str>(&[]).unwrap();
    assert_eq!(built.root, mst::empty_root());
}

#[test]
fn interop_commit_proofs() {
    let Some(path) = shared("interop/firehose/commit-proof-fixtures.json") else {
        return;
    };
    for case in json(path).as_array().unwrap() {
        let comment = case["comment"].as_str().unwrap();
        let leaf = Cid::parse(case["leafValue"].as_str().unwrap()).unwrap();
        let strings = |name: &str| -> Vec<String> {
            case[name]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        let keys = strings("keys");
        let adds = strings("adds");
        let dels = strings("dels");
        let before_root = Cid::parse(case["rootBeforeCommit"].as_str().unwrap()).unwrap();
        let after_root = Cid::parse(case["rootAfterCommit"].as_str().unwrap()).unwrap();

        let pairs: Vec<(&str, Cid)> = keys.iter().map(|k| (k.as_str(), leaf)).collect();
        let built = mst::build(&pairs).unwrap();
        assert_eq!(built.root, before_root, "{comment}: build");
        let mut store = blocks_of(built.blocks);

        let mut tree = Tree::open(&store, &before_root).unwrap();
        for key in &adds {
            assert_eq!(tree.put(key.as_bytes(), leaf).unwrap(), None);
        }
        for key in &dels {
            assert_eq!(tree.delete(key.as_bytes()).unwrap(), Some(leaf));
        }
        let (root, new_blocks) = tree.commit().unwrap();
        assert_eq!(root, after_root, "{comment}: apply");
        add_blocks(&mut store, new_blocks);

        let diff = mst::diff(&store, Some(before_root), after_root).unwrap();
        let mut expected: Vec<(Action, String)> = adds
            .iter()
            .map(|k| (Action::Create, k.clone()))
            .chain(dels.iter().map(|k| (Action::Delete, k.clone())))
            .collect();
        expected.sort_by(|a, b| a.1.cmp(&b.1));
        let got: Vec<(Action, String)> = diff
            .ops
            .iter()
            .map(|op| (op.action, String::from_utf8(op.key.clone()).unwrap()))
            .collect();
        assert_eq!(got, expected, "{comment}: diff");

        let proof = mst::proof_nodes(&store, &after_root, &diff.ops).unwrap();
        for required in strings("blocksInProof") {
            let cid = Cid::parse(&required).unwrap();
            assert!(proof.contains(&cid), "{comment}: proof lacks {cid}");
        }
        // A consumer holding only the proof nodes inverts the commit to the old root.
        let mut slice = BlockMap::new();
        for cid in &proof {
            slice.insert(*cid, Cow::Owned(raw(&store, cid)));
        }
        assert_eq!(
            mst::invert(&slice, &after_root, &diff.ops).unwrap(),
            before_root,
            "{comment}: invert"
        );
    }
}

fn raw(store: &BlockMap<'_>, cid: &Cid) -> Vec<u8> {
    use _core::blocks::BlockSource;
    store.get(cid).unwrap().into_owned()
}

/// A small deterministic generator for the random tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_key(rng: &mut Rng) -> String {
    format!("com.example.c{}/{:x}", rng.below(3), rng.next() % 100_000)
}

fn value(n: u64) -> Cid {
    Cid::compute(&n.to_be_bytes(), cid::DAG_CBOR).unwrap()
}

#[test]
fn random_writes_match_a_fresh_build() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..40 {
        let size = [0, 1, 5, 50, 400, 3000][round % 6];
        let mut model: BTreeMap<String, Cid> = BTreeMap::new();
        while model.len() < size {
            model.insert(random_key(&mut rng), value(rng.next()));
        }
        let pairs: Vec<(&str, Cid)> = model.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let built = mst::build(&pairs).unwrap();
        let mut store = blocks_of(built.blocks);
        let old_root = built.root;

        // A batch of creates, updates and deletes.
        let mut tree = Tree::open(&store, &old_root).unwrap();
        let mut ops = Vec::new();
        for _ in 0..rng.below(30) + 1 {
            let existing: Vec<String> = model.keys().cloned().collect();
            let pick = rng.below(3);
            if pick == 0 && !existing.is_empty() {
                let key =
                    existing[usize::try_from(rng.below(existing.len() as u64)).unwrap()].clone();
                let prev = model.remove(&key);
                assert_eq!(tree.delete(key.as_bytes()).unwrap(), prev);
                ops.push(key);
            } else if pick == 1 && !existing.is_empty() {
                let key =
                    existing[usize::try_from(rng.below(existing.len() as u64)).unwrap()].clone();
                let new = value(rng.next());
                let prev = model.insert(key.clone(), new);
                assert_eq!(tree.put(key.as_bytes(), new).unwrap(), prev);
                ops.push(key);
            } else {
                let key = random_key(&mut rng);
                let new = value(rng.next());
                let prev = model.insert(key.clone(), new);
                assert_eq!(tree.put(key.as_bytes(), new).unwrap(), prev);
                ops.push(key);
            }
        }
        let (new_root, new_blocks) = tree.commit().unwrap();
        let pairs: Vec<(&str, Cid)> = model.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let expected = mst::build(&pairs).unwrap();
        assert_eq!(new_root, expected.root, "round {round}");
        // Exactly the new nodes: those of the fresh build the old store lacks.
        {
            use _core::blocks::BlockSource;
            let mut want: Vec<Cid> = expected
                .blocks
                .iter()
                .map(|(c, _)| *c)
                .filter(|c| !store.contains(c))
                .collect();
            let mut got: Vec<Cid> = new_blocks.iter().map(|(c, _)| *c).collect();
            want.sort();
            got.sort();
            assert_eq!(got, want, "round {round}: new blocks");
        }
        add_blocks(&mut store, new_blocks);

        // The diff names every net change, and inverting it from the proof gives the old root.
        let diff = mst::diff(&store, Some(old_root), new_root).unwrap();
        let mut tree = Tree::open(&store, &new_root).unwrap();
        for op in &diff.ops {
            assert_eq!(tree.get(&op.key).unwrap(), op.cid);
        }
        let proof = mst::proof_nodes(&store, &new_root, &diff.ops).unwrap();
        let mut slice = BlockMap::new();
        for cid in &proof {
            slice.insert(*cid, Cow::Owned(raw(&store, cid)));
        }
        assert_eq!(
            mst::invert(&slice, &new_root, &diff.ops).unwrap(),
            old_root,
            "round {round}: invert"
        );
        // Listing agrees with the model, forwards, backwards and over a range.
        let all = tree.list(None, None, false, usize::MAX).unwrap();
        let model_list: Vec<(Vec<u8>, Cid)> = model
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), *v))
            .collect();
        assert_eq!(all, model_list);
        let mut reversed = tree.list(None, None, true, usize::MAX).unwrap();
        reversed.reverse();
        assert_eq!(reversed, model_list);
        let (lo, hi) = (b"com.example.c1/".as_slice(), b"com.example.c2/".as_slice());
        let ranged = tree.list(Some(lo), Some(hi), false, 7).unwrap();
        let want: Vec<(Vec<u8>, Cid)> = model_list
            .iter()
            .filter(|(k, _)| k.as_slice() >= lo && k.as_slice() < hi)
            .take(7)
            .cloned()
            .collect();
        assert_eq!(ranged, want);
    }
}
