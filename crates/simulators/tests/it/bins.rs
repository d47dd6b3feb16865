//! The binaries: `--help`, the shipped register, and `dspp-nid-sim` as a real process stopped by SIGTERM.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/national-id.csv")
}

#[test]
fn both_binaries_explain_themselves() {
    for (binary, flags) in [
        (
            env!("CARGO_BIN_EXE_dspp-nid-sim"),
            &[
                "--data",
                "--token",
                "--fail-first",
                "--latency-ms",
                "generate",
            ][..],
        ),
        (
            env!("CARGO_BIN_EXE_dspp-operator-sim"),
            &["--journal", "--fail-first", "--program", "--token"][..],
        ),
    ] {
        let output = std::process::Command::new(binary)
            .arg("--help")
            .output()
            .unwrap();
        assert!(output.status.success(), "{binary}");
        let help = String::from_utf8(output.stdout).unwrap();
        for flag in flags {
            assert!(help.contains(flag), "{binary} --help lacks {flag}:\n{help}");
        }
    }
}

#[test]
fn the_shipped_register_is_the_generated_one() {
    let shipped = dspp_simulators::load_cards(&sample()).unwrap();
    assert_eq!(shipped, dspp_simulators::generate_cards(200, 1));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dspp-nid-sim"))
        .args(["generate", "--count", "200", "--seed", "1"])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(output.stdout, std::fs::read(sample()).unwrap());
}

#[test]
fn serving_without_data_or_token_says_what_is_missing() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dspp-nid-sim"))
        .args(["--listen", "127.0.0.1:0", "--token", "t"])
        .env_remove("DSPP_NID_SIM_TOKEN")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("--data FILE is required to serve"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_nid_process_verifies_a_card_and_stops_on_sigterm() {
    let cards = dspp_simulators::load_cards(&sample()).unwrap();
    let card = cards
        .iter()
        .find(|card| card.status == dspp_simulators::CardStatus::Valid && card.birth_date.is_full())
        .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_dspp-nid-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--token",
            "process-token",
            "--today",
            "2026-11-23",
        ])
        .arg("--data")
        .arg(sample())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    let url = first
        .strip_prefix("dspp-nid-sim listening on ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    assert!(first.ends_with("(200 cards)"), "{first}");

    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{url}/v1/identity/verify"))
        .bearer_auth("process-token")
        .json(&serde_json::json!({
            "request_id": "0193a8c2-7b1e-7f00-8d3c-2b9e6c1f4a10",
            "id_number": card.id_number,
            "name_latin": card.name_latin.to_lowercase(),
            "birth_date": card.birth_date.to_string(),
            "sex": match card.sex { dspp_simulators::Sex::Female => "female", dspp_simulators::Sex::Male => "male" },
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["id_status"], "valid");
    assert_eq!(answer["level_of_assurance"], "high");
    assert_eq!(answer["request_id"], "0193a8c2-7b1e-7f00-8d3c-2b9e6c1f4a10");

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().await.unwrap();
    assert!(status.success(), "exit after SIGTERM: {status}");
}
