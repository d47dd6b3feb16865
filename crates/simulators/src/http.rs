//! What both simulators share at the HTTP edge: problem answers, bearer tokens, JSON bodies, the X-Road
//! REST envelope (PR-REST r1) and injected faults.

// The `Err` of these helpers is the finished HTTP answer, returned once per request; boxing it would only
// add an allocation to every refusal.
#![allow(clippy::result_large_err)]

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// RFC 9457 problem details: every error a simulator itself answers, except X-Road envelope errors.
pub(crate) fn problem(status: StatusCode, detail: impl Into<String>) -> Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail.into(),
    });
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// An error of the X-Road envelope, as a security server would answer it (PR-REST 4.6): JSON with
/// `type`, `message`, `detail`, and the `X-Road-Error` header carrying the type.
pub(crate) fn x_road_error(status: StatusCode, kind: &'static str, message: &str) -> Response {
    let body = serde_json::json!({
        "type": kind,
        "message": message,
        "detail": uuid::Uuid::now_v7().to_string(),
    });
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert("x-road-error", HeaderValue::from_static(kind));
    response
}

/// Locks a mutex even if a handler panicked while holding it: simulator state stays usable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Requires `Authorization: Bearer {token}`; 401 with `WWW-Authenticate` otherwise.
pub(crate) fn check_bearer(headers: &HeaderMap, token: &str) -> Result<(), Response> {
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let reason = match given {
        None => "a bearer token is required (Authorization: Bearer ...)",
        Some(given) if constant_time_eq(given.as_bytes(), token.as_bytes()) => return Ok(()),
        Some(_) => "the bearer token is not valid",
    };
    let mut response = problem(StatusCode::UNAUTHORIZED, reason);
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"dspp-simulator\""),
    );
    Err(response)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads a JSON body: 415 without a JSON content type, 400 when it is not JSON, 422 when it is JSON of
/// the wrong shape. Messages give the position and the field, never the values sent.
pub(crate) fn parse_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, Response> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media_type != "application/json" && !media_type.ends_with("+json") {
        return Err(problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be JSON (Content-Type: application/json)",
        ));
    }
    use serde_json::error::Category;
    if let Err(error) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        return Err(problem(
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {error}"),
        ));
    }
    // serde would also read a struct from a JSON array, by position; the protocols only know objects.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the body must be a JSON object",
        ));
    }
    serde_json::from_slice(body).map_err(|error| match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => problem(
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {error}"),
        ),
        Category::Data => problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            describe_data_error(&error),
        ),
    })
}

fn describe_data_error(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let names_a_field = ["missing field", "unknown field", "duplicate field"]
        .iter()
        .any(|prefix| message.starts_with(prefix));
    if names_a_field {
        message
    } else {
        format!(
            "a value has the wrong type at line {} column {} (see the protocol document for the types)",
            error.line(),
            error.column()
        )
    }
}

/// How a request arrived: straight to the service, or through the X-Road REST path
/// `/r1/{INSTANCE}/{CLASS}/{MEMBER}/{SUBSYSTEM}/{SERVICE}/...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Via {
    Direct,
    XRoad { service: String },
}

/// The X-Road envelope of one request, checked: the client id and the message id to answer with.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    pub client: String,
    pub service: String,
    pub message_id: String,
}

/// Checks the X-Road headers of a request that came by the `/r1/` path. A missing or malformed
/// `X-Road-Client` is the security server's 400, not the service's.
pub(crate) fn check_envelope(via: &Via, headers: &HeaderMap) -> Result<Option<Envelope>, Response> {
    let Via::XRoad { service } = via else {
        return Ok(None);
    };
    let Some(client) = headers.get("x-road-client") else {
        return Err(x_road_error(
            StatusCode::BAD_REQUEST,
            "Client.MissingHeaderField",
            "the X-Road-Client header is required",
        ));
    };
    let client = client.to_str().unwrap_or("");
    let parts: Vec<Option<String>> = client.split('/').map(percent_decode).collect();
    let well_formed = (3..=4).contains(&parts.len())
        && parts
            .iter()
            .all(|part| part.as_ref().is_some_and(|text| !text.is_empty()));
    if !well_formed {
        return Err(x_road_error(
            StatusCode::BAD_REQUEST,
            "Client.InvalidClientIdentifier",
            "X-Road-Client must be INSTANCE/CLASS/MEMBER[/SUBSYSTEM], each part percent-encoded",
        ));
    }
    let message_id = headers
        .get("x-road-id")
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty())
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    Ok(Some(Envelope {
        client: client.to_owned(),
        service: service.clone(),
        message_id,
    }))
}

/// Adds what the provider's security server adds to every answer (PR-REST 4.3).
pub(crate) fn with_envelope(mut response: Response, envelope: Option<&Envelope>) -> Response {
    if let Some(envelope) = envelope {
        let headers = response.headers_mut();
        for (name, value) in [
            ("x-road-client", envelope.client.clone()),
            ("x-road-service", envelope.service.clone()),
            ("x-road-id", envelope.message_id.clone()),
            ("x-road-request-id", uuid::Uuid::now_v7().to_string()),
        ] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
    }
    response
}

/// `%XX` decoding of one X-Road identifier part; `None` when the escapes or the UTF-8 are broken.
pub(crate) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text.get(index + 1..index + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// For a nested struct field: accepts only a JSON object (serde alone would also take an array, by
/// position).
pub(crate) fn object<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: DeserializeOwned,
{
    let map = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
    T::deserialize(serde_json::Value::Object(map)).map_err(serde::de::Error::custom)
}

/// Faults a test or a demo can switch on, at start (`--latency-ms`) or at run time (`POST /_sim/faults`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faults {
    /// Every request answers 503 until this is switched off.
    pub unavailable: bool,
    /// The next this many requests answer 503.
    pub fail_next: u32,
    /// Every request waits this long before it is handled.
    pub latency_ms: u64,
}

/// A partial update of the faults: fields left out keep their value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultsUpdate {
    unavailable: Option<bool>,
    fail_next: Option<u32>,
    latency_ms: Option<u64>,
}

pub(crate) type SharedFaults = Arc<Mutex<Faults>>;

/// `POST /_sim/faults`: applies the update and answers the faults now in force.
pub(crate) fn update_faults(faults: &SharedFaults, headers: &HeaderMap, body: &Bytes) -> Response {
    let update: FaultsUpdate = match parse_json(headers, body) {
        Ok(update) => update,
        Err(response) => return response,
    };
    let mut faults = lock(faults);
    if let Some(unavailable) = update.unavailable {
        faults.unavailable = unavailable;
    }
    if let Some(fail_next) = update.fail_next {
        faults.fail_next = fail_next;
    }
    if let Some(latency_ms) = update.latency_ms {
        faults.latency_ms = latency_ms;
    }
    Json(faults.clone()).into_response()
}

/// Waits the injected latency, then answers 503 if the service is down or a failure is due.
pub(crate) async fn injected_fault(faults: &SharedFaults) -> Option<Response> {
    let latency = Duration::from_millis(lock(faults).latency_ms);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut faults = lock(faults);
    if faults.unavailable {
        return Some(unavailable("the service is down (injected fault)"));
    }
    if faults.fail_next > 0 {
        faults.fail_next -= 1;
        return Some(unavailable("temporary failure (injected fault)"));
    }
    None
}

/// 503 with `Retry-After: 1`.
pub(crate) fn unavailable(detail: &str) -> Response {
    let mut response = problem(StatusCode::SERVICE_UNAVAILABLE, detail);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_refuses_broken_escapes_and_utf8() {
        assert_eq!(percent_decode("MO%20SVY").as_deref(), Some("MO SVY"));
        assert_eq!(percent_decode("%E1%9E%9F").as_deref(), Some("ស"));
        assert_eq!(percent_decode("%E1"), None);
        assert_eq!(percent_decode("%G1"), None);
        assert_eq!(percent_decode("abc%2"), None);
        assert_eq!(percent_decode("%%%"), None);
    }

    #[test]
    fn bearer_tokens_are_compared_whole() {
        let mut headers = HeaderMap::new();
        assert!(check_bearer(&headers, "secret").is_err());
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer secre"));
        assert!(check_bearer(&headers, "secret").is_err());
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer secret"));
        assert!(check_bearer(&headers, "secret").is_ok());
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic secret"));
        assert!(check_bearer(&headers, "secret").is_err());
    }
}
