//! Python bindings for the Merkle Search Tree (`strato.repo.mst` wraps these).
//!
//! The block source is any Python mapping of `CID` to `bytes` (a `dict`, or a store's view).
//! Operations that read blocks hold the GIL while they run (each read is a mapping lookup, no
//! Python code for a `dict`); `build`, which reads nothing, releases it.

use super::cid::PyCid;
use super::errors::commit_verification_error;
use super::gil::detach_with;
use crate::blocks::BlockSource;
use crate::cid::Cid;
use crate::error::Result as CoreResult;
use crate::mst::{self, Action, InvertError, RecordOp, Tree};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use std::borrow::Cow;
use std::cell::RefCell;

/// A Python mapping as a block source. A lookup that raises is remembered and re-raised
/// when the operation returns.
struct PySource<'py> {
    mapping: Bound<'py, PyAny>,
    error: RefCell<Option<PyErr>>,
}

impl<'py> PySource<'py> {
    fn new(mapping: &Bound<'py, PyAny>) -> Self {
        Self {
            mapping: mapping.clone(),
            error: RefCell::new(None),
        }
    }

    fn lookup(&self, cid: &Cid) -> PyResult<Option<Vec<u8>>> {
        let key = PyCid::new_bound(self.mapping.py(), *cid)?;
        let found = if let Ok(dict) = self.mapping.cast::<PyDict>() {
            dict.get_item(key)?
        } else {
            let value = self.mapping.call_method1("get", (key,))?;
            (!value.is_none()).then_some(value)
        };
        let Some(value) = found else {
            return Ok(None);
        };
        let bytes = value
            .cast::<PyBytes>()
            .map_err(|_| PyTypeError::new_err("block source values must be bytes"))?;
        Ok(Some(bytes.as_bytes().to_vec()))
    }

    /// The core result, unless a lookup raised (that error wins).
    fn finish<T>(&self, result: CoreResult<T>) -> PyResult<T> {
        if let Some(err) = self.error.borrow_mut().take() {
            return Err(err);
        }
        result.map_err(PyErr::from)
    }
}

impl BlockSource for PySource<'_> {
    fn get(&self, cid: &Cid) -> Option<Cow<'_, [u8]>> {
        match self.lookup(cid) {
            Ok(found) => found.map(Cow::Owned),
            Err(err) => {
                self.error.borrow_mut().get_or_insert(err);
                None
            }
        }
    }
}

/// A key given as `str` or `bytes`.
fn key_bytes(key: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(text) = key.cast::<PyString>() {
        return Ok(text.to_str()?.as_bytes().to_vec());
    }
    if let Ok(bytes) = key.cast::<PyBytes>() {
        return Ok(bytes.as_bytes().to_vec());
    }
    Err(PyTypeError::new_err("MST keys are str or bytes"))
}

fn key_str(key: &[u8]) -> String {
    // Keys are validated ASCII when they enter a tree; decoding cannot lose anything.
    String::from_utf8_lossy(key).into_owned()
}

fn blocks_dict<'py>(py: Python<'py>, blocks: Vec<(Cid, Vec<u8>)>) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (cid, data) in blocks {
        dict.set_item(PyCid::new_bound(py, cid)?, PyBytes::new(py, &data))?;
    }
    Ok(dict)
}

fn cid_list<'py>(py: Python<'py>, cids: &[Cid]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(
        py,
        cids.iter()
            .map(|c| PyCid::new_bound(py, *c))
            .collect::<PyResult<Vec<_>>>()?,
    )
}

fn optional_cid<'py>(py: Python<'py>, cid: Option<Cid>) -> PyResult<Option<Bound<'py, PyCid>>> {
    cid.map(|c| PyCid::new_bound(py, c)).transpose()
}

/// An op as the tuple `(action, path, cid, prev)`.
fn op_tuple<'py>(py: Python<'py>, op: &RecordOp) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(
        py,
        [
            op.action.as_str().into_pyobject(py)?.into_any(),
            key_str(&op.key).into_pyobject(py)?.into_any(),
            optional_cid(py, op.cid)?.into_pyobject(py)?.into_any(),
            optional_cid(py, op.prev)?.into_pyobject(py)?.into_any(),
        ],
    )
}

fn op_list<'py>(py: Python<'py>, ops: &[RecordOp]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(
        py,
        ops.iter()
            .map(|op| op_tuple(py, op))
            .collect::<PyResult<Vec<_>>>()?,
    )
}

/// `(action, path, cid, prev)` as Python passes it.
type OpArgs<'py> = (
    String,
    Bound<'py, PyAny>,
    Option<PyRef<'py, PyCid>>,
    Option<PyRef<'py, PyCid>>,
);

/// Reads `(action, path, cid, prev)` tuples.
fn ops_from(items: &Bound<'_, PyAny>) -> PyResult<Vec<RecordOp>> {
    let mut ops = Vec::new();
    for item in items.try_iter()? {
        let (action, path, cid, prev): OpArgs<'_> = item?.extract()?;
        let action = match action.as_str() {
            "create" => Action::Create,
            "update" => Action::Update,
            "delete" => Action::Delete,
            other => return Err(PyValueError::new_err(format!("unknown action {other:?}"))),
        };
        ops.push(RecordOp {
            action,
            key: key_bytes(&path)?,
            cid: cid.map(|c| c.0),
            prev: prev.map(|c| c.0),
        });
    }
    Ok(ops)
}

/// The layer of a key: leading zero bits of its SHA-256, halved.
#[pyfunction]
pub fn mst_key_height(key: &Bound<'_, PyAny>) -> PyResult<u32> {
    Ok(mst::key::height(&key_bytes(key)?))
}

/// Is `key` a valid MST key (`collection/rkey`)?
#[pyfunction]
pub fn mst_key_valid(key: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(mst::key::is_valid(&key_bytes(key)?))
}

/// The root CID of the empty tree.
#[pyfunction]
pub fn mst_empty_root(py: Python<'_>) -> PyResult<Bound<'_, PyCid>> {
    PyCid::new_bound(py, mst::empty_root())
}

/// Builds the tree of `(key, CID)` pairs: `(root, {cid: node bytes})`.
#[pyfunction]
pub fn mst_build<'py>(
    pairs: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyCid>, Bound<'py, PyDict>)> {
    let py = pairs.py();
    let mut items: Vec<(Vec<u8>, Cid)> = Vec::new();
    for pair in pairs.try_iter()? {
        let (key, cid): (Bound<'_, PyAny>, PyRef<'_, PyCid>) = pair?.extract()?;
        items.push((key_bytes(&key)?, cid.0));
    }
    let size = items.len() * 64;
    let built = detach_with(py, size, || mst::build(&items))?;
    Ok((
        PyCid::new_bound(py, built.root)?,
        blocks_dict(py, built.blocks)?,
    ))
}

/// The value at `key`, or None.
#[pyfunction]
pub fn mst_get<'py>(
    blocks: &Bound<'py, PyAny>,
    root: PyRef<'py, PyCid>,
    key: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyCid>>> {
    let py = blocks.py();
    let key = key_bytes(key)?;
    let source = PySource::new(blocks);
    let found = source.finish(Tree::open(&source, &root.0).and_then(|mut t| t.get(&key)))?;
    optional_cid(py, found)
}

/// `(key, CID)` pairs with `start <= key < end`, in order (or reversed), at most `limit`.
#[pyfunction]
#[pyo3(signature = (blocks, root, start=None, end=None, reverse=false, limit=None))]
pub fn mst_list<'py>(
    blocks: &Bound<'py, PyAny>,
    root: PyRef<'py, PyCid>,
    start: Option<&Bound<'py, PyAny>>,
    end: Option<&Bound<'py, PyAny>>,
    reverse: bool,
    limit: Option<usize>,
) -> PyResult<Bound<'py, PyList>> {
    let py = blocks.py();
    let start = start.map(key_bytes).transpose()?;
    let end = end.map(key_bytes).transpose()?;
    let source = PySource::new(blocks);
    let listed = source.finish(Tree::open(&source, &root.0).and_then(|mut tree| {
        tree.list(
            start.as_deref(),
            end.as_deref(),
            reverse,
            limit.unwrap_or(usize::MAX),
        )
    }))?;
    let items = listed
        .into_iter()
        .map(|(k, v)| Ok((key_str(&k), PyCid::new_bound(py, v)?)))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// Applies `(key, CID or None)` writes in order: `(new root, new blocks, ops)`, the ops being
/// the net `(action, path, cid, prev)` per write (a no-op write gives none).
#[pyfunction]
pub fn mst_apply<'py>(
    blocks: &Bound<'py, PyAny>,
    root: PyRef<'py, PyCid>,
    writes: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyCid>, Bound<'py, PyDict>, Bound<'py, PyList>)> {
    let py = blocks.py();
    let mut parsed: Vec<(Vec<u8>, Option<Cid>)> = Vec::new();
    for write in writes.try_iter()? {
        let (key, cid): (Bound<'_, PyAny>, Option<PyRef<'_, PyCid>>) = write?.extract()?;
        parsed.push((key_bytes(&key)?, cid.map(|c| c.0)));
    }
    let source = PySource::new(blocks);
    let outcome = source.finish((|| {
        let mut tree = Tree::open(&source, &root.0)?;
        let mut ops = Vec::with_capacity(parsed.len());
        for (key, value) in parsed {
            let op = match value {
                Some(cid) => match tree.put(&key, cid)? {
                    None => Some((Action::Create, Some(cid), None)),
                    Some(prev) if prev != cid => Some((Action::Update, Some(cid), Some(prev))),
                    Some(_) => None,
                },
                None => tree
                    .delete(&key)?
                    .map(|prev| (Action::Delete, None, Some(prev))),
            };
            if let Some((action, cid, prev)) = op {
                ops.push(RecordOp {
                    action,
                    key,
                    cid,
                    prev,
                });
            }
        }
        let (root, new_blocks) = tree.commit()?;
        Ok((root, new_blocks, ops))
    })())?;
    let (new_root, new_blocks, ops) = outcome;
    Ok((
        PyCid::new_bound(py, new_root)?,
        blocks_dict(py, new_blocks)?,
        op_list(py, &ops)?,
    ))
}

/// The diff from `old` (None: empty) to `new`: `(ops, new node CIDs, removed node CIDs)`.
#[pyfunction]
pub fn mst_diff<'py>(
    blocks: &Bound<'py, PyAny>,
    old: Option<PyRef<'py, PyCid>>,
    new: PyRef<'py, PyCid>,
) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>, Bound<'py, PyList>)> {
    let py = blocks.py();
    let source = PySource::new(blocks);
    let diff = source.finish(mst::diff(&source, old.map(|c| c.0), new.0))?;
    Ok((
        op_list(py, &diff.ops)?,
        cid_list(py, &diff.new_nodes)?,
        cid_list(py, &diff.removed_nodes)?,
    ))
}

fn invert_error(err: InvertError) -> PyErr {
    match err {
        InvertError::Incomplete => commit_verification_error(
            "incomplete_proof",
            "the blocks lack MST nodes needed to invert the ops",
        ),
        InvertError::DuplicatePath(path) => {
            commit_verification_error("malformed", &format!("two ops on {}", key_str(&path)))
        }
        InvertError::Mismatch(why, path) => {
            commit_verification_error("inversion_mismatch", &format!("{why}: {}", key_str(&path)))
        }
        InvertError::Malformed(err) => err.into(),
    }
}

/// The nodes a commit making `ops` on the tree at `root` must carry for inversion.
#[pyfunction]
pub fn mst_proof_nodes<'py>(
    blocks: &Bound<'py, PyAny>,
    root: PyRef<'py, PyCid>,
    ops: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let py = blocks.py();
    let ops = ops_from(ops)?;
    let source = PySource::new(blocks);
    let nodes = mst::proof_nodes(&source, &root.0, &ops);
    if let Some(err) = source.error.borrow_mut().take() {
        return Err(err);
    }
    cid_list(py, &nodes.map_err(invert_error)?)
}

/// Undoes `ops` on the (partial) tree at `root`; returns the previous root.
#[pyfunction]
pub fn mst_invert<'py>(
    blocks: &Bound<'py, PyAny>,
    root: PyRef<'py, PyCid>,
    ops: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyCid>> {
    let py = blocks.py();
    let ops = ops_from(ops)?;
    let source = PySource::new(blocks);
    let result = mst::invert(&source, &root.0, &ops);
    if let Some(err) = source.error.borrow_mut().take() {
        return Err(err);
    }
    PyCid::new_bound(py, result.map_err(invert_error)?)
}

/// `(value or None, path node CIDs)`: the inclusion (or absence) proof of `key`.
#[pyfunction]
pub fn mst_record_proof<'py>(
    blocks: &Bound<'py, PyAny>,
    root: PyRef<'py, PyCid>,
    key: &Bound<'py, PyAny>,
) -> PyResult<(Option<Bound<'py, PyCid>>, Bound<'py, PyList>)> {
    let py = blocks.py();
    let key = key_bytes(key)?;
    let source = PySource::new(blocks);
    let (value, nodes) = source.finish(mst::record_proof(&source, &root.0, &key))?;
    Ok((optional_cid(py, value)?, cid_list(py, &nodes)?))
}

/// Checks a record proof: the value at `key` the proof's nodes show (None: absent).
#[pyfunction]
pub fn mst_check_record_proof<'py>(
    blocks: &Bound<'py, PyAny>,
    root: PyRef<'py, PyCid>,
    key: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyCid>>> {
    let py = blocks.py();
    let key = key_bytes(key)?;
    let source = PySource::new(blocks);
    let found = source.finish(mst::check_record_proof(&source, &root.0, &key))?;
    optional_cid(py, found)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(mst_key_height, m)?)?;
    m.add_function(wrap_pyfunction!(mst_key_valid, m)?)?;
    m.add_function(wrap_pyfunction!(mst_empty_root, m)?)?;
    m.add_function(wrap_pyfunction!(mst_build, m)?)?;
    m.add_function(wrap_pyfunction!(mst_get, m)?)?;
    m.add_function(wrap_pyfunction!(mst_list, m)?)?;
    m.add_function(wrap_pyfunction!(mst_apply, m)?)?;
    m.add_function(wrap_pyfunction!(mst_diff, m)?)?;
    m.add_function(wrap_pyfunction!(mst_proof_nodes, m)?)?;
    m.add_function(wrap_pyfunction!(mst_invert, m)?)?;
    m.add_function(wrap_pyfunction!(mst_record_proof, m)?)?;
    m.add_function(wrap_pyfunction!(mst_check_record_proof, m)?)?;
    Ok(())
}
