//! Python bindings for TIDs: generate the next one, parse, build from parts.

use super::errors::identifier_error;
use crate::tid::Tid;
use pyo3::prelude::*;

/// The next TID from this process's monotonic clock, after `after` if given (a repo's last rev).
#[pyfunction]
#[pyo3(signature = (after=None))]
pub fn tid_next(after: Option<&str>) -> PyResult<String> {
    let after = after.map(parse).transpose()?;
    Tid::next(after).map(|tid| tid.to_string()).map_err(|e| {
        identifier_error(
            e.as_str(),
            after.map(|t| t.to_string()).as_deref().unwrap_or(""),
        )
    })
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
pub fn tid_from_parts(micros: &Bound<'_, PyAny>, clock_id: &Bound<'_, PyAny>) -> PyResult<String> {
    let range = || {
        pyo3::exceptions::PyValueError::new_err(
            "TID timestamp must fit 53 bits and clock id 10 bits",
        )
    };
    // Negative and huge integers are out of range too (a ValueError, not an OverflowError).
    let micros: u64 = micros.extract().map_err(|_| range())?;
    let clock_id: u16 = clock_id.extract().map_err(|_| range())?;
    if micros > crate::tid::MAX_MICROS || clock_id > crate::tid::MAX_CLOCK_ID {
        return Err(range());
    }
    Ok(Tid::new(micros, clock_id).to_string())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(tid_next, m)?)?;
    m.add_function(wrap_pyfunction!(tid_parse, m)?)?;
    m.add_function(wrap_pyfunction!(tid_from_parts, m)?)?;
    Ok(())
}
