//! A synthetic Cambodian population for testing linkage: households on the real village list, Khmer names with
//! their romanization variants, year-only birth dates for the elderly, missing ID numbers, relatives who look
//! alike (twins; a son with his father's full name), and several records per person from different programs with
//! controllable error rates. The names (about 150 family names, 220 given names, each in Khmer script with its
//! common romanizations) and where they come from are in the `names` module: our own compilation, drawn with
//! Zipf-like frequencies so that a few family names (SOK, CHEA, KEO, SAN, LIM…) are very common.
//!
//! Output is streamed in the `dspp link` format (one person at a time, so 18 million people need no memory), with a
//! `record_id,entity` truth file. The same seed gives the same files.

use std::fmt;
use std::io::Write;

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Error;
use crate::names::{FAMILY_NAMES, FEMALE_NAMES, MALE_NAMES, Name};
use crate::record::{Gazetteer, INPUT_HEADER, VillageCode};

/// Program databases the records are said to come from.
const SOURCES: &[&str] = &["idpoor", "cct", "hef", "nssf", "disability", "covid-cash"];

/// Reference year for ages.
const CURRENT_YEAR: u16 = 2025;

/// Options of the generator. Rates are probabilities in [0, 1].
#[derive(Debug, Clone)]
pub struct SynthOptions {
    pub people: usize,
    /// Share of people with more than one record.
    pub duplicate_rate: f64,
    /// Most records one person can have.
    pub max_records_per_person: usize,
    /// Per field and per record, the chance of a real error (typo, wrong year, moved village, wrong digit).
    pub error_rate: f64,
    /// Share of adults without a national ID number.
    pub missing_id_rate: f64,
    pub seed: u64,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            people: 10_000,
            duplicate_rate: 0.3,
            max_records_per_person: 4,
            error_rate: 0.1,
            missing_id_rate: 0.3,
            seed: 1,
        }
    }
}

/// Counts of what was generated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SynthReport {
    pub people: usize,
    pub households: usize,
    pub records: usize,
}

impl fmt::Display for SynthReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} people in {} households, {} records",
            self.people, self.households, self.records
        )
    }
}

#[derive(Debug, Clone)]
struct Person {
    id: usize,
    family: Name,
    given: Name,
    male: bool,
    year: u16,
    month: u8,
    day: u8,
    village: VillageCode,
    national_id: Option<String>,
}

/// Draws names with Zipf-like weights `1 / (rank + 1)^exponent`, so some names are common and most are rare, as
/// in real registers.
#[derive(Debug, Clone)]
struct Zipf {
    names: &'static [Name],
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(names: &'static [Name], exponent: f64) -> Zipf {
        let mut total = 0.0;
        let cumulative = (0..names.len())
            .map(|rank| {
                total += (rank as f64 + 1.0).powf(-exponent);
                total
            })
            .collect();
        Zipf { names, cumulative }
    }

    fn pick(&self, rng: &mut ChaCha8Rng) -> Name {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let target = rng.random::<f64>() * total;
        let rank = self.cumulative.partition_point(|&c| c < target);
        self.names[rank.min(self.names.len() - 1)]
    }
}

/// Exponents of the name frequencies: family names are concentrated (the most common, SOK, is carried by about
/// one person in six), given names less so.
const FAMILY_EXPONENT: f64 = 1.0;
const GIVEN_EXPONENT: f64 = 0.8;

/// Chance that a son gets his father's full name (a "junior"): same name, village and family, another generation.
const JUNIOR_RATE: f64 = 0.03;

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if year.is_multiple_of(4) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

struct Generator<'a> {
    rng: ChaCha8Rng,
    options: &'a SynthOptions,
    villages: Vec<VillageCode>,
    next_person: usize,
    next_record: usize,
    /// Given names already used in the household being generated.
    household_names: Vec<&'static str>,
    family_names: Zipf,
    male_names: Zipf,
    female_names: Zipf,
}

impl Generator<'_> {
    fn person(&mut self, family: Name, male: bool, year: u16, village: VillageCode) -> Person {
        // Parents do not give two of their children (or a child and themselves) the same name.
        let names = if male {
            &self.male_names
        } else {
            &self.female_names
        };
        let mut given = names.pick(&mut self.rng);
        for _ in 0..20 {
            if !self.household_names.contains(&given.0) {
                break;
            }
            given = names.pick(&mut self.rng);
        }
        self.household_names.push(given.0);
        let month = self.rng.random_range(1..=12);
        let day = self.rng.random_range(1..=days_in_month(year, month));
        let adult = CURRENT_YEAR - year >= 18;
        let national_id = (adult && !self.rng.random_bool(self.options.missing_id_rate))
            .then(|| format!("{:09}", self.rng.random_range(10_000_000..1_000_000_000u32)));
        self.next_person += 1;
        Person {
            id: self.next_person,
            family,
            given,
            male,
            year,
            month,
            day,
            village,
            national_id,
        }
    }

    /// One household: a head, usually a spouse, children; sometimes an elderly parent. Children take the
    /// family name, or (an old Cambodian custom) the father's given name as their family name.
    fn household(&mut self) -> Vec<Person> {
        self.household_names.clear();
        let village = self
            .villages
            .choose(&mut self.rng)
            .copied()
            .unwrap_or(VillageCode::from_u32(1010101));
        let head_male = self.rng.random_bool(0.75);
        let head_year = CURRENT_YEAR - self.rng.random_range(20..80);
        let family = self.family_names.pick(&mut self.rng);
        let head = self.person(family, head_male, head_year, village);
        let mut members = Vec::new();
        if self.rng.random_bool(0.8) {
            let spouse_family = self.family_names.pick(&mut self.rng);
            let spouse_year = (head_year + self.rng.random_range(0..10)).saturating_sub(5);
            members.push(self.person(
                spouse_family,
                !head_male,
                spouse_year.min(CURRENT_YEAR - 18),
                village,
            ));
        }
        let children_family = if head_male && self.rng.random_bool(0.3) {
            head.given
        } else {
            head.family
        };
        let n_children = if CURRENT_YEAR - head_year < 20 {
            0
        } else {
            self.rng.random_range(0..=5)
        };
        let mut previous_child: Option<Person> = None;
        for _ in 0..n_children {
            let youngest = CURRENT_YEAR.min(head_year + 45);
            let year = self
                .rng
                .random_range((head_year + 18).min(youngest)..=youngest);
            let male = self.rng.random_bool(0.5);
            let mut child = self.person(children_family, male, year, village);
            if male
                && head_male
                && children_family.0 == head.family.0
                && self.rng.random_bool(JUNIOR_RATE)
            {
                child.given = head.given;
            }
            // Twins: the same birth date, village and family name; only the given name (distinct in a household) differs.
            if let Some(previous) = &previous_child
                && self.rng.random_bool(0.05)
            {
                (child.year, child.month, child.day) =
                    (previous.year, previous.month, previous.day);
            }
            previous_child = Some(child.clone());
            members.push(child);
        }
        if self.rng.random_bool(0.15) {
            let year = head_year
                .saturating_sub(self.rng.random_range(20..35))
                .max(1920);
            let (family, male) = (
                self.family_names.pick(&mut self.rng),
                self.rng.random_bool(0.4),
            );
            members.push(self.person(family, male, year, village));
        }
        members.insert(0, head);
        members
    }

    fn typo(&mut self, text: &str) -> String {
        let mut characters: Vec<char> = text.chars().collect();
        if characters.len() < 2 {
            return text.to_string();
        }
        let position = self.rng.random_range(0..characters.len() - 1);
        match self.rng.random_range(0..4) {
            0 => characters.swap(position, position + 1),
            1 => {
                characters.remove(position);
            }
            2 => characters.insert(position, characters[position]),
            _ => {
                let replacement = *b"AEIOUNHKST".choose(&mut self.rng).unwrap_or(&b'A');
                characters[position] = char::from(replacement);
            }
        }
        characters.into_iter().collect()
    }

    /// The Khmer name as a clerk might have typed it: sometimes a zero-width space instead of a space, sometimes
    /// the subscript typed after the vowel (both invisible on screen and undone by normalization), with an error
    /// rate of real misspellings (a dropped mark).
    fn khmer_name(&mut self, person: &Person) -> String {
        let separator = if self.rng.random_bool(0.3) {
            "\u{200B}"
        } else {
            " "
        };
        let mut text = format!("{}{separator}{}", person.family.0, person.given.0);
        if self.rng.random_bool(0.2) {
            // Type the vowel before the subscript, as some keyboards and habits produce: invisible once rendered.
            let mut characters: Vec<char> = text.chars().collect();
            if let Some(position) = characters
                .windows(3)
                .position(|w| w[0] == '\u{17D2}' && ('\u{17B6}'..='\u{17C5}').contains(&w[2]))
            {
                characters[position..position + 3].rotate_right(1);
                text = characters.into_iter().collect();
            }
        }
        if self.rng.random_bool(self.options.error_rate / 2.0) {
            let characters: Vec<char> = text.chars().collect();
            let marks: Vec<usize> = (0..characters.len())
                .filter(|&i| ('\u{17B6}'..='\u{17D1}').contains(&characters[i]))
                .collect();
            if let Some(&drop) = marks.choose(&mut self.rng) {
                text = characters
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != drop)
                    .map(|(_, c)| c)
                    .collect();
            }
        }
        text
    }

    fn latin_name(&mut self, person: &Person) -> String {
        let mut family = person
            .family
            .1
            .choose(&mut self.rng)
            .copied()
            .unwrap_or("")
            .to_string();
        let mut given = person
            .given
            .1
            .choose(&mut self.rng)
            .copied()
            .unwrap_or("")
            .to_string();
        if self.rng.random_bool(self.options.error_rate / 2.0) {
            family = self.typo(&family);
        }
        if self.rng.random_bool(self.options.error_rate / 2.0) {
            given = self.typo(&given);
        }
        if self.rng.random_bool(0.1) {
            std::mem::swap(&mut family, &mut given);
        }
        let mut name = format!("{family} {given}");
        if self.rng.random_bool(0.2) {
            name = name.to_lowercase();
        }
        name
    }

    fn record(&mut self, person: &Person, first: bool) -> [String; 8] {
        let error = self.options.error_rate;
        self.next_record += 1;
        let record_id = format!("R{:09}", self.next_record);
        let source = SOURCES
            .choose(&mut self.rng)
            .copied()
            .unwrap_or("idpoor")
            .to_string();
        let (has_km, has_latin) = match self.rng.random_range(0..10) {
            0..=1 => (true, false),
            2..=3 => (false, true),
            _ => (true, true),
        };
        let mut name_km = if has_km {
            self.khmer_name(person)
        } else {
            String::new()
        };
        let mut name_latin = if has_latin {
            self.latin_name(person)
        } else {
            String::new()
        };
        if self.rng.random_bool(error / 20.0) {
            std::mem::swap(&mut name_km, &mut name_latin);
        }
        let sex = if self.rng.random_bool(0.05) {
            String::new()
        } else if self.rng.random_bool(error / 10.0) {
            (if person.male { "F" } else { "M" }).to_string()
        } else {
            (if person.male { "M" } else { "F" }).to_string()
        };
        let (mut year, mut month, mut day) = (person.year, person.month, person.day);
        let elderly = person.year < 1975;
        let mut year_only = elderly && self.rng.random_bool(0.6);
        if !first && self.rng.random_bool(error) {
            match self.rng.random_range(0..4) {
                0 => {
                    year = if self.rng.random_bool(0.5) {
                        year + 1
                    } else {
                        year - 1
                    }
                }
                1 if day <= 12 => (month, day) = (day, month),
                2 => day = self.rng.random_range(1..=days_in_month(year, month)),
                _ => year_only = true,
            }
        }
        let birth_date = if self.rng.random_bool(0.03) {
            String::new()
        } else if year_only {
            format!("{year:04}")
        } else {
            format!("{year:04}-{month:02}-{day:02}")
        };
        let mut village = Some(person.village);
        if !first && self.rng.random_bool(error / 2.0) {
            // Moved within the commune, or recorded at the commune office's village.
            let commune = person.village.commune();
            let start = self.villages.partition_point(|v| v.commune() < commune);
            let end = self.villages.partition_point(|v| v.commune() <= commune);
            village = self.villages[start..end]
                .choose(&mut self.rng)
                .copied()
                .or(village);
        }
        if self.rng.random_bool(error / 4.0) {
            village = None;
        }
        let national_id = match &person.national_id {
            Some(id) if self.rng.random_bool(0.7) => {
                if self.rng.random_bool(error / 2.0) {
                    self.typo(id)
                } else {
                    id.clone()
                }
            }
            _ => String::new(),
        };
        [
            record_id,
            source,
            name_km,
            name_latin,
            sex,
            birth_date,
            village.map(|v| v.to_string()).unwrap_or_default(),
            national_id,
        ]
    }
}

/// Generates `options.people` people on the villages of `gazetteer`, writing records (the `dspp link` format) and
/// truth (`record_id,entity`) as it goes.
pub fn generate<W: Write, T: Write>(
    gazetteer: &Gazetteer,
    options: &SynthOptions,
    records: W,
    truth: T,
) -> Result<SynthReport, Error> {
    if gazetteer.is_empty() {
        return Err(Error::Invalid {
            what: "gazetteer",
            reason: "no villages".into(),
        });
    }
    let mut generator = Generator {
        rng: ChaCha8Rng::seed_from_u64(options.seed),
        options,
        villages: {
            let mut villages: Vec<VillageCode> =
                gazetteer.entries.iter().map(|(code, _, _)| *code).collect();
            villages.sort_unstable();
            villages
        },
        next_person: 0,
        next_record: 0,
        household_names: Vec::new(),
        family_names: Zipf::new(FAMILY_NAMES, FAMILY_EXPONENT),
        male_names: Zipf::new(MALE_NAMES, GIVEN_EXPONENT),
        female_names: Zipf::new(FEMALE_NAMES, GIVEN_EXPONENT),
    };
    let mut records_writer = csv::Writer::from_writer(records);
    let mut truth_writer = csv::Writer::from_writer(truth);
    records_writer.write_record(INPUT_HEADER)?;
    truth_writer.write_record(["record_id", "entity"])?;
    let mut report = SynthReport::default();
    while report.people < options.people {
        report.households += 1;
        for person in generator.household() {
            if report.people >= options.people {
                break;
            }
            report.people += 1;
            let extra = if generator.rng.random_bool(options.duplicate_rate) {
                generator
                    .rng
                    .random_range(1..options.max_records_per_person.max(2))
            } else {
                0
            };
            for copy in 0..=extra {
                let row = generator.record(&person, copy == 0);
                truth_writer.write_record([row[0].as_str(), &format!("P{:09}", person.id)])?;
                records_writer.write_record(&row)?;
                report.records += 1;
            }
        }
    }
    records_writer.flush()?;
    truth_writer.flush()?;
    Ok(report)
}
