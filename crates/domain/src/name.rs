//! Person names as entered, in Khmer script and in Latin letters, with the normalised forms that
//! matching and search use. What was entered is kept verbatim: normalisation is derived, never stored
//! in place of the original.

use unicode_normalization::UnicodeNormalization;

use crate::DomainError;

/// A name in two scripts. Khmer custom puts the family name first; both parts are kept apart so
/// that a swapped entry can be recognised later rather than guessed now.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PersonName {
    pub family_km: String,
    pub given_km: String,
    pub family_latin: String,
    pub given_latin: String,
}

/// The longest name part accepted, in characters. Longer input is a paste error, not a name.
pub const MAX_PART_CHARS: usize = 100;

fn is_invisible(ch: char) -> bool {
    matches!(
        ch,
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}'
    )
}

fn is_khmer(ch: char) -> bool {
    ('\u{1780}'..='\u{17FF}').contains(&ch) || ('\u{19E0}'..='\u{19FF}').contains(&ch)
}

/// Tidies one part as entered: trims, collapses runs of white space, drops invisible characters and
/// applies NFC. It does not change letters.
pub fn tidy(part: &str) -> String {
    let visible: String = part.nfc().filter(|ch| !is_invisible(*ch)).collect();
    visible.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The matching key of a Latin-script part: upper case, letters only, single spaces.
pub fn latin_key(part: &str) -> String {
    let upper: String = part
        .nfkd()
        .filter(|ch| ch.is_ascii_alphabetic() || ch.is_whitespace() || *ch == '-')
        .map(|ch| {
            if ch == '-' {
                ' '
            } else {
                ch.to_ascii_uppercase()
            }
        })
        .collect();
    upper.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The matching key of a Khmer-script part: NFC, no invisible characters, no spaces. (Reordering of
/// subscripts and vowels, which NFC does not do, is the linkage engine's normaliser.)
pub fn khmer_key(part: &str) -> String {
    part.nfc()
        .filter(|ch| !is_invisible(*ch) && !ch.is_whitespace())
        .collect()
}

impl PersonName {
    /// Checks and tidies a name: at least one script must carry a family or given name; Khmer parts
    /// must be in Khmer script and Latin parts in Latin letters, so that a name typed in the wrong box
    /// is caught at entry.
    pub fn new(
        family_km: &str,
        given_km: &str,
        family_latin: &str,
        given_latin: &str,
    ) -> Result<PersonName, DomainError> {
        let name = PersonName {
            family_km: tidy(family_km),
            given_km: tidy(given_km),
            family_latin: tidy(family_latin),
            given_latin: tidy(given_latin),
        };
        for (field, value) in [
            ("family_km", &name.family_km),
            ("given_km", &name.given_km),
            ("family_latin", &name.family_latin),
            ("given_latin", &name.given_latin),
        ] {
            if value.chars().count() > MAX_PART_CHARS {
                return Err(DomainError::new(
                    format!("name.{field}"),
                    format!("longer than {MAX_PART_CHARS} characters"),
                ));
            }
        }
        for (field, value) in [("family_km", &name.family_km), ("given_km", &name.given_km)] {
            if let Some(ch) = value
                .chars()
                .find(|ch| !is_khmer(*ch) && *ch != ' ' && *ch != '-')
            {
                return Err(DomainError::new(
                    format!("name.{field}"),
                    format!(
                        "contains {ch:?}, which is not Khmer script; Latin spelling goes in the _latin fields"
                    ),
                ));
            }
        }
        for (field, value) in [
            ("family_latin", &name.family_latin),
            ("given_latin", &name.given_latin),
        ] {
            if let Some(ch) = value.chars().find(|ch| is_khmer(*ch)) {
                return Err(DomainError::new(
                    format!("name.{field}"),
                    format!(
                        "contains Khmer script ({ch:?}); Khmer spelling goes in the _km fields"
                    ),
                ));
            }
            if let Some(ch) = value.chars().find(|ch| ch.is_ascii_digit()) {
                return Err(DomainError::new(
                    format!("name.{field}"),
                    format!("contains the digit {ch:?}"),
                ));
            }
        }
        if name.family_km.is_empty()
            && name.given_km.is_empty()
            && name.family_latin.is_empty()
            && name.given_latin.is_empty()
        {
            return Err(DomainError::new(
                "name",
                "a person needs a name in Khmer or Latin script",
            ));
        }
        Ok(name)
    }

    pub fn has_khmer(&self) -> bool {
        !self.family_km.is_empty() && !self.given_km.is_empty()
    }

    /// "FAMILY GIVEN" in Khmer script, for display.
    pub fn full_km(&self) -> String {
        join(&self.family_km, &self.given_km)
    }

    /// "FAMILY GIVEN" in Latin letters, for display.
    pub fn full_latin(&self) -> String {
        join(&self.family_latin, &self.given_latin)
    }

    /// The Khmer matching key, family then given.
    pub fn key_km(&self) -> String {
        join(&khmer_key(&self.family_km), &khmer_key(&self.given_km))
    }

    /// The Latin matching key, family then given.
    pub fn key_latin(&self) -> String {
        join(
            &latin_key(&self.family_latin),
            &latin_key(&self.given_latin),
        )
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (false, false) => format!("{a} {b}"),
        (false, true) => a.to_string(),
        (true, _) => b.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_and_keys() -> Result<(), DomainError> {
        let name = PersonName::new("សុខ\u{200B}", " ស្រី  មុំ ", "  sok ", "Srey-Mom")?;
        assert_eq!(name.family_km, "សុខ");
        assert_eq!(name.given_km, "ស្រី មុំ");
        assert_eq!(name.key_km(), "សុខ ស្រីមុំ");
        assert_eq!(name.key_latin(), "SOK SREY MOM");
        assert_eq!(name.full_latin(), "sok Srey-Mom");
        Ok(())
    }

    #[test]
    fn wrong_script_is_caught_at_entry() {
        let err = PersonName::new("Sok", "", "", "").map_err(|e| e.to_string());
        assert_eq!(
            err,
            Err("name.family_km: contains 'S', which is not Khmer script; Latin spelling goes in the _latin fields".into())
        );
        assert!(PersonName::new("", "", "សុខ", "").is_err());
        assert!(PersonName::new("", "", "", "").is_err());
        assert!(PersonName::new("", "", "Sok2", "").is_err());
        assert!(PersonName::new("", "", &"A".repeat(101), "").is_err());
    }
}
