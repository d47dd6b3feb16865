//! Route handlers: each reads the request into service input, calls one use case and writes the DTO.

pub mod biometrics;
pub mod duplicates;
pub mod enrolment;
pub mod households;
pub mod leases;
pub mod people;
pub mod places;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dspp_domain::Spid;
use serde::Serialize;

use crate::extract::etag;
use crate::problem::ApiError;

pub fn parse_spid(text: &str) -> Result<Spid, ApiError> {
    Spid::parse(text).map_err(|e| ApiError::invalid("spid", e.reason))
}

/// Cursors are opaque to clients: the id of the last item, base64url-encoded.
pub fn encode_cursor(after: uuid::Uuid) -> String {
    URL_SAFE_NO_PAD.encode(after.to_string())
}

pub fn decode_cursor(cursor: Option<&str>) -> Result<Option<uuid::Uuid>, ApiError> {
    let Some(cursor) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| ApiError::invalid("cursor", "not a cursor this API gave out"))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ApiError::invalid("cursor", "not a cursor this API gave out"))?;
    uuid::Uuid::parse_str(&text)
        .map(Some)
        .map_err(|_| ApiError::invalid("cursor", "not a cursor this API gave out"))
}

/// A JSON response with an ETag and, for creations, a Location.
pub fn json_with_etag<T: Serialize>(
    status: StatusCode,
    body: &T,
    version: Option<u32>,
    location: Option<String>,
) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(version) = version
        && let Ok(value) = HeaderValue::from_str(&etag(version))
    {
        response.headers_mut().insert(header::ETAG, value);
    }
    if let Some(location) = location
        && let Ok(value) = HeaderValue::from_str(&location)
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn relationships(
    items: &[crate::dto::RelationshipIn],
    field: &str,
) -> Result<Vec<(Spid, String)>, ApiError> {
    items
        .iter()
        .enumerate()
        .map(|(i, r)| {
            Spid::parse(&r.spid)
                .map(|spid| (spid, r.relationship.clone()))
                .map_err(|e| ApiError::invalid(&format!("{field}[{i}].spid"), e.reason))
        })
        .collect()
}

/// The largest page a listing returns.
pub const DEFAULT_PAGE: u32 = 50;
