//! Fuzzes the simulators' request handling: any body, any route, any idempotency key or X-Road client
//! header. The answer must be a JSON body with a status the protocol documents allow, never a 500 or a
//! panic.
#![no_main]

use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

const TOKEN: &str = "fuzz-token";

fn routers() -> &'static (Router, Router, tokio::runtime::Runtime) {
    static ROUTERS: OnceLock<(Router, Router, tokio::runtime::Runtime)> = OnceLock::new();
    ROUTERS.get_or_init(|| {
        let cards = dspp_simulators::generate_cards(50, 3);
        let nid = dspp_simulators::national_id_router(dspp_simulators::NationalIdConfig::new(cards, TOKEN));
        let operator = dspp_simulators::operator_router(dspp_simulators::OperatorConfig::default()).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        (nid, operator, runtime)
    })
}

fuzz_target!(|data: &[u8]| {
    let (nid, operator, runtime) = routers();
    let Some((&selector, rest)) = data.split_first() else { return };
    // The first byte picks the route; up to the first NUL the rest is a header value, after it the body.
    let (header, body) = match rest.iter().position(|&b| b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (&b""[..], rest),
    };
    let header = std::str::from_utf8(header).unwrap_or("");
    let (router, path, header_name) = match selector % 4 {
        0 => (nid, "/v1/identity/verify", "x-purpose"),
        1 => (nid, "/r1/KH/GOV/MOI/NID/identity/v1/identity/verify", "x-road-client"),
        2 => (operator, "/enrolments", "idempotency-key"),
        _ => (operator, "/r1/KH/GOV/NSAF/BEN/enrolment/enrolments", "x-road-client"),
    };
    let mut request = Request::post(path)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {TOKEN}"));
    if axum::http::HeaderValue::from_str(header).is_ok() {
        request = request.header(header_name, header);
    }
    let Ok(request) = request.body(Body::from(body.to_vec())) else { return };
    runtime.block_on(async {
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        assert!(
            matches!(status, 200 | 201 | 400 | 401 | 415 | 422),
            "status {status}"
        );
        // Only a JSON object is a request (serde alone would read an array by position).
        if status < 300 {
            assert_eq!(body.iter().find(|b| !b.is_ascii_whitespace()), Some(&b'{'), "accepted a non-object");
        }
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_ok(), "not JSON");
    });
});
