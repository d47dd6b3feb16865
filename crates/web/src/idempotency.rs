//! `Idempotency-Key` on every POST: the first request with a key runs and its response is kept; a retry
//! with the same key and the same request gets the kept response (with `Idempotent-Replayed: true`)
//! and changes nothing. The same key with a different request is refused (422); a key whose first
//! request has not answered yet gets 409. A 5xx is not kept, so the client's retry runs again.
//! Keys belong to the acting subject: two officers cannot collide.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dspp_service::{IdempotencyClaim, StoredResponse};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::extract::actor_from_parts;
use crate::problem::ApiError;

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
const KEPT_HEADERS: [&str; 3] = ["content-type", "location", "etag"];

pub async fn idempotency(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST || !request.headers().contains_key(IDEMPOTENCY_KEY) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let key = match parts
        .headers
        .get(IDEMPOTENCY_KEY)
        .and_then(|v| v.to_str().ok())
    {
        Some(key)
            if !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            key.to_string()
        }
        _ => {
            return ApiError::invalid("Idempotency-Key", "1 to 255 visible ASCII characters")
                .into_response();
        }
    };
    let actor = match actor_from_parts(&parts) {
        Ok(actor) => actor,
        Err(e) => return e.into_response(),
    };
    let bytes = match to_bytes(body, crate::MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "The body is too large",
                format!("a request body is at most {} bytes", crate::MAX_BODY_BYTES),
            )
            .into_response();
        }
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(
        parts
            .headers
            .get("content-type")
            .map(|v| v.as_bytes())
            .unwrap_or_default(),
    );
    hasher.update([0]);
    hasher.update(&bytes);
    let hash: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let claim = state
        .registry
        .claim_idempotency(&actor.subject, &key, "POST", &path, &hash)
        .await;
    match claim {
        Err(e) => ApiError::from(e).into_response(),
        Ok(IdempotencyClaim::Mismatch) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            "this Idempotency-Key was already used for a different request; use a new key for a new request",
        )
        .into_response(),
        Ok(IdempotencyClaim::InProgress) => ApiError::new(
            StatusCode::CONFLICT,
            "idempotency-in-progress",
            "The first request with this key has not finished",
            "a request with this Idempotency-Key is still being processed; retry shortly",
        )
        .into_response(),
        Ok(IdempotencyClaim::Replay(stored)) => replay(stored),
        Ok(IdempotencyClaim::Claimed) => {
            let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            let (mut response_parts, response_body) = response.into_parts();
            let Ok(response_bytes) = to_bytes(response_body, usize::MAX).await else {
                let _ = state.registry.release_idempotency(&actor.subject, &key).await;
                return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error", "the response was lost")
                    .into_response();
            };
            if response_parts.status.is_server_error() {
                if let Err(e) = state.registry.release_idempotency(&actor.subject, &key).await {
                    tracing::warn!(error = %e, "could not release an idempotency key");
                }
            } else {
                let stored = StoredResponse {
                    status: response_parts.status.as_u16(),
                    headers: KEPT_HEADERS
                        .iter()
                        .filter_map(|name| {
                            response_parts.headers.get(*name).and_then(|v| v.to_str().ok()).map(|v| (name.to_string(), v.to_string()))
                        })
                        .collect(),
                    body: String::from_utf8_lossy(&response_bytes).into_owned(),
                };
                if let Err(e) = state.registry.complete_idempotency(&actor.subject, &key, &stored).await {
                    // The work is committed; only the replay copy is missing. A retry gets 409 and the
                    // client reads the resource instead of creating it twice.
                    tracing::warn!(error = %e, "could not keep an idempotent response");
                }
            }
            response_parts.headers.remove("content-length");
            Response::from_parts(response_parts, Body::from(response_bytes))
        }
    }
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    for (name, value) in stored.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().insert(name, value);
        }
    }
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
