//! What an application looks like to the commune and the chief: its lines with the evaluation, every
//! decision with who made it and on whose authority, the delivery to the operator, and every status change.

use chrono::{DateTime, Utc};
use dspp_domain::{Actor, CommuneCode, EnrolmentStatus, PersonId, Spid};
use dspp_store::{ApplicationRow, ApprovalRow, EnrolmentFilter, EnrolmentRow, StatusEvent, Tx};

use crate::applications::{StoredEvaluation, decode};
use crate::{Registry, ServiceError, authorize_read};

#[derive(Debug, Clone)]
pub struct ApplicationView {
    pub application: ApplicationRow,
    pub enrolments: Vec<EnrolmentView>,
    pub events: Vec<StatusEvent>,
}

#[derive(Debug, Clone)]
pub struct EnrolmentView {
    pub row: EnrolmentRow,
    /// The person's SPID for person-level programs.
    pub spid: Option<Spid>,
    pub person_name: Option<String>,
    pub program_title_en: String,
    pub program_title_km: String,
    pub eligible_rules: Vec<(String, bool, String, String)>,
    pub score: Option<f64>,
    pub poverty_status: Option<String>,
    pub approvals: Vec<ApprovalRow>,
    pub delivery: Option<DeliveryView>,
}

/// Where the line stands with its operator: "delivered to NSAF at 10:42", or why not yet.
#[derive(Debug, Clone)]
pub struct DeliveryView {
    pub destination: String,
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
}

impl Registry {
    pub(crate) async fn application_view(
        &self,
        tx: &mut Tx,
        id: &str,
    ) -> Result<ApplicationView, ServiceError> {
        let application = tx
            .application(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("application {id}")))?;
        let approvals = tx.approvals_of(id).await?;
        let events = tx.status_events_of(id).await?;
        let mut enrolments = Vec::new();
        for row in tx.enrolments_of(id).await? {
            enrolments.push(self.enrolment_view(tx, row, &approvals).await?);
        }
        Ok(ApplicationView {
            application,
            enrolments,
            events,
        })
    }

    async fn enrolment_view(
        &self,
        tx: &mut Tx,
        row: EnrolmentRow,
        approvals: &[ApprovalRow],
    ) -> Result<EnrolmentView, ServiceError> {
        let evaluation: StoredEvaluation = decode(&row.evaluation)?;
        let person = match &row.person_id {
            Some(id) => match uuid::Uuid::parse_str(id) {
                Ok(uuid) => tx.person(PersonId(uuid)).await?,
                Err(_) => None,
            },
            None => None,
        };
        let (title_en, title_km) = match self
            .definition_version(tx, &row.program_code, &row.program_version)
            .await
        {
            Ok(definition) => (definition.title.en.clone(), definition.title.km.clone()),
            Err(_) => (row.program_code.clone(), row.program_code.clone()),
        };
        let delivery = tx
            .outbox_for(&row.id)
            .await?
            .into_iter()
            .rev()
            .find(|item| item.kind == "delivery")
            .map(|item| DeliveryView {
                destination: item.destination,
                status: item.status,
                attempts: item.attempts,
                last_error: item.last_error,
                next_attempt_at: item.next_attempt_at,
                done_at: item.done_at,
            });
        Ok(EnrolmentView {
            spid: person.as_ref().map(|p| p.spid),
            person_name: person.as_ref().map(|p| {
                if p.record.name.has_khmer() {
                    format!(
                        "{} ({})",
                        p.record.name.full_km(),
                        p.record.name.full_latin()
                    )
                } else {
                    p.record.name.full_latin()
                }
            }),
            program_title_en: title_en,
            program_title_km: title_km,
            eligible_rules: evaluation
                .rules
                .iter()
                .map(|r| (r.name.clone(), r.passed, r.en.clone(), r.km.clone()))
                .collect(),
            score: evaluation.score,
            poverty_status: evaluation.status,
            approvals: approvals
                .iter()
                .filter(|a| a.enrolment_id == row.id)
                .cloned()
                .collect(),
            delivery,
            row,
        })
    }

    pub async fn application(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<ApplicationView, ServiceError> {
        let mut tx = self.store().begin().await?;
        let view = self.application_view(&mut tx, id).await?;
        authorize_read(actor, view.application.commune)?;
        tx.commit().await?;
        Ok(view)
    }

    /// A commune's applications, newest first; with `status`, only those having a line in it (the chief's
    /// queue is `pending`).
    pub async fn applications(
        &self,
        actor: &Actor,
        commune: CommuneCode,
        status: Option<EnrolmentStatus>,
        limit: u32,
    ) -> Result<Vec<ApplicationView>, ServiceError> {
        authorize_read(actor, commune)?;
        let mut tx = self.store().begin().await?;
        let rows = tx
            .applications_in(commune, status, limit.clamp(1, 200))
            .await?;
        let mut views = Vec::new();
        for row in rows {
            views.push(self.application_view(&mut tx, &row.id).await?);
        }
        tx.commit().await?;
        Ok(views)
    }

    /// Enrolments matching `filter` (reports, recertification lists, a person's programs).
    pub async fn enrolments(
        &self,
        actor: &Actor,
        filter: &EnrolmentFilter,
        limit: u32,
    ) -> Result<Vec<EnrolmentRow>, ServiceError> {
        match filter.commune {
            Some(commune) => authorize_read(actor, commune)?,
            None if actor.scope == dspp_domain::Scope::National
                && actor.role.may_read_registry() => {}
            None => {
                return Err(ServiceError::Forbidden(
                    "name a commune your scope covers, or act nationally".into(),
                ));
            }
        }
        let mut tx = self.store().begin().await?;
        let rows = tx.enrolments(filter, limit.clamp(1, 100_000)).await?;
        tx.commit().await?;
        Ok(rows)
    }
}
