//! Python bindings for whole-event verification (`strato.sync` wraps these) and commits.
//!
//! Each event is one crossing: the payload bytes go in, and decode, CAR parsing, hashing, the
//! signature and MST inversion all run with the GIL released. The batch entry point spreads
//! events over all cores. The policy crosses as a frozen [`PyVerifyPolicy`], built once from
//! settings: a verification reads its bits, it parses nothing. The limits and the relaxable
//! checks are exported from here (`register`), so Python holds no copy of them.

use super::cid::PyCid;
use super::dagcbor::encode_dag_cbor;
use super::errors::commit_verification_error;
use super::input::Input;
use crate::cid::Cid;
use crate::commit;
use crate::crypto::{self, PublicKey};
use crate::sync::{self, Context, ErrorCode, Failure, Policy, VerifiedCommit, VerifiedSync};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyList, PyMapping, PyTuple};
use std::sync::Arc;

/// Which relaxable checks are strict: every one by `strict`, then single checks by `checks`
/// (`{name: strict?}`). Frozen, so one object built from settings serves every verification.
#[pyclass(frozen, eq, hash, module = "strato._core", name = "VerifyPolicy")]
#[derive(PartialEq, Eq, Hash)]
pub struct PyVerifyPolicy(Policy);

#[pymethods]
impl PyVerifyPolicy {
    #[new]
    #[pyo3(signature = (*, strict = true, checks = None))]
    fn new(strict: bool, checks: Option<&Bound<'_, PyMapping>>) -> PyResult<Self> {
        let mut policy = if strict {
            Policy::strict()
        } else {
            Policy::lenient()
        };
        if let Some(checks) = checks {
            for item in checks.items()?.iter() {
                let (name, value): (String, Bound<'_, PyAny>) = item.extract()?;
                let code = ErrorCode::relaxable_from_name(&name)
                    .map_err(|e| PyValueError::new_err(e.to_string()))?;
                let Ok(value) = value.cast::<PyBool>() else {
                    return Err(PyValueError::new_err(format!(
                        "policy check '{name}' must be true (strict) or false"
                    )));
                };
                policy = policy.with(code, value.is_true());
            }
        }
        Ok(Self(policy))
    }

    /// Does a failure of `check` reject the event? (A check no policy may relax always does.)
    fn is_strict(&self, check: &str) -> PyResult<bool> {
        ErrorCode::from_name(check)
            .map(|code| self.0.is_strict(code))
            .ok_or_else(|| PyValueError::new_err(format!("unknown check '{check}'")))
    }

    /// The constructor call that makes an equal policy, naming the fewest checks.
    fn __repr__(&self) -> String {
        let relaxable: Vec<ErrorCode> = ErrorCode::relaxable_codes().collect();
        let lenient = relaxable.iter().filter(|&&c| !self.0.is_strict(c)).count();
        let strict = lenient * 2 <= relaxable.len();
        let named: Vec<String> = relaxable
            .iter()
            .filter(|&&c| self.0.is_strict(c) != strict)
            .map(|c| format!("'{c}': {}", if strict { "False" } else { "True" }))
            .collect();
        let default = if strict { "True" } else { "False" };
        if named.is_empty() {
            format!("VerifyPolicy(strict={default})")
        } else {
            format!(
                "VerifyPolicy(strict={default}, checks={{{}}})",
                named.join(", ")
            )
        }
    }
}

/// The policy argument of a verification: none means every check strict.
fn policy_of(policy: Option<&Bound<'_, PyVerifyPolicy>>) -> Policy {
    policy.map_or_else(Policy::strict, |p| p.get().0)
}

/// A `#commit` that passed verification.
#[pyclass(frozen, module = "strato._core", name = "VerifiedCommit")]
pub struct PyVerifiedCommit(VerifiedCommit);

#[pymethods]
impl PyVerifiedCommit {
    #[getter]
    fn did(&self) -> &str {
        &self.0.did
    }
    #[getter]
    fn rev(&self) -> &str {
        &self.0.rev
    }
    #[getter]
    fn since(&self) -> Option<&str> {
        self.0.since.as_deref()
    }
    #[getter]
    fn commit_cid<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCid>> {
        PyCid::new_bound(py, self.0.commit_cid)
    }
    #[getter]
    fn data_cid<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCid>> {
        PyCid::new_bound(py, self.0.data_cid)
    }
    /// The previous tree root the inversion computed (None when it could not run).
    #[getter]
    fn prev_data<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyCid>>> {
        self.0
            .prev_data
            .map(|c| PyCid::new_bound(py, c))
            .transpose()
    }
    /// `(action, path, cid, prev)` per op, in the message's order.
    #[getter]
    fn ops<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items = self
            .0
            .ops
            .iter()
            .map(|op| {
                let cid = op.cid.map(|c| PyCid::new_bound(py, c)).transpose()?;
                let prev = op.prev.map(|c| PyCid::new_bound(py, c)).transpose()?;
                Ok((
                    op.action.as_str(),
                    String::from_utf8_lossy(&op.key).into_owned(),
                    cid,
                    prev,
                ))
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }
    #[getter]
    fn signature_checked(&self) -> bool {
        self.0.signature_checked
    }
    #[getter]
    fn inversion_checked(&self) -> bool {
        self.0.inversion_checked
    }
    #[getter]
    fn prev_data_checked(&self) -> bool {
        self.0.prev_data_checked
    }
    /// `(code, reason)` for each lenient check that failed.
    #[getter]
    fn warnings(&self) -> Vec<(&'static str, String)> {
        warnings(&self.0.warnings)
    }
    fn __repr__(&self) -> String {
        format!(
            "VerifiedCommit(did={:?}, rev={:?}, commit_cid={}, ops={})",
            self.0.did,
            self.0.rev,
            self.0.commit_cid,
            self.0.ops.len()
        )
    }
}

/// A `#sync` that passed verification.
#[pyclass(frozen, module = "strato._core", name = "VerifiedSync")]
pub struct PyVerifiedSync(VerifiedSync);

#[pymethods]
impl PyVerifiedSync {
    #[getter]
    fn did(&self) -> &str {
        &self.0.did
    }
    #[getter]
    fn rev(&self) -> &str {
        &self.0.rev
    }
    #[getter]
    fn commit_cid<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCid>> {
        PyCid::new_bound(py, self.0.commit_cid)
    }
    #[getter]
    fn data_cid<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCid>> {
        PyCid::new_bound(py, self.0.data_cid)
    }
    #[getter]
    fn signature_checked(&self) -> bool {
        self.0.signature_checked
    }
    #[getter]
    fn warnings(&self) -> Vec<(&'static str, String)> {
        warnings(&self.0.warnings)
    }
    fn __repr__(&self) -> String {
        format!(
            "VerifiedSync(did={:?}, rev={:?}, commit_cid={})",
            self.0.did, self.0.rev, self.0.commit_cid
        )
    }
}

fn warnings(list: &[Failure]) -> Vec<(&'static str, String)> {
    list.iter()
        .map(|f| (f.code.as_str(), f.reason.clone()))
        .collect()
}

fn failure_error(failure: &Failure) -> PyErr {
    commit_verification_error(failure.code.as_str(), &failure.reason)
}

/// Everything one verification needs but the payload, extracted under the GIL.
struct Check {
    key: Result<Option<Arc<PublicKey>>, Failure>,
    prev_rev: Option<String>,
    prev_data: Option<Cid>,
    now_micros: u64,
    policy: Policy,
}

impl Check {
    fn context(&self) -> Result<Context<'_>, Failure> {
        let key = self.key.as_ref().map_err(Clone::clone)?;
        Ok(Context {
            key: key.as_deref(),
            prev_rev: self.prev_rev.clone(),
            prev_data: self.prev_data,
            now_micros: self.now_micros,
            policy: self.policy,
        })
    }

    fn run_commit(&self, payload: &[u8]) -> Result<VerifiedCommit, Failure> {
        let context = self.context()?;
        let event = sync::decode_commit_event(payload)?;
        sync::verify_commit(&event, &context)
    }

    fn run_sync(&self, payload: &[u8]) -> Result<VerifiedSync, Failure> {
        let context = self.context()?;
        let event = sync::decode_sync_event(payload)?;
        sync::verify_sync(&event, &context)
    }
}

/// Payload bytes: `bytes` borrowed, other buffers copied, a dict of data-model values encoded
/// once.
fn payload_input<'py>(payload: &Bound<'py, PyAny>) -> PyResult<Input<'py>> {
    if payload.is_instance_of::<PyDict>() {
        return Ok(Input::Borrowed(encode_dag_cbor(payload)?));
    }
    Input::extract(payload)
}

fn check(
    did_key: Option<&str>,
    prev_rev: Option<String>,
    prev_data: Option<PyRef<'_, PyCid>>,
    now: Option<f64>,
    policy: Policy,
) -> Check {
    let key = did_key
        .map(|k| {
            crypto::public_key_from_did_key_cached(k).map_err(|e| Failure {
                code: ErrorCode::BadSignature,
                reason: format!("the account key {k:?} is unusable: {e}"),
            })
        })
        .transpose();
    let now_micros = match now {
        // Seconds as a float, like time.time(); clamped to the representable range.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(seconds) => (seconds.max(0.0) * 1e6) as u64,
        None => sync::now_micros(),
    };
    Check {
        key,
        prev_rev,
        prev_data: prev_data.map(|c| c.0),
        now_micros,
        policy,
    }
}

/// Verifies one `#commit` body; raises `CommitVerificationError` on the first strict failure.
#[pyfunction]
#[pyo3(signature = (payload, did_key, *, prev_rev=None, prev_data=None, now=None, policy=None))]
pub fn verify_commit_event(
    py: Python<'_>,
    payload: &Bound<'_, PyAny>,
    did_key: Option<&str>,
    prev_rev: Option<String>,
    prev_data: Option<PyRef<'_, PyCid>>,
    now: Option<f64>,
    policy: Option<&Bound<'_, PyVerifyPolicy>>,
) -> PyResult<PyVerifiedCommit> {
    let check = check(did_key, prev_rev, prev_data, now, policy_of(policy));
    let input = payload_input(payload)?;
    let bytes: &[u8] = &input;
    py.detach(|| check.run_commit(bytes))
        .map(PyVerifiedCommit)
        .map_err(|f| failure_error(&f))
}

/// Verifies one `#sync` body; raises `CommitVerificationError` on the first strict failure.
#[pyfunction]
#[pyo3(signature = (payload, did_key, *, prev_rev=None, now=None, policy=None))]
pub fn verify_sync_event(
    py: Python<'_>,
    payload: &Bound<'_, PyAny>,
    did_key: Option<&str>,
    prev_rev: Option<String>,
    now: Option<f64>,
    policy: Option<&Bound<'_, PyVerifyPolicy>>,
) -> PyResult<PyVerifiedSync> {
    let check = check(did_key, prev_rev, None, now, policy_of(policy));
    let input = payload_input(payload)?;
    let bytes: &[u8] = &input;
    py.detach(|| check.run_sync(bytes))
        .map(PyVerifiedSync)
        .map_err(|f| failure_error(&f))
}

/// The keys an item of `verify_commit_events` may have.
const ITEM_KEYS: [&str; 5] = ["payload", "did_key", "prev_rev", "prev_data", "now"];

/// Verifies many `#commit` bodies (each a dict of `verify_commit_event`'s arguments but the
/// policy, which is the batch's) on all cores; returns a `VerifiedCommit` or a
/// `CommitVerificationError` per item, in order.
#[pyfunction]
#[pyo3(signature = (items, *, policy=None))]
pub fn verify_commit_events<'py>(
    py: Python<'py>,
    items: &Bound<'py, PyAny>,
    policy: Option<&Bound<'py, PyVerifyPolicy>>,
) -> PyResult<Bound<'py, PyList>> {
    let policy = policy_of(policy);
    let mut jobs = Vec::new();
    for item in items.try_iter()? {
        let item = item?;
        let item = item.cast::<PyDict>()?;
        let mut found = 0;
        let mut get = |name: &str| {
            let value = item.get_item(name)?;
            found += usize::from(value.is_some());
            PyResult::Ok(value)
        };
        let payload =
            get("payload")?.ok_or_else(|| PyValueError::new_err("each item needs a payload"))?;
        let did_key: Option<String> = get("did_key")?.map(|v| v.extract()).transpose()?.flatten();
        let prev_rev: Option<String> = get("prev_rev")?.map(|v| v.extract()).transpose()?.flatten();
        let prev_data = get("prev_data")?.filter(|v| !v.is_none());
        let prev_data: Option<PyRef<'_, PyCid>> =
            prev_data.as_ref().map(|v| v.extract()).transpose()?;
        let now: Option<f64> = get("now")?.map(|v| v.extract()).transpose()?.flatten();
        if found != item.len() {
            // A key from an older form of the call (a per-item policy) must not pass unheard.
            return Err(PyValueError::new_err(format!(
                "an item may hold only {} (the policy is the batch's argument)",
                ITEM_KEYS.join(", ")
            )));
        }
        let check = check(did_key.as_deref(), prev_rev, prev_data, now, policy);
        jobs.push((payload_input(&payload)?.to_vec(), check));
    }
    let results = py.detach(|| {
        crate::parallel::map(
            &jobs,
            2,
            crate::parallel::available_threads(),
            |(payload, check): &(Vec<u8>, Check)| check.run_commit(payload),
        )
    });
    let out = PyList::empty(py);
    for result in results {
        match result {
            Ok(verified) => out.append(Bound::new(py, PyVerifiedCommit(verified))?)?,
            Err(failure) => out.append(failure_error(&failure).into_value(py))?,
        }
    }
    Ok(out)
}

/// Every error code name, in order.
#[pyfunction]
pub fn sync_error_codes() -> Vec<&'static str> {
    ErrorCode::ALL.iter().map(|c| c.as_str()).collect()
}

/// Signs a v3 commit (`prev: null`): `(cid, signed bytes)`.
#[pyfunction]
pub fn commit_sign<'py>(
    py: Python<'py>,
    did: &str,
    rev: &str,
    data: PyRef<'py, PyCid>,
    key: PyRef<'py, super::crypto::PyPrivateKey>,
) -> PyResult<(Bound<'py, PyCid>, Bound<'py, PyBytes>)> {
    crate::tid::Tid::parse(rev).map_err(|e| super::errors::identifier_error(e.as_str(), rev))?;
    let signed = commit::sign(did, rev, &data.0, &key.0)?;
    Ok((
        PyCid::new_bound(py, signed.cid)?,
        PyBytes::new(py, &signed.bytes),
    ))
}

/// Decodes a signed commit: `(did, version, data, rev, prev, sig, unsigned bytes)`.
#[pyfunction]
pub fn commit_decode<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyTuple>> {
    let bytes = Input::extract(data)?;
    let commit = commit::Commit::decode(&bytes)
        .map_err(|e| commit_verification_error("malformed", &e.detail()))?;
    PyTuple::new(
        py,
        [
            commit.did.into_pyobject(py)?.into_any(),
            commit.version.into_pyobject(py)?.into_any(),
            PyCid::new_bound(py, commit.data)?.into_any(),
            commit.rev.into_pyobject(py)?.into_any(),
            commit
                .prev
                .map(|c| PyCid::new_bound(py, c))
                .transpose()?
                .into_pyobject(py)?
                .into_any(),
            PyBytes::new(py, commit.sig).into_any(),
            PyBytes::new(py, commit.unsigned_bytes()).into_any(),
        ],
    )
}

/// Checks a signed commit's signature against a did:key; raises `CommitVerificationError`
/// (`bad_signature`, or `high_s` unless `allow_high_s`, or `malformed`).
#[pyfunction]
#[pyo3(signature = (data, did_key, *, allow_high_s=false))]
pub fn commit_verify_signature(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    did_key: &str,
    allow_high_s: bool,
) -> PyResult<()> {
    let bytes = Input::extract(data)?;
    let key = crypto::public_key_from_did_key_cached(did_key)?;
    let commit = commit::Commit::decode(&bytes)
        .map_err(|e| commit_verification_error("malformed", &e.detail()))?;
    let outcome = py.detach(|| {
        if allow_high_s {
            key.verify_allowing_high_s(commit.unsigned_bytes(), commit.sig)
        } else {
            commit.verify(&key)
        }
    });
    outcome.map_err(|e| {
        let code = if e == crypto::SignatureError::HighS {
            ErrorCode::HighS
        } else {
            ErrorCode::BadSignature
        };
        commit_verification_error(code.as_str(), &e.to_string())
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("MAX_COMMIT_BLOCKS", sync::MAX_COMMIT_BLOCKS)?;
    m.add("MAX_SYNC_BLOCKS", sync::MAX_SYNC_BLOCKS)?;
    m.add("MAX_OPS", sync::MAX_OPS)?;
    m.add("MAX_RECORD_SIZE", sync::MAX_RECORD_SIZE)?;
    m.add("MAX_FRAME_BYTES", sync::MAX_FRAME_BYTES)?;
    m.add(
        "FUTURE_REV_TOLERANCE_MICROS",
        sync::FUTURE_REV_TOLERANCE_MICROS,
    )?;
    let relaxable: Vec<&str> = ErrorCode::relaxable_codes()
        .map(ErrorCode::as_str)
        .collect();
    m.add("RELAXABLE", PyTuple::new(m.py(), relaxable)?)?;
    m.add_class::<PyVerifyPolicy>()?;
    m.add_function(wrap_pyfunction!(commit_verify_signature, m)?)?;
    m.add_class::<PyVerifiedCommit>()?;
    m.add_class::<PyVerifiedSync>()?;
    m.add_function(wrap_pyfunction!(verify_commit_event, m)?)?;
    m.add_function(wrap_pyfunction!(verify_sync_event, m)?)?;
    m.add_function(wrap_pyfunction!(verify_commit_events, m)?)?;
    m.add_function(wrap_pyfunction!(sync_error_codes, m)?)?;
    m.add_function(wrap_pyfunction!(commit_sign, m)?)?;
    m.add_function(wrap_pyfunction!(commit_decode, m)?)?;
    Ok(())
}
