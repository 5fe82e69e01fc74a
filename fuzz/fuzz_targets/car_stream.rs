//! Streaming CAR reading (`StreamReader::feed`/`finish`): the input is cut into chunks at
//! fuzzer-chosen points and fed one by one; the blocks handed out and the outcome must be
//! exactly those of reading the whole CAR at once.
//!
//! Input layout: byte 0 = number of cuts (mod 8), then two bytes per cut (chunk length, mod
//! 512), then the CAR bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strato_core::car::{self, Options, StreamReader};
use strato_core::Cid;

const OPTIONS: Options = Options {
    verify: true,
    max_block_size: 4096,
};

fuzz_target!(|input: &[u8]| {
    let Some((&cuts, rest)) = input.split_first() else {
        return;
    };
    let cuts = usize::from(cuts % 8);
    if rest.len() < cuts * 2 {
        return;
    }
    let (lengths, data) = rest.split_at(cuts * 2);

    let mut reader = StreamReader::new(OPTIONS);
    let mut streamed: Vec<(Cid, Vec<u8>, usize)> = Vec::new();
    let mut outcome = Ok(());
    let mut fed = 0;
    let chunks = lengths
        .chunks(2)
        .map(|pair| usize::from(u16::from_le_bytes([pair[0], pair[1]]) % 512))
        .chain(std::iter::once(usize::MAX));
    for len in chunks {
        let end = fed + len.min(data.len() - fed);
        match reader.feed(&data[fed..end]) {
            Ok(blocks) => {
                streamed.extend(blocks.iter().map(|b| (b.cid, b.data.to_vec(), b.offset)));
            }
            Err(err) => {
                outcome = Err(err);
                break;
            }
        }
        fed = end;
    }
    if outcome.is_ok() {
        outcome = reader.finish();
    }

    match (car::read(data, &OPTIONS), outcome) {
        (Ok(whole), Ok(())) => {
            assert_eq!(reader.roots(), Some(whole.roots.as_slice()));
            let expected: Vec<_> = whole
                .blocks
                .iter()
                .map(|b| (b.cid, b.data.to_vec(), b.offset))
                .collect();
            assert_eq!(streamed, expected);
        }
        (Err(whole), Err(stream)) => {
            assert_eq!(whole, stream, "whole and streaming reads fail differently");
            // Every block handed out before the error is one the whole read would reach.
            let reached =
                car::parse(data, OPTIONS.max_block_size).map_or(0, |(c, _)| c.blocks.len());
            assert!(streamed.len() <= reached);
        }
        (whole, stream) => panic!("whole read {whole:?} but streaming read {stream:?}"),
    }
});
