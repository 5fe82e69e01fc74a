//! Whole-event verification of `#commit` and `#sync` firehose messages: the relay's hot path.
//!
//! One call does every check a relay makes (spec §7.3, sync 1.1), with no Python and no I/O:
//! size and op limits, deprecated flags, the CAR slice (structure and every block's hash), the
//! commit (decode, fields against the message, signature), rev order and the future-rev bound,
//! `since` and `prevData` against what the caller knows, and MST operation inversion. Each
//! failure has an [`ErrorCode`]; the checks a [`Policy`] may relax are recorded as warnings
//! instead when lenient. [`verify_commits`] spreads many events over all cores.

use crate::car::{self, Options};
use crate::cid::{self, Cid};
use crate::commit::Commit;
use crate::crypto::{PublicKey, SignatureError};
use crate::dagcbor;
use crate::error::{CarReason, Error};
use crate::ipld::Ipld;
use crate::mst::{self, Action, InvertError, RecordOp};
use crate::tid::Tid;
use std::borrow::Cow;
use std::fmt;

/// The largest `#commit.blocks`.
pub const MAX_COMMIT_BLOCKS: usize = 2_000_000;
/// The largest `#sync.blocks`.
pub const MAX_SYNC_BLOCKS: usize = 10_000;
/// The most operations in one commit.
pub const MAX_OPS: usize = 200;
/// The largest record block.
pub const MAX_RECORD_SIZE: usize = 1_000_000;
/// How far in the future a rev may be (the reference relay's tolerance), in microseconds.
pub const FUTURE_REV_TOLERANCE_MICROS: u64 = 5 * 60 * 1_000_000;

macro_rules! codes {
    ($($variant:ident => $name:literal,)*) => {
        /// Why an event failed verification (stable names; relays count them in metrics).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $($variant,)* }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// The stable name.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name,)* }
            }

            /// The code with this name.
            #[must_use]
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($name => Some(Self::$variant),)* _ => None }
            }
        }
    };
}

codes! {
    Malformed => "malformed",
    BadCar => "bad_car",
    HashMismatch => "hash_mismatch",
    MissingBlock => "missing_block",
    FieldMismatch => "field_mismatch",
    BadSignature => "bad_signature",
    HighS => "high_s",
    TooBig => "too_big",
    TooManyOps => "too_many_ops",
    RevNotNewer => "rev_not_newer",
    RevInFuture => "rev_in_future",
    SinceMismatch => "since_mismatch",
    PrevDataMismatch => "prev_data_mismatch",
    PrevDataMissing => "prev_data_missing",
    IncompleteProof => "incomplete_proof",
    InversionMismatch => "inversion_mismatch",
    DeprecatedFlag => "deprecated_flag",
}

impl ErrorCode {
    /// Can a policy make this check lenient? The rest (broken bytes, forged or mismatched
    /// commits, replays) are always fatal.
    #[must_use]
    pub const fn relaxable(self) -> bool {
        matches!(
            self,
            Self::HighS
                | Self::TooBig
                | Self::TooManyOps
                | Self::RevInFuture
                | Self::SinceMismatch
                | Self::PrevDataMismatch
                | Self::PrevDataMissing
                | Self::IncompleteProof
                | Self::InversionMismatch
                | Self::DeprecatedFlag
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed check: its code and the detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: ErrorCode,
    pub reason: String,
}

impl Failure {
    fn new(code: ErrorCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.reason)
    }
}

impl std::error::Error for Failure {}

/// Which relaxable checks are strict (a failure rejects the event) or lenient (a warning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Bit `i` set: the check with code `ErrorCode::ALL[i]` is lenient.
    lenient: u32,
}

impl Policy {
    /// Every check strict.
    #[must_use]
    pub const fn strict() -> Self {
        Self { lenient: 0 }
    }

    /// Every relaxable check lenient.
    #[must_use]
    pub fn lenient() -> Self {
        let mut policy = Self::strict();
        for &code in ErrorCode::ALL {
            if code.relaxable() {
                policy = policy.with(code, false);
            }
        }
        policy
    }

    fn bit(code: ErrorCode) -> u32 {
        let index = ErrorCode::ALL.iter().position(|&c| c == code).unwrap_or(0);
        1 << index
    }

    /// This policy with `code` made strict or lenient (ignored for codes that are always
    /// strict).
    #[must_use]
    pub fn with(self, code: ErrorCode, strict: bool) -> Self {
        if !code.relaxable() {
            return self;
        }
        let bit = Self::bit(code);
        Self {
            lenient: if strict {
                self.lenient & !bit
            } else {
                self.lenient | bit
            },
        }
    }

    #[must_use]
    pub fn is_strict(self, code: ErrorCode) -> bool {
        self.lenient & Self::bit(code) == 0
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self::strict()
    }
}

/// One operation as the message states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventOp {
    pub action: String,
    pub path: String,
    pub cid: Option<Cid>,
    pub prev: Option<Cid>,
}

/// The fields of a `#commit` message that verification reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitEvent<'a> {
    pub repo: String,
    pub commit: Cid,
    pub rev: String,
    pub since: Option<String>,
    pub blocks: Cow<'a, [u8]>,
    pub ops: Vec<EventOp>,
    pub prev_data: Option<Cid>,
    pub too_big: bool,
    pub rebase: bool,
}

/// The fields of a `#sync` message that verification reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncEvent<'a> {
    pub did: String,
    pub rev: String,
    pub blocks: Cow<'a, [u8]>,
}

/// What the caller knows of the account, and how to judge.
#[derive(Debug, Clone, Default)]
pub struct Context<'k> {
    /// The account's signing key (none: skip only the signature check).
    pub key: Option<&'k PublicKey>,
    pub prev_rev: Option<String>,
    pub prev_data: Option<Cid>,
    /// Microseconds since the epoch, for the future-rev check.
    pub now_micros: u64,
    pub policy: Policy,
}

/// A commit that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCommit {
    pub did: String,
    pub rev: String,
    pub since: Option<String>,
    pub commit_cid: Cid,
    pub data_cid: Cid,
    pub ops: Vec<RecordOp>,
    /// The previous tree's root, as the inversion computed it.
    pub prev_data: Option<Cid>,
    pub signature_checked: bool,
    pub inversion_checked: bool,
    pub prev_data_checked: bool,
    /// Lenient checks that failed.
    pub warnings: Vec<Failure>,
}

/// A `#sync` that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSync {
    pub did: String,
    pub rev: String,
    pub commit_cid: Cid,
    pub data_cid: Cid,
    pub signature_checked: bool,
    pub warnings: Vec<Failure>,
}

/// Applies the policy: a strict failure stops verification, a lenient one is noted.
struct Judge<'p> {
    policy: Policy,
    warnings: &'p mut Vec<Failure>,
}

impl Judge<'_> {
    fn fail(&mut self, code: ErrorCode, reason: impl Into<String>) -> Result<(), Failure> {
        let failure = Failure::new(code, reason);
        if self.policy.is_strict(code) {
            Err(failure)
        } else {
            self.warnings.push(failure);
            Ok(())
        }
    }
}

fn car_failure(err: &Error) -> Failure {
    let code = match err {
        Error::Car {
            reason: CarReason::HashMismatch,
            ..
        } => ErrorCode::HashMismatch,
        _ => ErrorCode::BadCar,
    };
    Failure::new(code, err.to_string())
}

/// Checks rev syntax, order and the future bound.
fn check_rev(
    rev: &str,
    context: &Context<'_>,
    judge: &mut Judge<'_>,
    allow_equal: bool,
) -> Result<(), Failure> {
    let tid = Tid::parse(rev)
        .map_err(|e| Failure::new(ErrorCode::Malformed, format!("rev {rev:?}: {e}")))?;
    if let Some(previous) = &context.prev_rev {
        let stale = if allow_equal {
            rev < previous.as_str()
        } else {
            rev <= previous.as_str()
        };
        if stale {
            return Err(Failure::new(
                ErrorCode::RevNotNewer,
                format!("rev {rev} is not after {previous}"),
            ));
        }
    }
    if tid.micros()
        > context
            .now_micros
            .saturating_add(FUTURE_REV_TOLERANCE_MICROS)
    {
        judge.fail(
            ErrorCode::RevInFuture,
            format!("rev {rev} is more than five minutes ahead of the clock"),
        )?;
    }
    Ok(())
}

/// Checks the commit's signature; `Ok(true)` when a key was given and it verified.
fn check_signature(
    commit: &Commit<'_>,
    context: &Context<'_>,
    judge: &mut Judge<'_>,
) -> Result<bool, Failure> {
    let Some(key) = context.key else {
        return Ok(false);
    };
    match commit.verify(key) {
        Ok(()) => Ok(true),
        Err(SignatureError::HighS) => {
            judge.fail(ErrorCode::HighS, "signature has a high S value")?;
            match key.verify_allowing_high_s(commit.unsigned_bytes(), commit.sig) {
                Ok(()) => Ok(true),
                Err(err) => Err(Failure::new(ErrorCode::BadSignature, err.to_string())),
            }
        }
        Err(err) => Err(Failure::new(ErrorCode::BadSignature, err.to_string())),
    }
}

fn record_op(op: &EventOp) -> Result<RecordOp, Failure> {
    let malformed =
        |why: &str| Failure::new(ErrorCode::Malformed, format!("op {}: {why}", op.path));
    if !mst::key::is_valid(op.path.as_bytes()) {
        return Err(malformed("invalid path"));
    }
    let action = match op.action.as_str() {
        "create" => Action::Create,
        "update" => Action::Update,
        "delete" => Action::Delete,
        _ => return Err(malformed("unknown action")),
    };
    match (action, op.cid.is_some(), op.prev.is_some()) {
        (Action::Create, true, false) | (Action::Update, true, _) | (Action::Delete, false, _) => {}
        (Action::Create, _, _) => return Err(malformed("create needs a cid and no prev")),
        (Action::Update, _, _) => return Err(malformed("update needs a cid")),
        (Action::Delete, _, _) => return Err(malformed("delete must have a null cid")),
    }
    Ok(RecordOp {
        action,
        key: op.path.as_bytes().to_vec(),
        cid: op.cid,
        prev: op.prev,
    })
}

/// Verifies one `#commit` message.
///
/// # Errors
/// The first strict [`Failure`].
#[allow(clippy::too_many_lines)]
pub fn verify_commit(
    event: &CommitEvent<'_>,
    context: &Context<'_>,
) -> Result<VerifiedCommit, Failure> {
    let mut warnings = Vec::new();
    let mut judge = Judge {
        policy: context.policy,
        warnings: &mut warnings,
    };
    if event.blocks.len() > MAX_COMMIT_BLOCKS {
        judge.fail(
            ErrorCode::TooBig,
            format!(
                "blocks are {} bytes (limit {MAX_COMMIT_BLOCKS})",
                event.blocks.len()
            ),
        )?;
    }
    if event.ops.len() > MAX_OPS {
        judge.fail(
            ErrorCode::TooManyOps,
            format!("{} ops (limit {MAX_OPS})", event.ops.len()),
        )?;
    }
    if event.too_big || event.rebase {
        let flag = if event.too_big { "tooBig" } else { "rebase" };
        judge.fail(
            ErrorCode::DeprecatedFlag,
            format!("deprecated flag {flag} is set"),
        )?;
    }
    let ops = event
        .ops
        .iter()
        .map(record_op)
        .collect::<Result<Vec<_>, _>>()?;

    let options = Options {
        verify: true,
        max_block_size: MAX_COMMIT_BLOCKS,
    };
    let car = car::read(&event.blocks, &options).map_err(|e| car_failure(&e))?;
    if car.roots.first() != Some(&event.commit) {
        return Err(Failure::new(
            ErrorCode::FieldMismatch,
            "the CAR's root is not the message's commit",
        ));
    }
    let blocks = crate::blocks::BlockMap::from_car_blocks(&car.blocks);
    let commit_bytes = {
        use crate::blocks::BlockSource;
        blocks.get(&event.commit).ok_or_else(|| {
            Failure::new(
                ErrorCode::MissingBlock,
                "the commit block is not in the CAR",
            )
        })?
    };
    let commit = Commit::decode(&commit_bytes)
        .map_err(|e| Failure::new(ErrorCode::Malformed, e.detail()))?;
    if commit.did != event.repo {
        return Err(Failure::new(
            ErrorCode::FieldMismatch,
            format!("commit is for {}, message for {}", commit.did, event.repo),
        ));
    }
    if commit.rev != Some(event.rev.as_str()) {
        return Err(Failure::new(
            ErrorCode::FieldMismatch,
            format!("commit rev {:?}, message rev {}", commit.rev, event.rev),
        ));
    }
    let signature_checked = check_signature(&commit, context, &mut judge)?;
    check_rev(&event.rev, context, &mut judge, false)?;
    if let (Some(previous), Some(since)) = (&context.prev_rev, &event.since) {
        if previous != since {
            judge.fail(
                ErrorCode::SinceMismatch,
                format!("since {since}, but the last known rev is {previous}"),
            )?;
        }
    } else if let (Some(previous), None) = (&context.prev_rev, &event.since) {
        judge.fail(
            ErrorCode::SinceMismatch,
            format!("since is null, but the last known rev is {previous}"),
        )?;
    }
    {
        use crate::blocks::BlockSource;
        for op in &ops {
            let Some(cid) = op.cid else { continue };
            match blocks.get(&cid) {
                None => {
                    return Err(Failure::new(
                        ErrorCode::MissingBlock,
                        format!("record {cid} for {} is not in the CAR", event_path(op)),
                    ));
                }
                Some(data) if data.len() > MAX_RECORD_SIZE => {
                    judge.fail(
                        ErrorCode::TooBig,
                        format!("record for {} is {} bytes", event_path(op), data.len()),
                    )?;
                }
                Some(_) => {}
            }
        }
    }

    // Inversion first: an incomplete proof is reported before any prevData rule.
    let needs_prev = ops
        .iter()
        .any(|op| op.action != Action::Create && op.prev.is_none());
    let inverted = if needs_prev {
        judge.fail(
            ErrorCode::IncompleteProof,
            "an update or delete without prev cannot be inverted",
        )?;
        None
    } else {
        match mst::invert(&blocks, &commit.data, &ops) {
            Ok(root) => Some(root),
            Err(InvertError::Incomplete) => {
                judge.fail(
                    ErrorCode::IncompleteProof,
                    "the CAR lacks MST nodes needed to invert the ops",
                )?;
                None
            }
            Err(InvertError::Malformed(err)) => {
                return Err(Failure::new(ErrorCode::Malformed, err.to_string()));
            }
            Err(InvertError::DuplicatePath(path)) => {
                return Err(Failure::new(
                    ErrorCode::Malformed,
                    format!("two ops on {}", String::from_utf8_lossy(&path)),
                ));
            }
            Err(InvertError::Mismatch(why, path)) => {
                judge.fail(
                    ErrorCode::InversionMismatch,
                    format!("{why}: {}", String::from_utf8_lossy(&path)),
                )?;
                None
            }
        }
    };

    let mut prev_data_checked = false;
    match (event.prev_data, context.prev_data) {
        (Some(stated), known) => {
            if let Some(root) = inverted {
                if root == stated {
                    prev_data_checked = true;
                } else {
                    judge.fail(
                        ErrorCode::InversionMismatch,
                        format!("inverted root {root} is not prevData {stated}"),
                    )?;
                }
            }
            if let Some(known) = known {
                if known == stated {
                    prev_data_checked = inverted.is_some() || prev_data_checked;
                } else {
                    prev_data_checked = false;
                    judge.fail(
                        ErrorCode::PrevDataMismatch,
                        format!("prevData {stated}, but the last known data is {known}"),
                    )?;
                }
            }
        }
        (None, Some(known)) => {
            judge.fail(
                ErrorCode::PrevDataMissing,
                "the message has no prevData but the account has a known state",
            )?;
            if let Some(root) = inverted {
                if root == known {
                    prev_data_checked = true;
                } else {
                    judge.fail(
                        ErrorCode::PrevDataMismatch,
                        format!("inverted root {root} is not the last known data {known}"),
                    )?;
                }
            }
        }
        (None, None) => {}
    }

    Ok(VerifiedCommit {
        did: event.repo.clone(),
        rev: event.rev.clone(),
        since: event.since.clone(),
        commit_cid: event.commit,
        data_cid: commit.data,
        ops,
        prev_data: inverted,
        signature_checked,
        inversion_checked: inverted.is_some(),
        prev_data_checked,
        warnings,
    })
}

fn event_path(op: &RecordOp) -> String {
    String::from_utf8_lossy(&op.key).into_owned()
}

/// Verifies one `#sync` message: a CAR holding only the signed commit.
///
/// # Errors
/// The first strict [`Failure`].
pub fn verify_sync(event: &SyncEvent<'_>, context: &Context<'_>) -> Result<VerifiedSync, Failure> {
    let mut warnings = Vec::new();
    let mut judge = Judge {
        policy: context.policy,
        warnings: &mut warnings,
    };
    if event.blocks.len() > MAX_SYNC_BLOCKS {
        judge.fail(
            ErrorCode::TooBig,
            format!(
                "blocks are {} bytes (limit {MAX_SYNC_BLOCKS})",
                event.blocks.len()
            ),
        )?;
    }
    let options = Options {
        verify: true,
        max_block_size: MAX_COMMIT_BLOCKS,
    };
    let car = car::read(&event.blocks, &options).map_err(|e| car_failure(&e))?;
    let root = *car
        .roots
        .first()
        .ok_or_else(|| Failure::new(ErrorCode::BadCar, "the CAR has no root"))?;
    let block = car.blocks.iter().find(|b| b.cid == root).ok_or_else(|| {
        Failure::new(
            ErrorCode::MissingBlock,
            "the commit block is not in the CAR",
        )
    })?;
    if root.codec() != cid::DAG_CBOR {
        return Err(Failure::new(
            ErrorCode::Malformed,
            "the root is not a DAG-CBOR block",
        ));
    }
    let commit =
        Commit::decode(block.data).map_err(|e| Failure::new(ErrorCode::Malformed, e.detail()))?;
    if commit.did != event.did {
        return Err(Failure::new(
            ErrorCode::FieldMismatch,
            format!("commit is for {}, message for {}", commit.did, event.did),
        ));
    }
    if commit.rev != Some(event.rev.as_str()) {
        return Err(Failure::new(
            ErrorCode::FieldMismatch,
            format!("commit rev {:?}, message rev {}", commit.rev, event.rev),
        ));
    }
    let signature_checked = check_signature(&commit, context, &mut judge)?;
    check_rev(&event.rev, context, &mut judge, true)?;
    Ok(VerifiedSync {
        did: event.did.clone(),
        rev: event.rev.clone(),
        commit_cid: root,
        data_cid: commit.data,
        signature_checked,
        warnings,
    })
}

/// Microseconds since the Unix epoch, from the system clock.
#[must_use]
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Decodes a `#commit` body (the frame's second CBOR object).
///
/// # Errors
/// [`ErrorCode::Malformed`] for bad CBOR or a missing or mistyped field. Unknown fields and the
/// deprecated `blobs` (any value) are tolerated.
pub fn decode_commit_event(payload: &[u8]) -> Result<CommitEvent<'static>, Failure> {
    let Ipld::Map(fields) = dagcbor::decode(payload).map_err(|e| malformed(e.to_string()))? else {
        return Err(malformed("the payload is not a map"));
    };
    let mut repo = None;
    let mut commit = None;
    let mut rev = None;
    let mut since = None;
    let mut blocks = None;
    let mut ops = None;
    let mut prev_data = None;
    let mut too_big = false;
    let mut rebase = false;
    for (key, value) in fields {
        match (key.as_str(), value) {
            ("repo", Ipld::String(s)) => repo = Some(s),
            ("commit", Ipld::Link(c)) => commit = Some(c),
            ("rev", Ipld::String(s)) => rev = Some(s),
            ("since", Ipld::String(s)) => since = Some(Some(s)),
            ("since", Ipld::Null) => since = Some(None),
            ("blocks", Ipld::Bytes(b)) => blocks = Some(b),
            ("ops", Ipld::List(items)) => {
                ops = Some(
                    items
                        .into_iter()
                        .map(decode_op)
                        .collect::<Result<Vec<_>, _>>()?,
                );
            }
            ("prevData", Ipld::Link(c)) => prev_data = Some(c),
            ("prevData", Ipld::Null) => {}
            ("tooBig", Ipld::Bool(b)) => too_big = b,
            ("rebase", Ipld::Bool(b)) => rebase = b,
            (
                name @ ("repo" | "commit" | "rev" | "since" | "blocks" | "ops" | "prevData"
                | "tooBig" | "rebase"),
                _,
            ) => return Err(malformed(format!("field {name} has the wrong type"))),
            _ => {}
        }
    }
    Ok(CommitEvent {
        repo: repo.ok_or_else(|| malformed("missing repo"))?,
        commit: commit.ok_or_else(|| malformed("missing commit"))?,
        rev: rev.ok_or_else(|| malformed("missing rev"))?,
        since: since.ok_or_else(|| malformed("missing since"))?,
        blocks: Cow::Owned(blocks.ok_or_else(|| malformed("missing blocks"))?),
        ops: ops.ok_or_else(|| malformed("missing ops"))?,
        prev_data,
        too_big,
        rebase,
    })
}

fn decode_op(item: Ipld) -> Result<EventOp, Failure> {
    let Ipld::Map(fields) = item else {
        return Err(malformed("an op is not a map"));
    };
    let mut action = None;
    let mut path = None;
    let mut cid = None;
    let mut prev = None;
    for (key, value) in fields {
        match (key.as_str(), value) {
            ("action", Ipld::String(s)) => action = Some(s),
            ("path", Ipld::String(s)) => path = Some(s),
            ("cid", Ipld::Link(c)) => cid = Some(Some(c)),
            ("cid", Ipld::Null) => cid = Some(None),
            ("prev", Ipld::Link(c)) => prev = Some(c),
            ("prev", Ipld::Null) => {}
            (name @ ("action" | "path" | "cid" | "prev"), _) => {
                return Err(malformed(format!("op field {name} has the wrong type")));
            }
            _ => {}
        }
    }
    Ok(EventOp {
        action: action.ok_or_else(|| malformed("op without action"))?,
        path: path.ok_or_else(|| malformed("op without path"))?,
        cid: cid.ok_or_else(|| malformed("op without cid"))?,
        prev,
    })
}

/// Decodes a `#sync` body.
///
/// # Errors
/// [`ErrorCode::Malformed`] for bad CBOR or a missing or mistyped field.
pub fn decode_sync_event(payload: &[u8]) -> Result<SyncEvent<'static>, Failure> {
    let Ipld::Map(fields) = dagcbor::decode(payload).map_err(|e| malformed(e.to_string()))? else {
        return Err(malformed("the payload is not a map"));
    };
    let mut did = None;
    let mut rev = None;
    let mut blocks = None;
    for (key, value) in fields {
        match (key.as_str(), value) {
            ("did", Ipld::String(s)) => did = Some(s),
            ("rev", Ipld::String(s)) => rev = Some(s),
            ("blocks", Ipld::Bytes(b)) => blocks = Some(b),
            (name @ ("did" | "rev" | "blocks"), _) => {
                return Err(malformed(format!("field {name} has the wrong type")));
            }
            _ => {}
        }
    }
    Ok(SyncEvent {
        did: did.ok_or_else(|| malformed("missing did"))?,
        rev: rev.ok_or_else(|| malformed("missing rev"))?,
        blocks: Cow::Owned(blocks.ok_or_else(|| malformed("missing blocks"))?),
    })
}

fn malformed(reason: impl Into<String>) -> Failure {
    Failure::new(ErrorCode::Malformed, reason)
}
