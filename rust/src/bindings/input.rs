//! Byte inputs: `bytes` is borrowed without a copy; `bytearray`, `memoryview` and other
//! buffer-protocol objects are copied once (their contents could change under us otherwise).

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::ops::Deref;

/// The bytes of a Python argument.
pub enum Input<'py> {
    Borrowed(Bound<'py, PyBytes>),
    Owned(Vec<u8>),
}

impl<'py> Input<'py> {
    pub fn extract(obj: &Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(bytes) = obj.cast::<PyBytes>() {
            return Ok(Self::Borrowed(bytes.clone()));
        }
        let buffer = PyBuffer::<u8>::get(obj).map_err(|_| {
            pyo3::exceptions::PyTypeError::new_err(format!(
                "expected bytes, bytearray or memoryview, not {}",
                obj.get_type()
                    .name()
                    .map_or_else(|_| "object".into(), |n| n.to_string())
            ))
        })?;
        Ok(Self::Owned(buffer.to_vec(obj.py())?))
    }
}

impl Deref for Input<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Self::Borrowed(bytes) => bytes.as_bytes(),
            Self::Owned(vec) => vec,
        }
    }
}
