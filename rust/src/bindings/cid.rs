//! `strato.CID`: an immutable, hashable CID value.

use super::errors::CIDError;
use super::gil::detach_with;
use super::input::Input;
use crate::cid::{self, Cid};
use crate::multibase::Base;
use pyo3::basic::CompareOp;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyString, PyTuple};

/// A content identifier (CIDv1, or a legacy CIDv0).
///
/// Build one with `CID.decode(text_or_bytes)` or `CID.compute(data, codec)`. `str(cid)` is the
/// base32 form atproto uses, `bytes(cid)` the binary form. CIDs compare and sort by their binary
/// form and can be dict keys.
#[pyclass(frozen, module = "strato._core", name = "CID")]
pub struct PyCid(pub Cid);

impl PyCid {
    pub fn new_bound(py: Python<'_>, cid: Cid) -> PyResult<Bound<'_, Self>> {
        let object = Bound::new(py, Self(cid))?;
        // pyo3 makes every class a GC type, but a CID holds no Python references and can be
        // in no cycle: untracking it keeps the collector from walking every CID of a decoded
        // repository.
        // SAFETY: a live, GC-tracked object that references no other Python object.
        unsafe { ffi::PyObject_GC_UnTrack(object.as_ptr().cast()) };
        Ok(object)
    }
}

#[pymethods]
impl PyCid {
    /// Parses a CID from a multibase string (or a `Qm...` CIDv0 string) or from binary bytes.
    #[staticmethod]
    fn decode(data: &Bound<'_, PyAny>) -> PyResult<Self> {
        if let Ok(text) = data.cast::<PyString>() {
            return Ok(Self(Cid::parse(text.to_str()?)?));
        }
        let bytes = Input::extract(data)?;
        Ok(Self(Cid::from_bytes(&bytes)?))
    }

    /// The CIDv1 of `data` hashed with sha2-256, for codec `"dag-cbor"` or `"raw"`.
    #[staticmethod]
    #[pyo3(signature = (data, codec = "dag-cbor"))]
    fn compute(py: Python<'_>, data: &Bound<'_, PyAny>, codec: &str) -> PyResult<Self> {
        let codec = match codec {
            "dag-cbor" => cid::DAG_CBOR,
            "raw" => cid::RAW,
            _ => return Err(CIDError::new_err(("unsupported codec",))),
        };
        let input = Input::extract(data)?;
        let bytes: &[u8] = &input;
        detach_with(py, bytes.len(), || Cid::compute(bytes, codec)).map(Self)
    }

    /// The string form: `"base32"` (default, what atproto uses) or another multibase name
    /// (`"base58btc"`, `"base16"`, `"base64"`, ...).
    #[pyo3(signature = (base = "base32"))]
    fn encode(&self, base: &str) -> PyResult<String> {
        let base = Base::from_name(base).ok_or_else(|| {
            pyo3::exceptions::PyValueError::new_err(format!("unknown multibase {base:?}"))
        })?;
        Ok(self.0.encode(base))
    }

    fn __str__(&self) -> String {
        self.0.to_string()
    }

    fn __repr__(&self) -> String {
        format!("CID('{}')", self.0)
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.0.as_bytes())
    }

    /// 1 for CIDv1, 0 for a legacy CIDv0.
    #[getter]
    fn version(&self) -> u8 {
        self.0.version()
    }

    /// The multicodec code of the content: 0x71 dag-cbor, 0x55 raw, 0x70 dag-pb, ...
    #[getter]
    fn codec(&self) -> u64 {
        self.0.codec()
    }

    /// The multihash function code: 0x12 for sha2-256.
    #[getter]
    fn hash_code(&self) -> u64 {
        self.0.hash_code()
    }

    /// The hash digest.
    #[getter]
    fn digest<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.0.digest())
    }

    /// Is this a CID atproto allows in commits and MST nodes (v1, dag-cbor or raw, sha2-256)?
    #[getter]
    fn is_blessed(&self) -> bool {
        self.0.is_blessed()
    }

    fn __hash__(&self) -> u64 {
        // The tail of a cryptographic digest is already uniformly distributed; mix in the
        // codec so a raw and a dag-cbor CID of the same bytes differ.
        let digest = self.0.digest();
        let mut word = [0u8; 8];
        let n = digest.len().min(8);
        word[..n].copy_from_slice(&digest[digest.len() - n..]);
        u64::from_le_bytes(word) ^ self.0.codec().rotate_left(32)
    }

    fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp) -> Py<PyAny> {
        let py = other.py();
        let Ok(other) = other.cast::<Self>() else {
            return py.NotImplemented();
        };
        let ordering = self.0.cmp(&other.get().0);
        PyBool::new(py, op.matches(ordering))
            .to_owned()
            .into_any()
            .unbind()
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let decode = slf.get_type().getattr("decode")?;
        let args = PyTuple::new(py, [PyBytes::new(py, slf.get().0.as_bytes())])?;
        PyTuple::new(py, [decode, args.into_any()])
    }

    fn __copy__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __deepcopy__<'py>(slf: Bound<'py, Self>, _memo: &Bound<'py, PyAny>) -> Bound<'py, Self> {
        slf
    }

    /// Multicodec code of DAG-CBOR.
    #[classattr]
    const DAG_CBOR: u64 = cid::DAG_CBOR;
    /// Multicodec code of raw bytes.
    #[classattr]
    const RAW: u64 = cid::RAW;
}
