//! Pairwise evaluation of a clustering against a truth file: precision, recall and F1 over record pairs.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;

use crate::Error;

/// Pairwise scores: a pair of records is predicted when both are in one cluster, true when both have one entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PairwiseScores {
    pub true_positives: u64,
    pub predicted_pairs: u64,
    pub true_pairs: u64,
    /// Records present in both files (others are left out of the counts).
    pub records: u64,
}

impl PairwiseScores {
    pub fn precision(&self) -> f64 {
        if self.predicted_pairs == 0 {
            1.0
        } else {
            self.true_positives as f64 / self.predicted_pairs as f64
        }
    }
    pub fn recall(&self) -> f64 {
        if self.true_pairs == 0 {
            1.0
        } else {
            self.true_positives as f64 / self.true_pairs as f64
        }
    }
    pub fn f1(&self) -> f64 {
        let (precision, recall) = (self.precision(), self.recall());
        if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        }
    }
}

impl fmt::Display for PairwiseScores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pairwise P={:.4} R={:.4} F1={:.4} (tp={} predicted={} true={} records={})",
            self.precision(),
            self.recall(),
            self.f1(),
            self.true_positives,
            self.predicted_pairs,
            self.true_pairs,
            self.records
        )
    }
}

fn pairs(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

/// Scores `clusters` (record → cluster) against `truth` (record → entity), both as `(record_id, label)` pairs.
pub fn evaluate(clusters: &[(String, String)], truth: &[(String, String)]) -> PairwiseScores {
    let truth_of: HashMap<&str, &str> = truth
        .iter()
        .map(|(r, e)| (r.as_str(), e.as_str()))
        .collect();
    let mut cluster_sizes: HashMap<&str, u64> = HashMap::new();
    let mut entity_sizes: HashMap<&str, u64> = HashMap::new();
    let mut both_sizes: HashMap<(&str, &str), u64> = HashMap::new();
    let mut records = 0;
    for (record, cluster) in clusters {
        let Some(entity) = truth_of.get(record.as_str()) else {
            continue;
        };
        records += 1;
        *cluster_sizes.entry(cluster).or_default() += 1;
        *entity_sizes.entry(entity).or_default() += 1;
        *both_sizes.entry((cluster, entity)).or_default() += 1;
    }
    PairwiseScores {
        true_positives: both_sizes.values().map(|&n| pairs(n)).sum(),
        predicted_pairs: cluster_sizes.values().map(|&n| pairs(n)).sum(),
        true_pairs: entity_sizes.values().map(|&n| pairs(n)).sum(),
        records,
    }
}

fn read_two_columns<R: Read>(
    reader: R,
    first: &str,
    second: &str,
) -> Result<Vec<(String, String)>, Error> {
    let mut csv_reader = csv::Reader::from_reader(reader);
    let headers = csv_reader.headers()?.clone();
    let (Some(a), Some(b)) = (
        headers.iter().position(|h| h == first),
        headers.iter().position(|h| h == second),
    ) else {
        return Err(Error::Header {
            found: headers.iter().collect::<Vec<_>>().join(","),
            expected: format!("{first},{second}"),
        });
    };
    let mut rows = Vec::new();
    for row in csv_reader.records() {
        let row = row?;
        rows.push((
            row.get(a).unwrap_or("").to_string(),
            row.get(b).unwrap_or("").to_string(),
        ));
    }
    Ok(rows)
}

/// Reads a `record_id,entity` truth file.
pub fn read_truth<R: Read>(reader: R) -> Result<Vec<(String, String)>, Error> {
    read_two_columns(reader, "record_id", "entity")
}

/// Reads a `record_id,cluster_id` file as written by [`crate::link`].
pub fn read_clusters<R: Read>(reader: R) -> Result<Vec<(String, String)>, Error> {
    read_two_columns(reader, "record_id", "cluster_id")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(text: &str) -> Vec<(String, String)> {
        text.split_whitespace()
            .filter_map(|pair| pair.split_once('='))
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn pairwise_counts() {
        let truth = labels("a=1 b=1 c=1 d=2 e=3");
        let clusters = labels("a=x b=x c=y d=y e=z");
        let scores = evaluate(&clusters, &truth);
        // Predicted pairs: ab, cd. True pairs: ab, ac, bc. Only ab is right.
        assert_eq!(
            (
                scores.true_positives,
                scores.predicted_pairs,
                scores.true_pairs
            ),
            (1, 2, 3)
        );
        assert_eq!(
            scores.to_string(),
            "pairwise P=0.5000 R=0.3333 F1=0.4000 (tp=1 predicted=2 true=3 records=5)"
        );
    }
}
