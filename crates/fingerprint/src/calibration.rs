//! Score calibration for 1:1 verification: a raw similarity becomes an estimated false match rate,
//! so that a decision threshold is set as "FMR 1e-4" rather than as a matcher-specific number.
//!
//! The estimate is empirical, from impostor scores measured on data other than the data it will be
//! judged on; it cannot claim rates below about one over the number of impostor scores.

use crate::Error;

/// The empirical impostor score distribution of a matcher.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreCalibration {
    /// Impostor scores, ascending; invariant: non-empty, no NaN.
    impostor: Vec<f64>,
}

impl ScoreCalibration {
    /// Build from impostor scores (pairs of different fingers); NaN or no scores are refused.
    pub fn from_impostor_scores(mut impostor: Vec<f64>) -> Result<ScoreCalibration, Error> {
        if impostor.is_empty() || impostor.iter().any(|s| s.is_nan()) {
            return Err(Error::Evaluation {
                reason: "calibration needs at least one impostor score and no NaN".to_owned(),
            });
        }
        impostor.sort_by(f64::total_cmp);
        Ok(ScoreCalibration { impostor })
    }

    /// The calibration the crate carries: the MCC matcher's 2,880 cross-finger impostor scores on FVC2002
    /// DB2_B (`calibration/mcc-impostor-db2b.txt`, written by `--example calibrate`). With 2,880 scores it
    /// evidences false match rates down to about 3.5e-4 per finger, no lower.
    pub fn shipped() -> Result<ScoreCalibration, Error> {
        let text = include_str!("../calibration/mcc-impostor-db2b.txt");
        let mut scores = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            scores.push(line.parse::<f64>().map_err(|_| Error::Evaluation {
                reason: format!(
                    "shipped calibration, line {}: {line:?} is not a number",
                    number + 1
                ),
            })?);
        }
        ScoreCalibration::from_impostor_scores(scores)
    }

    /// The highest impostor score seen.
    pub fn highest_impostor(&self) -> f64 {
        self.impostor.last().copied().unwrap_or(0.0)
    }

    /// How many impostor scores it rests on.
    pub fn len(&self) -> usize {
        self.impostor.len()
    }

    /// Always false (a calibration has at least one score); for symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.impostor.is_empty()
    }

    /// Estimated false match rate of accepting at `score`: the share of impostor scores at or above
    /// it, with one pseudo-count so that it is never zero (a rate below 1/(n+1) is not evidenced).
    pub fn false_match_rate(&self, score: f64) -> f64 {
        let below = self.impostor.partition_point(|&s| s < score);
        let at_or_above = self.impostor.len() - below;
        (at_or_above as f64 + 1.0) / (self.impostor.len() as f64 + 1.0)
    }

    /// The calibrated score: `-log10` of the estimated false match rate (3 means about one false
    /// match in a thousand impostor comparisons); higher means more alike.
    pub fn calibrated(&self, score: f64) -> f64 {
        -self.false_match_rate(score).log10()
    }

    /// The lowest threshold whose estimated false match rate is at most `fmr`, or `None` when the
    /// impostor sample is too small to evidence that rate.
    pub fn threshold_for(&self, fmr: f64) -> Option<f64> {
        let n = self.impostor.len() as f64;
        // Accepting at or above impostor[i] admits n - i impostors: need (n - i + 1)/(n + 1) <= fmr.
        let max_admitted = (fmr * (n + 1.0) - 1.0).floor();
        if max_admitted < 0.0 {
            return None;
        }
        if max_admitted < 1.0 {
            // No impostor may be admitted: just above the highest one.
            return self.impostor.last().map(|s| s.next_up());
        }
        let index = self.impostor.len().saturating_sub(max_admitted as usize);
        self.impostor.get(index).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_thresholds() {
        let calibration = ScoreCalibration::from_impostor_scores(
            (0..999).map(|i| f64::from(i) / 1000.0).collect(),
        )
        .unwrap();
        assert_eq!(calibration.false_match_rate(2.0), 0.001);
        assert_eq!(calibration.calibrated(2.0), 3.0);
        assert_eq!(calibration.false_match_rate(0.0), 1.0);
        // 10 admitted impostors: (10 + 1) / 1000 = 0.011 > 0.01, so 9 at most.
        assert_eq!(calibration.threshold_for(0.01), Some(0.990));
        assert!(calibration.false_match_rate(0.990) <= 0.01);
        assert_eq!(calibration.threshold_for(0.0001), None);
        assert!(ScoreCalibration::from_impostor_scores(vec![]).is_err());
        assert!(ScoreCalibration::from_impostor_scores(vec![f64::NAN]).is_err());
    }

    #[test]
    fn the_shipped_calibration_reads_and_is_the_db2b_impostor_set() {
        let shipped = ScoreCalibration::shipped().unwrap();
        assert_eq!(shipped.len(), 2880);
        // No impostor pair of DB2_B scores above 0.05: a genuine-looking score there is evidence.
        assert!(
            shipped.highest_impostor() < 0.05,
            "{}",
            shipped.highest_impostor()
        );
        assert_eq!(shipped.false_match_rate(1.0), 1.0 / 2881.0);
    }
}
