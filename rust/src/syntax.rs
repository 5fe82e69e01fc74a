//! Fast boolean checks for the atproto identifier formats (lexicon string formats).
//!
//! These are the hot-path checks behind `strato.syntax`: one byte-level pass each, no
//! allocation. They answer only "valid or not"; the Python module explains failures. Spec:
//! <https://atproto.com/specs/lexicon#string-formats> and the pages it links (`did`, `handle`,
//! `nsid`, `record-key`, `tid`, `at-uri-scheme`).
//!
//! Every check here must agree with the rule-by-rule explanation in `python/strato/syntax/`;
//! the Python tests compare the two on generated strings and on every interop fixture line.

use crate::tid::Tid;

/// Longest DID.
pub const MAX_DID: usize = 2048;
/// Longest handle.
pub const MAX_HANDLE: usize = 253;
/// Longest NSID.
pub const MAX_NSID: usize = 317;
/// Longest record key.
pub const MAX_RECORD_KEY: usize = 512;
/// Longest AT-URI.
pub const MAX_AT_URI: usize = 8192;
/// Longest datetime.
pub const MAX_DATETIME: usize = 64;

const fn is_did_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'%' | b'-')
}

/// `did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]`, at most 2048 characters.
#[must_use]
pub fn is_did(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() > MAX_DID || !b.starts_with(b"did:") {
        return false;
    }
    let rest = &b[4..];
    let Some(colon) = rest.iter().position(|&c| c == b':') else {
        return false;
    };
    let (method, ident) = (&rest[..colon], &rest[colon + 1..]);
    !method.is_empty()
        && method.iter().all(u8::is_ascii_lowercase)
        && ident.last().is_some_and(|&c| c != b':' && c != b'%')
        && ident.iter().all(|&c| is_did_char(c))
}

/// A DNS-style label: 1-63 of `[a-zA-Z0-9-]`, no hyphen at either end.
fn is_label(label: &[u8]) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label[0] != b'-'
        && label[label.len() - 1] != b'-'
        && label
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-')
}

/// Two or more labels, the last not starting with a digit, at most 253 characters.
#[must_use]
pub fn is_handle(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() > MAX_HANDLE {
        return false;
    }
    let mut labels = 0;
    let mut last: &[u8] = &[];
    for label in b.split(|&c| c == b'.') {
        if !is_label(label) {
            return false;
        }
        labels += 1;
        last = label;
    }
    labels >= 2 && !last[0].is_ascii_digit()
}

/// A DID if it starts with `did:`, else a handle.
#[must_use]
pub fn is_at_identifier(text: &str) -> bool {
    if text.starts_with("did:") {
        is_did(text)
    } else {
        is_handle(text)
    }
}

/// Three or more segments: authority labels (the first not starting with a digit) and a name
/// of 1-63 letters and digits not starting with a digit; at most 317 characters.
#[must_use]
pub fn is_nsid(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() > MAX_NSID {
        return false;
    }
    let Some(dot) = b.iter().rposition(|&c| c == b'.') else {
        return false;
    };
    let (authority, name) = (&b[..dot], &b[dot + 1..]);
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name[0].is_ascii_alphabetic()
        && name.iter().all(u8::is_ascii_alphanumeric);
    if !name_ok {
        return false;
    }
    let mut segments = 0;
    for segment in authority.split(|&c| c == b'.') {
        if !is_label(segment) {
            return false;
        }
        segments += 1;
    }
    segments >= 2 && !authority[0].is_ascii_digit()
}

/// 1-512 of `[a-zA-Z0-9_~.:-]`, not `.` or `..`.
#[must_use]
pub fn is_record_key(text: &str) -> bool {
    let b = text.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_RECORD_KEY
        && text != "."
        && text != ".."
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'~' | b'.' | b':' | b'-'))
}

/// A TID (see [`crate::tid`]).
#[must_use]
pub fn is_tid(text: &str) -> bool {
    Tid::parse(text).is_ok()
}

/// `at://AUTHORITY[/NSID[/RKEY]]`: no query, no fragment, no empty segment, at most 8192
/// characters.
#[must_use]
pub fn is_at_uri(text: &str) -> bool {
    if text.len() > MAX_AT_URI {
        return false;
    }
    let Some(rest) = text.strip_prefix("at://") else {
        return false;
    };
    let mut parts = rest.split('/');
    let authority = parts.next().unwrap_or_default();
    if !is_at_identifier(authority) {
        return false;
    }
    match (parts.next(), parts.next(), parts.next()) {
        (None, _, _) => true,
        (Some(collection), None, _) => is_nsid(collection),
        (Some(collection), Some(rkey), None) => is_nsid(collection) && is_record_key(rkey),
        _ => false,
    }
}

/// The fields of a datetime with valid syntax: year, month, day, hour, minute, second, and
/// the zone offset in minutes with its sign (`None` for `Z`).
struct DatetimeFields {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    offset: Option<(bool, u32, u32)>,
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`, at most 64 characters, not `-00:00`.
fn datetime_fields(text: &str) -> Option<DatetimeFields> {
    let b = text.as_bytes();
    if b.len() > MAX_DATETIME || b.len() < 20 {
        return None;
    }
    let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let field = |from: usize, to: usize| digits(&b[from..to]);
    let (year, month, day) = (field(0, 4)?, field(5, 7)?, field(8, 10)?);
    let (hour, minute, second) = (field(11, 13)?, field(14, 16)?, field(17, 19)?);
    let mut i = 19;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let zone = &b[i..];
    let offset = match zone {
        b"Z" => None,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2])?;
            let minutes = digits(&[*m1, *m2])?;
            if *sign == b'-' && hours == 0 && minutes == 0 {
                return None;
            }
            Some((*sign == b'+', hours, minutes))
        }
        _ => return None,
    };
    Some(DatetimeFields {
        year,
        month,
        day,
        hour,
        minute,
        second,
        offset,
    })
}

/// Whether `text` has the datetime syntax (field ranges not checked).
#[must_use]
pub fn is_datetime_syntax(text: &str) -> bool {
    datetime_fields(text).is_some()
}

const fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A valid datetime: the syntax, real field values (proleptic Gregorian calendar, no leap
/// second, offset at most 23:59), and not before year 0 once the offset is applied.
#[must_use]
pub fn is_datetime(text: &str) -> bool {
    let Some(f) = datetime_fields(text) else {
        return false;
    };
    if !(1..=12).contains(&f.month)
        || f.day == 0
        || f.day > days_in_month(f.year, f.month)
        || f.hour > 23
        || f.minute > 59
        || f.second > 59
    {
        return false;
    }
    match f.offset {
        None => true,
        Some((east, hours, minutes)) => {
            if hours > 23 || minutes > 59 {
                return false;
            }
            // An offset is under a day, so only the first day of year 0 can fall before it.
            let first_day = f.year == 0 && f.month == 1 && f.day == 1;
            !(east && first_day && hours * 60 + minutes > f.hour * 60 + f.minute)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dids() {
        assert!(is_did("did:plc:7iza6de2dwap2sbkpav7c6c6"));
        assert!(is_did("did:method:-:_:.:%ab"));
        for bad in [
            "did:plc:",
            "did:PLC:a",
            "did::a",
            "did:plc:a:",
            "did:plc:a%",
            "did:a/b",
        ] {
            assert!(!is_did(bad), "{bad}");
        }
    }

    #[test]
    fn handles_and_nsids() {
        assert!(is_handle("john.test"));
        assert!(is_handle("XX.LCS.MIT.EDU"));
        assert!(!is_handle("john.0aa"));
        assert!(!is_handle("john"));
        assert!(!is_handle("-john.test"));
        assert!(is_nsid("one.2.three"));
        assert!(!is_nsid("2one.two.three"));
        assert!(!is_nsid("com.example.2foo"));
        assert!(!is_nsid("com.example"));
        assert!(!is_nsid("a-0.b-1.c-3"));
    }

    #[test]
    fn record_keys_tids_uris() {
        assert!(is_record_key("self"));
        assert!(is_record_key("..."));
        assert!(!is_record_key(".."));
        assert!(!is_record_key(""));
        assert!(is_tid("3jzfcijpj2z2a"));
        assert!(!is_tid("zzzzzzzzzzzzz"));
        assert!(is_at_uri("at://did:plc:a/app.bsky.feed.post/self"));
        assert!(is_at_uri("at://alice.test"));
        assert!(!is_at_uri("at://alice.test/"));
        assert!(!is_at_uri("at://did:plc:a/app.bsky.feed.post/x/y"));
        assert!(!is_at_uri("at://did:plc:a#/frag"));
    }

    #[test]
    fn datetimes() {
        assert!(is_datetime("1985-04-12T23:20:50.123Z"));
        assert!(is_datetime("0000-01-01T00:00:00Z"));
        assert!(is_datetime("2000-02-29T00:00:00+23:59"));
        assert!(!is_datetime("1900-02-29T00:00:00Z"));
        assert!(!is_datetime("1985-04-12T23:20:50.123-00:00"));
        assert!(!is_datetime("1985-04-12T23:20:50.Z"));
        assert!(!is_datetime("0000-01-01T00:00:00+01:00"));
        assert!(is_datetime_syntax("1985-13-12T23:20:50Z"));
        assert!(!is_datetime("1985-13-12T23:20:50Z"));
    }
}
