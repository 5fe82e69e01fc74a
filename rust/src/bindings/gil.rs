//! Running core work with the GIL released.

use pyo3::marker::Ungil;
use pyo3::prelude::*;

/// Inputs shorter than this are processed without releasing the GIL: releasing and
/// re-acquiring it costs more than the work.
pub const DETACH_THRESHOLD: usize = 64 * 1024;

/// Runs `work` with the GIL released when `size` makes that worthwhile, converting its error
/// once.
pub fn detach_with<T, F>(py: Python<'_>, size: usize, work: F) -> PyResult<T>
where
    T: Ungil + Send,
    F: Ungil + Send + FnOnce() -> crate::Result<T>,
{
    let result = if size >= DETACH_THRESHOLD {
        py.detach(work)
    } else {
        work()
    };
    result.map_err(PyErr::from)
}
