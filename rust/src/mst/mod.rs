//! The Merkle Search Tree of a repository: keys and layers ([`key`]), the node codec ([`node`]),
//! whole-tree building ([`build`]), the lazily loaded working tree with get/put/delete/list
//! ([`tree`]), structural diff ([`diff`]) and proofs: operation inversion and record inclusion
//! ([`proof`]).

pub mod build;
pub mod diff;
pub mod key;
pub mod node;
pub mod proof;
pub mod tree;

pub use build::{build, Built};
pub use diff::{diff, Action, Diff, RecordOp};
pub use proof::{check_record_proof, invert, proof_nodes, record_proof, InvertError};
pub use tree::{empty_root, Tree};
