//! The two-thumb duplicate search at population scale: a synthetic population of PEOPLE (strangers
//! built from a pool of synthetic fingers, each person's thumbs two pool fingers with their
//! directions turned and positions shifted by a random amount, so that no two people post the same
//! keys), plus real people (pairs of real fingers enrolled with their first impressions). Each real
//! person is then searched with each later pair of impressions: the time of the index search, the
//! time to re-rank its short list with MCC, and where the mate ranks.
//!
//! `cargo run --release -p fingerprint --example index_scale -- PEOPLE POOL SHORT_LIST SAMPLING [COLLECTION]`
//! (SAMPLING: `N`, enrolled thumbs post one key value in N; `K/N`, K values in N)
//! (`HIT_BUDGETS=a,b,…`: every search again with each budget of postings a thumb; `IDF_POWERS`, `MAX_SEARCHES`,
//! `DISTORTED`, `DEV_MATES`, `SAVED`: below; `LIST_CAP=n`: the longest a posting list grows
//! (`ThumbIndex::set_list_cap`; a saved index keeps its own); `THUMB_RANKS=1`: after each search, a line with the
//! mate's rank in searches of 20 × SHORT_LIST with both thumbs, the right alone and the left alone, SHORT_LIST × 20
//! when not found)

#[path = "support/mod.rs"]
mod support;

use std::time::Instant;

use fingerprint::synth::{Rng, SynthParams, finger};
use fingerprint::{MccMatcher, MccTemplate, ThumbCodes, ThumbIndex, ThumbKeys};
use support::population::{in_half, load_collection};

/// Resident memory of this process, from /proc (Linux), in GB.
fn rss_gb() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |pages| pages * 4096.0 / 1e9)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let people: usize = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let pool_size: usize = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let short_list: usize = args.next().map_or(Ok(1000), |a| a.parse())?;
    // SAMPLING: `N` posts one key value in N, `K/N` K values in N.
    let (kept, of) = match args.next() {
        None => (1, 1),
        Some(share) => support::parse_share(&share)?,
    };
    let list = args.next();
    let threads = 2;

    // The pool of synthetic fingers, built on two threads.
    let started = Instant::now();
    let params = SynthParams::default();
    let pool: Vec<ThumbKeys> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t..pool_size)
                        .step_by(threads)
                        .map(|seed| {
                            let template = finger(seed as u64 + 1_000_000_000, &params)?;
                            Ok(ThumbKeys::from_mcc(&MccTemplate::new(&template)).posted_keys())
                        })
                        .collect::<Result<Vec<_>, fingerprint::Error>>()
                })
            })
            .collect();
        let mut parts = Vec::new();
        for w in workers {
            parts.push(w.join().map_err(|_| "pool worker panicked")??);
        }
        // Interleave back into seed order.
        let mut pool = Vec::with_capacity(pool_size);
        let mut iters: Vec<_> = parts.into_iter().map(|p| p.into_iter()).collect();
        'outer: loop {
            for it in &mut iters {
                match it.next() {
                    Some(k) => pool.push(k),
                    None => break 'outer,
                }
            }
        }
        Ok::<_, Box<dyn std::error::Error>>(pool)
    })?;
    let posted: usize = pool.iter().map(ThumbKeys::len).sum();
    println!(
        "pool: {pool_size} synthetic fingers in {:.1} s, {:.1} posted keys each",
        started.elapsed().as_secs_f64(),
        posted as f64 / pool_size as f64
    );

    // The synthetic population (`SAVED=FILE`: loaded from FILE if it exists, else built and saved
    // there, so that runs with other search settings need not build it again).
    let saved = std::env::var("SAVED").ok().map(std::path::PathBuf::from);
    let started = Instant::now();
    let mut index = ThumbIndex::with_share(kept, of);
    if let Ok(cap) = std::env::var("LIST_CAP") {
        index.set_list_cap(cap.parse()?);
    }
    let load = saved.as_ref().filter(|path| path.exists());
    if let Some(path) = load {
        index = ThumbIndex::read_from(&mut std::io::BufReader::new(std::fs::File::open(path)?))?;
        println!(
            "loaded {} in {:.1} s ({} people)",
            path.display(),
            started.elapsed().as_secs_f64(),
            index.len()
        );
    }
    let people = if load.is_some() { index.len() } else { people };
    let mut rng = Rng::new(7);
    let mut batch = Vec::with_capacity(100_000);
    // Nothing left to build once loaded.
    for person in index.len()..people {
        let mut thumb = || {
            let base = &pool[(rng.next_u64() % pool_size as u64) as usize];
            let turn = (rng.next_u64() % 21) as i8 - 10;
            let dx = (rng.next_u64() % 21) as i8 - 10;
            let dy = (rng.next_u64() % 21) as i8 - 10;
            base.shifted(turn, dx, dy)
        };
        let codes = ThumbCodes {
            right: Some(thumb()),
            left: Some(thumb()),
        };
        batch.push((person as u64, codes));
        if batch.len() == 100_000 || person + 1 == people {
            index.insert_batch(batch.drain(..));
        }
        if (person + 1) % 1_000_000 == 0 {
            eprintln!(
                "{} M people, {:.0} s, RSS {:.1} GB",
                (person + 1) / 1_000_000,
                started.elapsed().as_secs_f64(),
                rss_gb()
            );
        }
    }
    println!(
        "population: {people} people in {:.1} s, {} postings in {} lists ({} stopped at {}), {:.2} GB ({:.2} bytes a posting), RSS {:.2} GB",
        started.elapsed().as_secs_f64(),
        index.postings(),
        index.lists(),
        index.stopped_lists(),
        index.list_cap(),
        index.posting_bytes() as f64 / 1e9,
        index.posting_bytes() as f64 / index.postings().max(1) as f64,
        rss_gb()
    );
    drop(pool);
    if let (Some(path), None) = (&saved, load) {
        index.write_to(&mut std::io::BufWriter::new(std::fs::File::create(path)?))?;
        println!("saved to {}", path.display());
    }

    // Real people: consecutive fingers of the collection's test half (or all of DB2_B).
    let real = in_half(
        &load_collection(list.as_deref().map(std::path::Path::new))?,
        if list.is_some() { "test" } else { "all" },
    );
    let mut fingers: Vec<&str> = real.iter().map(|i| i.finger.as_str()).collect();
    fingers.sort_unstable();
    fingers.dedup();
    let impressions = |f: &str| -> Vec<MccTemplate> {
        real.iter()
            .filter(|i| i.finger == f)
            .map(|i| MccTemplate::new(&i.template))
            .collect()
    };
    // Synthetic impressions per real person (`DISTORTED`, default 3): both thumbs' first
    // impressions distorted by `synth::impression`, searched like the real later impressions.
    let distorted: u64 = std::env::var("DISTORTED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let distortion = fingerprint::synth::Distortion::default();
    let mut searches = Vec::new();
    let mut synthetic_searches = Vec::new();
    for (k, pair) in fingers.chunks(2).enumerate() {
        let [f, g] = pair else { continue };
        let (a, b) = (impressions(f), impressions(g));
        let id = (people + k) as u64;
        index.insert(
            id,
            ThumbCodes {
                right: Some(ThumbKeys::from_mcc(&a[0])),
                left: Some(ThumbKeys::from_mcc(&b[0])),
            },
        );
        for i in 1..a.len().min(b.len()) {
            searches.push((id, a[i].clone(), b[i].clone(), a[0].clone(), b[0].clone()));
        }
        let first = |f: &str| {
            real.iter()
                .find(|i| i.finger == f)
                .map(|i| i.template.clone())
                .ok_or("first impression")
        };
        let (ta, tb) = (first(f)?, first(g)?);
        for i in 0..distorted {
            let seed = 1_000 * id + i;
            let (Ok(da), Ok(db)) = (
                fingerprint::synth::impression(&ta, 2 * seed, &distortion),
                fingerprint::synth::impression(&tb, 2 * seed + 1, &distortion),
            ) else {
                continue;
            };
            synthetic_searches.push((
                id,
                MccTemplate::new(&da),
                MccTemplate::new(&db),
                a[0].clone(),
                b[0].clone(),
            ));
        }
    }
    // `DEV_MATES=k`: k people of synthetic fingers alone (no real minutiae, seeds of their own),
    // each searched with one synthetic impression of each thumb: a set for choosing the index's
    // settings apart from the real people that measure it.
    let dev_mates: u64 = std::env::var("DEV_MATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut dev_searches = Vec::new();
    for k in 0..dev_mates {
        let id = (people + fingers.len() / 2) as u64 + k;
        let (ta, tb) = (
            finger(3_000_000_000 + 2 * k, &params)?,
            finger(3_000_000_001 + 2 * k, &params)?,
        );
        let (Ok(da), Ok(db)) = (
            fingerprint::synth::impression(&ta, 7 * id, &distortion),
            fingerprint::synth::impression(&tb, 7 * id + 1, &distortion),
        ) else {
            continue;
        };
        let (a, b) = (MccTemplate::new(&ta), MccTemplate::new(&tb));
        index.insert(
            id,
            ThumbCodes {
                right: Some(ThumbKeys::from_mcc(&a)),
                left: Some(ThumbKeys::from_mcc(&b)),
            },
        );
        dev_searches.push((id, MccTemplate::new(&da), MccTemplate::new(&db), a, b));
    }
    // At most MAX_SEARCHES searches (default 300), spread evenly over the real people.
    let max_searches: usize = std::env::var("MAX_SEARCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let step = searches.len().div_ceil(max_searches.max(1)).max(1);
    let searches: Vec<_> = searches.into_iter().step_by(step).collect();
    let step = synthetic_searches
        .len()
        .div_ceil(max_searches.max(1))
        .max(1);
    let synthetic_searches: Vec<_> = synthetic_searches.into_iter().step_by(step).collect();
    println!(
        "{} real people, {} searches with real later impressions, {} with synthetic impressions",
        fingers.len() / 2,
        searches.len(),
        synthetic_searches.len()
    );

    // MCC templates to re-rank against (timing only: a candidate's templates are taken from this
    // set by its number, as a registry would read and open the stored ones).
    let rerank_set: Vec<MccTemplate> = (0..2000u64)
        .map(|seed| finger(seed + 5_000_000_000, &params).map(|t| MccTemplate::new(&t)))
        .collect::<Result<_, _>>()?;
    // `HIT_BUDGETS=a,b,...`: the searches again with each budget of postings a thumb (default: the index's own).
    let budgets: Vec<Option<usize>> = settings("HIT_BUDGETS")?;
    // `IDF_POWERS=a,b,...`: the searches again with each exponent of the rarity weight.
    let powers: Vec<Option<f64>> = settings("IDF_POWERS")?;
    for (power, budget) in powers
        .iter()
        .flat_map(|p| budgets.iter().map(move |b| (p, *b)))
    {
        if let Some(power) = power {
            index.set_rarity_power(*power);
            println!("== rarity weight exponent {power}");
        }
        if let Some(budget) = budget {
            index.set_hit_budget(budget);
            println!("== budget {budget} postings a thumb");
        }
        for (label, searches) in [
            ("real later impressions", &searches),
            ("synthetic impressions", &synthetic_searches),
            ("synthetic mates (DEV_MATES)", &dev_searches),
        ] {
            if searches.is_empty() {
                continue;
            }
            println!("-- probes: {label}");
            run_searches(&index, searches, &rerank_set, short_list, threads);
        }
    }
    println!("RSS {:.2} GB", rss_gb());
    Ok(())
}

/// The comma-separated values of the environment variable `name`, or one `None` (the index's own
/// setting) when it is not set.
fn settings<T: std::str::FromStr>(name: &str) -> Result<Vec<Option<T>>, T::Err> {
    match std::env::var(name) {
        Ok(list) => list
            .split(',')
            .map(|v| v.trim().parse().map(Some))
            .collect(),
        Err(_) => Ok(vec![None]),
    }
}

type Search = (u64, MccTemplate, MccTemplate, MccTemplate, MccTemplate);

/// Search every probe pair, re-rank its short list, and print times and where the mate ranks.
fn run_searches(
    index: &ThumbIndex,
    searches: &[Search],
    rerank_set: &[MccTemplate],
    short_list: usize,
    threads: usize,
) {
    let mut search_ms = Vec::new();
    let mut rerank_ms = Vec::new();
    let mut in_list = 0usize;
    let mut ranks: Vec<usize> = Vec::new();
    let mut first_after_rerank = 0usize;
    let mut matcher = MccMatcher::new();
    let thumb_ranks = std::env::var("THUMB_RANKS").is_ok();
    for (id, right, left, enrolled_right, enrolled_left) in searches {
        let probe = ThumbCodes {
            right: Some(ThumbKeys::from_mcc(right)),
            left: Some(ThumbKeys::from_mcc(left)),
        };
        let started = Instant::now();
        let found = index.search(&probe, short_list, threads);
        search_ms.push(started.elapsed().as_secs_f64() * 1e3);
        let started = Instant::now();
        // Re-ranking on two threads: both thumbs of every candidate.
        let best_stranger = std::thread::scope(|scope| {
            let half = found.len().div_ceil(threads).max(1);
            let workers: Vec<_> = found
                .chunks(half)
                .map(|part| {
                    let set = &rerank_set;
                    scope.spawn(move || {
                        let mut m = MccMatcher::new();
                        part.iter()
                            .filter(|c| c.person != *id)
                            .map(|c| {
                                let n = c.person as usize;
                                m.similarity(right, &set[(2 * n) % set.len()])
                                    + m.similarity(left, &set[(2 * n + 1) % set.len()])
                            })
                            .fold(0.0f64, f64::max)
                    })
                })
                .collect();
            workers
                .into_iter()
                .filter_map(|w| w.join().ok())
                .fold(0.0f64, f64::max)
        });
        rerank_ms.push(started.elapsed().as_secs_f64() * 1e3);
        if let Some(rank) = found.iter().position(|c| c.person == *id) {
            ranks.push(rank);
        }
        if thumb_ranks {
            let big = 20 * short_list;
            let rank_of = |codes: ThumbCodes| {
                let f = index.search(&codes, big, threads);
                f.iter().position(|c| c.person == *id).unwrap_or(big)
            };
            let r = rank_of(ThumbCodes {
                right: probe.right.clone(),
                left: None,
            });
            let l = rank_of(ThumbCodes {
                right: None,
                left: probe.left.clone(),
            });
            let f = rank_of(probe.clone());
            println!("THUMB_RANKS fused {f} right {r} left {l}");
        }
        if found.iter().any(|c| c.person == *id) {
            in_list += 1;
            let mate =
                matcher.similarity(right, enrolled_right) + matcher.similarity(left, enrolled_left);
            if mate > best_stranger {
                first_after_rerank += 1;
            }
        }
    }
    let pct = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v[((p * v.len() as f64) as usize).min(v.len() - 1)]
    };
    let (s50, s99, smax) = (
        pct(&mut search_ms, 0.5),
        pct(&mut search_ms, 0.99),
        pct(&mut search_ms, 1.0),
    );
    let (r50, r99) = (pct(&mut rerank_ms, 0.5), pct(&mut rerank_ms, 0.99));
    println!(
        "index search ({threads} threads, short list {short_list}): p50 {s50:.1} ms, p99 {s99:.1} ms, max {smax:.1} ms"
    );
    println!(
        "MCC re-ranking of the short list ({threads} threads): p50 {r50:.1} ms, p99 {r99:.1} ms"
    );
    println!(
        "mate in the short list: {in_list} of {} ({:.2} %); first after re-ranking: {first_after_rerank} ({:.2} %)",
        searches.len(),
        100.0 * in_list as f64 / searches.len() as f64,
        100.0 * first_after_rerank as f64 / searches.len() as f64
    );
    let cutoffs: Vec<String> = [100, 1000, 5000, 10_000, 20_000, 50_000]
        .into_iter()
        .filter(|&c| c <= short_list)
        .map(|c| {
            let hits = ranks.iter().filter(|&&r| r < c).count();
            format!("{c}: {:.2} %", 100.0 * hits as f64 / searches.len() as f64)
        })
        .collect();
    println!("mate within the first: {}", cutoffs.join(", "));
}
