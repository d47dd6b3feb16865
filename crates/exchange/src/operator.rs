//! The client that delivers approved enrolments to a program operator (wire format:
//! docs/protocols/operator-delivery.md).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::national_id::Sex;
use crate::transport::{self, Audit, Call, MessageMeta};
use crate::{Endpoint, ExchangeError};

const SERVICE: &str = "program operator";

/// The resource path, below the endpoint (direct) or below the X-Road service id.
pub const DELIVERY_PATH: [&str; 1] = ["enrolments"];

/// The purpose sent with every delivery.
pub const DELIVERY_PURPOSE: &str = "enrolment-delivery";

/// The person as the operator needs them to pay: names, sex, birth date, and where they live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryPerson {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_km: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_latin: Option<String>,
    pub sex: Sex,
    /// `YYYY-MM-DD`, `YYYY-MM` or `YYYY`; absent when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    /// The 8-digit village code of the person's household.
    pub village_code: String,
}

/// An approved enrolment, sent once per (enrolment, program). `delivery_id` is also the
/// `Idempotency-Key`: resending it after a failure can never create a second beneficiary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub delivery_id: Uuid,
    pub program_code: String,
    /// The operator's version of the program definition the approval used (its XLSForm `version`).
    pub program_version: String,
    pub spid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub household_spid: Option<String>,
    pub person: DeliveryPerson,
    /// The eligibility answers the approval was based on, keyed by question code.
    pub answers: serde_json::Map<String, serde_json::Value>,
    pub approved_at: DateTime<Utc>,
    /// The officer who approved, also sent as `X-Road-UserId`.
    pub approved_by: String,
    /// The person an approval was made for under a delegation, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
}

/// The operator's acknowledgement: the same `beneficiary_id` for every resend of one delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub beneficiary_id: String,
    /// When the operator first received the delivery (the same on a replay).
    pub received_at: DateTime<Utc>,
    /// Status (201 first time, 200 replay) and X-Road message ids; not part of the body.
    #[serde(skip)]
    pub meta: MessageMeta,
}

impl Receipt {
    /// True when the operator said it had this delivery already (HTTP 200 rather than 201).
    pub fn is_replay(&self) -> bool {
        self.meta.status == 200
    }
}

/// Delivers to any operator; each call names the operator's endpoint.
#[derive(Debug, Clone)]
pub struct OperatorClient {
    http: reqwest::Client,
}

impl OperatorClient {
    pub fn new() -> Result<OperatorClient, ExchangeError> {
        Ok(OperatorClient {
            http: transport::http_client()?,
        })
    }

    /// POSTs `delivery` with `Idempotency-Key: {delivery_id}`. Does not retry: a retryable error is for the
    /// outbox to schedule (see `BackoffPolicy`).
    pub async fn deliver(
        &self,
        endpoint: &Endpoint,
        delivery: &Delivery,
    ) -> Result<Receipt, ExchangeError> {
        let call = Call {
            service: SERVICE,
            endpoint,
            resource: &DELIVERY_PATH,
            audit: Audit {
                user_id: Some(delivery.approved_by.clone()),
                purpose: Some(DELIVERY_PURPOSE.to_owned()),
                issue: Some(delivery.delivery_id.to_string()),
            },
            idempotency_key: Some(delivery.delivery_id.to_string()),
        };
        let (mut receipt, meta): (Receipt, MessageMeta) =
            transport::post_json(&self.http, call, delivery).await?;
        if receipt.beneficiary_id.trim().is_empty() {
            return Err(ExchangeError::Protocol {
                service: SERVICE,
                detail: "the receipt's beneficiary_id is empty".into(),
            });
        }
        receipt.meta = meta;
        Ok(receipt)
    }
}
