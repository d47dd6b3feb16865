//! Real fingers for evaluating the 1:N index: every folder listed in a collection file, split into
//! a design half and a test half by finger, and the two-thumb hit rate at a penetration computed
//! exactly per probe against every stranger pair (a weighted convolution of the two thumbs'
//! stranger scores).

use std::path::{Path, PathBuf};

use fingerprint::Template;

/// One real impression.
#[derive(Clone, Debug)]
pub struct Impression {
    /// Unique across folders: `FOLDER:FINGER`.
    pub finger: String,
    pub template: Template,
}

/// Load the collection: the shared DB2_B, plus every `FOLDER DPI` line of `list` (a file; lines
/// starting with `#` are comments) with folders relative to the list's own folder. Finger keys are
/// the file name up to its last `_`.
pub fn load_collection(list: Option<&Path>) -> Result<Vec<Impression>, Box<dyn std::error::Error>> {
    let mut folders: Vec<(PathBuf, u16, String)> =
        vec![(super::db2b(), 569, "fvc2002-db2b".into())];
    if let Some(list) = list {
        let base = list.parent().unwrap_or(Path::new("."));
        for line in std::fs::read_to_string(list)?.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let folder = parts.next().ok_or("empty line")?;
            let dpi: u16 = parts.next().ok_or("no dpi")?.parse()?;
            folders.push((base.join(folder), dpi, folder.to_owned()));
        }
    }
    let mut out = Vec::new();
    for (dir, dpi, name) in folders {
        let loaded = super::load_keyed(&dir, dpi)?;
        eprintln!("{name}: {} impressions", loaded.len());
        for (finger, template) in loaded {
            out.push(Impression {
                finger: format!("{name}:{finger}"),
                template,
            });
        }
    }
    Ok(out)
}

/// Fingers in the design half (`dev`) or the test half, alternating within each folder.
pub fn in_half(impressions: &[Impression], half: &str) -> Vec<Impression> {
    let mut fingers: Vec<&str> = impressions.iter().map(|i| i.finger.as_str()).collect();
    fingers.sort_unstable();
    fingers.dedup();
    let keep: std::collections::HashSet<&str> = fingers
        .iter()
        .enumerate()
        .filter(|(k, _)| match half {
            "dev" => k % 2 == 0,
            "test" => k % 2 == 1,
            _ => true,
        })
        .map(|(_, f)| *f)
        .collect();
    impressions
        .iter()
        .filter(|i| keep.contains(i.finger.as_str()))
        .cloned()
        .collect()
}

/// Scores of the strangers of one thumb, sorted, with the weight of each (1 over the number of
/// impressions of its finger, so that every stranger finger counts once) and suffix sums.
pub struct StrangerScores {
    scores: Vec<f64>,
    /// `tail[i]`: the weight of `scores[i..]`.
    tail: Vec<f64>,
}

impl StrangerScores {
    pub fn new(mut scored: Vec<(f64, f64)>) -> StrangerScores {
        scored.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut tail = vec![0.0; scored.len() + 1];
        for i in (0..scored.len()).rev() {
            tail[i] = tail[i + 1] + scored[i].1;
        }
        StrangerScores {
            scores: scored.iter().map(|s| s.0).collect(),
            tail,
        }
    }

    /// Weight of strangers scoring at least `s`.
    pub fn at_least(&self, s: f64) -> f64 {
        self.tail[self.scores.partition_point(|&x| x < s)]
    }

    pub fn total(&self) -> f64 {
        self.tail[0]
    }

    /// Share of stranger pairs (one per thumb, independent) whose summed score is at least `s`.
    pub fn fused_share(right: &StrangerScores, left: &StrangerScores, s: f64) -> f64 {
        let mut sum = 0.0;
        let mut i = 0;
        while i < right.scores.len() {
            let w = right.tail[i] - right.tail[i + 1];
            sum += w * left.at_least(s - right.scores[i]);
            i += 1;
        }
        sum / (right.total() * left.total())
    }

    /// Tail share of a thumb score: the weight of strangers scoring at least `s` over all, at
    /// least half a stranger's (a score above every stranger's is not certain at a larger
    /// population).
    pub fn tail_share(&self, s: f64) -> f64 {
        // (The weight of the highest-scoring stranger; none when there are no strangers.)
        let highest = self.tail.len().checked_sub(2).map_or(0.0, |i| self.tail[i]);
        let least = highest.min(1.0) * 0.5;
        self.at_least(s).max(least) / self.total()
    }

    /// Share of stranger pairs (one per thumb, independent) whose product of tail shares is at
    /// most `t` (fusion by the product of the two thumbs' tail shares).
    pub fn product_share(right: &StrangerScores, left: &StrangerScores, t: f64) -> f64 {
        // Each left stranger's tail share, ascending, with cumulative weights.
        let mut sorted: Vec<(f64, f64)> = (0..left.scores.len())
            .map(|j| {
                (
                    left.tail[left.first_at_least(j)] / left.total(),
                    left.tail[j] - left.tail[j + 1],
                )
            })
            .collect();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut cumulative = Vec::with_capacity(sorted.len() + 1);
        cumulative.push(0.0);
        for (_, w) in &sorted {
            cumulative.push(cumulative.last().copied().unwrap_or(0.0) + w);
        }
        let mut sum = 0.0;
        for i in 0..right.scores.len() {
            let w = right.tail[i] - right.tail[i + 1];
            let p = right.tail[right.first_at_least(i)] / right.total();
            let bound = t / p;
            let k = sorted.partition_point(|x| x.0 <= bound * (1.0 + 1e-12));
            sum += w * cumulative[k];
        }
        sum / (right.total() * left.total())
    }

    /// The first index whose score equals that of index `i` (ties share a tail).
    fn first_at_least(&self, i: usize) -> usize {
        self.scores.partition_point(|&x| x < self.scores[i])
    }
}
