//! The checks: [`verify_commit`] and [`verify_sync`], judged by a [`Policy`].

use super::code::{ErrorCode, Failure, Policy};
use super::event::{CommitEvent, EventOp, SyncEvent};
use super::{
    FUTURE_REV_TOLERANCE_MICROS, MAX_COMMIT_BLOCKS, MAX_OPS, MAX_RECORD_SIZE, MAX_SYNC_BLOCKS,
};
use crate::blocks::{BlockMap, BlockSource};
use crate::car::{self, Options};
use crate::cid::{self, Cid};
use crate::commit::Commit;
use crate::crypto::{PublicKey, SignatureError};
use crate::mst::{self, Action, InvertError, RecordOp};
use crate::tid::Tid;

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
pub fn verify_commit(
    event: &CommitEvent<'_>,
    context: &Context<'_>,
) -> Result<VerifiedCommit, Failure> {
    let mut warnings = Vec::new();
    let mut judge = Judge {
        policy: context.policy,
        warnings: &mut warnings,
    };
    check_limits(event, &mut judge)?;
    let ops = event
        .ops
        .iter()
        .map(record_op)
        .collect::<Result<Vec<_>, _>>()?;
    let options = Options {
        verify: true,
        max_block_size: MAX_COMMIT_BLOCKS,
    };
    let car = car::read(&event.blocks, &options).map_err(|e| Failure::car(&e))?;
    if car.roots.first() != Some(&event.commit) {
        return Err(Failure::new(
            ErrorCode::FieldMismatch,
            "the CAR's root is not the message's commit",
        ));
    }
    let blocks = BlockMap::from_car_blocks(&car.blocks);
    let commit_bytes = blocks.get(&event.commit).ok_or_else(|| {
        Failure::new(
            ErrorCode::MissingBlock,
            "the commit block is not in the CAR",
        )
    })?;
    let commit = Commit::decode(&commit_bytes)
        .map_err(|e| Failure::new(ErrorCode::Malformed, e.detail()))?;
    check_fields(&commit, &event.repo, &event.rev)?;
    let signature_checked = check_signature(&commit, context, &mut judge)?;
    check_rev(&event.rev, context, &mut judge, false)?;
    check_since(event.since.as_deref(), context, &mut judge)?;
    check_records(&ops, &blocks, &mut judge)?;
    // Inversion first: an incomplete proof is reported before any prevData rule.
    let inverted = invert(&ops, &blocks, &commit.data, &mut judge)?;
    let prev_data_checked = check_prev_data(event.prev_data, inverted, context, &mut judge)?;
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

/// Size, op count and the deprecated flags.
fn check_limits(event: &CommitEvent<'_>, judge: &mut Judge<'_>) -> Result<(), Failure> {
    if event.blocks.len() > MAX_COMMIT_BLOCKS {
        let size = event.blocks.len();
        judge.fail(
            ErrorCode::TooBig,
            format!("blocks are {size} bytes (limit {MAX_COMMIT_BLOCKS})"),
        )?;
    }
    if event.ops.len() > MAX_OPS {
        let count = event.ops.len();
        judge.fail(
            ErrorCode::TooManyOps,
            format!("{count} ops (limit {MAX_OPS})"),
        )?;
    }
    if event.too_big || event.rebase {
        let flag = if event.too_big { "tooBig" } else { "rebase" };
        judge.fail(
            ErrorCode::DeprecatedFlag,
            format!("deprecated flag {flag} is set"),
        )?;
    }
    Ok(())
}

/// The signed commit is for the message's account and rev.
fn check_fields(commit: &Commit<'_>, did: &str, rev: &str) -> Result<(), Failure> {
    if commit.did != did {
        return Err(Failure::new(
            ErrorCode::FieldMismatch,
            format!("commit is for {}, message for {did}", commit.did),
        ));
    }
    if commit.rev != Some(rev) {
        return Err(Failure::new(
            ErrorCode::FieldMismatch,
            format!("commit rev {:?}, message rev {rev}", commit.rev),
        ));
    }
    Ok(())
}

/// `since` must be the last rev the caller knows.
fn check_since(
    since: Option<&str>,
    context: &Context<'_>,
    judge: &mut Judge<'_>,
) -> Result<(), Failure> {
    match (context.prev_rev.as_deref(), since) {
        (Some(previous), Some(since)) if previous != since => judge.fail(
            ErrorCode::SinceMismatch,
            format!("since {since}, but the last known rev is {previous}"),
        ),
        (Some(previous), None) => judge.fail(
            ErrorCode::SinceMismatch,
            format!("since is null, but the last known rev is {previous}"),
        ),
        _ => Ok(()),
    }
}

/// Every created or updated record is in the CAR, within the record size limit.
fn check_records(
    ops: &[RecordOp],
    blocks: &BlockMap<'_>,
    judge: &mut Judge<'_>,
) -> Result<(), Failure> {
    for op in ops {
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
    Ok(())
}

/// Undoes the ops on the CAR's partial tree: the previous root, or none when the proof is
/// incomplete or does not match (and the policy lets that pass).
fn invert(
    ops: &[RecordOp],
    blocks: &BlockMap<'_>,
    data: &Cid,
    judge: &mut Judge<'_>,
) -> Result<Option<Cid>, Failure> {
    if ops
        .iter()
        .any(|op| op.action != Action::Create && op.prev.is_none())
    {
        judge.fail(
            ErrorCode::IncompleteProof,
            "an update or delete without prev cannot be inverted",
        )?;
        return Ok(None);
    }
    match mst::invert(blocks, data, ops) {
        Ok(root) => Ok(Some(root)),
        Err(InvertError::Incomplete) => {
            judge.fail(
                ErrorCode::IncompleteProof,
                "the CAR lacks MST nodes needed to invert the ops",
            )?;
            Ok(None)
        }
        Err(InvertError::Malformed(err)) => {
            Err(Failure::new(ErrorCode::Malformed, err.to_string()))
        }
        Err(InvertError::DuplicatePath(path)) => Err(Failure::new(
            ErrorCode::Malformed,
            format!("two ops on {}", String::from_utf8_lossy(&path)),
        )),
        Err(InvertError::Mismatch(why, path)) => {
            judge.fail(
                ErrorCode::InversionMismatch,
                format!("{why}: {}", String::from_utf8_lossy(&path)),
            )?;
            Ok(None)
        }
    }
}

/// The inverted root against the message's `prevData` and the caller's last known data;
/// `Ok(true)` when the chain was confirmed.
fn check_prev_data(
    stated: Option<Cid>,
    inverted: Option<Cid>,
    context: &Context<'_>,
    judge: &mut Judge<'_>,
) -> Result<bool, Failure> {
    let mut checked = false;
    match (stated, context.prev_data) {
        (Some(stated), known) => {
            if let Some(root) = inverted {
                if root == stated {
                    checked = true;
                } else {
                    judge.fail(
                        ErrorCode::InversionMismatch,
                        format!("inverted root {root} is not prevData {stated}"),
                    )?;
                }
            }
            if let Some(known) = known {
                if known != stated {
                    checked = false;
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
                    checked = true;
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
    Ok(checked)
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
    let car = car::read(&event.blocks, &options).map_err(|e| Failure::car(&e))?;
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
