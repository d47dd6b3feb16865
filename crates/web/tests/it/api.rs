//! The API's promises: creation with SPIDs, precise problems, idempotent POSTs, optimistic concurrency,
//! pagination, the OpenAPI document and the actor recorded with every change.

use dspp_domain::Spid;
use dspp_testkit::{Harness, on_both_stores};
use serde_json::{Value, json};

use crate::support::{household_of_three, problem, start};

async fn creating_a_household_of_three_returns_three_valid_distinct_spids(h: Harness) {
    let server = start(&h).await;
    let response = server
        .post("/api/v1/households")
        .json(&household_of_three())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(response.headers()["etag"], "\"v1\"");
    let body: Value = response.json().await.unwrap();
    let members = body["household"]["members"].as_array().unwrap();
    let mut spids: Vec<Spid> = members
        .iter()
        .map(|m| Spid::parse(m["person"]["spid"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(members[0]["relationship"], "head");
    assert_eq!(members[0]["person"]["birth_date_precision"], "year");
    assert_eq!(members[0]["person"]["assurance"]["category"], 4);
    spids.sort();
    spids.dedup();
    assert_eq!(spids.len(), 3);
    let household: Value = server
        .get(&location)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        household["household"]["members"].as_array().unwrap().len(),
        3
    );
    for spid in spids {
        let response = server
            .get(&format!("/api/v1/people/{spid}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["etag"], "\"v1\"");
    }
}

async fn bad_input_gets_precise_problems_and_writes_nothing(h: Harness) {
    let server = start(&h).await;
    let mut body = household_of_three();
    body["village"] = json!("12019999");
    let p = problem(
        server
            .post("/api/v1/households")
            .json(&body)
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert_eq!(
        p["detail"],
        "village: 12019999 is not a village of the gazetteer"
    );

    let mut body = household_of_three();
    body["members"][1]["person"]["birth_date"] = json!("2031-02-30");
    body["members"][2]["person"]["sex"] = json!("x");
    let p = problem(
        server
            .post("/api/v1/households")
            .json(&body)
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["members[1].birth_date", "members[2].sex"]);

    let p = problem(
        server
            .get("/api/v1/people/1234567891")
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("check digit"), "{p}");
    problem(
        server
            .get("/api/v1/people/1234567890")
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;

    let p = problem(
        server
            .post("/api/v1/households")
            .header("content-type", "text/plain")
            .body("village=1")
            .send()
            .await
            .unwrap(),
        415,
    )
    .await;
    assert_eq!(p["detail"], "send the body as application/json");
    problem(
        server
            .post("/api/v1/households")
            .header("content-type", "application/json")
            .body("{\"village\": ")
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    let p = problem(
        server
            .post("/api/v1/households")
            .json(&json!({"village": "12010101", "members": [], "colour": 1}))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("unknown field `colour`"),
        "{p}"
    );
    let huge = "x".repeat(dspp_web::MAX_BODY_BYTES + 10);
    problem(
        server
            .post("/api/v1/households")
            .header("content-type", "application/json")
            .body(huge)
            .send()
            .await
            .unwrap(),
        413,
    )
    .await;

    let anonymous = server
        .client
        .get(format!("{}/api/v1/people", server.base))
        .send()
        .await
        .unwrap();
    let p = problem(anonymous, 401).await;
    assert!(p["detail"].as_str().unwrap().contains("dspp-actor"));
    problem(
        server.get("/api/v1/no-such-thing").send().await.unwrap(),
        404,
    )
    .await;
    problem(
        server
            .client
            .delete(format!("{}/api/v1/people", server.base))
            .send()
            .await
            .unwrap(),
        405,
    )
    .await;

    let listed: Value = server
        .get("/api/v1/people")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        0,
        "nothing partial was written"
    );
}

async fn a_retried_post_with_the_same_idempotency_key_creates_once(h: Harness) {
    let server = start(&h).await;
    let send = |body: Value, key: &str| {
        server
            .post("/api/v1/households")
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let first = send(household_of_three(), "k-2026-11-23-0001")
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    let first_body: Value = first.json().await.unwrap();
    let again = send(household_of_three(), "k-2026-11-23-0001")
        .await
        .unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["etag"], "\"v1\"");
    let again_body: Value = again.json().await.unwrap();
    assert_eq!(again_body, first_body, "the same household, the same SPIDs");
    let listed: Value = server
        .get("/api/v1/people")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 3, "created once");

    let mut other = household_of_three();
    other["address_detail"] = json!("House 99");
    let p = problem(send(other, "k-2026-11-23-0001").await.unwrap(), 422).await;
    assert!(
        p["type"]
            .as_str()
            .unwrap()
            .ends_with("idempotency-key-reused")
    );
    // A refused request is kept too: the retry gets the same refusal.
    let mut bad = household_of_three();
    bad["village"] = json!("1");
    problem(send(bad.clone(), "k-bad").await.unwrap(), 422).await;
    let replayed = send(bad, "k-bad").await.unwrap();
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    problem(replayed, 422).await;
}

async fn if_match_prevents_lost_updates(h: Harness) {
    let server = start(&h).await;
    let created: Value = server
        .post("/api/v1/households")
        .json(&household_of_three())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let spid = created["household"]["members"][0]["person"]["spid"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/v1/people/{spid}");
    let mut person = crate::support::person("សុខ", "ស្រីមុំ", "SOK", "SREYMOM", "female", "1958");
    person["village"] = json!("12010101");
    let update = json!({ "person": person, "reason": "birth year from the family book" });

    problem(server.put(&path).json(&update).send().await.unwrap(), 428).await;
    let ok = server
        .put(&path)
        .header("if-match", "\"v1\"")
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["etag"], "\"v2\"");
    // The second officer still holds v1: refused, and told why.
    let mut other = update.clone();
    other["person"]["phone"] = json!("012345678");
    let p = problem(
        server
            .put(&path)
            .header("if-match", "\"v1\"")
            .json(&other)
            .send()
            .await
            .unwrap(),
        412,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("version 2"), "{p}");
    let person: Value = server
        .get(&path)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(person["birth_date"], "1958");
    assert_eq!(person["phone"], Value::Null);
}

async fn history_records_who_acted_on_whose_authority(h: Harness) {
    let server = start(&h).await;
    let created: Value = server
        .post("/api/v1/households")
        .json(&household_of_three())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let spid = created["household"]["members"][1]["person"]["spid"]
        .as_str()
        .unwrap()
        .to_string();
    let death = json!({ "date": "2026-11-01", "evidence": "DC-12/2026", "reason": "death certificate from the commune" });
    let response = server
        .post(&format!("/api/v1/people/{spid}/death"))
        .header("dspp-on-behalf-of", "chief.chea")
        .header("dspp-delegation", "Delegation letter 14/2026")
        .header("if-match", "\"v1\"")
        .json(&death)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let history: Value = server
        .get(&format!("/api/v1/people/{spid}/history"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let last = &history.as_array().unwrap()[1];
    assert_eq!(last["change"]["action"], "death");
    assert_eq!(last["change"]["actor"], "officer.sokha");
    assert_eq!(last["change"]["actor_kind"], "user");
    assert_eq!(last["change"]["on_behalf_of"], "chief.chea");
    assert_eq!(last["change"]["delegation"], "Delegation letter 14/2026");
    assert_eq!(last["change"]["purpose"], "enrolment");
    assert_eq!(last["person"]["death"]["date"], "2026-11-01");
    // Half a delegation is refused.
    let p = problem(
        server
            .get(&format!("/api/v1/people/{spid}"))
            .header("dspp-on-behalf-of", "chief.chea")
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("dspp-delegation"));
}

async fn listings_page_with_cursors_and_the_openapi_document_describes_it(h: Harness) {
    let server = start(&h).await;
    for _ in 0..3 {
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
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/people?limit=4&cursor={c}"),
            None => "/api/v1/people?limit=4".to_string(),
        };
        let page: Value = server
            .get(&path)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for item in page["items"].as_array().unwrap() {
            seen.push(item["spid"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 9);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 9, "no person twice across pages");
    problem(
        server
            .get("/api/v1/people?cursor=not-a-cursor")
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;

    let doc: Value = server
        .client
        .get(format!("{}/api/v1/openapi.json", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/api/v1/households",
        "/api/v1/people/{spid}",
        "/api/v1/spid-leases",
        "/api/v1/places/{code}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is described");
    }
    let home = server
        .client
        .get(format!("{}/", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains("<b id=\"people\">9</b>"),
        "the portal shows the count"
    );
}

async fn a_lease_is_granted_and_checked_over_the_api(h: Harness) {
    let server = start(&h).await;
    let lease = server
        .post("/api/v1/spid-leases")
        .json(&json!({"device_id": "tablet-07", "size": 3, "valid_days": 14}))
        .send()
        .await
        .unwrap();
    assert_eq!(lease.status(), 201);
    let lease: Value = lease.json().await.unwrap();
    assert_eq!(lease["n_unissued"], 3);
    let spid = lease["spids"][0]["spid"].as_str().unwrap().to_string();
    let mut household = household_of_three();
    household["members"] = json!([household["members"][0].clone()]);
    household["members"][0]["person"]["offline"] = json!({"spid": spid, "lease_id": lease["id"], "device_id": "tablet-07", "issued_at": "2026-11-23T08:31:00Z"});
    let created: Value = server
        .post("/api/v1/households")
        .json(&household)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        created["household"]["members"][0]["person"]["spid"],
        spid.as_str()
    );
    let returned: Value = server
        .post(&format!(
            "/api/v1/spid-leases/{}/return",
            lease["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (returned["n_issued"].as_u64(), returned["n_void"].as_u64()),
        (Some(1), Some(2))
    );
    let check: Value = server
        .client
        .get(format!("{}/api/v1/spids/1234567891/check", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(check["valid"], false);
}

on_both_stores!(
    creating_a_household_of_three_returns_three_valid_distinct_spids,
    bad_input_gets_precise_problems_and_writes_nothing,
    a_retried_post_with_the_same_idempotency_key_creates_once,
    if_match_prevents_lost_updates,
    history_records_who_acted_on_whose_authority,
    listings_page_with_cursors_and_the_openapi_document_describes_it,
    a_lease_is_granted_and_checked_over_the_api,
);
