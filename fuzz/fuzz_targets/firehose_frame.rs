//! Firehose frames as a relay reads them off a subscription: exactly two DAG-CBOR values
//! (header, then payload map), the `#commit` / `#sync` payload decoded by the event decoders,
//! then the whole event verified (CAR slice, commit block, ops, MST inversion) with a lenient
//! policy and no key, so that every structural check is reached.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strato_core::dagcbor;
use strato_core::sync::{self, Context, Policy};
use strato_core::Ipld;

/// A fixed clock (2026-01-01), so that a run is reproducible.
const NOW_MICROS: u64 = 1_767_225_600_000_000;

fuzz_target!(|frame: &[u8]| {
    let Ok(values) = dagcbor::decode_multi(frame) else {
        return;
    };
    let [header, Ipld::Map(_)] = values.as_slice() else {
        return;
    };
    // The decoder accepts only canonical bytes, so the header's encoding is its exact length.
    let payload = &frame[dagcbor::encode(header).len()..];
    let context = Context {
        key: None,
        prev_rev: None,
        prev_data: None,
        now_micros: NOW_MICROS,
        policy: Policy::lenient(),
    };
    match header.get("t") {
        Some(Ipld::String(t)) if t == "#sync" => {
            if let Ok(event) = sync::decode_sync_event(payload) {
                if let Ok(verified) = sync::verify_sync(&event, &context) {
                    assert_eq!(verified.did, event.did);
                }
            }
        }
        _ => {
            if let Ok(event) = sync::decode_commit_event(payload) {
                if let Ok(verified) = sync::verify_commit(&event, &context) {
                    assert_eq!(verified.commit_cid, event.commit);
                    assert_eq!(verified.did, event.repo);
                }
            }
        }
    }
});
