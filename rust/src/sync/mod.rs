//! Whole-event verification of `#commit` and `#sync` firehose messages: the relay's hot path.
//!
//! One call does every check a relay makes (spec §7.3, sync 1.1), with no Python and no I/O:
//! size and op limits, deprecated flags, the CAR slice (structure and every block's hash), the
//! commit (decode, fields against the message, signature), rev order and the future-rev bound,
//! `since` and `prevData` against what the caller knows, and MST operation inversion. Each
//! failure has an [`ErrorCode`]; the checks a [`Policy`] may relax are recorded as warnings
//! instead when lenient.
//!
//! [`code`] owns the codes and the policy, [`event`] the message payloads, [`verify`] the checks.
//! The limits below are the only definitions of these numbers: the Python side (`strato.sync`,
//! the PDS's writes and imports, the firehose's frames) reads them from the native module.

pub mod code;
pub mod event;
pub mod verify;

pub use code::{ErrorCode, Failure, Policy, UnknownCheck};
pub use event::{decode_commit_event, decode_sync_event, CommitEvent, EventOp, SyncEvent};
pub use verify::{now_micros, verify_commit, verify_sync, Context, VerifiedCommit, VerifiedSync};

/// The largest `#commit.blocks`.
pub const MAX_COMMIT_BLOCKS: usize = 2_000_000;
/// The largest `#sync.blocks`.
pub const MAX_SYNC_BLOCKS: usize = 10_000;
/// The most operations in one commit.
pub const MAX_OPS: usize = 200;
/// The largest record block.
pub const MAX_RECORD_SIZE: usize = 1_000_000;
/// The largest `com.atproto.sync.subscribeRepos` frame, all overhead included (spec: 5 MB).
pub const MAX_FRAME_BYTES: usize = 5_000_000;
/// How far in the future a rev may be (the reference relay's tolerance), in microseconds.
pub const FUTURE_REV_TOLERANCE_MICROS: u64 = 5 * 60 * 1_000_000;
