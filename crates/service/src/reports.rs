//! How long enrolments take, per program: form opened → submitted → approved → delivered, with counts of
//! where every line stands. Durations are medians and 90th percentiles over the lines that reached both
//! ends of a stage.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dspp_domain::{Actor, CommuneCode, EnrolmentStatus};
use dspp_store::{EnrolmentFilter, EnrolmentRow};

use crate::{Registry, ServiceError};

/// Seconds spent in one stage, over the lines that completed it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageDurations {
    pub count: usize,
    pub median_seconds: Option<i64>,
    pub p90_seconds: Option<i64>,
    pub max_seconds: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgramDurations {
    pub program: String,
    /// Lines by status (`pending`, `approved`, …).
    pub by_status: BTreeMap<String, usize>,
    pub open_to_submit: StageDurations,
    pub submit_to_decision: StageDurations,
    pub approve_to_deliver: StageDurations,
    pub open_to_deliver: StageDurations,
}

/// Which lines a report covers.
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    pub commune: Option<CommuneCode>,
    pub program: Option<String>,
    pub submitted_from: Option<DateTime<Utc>>,
    pub submitted_until: Option<DateTime<Utc>>,
}

fn stage(mut seconds: Vec<i64>) -> StageDurations {
    if seconds.is_empty() {
        return StageDurations::default();
    }
    seconds.sort_unstable();
    // Nearest-rank percentiles: the value at rank ceil(p·n).
    let rank = |p: f64| {
        let idx = ((p * seconds.len() as f64).ceil() as usize).clamp(1, seconds.len()) - 1;
        seconds[idx]
    };
    StageDurations {
        count: seconds.len(),
        median_seconds: Some(rank(0.5)),
        p90_seconds: Some(rank(0.9)),
        max_seconds: seconds.last().copied(),
    }
}

fn between(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Option<i64> {
    Some((to? - from?).num_seconds().max(0))
}

pub(crate) fn durations(rows: &[EnrolmentRow]) -> Vec<ProgramDurations> {
    let mut by_program: BTreeMap<&str, Vec<&EnrolmentRow>> = BTreeMap::new();
    for row in rows {
        by_program.entry(&row.program_code).or_default().push(row);
    }
    by_program
        .into_iter()
        .map(|(program, lines)| {
            let mut by_status = BTreeMap::new();
            for status in EnrolmentStatus::ALL {
                let n = lines.iter().filter(|l| l.status == status).count();
                if n > 0 {
                    by_status.insert(status.as_str().to_string(), n);
                }
            }
            let collect = |f: &dyn Fn(&EnrolmentRow) -> Option<i64>| -> Vec<i64> {
                lines.iter().filter_map(|l| f(l)).collect()
            };
            ProgramDurations {
                program: program.to_string(),
                by_status,
                open_to_submit: stage(collect(&|l| {
                    between(Some(l.opened_at), Some(l.submitted_at))
                })),
                submit_to_decision: stage(collect(&|l| {
                    between(Some(l.submitted_at), l.decided_at)
                })),
                approve_to_deliver: stage(collect(&|l| between(l.approved_at, l.delivered_at))),
                open_to_deliver: stage(collect(&|l| between(Some(l.opened_at), l.delivered_at))),
            }
        })
        .collect()
}

impl Registry {
    /// Enrolment durations per program for a commune (or the whole country for national readers).
    pub async fn enrolment_durations(
        &self,
        actor: &Actor,
        filter: &ReportFilter,
    ) -> Result<Vec<ProgramDurations>, ServiceError> {
        let rows = self
            .enrolments(
                actor,
                &EnrolmentFilter {
                    commune: filter.commune,
                    program: filter.program.clone(),
                    submitted_from: filter.submitted_from,
                    submitted_until: filter.submitted_until,
                    ..EnrolmentFilter::default()
                },
                100_000,
            )
            .await?;
        Ok(durations(&rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let s = stage((1..=10).collect());
        assert_eq!(s.count, 10);
        assert_eq!(s.median_seconds, Some(5));
        assert_eq!(s.p90_seconds, Some(9));
        assert_eq!(s.max_seconds, Some(10));
        assert_eq!(stage(vec![]), StageDurations::default());
        assert_eq!(stage(vec![7]).p90_seconds, Some(7));
    }
}
