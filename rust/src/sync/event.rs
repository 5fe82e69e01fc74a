//! The `#commit` and `#sync` payloads as verification reads them, decoded strictly from the
//! frame's second CBOR object. The CAR slice is borrowed from the payload, not copied.

use super::code::{ErrorCode, Failure};
use crate::cid::Cid;
use crate::dagcbor::{self, Sink};
use crate::error::{CborReason, Error};
use std::borrow::Cow;

/// One operation as the message states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventOp {
    pub action: String,
    pub path: String,
    pub cid: Option<Cid>,
    pub prev: Option<Cid>,
}

/// The fields of a `#commit` message that verification reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitEvent<'a> {
    pub repo: String,
    pub commit: Cid,
    pub rev: String,
    pub since: Option<String>,
    pub blocks: Cow<'a, [u8]>,
    pub ops: Vec<EventOp>,
    pub prev_data: Option<Cid>,
    pub too_big: bool,
    pub rebase: bool,
}

/// The fields of a `#sync` message that verification reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncEvent<'a> {
    pub did: String,
    pub rev: String,
    pub blocks: Cow<'a, [u8]>,
}

/// A data-model value borrowing its strings and bytes from the payload.
enum Value<'a> {
    Null,
    Bool(bool),
    Int,
    Text(&'a str),
    Bytes(&'a [u8]),
    Link(Cid),
    List(Vec<Value<'a>>),
    Map(Vec<(&'a str, Value<'a>)>),
}

struct ValueSink;

impl<'a> Sink<'a> for ValueSink {
    type Value = Value<'a>;
    type List = Vec<Value<'a>>;
    type Map = Vec<(&'a str, Value<'a>)>;
    type Error = Error;

    fn null(&mut self) -> Result<Value<'a>, Error> {
        Ok(Value::Null)
    }
    fn bool(&mut self, value: bool) -> Result<Value<'a>, Error> {
        Ok(Value::Bool(value))
    }
    fn int(&mut self, _: i64) -> Result<Value<'a>, Error> {
        Ok(Value::Int)
    }
    fn bytes(&mut self, value: &'a [u8]) -> Result<Value<'a>, Error> {
        Ok(Value::Bytes(value))
    }
    fn text(&mut self, value: &'a [u8], offset: usize) -> Result<Value<'a>, Error> {
        text(value, offset).map(Value::Text)
    }
    fn link(&mut self, cid: Cid) -> Result<Value<'a>, Error> {
        Ok(Value::Link(cid))
    }
    fn list_begin(&mut self, len: usize) -> Result<Vec<Value<'a>>, Error> {
        Ok(Vec::with_capacity(len))
    }
    fn list_push(
        &mut self,
        list: &mut Vec<Value<'a>>,
        _: usize,
        value: Value<'a>,
    ) -> Result<(), Error> {
        list.push(value);
        Ok(())
    }
    fn list_end(&mut self, list: Vec<Value<'a>>) -> Result<Value<'a>, Error> {
        Ok(Value::List(list))
    }
    fn map_begin(&mut self, len: usize) -> Result<Vec<(&'a str, Value<'a>)>, Error> {
        Ok(Vec::with_capacity(len))
    }
    fn map_insert(
        &mut self,
        map: &mut Vec<(&'a str, Value<'a>)>,
        key: &'a [u8],
        key_offset: usize,
        value: Value<'a>,
    ) -> Result<(), Error> {
        map.push((text(key, key_offset)?, value));
        Ok(())
    }
    fn map_end(&mut self, map: Vec<(&'a str, Value<'a>)>) -> Result<Value<'a>, Error> {
        Ok(Value::Map(map))
    }
}

fn text(bytes: &[u8], offset: usize) -> Result<&str, Error> {
    std::str::from_utf8(bytes).map_err(|_| Error::cbor(offset, CborReason::InvalidUtf8))
}

fn malformed(reason: impl Into<String>) -> Failure {
    Failure::new(ErrorCode::Malformed, reason)
}

/// The payload as a map, or why not.
fn fields(payload: &[u8]) -> Result<Vec<(&str, Value<'_>)>, Failure> {
    match dagcbor::decode_with(payload, &mut ValueSink).map_err(|e| malformed(e.to_string()))? {
        Value::Map(fields) => Ok(fields),
        _ => Err(malformed("the payload is not a map")),
    }
}

/// Decodes a `#commit` body (the frame's second CBOR object), borrowing its CAR slice.
///
/// # Errors
/// [`ErrorCode::Malformed`] for bad CBOR or a missing or mistyped field. Unknown fields and the
/// deprecated `blobs` (any value) are tolerated.
pub fn decode_commit_event(payload: &[u8]) -> Result<CommitEvent<'_>, Failure> {
    let mut repo = None;
    let mut commit = None;
    let mut rev = None;
    let mut since = None;
    let mut blocks = None;
    let mut ops = None;
    let mut prev_data = None;
    let mut too_big = false;
    let mut rebase = false;
    for (key, value) in fields(payload)? {
        match (key, value) {
            ("repo", Value::Text(s)) => repo = Some(s),
            ("commit", Value::Link(c)) => commit = Some(c),
            ("rev", Value::Text(s)) => rev = Some(s),
            ("since", Value::Text(s)) => since = Some(Some(s.to_owned())),
            ("since", Value::Null) => since = Some(None),
            ("blocks", Value::Bytes(b)) => blocks = Some(b),
            ("ops", Value::List(items)) => {
                ops = Some(
                    items
                        .into_iter()
                        .map(decode_op)
                        .collect::<Result<Vec<_>, _>>()?,
                );
            }
            ("prevData", Value::Link(c)) => prev_data = Some(c),
            ("prevData", Value::Null) => {}
            ("tooBig", Value::Bool(b)) => too_big = b,
            ("rebase", Value::Bool(b)) => rebase = b,
            (
                name @ ("repo" | "commit" | "rev" | "since" | "blocks" | "ops" | "prevData"
                | "tooBig" | "rebase"),
                _,
            ) => return Err(malformed(format!("field {name} has the wrong type"))),
            _ => {}
        }
    }
    Ok(CommitEvent {
        repo: repo.ok_or_else(|| malformed("missing repo"))?.to_owned(),
        commit: commit.ok_or_else(|| malformed("missing commit"))?,
        rev: rev.ok_or_else(|| malformed("missing rev"))?.to_owned(),
        since: since.ok_or_else(|| malformed("missing since"))?,
        blocks: Cow::Borrowed(blocks.ok_or_else(|| malformed("missing blocks"))?),
        ops: ops.ok_or_else(|| malformed("missing ops"))?,
        prev_data,
        too_big,
        rebase,
    })
}

fn decode_op(item: Value<'_>) -> Result<EventOp, Failure> {
    let Value::Map(fields) = item else {
        return Err(malformed("an op is not a map"));
    };
    let mut action = None;
    let mut path = None;
    let mut cid = None;
    let mut prev = None;
    for (key, value) in fields {
        match (key, value) {
            ("action", Value::Text(s)) => action = Some(s),
            ("path", Value::Text(s)) => path = Some(s),
            ("cid", Value::Link(c)) => cid = Some(Some(c)),
            ("cid", Value::Null) => cid = Some(None),
            ("prev", Value::Link(c)) => prev = Some(c),
            ("prev", Value::Null) => {}
            (name @ ("action" | "path" | "cid" | "prev"), _) => {
                return Err(malformed(format!("op field {name} has the wrong type")));
            }
            _ => {}
        }
    }
    Ok(EventOp {
        action: action
            .ok_or_else(|| malformed("op without action"))?
            .to_owned(),
        path: path.ok_or_else(|| malformed("op without path"))?.to_owned(),
        cid: cid.ok_or_else(|| malformed("op without cid"))?,
        prev,
    })
}

/// Decodes a `#sync` body, borrowing its CAR.
///
/// # Errors
/// [`ErrorCode::Malformed`] for bad CBOR or a missing or mistyped field.
pub fn decode_sync_event(payload: &[u8]) -> Result<SyncEvent<'_>, Failure> {
    let mut did = None;
    let mut rev = None;
    let mut blocks = None;
    for (key, value) in fields(payload)? {
        match (key, value) {
            ("did", Value::Text(s)) => did = Some(s),
            ("rev", Value::Text(s)) => rev = Some(s),
            ("blocks", Value::Bytes(b)) => blocks = Some(b),
            (name @ ("did" | "rev" | "blocks"), _) => {
                return Err(malformed(format!("field {name} has the wrong type")));
            }
            _ => {}
        }
    }
    Ok(SyncEvent {
        did: did.ok_or_else(|| malformed("missing did"))?.to_owned(),
        rev: rev.ok_or_else(|| malformed("missing rev"))?.to_owned(),
        blocks: Cow::Borrowed(blocks.ok_or_else(|| malformed("missing blocks"))?),
    })
}
