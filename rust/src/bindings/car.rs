//! CAR files for Python: read a whole file, stream a large one, write one.

use super::cid::PyCid;
use super::gil::detach_with;
use super::input::Input;
use crate::car::{self, Options, StreamReader};
use crate::cid::Cid;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use std::collections::HashSet;

// The Python signatures spell the default out so that it shows in help() and the stubs.
const _: () = assert!(car::DEFAULT_MAX_BLOCK_SIZE == 2_000_000);

fn options(verify: bool, max_block_size: usize) -> Options {
    Options {
        verify,
        max_block_size,
    }
}

fn cid_list<'py>(py: Python<'py>, cids: &[Cid]) -> PyResult<Bound<'py, PyList>> {
    let items = cids
        .iter()
        .map(|c| PyCid::new_bound(py, *c))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// Reads a CAR v1 file held in memory: `(roots, {cid: block bytes})`.
///
/// With `verify` every block is hashed and checked against its CID, without the GIL: for a
/// large file on a second thread while this one builds the Python objects (the result is
/// dropped if a hash fails). Blocks may repeat (the first copy is kept; every copy is
/// checked). A block longer than `max_block_size` is an error.
#[pyfunction]
#[pyo3(signature = (data, verify = true, max_block_size = 2_000_000))]
pub fn read_car<'py>(
    data: &Bound<'py, PyAny>,
    verify: bool,
    max_block_size: usize,
) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyDict>)> {
    let py = data.py();
    let input = Input::extract(data)?;
    let bytes: &[u8] = &input;
    let (parsed, outcome) = detach_with(py, bytes.len(), || car::parse(bytes, max_block_size))?;
    if let Err(problem) = outcome {
        // Report a bad hash before the structural problem, if there is one.
        if verify {
            detach_with(py, bytes.len(), || car::verify_blocks(&parsed.blocks))?;
        }
        return Err(problem.into());
    }
    if !verify {
        return build(py, &parsed);
    }
    if !car::worth_parallel_verify(&parsed.blocks) {
        detach_with(py, bytes.len(), || car::verify_blocks(&parsed.blocks))?;
        return build(py, &parsed);
    }
    std::thread::scope(|scope| {
        let checker = scope.spawn(|| car::verify_blocks(&parsed.blocks));
        let built = build(py, &parsed);
        let verdict = py.detach(|| checker.join());
        verdict.unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        built
    })
}

/// The Python result of [`read_car`]: the roots, and the first copy of each block.
fn build<'py>(
    py: Python<'py>,
    parsed: &car::Car<'_>,
) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyDict>)> {
    let roots = cid_list(py, &parsed.roots)?;
    let blocks = PyDict::new(py);
    let mut seen: HashSet<Cid> = HashSet::with_capacity(parsed.blocks.len());
    for block in &parsed.blocks {
        if seen.insert(block.cid) {
            blocks.set_item(
                PyCid::new_bound(py, block.cid)?,
                PyBytes::new(py, block.data),
            )?;
        }
    }
    Ok((roots, blocks))
}

/// Writes a CAR v1 file: the header with `roots`, then each `(cid, bytes)` block in order.
#[pyfunction]
pub fn write_car<'py>(
    roots: &Bound<'py, PyAny>,
    blocks: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let py = roots.py();
    let roots: Vec<Cid> = roots
        .try_iter()?
        .map(|root| Ok(root?.cast::<PyCid>()?.get().0))
        .collect::<PyResult<_>>()?;
    let mut out = Vec::new();
    car::write_header(&roots, &mut out);
    for item in blocks.try_iter()? {
        let (cid, data): (Bound<'py, PyAny>, Bound<'py, PyAny>) = item?.extract()?;
        let cid = cid.cast::<PyCid>()?.get().0;
        car::write_block(&cid, &Input::extract(&data)?, &mut out);
    }
    Ok(PyBytes::new(py, &out))
}

/// An incremental CAR reader: feed it chunks of a file, get back the blocks they complete.
/// `strato.car.CarReader` drives it over a file.
#[pyclass(module = "strato._core", name = "CarStreamReader")]
pub struct PyCarStreamReader {
    inner: StreamReader,
}

#[pymethods]
impl PyCarStreamReader {
    #[new]
    #[pyo3(signature = (verify = true, max_block_size = 2_000_000))]
    fn new(verify: bool, max_block_size: usize) -> Self {
        Self {
            inner: StreamReader::new(options(verify, max_block_size)),
        }
    }

    /// The roots, once the header has been fed; `None` before.
    #[getter]
    fn roots<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        self.inner
            .roots()
            .map(|roots| cid_list(py, roots))
            .transpose()
    }

    /// Adds a chunk; returns the `(cid, bytes)` blocks it completes, in file order.
    fn feed<'py>(
        &mut self,
        py: Python<'py>,
        chunk: &Bound<'py, PyAny>,
    ) -> PyResult<Vec<(Bound<'py, PyCid>, Bound<'py, PyBytes>)>> {
        let input = Input::extract(chunk)?;
        let bytes: &[u8] = &input;
        let inner = &mut self.inner;
        let blocks = detach_with(py, bytes.len(), || inner.feed(bytes))?;
        blocks
            .iter()
            .map(|block| {
                Ok((
                    PyCid::new_bound(py, block.cid)?,
                    PyBytes::new(py, block.data),
                ))
            })
            .collect()
    }

    /// Declares the end of the file: raises if it ended inside the header or a block.
    fn finish(&self) -> PyResult<()> {
        Ok(self.inner.finish()?)
    }
}
