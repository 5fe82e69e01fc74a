//! Signed commit decoding (`commit::Commit::decode`): no panic; an accepted commit is valid
//! DAG-CBOR, and the bytes its signature covers are the canonical encoding of the same map
//! without `sig`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strato_core::commit::Commit;
use strato_core::{dagcbor, Ipld};

fuzz_target!(|data: &[u8]| {
    let Ok(commit) = Commit::decode(data) else {
        return;
    };
    let Ok(Ipld::Map(mut fields)) = dagcbor::decode(data) else {
        panic!("an accepted commit that is not a DAG-CBOR map");
    };
    fields.retain(|(key, _)| key != "sig");
    assert_eq!(commit.unsigned_bytes(), dagcbor::encode(&Ipld::Map(fields)));
    assert!(commit.version == 2 || commit.rev.is_some());
});
