//! Keys and signatures for Python: `PrivateKey`, `PublicKey`, and signature checks one at a time
//! or in batches spread over every core.
//!
//! Signing and verifying run with the GIL released: each costs 30-100 µs, releasing and taking
//! back the GIL well under 1 µs, and other Python threads can sign or verify meanwhile.

use super::input::Input;
use crate::crypto::{self, BatchItem, BatchKey, Curve, PrivateKey, PublicKey, VerifyFailure};
use pyo3::basic::CompareOp;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyString, PyTuple};

fn curve_arg(name: &str) -> PyResult<Curve> {
    Curve::from_name(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown curve {name:?} (expected \"k256\" or \"p256\")"
        ))
    })
}

/// A private key on secp256k1 ("k256") or P-256 ("p256").
///
/// `PrivateKey.generate()` makes a new one from the OS random source; `from_bytes` loads a
/// 32-byte big-endian scalar. The repr shows the public key only, and the object cannot be
/// pickled: the secret leaves only through `to_bytes()`.
#[pyclass(frozen, module = "strato._core", name = "PrivateKey")]
pub struct PyPrivateKey(PrivateKey);

#[pymethods]
impl PyPrivateKey {
    /// A new random key on `curve` ("k256" or "p256").
    #[staticmethod]
    #[pyo3(signature = (curve = "k256"))]
    fn generate(curve: &str) -> PyResult<Self> {
        Ok(Self(PrivateKey::generate(curve_arg(curve)?)))
    }

    /// The key with the 32-byte big-endian scalar `raw` on `curve`.
    #[staticmethod]
    fn from_bytes(raw: &Bound<'_, PyAny>, curve: &str) -> PyResult<Self> {
        let curve = curve_arg(curve)?;
        Ok(Self(PrivateKey::from_bytes(&Input::extract(raw)?, curve)?))
    }

    /// The 32-byte big-endian scalar: the secret itself.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.to_bytes())
    }

    /// The matching public key.
    #[getter]
    fn public_key(&self) -> PyPublicKey {
        PyPublicKey(self.0.public_key())
    }

    /// "k256" or "p256".
    #[getter]
    fn curve(&self) -> &'static str {
        self.0.curve().name()
    }

    /// The 64-byte `r || s` signature of the SHA-256 of `message`: deterministic (RFC 6979),
    /// always low-S.
    fn sign<'py>(&self, message: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        let py = message.py();
        let input = Input::extract(message)?;
        let bytes: &[u8] = &input;
        let signature = py.detach(|| self.0.sign(bytes));
        Ok(PyBytes::new(py, &signature))
    }

    fn __repr__(&self) -> String {
        format!(
            "PrivateKey(curve='{}', public_key='{}')",
            self.0.curve().name(),
            self.0.public_key().did_key()
        )
    }
}

/// A public key on secp256k1 ("k256") or P-256 ("p256"), parsed once for fast verification.
///
/// Build one from a did:key, a multikey, a DID document's `publicKeyMultibase` or SEC1 bytes.
/// Keys compare equal when they are the same point on the same curve and can be dict keys.
#[pyclass(frozen, module = "strato._core", name = "PublicKey")]
pub struct PyPublicKey(PublicKey);

#[pymethods]
impl PyPublicKey {
    /// Parses `did:key:z...`.
    #[staticmethod]
    fn from_did_key(did_key: &str) -> PyResult<Self> {
        Ok(Self(PublicKey::from_did_key(did_key)?))
    }

    /// Parses a multikey, `z...` (a did:key without `did:key:`).
    #[staticmethod]
    fn from_multikey(multikey: &str) -> PyResult<Self> {
        Ok(Self(PublicKey::from_multikey(multikey)?))
    }

    /// Parses a DID document's `publicKeyMultibase` for a key on `curve`: a multikey, or the
    /// legacy base58btc of the uncompressed point (or of the compressed point).
    #[staticmethod]
    fn from_multibase(value: &str, curve: &str) -> PyResult<Self> {
        let curve = curve_arg(curve)?;
        Ok(Self(PublicKey::from_multibase(value, curve)?))
    }

    /// Parses a SEC1 point: 33 bytes compressed or 65 bytes uncompressed.
    #[staticmethod]
    fn from_bytes(sec1: &Bound<'_, PyAny>, curve: &str) -> PyResult<Self> {
        let curve = curve_arg(curve)?;
        Ok(Self(PublicKey::from_sec1(&Input::extract(sec1)?, curve)?))
    }

    /// The `did:key:z...` form.
    fn did_key(&self) -> String {
        self.0.did_key()
    }

    /// The multikey form, `z...`.
    fn multikey(&self) -> String {
        self.0.multikey()
    }

    /// The SEC1 point: 33 bytes compressed (the default) or 65 bytes uncompressed.
    #[pyo3(signature = (compressed = true))]
    fn to_bytes<'py>(&self, py: Python<'py>, compressed: bool) -> Bound<'py, PyBytes> {
        if compressed {
            PyBytes::new(py, &self.0.compressed())
        } else {
            PyBytes::new(py, &self.0.uncompressed())
        }
    }

    /// "k256" or "p256".
    #[getter]
    fn curve(&self) -> &'static str {
        self.0.curve().name()
    }

    /// Is `signature` a valid 64-byte low-S `r || s` signature of the SHA-256 of `message`?
    /// False for any bad signature, DER-encoded and high-S ones included.
    fn verify(&self, message: &Bound<'_, PyAny>, signature: &Bound<'_, PyAny>) -> PyResult<bool> {
        let py = message.py();
        let message = Input::extract(message)?;
        let signature = Input::extract(signature)?;
        let (message, signature): (&[u8], &[u8]) = (&message, &signature);
        Ok(py.detach(|| self.0.verify(message, signature).is_ok()))
    }

    fn __repr__(&self) -> String {
        format!("PublicKey('{}')", self.0.did_key())
    }

    fn __hash__(&self) -> u64 {
        // The x coordinate of a public key is as good as random; mix in the curve.
        let compressed = self.0.compressed();
        let mut word = [0u8; 8];
        word.copy_from_slice(&compressed[1..9]);
        u64::from_le_bytes(word) ^ u64::from(compressed[0]) ^ u64::from(self.0.curve() as u8)
    }

    fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp) -> Py<PyAny> {
        let py = other.py();
        let Ok(other) = other.cast::<Self>() else {
            return py.NotImplemented();
        };
        let equal = self.0 == other.get().0;
        match op {
            CompareOp::Eq => PyBool::new(py, equal).to_owned().into_any().unbind(),
            CompareOp::Ne => PyBool::new(py, !equal).to_owned().into_any().unbind(),
            _ => py.NotImplemented(),
        }
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let from_did_key = slf.get_type().getattr("from_did_key")?;
        let args = PyTuple::new(py, [slf.get().0.did_key()])?;
        PyTuple::new(py, [from_did_key, args.into_any()])
    }
}

/// Does `signature` verify over `message` for the key of `did_key`? The key is parsed through
/// a process-wide cache of recently used keys; a malformed did:key raises `InvalidKeyError`,
/// any bad signature gives False.
#[pyfunction]
pub fn verify_signature(
    did_key: &Bound<'_, PyString>,
    message: &Bound<'_, PyAny>,
    signature: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let py = did_key.py();
    let did_key = did_key.to_str()?;
    let message = Input::extract(message)?;
    let signature = Input::extract(signature)?;
    let (message, signature): (&[u8], &[u8]) = (&message, &signature);
    match py.detach(|| crypto::verify_with_did_key(did_key, message, signature)) {
        Ok(()) => Ok(true),
        Err(VerifyFailure::Signature(_)) => Ok(false),
        Err(VerifyFailure::Key(err)) => Err(err.into()),
    }
}

/// The Python objects behind one batch item, kept alive while the core borrows from them.
enum HeldKey<'py> {
    DidKey(Bound<'py, PyString>),
    Key(Bound<'py, PyPublicKey>),
}

/// Verifies `(key, message, signature)` tuples, where `key` is a did:key string or a
/// `PublicKey`, on every core with the GIL released; one bool per item, in order. An item whose
/// did:key cannot be parsed is False.
#[pyfunction]
pub fn verify_signatures(items: &Bound<'_, PyAny>) -> PyResult<Vec<bool>> {
    let py = items.py();
    let mut held = Vec::with_capacity(items.len().unwrap_or(0));
    for item in items.try_iter()? {
        let (key, message, signature): (Bound<'_, PyAny>, Bound<'_, PyAny>, Bound<'_, PyAny>) =
            item?.extract()?;
        let key = if let Ok(did_key) = key.cast::<PyString>() {
            HeldKey::DidKey(did_key.clone())
        } else if let Ok(key) = key.cast::<PyPublicKey>() {
            HeldKey::Key(key.clone())
        } else {
            return Err(PyTypeError::new_err(
                "a key must be a did:key string or a PublicKey",
            ));
        };
        held.push((key, Input::extract(&message)?, Input::extract(&signature)?));
    }
    let batch = held
        .iter()
        .map(|(key, message, signature)| {
            Ok(BatchItem {
                key: match key {
                    HeldKey::DidKey(did_key) => BatchKey::DidKey(did_key.to_str()?),
                    HeldKey::Key(key) => BatchKey::Key(&key.get().0),
                },
                message,
                signature,
            })
        })
        .collect::<PyResult<Vec<_>>>()?;
    let results = py.detach(|| crypto::verify_batch(&batch));
    Ok(results.iter().map(Result::is_ok).collect())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPrivateKey>()?;
    m.add_class::<PyPublicKey>()?;
    m.add_function(wrap_pyfunction!(verify_signature, m)?)?;
    m.add_function(wrap_pyfunction!(verify_signatures, m)?)?;
    Ok(())
}
