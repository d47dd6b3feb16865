//! What the clients make of broken transports and answers: closed ports, timeouts, bad JSON.

use std::time::Duration;

use dspp_exchange::{
    Delivery, DeliveryPerson, Endpoint, ExchangeError, NationalIdClient, OperatorClient, Sex,
    VerifyRequest,
};
use dspp_simulators::OperatorConfig;
use uuid::Uuid;

use crate::support;

fn delivery() -> Delivery {
    Delivery {
        delivery_id: Uuid::now_v7(),
        program_code: "NSAF-CT".into(),
        program_version: "1".into(),
        spid: "KH0012345678".into(),
        household_spid: None,
        person: DeliveryPerson {
            name_km: Some("ចាន់ ស្រីពៅ".into()),
            name_latin: None,
            sex: Sex::Female,
            birth_date: None,
            village_code: "01020101".into(),
        },
        answers: serde_json::Map::new(),
        approved_at: chrono::Utc::now(),
        approved_by: "KH-officer-12".into(),
        on_behalf_of: Some("KH-officer-7".into()),
    }
}

#[tokio::test]
async fn a_closed_port_is_unreachable_and_retryable() {
    let url = support::closed_port().await;
    let error = OperatorClient::new()
        .unwrap()
        .deliver(&Endpoint::direct(&url).unwrap(), &delivery())
        .await
        .unwrap_err();
    match &error {
        ExchangeError::Unreachable { service, detail } => {
            assert_eq!(*service, "program operator");
            assert!(detail.to_lowercase().contains("refused"), "{detail}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(error.is_retryable());
}

#[tokio::test]
async fn a_slow_operator_times_out() {
    let sim = support::start_operator(OperatorConfig::default()).await;
    support::set_faults(&sim, serde_json::json!({"latency_ms": 5_000})).await;
    let endpoint = Endpoint::direct(&sim.url())
        .unwrap()
        .with_timeout(Duration::from_millis(150));
    let error = OperatorClient::new()
        .unwrap()
        .deliver(&endpoint, &delivery())
        .await
        .unwrap_err();
    assert_eq!(
        error,
        ExchangeError::Timeout {
            service: "program operator",
            timeout_ms: 150
        }
    );
    assert!(error.is_retryable());
}

#[tokio::test]
async fn answers_outside_the_protocol_are_protocol_errors() {
    let cases = [
        (
            "{\"beneficiary_id\": ",
            "the HTTP 200 answer is not the documented JSON: EOF while parsing a value at line 1 column 19",
        ),
        (
            "{\"received_at\": \"2026-01-01T00:00:00Z\"}",
            "the HTTP 200 answer is not the documented JSON: missing field `beneficiary_id` at line 1 column 39",
        ),
        (
            "{\"beneficiary_id\": 7, \"received_at\": \"2026-01-01T00:00:00Z\"}",
            "the HTTP 200 answer is not the documented JSON: a value has the wrong type or is not allowed at line 1 column 20",
        ),
        (
            "{\"beneficiary_id\": \" \", \"received_at\": \"2026-01-01T00:00:00Z\"}",
            "the receipt's beneficiary_id is empty",
        ),
    ];
    for (body, expected) in cases {
        let server = support::start_answering(200, body).await;
        let error = OperatorClient::new()
            .unwrap()
            .deliver(&Endpoint::direct(&server.url()).unwrap(), &delivery())
            .await
            .unwrap_err();
        assert_eq!(
            error,
            ExchangeError::Protocol {
                service: "program operator",
                detail: expected.into()
            },
            "{body}"
        );
        assert!(!error.is_retryable());
    }
}

#[tokio::test]
async fn a_verification_answer_for_another_request_is_a_protocol_error() {
    let server = support::start_answering(
        200,
        r#"{"request_id":"00000000-0000-0000-0000-000000000000","id_status":"valid","fields":[],"level_of_assurance":"low","checked_at":"2026-01-01T00:00:00Z"}"#,
    )
    .await;
    let client = NationalIdClient::new(Endpoint::direct(&server.url()).unwrap()).unwrap();
    let request = VerifyRequest::new(Uuid::now_v7(), "010203045");
    let error = client.verify(&request).await.unwrap_err();
    assert_eq!(
        error,
        ExchangeError::Protocol {
            service: "national ID service",
            detail: format!(
                "the answer is for request 00000000-0000-0000-0000-000000000000, not {}",
                request.request_id
            )
        }
    );
}

#[tokio::test]
async fn rate_limits_and_gateway_errors_are_retryable_with_their_delay() {
    let server = support::start_answering(429, "{}").await;
    let error = OperatorClient::new()
        .unwrap()
        .deliver(&Endpoint::direct(&server.url()).unwrap(), &delivery())
        .await
        .unwrap_err();
    assert_eq!(
        error,
        ExchangeError::Unavailable {
            service: "program operator",
            status: 429,
            retry_after: None
        }
    );
    assert!(error.is_retryable());
}
