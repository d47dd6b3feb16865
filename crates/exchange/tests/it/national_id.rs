//! NationalIdClient against dspp-nid-sim: outcomes, tokens, X-Road addressing and headers.

use std::time::Duration;

use dspp_exchange::{
    Endpoint, ExchangeError, IdStatus, LevelOfAssurance, NationalIdClient, SecretToken, Sex,
    VerifyRequest, XRoadClientId, XRoadServiceId,
};
use dspp_simulators::NationalIdConfig;
use uuid::Uuid;

use crate::support::{self, TOKEN};

fn client(url: &str) -> NationalIdClient {
    NationalIdClient::new(
        Endpoint::direct(url)
            .unwrap()
            .with_token(SecretToken::new(TOKEN))
            .with_timeout(Duration::from_secs(5)),
    )
    .unwrap()
}

fn full_request(id_number: &str) -> VerifyRequest {
    VerifyRequest {
        purpose: Some("enrolment".into()),
        name_km: Some("សុខ ដារ៉ា".into()),
        name_latin: Some("dara sok".into()),
        birth_date: Some("1980-05-17".into()),
        sex: Some(Sex::Male),
        user_id: Some("KH-officer-12".into()),
        ..VerifyRequest::new(Uuid::now_v7(), id_number)
    }
}

/// `status loa name_km name_latin birth_date sex` with `=` matched, `x` not matched, `-` not compared.
fn summary(response: &dspp_exchange::VerifyResponse) -> String {
    let marks: Vec<String> = response
        .fields
        .iter()
        .map(|check| {
            let mark = match (check.compared, check.matched) {
                (false, _) => "-",
                (true, true) => "=",
                (true, false) => "x",
            };
            format!("{}{mark}", check.field)
        })
        .collect();
    format!(
        "{:?} {:?} {}",
        response.id_status,
        response.level_of_assurance,
        marks.join(" ")
    )
}

#[tokio::test]
async fn outcomes_match_partial_not_found_revoked_deceased_expired() {
    let sim = support::start_national_id(NationalIdConfig::new(support::register(), TOKEN)).await;
    let client = client(&sim.url());
    let partial = VerifyRequest {
        birth_date: Some("1980".into()),
        sex: None,
        name_km: None,
        ..full_request("010203045")
    };
    let mismatch = VerifyRequest {
        // Decomposed spacing and a zero-width space still match; the wrong birth day does not.
        name_km: Some(" សុខ\u{200B}ដារ៉ា ".into()),
        birth_date: Some("1980-05-18".into()),
        ..full_request("010203045")
    };
    let cases = [
        (
            full_request("010203045"),
            "Valid High name_km= name_latin= birth_date= sex=",
        ),
        (
            partial,
            "Valid Substantial name_km- name_latin= birth_date= sex-",
        ),
        (mismatch, "Valid Low name_km= name_latin= birth_datex sex="),
        (
            VerifyRequest::new(Uuid::now_v7(), "010203045"),
            "Valid Low name_km- name_latin- birth_date- sex-",
        ),
        (
            full_request("999999999"),
            "NotFound Low name_km- name_latin- birth_date- sex-",
        ),
        (
            full_request("010203046"),
            "Revoked Low name_km= name_latin= birth_date= sex=",
        ),
        (
            full_request("010203047"),
            "Deceased Low name_km= name_latin= birth_date= sex=",
        ),
        (
            full_request("010203048"),
            "Expired Low name_km= name_latin= birth_date= sex=",
        ),
    ];
    for (request, expected) in cases {
        let response = client.verify(&request).await.unwrap();
        assert_eq!(response.request_id, request.request_id);
        assert_eq!(summary(&response), expected);
        assert_eq!(response.meta.status, 200);
        assert_eq!(
            response.meta.x_road_id, None,
            "direct calls have no X-Road ids"
        );
    }
    let high = client.verify(&full_request("010203045")).await.unwrap();
    assert!(high.is_full_match());
    assert_eq!(high.level_of_assurance, LevelOfAssurance::High);
    assert!(high.field("sex").unwrap().matched);
    let revoked = client.verify(&full_request("010203046")).await.unwrap();
    assert_eq!(revoked.id_status, IdStatus::Revoked);
    assert!(!revoked.is_full_match());
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_rejected_for_good() {
    let sim = support::start_national_id(NationalIdConfig::new(support::register(), TOKEN)).await;
    let wrong = NationalIdClient::new(
        Endpoint::direct(&sim.url())
            .unwrap()
            .with_token(SecretToken::new("not-the-token")),
    )
    .unwrap();
    let error = wrong.verify(&full_request("010203045")).await.unwrap_err();
    assert_eq!(
        error,
        ExchangeError::Rejected {
            service: "national ID service",
            status: 401,
            detail: "Unauthorized: the bearer token is not valid".into()
        }
    );
    assert!(!error.is_retryable());
    let none = NationalIdClient::new(Endpoint::direct(&sim.url()).unwrap()).unwrap();
    let error = none.verify(&full_request("010203045")).await.unwrap_err();
    assert_eq!(error.status(), Some(401));
    // The error text never carries what we asked about.
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(
            !text.contains("010203045") && !text.contains("DARA"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_request_the_service_cannot_accept_is_rejected_with_the_fields_named() {
    let sim = support::start_national_id(NationalIdConfig::new(support::register(), TOKEN)).await;
    let request = VerifyRequest {
        birth_date: Some("1980-02-30".into()),
        name_latin: Some("  ".into()),
        ..full_request("0102-03045")
    };
    let error = client(&sim.url()).verify(&request).await.unwrap_err();
    assert_eq!(
        error,
        ExchangeError::Rejected {
            service: "national ID service",
            status: 422,
            detail: "Unprocessable Entity: id_number must be 1 to 20 letters and digits; \
                     name_latin is empty: leave it out when it is not known; \
                     birth_date must be YYYY, YYYY-MM or YYYY-MM-DD and a real date"
                .into()
        }
    );
}

fn x_road_endpoint(url: &str) -> Endpoint {
    Endpoint::via_x_road(
        url,
        XRoadClientId::parse("KH/GOV/MOSVY/DSPP").unwrap(),
        XRoadServiceId::parse("KH/GOV/MOI/NIDVERIFY/identity").unwrap(),
    )
    .unwrap()
    .with_token(SecretToken::new(TOKEN))
}

#[tokio::test]
async fn x_road_addressing_sends_the_envelope_and_reads_the_message_ids() {
    let sim = support::start_national_id(NationalIdConfig::new(support::register(), TOKEN)).await;
    let client = NationalIdClient::new(x_road_endpoint(&sim.url())).unwrap();
    let response = client.verify(&full_request("010203045")).await.unwrap();
    assert_eq!(response.level_of_assurance, LevelOfAssurance::High);
    let x_road_id = response.meta.x_road_id.clone().expect("X-Road-Id");
    assert!(Uuid::parse_str(&x_road_id).is_ok(), "{x_road_id}");
    assert!(response.meta.x_road_request_id.is_some());

    // The simulator's audit log shows what reached it: the client id, the service from the path, the
    // user and the purpose.
    let audit = support::get_json(&sim, "/_sim/audit").await;
    let entry = audit.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        entry,
        serde_json::json!({
            "request_id": response.request_id,
            "via": "x-road",
            "x_road_client": "KH/GOV/MOSVY/DSPP",
            "x_road_service": "KH/GOV/MOI/NIDVERIFY/identity",
            "x_road_id": x_road_id,
            "user_id": "KH-officer-12",
            "purpose": "enrolment",
            "status": 200,
        })
    );
}

#[tokio::test]
async fn x_road_errors_are_read_from_the_x_road_error_body() {
    let sim = support::start_national_id(NationalIdConfig::new(support::register(), TOKEN)).await;
    // A raw call without X-Road-Client: the envelope check answers, as a security server would.
    let response = reqwest::Client::new()
        .post(format!(
            "{}/r1/KH/GOV/MOI/NIDVERIFY/identity/v1/identity/verify",
            sim.url()
        ))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["x-road-error"],
        "Client.MissingHeaderField"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["type"], "Client.MissingHeaderField");
}

#[tokio::test]
async fn fail_first_then_the_service_answers() {
    let config = NationalIdConfig {
        fail_first: 2,
        ..NationalIdConfig::new(support::register(), TOKEN)
    };
    let sim = support::start_national_id(config).await;
    let client = client(&sim.url());
    for _ in 0..2 {
        let error = client.verify(&full_request("010203045")).await.unwrap_err();
        assert_eq!(
            error,
            ExchangeError::Unavailable {
                service: "national ID service",
                status: 503,
                retry_after: Some(Duration::from_secs(1))
            }
        );
        assert!(error.is_retryable());
    }
    assert_eq!(
        client
            .verify(&full_request("010203045"))
            .await
            .unwrap()
            .id_status,
        IdStatus::Valid
    );
}

#[tokio::test]
async fn the_service_goes_down_and_comes_back() {
    let sim = support::start_national_id(NationalIdConfig::new(support::register(), TOKEN)).await;
    let client = client(&sim.url());
    support::set_faults(&sim, serde_json::json!({"unavailable": true})).await;
    let error = client.verify(&full_request("010203045")).await.unwrap_err();
    assert_eq!(error.status(), Some(503));
    assert!(error.is_retryable());
    support::set_faults(
        &sim,
        serde_json::json!({"unavailable": false, "fail_next": 1}),
    )
    .await;
    assert_eq!(
        client
            .verify(&full_request("010203045"))
            .await
            .unwrap_err()
            .status(),
        Some(503)
    );
    assert!(client.verify(&full_request("010203045")).await.is_ok());
}

#[tokio::test]
async fn a_slow_service_times_out_and_is_retryable() {
    let sim = support::start_national_id(NationalIdConfig::new(support::register(), TOKEN)).await;
    support::set_faults(&sim, serde_json::json!({"latency_ms": 5_000})).await;
    let client = NationalIdClient::new(
        Endpoint::direct(&sim.url())
            .unwrap()
            .with_token(SecretToken::new(TOKEN))
            .with_timeout(Duration::from_millis(200)),
    )
    .unwrap();
    let error = client.verify(&full_request("010203045")).await.unwrap_err();
    assert_eq!(
        error,
        ExchangeError::Timeout {
            service: "national ID service",
            timeout_ms: 200
        }
    );
    assert!(error.is_retryable());
}
