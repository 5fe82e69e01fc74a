//! `Ipld`: the atproto data model as a Rust value (no floats, 64-bit signed integers).

use crate::cid::Cid;

/// One data-model value. Maps keep their entries in canonical (length-first) key order when
/// they come from the decoder; the encoder sorts them in any case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ipld {
    Null,
    Bool(bool),
    Integer(i64),
    Bytes(Vec<u8>),
    String(String),
    List(Vec<Ipld>),
    Map(Vec<(String, Ipld)>),
    Link(Cid),
}

impl Ipld {
    /// The value under `key`, if this is a map that has it.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Self> {
        match self {
            Self::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}
