//! The Python module `strato._core`: the only place that imports pyo3.
//!
//! Thin wrappers over the core. Each call crosses the boundary once per unit of work (a record,
//! a frame, a CAR), and work that needs no Python objects runs with the GIL released
//! ([`gil::detach_with`]).

mod car;
mod cid;
mod crypto;
mod dagcbor;
mod errors;
mod fanout;
mod gil;
mod input;
mod mst;
mod repo;
mod sync;
mod syntax;
mod text;
mod tid;

use pyo3::prelude::*;

/// `"release"` or `"debug"`: benches refuse to measure a debug build.
const BUILD_PROFILE: &str = if cfg!(debug_assertions) {
    "debug"
} else {
    "release"
};

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("build_profile", BUILD_PROFILE)?;
    m.add("MAX_DEPTH", crate::dagcbor::MAX_DEPTH)?;
    m.add("DEFAULT_MAX_BLOCK_SIZE", crate::car::DEFAULT_MAX_BLOCK_SIZE)?;
    m.add_class::<cid::PyCid>()?;
    m.add_class::<car::PyCarStreamReader>()?;
    m.add_function(wrap_pyfunction!(dagcbor::encode_dag_cbor, m)?)?;
    m.add_function(wrap_pyfunction!(dagcbor::decode_dag_cbor, m)?)?;
    m.add_function(wrap_pyfunction!(dagcbor::decode_dag_cbor_multi, m)?)?;
    m.add_function(wrap_pyfunction!(dagcbor::dag_cbor_to_json, m)?)?;
    m.add_function(wrap_pyfunction!(dagcbor::dag_cbor_from_json, m)?)?;
    m.add_function(wrap_pyfunction!(car::read_car, m)?)?;
    m.add_function(wrap_pyfunction!(car::write_car, m)?)?;
    crypto::register(m)?;
    fanout::register(m)?;
    mst::register(m)?;
    repo::register(m)?;
    sync::register(m)?;
    syntax::register(m)?;
    text::register(m)?;
    tid::register(m)?;
    Ok(())
}
