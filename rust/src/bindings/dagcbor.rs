//! DAG-CBOR and atproto JSON for Python values.
//!
//! Decoding builds Python objects straight from the bytes through a [`Sink`] (no intermediate
//! tree). Records repeat the same few keys and many short values (`$type`, languages), so map
//! keys come from a cache of interned strings and short text values from a second cache;
//! ASCII text is copied straight into new strings. Encoding walks the Python objects with
//! borrowed pointers and writes canonical bytes. Both hold the GIL: they create or read Python
//! objects at every step.

use super::cid::PyCid;
use super::errors::{data_model_error, encode_error};
use super::input::Input;
use crate::cid::{self, Cid};
use crate::dagcbor::{self, Decoder, Sink, MAX_DEPTH};
use crate::error::{CborReason, Error};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyFloat, PyList, PyString, PyTuple};
use std::sync::Mutex;

// ---------------------------------------------------------------------------------------------
// String caches

const CACHE_SLOTS: usize = 1024;
/// Keys up to this length are interned and cached.
const KEY_CACHE_MAX_LEN: usize = 64;
/// Text values up to this length are cached: `$type` NSIDs, languages, MIME types and DIDs
/// repeat across records, and a hit saves creating (and later freeing) a string.
const VALUE_CACHE_MAX_LEN: usize = 32;

/// A direct-mapped cache from UTF-8 bytes to Python strings.
struct StringCache {
    slots: Vec<Slot>,
    /// Admit a string on its first sighting (keys), or only on its second (values, so that
    /// unique strings such as timestamps never churn the cache).
    admit_first: bool,
}

/// One cache slot: the string it holds, and the hash of the last string that missed here.
#[derive(Default)]
struct Slot {
    entry: Option<CachedString>,
    pending: u64,
}

/// A cached string, with its bytes and their hash.
struct CachedString {
    hash: u64,
    text: Box<[u8]>,
    string: Py<PyString>,
}

/// The caches for map keys and for short text values.
struct Caches {
    keys: StringCache,
    values: StringCache,
}

static CACHES: Mutex<Option<Caches>> = Mutex::new(None);

impl StringCache {
    fn new(admit_first: bool) -> Self {
        Self {
            slots: std::iter::repeat_with(Slot::default)
                .take(CACHE_SLOTS)
                .collect(),
            admit_first,
        }
    }

    /// The cached string for `text` (borrowed from the cache), or `make`'s new one, which the
    /// cache may keep.
    fn get<'py>(
        &mut self,
        py: Python<'py>,
        text: &[u8],
        make: impl FnOnce() -> PyResult<Bound<'py, PyString>>,
    ) -> PyResult<Cached<'_, 'py>> {
        let hash = hash_text(text);
        // The mask keeps the index below CACHE_SLOTS (a power of two).
        #[allow(clippy::cast_possible_truncation)]
        let slot = &mut self.slots[hash as usize & (CACHE_SLOTS - 1)];
        let hit = matches!(&slot.entry, Some(e) if e.hash == hash && same_text(&e.text, text));
        if !hit {
            let string = make()?;
            if !self.admit_first && slot.pending != hash {
                slot.pending = hash;
                return Ok(Cached::Owned(string));
            }
            slot.entry = Some(CachedString {
                hash,
                text: text.into(),
                string: string.unbind(),
            });
        }
        let Some(entry) = &slot.entry else {
            unreachable!("the slot was filled above")
        };
        Ok(Cached::Borrowed(entry.string.bind_borrowed(py)))
    }
}

/// A string from the cache: borrowed from it, or a new one it did not keep.
enum Cached<'c, 'py> {
    Borrowed(Borrowed<'c, 'py, PyString>),
    Owned(Bound<'py, PyString>),
}

impl<'py> Cached<'_, 'py> {
    fn as_ptr(&self) -> *mut ffi::PyObject {
        match self {
            Self::Borrowed(string) => string.as_ptr(),
            Self::Owned(string) => string.as_ptr(),
        }
    }

    fn into_bound(self) -> Bound<'py, PyString> {
        match self {
            Self::Borrowed(string) => string.to_owned(),
            Self::Owned(string) => string,
        }
    }
}

/// Packs up to 8 bytes into a word without a call to `memcpy`. For two slices of the same
/// length the packing is injective (every byte lands in its own bits), so equal words mean
/// equal bytes; the overlapping reads are the usual short-input trick of fast hashes.
#[inline]
fn word(bytes: &[u8]) -> u64 {
    let len = bytes.len();
    match len {
        0 => 0,
        1..=3 => {
            u64::from(bytes[0]) | u64::from(bytes[len / 2]) << 8 | u64::from(bytes[len - 1]) << 16
        }
        4..=7 => {
            let low = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            let high = u32::from_le_bytes([
                bytes[len - 4],
                bytes[len - 3],
                bytes[len - 2],
                bytes[len - 1],
            ]);
            u64::from(low) | u64::from(high) << 32
        }
        _ => u64::from_le_bytes([
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
        ]),
    }
}

/// A fast non-cryptographic hash of short text, a word at a time (`FxHash`-style mixing).
#[inline]
fn hash_text(text: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut hash = (text.len() as u64).wrapping_mul(K);
    let mut chunks = text.chunks_exact(8);
    for chunk in &mut chunks {
        hash = (hash.rotate_left(5) ^ word(chunk)).wrapping_mul(K);
    }
    hash = (hash.rotate_left(5) ^ word(chunks.remainder())).wrapping_mul(K);
    hash ^ (hash >> 29)
}

/// Byte equality a word at a time (short strings: cheaper than a call to `memcmp`).
#[inline]
fn same_text(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && a.chunks(8)
            .zip(b.chunks(8))
            .all(|(x, y)| word(x) == word(y))
}

/// Builds Python objects.
struct PySink<'py, 'c> {
    py: Python<'py>,
    caches: Option<&'c mut Caches>,
}

fn invalid_utf8(offset: usize) -> PyErr {
    Error::cbor(offset, CborReason::InvalidUtf8).into()
}

unsafe extern "C" {
    /// `PyUnicode_New` is public CPython API with the same signature in every CPython 3
    /// release, though outside the limited API that abi3 declares; we declare it ourselves.
    fn PyUnicode_New(size: ffi::Py_ssize_t, maxchar: u32) -> *mut ffi::PyObject;
}

/// A new str from UTF-8 bytes.
///
/// ASCII (most record text: keys, NSIDs, DIDs, URIs, dates) is copied straight into a new
/// compact string, skipping CPython's decoder: `PyUnicode_AsUTF8AndSize` of a compact ASCII
/// string is its own character buffer, which may be filled before the string is shared.
/// Anything else goes through `PyUnicode_FromStringAndSize`, whose strict decoder rejects
/// exactly what `str::from_utf8` rejects.
fn new_string<'py>(py: Python<'py>, text: &[u8], offset: usize) -> PyResult<Bound<'py, PyString>> {
    let len = ffi::Py_ssize_t::try_from(text.len()).map_err(|_| invalid_utf8(offset))?;
    if !text.is_empty() && text.is_ascii() {
        // SAFETY: the GIL is held; a new string of `len` ASCII characters (or NULL and an
        // error, e.g. out of memory).
        let string = unsafe { Bound::from_owned_ptr_or_err(py, PyUnicode_New(len, 127))? };
        let mut size: ffi::Py_ssize_t = 0;
        // SAFETY: `string` is a live compact ASCII str; its UTF-8 form is its data buffer.
        let data = unsafe { ffi::PyUnicode_AsUTF8AndSize(string.as_ptr(), &raw mut size) };
        if data.is_null() || size != len {
            return Err(PyErr::fetch(py));
        }
        // SAFETY: `data` has room for `len` bytes; nothing else has seen the string yet.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), data.cast::<u8>().cast_mut(), text.len())
        };
        // SAFETY: `string` is a str.
        return Ok(unsafe { string.cast_into_unchecked() });
    }
    // SAFETY: the GIL is held; the pointer and length describe `text`.
    let ptr = unsafe { ffi::PyUnicode_FromStringAndSize(text.as_ptr().cast(), len) };
    if ptr.is_null() {
        drop(PyErr::take(py));
        return Err(invalid_utf8(offset));
    }
    // SAFETY: a non-null new reference to a str.
    Ok(unsafe { Bound::from_owned_ptr(py, ptr).cast_into_unchecked() })
}

impl<'py> PySink<'py, '_> {
    /// Inserts `value` into `map` under the string for `key` (interned, from the cache when
    /// possible: no reference of our own is taken on a cached key).
    fn insert(
        &mut self,
        map: &Bound<'py, PyAny>,
        key: &[u8],
        offset: usize,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<()> {
        let py = self.py;
        let make = || -> PyResult<Bound<'py, PyString>> {
            let text = std::str::from_utf8(key).map_err(|_| invalid_utf8(offset))?;
            Ok(PyString::intern(py, text))
        };
        let key = match self.caches.as_deref_mut() {
            Some(caches) if key.len() <= KEY_CACHE_MAX_LEN => caches.keys.get(py, key, make)?,
            _ => Cached::Owned(make()?),
        };
        // SAFETY: `map` is a dict, `key` a live str; PyDict_SetItem takes its own references.
        let status = unsafe { ffi::PyDict_SetItem(map.as_ptr(), key.as_ptr(), value.as_ptr()) };
        if status == 0 {
            Ok(())
        } else {
            Err(PyErr::fetch(py))
        }
    }
}

impl<'a, 'py> Sink<'a> for PySink<'py, '_> {
    type Value = Bound<'py, PyAny>;
    type List = Bound<'py, PyAny>;
    type Map = Bound<'py, PyAny>;
    type Error = PyErr;

    fn null(&mut self) -> PyResult<Self::Value> {
        Ok(self.py.None().into_bound(self.py))
    }

    fn bool(&mut self, value: bool) -> PyResult<Self::Value> {
        Ok(pyo3::types::PyBool::new(self.py, value)
            .to_owned()
            .into_any())
    }

    fn int(&mut self, value: i64) -> PyResult<Self::Value> {
        // SAFETY: the GIL is held; the result is a new reference or NULL with an error set.
        unsafe { Bound::from_owned_ptr_or_err(self.py, ffi::PyLong_FromLongLong(value)) }
    }

    fn bytes(&mut self, value: &'a [u8]) -> PyResult<Self::Value> {
        Ok(PyBytes::new(self.py, value).into_any())
    }

    fn text(&mut self, value: &'a [u8], offset: usize) -> PyResult<Self::Value> {
        let py = self.py;
        let make = || new_string(py, value, offset);
        let string = match self.caches.as_deref_mut() {
            Some(caches) if value.len() <= VALUE_CACHE_MAX_LEN => {
                caches.values.get(py, value, make)?.into_bound()
            }
            _ => make()?,
        };
        Ok(string.into_any())
    }

    fn link(&mut self, cid: Cid) -> PyResult<Self::Value> {
        Ok(PyCid::new_bound(self.py, cid)?.into_any())
    }

    fn list_begin(&mut self, len: usize) -> PyResult<Self::List> {
        let len = ffi::Py_ssize_t::try_from(len)
            .map_err(|_| pyo3::exceptions::PyMemoryError::new_err("list too long"))?;
        // SAFETY: the GIL is held; a new list whose slots are filled by `list_push`. A list
        // dropped half-filled is fine: CPython frees NULL slots.
        unsafe { Bound::from_owned_ptr_or_err(self.py, ffi::PyList_New(len)) }
    }

    fn list_push(
        &mut self,
        list: &mut Self::List,
        index: usize,
        value: Self::Value,
    ) -> PyResult<()> {
        // `index` is below the length the list was created with, itself a Py_ssize_t.
        #[allow(clippy::cast_possible_wrap)]
        let index = index as ffi::Py_ssize_t;
        // SAFETY: `list` is a list of the right length; PyList_SetItem steals `value`.
        let status = unsafe { ffi::PyList_SetItem(list.as_ptr(), index, value.into_ptr()) };
        if status == 0 {
            Ok(())
        } else {
            Err(PyErr::fetch(self.py))
        }
    }

    fn list_end(&mut self, list: Self::List) -> PyResult<Self::Value> {
        Ok(list)
    }

    fn map_begin(&mut self, _len: usize) -> PyResult<Self::Map> {
        Ok(PyDict::new(self.py).into_any())
    }

    fn map_insert(
        &mut self,
        map: &mut Self::Map,
        key: &'a [u8],
        key_offset: usize,
        value: Self::Value,
    ) -> PyResult<()> {
        self.insert(map, key, key_offset, &value)
    }

    fn map_end(&mut self, map: Self::Map) -> PyResult<Self::Value> {
        Ok(map)
    }
}

/// Runs `f` with a sink, borrowing the string caches when no other thread holds them.
fn with_sink<'py, T>(py: Python<'py>, f: impl FnOnce(&mut PySink<'py, '_>) -> T) -> T {
    // try_lock, never lock: object creation can run a finalizer that re-enters decode on this
    // thread or lets another thread take the GIL; neither may wait on the cache.
    match CACHES.try_lock() {
        Ok(mut guard) => {
            let caches = guard.get_or_insert_with(|| Caches {
                keys: StringCache::new(true),
                values: StringCache::new(false),
            });
            f(&mut PySink {
                py,
                caches: Some(caches),
            })
        }
        Err(_) => f(&mut PySink { py, caches: None }),
    }
}

/// Decodes one DAG-CBOR value that fills `data`, strictly.
#[pyfunction]
pub fn decode_dag_cbor<'py>(data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = data.py();
    let input = Input::extract(data)?;
    with_sink(py, |sink| dagcbor::decode_with(&input, sink))
}

/// Decodes concatenated DAG-CBOR values (an event-stream frame is a header and a body).
#[pyfunction]
pub fn decode_dag_cbor_multi<'py>(data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    let py = data.py();
    let input = Input::extract(data)?;
    let values = with_sink(py, |sink| {
        let mut decoder = Decoder::new(&input);
        let mut values = Vec::new();
        while !decoder.is_done() {
            values.push(decoder.decode(sink)?);
        }
        Ok::<_, PyErr>(values)
    })?;
    PyList::new(py, values)
}

// ---------------------------------------------------------------------------------------------
// Paths for error messages

/// Where in a value an error happened, built while unwinding.
enum Step {
    Key(String),
    Index(usize),
}

struct Failure {
    reason: String,
    steps: Vec<Step>,
}

impl Failure {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            steps: Vec::new(),
        }
    }

    fn at(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    fn path(&self) -> String {
        let mut path = String::from("$");
        for step in self.steps.iter().rev() {
            match step {
                Step::Key(key) => {
                    path.push('.');
                    path.push_str(key);
                }
                Step::Index(index) => path.push_str(&format!("[{index}]")),
            }
        }
        path
    }
}

type Walk<T> = Result<T, Failure>;

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "object".into(), |name| name.to_string())
}

fn unsupported(obj: &Bound<'_, PyAny>) -> Failure {
    if obj.is_instance_of::<PyFloat>() {
        Failure::new(CborReason::Float.as_str())
    } else {
        Failure::new(format!("unsupported type: {}", type_name(obj)))
    }
}

fn too_deep() -> Failure {
    Failure::new(CborReason::TooDeep.as_str())
}

/// The UTF-8 bytes of a str.
///
/// # Safety
/// `ptr` must be a live str that outlives `'a` (CPython caches the UTF-8 form in the object).
unsafe fn utf8_of<'a>(py: Python<'_>, ptr: *mut ffi::PyObject) -> Walk<&'a [u8]> {
    let mut len: ffi::Py_ssize_t = 0;
    // SAFETY: `ptr` is a live str (caller's contract).
    let data = unsafe { ffi::PyUnicode_AsUTF8AndSize(ptr, &raw mut len) };
    if data.is_null() {
        drop(PyErr::take(py));
        return Err(Failure::new("string contains a lone surrogate"));
    }
    // SAFETY: CPython guarantees `len` valid bytes at `data`, kept alive by the str.
    Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len.unsigned_abs()) })
}

fn int_of(obj: &Bound<'_, PyAny>) -> Walk<i64> {
    // SAFETY: `obj` is an int (checked by the caller).
    let value = unsafe { ffi::PyLong_AsLongLong(obj.as_ptr()) };
    if value == -1 && PyErr::take(obj.py()).is_some() {
        return Err(Failure::new(CborReason::IntegerRange.as_str()));
    }
    Ok(value)
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// A dict entry waiting to be written: the key's UTF-8 and a borrowed pointer to the value.
type Entry = (*const u8, usize, *mut ffi::PyObject);

/// The Python types the encoder tells apart.
enum Kind {
    Null,
    Link,
    Bytes,
    Str,
    Dict,
    True,
    False,
    Int,
    List,
    Tuple,
    Other,
}

/// Writes canonical DAG-CBOR for Python objects.
///
/// Walks with borrowed pointers (no reference counting per item: nothing runs Python code
/// while it walks, so the containers cannot change under it), and sorts each dict's keys in
/// one scratch vector shared by the whole walk.
struct Encoder<'py> {
    py: Python<'py>,
    /// The type object of `strato.CID`, for dispatch by pointer.
    cid_type: *mut ffi::PyTypeObject,
    out: Vec<u8>,
    scratch: Vec<Entry>,
}

impl<'py> Encoder<'py> {
    /// # Safety
    /// `ptr` must be a live object, kept alive by the caller for the whole call.
    unsafe fn value(&mut self, ptr: *mut ffi::PyObject, depth: usize) -> Walk<()> {
        // SAFETY: `ptr` is live (caller's contract); the GIL is held.
        let obj = unsafe { Borrowed::from_ptr(self.py, ptr) };
        // Exact types first, by pointer: no call into the interpreter. Subclasses (an
        // OrderedDict, an IntEnum) take the flag checks below.
        // SAFETY: `ptr` is live; reading its type and the static type objects is sound.
        let ty = unsafe { ffi::Py_TYPE(ptr) };
        let kind = unsafe {
            if ty == &raw mut ffi::PyUnicode_Type {
                Kind::Str
            } else if ty == &raw mut ffi::PyDict_Type {
                Kind::Dict
            } else if ty == &raw mut ffi::PyLong_Type {
                Kind::Int
            } else if ty == &raw mut ffi::PyList_Type {
                Kind::List
            } else if ptr == ffi::Py_True() {
                Kind::True
            } else if ptr == ffi::Py_False() {
                Kind::False
            } else if ptr == ffi::Py_None() {
                Kind::Null
            } else if ty == self.cid_type {
                Kind::Link
            } else if ty == &raw mut ffi::PyBytes_Type {
                Kind::Bytes
            } else if ffi::PyUnicode_Check(ptr) != 0 {
                Kind::Str
            } else if ffi::PyDict_Check(ptr) != 0 {
                Kind::Dict
            } else if ffi::PyLong_Check(ptr) != 0 {
                Kind::Int
            } else if ffi::PyList_Check(ptr) != 0 {
                Kind::List
            } else if ffi::PyTuple_Check(ptr) != 0 {
                Kind::Tuple
            } else {
                Kind::Other
            }
        };
        match kind {
            // SAFETY: a live str, alive for the whole walk.
            Kind::Str => dagcbor::write_str(&mut self.out, unsafe { utf8_of(self.py, ptr) }?),
            Kind::Dict => {
                if depth >= MAX_DEPTH {
                    return Err(too_deep());
                }
                // SAFETY: a live dict.
                unsafe { self.map(ptr, depth) }?;
            }
            Kind::True => self.out.push(dagcbor::TRUE),
            Kind::False => self.out.push(dagcbor::FALSE),
            Kind::Int => dagcbor::write_int(&mut self.out, int_of(&obj)?),
            // SAFETY: a live list / tuple.
            Kind::List => {
                unsafe { self.sequence(ptr, depth, ffi::PyList_Size, ffi::PyList_GetItem) }?
            }
            Kind::Tuple => {
                unsafe { self.sequence(ptr, depth, ffi::PyTuple_Size, ffi::PyTuple_GetItem) }?
            }
            Kind::Null => self.out.push(dagcbor::NULL),
            Kind::Link | Kind::Bytes | Kind::Other => self.other(&obj)?,
        }
        Ok(())
    }

    /// Bytes (a subclass too), CID, or an error.
    fn other(&mut self, obj: &Bound<'py, PyAny>) -> Walk<()> {
        if let Ok(bytes) = obj.cast::<PyBytes>() {
            dagcbor::write_bytes(&mut self.out, bytes.as_bytes());
        } else if let Ok(cid) = obj.cast::<PyCid>() {
            dagcbor::write_link(&mut self.out, &cid.get().0);
        } else {
            return Err(unsupported(obj));
        }
        Ok(())
    }

    /// # Safety
    /// `ptr` must be a live list or tuple matching `size` and `get` (which return borrowed
    /// references).
    unsafe fn sequence(
        &mut self,
        ptr: *mut ffi::PyObject,
        depth: usize,
        size: unsafe extern "C" fn(*mut ffi::PyObject) -> ffi::Py_ssize_t,
        get: unsafe extern "C" fn(*mut ffi::PyObject, ffi::Py_ssize_t) -> *mut ffi::PyObject,
    ) -> Walk<()> {
        if depth >= MAX_DEPTH {
            return Err(too_deep());
        }
        // SAFETY: a live sequence of the matching type.
        let len = unsafe { size(ptr) };
        dagcbor::write_head(
            &mut self.out,
            dagcbor::MAJOR_ARRAY,
            len.unsigned_abs() as u64,
        );
        for index in 0..len {
            // SAFETY: index in bounds; the item is borrowed from the live sequence.
            let item = unsafe { get(ptr, index) };
            // SAFETY: the sequence keeps `item` alive.
            unsafe { self.value(item, depth + 1) }
                .map_err(|f| f.at(Step::Index(index.unsigned_abs())))?;
        }
        Ok(())
    }

    /// # Safety
    /// `ptr` must be a live dict.
    unsafe fn map(&mut self, ptr: *mut ffi::PyObject, depth: usize) -> Walk<()> {
        let start = self.scratch.len();
        let mut pos: ffi::Py_ssize_t = 0;
        let mut key: *mut ffi::PyObject = std::ptr::null_mut();
        let mut value: *mut ffi::PyObject = std::ptr::null_mut();
        // SAFETY: iterating a live dict with borrowed key/value pointers.
        while unsafe { ffi::PyDict_Next(ptr, &raw mut pos, &raw mut key, &raw mut value) } != 0 {
            // SAFETY: `key` is a live borrowed object.
            if unsafe { ffi::PyUnicode_Check(key) } == 0 {
                self.scratch.truncate(start);
                return Err(Failure::new(CborReason::KeyNotString.as_str()));
            }
            // SAFETY: a live str key, kept alive by the dict for the whole walk.
            let text = unsafe { utf8_of(self.py, key) };
            let text = match text {
                Ok(text) => text,
                Err(failure) => {
                    self.scratch.truncate(start);
                    return Err(failure);
                }
            };
            self.scratch.push((text.as_ptr(), text.len(), value));
        }
        let count = self.scratch.len() - start;
        // SAFETY: each (ptr, len) is the UTF-8 buffer cached in a key the dict keeps alive.
        let key_of = |e: &Entry| unsafe { std::slice::from_raw_parts(e.0, e.1) };
        self.scratch[start..].sort_unstable_by(|a, b| dagcbor::key_cmp(key_of(a), key_of(b)));
        dagcbor::write_head(&mut self.out, dagcbor::MAJOR_MAP, count as u64);
        let mut result = Ok(());
        for index in start..start + count {
            let entry = self.scratch[index];
            let key = key_of(&entry);
            dagcbor::write_str(&mut self.out, key);
            // SAFETY: the dict keeps the value alive.
            if let Err(failure) = unsafe { self.value(entry.2, depth + 1) } {
                result = Err(failure.at(Step::Key(String::from_utf8_lossy(key).into_owned())));
                break;
            }
        }
        self.scratch.truncate(start);
        result
    }
}

/// Encodes a data-model value as canonical DAG-CBOR.
#[pyfunction]
pub fn encode_dag_cbor<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let py = obj.py();
    // Reuse the output buffer of earlier calls (try_lock: see `with_sink`): one allocation
    // less per call.
    let mut reused = ENCODE_BUFFER.try_lock();
    let out = reused
        .as_deref_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    let mut encoder = Encoder {
        py,
        cid_type: <PyCid as pyo3::PyTypeInfo>::type_object_raw(py),
        out,
        scratch: Vec::new(),
    };
    encoder.out.clear();
    // SAFETY: `obj` is alive for the whole call.
    let result = unsafe { encoder.value(obj.as_ptr(), 0) };
    let bytes = PyBytes::new(py, &encoder.out);
    // Keep a modest buffer only: one huge value must not pin its memory.
    if let Ok(slot) = reused.as_deref_mut() {
        if encoder.out.capacity() <= 1 << 20 {
            *slot = encoder.out;
        }
    }
    result.map_err(|f| encode_error(&f.reason, &f.path()))?;
    Ok(bytes)
}

/// The output buffer kept between encode calls.
static ENCODE_BUFFER: Mutex<Vec<u8>> = Mutex::new(Vec::new());

// ---------------------------------------------------------------------------------------------
// atproto JSON

fn single_entry<'py>(dict: &Bound<'py, PyDict>, key: &str) -> Option<Bound<'py, PyAny>> {
    if dict.len() == 1 {
        dict.get_item(key).ok().flatten()
    } else {
        None
    }
}

/// A list or tuple converted item by item into a new list.
fn convert_list<'py>(
    obj: &Bound<'py, PyAny>,
    depth: usize,
    convert: fn(&Bound<'py, PyAny>, usize) -> Walk<Bound<'py, PyAny>>,
) -> Walk<Bound<'py, PyAny>> {
    if depth >= MAX_DEPTH {
        return Err(too_deep());
    }
    let fail = |_| Failure::new("could not build list");
    let mut items = Vec::new();
    for (index, item) in obj.try_iter().map_err(fail)?.enumerate() {
        let item = item.map_err(fail)?;
        items.push(convert(&item, depth + 1).map_err(|f| f.at(Step::Index(index)))?);
    }
    Ok(PyList::new(obj.py(), items).map_err(fail)?.into_any())
}

/// `None`, strings and 64-bit integers (bools included) are the same in both forms.
fn pass_scalar<'py>(obj: &Bound<'py, PyAny>) -> Walk<Bound<'py, PyAny>> {
    if obj.is_none() || obj.is_instance_of::<PyString>() {
        Ok(obj.clone())
    } else if obj.is_instance_of::<pyo3::types::PyInt>() {
        int_of(obj)?;
        Ok(obj.clone())
    } else {
        Err(unsupported(obj))
    }
}

fn to_json_value<'py>(obj: &Bound<'py, PyAny>, depth: usize) -> Walk<Bound<'py, PyAny>> {
    let py = obj.py();
    let fail = |_| Failure::new("could not build JSON value");
    if let Ok(dict) = obj.cast::<PyDict>() {
        if depth >= MAX_DEPTH {
            return Err(too_deep());
        }
        let out = PyDict::new(py);
        for (key, value) in dict.iter() {
            if !key.is_instance_of::<PyString>() {
                return Err(Failure::new(CborReason::KeyNotString.as_str()));
            }
            let converted =
                to_json_value(&value, depth + 1).map_err(|f| f.at(Step::Key(key.to_string())))?;
            out.set_item(key, converted).map_err(fail)?;
        }
        Ok(out.into_any())
    } else if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        convert_list(obj, depth, to_json_value)
    } else if let Ok(bytes) = obj.cast::<PyBytes>() {
        let text = data_encoding::BASE64_NOPAD.encode(bytes.as_bytes());
        let out = PyDict::new(py);
        out.set_item("$bytes", text).map_err(fail)?;
        Ok(out.into_any())
    } else if let Ok(cid) = obj.cast::<PyCid>() {
        let out = PyDict::new(py);
        out.set_item("$link", cid.get().0.to_string())
            .map_err(fail)?;
        Ok(out.into_any())
    } else {
        pass_scalar(obj)
    }
}

/// Converts a data-model value to its atproto JSON form (`$bytes`, `$link`).
#[pyfunction]
pub fn dag_cbor_to_json<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    to_json_value(obj, 0).map_err(|f| encode_error(&f.reason, &f.path()))
}

fn link_from_json<'py>(dict: &Bound<'py, PyDict>) -> Walk<Bound<'py, PyAny>> {
    let invalid = || Failure::new("invalid $link object");
    let value = single_entry(dict, "$link").ok_or_else(invalid)?;
    let text = value.cast::<PyString>().map_err(|_| invalid())?;
    let cid = Cid::parse(text.to_str().map_err(|_| invalid())?).map_err(|_| invalid())?;
    Ok(PyCid::new_bound(dict.py(), cid)
        .map_err(|_| invalid())?
        .into_any())
}

fn bytes_from_json<'py>(dict: &Bound<'py, PyDict>) -> Walk<Bound<'py, PyAny>> {
    let invalid = || Failure::new("invalid $bytes object");
    let value = single_entry(dict, "$bytes").ok_or_else(invalid)?;
    let text = value.cast::<PyString>().map_err(|_| invalid())?;
    let text = text.to_str().map_err(|_| invalid())?.trim_end_matches('=');
    let bytes = data_encoding::BASE64_NOPAD
        .decode(text.as_bytes())
        .map_err(|_| invalid())?;
    Ok(PyBytes::new(dict.py(), &bytes).into_any())
}

/// Checks `$type` and, for `{"$type": "blob"}`, the blob's fields (after conversion).
fn check_typed_object(dict: &Bound<'_, PyDict>) -> Walk<()> {
    let Some(kind) = dict.get_item("$type").ok().flatten() else {
        return Ok(());
    };
    let kind = kind
        .cast::<PyString>()
        .ok()
        .and_then(|s| s.to_str().ok().map(str::to_owned))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            Failure::new("$type must be a non-empty string").at(Step::Key("$type".into()))
        })?;
    if kind != "blob" {
        return Ok(());
    }
    let field = |name: &str| dict.get_item(name).ok().flatten();
    let blob_ref = field("ref").and_then(|r| r.cast::<PyCid>().ok().map(|c| c.get().0));
    if !blob_ref.is_some_and(|c| c.codec() == cid::RAW && c.is_blessed()) {
        return Err(Failure::new("blob ref must be a raw CID link").at(Step::Key("ref".into())));
    }
    let mime_ok = field("mimeType")
        .and_then(|m| {
            m.cast::<PyString>()
                .ok()
                .and_then(|s| s.to_str().ok().map(|s| !s.is_empty()))
        })
        .unwrap_or(false);
    if !mime_ok {
        return Err(Failure::new("blob mimeType must be a non-empty string")
            .at(Step::Key("mimeType".into())));
    }
    let size_ok = field("size")
        .filter(|s| {
            s.is_instance_of::<pyo3::types::PyInt>() && !s.is_instance_of::<pyo3::types::PyBool>()
        })
        .and_then(|s| s.extract::<i64>().ok())
        .is_some_and(|s| s >= 0);
    if !size_ok {
        return Err(
            Failure::new("blob size must be a non-negative integer").at(Step::Key("size".into()))
        );
    }
    Ok(())
}

fn from_json_value<'py>(obj: &Bound<'py, PyAny>, depth: usize) -> Walk<Bound<'py, PyAny>> {
    let py = obj.py();
    let fail = |_| Failure::new("could not build value");
    if let Ok(dict) = obj.cast::<PyDict>() {
        if depth >= MAX_DEPTH {
            return Err(too_deep());
        }
        if dict.contains("$link").unwrap_or(false) {
            return link_from_json(dict);
        }
        if dict.contains("$bytes").unwrap_or(false) {
            return bytes_from_json(dict);
        }
        let out = PyDict::new(py);
        for (key, value) in dict.iter() {
            let Ok(name) = key.cast::<PyString>() else {
                return Err(Failure::new(CborReason::KeyNotString.as_str()));
            };
            let name = name
                .to_str()
                .map_err(|_| Failure::new("string contains a lone surrogate"))?;
            if name.is_empty() {
                return Err(Failure::new("map key must not be empty"));
            }
            let converted =
                from_json_value(&value, depth + 1).map_err(|f| f.at(Step::Key(name.to_owned())))?;
            out.set_item(&key, converted).map_err(fail)?;
        }
        check_typed_object(&out)?;
        Ok(out.into_any())
    } else if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        convert_list(obj, depth, from_json_value)
    } else if let Ok(float) = obj.cast::<PyFloat>() {
        let value = float.value();
        // Integer-like floats (123.0) are integers in the data model; the bounds are the
        // exactly representable edges of the i64 range.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::float_cmp,
            clippy::cast_precision_loss
        )]
        if value.is_finite()
            && value.fract() == 0.0
            && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&value)
        {
            let int = value as i64;
            return int
                .into_pyobject(py)
                .map(|i| i.into_any())
                .map_err(|e| match e {});
        }
        Err(Failure::new(CborReason::Float.as_str()))
    } else {
        pass_scalar(obj)
    }
}

/// Converts an atproto JSON value (as `json.loads` returns it) into a data-model value,
/// validating it: `$link` and `$bytes` objects, integer-like floats, `$type`, blobs.
#[pyfunction]
pub fn dag_cbor_from_json<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if !obj.is_instance_of::<PyDict>() {
        return Err(data_model_error("top-level value must be an object", "$"));
    }
    from_json_value(obj, 0).map_err(|f| data_model_error(&f.reason, &f.path()))
}
