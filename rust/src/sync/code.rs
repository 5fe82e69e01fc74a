//! Why an event failed ([`ErrorCode`], [`Failure`]) and which checks are strict ([`Policy`]).

use crate::error::{CarReason, Error};
use std::fmt;

macro_rules! codes {
    ($($variant:ident => $name:literal,)*) => {
        /// Why an event failed verification (stable names; relays count them in metrics).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $($variant,)* }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// The stable name.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name,)* }
            }

            /// The code with this name.
            #[must_use]
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($name => Some(Self::$variant),)* _ => None }
            }
        }
    };
}

codes! {
    Malformed => "malformed",
    BadCar => "bad_car",
    HashMismatch => "hash_mismatch",
    MissingBlock => "missing_block",
    FieldMismatch => "field_mismatch",
    BadSignature => "bad_signature",
    HighS => "high_s",
    TooBig => "too_big",
    TooManyOps => "too_many_ops",
    RevNotNewer => "rev_not_newer",
    RevInFuture => "rev_in_future",
    SinceMismatch => "since_mismatch",
    PrevDataMismatch => "prev_data_mismatch",
    PrevDataMissing => "prev_data_missing",
    IncompleteProof => "incomplete_proof",
    InversionMismatch => "inversion_mismatch",
    DeprecatedFlag => "deprecated_flag",
}

impl ErrorCode {
    /// The checks a policy may make lenient, in declaration order.
    pub fn relaxable_codes() -> impl Iterator<Item = Self> {
        Self::ALL.iter().copied().filter(|code| code.relaxable())
    }

    /// The relaxable check with this name.
    ///
    /// # Errors
    /// [`UnknownCheck`] for a name that is not a check, or a check that is always strict.
    pub fn relaxable_from_name(name: &str) -> Result<Self, UnknownCheck> {
        Self::from_name(name)
            .filter(|code| code.relaxable())
            .ok_or_else(|| UnknownCheck(name.to_owned()))
    }

    /// Can a policy make this check lenient? The rest (broken bytes, forged or mismatched
    /// commits, replays) are always fatal.
    #[must_use]
    pub const fn relaxable(self) -> bool {
        matches!(
            self,
            Self::HighS
                | Self::TooBig
                | Self::TooManyOps
                | Self::RevInFuture
                | Self::SinceMismatch
                | Self::PrevDataMismatch
                | Self::PrevDataMissing
                | Self::IncompleteProof
                | Self::InversionMismatch
                | Self::DeprecatedFlag
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed check: its code and the detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: ErrorCode,
    pub reason: String,
}

impl Failure {
    pub(crate) fn new(code: ErrorCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }

    /// A CAR that cannot be read: `hash_mismatch` when a block's hash is wrong, `bad_car` for
    /// anything else.
    pub(crate) fn car(err: &Error) -> Self {
        let code = match err {
            Error::Car {
                reason: CarReason::HashMismatch,
                ..
            } => ErrorCode::HashMismatch,
            _ => ErrorCode::BadCar,
        };
        Self::new(code, err.to_string())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.reason)
    }
}

impl std::error::Error for Failure {}

/// A check name a policy cannot set: not a check, or a check that is always strict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCheck(pub String);

impl fmt::Display for UnknownCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut known: Vec<&str> = ErrorCode::relaxable_codes()
            .map(ErrorCode::as_str)
            .collect();
        known.sort_unstable();
        write!(
            f,
            "policy check '{}' is not one of: {} (the other checks are always strict)",
            self.0.escape_debug(),
            known.join(", ")
        )
    }
}

impl std::error::Error for UnknownCheck {}

/// Which relaxable checks are strict (a failure rejects the event) or lenient (a warning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Policy {
    /// Bit `i` set: the check with code `ErrorCode::ALL[i]` is lenient.
    lenient: u32,
}

impl Policy {
    /// Every check strict.
    #[must_use]
    pub const fn strict() -> Self {
        Self { lenient: 0 }
    }

    /// Every relaxable check lenient.
    #[must_use]
    pub fn lenient() -> Self {
        ErrorCode::relaxable_codes().fold(Self::strict(), |policy, code| policy.with(code, false))
    }

    fn bit(code: ErrorCode) -> u32 {
        let index = ErrorCode::ALL.iter().position(|&c| c == code).unwrap_or(0);
        1 << index
    }

    /// This policy with `code` made strict or lenient (ignored for codes that are always
    /// strict).
    #[must_use]
    pub fn with(self, code: ErrorCode, strict: bool) -> Self {
        if !code.relaxable() {
            return self;
        }
        let bit = Self::bit(code);
        Self {
            lenient: if strict {
                self.lenient & !bit
            } else {
                self.lenient | bit
            },
        }
    }

    #[must_use]
    pub fn is_strict(self, code: ErrorCode) -> bool {
        self.lenient & Self::bit(code) == 0
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self::strict()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relaxable_checks_are_found_by_name() {
        for code in ErrorCode::relaxable_codes() {
            assert_eq!(ErrorCode::relaxable_from_name(code.as_str()), Ok(code));
        }
        assert_eq!(ErrorCode::relaxable_codes().count(), 10);
    }

    #[test]
    fn names_a_policy_cannot_set_are_refused_with_the_known_ones() {
        for name in ["nope", "bad_signature", "HIGH_S", ""] {
            let err = ErrorCode::relaxable_from_name(name).unwrap_err();
            assert_eq!(err, UnknownCheck(name.to_owned()));
            let text = err.to_string();
            assert!(text.starts_with(&format!("policy check '{name}' is not one of: ")));
            assert!(
                text.contains(": deprecated_flag, high_s, incomplete_proof"),
                "{text}"
            );
        }
    }

    #[test]
    fn always_strict_checks_stay_strict() {
        let lenient = Policy::lenient();
        for &code in ErrorCode::ALL {
            assert_eq!(lenient.is_strict(code), !code.relaxable(), "{code}");
        }
        let one = Policy::strict().with(ErrorCode::HighS, false);
        assert!(!one.is_strict(ErrorCode::HighS));
        assert!(one.is_strict(ErrorCode::RevInFuture));
        assert_eq!(one.with(ErrorCode::BadSignature, false), one);
    }
}
