//! The client for the Ministry of Interior's identity verification service (wire format:
//! docs/protocols/national-id.md).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::transport::{self, Audit, Call, MessageMeta};
use crate::{Endpoint, ExchangeError};

const SERVICE: &str = "national ID service";

/// The resource path, below the endpoint (direct) or below the X-Road service id.
pub const VERIFY_PATH: [&str; 3] = ["v1", "identity", "verify"];

/// Sex as printed on the ID card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Female,
    Male,
}

/// A yes/no question to the identity service: does this card exist, is it valid, and do the given
/// details match it? Only `id_number` is required; each detail left out is simply not compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyRequest {
    /// Ours, echoed in the answer; one per question, so the Ministry's log and ours can be joined.
    pub request_id: Uuid,
    /// Why we ask (e.g. `enrolment`), recorded by the Ministry; also sent as the `X-Purpose` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    pub id_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_km: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_latin: Option<String>,
    /// `YYYY-MM-DD`, `YYYY-MM` or `YYYY`; compared at the precision given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    /// The officer or client that asked, sent as `X-Road-UserId` (not in the body).
    #[serde(skip)]
    pub user_id: Option<String>,
}

impl VerifyRequest {
    /// A request that only asks about the card's status; add the details to compare.
    pub fn new(request_id: Uuid, id_number: impl Into<String>) -> VerifyRequest {
        VerifyRequest {
            request_id,
            purpose: None,
            id_number: id_number.into(),
            name_km: None,
            name_latin: None,
            birth_date: None,
            sex: None,
            user_id: None,
        }
    }
}

/// The card's state in the Ministry's register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdStatus {
    Valid,
    NotFound,
    Revoked,
    Deceased,
    Expired,
}

/// How much the answer supports the claim that the person is who the details say, in the three eIDAS
/// levels (Regulation (EU) No 910/2014, art. 8). Ordered: `Low < Substantial < High`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LevelOfAssurance {
    Low,
    Substantial,
    High,
}

/// One detail of the request: whether it was compared, and whether it matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldCheck {
    /// `name_km`, `name_latin`, `birth_date` or `sex`; a string so that a newer service adding a field
    /// does not break us.
    pub field: String,
    pub compared: bool,
    pub matched: bool,
}

/// The service's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyResponse {
    pub request_id: Uuid,
    pub id_status: IdStatus,
    pub fields: Vec<FieldCheck>,
    pub level_of_assurance: LevelOfAssurance,
    pub checked_at: DateTime<Utc>,
    /// Status and X-Road message ids; not part of the body.
    #[serde(skip)]
    pub meta: MessageMeta,
}

impl VerifyResponse {
    /// The check of one field, if the answer has it.
    pub fn field(&self, name: &str) -> Option<&FieldCheck> {
        self.fields.iter().find(|check| check.field == name)
    }

    /// True when the card is valid and every compared detail matched (and at least one was compared).
    pub fn is_full_match(&self) -> bool {
        self.id_status == IdStatus::Valid
            && self.fields.iter().any(|check| check.compared)
            && self
                .fields
                .iter()
                .all(|check| !check.compared || check.matched)
    }
}

/// Calls the identity verification service at one endpoint.
#[derive(Debug, Clone)]
pub struct NationalIdClient {
    http: reqwest::Client,
    endpoint: Endpoint,
}

impl NationalIdClient {
    pub fn new(endpoint: Endpoint) -> Result<NationalIdClient, ExchangeError> {
        Ok(NationalIdClient {
            http: transport::http_client()?,
            endpoint,
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Asks the service about one card. Does not retry: a retryable error is for the caller to schedule.
    pub async fn verify(&self, request: &VerifyRequest) -> Result<VerifyResponse, ExchangeError> {
        let call = Call {
            service: SERVICE,
            endpoint: &self.endpoint,
            resource: &VERIFY_PATH,
            audit: Audit {
                user_id: request.user_id.clone(),
                purpose: request.purpose.clone(),
                issue: None,
            },
            idempotency_key: None,
        };
        let (mut response, meta): (VerifyResponse, MessageMeta) =
            transport::post_json(&self.http, call, request).await?;
        if response.request_id != request.request_id {
            return Err(ExchangeError::Protocol {
                service: SERVICE,
                detail: format!(
                    "the answer is for request {}, not {}",
                    response.request_id, request.request_id
                ),
            });
        }
        response.meta = meta;
        Ok(response)
    }
}
