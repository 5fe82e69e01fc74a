//! Python bindings for whole repository exports (`strato.repo.verify` wraps these).
//!
//! [`repo_verify`] copies the CAR once and checks it with the GIL released; the
//! [`PyRepoCar`] it returns hands out records, nodes and blocks in pieces the caller chooses,
//! so no single call holds the GIL for long however large the repository.

use super::cid::PyCid;
use super::errors::commit_verification_error;
use super::input::Input;
use crate::repo::{self, VerifiedRepo};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

/// A repository CAR whose structure, hashes and tree have been verified.
#[pyclass(frozen, module = "strato._core", name = "RepoCar")]
pub struct PyRepoCar(VerifiedRepo);

#[pymethods]
impl PyRepoCar {
    #[getter]
    fn roots<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let roots = self
            .0
            .roots
            .iter()
            .map(|cid| PyCid::new_bound(py, *cid))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, roots)
    }
    #[getter]
    fn commit_cid<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCid>> {
        PyCid::new_bound(py, self.0.commit_cid)
    }
    /// The signed commit's bytes.
    #[getter]
    fn commit_block<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.0.commit_block())
    }
    #[getter]
    fn did(&self) -> &str {
        &self.0.did
    }
    #[getter]
    fn version(&self) -> u8 {
        self.0.version
    }
    #[getter]
    fn rev(&self) -> Option<&str> {
        self.0.rev.as_deref()
    }
    /// The tree's root (the commit's `data`).
    #[getter]
    fn data_cid<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCid>> {
        PyCid::new_bound(py, self.0.data)
    }
    #[getter]
    fn record_count(&self) -> usize {
        self.0.records.len()
    }
    #[getter]
    fn node_count(&self) -> usize {
        self.0.nodes.len()
    }
    /// `(path, record CID)` pairs `start..stop` in key order.
    fn records<'py>(
        &self,
        py: Python<'py>,
        start: usize,
        stop: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let items = window(&self.0.records, start, stop)
            .iter()
            .map(|(path, cid)| {
                Ok((
                    String::from_utf8_lossy(path).into_owned(),
                    PyCid::new_bound(py, *cid)?,
                ))
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }
    /// The number of distinct blocks of the tree.
    #[getter]
    fn block_count(&self) -> usize {
        self.0.tree.len()
    }
    /// `(CID bytes, block bytes, references)` for the tree's distinct blocks `start..stop`,
    /// in CID order (the order a store keyed by CID writes fastest), each with the number of
    /// references the tree holds to it (once per record path whose value it is, once more if
    /// it is a node).
    fn blocks<'py>(
        &self,
        py: Python<'py>,
        start: usize,
        stop: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let items = window(&self.0.tree, start, stop).iter().map(|(cid, refs)| {
            let data = self.0.block(cid).unwrap_or_default();
            (
                PyBytes::new(py, cid.as_bytes()),
                PyBytes::new(py, data),
                *refs,
            )
        });
        PyList::new(py, items)
    }
    /// `(path, record CID)` for the records whose block contains `needle`, in key order.
    fn records_containing<'py>(
        &self,
        py: Python<'py>,
        needle: &[u8],
    ) -> PyResult<Bound<'py, PyList>> {
        let found: Vec<&(Vec<u8>, crate::cid::Cid)> = py.detach(|| {
            self.0
                .records
                .iter()
                .filter(|(_, cid)| {
                    let data = self.0.block(cid).unwrap_or_default();
                    !needle.is_empty() && data.windows(needle.len()).any(|part| part == needle)
                })
                .collect()
        });
        let items = found
            .into_iter()
            .map(|(path, cid)| {
                Ok((
                    String::from_utf8_lossy(path).into_owned(),
                    PyCid::new_bound(py, *cid)?,
                ))
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }
    /// The bytes of a block of the CAR, or None.
    fn get<'py>(&self, py: Python<'py>, cid: PyRef<'py, PyCid>) -> Option<Bound<'py, PyBytes>> {
        self.0.block(&cid.0).map(|data| PyBytes::new(py, data))
    }
}

/// `items[start..stop]`, both bounds clamped to the slice (as Python slices are).
fn window<T>(items: &[T], start: usize, stop: usize) -> &[T] {
    let stop = stop.min(items.len());
    items.get(start.min(stop)..stop).unwrap_or_default()
}

/// Verifies a repository CAR (see `strato.repo.verify.read_repo`) with the GIL released;
/// raises `CommitVerificationError` with the failure's code.
#[pyfunction]
#[pyo3(signature = (data, *, check_records = false))]
pub fn repo_verify(data: &Bound<'_, PyAny>, check_records: bool) -> PyResult<PyRepoCar> {
    let py = data.py();
    let input = Input::extract(data)?;
    let bytes: &[u8] = &input;
    let verified = py.detach(|| repo::verify(bytes.to_vec(), check_records));
    verified
        .map(PyRepoCar)
        .map_err(|failure| commit_verification_error(failure.code.as_str(), &failure.reason))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRepoCar>()?;
    m.add_function(wrap_pyfunction!(repo_verify, m)?)?;
    Ok(())
}
