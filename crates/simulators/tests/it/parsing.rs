//! Property tests of the simulators' request parsing: whatever the body and headers, the answer is a
//! precise 2xx/400/401/415/422 with a problem body, never a 500 or a panic.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use dspp_simulators::{NationalIdConfig, OperatorConfig};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "prop-token";
const KEY: &str = "0193a8c2-7b1e-7f00-8d3c-2b9e6c1f4a10";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn nid_router() -> Router {
    let cards = dspp_simulators::generate_cards(20, 5);
    dspp_simulators::national_id_router(NationalIdConfig::new(cards, TOKEN))
}

fn operator_router() -> Router {
    dspp_simulators::operator_router(OperatorConfig::default()).unwrap()
}

/// Sends one request and returns the status and the body as JSON (panicking if it is not JSON).
fn send(
    runtime: &tokio::runtime::Runtime,
    router: &Router,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, Value) {
    runtime.block_on(async {
        let mut request = Request::post(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = router
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!("{status}: not JSON: {:?}", String::from_utf8_lossy(&bytes))
        });
        (status, value)
    })
}

fn valid_question() -> Value {
    json!({
        "request_id": KEY,
        "purpose": "enrolment",
        "id_number": "010203045",
        "name_km": "សុខ ដារ៉ា",
        "name_latin": "SOK DARA",
        "birth_date": "1980-05-17",
        "sex": "male",
    })
}

fn valid_delivery() -> Value {
    json!({
        "delivery_id": KEY,
        "program_code": "NSAF-CT",
        "program_version": "2024.1",
        "spid": "KH0012345678",
        "household_spid": "KH0099999999",
        "person": {
            "name_km": "ចាន់ ស្រីពៅ",
            "name_latin": "CHAN SREYPOV",
            "sex": "female",
            "birth_date": "1956",
            "village_code": "01020101",
        },
        "answers": {"household_size": 5},
        "approved_at": "2026-11-20T09:30:00Z",
        "approved_by": "KH-officer-12",
    })
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
        Just(json!("1980-05-17")),
        Just(json!("female")),
        Just(json!(KEY)),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A valid body with one change: a field dropped, replaced by any JSON, or an unknown field added,
/// possibly inside `person`.
fn mutate(mut body: Value, field_index: usize, action: u8, replacement: Value) -> Value {
    let target = if action >= 3 && body.get("person").is_some() {
        body.get_mut("person").unwrap()
    } else {
        &mut body
    };
    let object = target.as_object_mut().unwrap();
    let keys: Vec<String> = object.keys().cloned().collect();
    let key = keys[field_index % keys.len()].clone();
    match action % 3 {
        0 => {
            object.remove(&key);
        }
        1 => {
            object.insert(key, replacement);
        }
        _ => {
            object.insert("unexpected_field".into(), replacement);
        }
    }
    body
}

fn assert_precise(status: StatusCode, body: &Value, allowed: &[u16]) {
    assert!(
        allowed.contains(&status.as_u16()),
        "status {status} not in {allowed:?}: {body}"
    );
    if !status.is_success() {
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(!detail.is_empty(), "{status} without a detail: {body}");
        assert_eq!(body["status"], status.as_u16());
    }
}

#[test]
fn the_valid_bodies_are_accepted() {
    let runtime = runtime();
    let auth = format!("Bearer {TOKEN}");
    let headers = [
        ("content-type", "application/json"),
        ("authorization", auth.as_str()),
    ];
    let (status, body) = send(
        &runtime,
        &nid_router(),
        "/v1/identity/verify",
        &headers,
        valid_question().to_string().into_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    let headers = [
        ("content-type", "application/json"),
        ("idempotency-key", KEY),
    ];
    let (status, body) = send(
        &runtime,
        &operator_router(),
        "/enrolments",
        &headers,
        valid_delivery().to_string().into_bytes(),
    );
    assert_eq!(status, 201, "{body}");
}

/// Router, path, headers, body, expected status and problem detail.
type Case<'a> = (
    Router,
    &'a str,
    Vec<(&'a str, &'a str)>,
    String,
    u16,
    &'a str,
);

#[test]
fn precise_answers_to_known_bad_requests() {
    let runtime = runtime();
    let auth = format!("Bearer {TOKEN}");
    let json_auth = [
        ("content-type", "application/json"),
        ("authorization", auth.as_str()),
    ];
    let cases: Vec<Case> = vec![
        (
            nid_router(),
            "/v1/identity/verify",
            json_auth.to_vec(),
            "{".into(),
            400,
            "the body is not JSON: EOF while parsing an object at line 1 column 1",
        ),
        (
            nid_router(),
            "/v1/identity/verify",
            json_auth.to_vec(),
            "{\"id_number\":\"1\"}".into(),
            422,
            "missing field `request_id` at line 1 column 17",
        ),
        (
            nid_router(),
            "/v1/identity/verify",
            json_auth.to_vec(),
            "{\"request_id\":1,\"id_number\":\"1\"}".into(),
            422,
            "a value has the wrong type at line 1 column 15 (see the protocol document for the types)",
        ),
        (
            nid_router(),
            "/v1/identity/verify",
            vec![("authorization", auth.as_str())],
            "{}".into(),
            415,
            "the body must be JSON (Content-Type: application/json)",
        ),
        (
            nid_router(),
            "/v1/identity/verify",
            vec![("content-type", "application/json")],
            "{}".into(),
            401,
            "a bearer token is required (Authorization: Bearer ...)",
        ),
        (
            operator_router(),
            "/enrolments",
            vec![("content-type", "application/json")],
            "{}".into(),
            400,
            "the Idempotency-Key header is required (the delivery_id)",
        ),
        (
            operator_router(),
            "/enrolments",
            vec![
                ("content-type", "application/json"),
                ("idempotency-key", "other-key"),
            ],
            valid_delivery().to_string(),
            422,
            "delivery_id must equal the Idempotency-Key header",
        ),
        // serde alone would read these by position; found by `any_json_gets_422`.
        (
            nid_router(),
            "/v1/identity/verify",
            json_auth.to_vec(),
            format!("[\"{KEY}\", null, \"010203045\"]"),
            422,
            "the body must be a JSON object",
        ),
        (
            operator_router(),
            "/enrolments",
            vec![
                ("content-type", "application/json"),
                ("idempotency-key", KEY),
            ],
            {
                let mut body = valid_delivery();
                body["person"] = json!([null, "CHAN SREYPOV", "female", null, "01020101"]);
                body.to_string()
            },
            422,
            "a value has the wrong type at line 1 column N (see the protocol document for the types)",
        ),
    ];
    for (router, path, headers, body, status, detail) in cases {
        let (got_status, got) = send(&runtime, &router, path, &headers, body.as_bytes().to_vec());
        // The column depends on the order of the body's keys, which depends on whether another crate of
        // the build turned on serde_json's `preserve_order`: compare without it.
        let without_column = |text: &str| match text.split_once(" column ") {
            Some((head, tail)) => format!(
                "{head} column N{}",
                tail.trim_start_matches(|c: char| c.is_ascii_digit() || c == 'N')
            ),
            None => text.to_string(),
        };
        assert_eq!(
            (
                got_status.as_u16(),
                without_column(got["detail"].as_str().unwrap())
            ),
            (status, without_column(detail)),
            "{body}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_get_400_or_422(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let runtime = runtime();
        let auth = format!("Bearer {TOKEN}");
        let (status, body) = send(&runtime, &nid_router(), "/v1/identity/verify",
            &[("content-type", "application/json"), ("authorization", &auth)], bytes.clone());
        assert_precise(status, &body, &[400, 422]);
        let (status, body) = send(&runtime, &operator_router(), "/enrolments",
            &[("content-type", "application/json"), ("idempotency-key", KEY)], bytes);
        assert_precise(status, &body, &[400, 422]);
    }

    #[test]
    fn any_json_gets_422(value in any_json()) {
        let runtime = runtime();
        let auth = format!("Bearer {TOKEN}");
        let (status, body) = send(&runtime, &nid_router(), "/v1/identity/verify",
            &[("content-type", "application/json"), ("authorization", &auth)], value.to_string().into_bytes());
        assert_precise(status, &body, &[422]);
        let (status, body) = send(&runtime, &operator_router(), "/enrolments",
            &[("content-type", "application/json"), ("idempotency-key", KEY)], value.to_string().into_bytes());
        assert_precise(status, &body, &[422]);
    }

    #[test]
    fn near_valid_verifications_are_answered_or_refused_precisely(
        field_index in 0usize..10, action in 0u8..3, replacement in any_json()
    ) {
        let runtime = runtime();
        let auth = format!("Bearer {TOKEN}");
        let body = mutate(valid_question(), field_index, action, replacement);
        let (status, answer) = send(&runtime, &nid_router(), "/v1/identity/verify",
            &[("content-type", "application/json"), ("authorization", &auth)], body.to_string().into_bytes());
        assert_precise(status, &answer, &[200, 422]);
    }

    #[test]
    fn near_valid_deliveries_are_accepted_or_refused_precisely(
        field_index in 0usize..12, action in 0u8..6, replacement in any_json()
    ) {
        let runtime = runtime();
        let body = mutate(valid_delivery(), field_index, action, replacement);
        let (status, answer) = send(&runtime, &operator_router(), "/enrolments",
            &[("content-type", "application/json"), ("idempotency-key", KEY)], body.to_string().into_bytes());
        assert_precise(status, &answer, &[201, 422]);
    }

    #[test]
    fn any_x_road_client_header_is_accepted_or_refused_by_the_envelope(client in "[ -~]{0,40}") {
        let runtime = runtime();
        let auth = format!("Bearer {TOKEN}");
        let (status, answer) = send(&runtime, &nid_router(), "/r1/KH/GOV/MOI/NID/identity/v1/identity/verify",
            &[("content-type", "application/json"), ("authorization", &auth), ("x-road-client", &client)],
            valid_question().to_string().into_bytes());
        prop_assert!(status == 200 || status == 400, "{} {}", status, answer);
        if status == 400 {
            prop_assert!(answer["type"].as_str().unwrap().starts_with("Client."), "{}", answer);
        }
    }
}
