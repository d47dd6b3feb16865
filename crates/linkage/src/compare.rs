//! Comparison levels: how two prepared records agree, field by field, as a small integer per field.
//!
//! Each field's levels are ordered from disagreement (0) to the strongest agreement; [`NULL`] means the field is
//! missing on either side and carries no evidence.

use std::collections::HashMap;

use crate::normalize::{khmer_match_key, normalize_latin, phonetic_key, romanize_khmer};
use crate::record::{BirthDate, Record, Sex, VillageCode};

/// The level of a comparison when either side lacks the field.
pub(crate) const NULL: u8 = u8::MAX;

/// The fields compared, in the order of a comparison vector.
pub(crate) const FIELDS: [&str; 7] = [
    "family",
    "given",
    "name_km",
    "birth_date",
    "village",
    "national_id",
    "sex",
];
pub(crate) const N_FIELDS: usize = FIELDS.len();
/// Positions of the name fields in a comparison vector.
pub(crate) const FAMILY: usize = 0;
pub(crate) const GIVEN: usize = 1;
pub(crate) const NAME_KM: usize = 2;

/// Human names of the levels of each field, strongest last.
pub(crate) const LEVELS: [&[&str]; N_FIELDS] = [
    &[
        "different",
        "similar (JW>=0.80)",
        "close (JW>=0.92)",
        "same phonetic key",
        "exact",
    ],
    &[
        "different",
        "similar (JW>=0.80)",
        "close (JW>=0.92)",
        "same phonetic key",
        "exact",
    ],
    &["different", "2 edits", "1 edit", "exact"],
    &[
        "different",
        "within 5 years",
        "within 1 year",
        "same year",
        "one part differs",
        "exact",
    ],
    &[
        "different",
        "same province",
        "same district",
        "same commune",
        "same village",
    ],
    &["different", "1 edit", "exact"],
    &["different", "same"],
];

pub(crate) type Vector = [u8; N_FIELDS];

/// A name written as tokens, with each token's phonetic key.
#[derive(Debug, Clone, Default)]
pub(crate) struct NameForm {
    pub(crate) tokens: Vec<String>,
    pub(crate) keys: Vec<String>,
    /// Tokens produced by romanizing Khmer script: never "exact" against a Latin spelling, only by key.
    pub(crate) romanized: bool,
}

impl NameForm {
    fn new(tokens: Vec<String>, romanized: bool) -> Option<NameForm> {
        if tokens.is_empty() {
            return None;
        }
        let keys = tokens.iter().map(|token| phonetic_key(token)).collect();
        Some(NameForm {
            tokens,
            keys,
            romanized,
        })
    }
    fn first(&self) -> usize {
        0
    }
    fn last(&self) -> usize {
        self.tokens.len() - 1
    }
}

/// A record reduced to what comparison and blocking need, computed once per record.
#[derive(Debug, Clone, Default)]
pub(crate) struct Prepared {
    pub(crate) latin: Option<NameForm>,
    pub(crate) khmer_romanized: Option<NameForm>,
    pub(crate) khmer_key: String,
    pub(crate) birth_date: Option<BirthDate>,
    pub(crate) village: Option<VillageCode>,
    pub(crate) national_id: Option<String>,
    pub(crate) sex: Option<Sex>,
}

impl Prepared {
    pub(crate) fn new(record: &Record) -> Prepared {
        let khmer_romanized = if record.name_km.is_empty() {
            None
        } else {
            NameForm::new(
                romanize_khmer(&record.name_km)
                    .iter()
                    .map(|t| t.to_ascii_uppercase())
                    .collect(),
                true,
            )
        };
        Prepared {
            latin: NameForm::new(normalize_latin(&record.name_latin), false),
            khmer_romanized,
            khmer_key: khmer_match_key(&record.name_km).replace(' ', ""),
            birth_date: record.birth_date,
            village: record.village_code,
            national_id: record
                .national_id
                .as_ref()
                .map(|id| id.as_str().to_string()),
            sex: record.sex,
        }
    }

    /// The name forms used for blocking keys: Latin if written, and the romanized Khmer if written.
    pub(crate) fn name_forms(&self) -> impl Iterator<Item = &NameForm> {
        self.latin.iter().chain(self.khmer_romanized.iter())
    }
}

/// FNV-1a: a fast hash for the short name strings looked up once per compared pair (SipHash, the default, costs
/// more than the comparison; the tables hold names, not attacker-chosen keys of a service).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;

/// Counts of name tokens, phonetic keys and Khmer names, for term-frequency adjustment.
#[derive(Debug, Clone, Default)]
pub(crate) struct TermFrequencies {
    pub(crate) tokens: FastMap<String, u32>,
    pub(crate) keys: FastMap<String, u32>,
    pub(crate) khmer: FastMap<String, u32>,
    pub(crate) n_tokens: u64,
    pub(crate) n_khmer: u64,
}

impl TermFrequencies {
    pub(crate) fn add(&mut self, record: &Prepared) {
        for form in record.name_forms() {
            for position in [form.first(), form.last()] {
                if !form.romanized {
                    *self
                        .tokens
                        .entry(form.tokens[position].clone())
                        .or_default() += 1;
                }
                *self.keys.entry(form.keys[position].clone()).or_default() += 1;
                self.n_tokens += 1;
            }
        }
        if !record.khmer_key.is_empty() {
            *self.khmer.entry(record.khmer_key.clone()).or_default() += 1;
            self.n_khmer += 1;
        }
    }

    fn frequency(table: &FastMap<String, u32>, value: &str, total: u64) -> f64 {
        let count = table.get(value).copied().unwrap_or(1).max(1);
        count as f64 / total.max(1) as f64
    }

    /// The relative frequency of the value that agreed at `level` of `field`, if that level is term-frequency
    /// adjusted.
    pub(crate) fn of(&self, field: usize, level: u8, a: &Prepared, b: &Prepared) -> Option<f64> {
        match (field, level) {
            (0 | 1, 3 | 4) => {
                let (form, position) = aligned_token(field, a, b)?;
                if level == 4 {
                    Some(Self::frequency(
                        &self.tokens,
                        &form.tokens[position],
                        self.n_tokens,
                    ))
                } else {
                    Some(Self::frequency(
                        &self.keys,
                        &form.keys[position],
                        self.n_tokens,
                    ))
                }
            }
            (2, 3) => Some(Self::frequency(&self.khmer, &a.khmer_key, self.n_khmer)),
            _ => None,
        }
    }
}

/// The two name forms to compare: Latin against Latin when both have it, else across scripts.
fn name_pair<'a>(a: &'a Prepared, b: &'a Prepared) -> Option<(&'a NameForm, &'a NameForm)> {
    match (&a.latin, &b.latin) {
        (Some(x), Some(y)) => Some((x, y)),
        (Some(x), None) => b.khmer_romanized.as_ref().map(|y| (x, y)),
        (None, Some(y)) => a.khmer_romanized.as_ref().map(|x| (x, y)),
        (None, None) => a.khmer_romanized.as_ref().zip(b.khmer_romanized.as_ref()),
    }
}

/// Jaro–Winkler similarity, as `strsim::jaro_winkler` computes it, without allocating for ASCII strings of up to 64
/// bytes (names, after normalization): flags live in two bit masks. It is the innermost loop of linking.
pub(crate) fn jaro_winkler(a: &str, b: &str) -> f64 {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    if x.len() > 64 || y.len() > 64 || !a.is_ascii() || !b.is_ascii() {
        return strsim::jaro_winkler(a, b);
    }
    if x.is_empty() && y.is_empty() {
        return 1.0;
    }
    if x.is_empty() || y.is_empty() {
        return 0.0;
    }
    let window = (x.len().max(y.len()) / 2).saturating_sub(1);
    let (mut x_flags, mut y_flags, mut matches) = (0u64, 0u64, 0usize);
    for (i, &byte) in x.iter().enumerate() {
        let (low, high) = (i.saturating_sub(window), (i + window + 1).min(y.len()));
        for (j, &other) in y.iter().enumerate().take(high).skip(low) {
            if y_flags & (1 << j) == 0 && byte == other {
                x_flags |= 1 << i;
                y_flags |= 1 << j;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    let (mut transpositions, mut remaining_y) = (0usize, y_flags);
    let mut remaining_x = x_flags;
    while remaining_x != 0 {
        let i = remaining_x.trailing_zeros() as usize;
        let j = remaining_y.trailing_zeros() as usize;
        if x[i] != y[j] {
            transpositions += 1;
        }
        remaining_x &= remaining_x - 1;
        remaining_y &= remaining_y - 1;
    }
    let m = matches as f64;
    let jaro =
        (m / x.len() as f64 + m / y.len() as f64 + (m - (transpositions / 2) as f64) / m) / 3.0;
    if jaro <= 0.7 {
        return jaro;
    }
    let prefix = x.iter().zip(y).take(4).take_while(|(p, q)| p == q).count() as f64;
    jaro + 0.1 * prefix * (1.0 - jaro)
}

/// Whether Jaro–Winkler similarity of `a` and `b` can reach 0.80, by a bound cheaper than the similarity: with `c`
/// the characters the two share (as multisets, ignoring the matching window), Jaro is at most
/// `(c/|a| + c/|b| + 1) / 3` and Jaro–Winkler at most `0.4 + 0.6 × Jaro`, so 0.80 needs `c/|a| + c/|b| >= 1`.
fn may_be_similar(a: &str, b: &str) -> bool {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    if !a.is_ascii() || !b.is_ascii() || x.is_empty() || y.is_empty() {
        return true;
    }
    let mut counts = [0u8; 128];
    for &byte in x {
        counts[usize::from(byte)] = counts[usize::from(byte)].saturating_add(1);
    }
    let mut common = 0usize;
    for &byte in y {
        if counts[usize::from(byte)] > 0 {
            counts[usize::from(byte)] -= 1;
            common += 1;
        }
    }
    common * (x.len() + y.len()) >= x.len() * y.len()
}

fn similarity(a: &str, b: &str) -> f64 {
    if may_be_similar(a, b) {
        jaro_winkler(a, b)
    } else {
        0.0
    }
}

fn token_level(x: &NameForm, i: usize, y: &NameForm, j: usize) -> u8 {
    if !x.romanized && !y.romanized && x.tokens[i] == y.tokens[j] {
        return 4;
    }
    if x.keys[i] == y.keys[j] {
        return 3;
    }
    let mut similarity = similarity(&x.tokens[i], &y.tokens[j]);
    if similarity < 0.92 {
        similarity = similarity.max(self::similarity(&x.keys[i], &y.keys[j]));
    }
    if similarity >= 0.92 {
        2
    } else if similarity >= 0.80 {
        1
    } else {
        0
    }
}

/// Which (first, last) alignment of the two names agrees best: straight, or family and given swapped.
/// Returns the levels for (family, given) and whether the names were swapped.
fn name_levels(x: &NameForm, y: &NameForm) -> (u8, u8, bool) {
    if x.tokens.len() == 1 || y.tokens.len() == 1 {
        // One side has a single token: match it against whichever token of the other agrees best.
        let best = [
            (x.first(), y.first()),
            (x.first(), y.last()),
            (x.last(), y.first()),
            (x.last(), y.last()),
        ]
        .into_iter()
        .map(|(i, j)| token_level(x, i, y, j))
        .max()
        .unwrap_or(0);
        return (best, NULL, false);
    }
    let straight = (
        token_level(x, x.first(), y, y.first()),
        token_level(x, x.last(), y, y.last()),
    );
    let straight_sum = u16::from(straight.0) + u16::from(straight.1);
    // The swapped alignment wins only with a larger sum; a token level is at most 4, so once its first level
    // cannot reach that, the second is not computed (the result is the same, with fewer comparisons).
    let swapped_first = token_level(x, x.first(), y, y.last());
    if u16::from(swapped_first) + 4 <= straight_sum {
        return (straight.0, straight.1, false);
    }
    let swapped = (swapped_first, token_level(x, x.last(), y, y.first()));
    if u16::from(swapped.0) + u16::from(swapped.1) > straight_sum {
        (swapped.0, swapped.1, true)
    } else {
        (straight.0, straight.1, false)
    }
}

/// The token of `a` that was compared for `field` (0 = family, 1 = given), for term frequencies.
fn aligned_token<'a>(
    field: usize,
    a: &'a Prepared,
    b: &'a Prepared,
) -> Option<(&'a NameForm, usize)> {
    let (x, y) = name_pair(a, b)?;
    if x.tokens.len() == 1 || y.tokens.len() == 1 {
        // The single-token case compares the best pair; the frequency of the shorter name's token is a fair proxy.
        return Some(if x.tokens.len() == 1 { (x, 0) } else { (y, 0) });
    }
    Some(if field == 0 {
        (x, x.first())
    } else {
        (x, x.last())
    })
}

fn birth_level(a: BirthDate, b: BirthDate) -> u8 {
    let year_gap = a.year.abs_diff(b.year);
    if let (Some((am, ad)), Some((bm, bd))) = (a.month_day, b.month_day) {
        if a == b {
            return 5;
        }
        let same = u8::from(a.year == b.year) + u8::from(am == bm) + u8::from(ad == bd);
        if same == 2 || (a.year == b.year && am == bd && ad == bm) {
            return 4;
        }
    }
    match year_gap {
        0 => 3,
        1 => 2,
        2..=5 => 1,
        _ => 0,
    }
}

fn village_level(a: VillageCode, b: VillageCode) -> u8 {
    if a.village() == b.village() {
        4
    } else if a.commune() == b.commune() {
        3
    } else if a.district() == b.district() {
        2
    } else if a.province() == b.province() {
        1
    } else {
        0
    }
}

/// The optimal-string-alignment distance (edits and adjacent transpositions, as `strsim::osa_distance`), capped:
/// any distance above 2 is returned as 3. Without allocating for strings of up to 64 characters, and with the
/// length difference checked first: most compared pairs are different people whose names are far apart.
pub(crate) fn osa_distance_capped(a: &str, b: &str) -> usize {
    const CAP: usize = 3;
    const MAX: usize = 64;
    if a == b {
        return 0;
    }
    let mut x = ['\0'; MAX];
    let mut y = ['\0'; MAX];
    let (mut n, mut m) = (0, 0);
    for character in a.chars() {
        if n == MAX {
            return strsim::osa_distance(a, b).min(CAP);
        }
        x[n] = character;
        n += 1;
    }
    for character in b.chars() {
        if m == MAX {
            return strsim::osa_distance(a, b).min(CAP);
        }
        y[m] = character;
        m += 1;
    }
    if n.abs_diff(m) >= CAP {
        return CAP;
    }
    // Each edit fixes at most one character that the strings do not share: a cheap lower bound first. Characters
    // are counted modulo 128 (a collision only makes the bound weaker, never wrong).
    let mut counts = [0u8; 128];
    for character in &x[..n] {
        let slot = &mut counts[*character as usize % 128];
        *slot = slot.saturating_add(1);
    }
    let mut common = 0;
    for character in &y[..m] {
        let slot = &mut counts[*character as usize % 128];
        if *slot > 0 {
            *slot -= 1;
            common += 1;
        }
    }
    if n.max(m) - common >= CAP {
        return CAP;
    }
    // Three rows of the dynamic programme: two back (transpositions), previous, current.
    let mut two_back = [0usize; MAX + 1];
    let mut previous: [usize; MAX + 1] = std::array::from_fn(|j| j);
    let mut current = [0usize; MAX + 1];
    for i in 1..=n {
        current[0] = i;
        let mut row_min = current[0];
        for j in 1..=m {
            let cost = usize::from(x[i - 1] != y[j - 1]);
            let mut best = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && x[i - 1] == y[j - 2] && x[i - 2] == y[j - 1] {
                best = best.min(two_back[j - 2] + 1);
            }
            current[j] = best;
            row_min = row_min.min(best);
        }
        if row_min >= CAP {
            return CAP;
        }
        two_back[..=m].copy_from_slice(&previous[..=m]);
        previous[..=m].copy_from_slice(&current[..=m]);
    }
    previous[m].min(CAP)
}

fn edit_level(a: &str, b: &str, one: u8, two: u8) -> u8 {
    match osa_distance_capped(a, b) {
        0 => one + 1,
        1 => one,
        2 => two,
        _ => 0,
    }
}

/// Compares two records. The second element says whether the names matched with family and given swapped.
pub(crate) fn compare(a: &Prepared, b: &Prepared) -> (Vector, bool) {
    let mut vector = [NULL; N_FIELDS];
    let mut swapped = false;
    if let Some((x, y)) = name_pair(a, b) {
        let (family, given, was_swapped) = name_levels(x, y);
        vector[0] = family;
        vector[1] = given;
        swapped = was_swapped;
    }
    if !a.khmer_key.is_empty() && !b.khmer_key.is_empty() {
        vector[2] = if a.khmer_key == b.khmer_key {
            3
        } else {
            match osa_distance_capped(&a.khmer_key, &b.khmer_key) {
                1 => 2,
                2 => 1,
                _ => 0,
            }
        };
    }
    if let (Some(x), Some(y)) = (a.birth_date, b.birth_date) {
        vector[3] = birth_level(x, y);
    }
    if let (Some(x), Some(y)) = (a.village, b.village) {
        vector[4] = village_level(x, y);
    }
    if let (Some(x), Some(y)) = (&a.national_id, &b.national_id) {
        vector[5] = edit_level(x, y, 1, 0);
    }
    if let (Some(x), Some(y)) = (a.sex, b.sex) {
        vector[6] = u8::from(x == y);
    }
    (vector, swapped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::NationalId;
    use expect_test::{Expect, expect};

    fn record(fields: &str) -> Record {
        let parts: Vec<&str> = fields.split('|').collect();
        let get = |i: usize| parts.get(i).copied().unwrap_or("").trim();
        Record {
            name_km: crate::normalize::normalize_khmer(get(0)),
            name_latin: get(1).to_string(),
            sex: Sex::parse(get(2)),
            birth_date: BirthDate::parse(get(3)).ok(),
            village_code: VillageCode::parse(get(4)).ok(),
            national_id: NationalId::parse(get(5)).ok(),
            ..Record::default()
        }
    }

    fn check(a: &str, b: &str, expected: Expect) {
        let (vector, swapped) = compare(&Prepared::new(&record(a)), &Prepared::new(&record(b)));
        let described: Vec<String> = vector
            .iter()
            .enumerate()
            .filter(|(_, level)| **level != NULL)
            .map(|(field, &level)| {
                format!("{}={}", FIELDS[field], LEVELS[field][usize::from(level)])
            })
            .collect();
        expected.assert_eq(&format!(
            "{}{}",
            described.join(", "),
            if swapped { " (swapped)" } else { "" }
        ));
    }

    proptest::proptest! {
        #[test]
        fn the_similarity_bound_never_hides_a_similar_pair(a in "[A-FS]{1,10}", b in "[A-FS]{1,10}") {
            if strsim::jaro_winkler(&a, &b) >= 0.80 {
                proptest::prop_assert!(may_be_similar(&a, &b));
            }
        }

        #[test]
        fn capped_osa_agrees_with_strsim(a in "[A-Dក-ខ]{0,10}", b in "[A-Dក-ខ]{0,10}") {
            proptest::prop_assert_eq!(osa_distance_capped(&a, &b), strsim::osa_distance(&a, &b).min(3));
        }

        #[test]
        fn jaro_winkler_agrees_with_strsim(a in "[A-Fa-c]{0,12}", b in "[A-Fa-c]{0,12}") {
            let (fast, reference) = (jaro_winkler(&a, &b), strsim::jaro_winkler(&a, &b));
            proptest::prop_assert!((fast - reference).abs() < 1e-12, "{} vs {}", fast, reference);
        }
    }

    #[test]
    fn comparison_levels() {
        check(
            "ជា សុភា|CHEA SOPHEA|F|1980-03-12|01020101|010203040",
            "ជា សុភា|CHIA SOPHEA|F|1980-12-03|01020102|010203004",
            expect![[
                r#"family=same phonetic key, given=exact, name_km=exact, birth_date=one part differs, village=same commune, national_id=1 edit, sex=same"#
            ]],
        );
        check(
            "|SOPHEA CHEA|M|1950|",
            "|CHEA SOPHEA|F|1950-01-01|",
            expect![[
                r#"family=exact, given=exact, birth_date=same year, sex=different (swapped)"#
            ]],
        );
        // Khmer-only against Latin-only: compared through the romanization.
        check(
            "ខៀវ ស្រីមុំ||F|1962|",
            "|KHIEU SREYMOM|F|1963|",
            expect![[
                r#"family=same phonetic key, given=same phonetic key, birth_date=within 1 year, sex=same"#
            ]],
        );
        check("|SOK|||", "|CHAN SOK|||", expect![[r#"family=exact"#]]);
    }
}
