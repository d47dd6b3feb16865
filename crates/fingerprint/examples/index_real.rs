//! Two-thumb 1:N hit rate against real strangers: every real finger of the collection (the shared
//! DB2_B plus the folders of a collection list) in the chosen half; people are pairs of fingers;
//! each person is enrolled with their first impressions and searched with each later pair; the
//! penetration of a search is the share of stranger people (any two other real fingers, and their
//! mirror images) scoring at least as high as the mate.
//!
//! Scorers: `mcc` (exhaustive MCC, the ceiling), `index` (the index's consistent-vote score, every
//! list read), `index@POPULATION` (what a search in a population of that many people reads within
//! its budget). Set `PER_FOLDER=1` for per-folder figures, `SHOW_MISSES=1` for the worst searches,
//! `SYNTHETIC=k` to search with k synthetic impressions of each person's first impressions instead of the real
//! later ones, `LIST_CAP=n` for `index@POPULATION` to leave unread the lists longer than n postings (stopped),
//! `SHARE=K/N` (or `N`) for `index` and `index@POPULATION` to enrol only the K key values in N that such an index posts
//! (`ThumbIndex::with_share`; every value by default), `FUSE=product` to fuse the two thumbs by the product of their tail
//! shares among the strangers instead of the sum of their scores, `DUMP=FILE` to write a line per two-thumb search
//! (each finger's penetration, the two fingers', the mate's scores, the first finger, and the keys of the probes and the
//! enrolled thumbs) for a look at the misses.
//!
//! `cargo run --release -p fingerprint --example index_real -- HALF [COLLECTION|-] [SCORERS]`

#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::io::Write as _;

use fingerprint::synth::mirrored;
use fingerprint::{MccMatcher, MccTemplate};
use support::population::{StrangerScores, in_half, load_collection};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let half = args.next().unwrap_or_else(|| "dev".to_owned());
    let list = args.next().filter(|a| a != "-");
    let scorers = args.next().unwrap_or_else(|| "mcc,index".to_owned());
    let all = load_collection(list.as_deref().map(std::path::Path::new))?;
    let set = in_half(&all, &half);
    let n = set.len();
    let mut finger_ids: Vec<&str> = set.iter().map(|i| i.finger.as_str()).collect();
    finger_ids.sort_unstable();
    finger_ids.dedup();
    let finger_of: Vec<usize> = set
        .iter()
        .map(|i| finger_ids.binary_search(&i.finger.as_str()).unwrap_or(0))
        .collect();
    let mut impressions_of: Vec<Vec<usize>> = vec![Vec::new(); finger_ids.len()];
    for (t, &f) in finger_of.iter().enumerate() {
        impressions_of[f].push(t);
    }
    println!("half {half}: {} fingers, {n} impressions", finger_ids.len());
    // Gallery: every impression and its mirror image (mirrors are strangers to everyone).
    let mut gallery: Vec<fingerprint::Template> = set.iter().map(|i| i.template.clone()).collect();
    let mut gallery_finger: Vec<usize> = finger_of.clone();
    for (t, imp) in set.iter().enumerate() {
        gallery.push(mirrored(&imp.template)?);
        gallery_finger.push(finger_ids.len() + finger_of[t]);
    }
    let mut count_of: HashMap<usize, usize> = HashMap::new();
    for &f in &gallery_finger {
        *count_of.entry(f).or_default() += 1;
    }
    let started = std::time::Instant::now();
    let mcc: Vec<MccTemplate> = gallery.iter().map(MccTemplate::new).collect();
    eprintln!("cylinders: {:.1} s", started.elapsed().as_secs_f64());
    // People: fingers 2k and 2k+1.
    let people: Vec<(usize, usize)> = (0..finger_ids.len() / 2)
        .map(|k| (2 * k, 2 * k + 1))
        .collect();

    // `SYNTHETIC=k`: each person searched with k synthetic impressions (`synth::impression`) of their first
    // impressions instead of their real later ones.
    let synthetic: u64 = std::env::var("SYNTHETIC")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let distortion = fingerprint::synth::Distortion::default();
    // `SHARE=K/N`: enrolled thumbs post K key values in N, as `ThumbIndex::with_share(K, N)`.
    let (kept, of) = match std::env::var("SHARE") {
        Ok(share) => support::parse_share(&share)?,
        Err(_) => (1, 1),
    };
    // `DUMP=FILE`: a line per two-thumb search, under a header line per scorer.
    let mut dump = match std::env::var("DUMP") {
        Ok(path) => Some(std::io::BufWriter::new(std::fs::File::create(path)?)),
        Err(_) => None,
    };
    for scorer in scorers.split(',') {
        let base = scorer;
        // `index@POPULATION`: what a search reads in a population of that many thumbs per side
        // (the list of a key as long as its share of 20,000 synthetic fingers says), within the
        // index's budget, shortest lists first.
        let population: Option<f64> = base.strip_prefix("index@").and_then(|p| p.parse().ok());
        let base = if population.is_some() { "index" } else { base };
        let index_keys: Vec<fingerprint::ThumbKeys> = match base {
            "index" => mcc
                .iter()
                .map(|t| fingerprint::ThumbKeys::from_mcc(t).posted_keys_sampled(kept, of))
                .collect(),
            _ => Vec::new(),
        };
        // Share of thumbs posting in each list (key and direction sector).
        let share: HashMap<u32, f64> = if population.is_some() {
            let synthetic = 20_000u64;
            let params = fingerprint::synth::SynthParams::default();
            let mut share: HashMap<u32, f64> = HashMap::new();
            for seed in 0..synthetic {
                let t = MccTemplate::new(&fingerprint::synth::finger(seed + 77_000_000, &params)?);
                let keys = fingerprint::ThumbKeys::from_mcc(&t).posted_keys_sampled(kept, of);
                for list in keys.posted_lists() {
                    *share.entry(list).or_default() += 1.0 / synthetic as f64;
                }
            }
            share
        } else {
            HashMap::new()
        };
        // `IDF_POWER=p`: the exponent of the rarity weight of a vote.
        let power: f64 = std::env::var("IDF_POWER")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(fingerprint::RARITY_POWER);
        let budget: usize = std::env::var("HIT_BUDGET")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(fingerprint::HIT_BUDGET);
        // `LIST_CAP=n`: lists longer than n postings are stopped (`ThumbIndex::set_list_cap`), so not read.
        let list_cap: usize = std::env::var("LIST_CAP")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(usize::MAX);
        // Lists no synthetic finger posted in are counted as one posting (read, nearly free); a
        // stopped list as none (not read).
        let length = |list: u32| -> usize {
            let population = population.unwrap_or(0.0);
            let length = (share.get(&list).copied().unwrap_or(0.0) * population)
                .round()
                .max(1.0) as usize;
            if length > list_cap { 0 } else { length }
        };
        if let Some(population) = population {
            // What the index holds: a synthetic thumb's postings, and those in lists within the cap.
            let kept: f64 = share
                .values()
                .filter(|&&s| (s * population).round() as usize <= list_cap)
                .sum();
            println!(
                "postings a thumb: {:.0}, {kept:.0} in lists within the cap at this population",
                share.values().sum::<f64>()
            );
        }
        if base.starts_with("index") {
            // Projected hits per side per search in a population of 10 M thumbs per side.
            let mut posted: HashMap<u32, f64> = HashMap::new();
            let mut probed: HashMap<u32, f64> = HashMap::new();
            for k in &index_keys {
                for list in k.posted_lists() {
                    *posted.entry(list).or_default() += 1.0 / index_keys.len() as f64;
                }
                for list in k.probe_lists() {
                    *probed.entry(list).or_default() += 1.0 / index_keys.len() as f64;
                }
            }
            let hits: f64 = probed
                .iter()
                .map(|(k, q)| q * posted.get(k).copied().unwrap_or(0.0))
                .sum();
            let top = posted.values().fold(0.0f64, |a, &b| a.max(b));
            println!(
                "posted per thumb {:.0}; projected hits per search per side at 10 M thumbs: {:.2e}; longest list (key and sector) {:.3} of thumbs",
                posted.values().sum::<f64>(),
                hits * 1e7,
                top
            );
        }
        let mut matcher = MccMatcher::new();
        let started = std::time::Instant::now();
        // Postings a thumb's search reads within the budget, summed, and searches.
        let mut read = (0.0f64, 0.0f64);
        // Scores of one probe against every gallery entry.
        let mut score_row = |probe: &MccTemplate| -> Vec<f32> {
            if base.starts_with("index") {
                let keys = fingerprint::ThumbKeys::from_mcc(probe);
                let scores = if let Some(population) = population {
                    let total = fingerprint::postings_read_within(&keys, length, budget);
                    read.0 += total as f64;
                    read.1 += 1.0;
                    fingerprint::thumb_scores_within(
                        &keys,
                        &index_keys,
                        length,
                        budget,
                        population as usize,
                        power,
                    )
                } else {
                    fingerprint::thumb_scores(&keys, &index_keys)
                };
                return scores.into_iter().map(|s| s as f32).collect();
            }
            (0..gallery.len())
                .map(|g| matcher.similarity(probe, &mcc[g]) as f32)
                .collect()
        };
        // Every probe (non-mirrored impression), then the synthetic impressions (rows n..).
        let mut scores: Vec<Vec<f32>> = (0..n).map(|p| score_row(&mcc[p])).collect();
        // The keys of each row's probe, counted only for `DUMP`.
        let keys_of = |t: &MccTemplate| {
            dump.as_ref()
                .map_or(0, |_| fingerprint::ThumbKeys::from_mcc(t).len())
        };
        let mut row_keys: Vec<usize> = mcc[..n].iter().map(keys_of).collect();
        let synthetic_probes: Vec<(usize, usize, usize, usize)> = {
            let mut probes = Vec::new();
            for (k, &(f, g)) in people.iter().enumerate() {
                let (enrol_f, enrol_g) = (impressions_of[f][0], impressions_of[g][0]);
                for i in 0..synthetic {
                    let seed = 1_000 * k as u64 + i;
                    let (Ok(a), Ok(b)) = (
                        fingerprint::synth::impression(
                            &set[enrol_f].template,
                            2 * seed,
                            &distortion,
                        ),
                        fingerprint::synth::impression(
                            &set[enrol_g].template,
                            2 * seed + 1,
                            &distortion,
                        ),
                    ) else {
                        continue;
                    };
                    for probe in [MccTemplate::new(&a), MccTemplate::new(&b)] {
                        scores.push(score_row(&probe));
                        row_keys.push(keys_of(&probe));
                    }
                    probes.push((f, g, scores.len() - 2, scores.len() - 1));
                }
            }
            probes
        };
        let seconds = started.elapsed().as_secs_f64();
        if read.1 > 0.0 {
            println!(
                "postings a thumb's search reads within the budget at this population: {:.3e} on average",
                read.0 / read.1
            );
        }
        let strangers_of = |probe: usize, exclude: (usize, usize)| {
            StrangerScores::new(
                (0..gallery.len())
                    .filter(|&g| {
                        let f = gallery_finger[g] % finger_ids.len().max(1);
                        let mirror = gallery_finger[g] >= finger_ids.len();
                        mirror || (f != exclude.0 && f != exclude.1)
                    })
                    .map(|g| {
                        (
                            f64::from(scores[probe][g]),
                            1.0 / count_of[&gallery_finger[g]] as f64,
                        )
                    })
                    .collect(),
            )
        };
        if std::env::var("PER_FOLDER").is_ok() {
            // Per folder: every genuine pair of its fingers against the impostor scores of its
            // fingers' impressions (other fingers of the same folder).
            let folder_of = |t: usize| set[t].finger.split(':').next().unwrap_or("").to_owned();
            let mut folders: Vec<String> = (0..n).map(folder_of).collect();
            folders.sort();
            folders.dedup();
            for folder in folders {
                let members: Vec<usize> = (0..n).filter(|&t| folder_of(t) == folder).collect();
                let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
                for &a in &members {
                    for &b in &members {
                        if a < b {
                            if finger_of[a] == finger_of[b] {
                                genuine.push(f64::from(scores[a][b]));
                            } else {
                                impostor.push(f64::from(scores[a][b]));
                            }
                        }
                    }
                }
                impostor.sort_by(f64::total_cmp);
                let at = |p: f64| impostor[((1.0 - p) * impostor.len() as f64) as usize];
                let below = |t: f64| {
                    genuine.iter().filter(|&&g| g <= t).count() as f64 / genuine.len() as f64
                };
                println!(
                    "  {folder:<24} genuine {:>5} impostor {:>6}: FNMR at FMR 1e-1 {:.3}, 1e-2 {:.3}, 1e-3 {:.3}",
                    genuine.len(),
                    impostor.len(),
                    below(at(1e-1)),
                    below(at(1e-2)),
                    below(at(1e-3)),
                );
            }
        }
        // Single thumb and two thumbs: penetration of every search.
        // `FUSE=product`: two thumbs fused by the product of their tail shares among strangers.
        let product_fusion = std::env::var("FUSE").is_ok_and(|f| f == "product");
        let mut single = Vec::new();
        let mut fused = Vec::new();
        let mut fused_folder: Vec<String> = Vec::new();
        if let Some(out) = dump.as_mut() {
            writeln!(
                out,
                "# {scorer}: first_penetration second_penetration two_thumb_penetration first_mate_score \
                 second_mate_score first_finger first_probe_keys second_probe_keys first_enrolled_keys second_enrolled_keys"
            )?;
        }
        for &(f, g) in &people {
            let (enrol_f, enrol_g) = (impressions_of[f][0], impressions_of[g][0]);
            // Real later impressions, or (`SYNTHETIC=k`) synthetic impressions of the first.
            let later: Vec<(usize, usize)> = if synthetic > 0 {
                synthetic_probes
                    .iter()
                    .filter(|p| (p.0, p.1) == (f, g))
                    .map(|p| (p.2, p.3))
                    .collect()
            } else {
                impressions_of[f]
                    .iter()
                    .zip(&impressions_of[g])
                    .skip(1)
                    .map(|(&a, &b)| (a, b))
                    .collect()
            };
            for (pf, pg) in later {
                let (sf, sg) = (strangers_of(pf, (f, g)), strangers_of(pg, (f, g)));
                let (mf, mg) = (
                    f64::from(scores[pf][enrol_f]),
                    f64::from(scores[pg][enrol_g]),
                );
                let (pen_f, pen_g) = (sf.at_least(mf) / sf.total(), sg.at_least(mg) / sg.total());
                single.push(pen_f);
                single.push(pen_g);
                let two = if product_fusion {
                    StrangerScores::product_share(&sf, &sg, sf.tail_share(mf) * sg.tail_share(mg))
                } else {
                    StrangerScores::fused_share(&sf, &sg, mf + mg)
                };
                fused.push(two);
                if let Some(out) = dump.as_mut() {
                    writeln!(
                        out,
                        "{pen_f} {pen_g} {two} {mf} {mg} {} {} {} {} {}",
                        finger_ids[f],
                        row_keys[pf],
                        row_keys[pg],
                        row_keys[enrol_f],
                        row_keys[enrol_g]
                    )?;
                }
                fused_folder.push(finger_ids[f].split(':').next().unwrap_or("").to_owned());
            }
        }
        let hit = |v: &[f64], p: f64| v.iter().filter(|&&x| x <= p).count() as f64 / v.len() as f64;
        let needed = |v: &[f64], h: f64| {
            let mut s = v.to_vec();
            s.sort_by(f64::total_cmp);
            s[((h * s.len() as f64).ceil() as usize).min(s.len()) - 1]
        };
        println!(
            "{scorer:<6} {:>4} searches ({:.0} µs per comparison) single: hit@1e-1 {:.4} @1e-2 {:.4} @1e-3 {:.4} | two thumbs: hit@1e-2 {:.4} @1e-3 {:.4} @1e-4 {:.4} @1e-5 {:.4}; penetration for 99 % {:.1e}, 99.5 % {:.1e}",
            fused.len(),
            seconds * 1e6 / (n * gallery.len()) as f64,
            hit(&single, 1e-1),
            hit(&single, 1e-2),
            hit(&single, 1e-3),
            hit(&fused, 1e-2),
            hit(&fused, 1e-3),
            hit(&fused, 1e-4),
            hit(&fused, 1e-5),
            needed(&fused, 0.99),
            needed(&fused, 0.995),
        );
        println!(
            "{scorer:<6} two thumbs: hit@2e-3 {:.4} @3e-3 {:.4} @5e-3 {:.4}",
            hit(&fused, 2e-3),
            hit(&fused, 3e-3),
            hit(&fused, 5e-3),
        );
        if std::env::var("PER_FOLDER").is_ok() {
            let mut folders = fused_folder.clone();
            folders.sort();
            folders.dedup();
            for folder in folders {
                let mine: Vec<f64> = fused
                    .iter()
                    .zip(&fused_folder)
                    .filter(|(_, f)| **f == folder)
                    .map(|(p, _)| *p)
                    .collect();
                println!(
                    "  {folder:<36} {:>4} searches: two thumbs hit@1e-2 {:.4} @1e-3 {:.4} @1e-4 {:.4}",
                    mine.len(),
                    hit(&mine, 1e-2),
                    hit(&mine, 1e-3),
                    hit(&mine, 1e-4)
                );
            }
        }
        if std::env::var("SHOW_MISSES").is_ok() {
            let mut worst: Vec<(f64, usize)> = fused.iter().copied().zip(0..).collect();
            worst.sort_by(|a, b| b.0.total_cmp(&a.0));
            for (pen, k) in worst.iter().take(10) {
                println!("  search {k}: penetration {pen:.2e}");
            }
        }
    }
    Ok(())
}
