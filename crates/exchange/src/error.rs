//! What can go wrong talking to another system, sorted by what the caller must do about it.

use std::time::Duration;

/// The crate's one error type. The variants say what to do: retry later (`Unreachable`, `Timeout`,
/// `Unavailable`), show a person a permanent problem (`Rejected`), or call an engineer (`Protocol`,
/// `InvalidConfig`).
///
/// **No variant carries personal data**: texts are built from status codes, header values and the remote
/// party's own error type and message, never from the request we sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// No connection could be made (refused, DNS, reset before an answer).
    #[error("{service} is unreachable: {detail}")]
    Unreachable {
        service: &'static str,
        detail: String,
    },
    /// The answer did not come within the endpoint's timeout.
    #[error("{service} did not answer within {timeout_ms} ms")]
    Timeout {
        service: &'static str,
        timeout_ms: u64,
    },
    /// The other side answered 5xx, 408, 425 or 429: it is there but cannot serve now.
    #[error("{service} is unavailable (HTTP {status}){}", retry_after_text(.retry_after))]
    Unavailable {
        service: &'static str,
        status: u16,
        /// From `Retry-After` (seconds or HTTP date), when the answer had one.
        retry_after: Option<Duration>,
    },
    /// The other side refused the request for good (4xx): retrying the same request will not help.
    #[error("{service} rejected the request (HTTP {status}): {detail}")]
    Rejected {
        service: &'static str,
        status: u16,
        detail: String,
    },
    /// The answer is not in the documented format.
    #[error("{service} answered outside the protocol: {detail}")]
    Protocol {
        service: &'static str,
        detail: String,
    },
    /// An endpoint or identifier in our own configuration is not usable.
    #[error("invalid exchange configuration: {0}")]
    InvalidConfig(String),
}

fn retry_after_text(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(delay) => format!(", retry after {} s", delay.as_secs()),
        None => String::new(),
    }
}

impl ExchangeError {
    /// True when the same request may succeed later, so an outbox should keep it and try again.
    pub fn is_retryable(&self) -> bool {
        match self {
            ExchangeError::Unreachable { .. }
            | ExchangeError::Timeout { .. }
            | ExchangeError::Unavailable { .. } => true,
            ExchangeError::Rejected { .. }
            | ExchangeError::Protocol { .. }
            | ExchangeError::InvalidConfig(_) => false,
        }
    }

    /// The delay the other side asked for with `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ExchangeError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status of the answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ExchangeError::Unavailable { status, .. } | ExchangeError::Rejected { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_variants_are_the_transient_ones() {
        let service = "national ID service";
        let cases = [
            (
                ExchangeError::Unreachable {
                    service,
                    detail: "connection refused".into(),
                },
                true,
            ),
            (
                ExchangeError::Timeout {
                    service,
                    timeout_ms: 100,
                },
                true,
            ),
            (
                ExchangeError::Unavailable {
                    service,
                    status: 503,
                    retry_after: Some(Duration::from_secs(3)),
                },
                true,
            ),
            (
                ExchangeError::Rejected {
                    service,
                    status: 422,
                    detail: "x".into(),
                },
                false,
            ),
            (
                ExchangeError::Protocol {
                    service,
                    detail: "x".into(),
                },
                false,
            ),
            (ExchangeError::InvalidConfig("x".into()), false),
        ];
        for (error, retryable) in cases {
            assert_eq!(error.is_retryable(), retryable, "{error}");
        }
    }

    #[test]
    fn messages_name_the_service_and_the_delay() {
        let error = ExchangeError::Unavailable {
            service: "operator",
            status: 429,
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(
            error.to_string(),
            "operator is unavailable (HTTP 429), retry after 7 s"
        );
        assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(error.status(), Some(429));
    }
}
