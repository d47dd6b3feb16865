//! The portal in a real browser (headless Chromium from Debian's packages): the page loads, calls the
//! API with its actor headers and shows people in Khmer script.

use dspp_testkit::{Backend, harness};

use crate::support::{household_of_three, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_lists_people_in_a_real_browser() {
    let h = harness(Backend::Sqlite).await;
    let server = start(&h).await;
    assert_eq!(
        server
            .post("/api/v1/households")
            .json(&household_of_three())
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    let dom = chromium_dom(&format!("{}/", server.base), None).await;
    assert!(dom.contains("<b id=\"people\">3</b>"), "the count: {dom}");
    let rows = dom
        .split("<tbody id=\"rows\">")
        .nth(1)
        .and_then(|rest| rest.split("</tbody>").next())
        .unwrap_or_default();
    assert!(
        rows.contains("សុខ ស្រីមុំ"),
        "the head's Khmer name is in the table rendered by the page's script: {rows}"
    );
    assert!(rows.contains("HENG DARA"));
    assert_eq!(rows.matches("<tr>").count(), 3);
}

/// Runs headless Chromium on `url` (at a phone's window size when given) and returns the DOM after the
/// page's scripts ran.
async fn chromium_dom(url: &str, window: Option<(u32, u32)>) -> String {
    let profile = tempfile::tempdir().unwrap();
    let chromium = ["chromium", "/usr/bin/chromium"]
        .into_iter()
        .find(|c| std::process::Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()))
        .expect("Chromium is not installed: run the README's test command (scripts/test), which installs it");
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        tokio::process::Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--virtual-time-budget=10000",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(window.map(|(w, h)| format!("--window-size={w},{h}")))
            .arg(url)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("Chromium answers within two minutes")
    .expect("run Chromium");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chief_sees_the_approval_queue_on_a_phone() {
    let h = harness(Backend::Sqlite).await;
    let server = start(&h).await;
    let household: serde_json::Value = server
        .post("/api/v1/households")
        .json(&household_of_three())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = household["household"]["id"].as_str().unwrap();
    let grandmother = household["household"]["members"][0]["person"]["spid"]
        .as_str()
        .unwrap();
    let line = apply_for_the_elderly_program(&server, id, grandmother).await;
    let line = line.as_str();

    let dom = chromium_dom(
        &format!(
            "{}/approvals?actor=chief.sophal&scope=commune:120101",
            server.base
        ),
        Some((390, 844)),
    )
    .await;
    assert!(
        dom.contains("data-loaded=\"true\""),
        "the queue loaded: {dom}"
    );
    assert!(
        dom.contains("data-fits=\"true\""),
        "no sideways scrolling on a phone: {dom}"
    );
    assert!(
        dom.contains("ការឧបត្ថម្ភសាច់ប្រាក់សម្រាប់មនុស្សចាស់"),
        "the program in Khmer: {dom}"
    );
    assert!(dom.contains("សុខ ស្រីមុំ"), "the person: {dom}");
    assert!(
        dom.contains("អាយុ ៦០ ឆ្នាំឡើងទៅ"),
        "why, in the rule's Khmer words: {dom}"
    );
    assert!(
        dom.contains(&format!("data-enrolment=\"{line}\"")),
        "an approve button for the line: {dom}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chief_sees_a_possible_duplicate_side_by_side_and_the_line_it_holds() {
    let h = harness(Backend::Sqlite).await;
    let server = start(&h).await;
    assert_eq!(
        server
            .post("/api/v1/households")
            .json(&household_of_three())
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    let again: serde_json::Value = server
        .post("/api/v1/households")
        .json(&serde_json::json!({
            "village": "12010101",
            "members": [{ "relationship": "head",
                "person": crate::support::person("សុខ", "ស្រីមុំ", "SOK", "SREIMOM", "female", "1959") }]
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let case = again["warnings"][0]["duplicate"]["case_id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = again["household"]["id"].as_str().unwrap();
    let copy = again["household"]["members"][0]["person"]["spid"]
        .as_str()
        .unwrap();
    let line = apply_for_the_elderly_program(&server, id, copy).await;
    let line = line.as_str();

    let dom = chromium_dom(
        &format!(
            "{}/approvals?actor=chief.sophal&scope=commune:120101",
            server.base
        ),
        Some((390, 844)),
    )
    .await;
    assert!(dom.contains("data-loaded=\"true\""), "loaded: {dom}");
    assert!(
        dom.contains("data-fits=\"true\""),
        "no sideways scrolling on a phone: {dom}"
    );
    assert!(
        dom.contains(&format!("data-case=\"{case}\"")),
        "the case: {dom}"
    );
    assert!(
        dom.contains("SOK SREYMOM") && dom.contains("SOK SREIMOM"),
        "both records side by side: {dom}"
    );
    assert!(
        dom.contains("Names and dates") || dom.contains("ឈ្មោះ និងថ្ងៃកំណើត"),
        "which engine found it: {dom}"
    );
    assert!(
        dom.contains(&format!("data-keep=\"{copy}\"")),
        "a button to keep either SPID: {dom}"
    );
    assert!(
        dom.contains(&format!("data-held=\"{line}\""))
            && !dom.contains(&format!("data-enrolment=\"{line}\"")),
        "the held line has no approve button: {dom}"
    );
}

/// The council records the household's IDPoor card and the officer applies for the elderly program for `person`;
/// returns the application's line.
async fn apply_for_the_elderly_program(
    server: &crate::support::Server,
    household: &str,
    person: &str,
) -> String {
    let council = server
        .client
        .post(format!(
            "{}/api/v1/households/{household}/poverty-status",
            server.base
        ))
        .header("dspp-actor", "council.vanna")
        .header("dspp-role", "national_administrator")
        .header("dspp-scope", "national")
        .header("dspp-purpose", "administration")
        .json(&serde_json::json!({"status": "idpoor1", "reason": "equity card"}))
        .send()
        .await
        .unwrap();
    assert_eq!(council.status(), 200);
    let application: serde_json::Value = server
        .post("/api/v1/applications")
        .json(&serde_json::json!({"household_id": household,
            "programs": [{"program": "elderly", "subject": person}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    application["enrolments"][0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}
