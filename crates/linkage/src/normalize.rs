//! Name normalization for Cambodian records: Khmer-script canonical ordering, Latin cleanup, a phonetic key that
//! folds the common romanization variants of Khmer names, and a Khmer → Latin romanization into the same key space.
//!
//! Three representations come out of a name:
//! - [`normalize_khmer`]: the Khmer string in one canonical encoding (what a human would call "the same spelling");
//! - [`normalize_latin`]: upper-case ASCII tokens (`"Chéa  sokha"` → `["CHEA", "SOKHA"]`);
//! - [`phonetic_key`]: a short key per token in which `CHEA`, `CHIA` and `JEA` coincide; [`romanize_khmer`] maps a
//!   Khmer token into Latin letters that produce the same key, which is how a Khmer-only record meets a Latin-only one.

use unicode_normalization::UnicodeNormalization;

/// Characters that are invisible in Khmer text and appear or vanish depending on the keyboard and the font:
/// zero-width space (used as a word separator), zero-width non-joiner and joiner, the byte-order mark and soft hyphen.
fn is_invisible(character: char) -> bool {
    matches!(
        character,
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{FEFF}' | '\u{00AD}' | '\u{2060}'
    )
}

const COENG: char = '\u{17D2}';
const RO: char = '\u{179A}';

fn is_khmer_base(character: char) -> bool {
    // Consonants U+1780..U+17A2 and independent vowels U+17A3..U+17B3.
    ('\u{1780}'..='\u{17B3}').contains(&character)
}

fn is_khmer(character: char) -> bool {
    ('\u{1780}'..='\u{17FF}').contains(&character) || ('\u{19E0}'..='\u{19FF}').contains(&character)
}

/// Sort key of a mark inside one Khmer orthographic syllable, following the storage order that SIL's `khnormal`
/// produces: subscript consonants (coeng + consonant) first, coeng-ro after the other subscripts, then the register
/// shifters and robat, the dependent vowel, the above signs and finally the spacing signs after the vowel.
fn mark_order(mark: &[char]) -> u8 {
    match mark {
        [COENG, RO] => 2,
        [COENG, _] => 1,
        ['\u{17C9}' | '\u{17CA}'] => 3,
        ['\u{17CC}'] => 4,
        [vowel] if ('\u{17B6}'..='\u{17C5}').contains(vowel) => 5,
        ['\u{17C6}' | '\u{17CB}' | '\u{17CD}'..='\u{17D1}' | '\u{17D3}' | '\u{17DD}'] => 6,
        ['\u{17C7}' | '\u{17C8}'] => 7,
        _ => 8,
    }
}

/// Canonical Khmer encoding: NFC, invisible characters removed, and the marks of each syllable put in the order that
/// `khnormal` uses (Unicode canonical ordering does not cover Khmer: every Khmer mark has combining class 0, so two
/// visually identical spellings with the subscripts or vowel typed in a different order stay different under NFC).
/// Also composes the split vowels that render like a single one (`េ`+`ី` → `ើ`, `េ`+`ា` → `ោ`) and drops a mark
/// typed twice in a row. Whitespace runs become one space; text outside Khmer is kept as is.
pub fn normalize_khmer(text: &str) -> String {
    let characters: Vec<char> = text
        .nfc()
        .filter(|character| !is_invisible(*character))
        .collect();
    let mut output = String::with_capacity(text.len());
    let mut index = 0;
    let mut pending_space = false;
    while index < characters.len() {
        let character = characters[index];
        if character.is_whitespace() {
            pending_space = !output.is_empty();
            index += 1;
            continue;
        }
        if pending_space {
            output.push(' ');
            pending_space = false;
        }
        index += 1;
        if !is_khmer_base(character) {
            output.push(character);
            continue;
        }
        // Collect the marks that belong to this base: everything up to the next base that is not a subscript.
        let mut marks: Vec<Vec<char>> = Vec::new();
        while index < characters.len() {
            let next = characters[index];
            if next == COENG {
                match characters.get(index + 1) {
                    Some(&subscript) if is_khmer_base(subscript) => {
                        marks.push(vec![COENG, subscript]);
                        index += 2;
                    }
                    _ => {
                        // A stray coeng with nothing to subscript is a typing error: drop it.
                        index += 1;
                    }
                }
            } else if is_khmer(next)
                && !is_khmer_base(next)
                && ('\u{17B6}'..='\u{17DD}').contains(&next)
            {
                marks.push(vec![next]);
                index += 1;
            } else {
                break;
            }
        }
        marks.sort_by_key(|mark| mark_order(mark));
        marks.dedup();
        let mut flat: Vec<char> = marks.into_iter().flatten().collect();
        compose_split_vowels(&mut flat);
        output.push(character);
        output.extend(flat);
    }
    output
}

fn compose_split_vowels(marks: &mut Vec<char>) {
    let mut index = 0;
    while index + 1 < marks.len() {
        let composed = match (marks[index], marks[index + 1]) {
            ('\u{17C1}', '\u{17B8}') => Some('\u{17BE}'),
            ('\u{17C1}', '\u{17B6}') => Some('\u{17C4}'),
            _ => None,
        };
        if let Some(vowel) = composed {
            marks[index] = vowel;
            marks.remove(index + 1);
        }
        index += 1;
    }
}

/// The Khmer string reduced for matching: canonical order plus the folding of letters that render identically
/// below the line (subscript DA and subscript TA) and of the obsolete independent vowels to their modern spelling.
pub fn khmer_match_key(text: &str) -> String {
    let normalized = normalize_khmer(text);
    let mut output = String::with_capacity(normalized.len());
    let mut previous = ' ';
    for character in normalized.chars() {
        let folded = if previous == COENG && character == '\u{178A}' {
            '\u{178F}'
        } else {
            character
        };
        output.push(folded);
        previous = character;
    }
    output
}

/// Upper-case ASCII tokens of a Latin-script name: diacritics removed, anything that is not a letter separates
/// tokens. `"Chéa, Sok-Kha"` → `["CHEA", "SOK", "KHA"]`.
pub fn normalize_latin(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    for character in text.nfd() {
        if unicode_normalization::char::is_combining_mark(character) {
            continue;
        }
        if character.is_ascii_alphabetic() {
            current.push(character.to_ascii_uppercase());
        } else if character == '\'' || character == '\u{2019}' {
            // Apostrophes inside a name ("O'BRIEN") join rather than split.
        } else if !current.is_empty() {
            tokens.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

/// Whether a name is written mostly in Khmer script (used to detect a name in the wrong column).
pub fn is_mostly_khmer(text: &str) -> bool {
    let mut khmer = 0usize;
    let mut latin = 0usize;
    for character in text.chars() {
        if is_khmer(character) {
            khmer += 1;
        } else if character.is_alphabetic() {
            latin += 1;
        }
    }
    khmer > latin
}

/// Phonetic key of one upper-case Latin token, built so that the common romanizations of one Khmer syllable agree.
///
/// Consonants fold by place of articulation, because Khmer romanization is inconsistent about aspiration and
/// voicing: `CH/CHH/J/JH` → `C`, `K/KH/G/GH/Q` → `K`, `T/TH/D/DH` → `T` (so `-TH` and `-T` endings agree),
/// `P/PH/B/BH/F` → `P`, `S/SH/X/Z` → `S`, `NG` → `G`, `NH/NY/GN` → `N`, `V/W` → `V`; doubled letters collapse and a
/// non-initial `H` is silent. A vowel run (with a trailing `Y`, `V`, `W` counted as `I`, `U`) becomes one class:
/// `o` if it contains `O` or ends in `U` (`POV`, `PAO`, `PEOU`, `KHIEU`, `KHIEV`), `i` if it ends in `I`
/// (`SREY`, `SREI`, `LY`), `e` if it otherwise contains `E` or `I` (`CHEA`, `CHIA`, `JEA`), else `a`.
pub fn phonetic_key(token: &str) -> String {
    let bytes: Vec<u8> = token
        .bytes()
        .filter(u8::is_ascii_alphabetic)
        .map(|b| b.to_ascii_uppercase())
        .collect();
    let mut key = String::with_capacity(bytes.len());
    let mut index = 0;
    let is_vowel = |b: u8| matches!(b, b'A' | b'E' | b'I' | b'O' | b'U');
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let push_consonant = |key: &mut String, symbol: char| {
        if !key.ends_with(symbol) {
            key.push(symbol);
        }
    };
    while index < bytes.len() {
        let byte = bytes[index];
        let previous_is_vowel =
            index > 0 && (is_vowel(at(index - 1)) || at(index - 1) == b'Y' && index > 1);
        let next_is_vowel = is_vowel(at(index + 1));
        // Vowel-like Y, V, W: after a vowel and not before one they close the vowel run.
        let vowelish_glide =
            matches!(byte, b'Y' | b'V' | b'W') && previous_is_vowel && !next_is_vowel;
        let lone_y = byte == b'Y' && index > 0 && !next_is_vowel;
        if is_vowel(byte) || vowelish_glide || lone_y {
            let start = index;
            let mut run = String::new();
            while index < bytes.len() {
                let b = bytes[index];
                let glide =
                    matches!(b, b'Y' | b'V' | b'W') && index > start && !is_vowel(at(index + 1));
                // The run's first letter is always taken (the outer test chose it), so the loop always advances.
                let y_vowel = index == start;
                if is_vowel(b) || glide || y_vowel {
                    run.push(match b {
                        b'Y' => 'I',
                        b'V' | b'W' => 'U',
                        other => other as char,
                    });
                    index += 1;
                    if glide {
                        break;
                    }
                } else {
                    break;
                }
            }
            let last = run.chars().last().unwrap_or('A');
            let class = if run.contains('O') || last == 'U' {
                'o'
            } else if last == 'I' {
                'i'
            } else if run.contains('E') || run.contains('I') {
                'e'
            } else {
                'a'
            };
            key.push(class);
            continue;
        }
        let (symbol, width) = match (byte, at(index + 1), at(index + 2)) {
            (b'C', b'H', b'H') => (Some('C'), 3),
            (b'C', b'H', _) | (b'J', b'H', _) => (Some('C'), 2),
            (b'J', _, _) => (Some('C'), 1),
            (b'K' | b'G', b'H', _) => (Some('K'), 2),
            (b'N', b'G', _) => (Some('G'), 2),
            (b'N', b'H' | b'Y', _) if next_is_vowel || is_vowel(at(index + 2)) => (Some('N'), 2),
            (b'G', b'N', _) => (Some('N'), 2),
            (b'K' | b'G' | b'Q' | b'C', _, _) => (Some('K'), 1),
            (b'T' | b'D', b'H', _) => (Some('T'), 2),
            (b'T' | b'D', _, _) => (Some('T'), 1),
            (b'P' | b'B', b'H', _) => (Some('P'), 2),
            (b'P' | b'B' | b'F', _, _) => (Some('P'), 1),
            (b'S', b'H', _) => (Some('S'), 2),
            (b'S' | b'X' | b'Z', _, _) => (Some('S'), 1),
            (b'V' | b'W', _, _) => (Some('V'), 1),
            (b'H', _, _) => (if index == 0 { Some('H') } else { None }, 1),
            (other, _, _) => (Some(other as char), 1),
        };
        if let Some(symbol) = symbol {
            push_consonant(&mut key, symbol);
        }
        index += width;
    }
    key
}

/// Khmer consonant: Latin initial, Latin final, and whether it belongs to the o-series (second register), which
/// changes how the following vowel is romanized (`ជា` is CHEA but `ចា` is CHA).
fn consonant(character: char) -> Option<(&'static str, &'static str, bool)> {
    Some(match character {
        'ក' => ("k", "k", false),
        'ខ' => ("kh", "kh", false),
        'គ' => ("k", "k", true),
        'ឃ' => ("kh", "kh", true),
        'ង' => ("ng", "ng", true),
        'ច' => ("ch", "ch", false),
        'ឆ' => ("chh", "ch", false),
        'ជ' => ("ch", "ch", true),
        'ឈ' => ("chh", "ch", true),
        'ញ' => ("nh", "nh", true),
        'ដ' => ("d", "t", false),
        'ឋ' => ("th", "th", false),
        'ឌ' => ("d", "t", true),
        'ឍ' => ("th", "th", true),
        'ណ' => ("n", "n", false),
        'ត' => ("t", "t", false),
        'ថ' => ("th", "th", false),
        'ទ' => ("t", "t", true),
        'ធ' => ("th", "th", true),
        'ន' => ("n", "n", true),
        'ប' => ("b", "p", false),
        'ផ' => ("ph", "ph", false),
        'ព' => ("p", "p", true),
        'ភ' => ("ph", "ph", true),
        'ម' => ("m", "m", true),
        'យ' => ("y", "y", true),
        'រ' => ("r", "", true),
        'ល' => ("l", "l", true),
        'វ' => ("v", "v", true),
        'ឝ' | 'ឞ' => ("s", "s", false),
        'ស' => ("s", "s", false),
        'ហ' => ("h", "h", false),
        'ឡ' => ("l", "l", false),
        'អ' => ("", "", false),
        _ => return None,
    })
}

fn independent_vowel(character: char) -> Option<&'static str> {
    Some(match character {
        'ឣ' | 'ឤ' => "a",
        'ឥ' => "e",
        'ឦ' => "ei",
        'ឧ' => "o",
        'ឨ' => "ou",
        'ឩ' => "ou",
        'ឪ' => "ov",
        'ឫ' | 'ឬ' => "rue",
        'ឭ' | 'ឮ' => "lue",
        'ឯ' => "ae",
        'ឰ' => "ai",
        'ឱ' | 'ឲ' => "ao",
        'ឳ' => "au",
        _ => return None,
    })
}

/// Dependent vowel in the (a-series, o-series) romanization in common use for personal names.
fn dependent_vowel(character: char) -> Option<(&'static str, &'static str)> {
    Some(match character {
        'ា' => ("a", "ea"),
        'ិ' => ("e", "i"),
        'ី' => ("ei", "i"),
        'ឹ' => ("oe", "ue"),
        'ឺ' => ("eu", "ueu"),
        'ុ' => ("o", "u"),
        'ូ' => ("ou", "u"),
        'ួ' => ("uo", "uo"),
        'ើ' => ("aeu", "eu"),
        'ឿ' => ("oea", "oea"),
        'ៀ' => ("ie", "ie"),
        'េ' => ("e", "e"),
        'ែ' => ("ae", "ae"),
        'ៃ' => ("ai", "ey"),
        'ោ' => ("ao", "o"),
        'ៅ' => ("au", "ov"),
        _ => return None,
    })
}

/// Latin romanization of a Khmer name (lower case, one token per space-separated Khmer word), following the
/// conventions of Cambodian civil documents closely enough that [`phonetic_key`] of the result equals the key of
/// the usual Latin spelling for common names (`ជា` → `chea`, `ស្រី` → `srei`, `ខៀវ` → `khiev`).
pub fn romanize_khmer(text: &str) -> Vec<String> {
    let normalized = normalize_khmer(text);
    normalized
        .split(' ')
        .map(romanize_word)
        .filter(|word| !word.is_empty())
        .collect()
}

fn romanize_word(word: &str) -> String {
    let characters: Vec<char> = word.chars().collect();
    let mut output = String::new();
    let mut index = 0;
    // Whether the syllable being written has a vowel (explicit or inherent) and so can take a final consonant.
    let mut open_syllable = false;
    let mut has_final = false;
    while index < characters.len() {
        let character = characters[index];
        if let Some(vowel) = independent_vowel(character) {
            output.push_str(vowel);
            open_syllable = true;
            has_final = false;
            index += 1;
            continue;
        }
        let Some((initial, final_form, mut o_series)) = consonant(character) else {
            index += 1;
            continue;
        };
        // Look at what follows this consonant: subscripts, shifters, vowel, signs.
        let mut cursor = index + 1;
        let mut subscripts: Vec<char> = Vec::new();
        while cursor + 1 < characters.len() && characters[cursor] == COENG {
            subscripts.push(characters[cursor + 1]);
            cursor += 2;
        }
        let mut vowel: Option<char> = None;
        let mut nikahit = false;
        let mut reahmuk = false;
        while cursor < characters.len() {
            let mark = characters[cursor];
            match mark {
                '\u{17C9}' => o_series = false,
                '\u{17CA}' => o_series = true,
                '\u{17C6}' => nikahit = true,
                '\u{17C7}' => reahmuk = true,
                _ if dependent_vowel(mark).is_some() => vowel = Some(mark),
                _ if ('\u{17B6}'..='\u{17DD}').contains(&mark) => {}
                _ => break,
            }
            cursor += 1;
        }
        let bare = vowel.is_none() && !nikahit && !reahmuk;
        // After an open syllable, a bare consonant closes it ("សុខ" = so + kh). A consonant carrying subscripts
        // closes it too, and its subscript starts the next syllable ("សម្បត្តិ" = sam + bat + ti, "វណ្ណា" = von + na).
        let mut initial_text = initial.to_string();
        let mut cluster = subscripts.as_slice();
        if open_syllable && !has_final && (bare || !subscripts.is_empty()) {
            output.push_str(final_form);
            has_final = true;
            let Some((&first, rest)) = subscripts.split_first() else {
                index = cursor;
                continue;
            };
            let (sub_initial, _, sub_o) = consonant(first).unwrap_or(("", "", o_series));
            initial_text = sub_initial.to_string();
            o_series = sub_o;
            cluster = rest;
        }
        output.push_str(&initial_text);
        for subscript in cluster {
            if let Some((text, _, sub_o)) = consonant(*subscript) {
                output.push_str(text);
                // A subscript of the o-series makes the cluster o-series unless the base is a-series and sonorant.
                if sub_o && initial.is_empty() {
                    o_series = true;
                }
            }
        }
        match vowel.and_then(dependent_vowel) {
            Some((a_form, o_form)) => {
                let form = if o_series { o_form } else { a_form };
                if nikahit && vowel == Some('ា') {
                    output.push_str(if o_series { "oa" } else { "a" });
                } else {
                    output.push_str(form);
                }
            }
            None if nikahit => output.push_str(if o_series { "u" } else { "a" }),
            None => output.push_str(if o_series { "o" } else { "a" }),
        }
        if nikahit {
            output.push('m');
        }
        if reahmuk {
            output.push('h');
        }
        open_syllable = true;
        has_final = nikahit || reahmuk;
        index = cursor;
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{Expect, expect};

    fn codepoints(text: &str) -> String {
        text.chars()
            .map(|c| format!("{:04X}", c as u32))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn check(input: &str, expected: Expect) {
        let khmer = normalize_khmer(input);
        let latin_tokens = if is_mostly_khmer(input) {
            romanize_khmer(input)
        } else {
            normalize_latin(input)
        };
        let keys: Vec<String> = latin_tokens
            .iter()
            .map(|token| phonetic_key(token))
            .collect();
        let actual = if is_mostly_khmer(input) {
            format!(
                "{khmer} [{}] -> {} -> {}",
                codepoints(&khmer),
                latin_tokens.join(" "),
                keys.join(" ")
            )
        } else {
            format!("{} -> {}", latin_tokens.join(" "), keys.join(" "))
        };
        expected.assert_eq(&actual);
    }

    #[test]
    fn khmer_subscript_order_is_canonical() {
        // ស្រី typed with the vowel before the coeng-ro: same string after normalization.
        check(
            "ស\u{17B8}\u{17D2}\u{179A}",
            expect!["ស្រី [179F 17D2 179A 17B8] -> srei -> SRi"],
        );
        check("ស្រី", expect!["ស្រី [179F 17D2 179A 17B8] -> srei -> SRi"]);
        // Coeng-ro typed before another subscript (ស្ត្រី, "woman"): coeng-ro goes last.
        check(
            "ស\u{17D2}\u{179A}\u{17D2}\u{178F}\u{17B8}",
            expect!["ស្ត្រី [179F 17D2 178F 17D2 179A 17B8] -> strei -> STRi"],
        );
        // Shifter typed after the vowel (ស៊ុន, SUN): shifter before vowel.
        check(
            "ស\u{17BB}\u{17CA}ន",
            expect![[r#"ស៊ុន [179F 17CA 17BB 1793] -> sun -> SoN"#]],
        );
        // Zero-width space between family and given name, and a split vowel េ + ា.
        check(
            "ម\u{17C1}\u{17B6}\u{200B}សុខា",
            expect![[r#"មោសុខា [1798 17C4 179F 17BB 1781 17B6] -> mosokha -> MoSoKa"#]],
        );
        check(
            "ហេង  ចាន់ថា\u{200D}",
            expect![[
                r#"ហេង ចាន់ថា [17A0 17C1 1784 0020 1785 17B6 1793 17CB 1790 17B6] -> heng chantha -> HeG CaNTa"#
            ]],
        );
    }

    #[test]
    fn khmer_names_romanize_to_the_latin_key() {
        check(
            "ជា សុភា",
            expect![[r#"ជា សុភា [1787 17B6 0020 179F 17BB 1797 17B6] -> chea sophea -> Ce SoPe"#]],
        );
        check(
            "ខៀវ ស្រីមុំ",
            expect![
                "ខៀវ ស្រីមុំ [1781 17C0 179C 0020 179F 17D2 179A 17B8 1798 17BB 17C6] -> khiev sreimum -> Ko SRiMoM"
            ],
        );
        check(
            "ពៅ ដារ៉ា",
            expect![[
                r#"ពៅ ដារ៉ា [1796 17C5 0020 178A 17B6 179A 17C9 17B6] -> pov dara -> Po TaRa"#
            ]],
        );
        check(
            "សម្បត្តិ",
            expect![[r#"សម្បត្តិ [179F 1798 17D2 1794 178F 17D2 178F 17B7] -> sambatte -> SaMPaTe"#]],
        );
        check(
            "លី វណ្ណា",
            expect![[r#"លី វណ្ណា [179B 17B8 0020 179C 178E 17D2 178E 17B6] -> li vonna -> Li VoNa"#]],
        );
    }

    #[test]
    fn latin_romanization_variants_share_a_key() {
        check("Chea Chia Jea", expect![[r#"CHEA CHIA JEA -> Ce Ce Ce"#]]);
        check("KHIEU KHIEV", expect![[r#"KHIEU KHIEV -> Ko Ko"#]]);
        check("Srey Srei", expect!["SREY SREI -> SRi SRi"]);
        check("POV PAO PEOU", expect![[r#"POV PAO PEOU -> Po Po Po"#]]);
        check(
            "Sambath Sambat Vuthy Vuthi",
            expect![[r#"SAMBATH SAMBAT VUTHY VUTHI -> SaMPaT SaMPaT VoTi VoTi"#]],
        );
        check(
            "  sók,  Dara-Vy ",
            expect![[r#"SOK DARA VY -> SoK TaRa Vi"#]],
        );
    }

    #[test]
    fn coeng_da_and_coeng_ta_fold_in_the_match_key() {
        assert_eq!(
            khmer_match_key("ស\u{17D2}\u{178A}ា"),
            khmer_match_key("ស\u{17D2}\u{178F}ា")
        );
        assert_ne!(
            normalize_khmer("ស\u{17D2}\u{178A}ា"),
            normalize_khmer("ស\u{17D2}\u{178F}ា")
        );
    }

    #[test]
    fn glides_after_glides_terminate() {
        // Regression: "AYV" once made the vowel-run loop spin without consuming a letter.
        assert_eq!(phonetic_key("KAYV"), "Kio");
        assert_eq!(phonetic_key("WWYYVV"), "Vio");
    }

    #[test]
    fn script_detection() {
        assert!(is_mostly_khmer("ជា សុភា"));
        assert!(!is_mostly_khmer("CHEA SOPHEA"));
        assert!(!is_mostly_khmer(""));
    }

    proptest::proptest! {
        #[test]
        fn khmer_normalization_is_idempotent(text in "[\u{1780}-\u{17DD}\u{200B} ]{0,12}") {
            let once = normalize_khmer(&text);
            proptest::prop_assert_eq!(normalize_khmer(&once), once);
        }

        #[test]
        fn phonetic_key_never_panics_and_is_ascii(text in "\\PC{0,20}") {
            for token in normalize_latin(&text) {
                proptest::prop_assert!(phonetic_key(&token).is_ascii());
            }
        }
    }
}
