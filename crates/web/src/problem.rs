//! RFC 9457 problem details: every error the API returns is `application/problem+json` with a stable
//! `type`, a `title`, the HTTP `status` and a `detail` written for the person at the other end.
//! Service errors map to problems in one `match` ([`ApiError::from`]). A 5xx never carries internal
//! text: the cause chain goes to the log under an error id, and the response names only that id.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dspp_service::ServiceError;
use serde::Serialize;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    /// The field, as a path into the request body (`members[1].birth_date`).
    pub field: String,
    pub reason: String,
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Every field that was refused (validation problems only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// An error on its way to becoming a problem response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    title: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    instance: Option<String>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            kind,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            instance: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed-request",
            "The request is malformed",
            detail,
        )
    }

    pub fn invalid(field: &str, reason: impl Into<String>) -> ApiError {
        let mut error = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-input",
            "The input was refused",
            format!("{field}: {}", reason.into()),
        );
        error.errors = vec![FieldError {
            field: field.to_string(),
            reason: error.detail[field.len() + 2..].to_string(),
        }];
        error
    }

    /// Every refused field at once.
    pub fn invalid_all(errors: Vec<FieldError>) -> ApiError {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.reason))
            .collect::<Vec<_>>()
            .join("; ");
        let mut error = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-input",
            "The input was refused",
            detail,
        );
        error.errors = errors;
        error
    }

    /// The refused fields of a validation error.
    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }

    pub fn unauthenticated(detail: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Who is acting is not known",
            detail,
        )
    }

    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn precondition_required() -> ApiError {
        ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition-required",
            "If-Match is required",
            "changes must say which version they are based on: send If-Match with the ETag you read",
        )
    }

    /// An internal failure: logged with its cause chain under an id; the response carries only the id.
    pub fn internal(error: &dyn std::error::Error) -> ApiError {
        let id = uuid::Uuid::now_v7();
        let mut chain = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            chain.push_str(": ");
            chain.push_str(&cause.to_string());
            source = cause.source();
        }
        tracing::error!(error_id = %id, cause = %chain, "internal error");
        let mut api = ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            format!("the request failed inside the registry; quote error id {id} to support"),
        );
        api.instance = Some(format!("urn:dspp:error:{id}"));
        api
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> ApiError {
        match error {
            ServiceError::Invalid(problems) => {
                let errors: Vec<FieldError> = problems
                    .into_iter()
                    .map(|p| FieldError {
                        field: p.field,
                        reason: p.reason,
                    })
                    .collect();
                let detail = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.reason))
                    .collect::<Vec<_>>()
                    .join("; ");
                ApiError {
                    errors,
                    ..ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid-input",
                        "The input was refused",
                        detail,
                    )
                }
            }
            ServiceError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            ServiceError::Conflict(detail) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
            }
            ServiceError::Stale(detail) => ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "stale-version",
                "The record changed since you read it",
                detail,
            ),
            ServiceError::Forbidden(detail) => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed", detail)
            }
            ServiceError::Exhausted(detail) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "exhausted",
                "The registry cannot do this now",
                detail,
            ),
            ServiceError::NotConfigured(detail) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not-configured",
                "This server is not configured for that",
                detail,
            ),
            ServiceError::Unavailable(ref source) => {
                tracing::warn!(cause = %source, "database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "The registry is temporarily unavailable",
                    "the database cannot be reached; retry with the same Idempotency-Key",
                )
            }
            ServiceError::Internal(ref source) => ApiError::internal(source),
        }
    }
}

impl ApiError {
    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("https://dspp.example/problems/{}", self.kind),
            title: self.title.to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            instance: self.instance.clone(),
            errors: self.errors.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use dspp_service::FieldProblem;

    use super::*;

    #[test]
    fn every_service_error_has_its_status() {
        let cases: Vec<(ServiceError, u16, &str)> = vec![
            (
                ServiceError::Invalid(vec![FieldProblem {
                    field: "sex".into(),
                    reason: "x".into(),
                }]),
                422,
                "invalid-input",
            ),
            (ServiceError::NotFound("SPID 1".into()), 404, "not-found"),
            (ServiceError::Conflict("taken".into()), 409, "conflict"),
            (ServiceError::Stale("v2".into()), 412, "stale-version"),
            (ServiceError::Forbidden("scope".into()), 403, "forbidden"),
            (ServiceError::Exhausted("full".into()), 503, "exhausted"),
        ];
        for (error, status, kind) in cases {
            let problem = ApiError::from(error).problem();
            assert_eq!(problem.status, status);
            assert!(problem.kind.ends_with(kind), "{}", problem.kind);
        }
    }

    #[test]
    fn internal_errors_never_carry_their_cause() {
        let cause = std::io::Error::other("relation \"person\" does not exist; SOK SREYMOM 1959");
        let problem = ApiError::internal(&cause).problem();
        assert_eq!(problem.status, 500);
        assert!(!problem.detail.contains("relation"));
        assert!(!problem.detail.contains("SOK"));
        assert!(
            problem
                .instance
                .unwrap_or_default()
                .starts_with("urn:dspp:error:")
        );
    }
}
