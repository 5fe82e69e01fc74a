//! Whole CAR reading (`car::read`, `car::parse`): no panic on any bytes; a CAR that reads is
//! made of well-formed sections in file order, and reading with verification agrees with
//! parsing plus hashing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strato_core::car::{self, Options};

/// Small enough that the fuzzer reaches the size cap.
const MAX_BLOCK: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let verified = car::read(
        data,
        &Options {
            verify: true,
            max_block_size: MAX_BLOCK,
        },
    );
    let parsed = car::parse(data, MAX_BLOCK);
    match (&verified, &parsed) {
        (Ok(car), Ok((structure, outcome))) => {
            assert!(outcome.is_ok());
            assert_eq!(car.roots, structure.roots);
            assert_eq!(car.blocks, structure.blocks);
            let mut previous_end = 0;
            for block in &car.blocks {
                assert!(block.offset >= previous_end);
                assert!(block.data.len() <= MAX_BLOCK);
                assert_eq!(block.cid.verify(block.data), Some(true));
                previous_end = block.offset + block.cid.as_bytes().len() + block.data.len();
            }
            assert!(previous_end <= data.len());
        }
        (Ok(_), Err(_)) => panic!("read accepted a CAR whose structure parse rejects"),
        (Err(_), Ok((structure, Ok(())))) => {
            // Only hashing can fail then.
            assert!(car::verify_blocks(&structure.blocks).is_err());
        }
        (Err(err), _) => assert!(err.offset().is_some_and(|at| at <= data.len())),
    }
});
