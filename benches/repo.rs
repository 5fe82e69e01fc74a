//! Criterion benches of repositories and the relay's hot path: MST build, batch apply, diff,
//! proof generation, and whole-`#commit` verification against the bare signature check.
//!
//! Inputs are generated here, deterministically: a 100k-record tree with TID-like record keys
//! over a few collections (the shape of real repos), and `#commit` events made the way a PDS
//! makes them (changed nodes, proof nodes, the records, a signed commit).

use _core::blocks::BlockMap;
use _core::car;
use _core::cid::{self, Cid};
use _core::commit;
use _core::crypto::{Curve, PrivateKey};
use _core::dagcbor;
use _core::mst::{self, Action, RecordOp, Tree};
use _core::sync::{self, Context, Policy};
use _core::tid::Tid;
use _core::Ipld;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::borrow::Cow;
use std::hint::black_box;

const RECORDS: usize = 100_000;
const COLLECTIONS: [&str; 4] = [
    "app.bsky.feed.post",
    "app.bsky.feed.like",
    "app.bsky.graph.follow",
    "app.bsky.feed.repost",
];
const DID: &str = "did:plc:benchaccount000000000000";

fn record_cid(n: u64) -> Cid {
    Cid::compute(&n.to_be_bytes(), cid::DAG_CBOR).unwrap()
}

/// Record keys like a real repo's: a collection, then a TID (time-ordered).
fn record_key(n: u64) -> String {
    let collection = COLLECTIONS[usize::try_from(n % 4).unwrap()];
    let tid = Tid::new(
        1_700_000_000_000_000 + n * 997_331,
        u16::try_from(n % 1024).unwrap(),
    );
    format!("{collection}/{tid}")
}

fn pairs(count: usize, salt: u64) -> Vec<(String, Cid)> {
    (0..count as u64)
        .map(|n| (record_key(n), record_cid(n ^ salt)))
        .collect()
}

fn store(built: mst::Built) -> (Cid, BlockMap<'static>) {
    let mut blocks = BlockMap::new();
    for (cid, data) in built.blocks {
        blocks.insert(cid, Cow::Owned(data));
    }
    (built.root, blocks)
}

/// 200 writes: 100 creates, 60 updates, 40 deletes.
fn writes() -> Vec<(String, Option<Cid>)> {
    let mut out = Vec::new();
    for n in 0..100u64 {
        out.push((
            record_key(RECORDS as u64 + n),
            Some(record_cid(1_000_000 + n)),
        ));
    }
    for n in 0..60u64 {
        out.push((
            record_key(n * 1_601 % RECORDS as u64),
            Some(record_cid(2_000_000 + n)),
        ));
    }
    for n in 0..40u64 {
        out.push((record_key(n * 2_459 % RECORDS as u64 + 7), None));
    }
    out
}

fn bench_mst(c: &mut Criterion) {
    let items = pairs(RECORDS, 0);
    let mut group = c.benchmark_group("mst");
    group.sample_size(10);
    group.bench_function("build_100k", |b| {
        b.iter(|| black_box(mst::build(&items).unwrap().root));
    });
    let (root, blocks) = store(mst::build(&items).unwrap());
    let batch = writes();
    group.bench_function("apply_200_writes_to_100k", |b| {
        b.iter(|| {
            let mut tree = Tree::open(&blocks, &root).unwrap();
            for (key, value) in &batch {
                match value {
                    Some(cid) => tree.put(key.as_bytes(), *cid).unwrap(),
                    None => tree.delete(key.as_bytes()).unwrap(),
                };
            }
            black_box(tree.commit().unwrap())
        });
    });
    let mut tree = Tree::open(&blocks, &root).unwrap();
    for (key, value) in &batch {
        match value {
            Some(cid) => tree.put(key.as_bytes(), *cid).unwrap(),
            None => tree.delete(key.as_bytes()).unwrap(),
        };
    }
    let (new_root, new_blocks) = tree.commit().unwrap();
    let mut both = blocks.clone();
    for (cid, data) in new_blocks {
        both.insert(cid, Cow::Owned(data));
    }
    group.bench_function("diff_100k_200_changes", |b| {
        b.iter(|| black_box(mst::diff(&both, Some(root), new_root).unwrap().ops.len()));
    });
    group.bench_function("list_100k", |b| {
        b.iter(|| {
            let mut tree = Tree::open(&both, &root).unwrap();
            black_box(tree.list(None, None, false, usize::MAX).unwrap().len())
        });
    });
    group.finish();
}

/// A `#commit` payload writing a new record at each path (`None`: deleting it) on the stored
/// tree, signed by `key`.
fn commit_event(
    blocks: &BlockMap<'static>,
    root: Cid,
    writes: &[(String, bool)],
    key: &PrivateKey,
) -> Vec<u8> {
    let mut tree = Tree::open(blocks, &root).unwrap();
    let mut ops = Vec::new();
    let mut records = Vec::new();
    for (path, write) in writes {
        let op = if *write {
            let record = dagcbor::encode(&Ipld::Map(vec![(
                "text".into(),
                Ipld::String(format!("a record at {path} with some words in it")),
            )]));
            let cid = Cid::compute(&record, cid::DAG_CBOR).unwrap();
            records.push((cid, record));
            match tree.put(path.as_bytes(), cid).unwrap() {
                None => (Action::Create, Some(cid), None),
                Some(prev) => (Action::Update, Some(cid), Some(prev)),
            }
        } else {
            let prev = tree.delete(path.as_bytes()).unwrap();
            (Action::Delete, None, prev)
        };
        ops.push(RecordOp {
            action: op.0,
            key: path.as_bytes().to_vec(),
            cid: op.1,
            prev: op.2,
        });
    }
    let (new_root, new_blocks) = tree.commit().unwrap();
    let mut all = blocks.clone();
    for (cid, data) in &new_blocks {
        all.insert(*cid, Cow::Owned(data.clone()));
    }
    let proof = mst::proof_nodes(&all, &new_root, &ops).unwrap();
    let rev = Tid::next(None).unwrap().to_string();
    let signed = commit::sign(DID, &rev, &new_root, key).unwrap();
    let mut car_blocks: Vec<(Cid, Vec<u8>)> = vec![(signed.cid, signed.bytes.clone())];
    for cid in proof {
        use _core::blocks::BlockSource;
        car_blocks.push((cid, all.get(&cid).unwrap().into_owned()));
    }
    car_blocks.extend(records);
    let car_bytes = car::write(
        &[signed.cid],
        car_blocks.iter().map(|(c, d)| (c, d.as_slice())),
    );
    let link = |c: Option<Cid>| c.map_or(Ipld::Null, Ipld::Link);
    let op_values = ops
        .iter()
        .map(|op| {
            let mut fields = vec![
                ("action".into(), Ipld::String(op.action.as_str().into())),
                (
                    "path".into(),
                    Ipld::String(String::from_utf8(op.key.clone()).unwrap()),
                ),
                ("cid".into(), link(op.cid)),
            ];
            if let Some(prev) = op.prev {
                fields.push(("prev".into(), Ipld::Link(prev)));
            }
            Ipld::Map(fields)
        })
        .collect();
    dagcbor::encode(&Ipld::Map(vec![
        ("seq".into(), Ipld::Integer(1)),
        ("rebase".into(), Ipld::Bool(false)),
        ("tooBig".into(), Ipld::Bool(false)),
        ("repo".into(), Ipld::String(DID.into())),
        ("commit".into(), Ipld::Link(signed.cid)),
        ("rev".into(), Ipld::String(rev)),
        ("since".into(), Ipld::Null),
        ("blocks".into(), Ipld::Bytes(car_bytes)),
        ("ops".into(), Ipld::List(op_values)),
        ("blobs".into(), Ipld::List(Vec::new())),
        ("prevData".into(), Ipld::Link(root)),
        (
            "time".into(),
            Ipld::String("2026-11-24T00:00:00.000Z".into()),
        ),
    ]))
}

fn bench_sync(c: &mut Criterion) {
    let (root, blocks) = store(mst::build(&pairs(RECORDS, 0)).unwrap());
    let key = PrivateKey::generate(Curve::K256);
    let public = key.public_key();
    // One to five records per event, creates and updates, like the live network.
    let events: Vec<Vec<u8>> = (0..5u64)
        .map(|i| {
            let writes: Vec<(String, bool)> = (0..=i)
                .map(|j| {
                    let n = if j % 2 == 0 {
                        RECORDS as u64 + i * 10 + j
                    } else {
                        (i * 7_919 + j * 104_729) % RECORDS as u64
                    };
                    (record_key(n), true)
                })
                .collect();
            commit_event(&blocks, root, &writes, &key)
        })
        .collect();
    let context = Context {
        key: Some(&public),
        prev_rev: None,
        prev_data: Some(root),
        now_micros: sync::now_micros(),
        policy: Policy::strict(),
    };
    let unsigned_context = Context {
        key: None,
        ..context.clone()
    };
    let mut group = c.benchmark_group("sync");
    group.bench_function("verify_commit_1_to_5_records", |b| {
        b.iter(|| {
            for event in &events {
                let parsed = sync::decode_commit_event(event).unwrap();
                black_box(sync::verify_commit(&parsed, &context).unwrap());
            }
        });
    });
    group.bench_function("verify_commit_without_signature", |b| {
        b.iter(|| {
            for event in &events {
                let parsed = sync::decode_commit_event(event).unwrap();
                black_box(sync::verify_commit(&parsed, &unsigned_context).unwrap());
            }
        });
    });
    // The parts: the CAR slice with every hash checked, then MST inversion.
    let parsed: Vec<_> = events
        .iter()
        .map(|e| sync::decode_commit_event(e).unwrap())
        .collect();
    group.bench_function("car_read_verified_x5", |b| {
        b.iter(|| {
            for event in &parsed {
                black_box(car::read(&event.blocks, &car::Options::default()).unwrap());
            }
        });
    });
    let inputs: Vec<(BlockMap<'static>, Cid, Vec<RecordOp>)> = parsed
        .iter()
        .map(|event| {
            use _core::blocks::BlockSource;
            let read = car::read(&event.blocks, &car::Options::default()).unwrap();
            let mut blocks = BlockMap::new();
            for block in &read.blocks {
                blocks.insert(block.cid, Cow::Owned(block.data.to_vec()));
            }
            let data = commit::Commit::decode(&blocks.get(&event.commit).unwrap())
                .unwrap()
                .data;
            let ops = sync::verify_commit(event, &unsigned_context).unwrap().ops;
            (blocks, data, ops)
        })
        .collect();
    group.bench_function("invert_x5", |b| {
        b.iter(|| {
            for (blocks, data, ops) in &inputs {
                black_box(mst::invert(blocks, data, ops).unwrap());
            }
        });
    });
    let message = vec![7u8; 200];
    let signature = key.sign(&message);
    group.bench_function("bare_signature_verify_x5", |b| {
        b.iter(|| {
            for _ in 0..5 {
                public
                    .verify(black_box(&message), black_box(&signature))
                    .unwrap();
            }
        });
    });
    group.bench_function("decode_commit_event_x5", |b| {
        b.iter_batched(
            || events.clone(),
            |events| {
                for event in &events {
                    black_box(sync::decode_commit_event(event).unwrap());
                }
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, bench_mst, bench_sync);
criterion_main!(benches);
