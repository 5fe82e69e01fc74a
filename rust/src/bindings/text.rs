//! Python bindings for text measures used by lexicon validation.

use pyo3::prelude::*;

/// The number of extended grapheme clusters in `text`.
#[pyfunction]
pub fn grapheme_count(text: &str) -> usize {
    crate::text::grapheme_count(text)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(grapheme_count, m)?)
}
