//! The morning peak through the API: C officers at once, each enrolling households one after another
//! (register the household, submit one application for its eligible programs, and the chief approves it),
//! against a real server on the embedded SQLite store and on PostgreSQL. Reports completed enrolments per
//! second and each call's p50/p99 latency.
//!
//!     cargo bench -p dspp-web --bench enrolment_peak -- [CONCURRENT_OFFICERS] [HOUSEHOLDS_EACH]

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use dspp_testkit::{Backend, harness};
use serde_json::{Value, json};

fn headers(
    builder: reqwest::RequestBuilder,
    subject: &str,
    role: &str,
    scope: &str,
) -> reqwest::RequestBuilder {
    builder
        .header("dspp-actor", subject)
        .header("dspp-role", role)
        .header("dspp-scope", scope)
        .header("dspp-purpose", "enrolment")
}

/// Family and given names in both scripts. Every enrolment of a run is a different person (no name repeats within
/// 256 households), so the duplicate check runs on every person; a case it opens anyway is a false match and holds
/// the approval, which the run reports.
const FAMILY: [(&str, &str); 16] = [
    ("សុខ", "SOK"),
    ("ហេង", "HENG"),
    ("ជា", "CHEA"),
    ("កែវ", "KEO"),
    ("ចាន់", "CHAN"),
    ("លី", "LY"),
    ("ម៉ៅ", "MAO"),
    ("ប៉ែន", "PEN"),
    ("សាន", "SAN"),
    ("លឹម", "LIM"),
    ("ទេព", "TEP"),
    ("ឈឹម", "CHHIM"),
    ("ហ៊ុន", "HUN"),
    ("នួន", "NUON"),
    ("ព្រំ", "PROM"),
    ("មាស", "MEAS"),
];
const GIVEN: [(&str, &str); 16] = [
    ("ស្រីមុំ", "SREYMOM"),
    ("ដារ៉ា", "DARA"),
    ("សុភា", "SOPHEA"),
    ("ម៉ាលី", "MALY"),
    ("វណ្ណា", "VANNA"),
    ("បុប្ផា", "BOPHA"),
    ("រតនា", "RATANA"),
    ("សុខា", "SOKHA"),
    ("ចាន់ធី", "CHANTHY"),
    ("សុផល", "SOPHAL"),
    ("វិសាល", "VISAL"),
    ("ធីតា", "THIDA"),
    ("បូរ៉ា", "BORA"),
    ("ផល្លា", "PHALLA"),
    ("សំណាង", "SAMNANG"),
    ("ពិសី", "PISEY"),
];

/// The household of the `k`-th enrolment of the run: an elderly head and an adult child.
fn household(k: usize) -> Value {
    // The sixteen villages of commune 120101; heads born over 33 years, as a commune's elderly are.
    let village = format!("120101{:02}", (k / 3) % 16 + 1);
    let date = |base: &str, days: usize| {
        let start = chrono::NaiveDate::parse_from_str(base, "%Y-%m-%d").unwrap();
        (start + chrono::Duration::days((days % 12_000) as i64)).to_string()
    };
    let (head_family, head_given) = (FAMILY[k % 16], GIVEN[(k / 16) % 16]);
    let (child_family, child_given) = (FAMILY[(k + 7) % 16], GIVEN[(k / 16 + 9) % 16]);
    json!({
        "village": village,
        "members": [
            {"relationship": "head", "person": {"family_km": head_family.0, "given_km": head_given.0,
                "family_latin": head_family.1, "given_latin": head_given.1, "sex": "female",
                "birth_date": date("1930-01-01", k * 379)}},
            {"relationship": "child", "person": {"family_km": child_family.0, "given_km": child_given.0,
                "family_latin": child_family.1, "given_latin": child_given.1, "sex": "male",
                "birth_date": date("1965-01-01", k * 379)}}
        ]
    })
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let idx = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[idx]
}

async fn run(backend: Backend, officers: usize, each: usize) {
    let h = harness(backend).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(dspp_web::serve(
        listener,
        dspp_web::AppState {
            registry: h.registry.clone(),
        },
        shutdown.clone(),
    ));
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for officer in 0..officers {
        let client = client.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let mut times: Vec<(&'static str, Duration)> = Vec::new();
            let me = format!("officer.{officer}");
            for n in 0..each {
                let t = Instant::now();
                let created: Value = headers(client.post(format!("{base}/api/v1/households")), &me, "officer", "commune:120101")
                    .json(&household(officer * each + n))
                    .send().await.unwrap().json().await.unwrap();
                times.push(("register household", t.elapsed()));
                let id = created["household"]["id"].as_str().expect("created").to_string();
                let head = created["household"]["members"][0]["person"]["spid"].as_str().unwrap().to_string();
                let t = Instant::now();
                let status = headers(client.post(format!("{base}/api/v1/households/{id}/poverty-status")), "council", "national_administrator", "national")
                    .json(&json!({"status": "idpoor1", "reason": "equity card"}))
                    .send().await.unwrap().status();
                assert_eq!(status, 200);
                times.push(("poverty status", t.elapsed()));
                let t = Instant::now();
                let application: Value = headers(client.post(format!("{base}/api/v1/applications")), &me, "officer", "commune:120101")
                    .header("Idempotency-Key", format!("{me}-{n}"))
                    .json(&json!({"household_id": id, "programs": [{"program": "elderly", "subject": head}]}))
                    .send().await.unwrap().json().await.unwrap();
                times.push(("submit application", t.elapsed()));
                let app_id = application["id"].as_str().expect("submitted").to_string();
                let line = application["enrolments"][0]["id"].clone();
                let t = Instant::now();
                let status = headers(client.post(format!("{base}/api/v1/applications/{app_id}/decisions")), "chief", "commune_chief", "commune:120101")
                    .json(&json!({"decisions": [{"enrolment_id": line, "decision": "approve"}]}))
                    .send().await.unwrap();
                let status = status.status();
                assert_eq!(status, 200, "{:?}", created["warnings"]);
                times.push(("approve", t.elapsed()));
            }
            times
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    let enrolments = officers * each;
    println!(
        "{backend:?}: {officers} officers x {each} households = {enrolments} enrolments in {:.1} s: {:.1} enrolments/s ({:.0} API calls/s)",
        elapsed.as_secs_f64(),
        enrolments as f64 / elapsed.as_secs_f64(),
        all.len() as f64 / elapsed.as_secs_f64()
    );
    for call in [
        "register household",
        "poverty status",
        "submit application",
        "approve",
    ] {
        let mut samples: Vec<Duration> = all
            .iter()
            .filter(|(c, _)| *c == call)
            .map(|(_, d)| *d)
            .collect();
        let p50 = percentile(&mut samples, 0.5);
        let p99 = percentile(&mut samples, 0.99);
        println!(
            "  {call:<20} p50 {:>7.1} ms  p99 {:>7.1} ms",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    shutdown.cancel();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let officers = args.first().copied().unwrap_or(32);
    let each = args.get(1).copied().unwrap_or(10);
    run(Backend::Sqlite, officers, each).await;
    run(Backend::Postgres, officers, each).await;
}
