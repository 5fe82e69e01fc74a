//! TIDs (timestamp identifiers): repo revisions and the default record key.
//!
//! A TID is a 64-bit integer `0 ‖ 53-bit microseconds since the Unix epoch ‖ 10-bit clock id`,
//! written as 13 characters of the sortable base32 alphabet `234567abcdefghijklmnopqrstuvwxyz`
//! (so string order is numeric order). Generation is monotonic within the process: a TID is
//! never equal to or below the previous one, even when the wall clock steps back.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The sortable base32 alphabet.
const ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";
/// The length of every TID.
pub const LEN: usize = 13;
/// The largest timestamp a TID holds (53 bits of microseconds).
pub const MAX_MICROS: u64 = (1 << 53) - 1;
/// The largest clock id (10 bits).
pub const MAX_CLOCK_ID: u16 = (1 << 10) - 1;

/// Why a string is not a TID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TidError {
    Length,
    Character,
    HighBit,
    Exhausted,
}

impl TidError {
    /// The stable text of the reason.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Length => "TID must be 13 characters",
            Self::Character => "TID character outside the base32-sortable alphabet",
            Self::HighBit => "TID first character must be one of 234567abcdefghij",
            Self::Exhausted => "no TID fits after this one",
        }
    }
}

impl fmt::Display for TidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for TidError {}

/// One TID, as its integer value (which orders like its string form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tid(u64);

impl Tid {
    /// Builds a TID from its parts; both are masked to their widths.
    #[must_use]
    pub const fn new(micros: u64, clock_id: u16) -> Self {
        Self(((micros & MAX_MICROS) << 10) | (clock_id & MAX_CLOCK_ID) as u64)
    }

    /// Parses the 13-character form strictly.
    ///
    /// # Errors
    /// The [`TidError`] naming what is wrong.
    pub fn parse(text: &str) -> Result<Self, TidError> {
        let bytes = text.as_bytes();
        if !text.is_ascii() {
            return Err(TidError::Character);
        }
        if bytes.len() != LEN {
            return Err(TidError::Length);
        }
        let mut value: u64 = 0;
        for &byte in bytes {
            let digit = match byte {
                b'2'..=b'7' => byte - b'2',
                b'a'..=b'z' => byte - b'a' + 6,
                _ => return Err(TidError::Character),
            };
            // 13 digits of 5 bits make 65 bits: the first digit must leave the 65th clear.
            value = (value << 5) | u64::from(digit);
        }
        if bytes[0] > b'j' {
            return Err(TidError::HighBit);
        }
        Ok(Self(value))
    }

    /// The integer value.
    #[must_use]
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// Microseconds since the Unix epoch.
    #[must_use]
    pub const fn micros(self) -> u64 {
        self.0 >> 10
    }

    /// The 10-bit clock id.
    #[must_use]
    pub const fn clock_id(self) -> u16 {
        (self.0 & MAX_CLOCK_ID as u64) as u16
    }

    /// The next TID from this process's clock: above `after` (a repo's previous rev, which may
    /// come from another clock) and strictly above every TID this process generated before,
    /// except those it gave for a far-future `after`. An `after` more than
    /// [`MAX_CLOCK_LEAD_MICROS`] ahead of the wall clock is honoured for this TID but does not
    /// move the process clock, so one repo's far-future rev cannot push every later rev of every
    /// repo into the future.
    ///
    /// # Errors
    /// [`TidError::Exhausted`] when no TID is above `after` (it is at the end of the range).
    pub fn next(after: Option<Self>) -> Result<Self, TidError> {
        static LAST: AtomicU64 = AtomicU64::new(0);
        let clock_id = process_clock_id();
        let now = wall_clock_micros();
        let floor = match after {
            Some(tid) if tid.micros() >= MAX_MICROS => return Err(TidError::Exhausted),
            Some(tid) => tid.micros() + 1,
            None => 0,
        };
        let moves_clock = floor <= now.saturating_add(MAX_CLOCK_LEAD_MICROS);
        let mut last = LAST.load(Ordering::Relaxed);
        loop {
            let own = now.max(last + 1).min(MAX_MICROS);
            let micros = own.max(floor);
            let stored = if moves_clock { micros } else { own };
            match LAST.compare_exchange_weak(last, stored, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Ok(Self::new(micros, clock_id)),
                Err(seen) => last = seen,
            }
        }
    }
}

/// How far ahead of the wall clock a previous rev may move the process clock (five minutes,
/// the future-rev tolerance relays apply).
pub const MAX_CLOCK_LEAD_MICROS: u64 = crate::sync::FUTURE_REV_TOLERANCE_MICROS;

impl fmt::Display for Tid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [0u8; LEN];
        for (i, slot) in out.iter_mut().enumerate() {
            let shift = 5 * (LEN - 1 - i);
            // Masked to 5 bits, so the index is in range.
            #[allow(clippy::cast_possible_truncation)]
            let digit = ((self.0 >> shift) & 0x1f) as usize;
            *slot = ALPHABET[digit];
        }
        // The alphabet is ASCII.
        f.write_str(std::str::from_utf8(&out).unwrap_or_default())
    }
}

/// Microseconds since the Unix epoch (0 if the clock is before it).
fn wall_clock_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(MAX_MICROS))
}

/// A random clock id chosen once per process, so two processes writing at the same microsecond
/// still produce different TIDs. `RandomState` is seeded from the operating system's randomness,
/// which is all we need for 10 bits (no RNG crate for this).
fn process_clock_id() -> u16 {
    static CLOCK_ID: OnceLock<u16> = OnceLock::new();
    *CLOCK_ID.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(wall_clock_micros());
        // Masked to 10 bits.
        #[allow(clippy::cast_possible_truncation)]
        let id = (hasher.finish() & u64::from(MAX_CLOCK_ID)) as u16;
        id
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_known_values() {
        let tid = Tid::parse("3jzfcijpj2z2a").unwrap();
        assert_eq!(tid.to_string(), "3jzfcijpj2z2a");
        assert_eq!(Tid::new(tid.micros(), tid.clock_id()), tid);
        assert_eq!(Tid::parse("2222222222222").unwrap().as_u64(), 0);
        assert_eq!(Tid::new(0, 0).to_string(), "2222222222222");
        let max = Tid::new(MAX_MICROS, MAX_CLOCK_ID);
        assert_eq!(max.to_string(), "bzzzzzzzzzzzz");
        assert_eq!(Tid::parse("bzzzzzzzzzzzz").unwrap(), max);
        // The syntax allows a first character up to `j` (all 64 bits used).
        assert_eq!(Tid::parse("jzzzzzzzzzzzz").unwrap().as_u64(), u64::MAX);
    }

    #[test]
    fn rejects_each_problem() {
        assert_eq!(Tid::parse("3jzfcijpj2z2"), Err(TidError::Length));
        assert_eq!(Tid::parse("3jzfcijpj2z2aa"), Err(TidError::Length));
        assert_eq!(Tid::parse("3jzfcijpj2z21"), Err(TidError::Character));
        assert_eq!(Tid::parse("3JZFCIJPJ2Z2A"), Err(TidError::Character));
        assert_eq!(Tid::parse("3jzfcijpj2z2\u{e9}"), Err(TidError::Character));
        assert_eq!(Tid::parse("kjzfcijpj2z2a"), Err(TidError::HighBit));
        assert_eq!(Tid::parse("zzzzzzzzzzzzz"), Err(TidError::HighBit));
    }

    #[test]
    fn next_is_strictly_increasing_and_above_after() {
        let mut previous = Tid::next(None).unwrap();
        for _ in 0..10_000 {
            let tid = Tid::next(None).unwrap();
            assert!(tid > previous);
            assert!(tid.to_string() > previous.to_string());
            previous = tid;
        }
        let future = Tid::new(wall_clock_micros() + 60_000_000, 0);
        let after = Tid::next(Some(future)).unwrap();
        assert!(after > future);
        assert_eq!(after.clock_id(), previous.clock_id());
        assert!(Tid::next(None).unwrap() > after);
        // A far-future rev is honoured once but leaves the process clock alone.
        let far = Tid::new(wall_clock_micros() + 3_600_000_000, 0);
        assert!(Tid::next(Some(far)).unwrap() > far);
        assert!(Tid::next(None).unwrap() < far);
        let end = Tid::new(MAX_MICROS, 0);
        assert_eq!(Tid::next(Some(end)), Err(TidError::Exhausted));
        assert_eq!(
            Tid::next(Some(Tid::parse("jzzzzzzzzzzzz").unwrap())),
            Err(TidError::Exhausted)
        );
    }
}
