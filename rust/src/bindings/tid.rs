//! Python bindings for TIDs: generate the next one, parse, build from parts.

use super::errors::identifier_error;
use crate::tid::Tid;
use pyo3::prelude::*;

/// The next TID from this process's monotonic clock, after `after` if given (a repo's last rev).
#[pyfunction]
#[pyo3(signature = (after=None))]
pub fn tid_next(after: Option<&str>) -> PyResult<String> {
    let after = after.map(parse).transpose()?;
    Ok(Tid::next(after).to_string())
}

fn parse(text: &str) -> PyResult<Tid> {
    Tid::parse(text).map_err(|e| identifier_error(e.as_str(), text))
}

/// `(microseconds since the epoch, clock id)` of a TID string.
#[pyfunction]
pub fn tid_parse(text: &str) -> PyResult<(u64, u16)> {
    let tid = parse(text)?;
    Ok((tid.micros(), tid.clock_id()))
}

/// The TID string for a timestamp (microseconds) and clock id (0-1023).
#[pyfunction]
pub fn tid_from_parts(micros: u64, clock_id: u16) -> PyResult<String> {
    if micros > crate::tid::MAX_MICROS || clock_id > crate::tid::MAX_CLOCK_ID {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "TID timestamp must fit 53 bits and clock id 10 bits",
        ));
    }
    Ok(Tid::new(micros, clock_id).to_string())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(tid_next, m)?)?;
    m.add_function(wrap_pyfunction!(tid_parse, m)?)?;
    m.add_function(wrap_pyfunction!(tid_from_parts, m)?)?;
    Ok(())
}
