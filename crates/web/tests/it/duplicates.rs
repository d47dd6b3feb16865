//! The duplicates queue over HTTP: the officer sees the possible duplicate in the enrolment answer, the queue shows
//! both records side by side with the evidence, the chief decides, the holds report empties.

use dspp_testkit::{Harness, on_both_stores};
use serde_json::{Value, json};

use crate::support::{household_of_three, person, problem, start};

async fn a_possible_duplicate_is_shown_queued_decided_and_reported(h: Harness) {
    let server = start(&h).await;
    let first = server
        .post("/api/v1/households")
        .json(&household_of_three())
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let grandmother = first["household"]["members"][0]["person"]["spid"].clone();

    // The grandmother again, in another household, with her given name romanized SREIMOM.
    let again = json!({
        "village": "12010101",
        "members": [{ "relationship": "head", "person": person("សុខ", "ស្រីមុំ", "SOK", "SREIMOM", "female", "1959") }]
    });
    let response = server
        .post("/api/v1/households")
        .json(&again)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let warning = &body["warnings"][0];
    assert_eq!(warning["code"], "possible_duplicate");
    assert_eq!(warning["spids"][0], grandmother);
    let case_id = warning["duplicate"]["case_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        warning["duplicate"]["evidence"]["summary"]
            .as_str()
            .unwrap()
            .contains("birth_date=same year"),
        "{warning}"
    );

    // The queue: both records side by side.
    let queue: Value = server
        .get("/api/v1/duplicates")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = queue["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{queue}");
    assert_eq!(items[0]["id"], case_id.as_str());
    assert_eq!(items[0]["status"], "open");
    let names: Vec<&str> = ["a", "b"]
        .iter()
        .map(|side| items[0][side]["given_latin"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"SREYMOM") && names.contains(&"SREIMOM"),
        "{names:?}"
    );

    // Bad decisions get precise problems.
    let chief = |builder: reqwest::RequestBuilder| {
        builder
            .header("dspp-actor", "chief.sophal")
            .header("dspp-role", "commune_chief")
            .header("dspp-scope", "commune:120101")
            .header("dspp-purpose", "deduplication")
    };
    let url = format!("{}/api/v1/duplicates/{case_id}/decision", server.base);
    let p = problem(
        chief(server.client.post(&url))
            .json(&json!({ "decision": "same_person", "reason": "one woman" }))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "survivor");
    let p = problem(
        chief(server.client.post(&url))
            .json(&json!({ "decision": "maybe", "reason": "?" }))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "decision");

    // The chief decides: the same woman; her first SPID survives.
    let response = chief(server.client.post(&url))
        .json(&json!({ "decision": "same_person", "survivor": grandmother, "reason": "same woman, seen in person" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let decided: Value = response.json().await.unwrap();
    assert_eq!(decided["status"], "same_person");
    assert_eq!(decided["survivor"], grandmother);
    assert_eq!(decided["decided_by"], "chief.sophal");

    let holds: Value = server
        .get("/api/v1/reports/duplicate-holds")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(holds["held"], json!([]));
    let open: Value = server
        .get("/api/v1/duplicates?status=open")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(open["items"], json!([]));
    let all: Value = server
        .get("/api/v1/duplicates?status=all")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
}

on_both_stores!(a_possible_duplicate_is_shown_queued_decided_and_reported);
