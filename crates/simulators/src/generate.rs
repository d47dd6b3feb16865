//! A generated ID-card register for tests and demos: Khmer names with their usual romanisations, and a
//! share of cards that are revoked, deceased or expired. Same count and seed, same register.

use std::collections::HashSet;

use chrono::NaiveDate;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::national_id::{CardStatus, IdCard, PartialDate, Sex};

/// (Khmer, romanisation) pairs. The simulator's own list: it stands for the Ministry's data, not ours.
const FAMILY_NAMES: &[(&str, &str)] = &[
    ("សុខ", "SOK"),
    ("ចាន់", "CHAN"),
    ("ជា", "CHEA"),
    ("ហេង", "HENG"),
    ("លី", "LY"),
    ("គឹម", "KIM"),
    ("ស៊ុន", "SUN"),
    ("ម៉ៅ", "MAO"),
    ("ឈឹម", "CHHIM"),
    ("ពៅ", "POV"),
    ("អ៊ុំ", "UM"),
    ("ស្រេង", "SRENG"),
    ("ទេព", "TEP"),
    ("នួន", "NUON"),
    ("កែវ", "KEO"),
    ("យឹម", "YIM"),
];

const MALE_NAMES: &[(&str, &str)] = &[
    ("ដារ៉ា", "DARA"),
    ("សុខា", "SOKHA"),
    ("វណ្ណា", "VANNA"),
    ("សំណាង", "SAMNANG"),
    ("វិចិត្រ", "VICHET"),
    ("ធារ៉ា", "THEARA"),
    ("បុរី", "BOREY"),
    ("ចំរើន", "CHAMROEUN"),
    ("វិបុល", "VIBOL"),
    ("សារ៉ុន", "SARON"),
    ("រតនា", "RATANA"),
    ("ពិសិដ្ឋ", "PISETH"),
];

const FEMALE_NAMES: &[(&str, &str)] = &[
    ("ស្រីមុំ", "SREYMOM"),
    ("ដាវី", "DAVY"),
    ("ពិសី", "PISEY"),
    ("ចិន្តា", "CHENDA"),
    ("សុខលី", "SOKLY"),
    ("ស្រីពៅ", "SREYPOV"),
    ("គន្ធា", "KUNTHEA"),
    ("សុម៉ាលី", "SOMALY"),
    ("សុជាតា", "SOCHEATA"),
    ("ចរិយា", "CHARIYA"),
    ("រចនា", "RACHANA"),
    ("សុវណ្ណារី", "SOVANNARY"),
];

fn pick<'a>(rng: &mut StdRng, list: &'a [(&'a str, &'a str)]) -> (&'a str, &'a str) {
    list[rng.gen_range(0..list.len())]
}

/// `count` cards from `seed`: about 85 % valid, 5 % revoked, 4 % deceased and 6 % expired (valid in the
/// register but past `expires_on`, which lies in 2015-2024; valid cards expire in 2031-2036, so the sample
/// stays as described until 2031). One birth date in ten is known only to the year.
pub fn generate_cards(count: usize, seed: u64) -> Vec<IdCard> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut used = HashSet::new();
    let mut cards = Vec::with_capacity(count);
    while cards.len() < count {
        // Nine digits, as on Khmer ID cards; unique within the register.
        let id_number = format!("{:09}", rng.gen_range(10_000_000u32..999_999_999));
        if !used.insert(id_number.clone()) {
            continue;
        }
        let sex = if rng.gen_bool(0.5) {
            Sex::Female
        } else {
            Sex::Male
        };
        let (family_km, family_latin) = pick(&mut rng, FAMILY_NAMES);
        let (given_km, given_latin) = pick(
            &mut rng,
            if sex == Sex::Female {
                FEMALE_NAMES
            } else {
                MALE_NAMES
            },
        );
        let year = rng.gen_range(1935..=2008);
        let birth_text = if rng.gen_bool(0.1) {
            format!("{year:04}")
        } else {
            format!(
                "{year:04}-{:02}-{:02}",
                rng.gen_range(1..=12),
                rng.gen_range(1..=28)
            )
        };
        let Some(birth_date) = PartialDate::parse(&birth_text) else {
            continue;
        };
        let roll = rng.gen_range(0..100);
        let (status, expiry_year) = match roll {
            0..=4 => (CardStatus::Revoked, rng.gen_range(2026..=2036)),
            5..=8 => (CardStatus::Deceased, rng.gen_range(2026..=2036)),
            9..=14 => (CardStatus::Valid, rng.gen_range(2015..=2024)),
            _ => (CardStatus::Valid, rng.gen_range(2031..=2036)),
        };
        let Some(expires_on) =
            NaiveDate::from_ymd_opt(expiry_year, rng.gen_range(1..=12), rng.gen_range(1..=28))
        else {
            continue;
        };
        cards.push(IdCard {
            id_number,
            name_km: format!("{family_km} {given_km}"),
            name_latin: format!("{family_latin} {given_latin}"),
            birth_date,
            sex,
            status,
            expires_on,
        });
    }
    cards
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_register_with_every_status() {
        let cards = generate_cards(300, 1);
        assert_eq!(cards, generate_cards(300, 1));
        assert_ne!(cards, generate_cards(300, 2));
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let count = |wanted: &dyn Fn(&IdCard) -> bool| cards.iter().filter(|c| wanted(c)).count();
        let revoked = count(&|c| c.status == CardStatus::Revoked);
        let deceased = count(&|c| c.status == CardStatus::Deceased);
        let expired = count(&|c| c.status == CardStatus::Valid && c.expires_on < today);
        let year_only = count(&|c| !c.birth_date.is_full());
        assert!((5..=30).contains(&revoked), "{revoked}");
        assert!((4..=25).contains(&deceased), "{deceased}");
        assert!((8..=35).contains(&expired), "{expired}");
        assert!((10..=50).contains(&year_only), "{year_only}");
        let unique: HashSet<&str> = cards.iter().map(|c| c.id_number.as_str()).collect();
        assert_eq!(unique.len(), 300);
    }
}
