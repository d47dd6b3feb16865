//! Finger exceptions: a finger that is missing, amputated or cannot be read is recorded with the
//! reason and the officer who approved it, so that the person still enrols. Worn prints of
//! elderly farmers and missing fingers are normal in the registry, not errors.

use crate::Error;
use crate::template::{FingerPosition, Template};

/// Why a finger has no template.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExceptionReason {
    /// Congenitally missing finger.
    Missing,
    /// Amputated finger.
    Amputated,
    /// Present but no usable capture in the allowed attempts (worn, scarred, calloused ridges).
    Unreadable,
    /// Temporarily unavailable (bandaged, injured): to be captured again later.
    Temporary,
}

/// Identifier of the approving officer: 1–64 printable characters, no surrounding spaces.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ApproverId(String);

impl ApproverId {
    /// Check and build.
    pub fn parse(text: &str) -> Result<ApproverId, Error> {
        let ok = !text.is_empty()
            && text.chars().count() <= 64
            && text.trim() == text
            && !text.chars().any(char::is_control);
        if ok {
            Ok(ApproverId(text.to_owned()))
        } else {
            Err(Error::InvalidField {
                field: "approver id",
                offset: 0,
                value: text.len() as u64,
                expected: "1 to 64 printable characters without surrounding spaces",
            })
        }
    }

    /// The identifier.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One approved finger exception.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FingerException {
    /// Which finger (never `Unknown`).
    finger: FingerPosition,
    /// Why it has no template.
    reason: ExceptionReason,
    /// Who approved it.
    approved_by: ApproverId,
    /// When, in seconds since the Unix epoch (given by the caller: time is a parameter).
    approved_at: i64,
}

impl FingerException {
    /// Check and build: the finger must be known.
    pub fn parse(
        finger: FingerPosition,
        reason: ExceptionReason,
        approved_by: ApproverId,
        approved_at: i64,
    ) -> Result<FingerException, Error> {
        if finger == FingerPosition::Unknown {
            return Err(Error::InvalidField {
                field: "exception finger",
                offset: 0,
                value: 0,
                expected: "a known finger position (1..=10)",
            });
        }
        Ok(FingerException {
            finger,
            reason,
            approved_by,
            approved_at,
        })
    }

    /// The finger.
    pub fn finger(&self) -> FingerPosition {
        self.finger
    }
    /// The reason.
    pub fn reason(&self) -> ExceptionReason {
        self.reason
    }
    /// The approving officer.
    pub fn approved_by(&self) -> &ApproverId {
        &self.approved_by
    }
    /// Approval time, seconds since the Unix epoch.
    pub fn approved_at(&self) -> i64 {
        self.approved_at
    }
}

/// What an enrolment holds for one finger: a template or an approved exception.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FingerOutcome {
    /// A usable template.
    Captured(Template),
    /// An approved exception.
    Exception(FingerException),
}

/// The two thumbs of a person's enrolment, each captured or excepted.
///
/// Invariant: the right outcome is about the right thumb, the left about the left thumb
/// (templates with an `Unknown` position are accepted and take the position of their slot).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThumbEnrolment {
    right: FingerOutcome,
    left: FingerOutcome,
}

impl ThumbEnrolment {
    /// Check that each outcome is about the thumb of its slot.
    pub fn parse(right: FingerOutcome, left: FingerOutcome) -> Result<ThumbEnrolment, Error> {
        for (outcome, expected) in [
            (&right, FingerPosition::RightThumb),
            (&left, FingerPosition::LeftThumb),
        ] {
            let finger = match outcome {
                FingerOutcome::Captured(template) => template.info().finger,
                FingerOutcome::Exception(exception) => exception.finger(),
            };
            if finger != expected && finger != FingerPosition::Unknown {
                return Err(Error::InvalidField {
                    field: "thumb finger position",
                    offset: 0,
                    value: u64::from(finger.code()),
                    expected: "1 (right thumb) in the right slot, 6 (left thumb) in the left",
                });
            }
        }
        Ok(ThumbEnrolment { right, left })
    }

    /// The right thumb's outcome.
    pub fn right(&self) -> &FingerOutcome {
        &self.right
    }
    /// The left thumb's outcome.
    pub fn left(&self) -> &FingerOutcome {
        &self.left
    }
    /// The templates that can be searched (zero, one or two).
    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        [&self.right, &self.left]
            .into_iter()
            .filter_map(|o| match o {
                FingerOutcome::Captured(t) => Some(t),
                FingerOutcome::Exception(_) => None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approver_ids_are_checked() {
        assert_eq!(
            ApproverId::parse("officer-17").unwrap().as_str(),
            "officer-17"
        );
        for bad in ["", " x", "x\n", &"x".repeat(65)] {
            assert!(ApproverId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_person_with_both_thumbs_excepted_still_enrols() {
        let officer = ApproverId::parse("officer-17").unwrap();
        let right = FingerException::parse(
            FingerPosition::RightThumb,
            ExceptionReason::Amputated,
            officer.clone(),
            1_790_000_000,
        )
        .unwrap();
        let left = FingerException::parse(
            FingerPosition::LeftThumb,
            ExceptionReason::Unreadable,
            officer.clone(),
            1_790_000_000,
        )
        .unwrap();
        let enrolment = ThumbEnrolment::parse(
            FingerOutcome::Exception(right.clone()),
            FingerOutcome::Exception(left.clone()),
        )
        .unwrap();
        assert_eq!(enrolment.templates().count(), 0);
        // Swapped slots are refused.
        assert!(
            ThumbEnrolment::parse(
                FingerOutcome::Exception(left),
                FingerOutcome::Exception(right)
            )
            .is_err()
        );
        assert!(
            FingerException::parse(
                FingerPosition::Unknown,
                ExceptionReason::Missing,
                officer,
                0
            )
            .is_err()
        );
    }
}
