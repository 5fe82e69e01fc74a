//! strato's Rust core: the byte layer, keys, repositories and event verification of the AT
//! Protocol.
//!
//! Nearly everything here is bytes in, bytes out, with no I/O and no Python: strict DAG-CBOR
//! ([`dagcbor`]), CIDs ([`cid`]), CAR v1 files ([`car`]) and the encodings under them
//! ([`varint`], [`multibase`]); keys and signatures ([`crypto`]); TIDs ([`tid`]), the
//! identifier format checks ([`syntax`]) and grapheme counts ([`text`]); blocks ([`blocks`]),
//! the Merkle Search Tree ([`mst`]) and commits ([`commit`]); whole repository exports
//! ([`repo`]); and whole-event verification of firehose messages ([`sync`]). One module does
//! I/O, for a measured reason its docs give: the fan-out writer ([`fanout`]) that sends
//! pre-encoded event frames to many WebSocket connections. The PyO3 layer lives in `bindings/` and is compiled only with
//! the `python` feature, so `cargo test --no-default-features` exercises the core without
//! libpython.

pub mod blocks;
pub mod car;
pub mod cid;
pub mod commit;
pub mod crypto;
pub mod dagcbor;
pub mod error;
pub mod fanout;
pub mod ipld;
pub mod mst;
pub mod multibase;
pub mod parallel;
pub mod repo;
pub mod sync;
pub mod syntax;
pub mod text;
pub mod tid;
pub mod varint;

#[cfg(feature = "python")]
mod bindings;

pub use cid::Cid;
pub use error::{Error, Result};
pub use ipld::Ipld;
