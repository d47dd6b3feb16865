//! One JSON POST to a remote service and the sorting of its answer into success or an `ExchangeError`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Endpoint, ExchangeError};

/// The X-Road consumer header (PR-REST 4.3, mandatory through X-Road).
pub const HEADER_X_ROAD_CLIENT: &str = "x-road-client";
/// Who initiated the request, for the provider's audit trail (PR-REST 4.3, optional).
pub const HEADER_X_ROAD_USER_ID: &str = "x-road-userid";
/// The case or document that caused the request (PR-REST 4.3, optional).
pub const HEADER_X_ROAD_ISSUE: &str = "x-road-issue";
/// Set by the security servers on the answer.
pub const HEADER_X_ROAD_ID: &str = "x-road-id";
pub const HEADER_X_ROAD_REQUEST_ID: &str = "x-road-request-id";
pub const HEADER_X_ROAD_ERROR: &str = "x-road-error";
/// Why the data is asked for or sent: a user-defined header, which X-Road passes through unchanged.
pub const HEADER_PURPOSE: &str = "x-purpose";
/// The delivery's key; the same key always gets the same result (IETF draft "The Idempotency-Key HTTP
/// Header Field").
pub const HEADER_IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The longest remote error text kept in a `Rejected` detail.
const MAX_DETAIL_CHARS: usize = 300;

/// What the transport saw besides the body: the status and X-Road's message identifiers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageMeta {
    pub status: u16,
    /// `X-Road-Id`, set by the security servers (absent when called directly).
    pub x_road_id: Option<String>,
    /// `X-Road-Request-Id`, set by the security servers (absent when called directly).
    pub x_road_request_id: Option<String>,
}

/// Who caused a request and why, sent as headers for the other side's audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Audit {
    pub user_id: Option<String>,
    pub purpose: Option<String>,
    pub issue: Option<String>,
}

pub(crate) struct Call<'a> {
    pub service: &'static str,
    pub endpoint: &'a Endpoint,
    pub resource: &'a [&'a str],
    pub audit: Audit,
    pub idempotency_key: Option<String>,
}

pub(crate) fn http_client() -> Result<reqwest::Client, ExchangeError> {
    // X-Road passes redirects through unfollowed (PR-REST 4.4) and so do we: a redirect is a protocol error.
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|error| ExchangeError::InvalidConfig(format!("HTTP client: {error}")))
}

/// Header text as visible ASCII: other bytes (Khmer, controls) and `%` are percent-encoded, as X-Road does
/// for identifiers, so any value can travel and none can break the header.
pub(crate) fn header_text(text: &str) -> HeaderValue {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if (0x20..0x7f).contains(&byte) && byte != b'%' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    HeaderValue::from_str(&out).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub(crate) async fn post_json<T: DeserializeOwned>(
    http: &reqwest::Client,
    call: Call<'_>,
    body: &impl Serialize,
) -> Result<(T, MessageMeta), ExchangeError> {
    let Call {
        service,
        endpoint,
        resource,
        audit,
        idempotency_key,
    } = call;
    let url = endpoint.url(resource)?;
    let mut request = http
        .post(url)
        .timeout(endpoint.timeout())
        .header(ACCEPT, "application/json")
        .json(body);
    if let Some(route) = endpoint.x_road() {
        request = request.header(
            HeaderName::from_static(HEADER_X_ROAD_CLIENT),
            header_text(&route.client.header_value()),
        );
    }
    if let Some(token) = endpoint.token() {
        let mut value =
            HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                ExchangeError::InvalidConfig("the bearer token is not valid header text".into())
            })?;
        value.set_sensitive(true);
        request = request.header(AUTHORIZATION, value);
    }
    for (name, value) in [
        (HEADER_X_ROAD_USER_ID, &audit.user_id),
        (HEADER_PURPOSE, &audit.purpose),
        (HEADER_X_ROAD_ISSUE, &audit.issue),
        (HEADER_IDEMPOTENCY_KEY, &idempotency_key),
    ] {
        if let Some(value) = value {
            request = request.header(HeaderName::from_static(name), header_text(value));
        }
    }

    let timeout_error = || ExchangeError::Timeout {
        service,
        timeout_ms: u64::try_from(endpoint.timeout().as_millis()).unwrap_or(u64::MAX),
    };
    let response = request.send().await.map_err(|error| {
        if error.is_timeout() {
            timeout_error()
        } else {
            ExchangeError::Unreachable {
                service,
                detail: root_cause(&error),
            }
        }
    })?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(|error| {
        if error.is_timeout() {
            timeout_error()
        } else {
            ExchangeError::Unreachable {
                service,
                detail: format!(
                    "the connection broke while reading the answer: {}",
                    root_cause(&error)
                ),
            }
        }
    })?;
    let meta = MessageMeta {
        status: status.as_u16(),
        x_road_id: header_string(&headers, HEADER_X_ROAD_ID),
        x_road_request_id: header_string(&headers, HEADER_X_ROAD_REQUEST_ID),
    };
    tracing::debug!(
        service,
        status = meta.status,
        x_road_id = meta.x_road_id.as_deref(),
        "exchange answer"
    );
    classify(service, status, &headers, &body, Utc::now()).map(|value| (value, meta))
}

/// Sorts an answer: 2xx parsed as `T`, the rest into the `ExchangeError` that says what to do.
pub(crate) fn classify<T: DeserializeOwned>(
    service: &'static str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<T, ExchangeError> {
    let code = status.as_u16();
    if status.is_success() {
        return serde_json::from_slice(body).map_err(|error| ExchangeError::Protocol {
            service,
            detail: format!(
                "the HTTP {code} answer is not the documented JSON: {}",
                describe_json_error(&error)
            ),
        });
    }
    let retry_later = status.is_server_error() || matches!(code, 408 | 425 | 429);
    if retry_later {
        return Err(ExchangeError::Unavailable {
            service,
            status: code,
            retry_after: headers
                .get(RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| parse_retry_after(value, now)),
        });
    }
    if status.is_client_error() {
        return Err(ExchangeError::Rejected {
            service,
            status: code,
            detail: error_detail(headers, body),
        });
    }
    Err(ExchangeError::Protocol {
        service,
        detail: format!("unexpected HTTP status {code}"),
    })
}

fn header_string(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110 10.2.3); a date in the past means now.
pub(crate) fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    let seconds = (at.with_timezone(&Utc) - now).num_seconds().max(0);
    Some(Duration::from_secs(u64::try_from(seconds).unwrap_or(0)))
}

/// The remote party's own words for a refusal: X-Road error JSON (`type`, `message`) or RFC 9457
/// problem+json (`title`, `detail`), shortened. Never the request we sent.
fn error_detail(headers: &HeaderMap, body: &[u8]) -> String {
    let x_road_error = header_string(headers, HEADER_X_ROAD_ERROR);
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|value| value.get(name))
            .and_then(serde_json::Value::as_str)
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    };
    let parts: Vec<String> = match x_road_error {
        Some(kind) => [Some(format!("X-Road error {kind}")), field("message")]
            .into_iter()
            .flatten()
            .collect(),
        None => [
            field("type").filter(|kind| kind.starts_with("Client") || kind.starts_with("Server")),
            field("title"),
            field("detail"),
        ]
        .into_iter()
        .flatten()
        .collect(),
    };
    let text = if parts.is_empty() {
        "the answer gave no reason".to_owned()
    } else {
        parts.join(": ")
    };
    if text.chars().count() > MAX_DETAIL_CHARS {
        let mut short: String = text.chars().take(MAX_DETAIL_CHARS).collect();
        short.push('…');
        short
    } else {
        text
    }
}

/// What went wrong with JSON, without quoting the values (they could be personal data).
fn describe_json_error(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let message = error.to_string();
    match error.classify() {
        Category::Io => "it could not be read".to_owned(),
        Category::Syntax | Category::Eof => {
            // serde_json's syntax messages never quote input ("expected value at line 1 column 2").
            message
        }
        Category::Data => {
            if message.starts_with("missing field") || message.starts_with("duplicate field") {
                message
            } else {
                format!(
                    "a value has the wrong type or is not allowed at line {} column {}",
                    error.line(),
                    error.column()
                )
            }
        }
    }
}

/// The innermost cause of a transport error ("Connection refused (os error 111)"), without the URL.
fn root_cause(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    if text.is_empty() {
        "connection failed".to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let cases = [
            ("120", Some(120)),
            (" 7 ", Some(7)),
            ("Sun, 01 Mar 2026 12:00:30 GMT", Some(30)),
            ("Sun, 01 Mar 2026 11:00:00 GMT", Some(0)),
            ("soon", None),
            ("-5", None),
            ("", None),
        ];
        for (value, expected) in cases {
            assert_eq!(
                parse_retry_after(value, now()),
                expected.map(Duration::from_secs),
                "{value:?}"
            );
        }
    }

    fn classify_answer(
        status: u16,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<serde_json::Value, ExchangeError> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        classify(
            "operator",
            StatusCode::from_u16(status).unwrap(),
            &map,
            body.as_bytes(),
            now(),
        )
    }

    #[test]
    fn statuses_sort_into_what_the_caller_must_do() {
        assert_eq!(classify_answer(201, &[], "{\"a\":1}").unwrap()["a"], 1);
        assert_eq!(
            classify_answer(429, &[("retry-after", "3")], "").unwrap_err(),
            ExchangeError::Unavailable {
                service: "operator",
                status: 429,
                retry_after: Some(Duration::from_secs(3))
            }
        );
        assert_eq!(
            classify_answer(502, &[], "<html>").unwrap_err(),
            ExchangeError::Unavailable {
                service: "operator",
                status: 502,
                retry_after: None
            }
        );
        assert_eq!(
            classify_answer(
                422,
                &[],
                r#"{"type":"about:blank","title":"Unprocessable","detail":"unknown program"}"#
            )
            .unwrap_err(),
            ExchangeError::Rejected {
                service: "operator",
                status: 422,
                detail: "Unprocessable: unknown program".into()
            }
        );
        assert_eq!(
            classify_answer(400, &[("x-road-error", "Client.InvalidClientIdentifier")], r#"{"type":"Client.InvalidClientIdentifier","message":"no X-Road-Client header","detail":"abc"}"#).unwrap_err(),
            ExchangeError::Rejected { service: "operator", status: 400, detail: "X-Road error Client.InvalidClientIdentifier: no X-Road-Client header".into() }
        );
        assert_eq!(
            classify_answer(403, &[], "").unwrap_err(),
            ExchangeError::Rejected {
                service: "operator",
                status: 403,
                detail: "the answer gave no reason".into()
            }
        );
        assert_eq!(
            classify_answer(302, &[("location", "http://elsewhere")], "").unwrap_err(),
            ExchangeError::Protocol {
                service: "operator",
                detail: "unexpected HTTP status 302".into()
            }
        );
    }

    #[test]
    fn json_errors_do_not_quote_values() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Answer {
            beneficiary_id: u32,
        }
        let error = serde_json::from_str::<Answer>(r#"{"beneficiary_id":"SOK DARA"}"#).unwrap_err();
        let text = describe_json_error(&error);
        assert!(!text.contains("SOK"), "{text}");
        assert_eq!(
            text,
            "a value has the wrong type or is not allowed at line 1 column 28"
        );
        let error = serde_json::from_str::<Answer>("{}").unwrap_err();
        assert_eq!(
            describe_json_error(&error),
            "missing field `beneficiary_id` at line 1 column 2"
        );
        let error = serde_json::from_str::<Answer>("{oops").unwrap_err();
        assert_eq!(
            describe_json_error(&error),
            "key must be a string at line 1 column 2"
        );
    }

    #[test]
    fn header_text_keeps_ascii_and_encodes_the_rest() {
        assert_eq!(
            header_text("KH-officer-12").to_str().unwrap(),
            "KH-officer-12"
        );
        assert_eq!(
            header_text("សុខ 100%").to_str().unwrap(),
            "%E1%9E%9F%E1%9E%BB%E1%9E%81 100%25"
        );
        assert_eq!(header_text("a\r\nb").to_str().unwrap(), "a%0D%0Ab");
    }
}
