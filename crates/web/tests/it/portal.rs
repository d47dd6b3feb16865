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
            .arg(format!("{}/", server.base))
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("Chromium answers within two minutes")
    .expect("run Chromium");
    let dom = String::from_utf8_lossy(&output.stdout);
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
