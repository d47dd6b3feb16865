//! Official place codes of the gazetteer: province (2 digits), district (4), commune/sangkat (6),
//! village (8). Each code begins with its parent's, so the hierarchy is read off the digits.
//! A parsed code is well formed; whether it exists is the store's question (every address must).

use std::fmt;

use crate::DomainError;

macro_rules! place_code {
    ($name:ident, $len:literal, $what:literal) => {
        #[doc = concat!("A ", $what, " code: exactly ", stringify!($len), " digits.")]
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            PartialOrd,
            Ord,
            Hash,
            serde::Serialize,
            serde::Deserialize,
        )]
        #[serde(try_from = "String", into = "String")]
        pub struct $name([u8; $len]);

        impl $name {
            pub const LEN: usize = $len;

            pub fn parse(text: &str) -> Result<Self, DomainError> {
                let text = text.trim();
                let bytes = text.as_bytes();
                if bytes.len() != $len || !bytes.iter().all(u8::is_ascii_digit) {
                    return Err(DomainError::new(
                        concat!($what, "_code"),
                        format!(
                            concat!("{:?} is not a ", $what, " code ({} digits)"),
                            text, $len
                        ),
                    ));
                }
                let mut code = [0u8; $len];
                code.copy_from_slice(bytes);
                Ok($name(code))
            }

            pub fn as_str(&self) -> &str {
                // Only ASCII digits are ever stored, so this cannot fail.
                std::str::from_utf8(&self.0).unwrap_or_default()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $name::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(code: $name) -> String {
                code.to_string()
            }
        }

        impl std::str::FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse(s)
            }
        }
    };
}

place_code!(ProvinceCode, 2, "province");
place_code!(DistrictCode, 4, "district");
place_code!(CommuneCode, 6, "commune");
place_code!(VillageCode, 8, "village");

fn prefix<const N: usize>(code: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&code[..N]);
    out
}

// A village's commune is NOT read from its code: in the official 2025 gazetteer 25 villages carry a code
// whose first six digits name a neighbouring commune. The gazetteer's stated parent is authoritative, so
// the commune of a village is looked up (store), never derived. Communes and districts do follow their
// parents' codes in every row, so those levels are derived.

impl CommuneCode {
    pub fn district(&self) -> DistrictCode {
        DistrictCode(prefix(&self.0))
    }
    pub fn province(&self) -> ProvinceCode {
        ProvinceCode(prefix(&self.0))
    }
}

impl DistrictCode {
    pub fn province(&self) -> ProvinceCode {
        ProvinceCode(prefix(&self.0))
    }
    pub fn contains(&self, commune: CommuneCode) -> bool {
        commune.district() == *self
    }
}

impl ProvinceCode {
    pub fn contains(&self, commune: CommuneCode) -> bool {
        commune.province() == *self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn communes_know_their_district_and_province() -> Result<(), DomainError> {
        let commune = CommuneCode::parse("120102")?;
        assert_eq!(commune.district().as_str(), "1201");
        assert_eq!(commune.province().as_str(), "12");
        assert!(DistrictCode::parse("1201")?.contains(commune));
        assert!(!ProvinceCode::parse("13")?.contains(commune));
        Ok(())
    }

    #[test]
    fn malformed_codes_are_refused() {
        assert_eq!(
            VillageCode::parse("1201020").map_err(|e| e.to_string()),
            Err("village_code: \"1201020\" is not a village code (8 digits)".to_string())
        );
        assert!(VillageCode::parse("1201020a").is_err());
        assert!(CommuneCode::parse("").is_err());
        assert!(
            ProvinceCode::parse("١٢").is_err(),
            "non-ASCII digits are not codes"
        );
    }
}
