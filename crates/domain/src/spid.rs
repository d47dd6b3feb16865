//! The Social Protection ID: ten digits, the first nine drawn at random, the tenth a Verhoeff check digit.
//!
//! Why Verhoeff: it detects every single-digit substitution and every transposition of adjacent digits,
//! the two errors people make when copying a number from a card or saying it over the phone (Luhn misses
//! the 09 ↔ 90 transposition). Why random: a sequential or derived number leaks the enrolment order or the
//! person's data, and lets anyone guess valid numbers. The first digit is never 0, so spreadsheets and
//! phones that drop leading zeros cannot change a SPID.

use std::fmt;

use rand::Rng;

use crate::DomainError;

/// A syntactically valid Social Protection ID. Holding one says nothing about whether it was issued.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Spid(u64);

// Verhoeff's tables: multiplication in the dihedral group D5, the position permutation (row i is the
// first non-trivial row applied i times), and the inverse. A unit test recomputes the rows.
const D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];
const INV: [u8; 10] = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9];

/// The Verhoeff check digit for `digits` (most significant first).
pub fn verhoeff_check_digit(digits: &[u8]) -> u8 {
    let mut c = 0u8;
    for (i, &digit) in digits.iter().rev().enumerate() {
        c = D[c as usize][P[(i + 1) % 8][digit as usize] as usize];
    }
    INV[c as usize]
}

/// True when `digits`, check digit last, pass the Verhoeff test.
pub fn verhoeff_valid(digits: &[u8]) -> bool {
    let mut c = 0u8;
    for (i, &digit) in digits.iter().rev().enumerate() {
        c = D[c as usize][P[i % 8][digit as usize] as usize];
    }
    c == 0
}

impl Spid {
    pub const LEN: usize = 10;

    /// Reads a SPID as a person would write it: ten digits, spaces and hyphens between groups allowed
    /// (`123 456 7890`, `1234-567-890`).
    pub fn parse(text: &str) -> Result<Spid, DomainError> {
        let mut digits = Vec::with_capacity(Self::LEN);
        for ch in text.trim().chars() {
            match ch {
                '0'..='9' => digits.push(ch as u8 - b'0'),
                ' ' | '-' => {}
                _ => {
                    return Err(DomainError::new(
                        "spid",
                        format!("contains {ch:?}; a SPID has only digits"),
                    ));
                }
            }
        }
        if digits.len() != Self::LEN {
            return Err(DomainError::new(
                "spid",
                format!("has {} digits; a SPID has exactly 10", digits.len()),
            ));
        }
        if digits[0] == 0 {
            return Err(DomainError::new("spid", "starts with 0; no SPID does"));
        }
        if !verhoeff_valid(&digits) {
            return Err(DomainError::new(
                "spid",
                "check digit does not match; a digit was probably mistyped or two digits swapped",
            ));
        }
        Ok(Spid(
            digits.iter().fold(0u64, |n, &d| n * 10 + u64::from(d)),
        ))
    }

    /// Draws a new SPID at random: nine random digits (the first not 0) and the check digit. Whether it is
    /// free is for the store to say; callers draw again on a collision.
    pub fn random(rng: &mut impl Rng) -> Spid {
        let body: u64 = rng.gen_range(100_000_000..1_000_000_000);
        let mut digits = [0u8; 9];
        let mut rest = body;
        for slot in digits.iter_mut().rev() {
            *slot = (rest % 10) as u8;
            rest /= 10;
        }
        Spid(body * 10 + u64::from(verhoeff_check_digit(&digits)))
    }

    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Spid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:010}", self.0)
    }
}

impl std::str::FromStr for Spid {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Spid::parse(s)
    }
}

impl TryFrom<String> for Spid {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Spid::parse(&s)
    }
}

impl From<Spid> for String {
    fn from(spid: Spid) -> String {
        spid.to_string()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand::SeedableRng;

    use super::*;

    fn digits_of(spid: Spid) -> Vec<u8> {
        spid.to_string().bytes().map(|b| b - b'0').collect()
    }

    #[test]
    fn known_verhoeff_vectors() {
        // The classic example from the literature: 236 → check digit 3.
        assert_eq!(verhoeff_check_digit(&[2, 3, 6]), 3);
        assert!(verhoeff_valid(&[2, 3, 6, 3]));
        assert!(!verhoeff_valid(&[2, 3, 6, 4]));
        assert_eq!(verhoeff_check_digit(&[1, 2, 3, 4, 5, 6, 7, 8, 9]), 0);
        // 12345 → 1 is the other published example.
        assert_eq!(verhoeff_check_digit(&[1, 2, 3, 4, 5]), 1);
        for (i, row) in P.iter().enumerate().skip(1) {
            for j in 0..10 {
                assert_eq!(row[j], P[1][P[i - 1][j] as usize], "P[{i}][{j}]");
            }
        }
    }

    #[test]
    fn parse_accepts_grouping_and_rejects_everything_else() {
        let spid = Spid::parse("1234567890").map(|s| s.to_string());
        assert_eq!(spid.as_deref(), Ok("1234567890"));
        assert_eq!(
            Spid::parse("123 456-7890").map(|s| s.as_u64()),
            Ok(1_234_567_890)
        );
        let err = |s: &str| Spid::parse(s).err().map(|e| e.reason).unwrap_or_default();
        assert_eq!(err("123456789"), "has 9 digits; a SPID has exactly 10");
        assert_eq!(err("12345678901"), "has 11 digits; a SPID has exactly 10");
        assert_eq!(err("12345x7890"), "contains 'x'; a SPID has only digits");
        assert_eq!(err("0234567890"), "starts with 0; no SPID does");
        assert!(err("1234567891").starts_with("check digit does not match"));
    }

    proptest! {
        #[test]
        fn random_spids_are_valid_and_round_trip(seed in any::<u64>()) {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let spid = Spid::random(&mut rng);
            let text = spid.to_string();
            prop_assert_eq!(text.len(), 10);
            prop_assert_eq!(Spid::parse(&text), Ok(spid));
        }

        #[test]
        fn every_single_digit_error_is_caught(seed in any::<u64>(), position in 0usize..10, delta in 1u8..10) {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut digits = digits_of(Spid::random(&mut rng));
            digits[position] = (digits[position] + delta) % 10;
            prop_assert!(!verhoeff_valid(&digits));
        }

        #[test]
        fn every_adjacent_transposition_is_caught(seed in any::<u64>(), position in 0usize..9) {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut digits = digits_of(Spid::random(&mut rng));
            prop_assume!(digits[position] != digits[position + 1]);
            digits.swap(position, position + 1);
            prop_assert!(!verhoeff_valid(&digits));
        }
    }

    #[test]
    fn exhaustive_single_errors_and_transpositions_on_every_two_digit_context() {
        // Beyond sampling: for every pair of digits at every position of a fixed body, both error
        // classes are caught. Verhoeff guarantees this; the test guards the tables against a typo.
        let base = [3u8, 1, 4, 1, 5, 9, 2, 6, 5];
        for position in 0..9 {
            for a in 0..10u8 {
                for b in 0..10u8 {
                    let mut body = base;
                    body[position] = a;
                    if position + 1 < 9 {
                        body[position + 1] = b;
                    }
                    let mut full = body.to_vec();
                    full.push(verhoeff_check_digit(&body));
                    assert!(verhoeff_valid(&full));
                    for i in 0..10 {
                        for delta in 1..10u8 {
                            let mut wrong = full.clone();
                            wrong[i] = (wrong[i] + delta) % 10;
                            assert!(!verhoeff_valid(&wrong), "substitution at {i} in {full:?}");
                        }
                    }
                    for i in 0..9 {
                        if full[i] != full[i + 1] {
                            let mut wrong = full.clone();
                            wrong.swap(i, i + 1);
                            assert!(!verhoeff_valid(&wrong), "transposition at {i} in {full:?}");
                        }
                    }
                }
            }
        }
    }
}
