//! Strict DAG-CBOR decoding: any bytes either fail cleanly or decode to a value whose canonical
//! encoding is exactly those bytes (the decoder accepts only canonical input). Sequences (a
//! firehose frame is two values) must agree with single-value decoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strato_core::dagcbor;

fuzz_target!(|data: &[u8]| {
    match dagcbor::decode(data) {
        Ok(value) => {
            assert_eq!(
                dagcbor::encode(&value),
                data,
                "decode∘encode is not the identity"
            );
            assert_eq!(dagcbor::decode_multi(data).ok(), Some(vec![value]));
        }
        Err(err) => {
            assert!(err.offset().is_some_and(|at| at <= data.len()));
            if let Ok(values) = dagcbor::decode_multi(data) {
                // A sequence of several (or no) values, each canonical.
                assert_ne!(values.len(), 1);
                let joined: Vec<u8> = values.iter().flat_map(dagcbor::encode).collect();
                assert_eq!(joined, data);
            }
        }
    }
});
