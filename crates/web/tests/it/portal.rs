//! The portal in a real browser (headless Chromium from Debian's packages): the page loads, calls the
//! API with its actor headers and shows people in Khmer script.

use dspp_testkit::{Backend, Harness, harness};

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
    chromium_dom_with(url, window, &[]).await
}

/// The same with more Chromium switches (e.g. a fake camera).
async fn chromium_dom_with(url: &str, window: Option<(u32, u32)>, extra: &[String]) -> String {
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
            .args(extra)
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

/// The grandmother enrolled twice (the second time spelled SREIMOM, in a household of her own) and an elderly
/// application for the copy: returns the server, the case, the copy's SPID and the held line.
async fn a_duplicate_holding_a_line(
    h: &Harness,
) -> (crate::support::Server, String, String, String) {
    let server = start(h).await;
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
        .unwrap()
        .to_string();
    let line = apply_for_the_elderly_program(&server, id, &copy).await;
    (server, case, copy, line)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chief_sees_a_possible_duplicate_side_by_side_and_the_line_it_holds() {
    let h = harness(Backend::Sqlite).await;
    let (server, case, copy, line) = a_duplicate_holding_a_line(&h).await;
    let (copy, line) = (copy.as_str(), line.as_str());

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

/// A Y4M video (what Chromium's fake camera plays) showing `photo` still, for a few frames.
fn y4m_of(photo: &image::RgbImage) -> Vec<u8> {
    let (w, h) = (photo.width() & !1, photo.height() & !1);
    let mut out = format!("YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n").into_bytes();
    let luma = |p: &image::Rgb<u8>| {
        0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])
    };
    for _ in 0..5 {
        out.extend_from_slice(b"FRAME\n");
        for y in 0..h {
            for x in 0..w {
                out.push(luma(photo.get_pixel(x, y)).round().clamp(0.0, 255.0) as u8);
            }
        }
        for (channel, scale) in [(2usize, 0.564f32), (0, 0.713)] {
            for y in (0..h).step_by(2) {
                for x in (0..w).step_by(2) {
                    let p = photo.get_pixel(x, y);
                    let value = 128.0 + scale * (f32::from(p[channel]) - luma(p));
                    out.push(value.round().clamp(0.0, 255.0) as u8);
                }
            }
        }
    }
    out
}

/// A server with faces (its index in the returned folder) and the household of three: their SPIDs.
async fn a_family_on_a_face_server(
    h: &Harness,
) -> (crate::support::Server, tempfile::TempDir, Vec<String>) {
    let faces = tempfile::tempdir().unwrap();
    let server = crate::support::start_with(crate::support::with_faces(h, faces.path())).await;
    let household: serde_json::Value = server
        .post("/api/v1/households")
        .json(&household_of_three())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let spids = household["household"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|member| member["person"]["spid"].as_str().unwrap().to_string())
        .collect();
    (server, faces, spids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_officer_frames_a_face_with_live_quality_and_saves_it() {
    use std::time::Duration;

    use crate::browser::Browser;

    let h = harness(Backend::Sqlite).await;
    let (server, faces, spids) = a_family_on_a_face_server(&h).await;
    let grandmother = &spids[0];
    let url = format!(
        "{}/capture?spid={grandmother}&actor=officer.sokha&scope=commune:120101",
        server.base
    );
    let camera = [
        "--use-fake-ui-for-media-stream".to_string(),
        "--use-fake-device-for-media-stream".to_string(),
    ];

    // Chromium's own test pattern has no face: the live check says so, in words an officer can act on, and the
    // face cannot be saved.
    let browser = Browser::launch(&camera).await;
    let mut page = browser.open(&url).await;
    let reason = page
        .wait_for(
            "document.querySelector('[data-property=face_count][data-passed=false]')?.textContent",
            Duration::from_secs(60),
        )
        .await;
    assert!(reason.as_str().unwrap().contains("no face"), "{reason}");
    assert_eq!(
        page.eval("document.getElementById('save-face').disabled")
            .await,
        true
    );
    drop(browser);

    // The camera shows a face: every check passes, the officer presses save, the registry answers.
    let video = faces.path().join("astronaut.y4m");
    let photo = image::load_from_memory(&crate::support::astronaut())
        .unwrap()
        .to_rgb8();
    std::fs::write(&video, y4m_of(&photo)).unwrap();
    let mut with_face = camera.to_vec();
    with_face.push(format!(
        "--use-file-for-fake-video-capture={}",
        video.display()
    ));
    let browser = Browser::launch(&with_face).await;
    let mut page = browser.open(&url).await;
    page.wait_for(
        "document.getElementById('face').dataset.acceptable === 'true'",
        Duration::from_secs(60),
    )
    .await;
    let passed = page
        .eval("[...document.querySelectorAll('#checks li')].every(li => li.dataset.passed === 'true')")
        .await;
    assert_eq!(passed, true);
    page.eval("document.getElementById('save-face').click()")
        .await;
    let status = page
        .wait_for(
            "document.querySelector('#face-outcome [data-status]')?.dataset.status",
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(status, "unique");
    let on_record: serde_json::Value = server
        .get(&format!("/api/v1/people/{grandmother}/biometrics"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(on_record["parts"][0]["part"], "face", "{on_record}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chief_decides_the_case_then_approves_the_line_it_held_by_tapping() {
    use std::time::Duration;

    use crate::browser::Browser;

    let h = harness(Backend::Sqlite).await;
    let (server, case, _, line) = a_duplicate_holding_a_line(&h).await;
    let browser = Browser::launch(&[]).await;
    let mut page = browser
        .open(&format!(
            "{}/approvals?actor=chief.sophal&scope=commune:120101",
            server.base
        ))
        .await;
    let limit = Duration::from_secs(60);
    page.wait_for(
        &format!("document.querySelector('[data-held=\"{line}\"]')"),
        limit,
    )
    .await;

    // "Different people": the first tap asks for the reason, the second decides.
    let different = format!("document.querySelector('[data-case=\"{case}\"] .different')");
    page.eval(&format!("{different}.click()")).await;
    page.eval(&format!(
        "document.querySelector('[data-case=\"{case}\"] textarea').value = 'two sisters, both came to the office'"
    ))
    .await;
    page.eval(&format!("{different}.click()")).await;

    // The case leaves the page and the line gets its approve button; the chief taps it.
    let approve = format!("document.querySelector('[data-enrolment=\"{line}\"]')");
    page.wait_for(
        &format!("!document.querySelector('[data-case=\"{case}\"]') && {approve}"),
        limit,
    )
    .await;
    page.eval(&format!("{approve}.click()")).await;
    page.wait_for(
        &format!("document.body.dataset.loaded && !{approve}"),
        limit,
    )
    .await;

    // What the registry recorded: the chief's decision with the reason typed, and the approval.
    let decided: serde_json::Value = server
        .get(&format!("/api/v1/duplicates/{case}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(decided["status"], "different_people", "{decided}");
    assert_eq!(decided["decided_by"], "chief.sophal", "{decided}");
    assert_eq!(
        decided["decision_reason"], "two sisters, both came to the office",
        "{decided}"
    );
    let approved: serde_json::Value = server
        .get("/api/v1/applications?commune=120101&status=approved")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lines: Vec<&serde_json::Value> = approved
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|application| application["enrolments"].as_array().unwrap())
        .filter(|enrolment| enrolment["id"] == line.as_str())
        .collect();
    assert_eq!(lines.len(), 1, "{approved}");
    assert_eq!(lines[0]["status"], "approved", "{approved}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_camera_the_officer_takes_a_photo_with_the_phone_and_saves_it() {
    use std::time::Duration;

    use crate::browser::Browser;

    let h = harness(Backend::Sqlite).await;
    let (server, faces, spids) = a_family_on_a_face_server(&h).await;
    let daughter = &spids[1];
    let photo = faces.path().join("photo.jpg");
    std::fs::write(&photo, crate::support::astronaut()).unwrap();
    // No fake camera: the page has none and says so, and the photo input still works.
    let browser = Browser::launch(&[]).await;
    let mut page = browser
        .open(&format!(
            "{}/capture?spid={daughter}&actor=officer.sokha&scope=commune:120101",
            server.base
        ))
        .await;
    page.wait_for(
        "document.getElementById('photo-file')",
        Duration::from_secs(30),
    )
    .await;
    page.choose_file("#photo-file", &photo).await;
    page.wait_for(
        "document.getElementById('face').dataset.acceptable === 'true'",
        Duration::from_secs(60),
    )
    .await;
    page.eval("document.getElementById('save-face').click()")
        .await;
    let status = page
        .wait_for(
            "document.querySelector('#face-outcome [data-status]')?.dataset.status",
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(status, "unique");
}
