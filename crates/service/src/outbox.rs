//! The outbox worker: sends approved enrolments to their operators and national ID numbers to the Ministry's
//! verification service, at least once, idempotently (the outbox id is the delivery's Idempotency-Key),
//! retried with backoff. One failing destination never holds up another: each message is claimed, sent and
//! settled on its own.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dspp_domain::{
    Actor, DocumentKind, EnrolmentStatus, Person, PersonId, Purpose, VerificationStatus,
};
use dspp_exchange::{
    BackoffPolicy, Delivery, DeliveryPerson, Endpoint, ExchangeError, NationalIdClient,
    OperatorClient, VerifyRequest, VerifyResponse,
};
use dspp_store::{ApplicationRow, Change, EnrolmentRow, IdVerificationRow, OutboxItem, Tx};

use crate::applications::{Answer, decode, encode};
use crate::{Registry, ServiceError};

/// The outside systems the worker talks to, from the configuration.
#[derive(Debug, Clone)]
pub struct Connectors {
    pub national_id: Option<NationalIdClient>,
    /// Operator endpoints by the name a program definition's `delivery` setting uses.
    pub operators: BTreeMap<String, Endpoint>,
    pub operator_client: OperatorClient,
    pub backoff: BackoffPolicy,
}

/// What one round of the worker did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxRound {
    pub sent: u32,
    pub retried: u32,
    pub failed: u32,
}

/// How long a claimed message is reserved for the worker that claimed it.
const CLAIM_SECONDS: i64 = 120;
/// When a destination is not configured at all, look again after this long.
const UNCONFIGURED_RETRY_SECONDS: i64 = 300;

pub(crate) const NATIONAL_ID_DESTINATION: &str = "national_id";

fn sex_wire(sex: dspp_domain::Sex) -> dspp_exchange::Sex {
    match sex {
        dspp_domain::Sex::Female => dspp_exchange::Sex::Female,
        dspp_domain::Sex::Male => dspp_exchange::Sex::Male,
    }
}

fn answer_json(answer: &Answer) -> serde_json::Value {
    match answer {
        Answer::Bool(b) => serde_json::Value::Bool(*b),
        Answer::Number(n) => serde_json::Number::from_f64(*n)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Answer::Text(t) => serde_json::Value::String(t.clone()),
        Answer::Choices(list) => serde_json::Value::Array(
            list.iter()
                .map(|c| serde_json::Value::String(c.clone()))
                .collect(),
        ),
    }
}

impl Registry {
    /// The delivery as it will be sent on every attempt, fixed at approval so that a retry carries the same
    /// body under the same key.
    pub(crate) async fn delivery_payload(
        &self,
        tx: &mut Tx,
        application: &ApplicationRow,
        line: &EnrolmentRow,
        delivery_id: uuid::Uuid,
        actor: &Actor,
        on_behalf_of: Option<&str>,
    ) -> Result<String, ServiceError> {
        let household = tx
            .household(dspp_domain::HouseholdId(parse_uuid(&line.household_id)?))
            .await?
            .ok_or_else(|| ServiceError::NotFound("household".into()))?;
        let head = household
            .members
            .iter()
            .find(|m| m.relationship == dspp_domain::Relationship::Head)
            .map(|m| m.person);
        let head = match head {
            Some(id) => tx.person(id).await?,
            None => None,
        };
        let person: Option<Person> = match &line.person_id {
            Some(id) => tx.person(PersonId(parse_uuid(id)?)).await?,
            None => head.clone(),
        };
        let person = person.ok_or_else(|| ServiceError::NotFound("person".into()))?;
        let answers: BTreeMap<String, Answer> = decode(&line.answers)?;
        let record = &person.record;
        let birth = record.birth_date.to_string();
        let delivery = Delivery {
            delivery_id,
            program_code: line.program_code.clone(),
            program_version: line.program_version.clone(),
            spid: person.spid.to_string(),
            household_spid: head.map(|h| h.spid.to_string()),
            person: DeliveryPerson {
                name_km: record.name.has_khmer().then(|| record.name.full_km()),
                name_latin: Some(record.name.full_latin()).filter(|n| !n.is_empty()),
                sex: sex_wire(record.sex),
                birth_date: (!birth.is_empty() && birth != "unknown").then_some(birth),
                village_code: household.village.to_string(),
            },
            answers: answers
                .iter()
                .map(|(k, v)| (k.clone(), answer_json(v)))
                .collect(),
            approved_at: self.now(),
            approved_by: actor.subject.clone(),
            on_behalf_of: on_behalf_of.map(str::to_string),
        };
        let _ = application;
        encode(&delivery)
    }

    /// Queues a check of a person's national ID card with the Ministry, in the enrolment's transaction.
    /// Only numbers new since `previous` (the record before a correction) are sent.
    pub(crate) async fn queue_id_check(
        &self,
        tx: &mut Tx,
        person: &Person,
        previous: Option<&dspp_domain::PersonRecord>,
    ) -> Result<(), ServiceError> {
        for doc in &person.record.documents {
            if doc.kind != DocumentKind::KhmerIdCard
                || !matches!(doc.verification, VerificationStatus::Unverified)
                || previous.is_some_and(|p| {
                    p.documents
                        .iter()
                        .any(|old| old.kind == doc.kind && old.number == doc.number)
                })
            {
                continue;
            }
            let record = &person.record;
            let mut request = VerifyRequest::new(self.new_id(), doc.number.clone());
            request.purpose = Some("enrolment".into());
            request.name_km = record.name.has_khmer().then(|| record.name.full_km());
            request.name_latin = Some(record.name.full_latin()).filter(|n| !n.is_empty());
            let birth = record.birth_date.to_string();
            request.birth_date = (!birth.is_empty() && birth != "unknown").then_some(birth);
            request.sex = Some(sex_wire(record.sex));
            tx.insert_outbox(&OutboxItem {
                id: self.new_id().to_string(),
                kind: "id_check".into(),
                destination: NATIONAL_ID_DESTINATION.into(),
                subject_id: person.id.to_string(),
                payload: encode(&request)?,
                status: "pending".into(),
                attempts: 0,
                next_attempt_at: self.now(),
                last_error: None,
                created_at: self.now(),
                done_at: None,
            })
            .await?;
        }
        Ok(())
    }

    /// Claims due messages and sends each once. Call it in a loop (the binary does, until shutdown) or
    /// step by step in tests with a fixed clock.
    pub async fn run_outbox(
        &self,
        connectors: &Connectors,
        limit: u32,
    ) -> Result<OutboxRound, ServiceError> {
        let now = self.now();
        let items = self
            .store()
            .claim_outbox(now, now + chrono::Duration::seconds(CLAIM_SECONDS), limit)
            .await?;
        let mut round = OutboxRound::default();
        for item in items {
            let outcome = match item.kind.as_str() {
                "delivery" => self.send_delivery(connectors, &item).await,
                "id_check" => self.send_id_check(connectors, &item).await,
                other => Err(Settle::Fail(format!("unknown message kind {other:?}"))),
            };
            match outcome {
                Ok(()) => round.sent += 1,
                Err(Settle::Retry(delay, error)) => {
                    let mut tx = self.store().begin().await?;
                    tx.retry_outbox(&item.id, self.now() + delay, &error)
                        .await?;
                    tx.commit().await?;
                    round.retried += 1;
                }
                Err(Settle::Fail(error)) => {
                    let mut tx = self.store().begin().await?;
                    tx.fail_outbox(&item.id, self.now(), &error).await?;
                    tx.commit().await?;
                    round.failed += 1;
                }
                Err(Settle::Store(ServiceError::Unavailable(e))) => {
                    return Err(ServiceError::Unavailable(e));
                }
                Err(Settle::Store(e)) => {
                    // The answer arrived but recording it failed (say, an officer changed the person at the
                    // same moment): keep the message and try again shortly; the others go on.
                    tracing::warn!(message = %item.id, error = %e, "recording an outbox answer failed; will retry");
                    let mut tx = self.store().begin().await?;
                    tx.retry_outbox(
                        &item.id,
                        self.now() + chrono::Duration::seconds(30),
                        "the answer could not be recorded; retrying",
                    )
                    .await?;
                    tx.commit().await?;
                    round.retried += 1;
                }
            }
        }
        Ok(round)
    }

    /// When the next message is due, so a worker may sleep until then.
    pub async fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>, ServiceError> {
        Ok(self.store().outbox_next_due().await?)
    }

    /// Messages not yet done: what operations staff watch.
    pub async fn outbox_open(&self, limit: u32) -> Result<Vec<OutboxItem>, ServiceError> {
        Ok(self.store().outbox_open(limit.clamp(1, 1000)).await?)
    }

    fn settle_error(
        &self,
        connectors: &Connectors,
        attempts: u32,
        error: &ExchangeError,
    ) -> Settle {
        if error.is_retryable() {
            let delay = self.with_rng(|rng| connectors.backoff.delay_after(attempts, error, rng));
            Settle::Retry(
                chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(60)),
                error.to_string(),
            )
        } else {
            Settle::Fail(error.to_string())
        }
    }

    async fn send_delivery(
        &self,
        connectors: &Connectors,
        item: &OutboxItem,
    ) -> Result<(), Settle> {
        let Some(endpoint) = connectors.operators.get(&item.destination) else {
            return Err(Settle::Retry(
                chrono::Duration::seconds(UNCONFIGURED_RETRY_SECONDS),
                format!(
                    "no endpoint is configured for operator {:?}",
                    item.destination
                ),
            ));
        };
        let delivery: Delivery = decode(&item.payload).map_err(Settle::Store)?;
        let receipt = match connectors
            .operator_client
            .deliver(endpoint, &delivery)
            .await
        {
            Ok(receipt) => receipt,
            Err(error) => return Err(self.settle_error(connectors, item.attempts, &error)),
        };
        let now = self.now();
        let result: Result<(), ServiceError> = async {
            let mut tx = self.store().begin().await?;
            tx.finish_outbox(&item.id, now).await?;
            if let Some(mut line) = tx.enrolment(&item.subject_id).await?
                && line.status == EnrolmentStatus::Approved
            {
                line.status = EnrolmentStatus::Delivered;
                line.delivered_at = Some(now);
                line.beneficiary_id = Some(receipt.beneficiary_id.clone());
                line.updated_at = now;
                tx.update_enrolment(&line).await?;
                let system = Actor::system(Purpose::Delivery);
                self.status_event(
                    &mut tx,
                    &line.application_id,
                    Some(&line.id),
                    Some("approved"),
                    "delivered",
                    &system,
                    None,
                    Some(&format!(
                        "delivered to {} (beneficiary {})",
                        item.destination, receipt.beneficiary_id
                    )),
                )
                .await?;
            }
            tx.commit().await?;
            Ok(())
        }
        .await;
        result.map_err(Settle::Store)
    }

    async fn send_id_check(
        &self,
        connectors: &Connectors,
        item: &OutboxItem,
    ) -> Result<(), Settle> {
        let Some(client) = &connectors.national_id else {
            return Err(Settle::Retry(
                chrono::Duration::seconds(UNCONFIGURED_RETRY_SECONDS),
                "no national ID service is configured".into(),
            ));
        };
        let request: VerifyRequest = decode(&item.payload).map_err(Settle::Store)?;
        let response = match client.verify(&request).await {
            Ok(response) => response,
            Err(error) => return Err(self.settle_error(connectors, item.attempts, &error)),
        };
        self.record_id_check(item, &request, &response)
            .await
            .map_err(Settle::Store)
    }

    /// Keeps the Ministry's answer as evidence and marks the document verified or failed: a new version of
    /// the person, by the platform, for the purpose of verification.
    async fn record_id_check(
        &self,
        item: &OutboxItem,
        request: &VerifyRequest,
        response: &VerifyResponse,
    ) -> Result<(), ServiceError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        tx.finish_outbox(&item.id, now).await?;
        let person_id = PersonId(parse_uuid(&item.subject_id)?);
        tx.insert_id_verification(&IdVerificationRow {
            id: self.new_id().to_string(),
            person_id: item.subject_id.clone(),
            document_number: request.id_number.clone(),
            requested_at: item.created_at,
            answered_at: now,
            id_status: encode(&response.id_status)?.trim_matches('"').to_string(),
            level_of_assurance: encode(&response.level_of_assurance)?
                .trim_matches('"')
                .to_string(),
            fields: encode(&response.fields)?,
        })
        .await?;
        if let Some(current) = tx.person(person_id).await? {
            let mut record = current.record.clone();
            let source = dspp_domain::document::NATIONAL_ID_SOURCE.to_string();
            let verdict = if response.is_full_match() {
                VerificationStatus::Verified { source, at: now }
            } else {
                let mismatched: Vec<&str> = response
                    .fields
                    .iter()
                    .filter(|f| f.compared && !f.matched)
                    .map(|f| f.field.as_str())
                    .collect();
                let status = encode(&response.id_status)?;
                VerificationStatus::Failed {
                    source,
                    at: now,
                    reason: if mismatched.is_empty() {
                        format!("card status {}", status.trim_matches('"'))
                    } else {
                        format!("does not match: {}", mismatched.join(", "))
                    },
                }
            };
            let mut changed = false;
            for doc in &mut record.documents {
                if doc.kind == DocumentKind::KhmerIdCard && doc.number == request.id_number {
                    doc.verification = verdict.clone();
                    changed = true;
                }
            }
            if changed && record != current.record {
                let person = Person {
                    version: current.version + 1,
                    record,
                    updated_at: now,
                    ..current.clone()
                };
                let system = Actor::system(Purpose::Verification);
                tx.update_person(
                    &person,
                    current.version,
                    "verify_identity",
                    &Change {
                        at: now,
                        actor: &system,
                        reason: Some("national ID service answered"),
                    },
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

enum Settle {
    Retry(chrono::Duration, String),
    Fail(String),
    Store(ServiceError),
}

/// An id the store wrote as text; a malformed one means the stored data is damaged.
pub(crate) fn parse_uuid(text: &str) -> Result<uuid::Uuid, ServiceError> {
    uuid::Uuid::parse_str(text)
        .map_err(|e| ServiceError::Internal(dspp_store::StoreError::Corrupt(e.to_string())))
}
