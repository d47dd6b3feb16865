//! Extractors at the edge: who acts (from the actor headers), JSON bodies whose every rejection is a
//! problem document, and `If-Match` versions.
//!
//! Until sign-in lands (a later issue), the actor is declared in headers by a trusted caller (the portal,
//! a field app behind the gateway). The sign-in layer will produce the same [`Actor`] from a verified
//! token; nothing below this module will change.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use dspp_domain::{Actor, ActorKind, Delegation, Purpose, Role, Scope};
use serde::de::DeserializeOwned;

use crate::problem::ApiError;

pub const ACTOR: &str = "dspp-actor";
pub const ACTOR_KIND: &str = "dspp-actor-kind";
pub const ROLE: &str = "dspp-role";
pub const SCOPE: &str = "dspp-scope";
pub const PURPOSE: &str = "dspp-purpose";
pub const ON_BEHALF_OF: &str = "dspp-on-behalf-of";
pub const DELEGATION: &str = "dspp-delegation";

fn header<'a>(parts: &'a Parts, name: &str) -> Result<Option<&'a str>, ApiError> {
    match parts.headers.get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(|v| Some(v.trim()).filter(|v| !v.is_empty()))
            .map_err(|_| ApiError::bad_request(format!("the {name} header is not readable text"))),
    }
}

/// The actor of a request, read from its headers.
#[derive(Debug, Clone)]
pub struct ActingAs(pub Actor);

pub fn actor_from_parts(parts: &Parts) -> Result<Actor, ApiError> {
    let missing: Vec<&str> = [ACTOR, ROLE, SCOPE, PURPOSE]
        .into_iter()
        .filter(|name| !matches!(header(parts, name), Ok(Some(_))))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::unauthenticated(format!(
            "every call names who acts, in what role, for which place and why; missing header(s): {}",
            missing.join(", ")
        )));
    }
    let get = |name: &str| header(parts, name).map(Option::unwrap_or_default);
    let as_header =
        |name: &'static str| move |e: dspp_domain::DomainError| ApiError::invalid(name, e.reason);
    let subject = Actor::parse_subject(get(ACTOR)?).map_err(as_header(ACTOR))?;
    let kind = match header(parts, ACTOR_KIND)? {
        None | Some("user") => ActorKind::User,
        Some("client") => ActorKind::Client,
        Some(other) => {
            return Err(ApiError::invalid(
                ACTOR_KIND,
                format!("{other:?} is not user or client"),
            ));
        }
    };
    let role = Role::parse(get(ROLE)?).map_err(as_header(ROLE))?;
    if role == Role::System {
        return Err(ApiError::invalid(
            ROLE,
            "the system role is the platform's own; no caller acts as it",
        ));
    }
    let scope = Scope::parse(get(SCOPE)?).map_err(as_header(SCOPE))?;
    let purpose = Purpose::parse(get(PURPOSE)?).map_err(as_header(PURPOSE))?;
    let delegation = match (header(parts, ON_BEHALF_OF)?, header(parts, DELEGATION)?) {
        (None, None) => None,
        (Some(principal), Some(reference)) => Some(Delegation {
            principal: Actor::parse_subject(principal).map_err(as_header(ON_BEHALF_OF))?,
            reference: reference.chars().take(200).collect(),
        }),
        _ => {
            return Err(ApiError::invalid(
                DELEGATION,
                "acting on someone's behalf needs both dspp-on-behalf-of and dspp-delegation (the delegation letter)",
            ));
        }
    };
    Ok(Actor {
        kind,
        subject,
        role,
        scope,
        delegation,
        purpose,
    })
}

impl<S: Send + Sync> FromRequestParts<S> for ActingAs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        actor_from_parts(parts).map(ActingAs)
    }
}

/// A JSON body; malformed JSON, a wrong content type and an oversized body each become a problem.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "The body must be JSON",
            "send the body as application/json",
        ),
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::bad_request(format!("the body is not valid JSON: {}", e.body_text()))
        }
        JsonRejection::JsonDataError(e) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-input",
            "The input was refused",
            e.body_text().replace(
                "Failed to deserialize the JSON body into the target type: ",
                "",
            ),
        ),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "The body is too large",
                format!(
                    "a request body is at most {} bytes ({} for biometric captures)",
                    crate::MAX_BODY_BYTES,
                    crate::MAX_CAPTURE_BODY_BYTES
                ),
            )
        }
        other => ApiError::bad_request(other.body_text()),
    }
}

/// The version named by `If-Match` (`"v3"` or `W/"v3"`), required on every change to an existing record.
#[derive(Debug, Clone, Copy)]
pub struct IfMatch(pub u32);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = header(parts, "if-match")? else {
            return Err(ApiError::precondition_required());
        };
        parse_etag(value).map(IfMatch).ok_or_else(|| {
            ApiError::bad_request(format!(
                "If-Match {value:?} is not an ETag of this API (\"v<version>\")"
            ))
        })
    }
}

pub fn etag(version: u32) -> String {
    format!("\"v{version}\"")
}

pub fn parse_etag(value: &str) -> Option<u32> {
    let value = value.trim().trim_start_matches("W/");
    value.strip_prefix("\"v")?.strip_suffix('"')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_round_trip() {
        assert_eq!(parse_etag(&etag(7)), Some(7));
        assert_eq!(parse_etag("W/\"v3\""), Some(3));
        assert_eq!(parse_etag("\"3\""), None);
        assert_eq!(parse_etag("*"), None);
    }
}
