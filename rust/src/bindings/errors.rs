//! The one mapping from core errors to the Python exception tree in `strato/errors.py`.

use crate::crypto::KeyError;
use crate::error::Error;
use pyo3::prelude::*;

pyo3::import_exception!(strato.errors, DecodeError);
pyo3::import_exception!(strato.errors, CIDError);
pyo3::import_exception!(strato.errors, CARError);
pyo3::import_exception!(strato.errors, DataModelError);
pyo3::import_exception!(strato.errors, EncodeError);
pyo3::import_exception!(strato.errors, InvalidKeyError);

impl From<Error> for PyErr {
    fn from(err: Error) -> Self {
        let reason = err.reason();
        match err {
            Error::DagCbor { offset, .. } => DecodeError::new_err((reason, offset)),
            Error::Cid { .. } => CIDError::new_err((reason,)),
            Error::Car { offset, .. } => CARError::new_err((reason, offset)),
        }
    }
}

impl From<KeyError> for PyErr {
    fn from(err: KeyError) -> Self {
        InvalidKeyError::new_err((err.as_str(),))
    }
}

/// A data-model error found while converting atproto JSON, at `path` (`$.a[2]`).
pub fn data_model_error(reason: &str, path: &str) -> PyErr {
    DataModelError::new_err((reason.to_owned(), None::<usize>, path.to_owned()))
}

/// A value that cannot be encoded, at `path`.
pub fn encode_error(reason: &str, path: &str) -> PyErr {
    EncodeError::new_err((reason.to_owned(), path.to_owned()))
}
