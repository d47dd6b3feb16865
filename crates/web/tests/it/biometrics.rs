//! Biometrics over HTTP: an officer sends both thumbs as scanner images (base64), a person enrolled twice is found
//! and queued as a fingerprint case, a service point verifies a thumb, and bad captures are problems naming the
//! field.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use dspp_testkit::{Harness, on_both_stores};
use serde_json::{Value, json};

use crate::support::{person, problem, start_with};

fn image(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/fingerprints/fvc2002-db2b")
        .join(format!("{name}.tif"));
    STANDARD.encode(std::fs::read(path).unwrap())
}

fn thumbs(right: &str, left: &str) -> Value {
    json!({
        "right_thumb": { "images": { "dpi": 569, "data": [image(right)] } },
        "left_thumb": { "images": { "dpi": 569, "data": [image(left)] } },
        "reason": "enrolment"
    })
}

async fn a_person_enrolled_twice_is_found_by_thumbs_and_a_thumb_is_verified(h: Harness) {
    let registry = h
        .registry
        .clone()
        .with_biometrics(dspp_service::BiometricSettings {
            fingerprint: Default::default(),
            keyring: dspp_vault::Keyring::new(
                dspp_vault::Key::parse("test", &"11".repeat(32)).unwrap(),
                vec![],
            ),
            face: None,
        })
        .unwrap();
    let server = start_with(registry).await;
    let mut spids = Vec::new();
    for (family_km, given_km, latin) in [("សុខ", "ស្រីមុំ", "SREYMOM"), ("ចាន់", "សុភាព", "SOPHEAP")]
    {
        let mut body = person(family_km, given_km, "SOK", latin, "female", "1959");
        body["village"] = json!("12010101");
        let response = server
            .post("/api/v1/people")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        spids.push(body["person"]["spid"].as_str().unwrap().to_string());
    }

    let response = server
        .post(&format!("/api/v1/people/{}/fingerprints", spids[0]))
        .json(&thumbs("109_1", "110_1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let first: Value = response.json().await.unwrap();
    assert_eq!(first["biometric_status"], "unique", "{first}");
    assert_eq!(first["parts"].as_array().unwrap().len(), 2);

    // The same woman under another record: her other impressions.
    let response = server
        .post(&format!("/api/v1/people/{}/fingerprints", spids[1]))
        .json(&thumbs("109_3", "110_3"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let second: Value = response.json().await.unwrap();
    assert_eq!(second["biometric_status"], "possible_duplicate", "{second}");
    let warning = &second["warnings"][0];
    assert_eq!(warning["spids"][0], spids[0].as_str());
    let case_id = warning["duplicate"]["case_id"].as_str().unwrap();

    let case: Value = server
        .get(&format!("/api/v1/duplicates/{case_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(case["source"], "fingerprint", "{case}");

    // What is on record: formats and qualities, never the template.
    let on_record: Value = server
        .get(&format!("/api/v1/people/{}/biometrics", spids[0]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(on_record["parts"][0]["format"], "iso-19794-2:2005");
    assert!(!on_record.to_string().contains("data"), "{on_record}");

    // A service point verifies her right thumb.
    let response = server
        .post(&format!(
            "/api/v1/people/{}/fingerprints/verification",
            spids[0]
        ))
        .json(&json!({
            "thumb": "right_thumb",
            "capture": { "images": { "dpi": 569, "data": [image("109_5")] } }
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let verified: Value = response.json().await.unwrap();
    assert_eq!(verified["matched"], true, "{verified}");
    assert!(verified["check_id"].as_str().is_some());

    // Bad captures: a problem naming each field.
    let response = server
        .post(&format!("/api/v1/people/{}/fingerprints", spids[0]))
        .json(&json!({
            "right_thumb": { "template": { "format": "iso-19794-2", "data": "!!" } },
            "left_thumb": { "exception": { "reason": "lost", "note": "x" } },
            "reason": "enrolment"
        }))
        .send()
        .await
        .unwrap();
    let body = problem(response, 422).await;
    assert!(
        body.to_string().contains("right_thumb.template.data"),
        "{body}"
    );
    let response = server
        .post(&format!("/api/v1/people/{}/fingerprints", spids[0]))
        .json(&json!({
            "right_thumb": { "exception": { "reason": "lost", "note": "x" } },
            "left_thumb": { "exception": { "reason": "missing", "note": "born without" } },
            "reason": "enrolment"
        }))
        .send()
        .await
        .unwrap();
    let body = problem(response, 422).await;
    assert!(
        body.to_string()
            .contains("missing, amputated, unreadable or temporary"),
        "{body}"
    );

    // An amputated thumb is recorded as an exception, and the commune's audit report lists it with who recorded it.
    let response = server
        .post(&format!("/api/v1/people/{}/fingerprints", spids[1]))
        .json(&json!({
            "right_thumb": { "exception": { "reason": "amputated", "note": "lost in a threshing accident" } },
            "left_thumb": { "images": { "dpi": 569, "data": [image("110_5")] } },
            "reason": "re-capture"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let report: Value = server
        .get("/api/v1/reports/biometric-exceptions?place=120101")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["items"][0]["spid"], spids[1].as_str(), "{report}");
    assert_eq!(report["items"][0]["reason"], "amputated", "{report}");
    assert_eq!(
        report["items"][0]["recorded_by"], "officer.sokha",
        "{report}"
    );
    assert_eq!(report["counts"][0]["people"], 1, "{report}");

    // A server without biometrics says so.
    let plain = crate::support::start(&h).await;
    let response = plain
        .post(&format!("/api/v1/people/{}/fingerprints", spids[0]))
        .json(&thumbs("109_1", "110_1"))
        .send()
        .await
        .unwrap();
    let body = problem(response, 503).await;
    assert!(
        body["detail"].as_str().unwrap().contains("not configured"),
        "{body}"
    );
}

on_both_stores!(a_person_enrolled_twice_is_found_by_thumbs_and_a_thumb_is_verified);
