//! MST node decoding (`mst::node::decode`): no panic, and an accepted node re-encodes to the
//! exact bytes (keys rebuilt from their prefix compression, `l`/`t` kept as null).
#![no_main]

use libfuzzer_sys::fuzz_target;
use strato_core::dagcbor;
use strato_core::mst::node;

fuzz_target!(|data: &[u8]| {
    if let Ok(decoded) = node::decode(data) {
        assert!(
            dagcbor::decode(data).is_ok(),
            "a node that is not valid DAG-CBOR"
        );
        assert_eq!(
            node::encode(&decoded),
            data,
            "a node that does not re-encode to its bytes"
        );
    }
});
