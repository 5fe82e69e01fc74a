//! Python bindings for the identifier formats: the boolean checks of `crate::syntax`, and
//! `IdentifierParser`, the native `__new__` of the `str`-based types in `strato.syntax`.
//!
//! Constructing a `str` subclass from Python code costs a Python-level `__new__` call on top
//! of the string copy; doing the check and the copy here, in one native call, is what makes
//! `RecordKey(text)` or `TID(text)` as cheap as a bare format check. The reasons for a failure
//! stay in Python (the `*_problem` functions): only the failing path calls them.

use super::errors::identifier_error;
use crate::syntax;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple, PyType};
use pyo3::{ffi, PyTypeInfo};
use std::sync::OnceLock;

type Check = fn(&str) -> bool;

/// The check for a lexicon format name.
fn check_for(format: &str) -> Option<Check> {
    Some(match format {
        "did" => syntax::is_did,
        "handle" => syntax::is_handle,
        "at-identifier" => syntax::is_at_identifier,
        "nsid" => syntax::is_nsid,
        "record-key" => syntax::is_record_key,
        "tid" => syntax::is_tid,
        "at-uri" => syntax::is_at_uri,
        "datetime" => syntax::is_datetime,
        _ => return None,
    })
}

/// Runs `check` on a Python string; a string that is not valid UTF-8 (lone surrogates) is
/// not a valid identifier of any kind.
fn run(check: Check, text: &Bound<'_, PyString>) -> bool {
    text.to_str().is_ok_and(check)
}

/// `str`'s `tp_new` slot, looked up once.
static STR_TP_NEW: OnceLock<ffi::newfunc> = OnceLock::new();

/// A new instance of `cls`, a subclass of `str`, holding `text`: what `str.__new__(cls, text)`
/// does, without the Python-level lookup and the argument reshuffling of the slot wrapper.
fn new_str_subclass<'py>(
    cls: &Bound<'py, PyType>,
    text: &Bound<'py, PyString>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = cls.py();
    let str_type = PyString::type_object(py);
    if !cls.is_subclass(&str_type)? {
        return Err(PyTypeError::new_err(
            "IdentifierParser builds str subclasses only",
        ));
    }
    let tp_new = *STR_TP_NEW.get_or_init(|| {
        // SAFETY: `str` is a ready static type; PyType_GetSlot reads its `tp_new`, which is
        // always set (str can be instantiated), and a non-null `tp_new` slot is a `newfunc`.
        unsafe {
            let slot = ffi::PyType_GetSlot(str_type.as_type_ptr(), ffi::Py_tp_new);
            assert!(!slot.is_null(), "str has a tp_new slot");
            std::mem::transmute::<*mut std::ffi::c_void, ffi::newfunc>(slot)
        }
    });
    let args = PyTuple::new(py, [text])?;
    // SAFETY: `cls` is a subtype of `str` (checked above), which is what str's `tp_new`
    // requires of its type argument; `args` is a tuple and the keywords may be null. The
    // result is a new reference or null with an exception set.
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            tp_new(cls.as_type_ptr(), args.as_ptr(), std::ptr::null_mut()),
        )
    }
}

/// `__new__` for one identifier type: `parser(cls, value)` returns `value` itself if it is
/// already a `cls`, a new `cls` holding the text (lowercased for handles) if it is valid, and
/// otherwise raises `IdentifierError` with the reason `explain(value)` gives.
#[pyclass(frozen, module = "strato._core", name = "IdentifierParser")]
pub struct PyIdentifierParser {
    check: Check,
    lowercase: bool,
    explain: Py<PyAny>,
}

#[pymethods]
impl PyIdentifierParser {
    #[new]
    #[pyo3(signature = (format, explain, *, lowercase=false))]
    fn new(format: &str, explain: Py<PyAny>, lowercase: bool) -> PyResult<Self> {
        let check = check_for(format).ok_or_else(|| {
            PyValueError::new_err(format!("no native check for format {format:?}"))
        })?;
        Ok(Self {
            check,
            lowercase,
            explain,
        })
    }

    fn __call__<'py>(
        &self,
        cls: &Bound<'py, PyType>,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = cls.py();
        if value.get_type().is(cls) {
            return Ok(value.clone());
        }
        let Ok(text) = value.cast::<PyString>() else {
            let name = value.get_type().name()?;
            return Err(PyTypeError::new_err(format!(
                "an identifier must be a str, not {name}"
            )));
        };
        let Some(valid) = text.to_str().ok().filter(|s| (self.check)(s)) else {
            let reason = self.explain.bind(py).call1((text,))?;
            let reason = if reason.is_none() {
                String::from("not valid")
            } else {
                reason.extract::<String>()?
            };
            return Err(identifier_error(&reason, &text.to_string_lossy()));
        };
        if self.lowercase && valid.bytes().any(|c| c.is_ascii_uppercase()) {
            new_str_subclass(cls, &PyString::new(py, &valid.to_ascii_lowercase()))
        } else {
            new_str_subclass(cls, text)
        }
    }
}

macro_rules! checks {
    ($($name:ident => $check:path,)*) => {
        $(
            #[doc = concat!("Whether `text` passes `", stringify!($check), "`.")]
            #[pyfunction]
            pub fn $name(text: &Bound<'_, PyString>) -> bool {
                run($check, text)
            }
        )*

        pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
            m.add_class::<PyIdentifierParser>()?;
            $(m.add_function(wrap_pyfunction!($name, m)?)?;)*
            Ok(())
        }
    };
}

checks! {
    syntax_is_did => syntax::is_did,
    syntax_is_handle => syntax::is_handle,
    syntax_is_at_identifier => syntax::is_at_identifier,
    syntax_is_nsid => syntax::is_nsid,
    syntax_is_record_key => syntax::is_record_key,
    syntax_is_tid => syntax::is_tid,
    syntax_is_at_uri => syntax::is_at_uri,
    syntax_is_datetime => syntax::is_datetime,
    syntax_is_datetime_syntax => syntax::is_datetime_syntax,
}
