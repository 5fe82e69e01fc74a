//! Criterion benches of the byte layer: DAG-CBOR decode/encode, CID formatting, CAR reading.
//!
//! Inputs: `benches/data/records.cbor` and `benches/data/repo.car` when present (made by
//! `make bench-data`), otherwise small deterministic inputs built here.

use _core::car::{self, Options};
use _core::cid::{self, Cid};
use _core::dagcbor;
use _core::Ipld;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

fn data_file(name: &str) -> Option<Vec<u8>> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("benches/data")
            .join(name),
    )
    .ok()
}

fn synthetic_record(i: i64) -> Ipld {
    let cid = Cid::compute(&i.to_be_bytes(), cid::RAW).unwrap();
    Ipld::Map(vec![
        ("$type".into(), Ipld::String("app.bsky.feed.post".into())),
        (
            "text".into(),
            Ipld::String(format!("post number {i} with some text in it")),
        ),
        (
            "createdAt".into(),
            Ipld::String("2026-11-24T08:00:00.000Z".into()),
        ),
        ("langs".into(), Ipld::List(vec![Ipld::String("en".into())])),
        ("blob".into(), Ipld::Link(cid)),
    ])
}

fn records() -> Vec<Vec<u8>> {
    if let Some(bytes) = data_file("records.cbor") {
        let values = dagcbor::decode_multi(&bytes).expect("records.cbor is valid");
        return values.iter().map(dagcbor::encode).collect();
    }
    (0..10_000)
        .map(|i| dagcbor::encode(&synthetic_record(i)))
        .collect()
}

fn bench_dagcbor(c: &mut Criterion) {
    let records = records();
    let total: usize = records.iter().map(Vec::len).sum();
    let values: Vec<Ipld> = records
        .iter()
        .map(|r| dagcbor::decode(r).unwrap())
        .collect();
    let mut group = c.benchmark_group("dagcbor");
    group.throughput(Throughput::Bytes(total as u64));
    group.bench_function("decode", |b| {
        b.iter(|| {
            for record in &records {
                black_box(dagcbor::decode(black_box(record)).unwrap());
            }
        });
    });
    group.bench_function("encode", |b| {
        b.iter(|| {
            for value in &values {
                black_box(dagcbor::encode(black_box(value)));
            }
        });
    });
    group.finish();
}

fn bench_cid(c: &mut Criterion) {
    let cid = Cid::compute(b"hello", cid::DAG_CBOR).unwrap();
    let text = cid.to_string();
    c.bench_function("cid/to_string", |b| {
        b.iter(|| black_box(black_box(&cid).to_string()))
    });
    c.bench_function("cid/parse", |b| {
        b.iter(|| black_box(Cid::parse(black_box(&text))))
    });
    let block = vec![0u8; 512];
    c.bench_function("cid/compute_512B", |b| {
        b.iter(|| black_box(Cid::compute(black_box(&block), cid::DAG_CBOR)));
    });
}

fn bench_car(c: &mut Criterion) {
    let bytes = data_file("repo.car").unwrap_or_else(|| {
        let blocks: Vec<(Cid, Vec<u8>)> = records()
            .into_iter()
            .map(|r| (Cid::compute(&r, cid::DAG_CBOR).unwrap(), r))
            .collect();
        car::write(
            &[blocks[0].0],
            blocks.iter().map(|(c, d)| (c, d.as_slice())),
        )
    });
    let mut group = c.benchmark_group("car");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.sample_size(20);
    group.bench_function("read_verify", |b| {
        b.iter(|| black_box(car::read(black_box(&bytes), &Options::default()).unwrap()));
    });
    group.bench_function("read_no_verify", |b| {
        let opts = Options {
            verify: false,
            ..Options::default()
        };
        b.iter(|| black_box(car::read(black_box(&bytes), &opts).unwrap()));
    });
    group.finish();
}

criterion_group!(benches, bench_dagcbor, bench_cid, bench_car);
criterion_main!(benches);
