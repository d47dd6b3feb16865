//! The `dspp` binary end to end: serve on the embedded store, enrol over HTTP, stop, start again, and
//! find everything that was acknowledged; the same against PostgreSQL; import and export on the CLI.
// Test code: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

struct Running {
    child: Child,
    base: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dspp(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dspp"));
    command
        .args(args)
        .env("DSPP_LOG", "warn")
        .env_remove("DSPP_DATABASE_URL")
        .env_remove("DSPP_DATA_DIR");
    command
}

/// Starts `dspp serve` on port 0 and reads the address it prints.
fn serve(extra: &[&str]) -> Running {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut child = dspp(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start dspp serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the banner");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    Running {
        child,
        base: url.trim_end_matches('/').to_string(),
    }
}

/// Stops the server with SIGTERM and waits for a clean exit.
fn stop(mut running: Running) {
    let status = Command::new("kill")
        .args(["-TERM", &running.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = running.child.wait().expect("wait");
    assert!(exit.success(), "dspp exits cleanly on SIGTERM: {exit:?}");
}

fn household() -> Value {
    let person = |fk: &str, gk: &str, fl: &str, gl: &str, sex: &str, born: &str| json!({"family_km": fk, "given_km": gk, "family_latin": fl, "given_latin": gl, "sex": sex, "birth_date": born});
    json!({
        "village": "12010101",
        "members": [
            {"relationship": "head", "person": person("សុខ", "ស្រីមុំ", "SOK", "SREYMOM", "female", "1959")},
            {"relationship": "child", "person": person("សុខ", "ចាន់ធី", "SOK", "CHANTHY", "female", "1994-03-12")},
            {"relationship": "grandchild", "person": person("ហេង", "ដារ៉ា", "HENG", "DARA", "male", "2025-06-01")}
        ]
    })
}

/// Both thumbs of FVC2002 DB2_B fingers `right` and `left` (impression `n`) as the API takes them.
fn thumbs(right: &str, left: &str, n: u8) -> Value {
    use base64::Engine as _;
    let image = |finger: &str| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
            "../../../shared/data/fingerprints/fvc2002-db2b/{finger}_{n}.tif"
        ));
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(path).unwrap())
    };
    json!({
        "right_thumb": { "images": { "dpi": 569, "data": [image(right)] } },
        "left_thumb": { "images": { "dpi": 569, "data": [image(left)] } },
        "reason": "enrolment"
    })
}

async fn enrol_then_restart(extra: &[&str], data: &std::path::Path) {
    let client = reqwest::Client::new();
    let officer = |b: reqwest::RequestBuilder| {
        b.header("dspp-actor", "officer.sokha")
            .header("dspp-role", "officer")
            .header("dspp-scope", "commune:120101")
            .header("dspp-purpose", "enrolment")
    };
    let running = serve(extra);
    let response = officer(client.post(format!("{}/api/v1/households", running.base)))
        .json(&household())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let spids: Vec<String> = body["household"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["person"]["spid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(spids.len(), 3);
    let response = officer(client.post(format!(
        "{}/api/v1/people/{}/fingerprints",
        running.base, spids[0]
    )))
    .json(&thumbs("105", "106", 1))
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 201);
    stop(running);
    // The fingerprint index was saved, sealed, beside the data (the next start loads it).
    assert!(data.join("indexes/fingerprints.sealed").exists());
    assert!(data.join("keys/biometric.key").exists());

    let running = serve(extra);
    for spid in &spids {
        let response = officer(client.get(format!("{}/api/v1/people/{spid}", running.base)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{spid} survives the restart");
    }
    let health: Value = client
        .get(format!("{}/health", running.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["database"], "reachable");
    // The grandmother's thumbs are still known: her other impressions, on her grandson's record, open a case.
    let response = officer(client.post(format!(
        "{}/api/v1/people/{}/fingerprints",
        running.base, spids[2]
    )))
    .json(&thumbs("105", "106", 3))
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["warnings"][0]["spids"][0], spids[0].as_str(), "{body}");
    stop(running);
}

#[tokio::test]
async fn the_embedded_store_keeps_what_was_acknowledged_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    enrol_then_restart(&["--data-dir", data.to_str().unwrap()], &data).await;
    assert!(data.join("registry.sqlite").exists());
}

#[tokio::test]
async fn postgresql_keeps_what_was_acknowledged_across_a_restart() {
    let url = dspp_testkit::postgres().create_database(None).await;
    // The database is PostgreSQL; keys and the saved index still live in the data folder.
    let data = tempfile::tempdir().unwrap();
    enrol_then_restart(
        &[
            "--database-url",
            &url,
            "--data-dir",
            data.path().to_str().unwrap(),
        ],
        data.path(),
    )
    .await;
}

#[test]
fn import_and_export_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let input = dir.path().join("people.csv");
    std::fs::write(
        &input,
        "household_ref,relationship,family_km,given_km,family_latin,given_latin,sex,birth_date,birth_village,phone,village,address_detail,documents\n\
         H1,head,សុខ,ស្រីមុំ,SOK,SREYMOM,F,1959,,,12010101,,family_book:FB-1\n\
         H1,child,សុខ,ដារ៉ា,SOK,DARA,M,1975-02-30,,,12010101,,\n\
         H2,head,ហេង,បូរ៉ា,HENG,BORA,M,1975,,,12010101,,\n",
    )
    .unwrap();
    let output = dspp(&[
        "--data-dir",
        data.to_str().unwrap(),
        "import",
        input.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stdout.starts_with(
            "imported 1 people in 1 households from 3 rows (2 rows refused, 0 possible duplicates queued for review)"
        ),
        "{stdout}"
    );
    assert!(
        stderr.contains("people.csv:3: birth_date: \"1975-02-30\" does not exist in the calendar"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "people.csv:2: not imported: another row of household \"H1\" was refused (line 3)"
        ),
        "{stderr}"
    );
    let exported = dir.path().join("out.csv");
    let output = dspp(&[
        "--data-dir",
        data.to_str().unwrap(),
        "export",
        "--output",
        exported.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(output.status.success());
    let text = std::fs::read_to_string(&exported).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(text.contains("ហេង,បូរ៉ា,HENG,BORA,male,1975"));

    let bad = dspp(&[
        "--data-dir",
        data.to_str().unwrap(),
        "import",
        "/nonexistent.csv",
    ])
    .output()
    .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("while opening /nonexistent.csv"));
}

#[test]
fn help_names_every_command() {
    let output = dspp(&["--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    for command in ["serve", "migrate", "demo", "import", "export", "config"] {
        assert!(text.contains(command), "{command} in --help");
    }
}

#[test]
fn synth_link_and_evaluate_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let records = dir.path().join("records.csv");
    let truth = dir.path().join("truth.csv");
    let clusters = dir.path().join("clusters.csv");
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let output = dspp(&[
        "synth",
        "people",
        "--people",
        "2000",
        "--output",
        &path(&records),
        "--truth",
        &path(&truth),
        "--seed",
        "3",
    ])
    .output()
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let n_records = std::fs::read_to_string(&records).unwrap().lines().count() - 1;
    assert!(n_records > 2000, "duplicates add records: {n_records}");

    let output = dspp(&[
        "link",
        "--input",
        &path(&records),
        "--output",
        &path(&clusters),
        "--eval",
        &path(&truth),
    ])
    .output()
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let written = std::fs::read_to_string(&clusters).unwrap();
    assert_eq!(
        written.lines().count() - 1,
        n_records,
        "every input record is in the output"
    );
    let f1: f64 = text
        .split_whitespace()
        .find_map(|w| {
            w.strip_prefix("F1=")
                .or_else(|| w.strip_prefix("f1="))
                .and_then(|v| v.trim_end_matches(',').parse().ok())
        })
        .unwrap_or_else(|| panic!("an F1 in {text}"));
    assert!(f1 > 0.9, "pairwise F1 {f1} on a 2,000-person synthetic set");
}

#[test]
fn finger_match_prints_a_similarity_last() {
    let shared = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/fingerprints/sourceafis-samples"
    );
    let score = |a: &str, b: &str| -> f64 {
        let output = dspp(&[
            "finger",
            "match",
            &format!("{shared}/{a}"),
            &format!("{shared}/{b}"),
        ])
        .output()
        .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8_lossy(&output.stdout);
        text.split_whitespace()
            .last()
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("a number last in {text}"))
    };
    let same = score("probe.png", "matching.png");
    let other = score("probe.png", "nonmatching.png");
    assert!(
        same > other,
        "the same finger scores higher ({same} against {other})"
    );
}
