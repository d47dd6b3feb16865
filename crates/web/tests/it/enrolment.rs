//! The issue's acceptance test through the API: an officer enrols a household whose grandmother is 67 and
//! disabled and whose daughter is pregnant; one chief approval puts them into the elderly, disability and
//! pregnant-women programs; the operator simulator receives exactly one delivery per program although it
//! fails twice first; the durations are reported; a delegated officer's approval shows on whose authority
//! it was made. Bad input along the way gets precise problems.

use chrono::Duration;
use dspp_testkit::{Harness, on_both_stores};
use reqwest::RequestBuilder;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::support::{Server, household_of_three, problem, start};

fn as_actor(
    builder: RequestBuilder,
    subject: &str,
    role: &str,
    scope: &str,
    purpose: &str,
) -> RequestBuilder {
    builder
        .header("dspp-actor", subject)
        .header("dspp-role", role)
        .header("dspp-scope", scope)
        .header("dspp-purpose", purpose)
}

fn chief_post(server: &Server, path: &str) -> RequestBuilder {
    as_actor(
        server.client.post(format!("{}{path}", server.base)),
        "chief.sophal",
        "commune_chief",
        "commune:120101",
        "approval",
    )
}

fn chief_get(server: &Server, path: &str) -> RequestBuilder {
    as_actor(
        server.client.get(format!("{}{path}", server.base)),
        "chief.sophal",
        "commune_chief",
        "commune:120101",
        "approval",
    )
}

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let code = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(code, status, "{body:#}");
    body
}

async fn the_issue_acceptance_test_over_http(h: Harness) {
    let server = start(&h).await;
    let household = json_of(
        server
            .post("/api/v1/households")
            .json(&household_of_three())
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let id = household["household"]["id"].as_str().unwrap().to_string();
    let members = household["household"]["members"].as_array().unwrap();
    let spid = |i: usize| members[i]["person"]["spid"].as_str().unwrap().to_string();
    let (grandmother, daughter, grandson) = (spid(0), spid(1), spid(2));

    // The council records the household's IDPoor 1 status (an equity card from the last round).
    json_of(
        as_actor(
            server.client.post(format!(
                "{}/api/v1/households/{id}/poverty-status",
                server.base
            )),
            "council.vanna",
            "national_administrator",
            "national",
            "administration",
        )
        .json(&json!({"status": "idpoor1", "reason": "equity card 12-0101-000123 (round 2024)"}))
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;

    let answers = json!([
        {"subject": grandmother, "answers": {"disability_card": "yes", "disability_card_number": "DIS-2019-4471",
            "difficulties": ["walking"], "pregnant": false}},
        {"subject": daughter, "answers": {"disability_card": false, "pregnant": true, "pregnancy_months": 5}},
        {"subject": grandson, "answers": {"disability_card": false}}
    ]);

    // Which programs apply, and why or why not.
    let checks = json_of(
        server
            .post(&format!("/api/v1/households/{id}/eligibility"))
            .json(&json!({"answers": answers}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let find = |program: &str, subject: &str| {
        checks
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["program"] == program && c["subject"] == subject)
            .cloned()
            .unwrap()
    };
    assert_eq!(find("elderly", &grandmother)["eligible"], true);
    assert_eq!(find("disability", &grandmother)["eligible"], true);
    assert_eq!(find("pregnant_women", &daughter)["eligible"], true);
    let why_not = find("elderly", &daughter);
    assert_eq!(why_not["eligible"], false);
    assert!(
        why_not["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["label_en"] == "Aged 60 or over" && r["passed"] == false)
    );
    assert!(
        why_not["rules"][0]["label_km"]
            .as_str()
            .unwrap()
            .contains("អាយុ")
    );

    // A contradictory form is refused with the field at fault.
    let contradictory = json!([
        {"subject": grandmother, "answers": {"disability_card": "yes", "disability_card_number": "DIS-2019-4471",
            "pregnant": false, "pregnancy_months": 4}}
    ]);
    let body = problem(
        server
            .post("/api/v1/applications")
            .json(&json!({"household_id": id, "answers": contradictory,
                "programs": [{"program": "elderly", "subject": grandmother}]}))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert!(
        body["errors"][0]["field"]
            .as_str()
            .unwrap()
            .ends_with("pregnancy_months"),
        "{body:#}"
    );

    // One submission for three programs, opened on the tablet 12 minutes ago.
    let opened_at = h.now() - Duration::minutes(12);
    let submission = json!({
        "household_id": id,
        "opened_at": opened_at,
        "answers": answers,
        "programs": [
            {"program": "elderly", "subject": grandmother},
            {"program": "disability", "subject": grandmother},
            {"program": "pregnant_women", "subject": daughter}
        ]
    });
    let application = json_of(
        server
            .post("/api/v1/applications")
            .header("Idempotency-Key", "tablet-7-application-1")
            .json(&submission)
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let application_id = application["id"].as_str().unwrap().to_string();
    assert_eq!(application["enrolments"].as_array().unwrap().len(), 3);
    // The tablet retries the same request: the same application, not a second one.
    let replay = json_of(
        server
            .post("/api/v1/applications")
            .header("Idempotency-Key", "tablet-7-application-1")
            .json(&submission)
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    assert_eq!(replay["id"], application["id"]);
    // The same person and program under another key: a conflict that names them.
    let body = problem(
        server
            .post("/api/v1/applications")
            .header("Idempotency-Key", "tablet-7-application-2")
            .json(&submission)
            .send()
            .await
            .unwrap(),
        409,
    )
    .await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("already enrolled"),
        "{body:#}"
    );

    // The chief's queue (from a phone) shows it; the officer cannot approve their own submission.
    let queue = json_of(
        chief_get(
            &server,
            "/api/v1/applications?commune=120101&status=pending",
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    assert_eq!(queue.as_array().unwrap().len(), 1);
    let decisions: Vec<Value> = application["enrolments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| json!({"enrolment_id": e["id"], "decision": "approve"}))
        .collect();
    problem(
        server
            .post(&format!("/api/v1/applications/{application_id}/decisions"))
            .json(&json!({"decisions": decisions}))
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;
    let body = problem(
        chief_post(&server, &format!("/api/v1/applications/{application_id}/decisions"))
            .json(&json!({"decisions": [{"enrolment_id": decisions[0]["enrolment_id"], "decision": "maybe"}]}))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("approve or reject")
    );

    // One chief approval for all three, half an hour later.
    h.clock.advance(Duration::minutes(30));
    let decided = json_of(
        chief_post(
            &server,
            &format!("/api/v1/applications/{application_id}/decisions"),
        )
        .json(&json!({"decisions": decisions}))
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    for line in decided["enrolments"].as_array().unwrap() {
        assert_eq!(line["status"], "approved");
        assert_eq!(line["approvals"][0]["by"], "chief.sophal");
        assert_eq!(line["delivery"]["status"], "pending");
    }

    // The operator fails every delivery twice; the outbox worker keeps at it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let operator_url = format!("http://{}", listener.local_addr().unwrap());
    let cancel = CancellationToken::new();
    tokio::spawn(dspp_simulators::serve_operator(
        listener,
        dspp_simulators::OperatorConfig {
            fail_first: 2,
            beneficiary_prefix: "NSAF".into(),
            ..Default::default()
        },
        cancel.clone(),
    ));
    let connectors = dspp_service::Connectors {
        national_id: None,
        operators: [(
            "nsaf".to_string(),
            dspp_exchange::Endpoint::direct(&operator_url).unwrap(),
        )]
        .into_iter()
        .collect(),
        operator_client: dspp_exchange::OperatorClient::new().unwrap(),
        backoff: dspp_exchange::BackoffPolicy::default(),
    };
    for _ in 0..5 {
        h.registry.run_outbox(&connectors, 50).await.unwrap();
        h.clock.advance(Duration::minutes(20));
    }
    let received: Vec<Value> = reqwest::get(format!("{operator_url}/_sim/received"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    cancel.cancel();
    assert_eq!(received.len(), 3, "one delivery per program: {received:#?}");
    assert!(
        received
            .iter()
            .all(|r| r["attempts"] == 3 && r["replays"] == 0)
    );

    // The commune sees "delivered to nsaf", with the operator's beneficiary id.
    let view = json_of(
        chief_get(&server, &format!("/api/v1/applications/{application_id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    for line in view["enrolments"].as_array().unwrap() {
        assert_eq!(line["status"], "delivered");
        assert!(line["beneficiary_id"].as_str().unwrap().starts_with("NSAF"));
        assert_eq!(line["delivery"]["destination"], "nsaf");
        assert_eq!(line["delivery"]["attempts"], 3);
    }

    // Durations: 12 minutes in the form, 30 to the decision.
    let report = json_of(
        chief_get(
            &server,
            "/api/v1/reports/enrolment-durations?commune=120101",
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    let elderly = report
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["program"] == "elderly")
        .unwrap();
    assert_eq!(elderly["open_to_submit"]["median_seconds"], 720);
    assert_eq!(elderly["submit_to_decision"]["median_seconds"], 1800);
    assert_eq!(elderly["by_status"]["delivered"], 1);

    // A delegation: the chief hands approval to officer.dara for two weeks, citing the letter.
    let grant = json_of(
        chief_post(&server, "/api/v1/delegations")
            .json(
                &json!({"delegate": "officer.dara", "letter_reference": "Commune decision 45/2026",
                "valid_from": h.now(), "valid_until": h.now() + Duration::days(14)}),
            )
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    assert_eq!(grant["principal"], "chief.sophal");
    let second = json_of(
        server
            .post("/api/v1/applications")
            .json(&json!({"household_id": id, "answers": answers,
                "programs": [{"program": "family_base", "subject": "household"}]}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let line = second["enrolments"][0]["id"].clone();
    let delegated = json_of(
        as_actor(
            server.client.post(format!(
                "{}/api/v1/applications/{}/decisions",
                server.base,
                second["id"].as_str().unwrap()
            )),
            "officer.dara",
            "officer",
            "commune:120101",
            "approval",
        )
        .json(&json!({"decisions": [{"enrolment_id": line, "decision": "approve"}]}))
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    let approval = &delegated["enrolments"][0]["approvals"][0];
    assert_eq!(approval["by"], "officer.dara");
    assert_eq!(approval["on_behalf_of"], "chief.sophal");
    assert_eq!(approval["delegation_reference"], "Commune decision 45/2026");

    // Programs are described with their questions for any client to render.
    let programs = json_of(server.get("/api/v1/programs").send().await.unwrap(), 200).await;
    let pregnant = programs
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "pregnant_women")
        .unwrap();
    assert!(
        pregnant["questions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["name"] == "pregnancy_months" && q["relevant"] == "${pregnant} = 'yes'")
    );
    // A definition that does not parse: 422 with every problem by sheet, row and column.
    let body = problem(
        as_actor(
            server
                .client
                .put(format!("{}/api/v1/programs/elderly", server.base)),
            "council.vanna",
            "national_administrator",
            "national",
            "administration",
        )
        .header("content-type", "text/csv")
        .body("settings\n,form_id,version\n,elderly,2024.2\nsurvey\n,type,name\n,integer,\n")
        .send()
        .await
        .unwrap(),
        422,
    )
    .await;
    assert!(body["errors"].as_array().unwrap().len() >= 2, "{body:#}");
    assert!(
        body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"].as_str().unwrap().starts_with("survey row")),
        "{body:#}"
    );
}

on_both_stores!(the_issue_acceptance_test_over_http);
