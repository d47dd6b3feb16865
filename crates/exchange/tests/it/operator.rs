//! OperatorClient against dspp-operator-sim: one beneficiary per delivery, whatever the retries.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use dspp_exchange::{
    Delivery, DeliveryPerson, Endpoint, ExchangeError, OperatorClient, SecretToken, Sex,
    XRoadClientId, XRoadServiceId,
};
use dspp_simulators::OperatorConfig;
use uuid::Uuid;

use crate::support;

fn delivery() -> Delivery {
    let mut answers = serde_json::Map::new();
    answers.insert("household_size".into(), serde_json::json!(5));
    answers.insert("idpoor".into(), serde_json::json!("level-1"));
    Delivery {
        delivery_id: Uuid::now_v7(),
        program_code: "NSAF-CT".into(),
        program_version: "3".into(),
        spid: "KH0012345678".into(),
        household_spid: Some("KH0099999999".into()),
        person: DeliveryPerson {
            name_km: Some("ចាន់ ស្រីពៅ".into()),
            name_latin: Some("CHAN SREYPOV".into()),
            sex: Sex::Female,
            birth_date: Some("1956".into()),
            village_code: "01020101".into(),
        },
        answers,
        approved_at: Utc.with_ymd_and_hms(2026, 11, 20, 9, 30, 0).unwrap(),
        approved_by: "KH-officer-12".into(),
        on_behalf_of: None,
    }
}

fn endpoint(url: &str) -> Endpoint {
    Endpoint::direct(url)
        .unwrap()
        .with_timeout(Duration::from_secs(5))
}

#[tokio::test]
async fn the_same_key_twice_gets_the_same_beneficiary_and_one_record() {
    let sim = support::start_operator(OperatorConfig::default()).await;
    let client = OperatorClient::new().unwrap();
    let delivery = delivery();
    let first = client
        .deliver(&endpoint(&sim.url()), &delivery)
        .await
        .unwrap();
    let again = client
        .deliver(&endpoint(&sim.url()), &delivery)
        .await
        .unwrap();
    assert_eq!(first.beneficiary_id, "BEN-0000001");
    assert_eq!(again.beneficiary_id, first.beneficiary_id);
    assert_eq!(again.received_at, first.received_at);
    assert!(!first.is_replay());
    assert!(again.is_replay());

    let other = client
        .deliver(
            &endpoint(&sim.url()),
            &Delivery {
                delivery_id: Uuid::now_v7(),
                ..delivery.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(other.beneficiary_id, "BEN-0000002");

    let received = support::get_json(&sim, "/_sim/received").await;
    let received = received.as_array().unwrap();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0]["key"], delivery.delivery_id.to_string());
    assert_eq!(received[0]["beneficiary_id"], "BEN-0000001");
    assert_eq!(received[0]["program_code"], "NSAF-CT");
    assert_eq!(received[0]["spid"], "KH0012345678");
    assert_eq!(received[0]["attempts"], 2);
    assert_eq!(received[0]["replays"], 1);
}

#[tokio::test]
async fn a_different_body_under_the_same_key_is_rejected() {
    let sim = support::start_operator(OperatorConfig::default()).await;
    let client = OperatorClient::new().unwrap();
    let delivery = delivery();
    client
        .deliver(&endpoint(&sim.url()), &delivery)
        .await
        .unwrap();
    let changed = Delivery {
        program_version: "4".into(),
        ..delivery
    };
    let error = client
        .deliver(&endpoint(&sim.url()), &changed)
        .await
        .unwrap_err();
    assert_eq!(
        error,
        ExchangeError::Rejected {
            service: "program operator",
            status: 422,
            detail: "Unprocessable Entity: a different body was already delivered under this Idempotency-Key".into()
        }
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn fail_first_two_then_one_beneficiary() {
    let sim = support::start_operator(OperatorConfig {
        fail_first: 2,
        ..OperatorConfig::default()
    })
    .await;
    let client = OperatorClient::new().unwrap();
    let delivery = delivery();
    for _ in 0..2 {
        let error = client
            .deliver(&endpoint(&sim.url()), &delivery)
            .await
            .unwrap_err();
        assert_eq!(
            error,
            ExchangeError::Unavailable {
                service: "program operator",
                status: 503,
                retry_after: Some(Duration::from_secs(1))
            }
        );
    }
    let receipt = client
        .deliver(&endpoint(&sim.url()), &delivery)
        .await
        .unwrap();
    assert_eq!(receipt.beneficiary_id, "BEN-0000001");
    let received = support::get_json(&sim, "/_sim/received").await;
    assert_eq!(received.as_array().unwrap().len(), 1);
    assert_eq!(received[0]["attempts"], 3);
    assert_eq!(received[0]["replays"], 0);
}

#[tokio::test]
async fn deliveries_through_x_road_carry_the_envelope() {
    let sim = support::start_operator(OperatorConfig {
        token: Some("op-token".into()),
        programs: vec!["NSAF-CT".into()],
        ..OperatorConfig::default()
    })
    .await;
    let endpoint = Endpoint::via_x_road(
        &sim.url(),
        XRoadClientId::parse("KH/GOV/MOSVY/DSPP").unwrap(),
        XRoadServiceId::parse("KH/GOV/NSAF/BENEFITS/enrolment").unwrap(),
    )
    .unwrap()
    .with_token(SecretToken::new("op-token"));
    let client = OperatorClient::new().unwrap();
    let receipt = client.deliver(&endpoint, &delivery()).await.unwrap();
    assert_eq!(receipt.beneficiary_id, "BEN-0000001");
    assert_eq!(receipt.meta.status, 201);
    assert!(receipt.meta.x_road_id.is_some());
    assert!(receipt.meta.x_road_request_id.is_some());

    let unknown_program = Delivery {
        program_code: "MOSVY-DIS".into(),
        ..delivery()
    };
    let error = client
        .deliver(&endpoint, &unknown_program)
        .await
        .unwrap_err();
    assert_eq!(
        error,
        ExchangeError::Rejected {
            service: "program operator",
            status: 422,
            detail: "Unprocessable Entity: program_code is not a program this operator runs".into()
        }
    );
    let no_token = endpoint.clone().with_token(SecretToken::new("wrong"));
    assert_eq!(
        client
            .deliver(&no_token, &delivery())
            .await
            .unwrap_err()
            .status(),
        Some(401)
    );
}

#[tokio::test]
async fn the_journal_keeps_beneficiaries_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = OperatorConfig {
        journal: Some(dir.path().join("journal.jsonl")),
        ..OperatorConfig::default()
    };
    let client = OperatorClient::new().unwrap();
    let delivery = delivery();
    let first = {
        let sim = support::start_operator(config.clone()).await;
        client
            .deliver(&endpoint(&sim.url()), &delivery)
            .await
            .unwrap()
    };
    let sim = support::start_operator(config).await;
    let again = client
        .deliver(&endpoint(&sim.url()), &delivery)
        .await
        .unwrap();
    assert_eq!(again.beneficiary_id, first.beneficiary_id);
    assert!(again.is_replay());
    let journal = std::fs::read_to_string(dir.path().join("journal.jsonl")).unwrap();
    let events: Vec<String> = journal
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(events, ["received", "replay"]);
}
