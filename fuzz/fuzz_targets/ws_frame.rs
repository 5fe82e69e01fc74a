//! The fan-out writer's reader of what WebSocket clients send (`fanout::wsframe::Reader`): the
//! byte stream is cut into reads at fuzzer-chosen points; the control frames found and the
//! protocol error (if any) must be the same as for one read of the whole stream.
//!
//! Input layout: byte 0 = number of cuts (mod 16), then one byte per cut (read length), then
//! the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strato_core::fanout::wsframe::{Incoming, ProtocolError, Reader};

fn read_all(stream: &[u8], lengths: &[u8]) -> (Vec<Incoming>, Result<(), ProtocolError>) {
    let mut reader = Reader::default();
    let mut out = Vec::new();
    let mut pos = 0;
    for len in lengths.iter().map(|&n| usize::from(n)).chain([usize::MAX]) {
        let end = pos + len.min(stream.len() - pos);
        if let Err(err) = reader.feed(&stream[pos..end], &mut out) {
            return (out, Err(err));
        }
        pos = end;
    }
    (out, Ok(()))
}

fuzz_target!(|input: &[u8]| {
    let Some((&cuts, rest)) = input.split_first() else {
        return;
    };
    let cuts = usize::from(cuts % 16).min(rest.len());
    let (lengths, stream) = rest.split_at(cuts);
    let (whole, whole_result) = read_all(stream, &[]);
    let (pieces, pieces_result) = read_all(stream, lengths);
    assert_eq!(whole_result, pieces_result);
    assert_eq!(whole, pieces);
    for frame in &whole {
        if let Incoming::Ping(payload) = frame {
            assert!(payload.len() <= 125);
        }
    }
});
