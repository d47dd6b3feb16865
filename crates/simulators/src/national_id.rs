//! The national ID verification simulator: the Ministry of Interior's ID-card register (a CSV) behind the
//! verification API of docs/protocols/national-id.md.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use unicode_normalization::UnicodeNormalization;

use crate::SimError;
use crate::http::{self, Envelope, Faults, SharedFaults, Via};

/// The verification resource, below the root (direct) or below the X-Road service id.
pub const VERIFY_PATH: &str = "/v1/identity/verify";

/// How many audit entries `/_sim/audit` keeps (the oldest are dropped).
const AUDIT_KEEP: usize = 1000;

/// Sex as printed on the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Female,
    Male,
}

impl Sex {
    pub fn parse(text: &str) -> Option<Sex> {
        match text {
            "female" => Some(Sex::Female),
            "male" => Some(Sex::Male),
            _ => None,
        }
    }
}

/// The register's own state of a card; `expired` is not stored but derived from `expires_on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardStatus {
    Valid,
    Revoked,
    Deceased,
}

/// A date known to the year, the month or the day (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`). Invariant: the parts
/// present form a real calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartialDate {
    year: i32,
    month: Option<u32>,
    day: Option<u32>,
}

impl PartialDate {
    pub fn parse(text: &str) -> Option<PartialDate> {
        let parts: Vec<&str> = text.split('-').collect();
        let number = |part: &str, len: usize| {
            (part.len() == len && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse::<u32>().ok())
                .flatten()
        };
        let (year, month, day) = match parts.as_slice() {
            [y] => (number(y, 4)?, None, None),
            [y, m] => (number(y, 4)?, Some(number(m, 2)?), None),
            [y, m, d] => (number(y, 4)?, Some(number(m, 2)?), Some(number(d, 2)?)),
            _ => return None,
        };
        let year = i32::try_from(year).ok()?;
        NaiveDate::from_ymd_opt(year, month.unwrap_or(1), day.unwrap_or(1))?;
        Some(PartialDate { year, month, day })
    }

    pub fn is_full(&self) -> bool {
        self.day.is_some()
    }

    /// Equal at the coarser of the two precisions: `1975` matches `1975-03-02`, `1975-04` does not.
    pub fn matches(&self, other: &PartialDate) -> bool {
        if self.year != other.year {
            return false;
        }
        match (self.month, other.month) {
            (Some(a), Some(b)) if a != b => return false,
            (Some(_), Some(_)) => {}
            _ => return true,
        }
        match (self.day, other.day) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }
}

impl std::fmt::Display for PartialDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}", self.year)?;
        if let Some(month) = self.month {
            write!(f, "-{month:02}")?;
        }
        if let Some(day) = self.day {
            write!(f, "-{day:02}")?;
        }
        Ok(())
    }
}

/// One ID card in the register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdCard {
    pub id_number: String,
    pub name_km: String,
    pub name_latin: String,
    pub birth_date: PartialDate,
    pub sex: Sex,
    pub status: CardStatus,
    pub expires_on: NaiveDate,
}

/// The CSV row: `id_number,name_km,name_latin,birth_date,sex,status,expires_on`.
#[derive(Debug, Serialize, Deserialize)]
struct CardRow {
    id_number: String,
    name_km: String,
    name_latin: String,
    birth_date: String,
    sex: String,
    status: String,
    expires_on: String,
}

/// `1..=20` ASCII letters and digits: what an ID number may look like on the wire and in the register.
pub fn is_id_number(text: &str) -> bool {
    (1..=20).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Reads a register CSV (with a header row), refusing bad rows and duplicate ID numbers with the line.
pub fn read_cards(reader: impl Read) -> Result<Vec<IdCard>, SimError> {
    let mut csv = csv::Reader::from_reader(reader);
    let mut cards = Vec::new();
    let mut seen = HashMap::new();
    for (index, row) in csv.deserialize::<CardRow>().enumerate() {
        let line = index + 2;
        let bad = |reason: String| SimError::Data { line, reason };
        let row = row.map_err(|error| bad(error.to_string()))?;
        if !is_id_number(&row.id_number) {
            return Err(bad("id_number must be 1 to 20 letters and digits".into()));
        }
        if row.name_km.trim().is_empty() || row.name_latin.trim().is_empty() {
            return Err(bad("name_km and name_latin must not be empty".into()));
        }
        let birth_date = PartialDate::parse(&row.birth_date)
            .ok_or_else(|| bad("birth_date must be YYYY, YYYY-MM or YYYY-MM-DD".into()))?;
        let sex = Sex::parse(&row.sex).ok_or_else(|| bad("sex must be female or male".into()))?;
        let status = match row.status.as_str() {
            "valid" => CardStatus::Valid,
            "revoked" => CardStatus::Revoked,
            "deceased" => CardStatus::Deceased,
            _ => return Err(bad("status must be valid, revoked or deceased".into())),
        };
        let expires_on = NaiveDate::parse_from_str(&row.expires_on, "%Y-%m-%d")
            .map_err(|_| bad("expires_on must be YYYY-MM-DD".into()))?;
        if let Some(first) = seen.insert(row.id_number.clone(), line) {
            return Err(bad(format!("id_number repeats the card on line {first}")));
        }
        cards.push(IdCard {
            id_number: row.id_number,
            name_km: row.name_km,
            name_latin: row.name_latin,
            birth_date,
            sex,
            status,
            expires_on,
        });
    }
    Ok(cards)
}

pub fn load_cards(path: &Path) -> Result<Vec<IdCard>, SimError> {
    let file = std::fs::File::open(path).map_err(|source| SimError::Io {
        path: path.display().to_string(),
        source,
    })?;
    read_cards(file).map_err(|error| match error {
        SimError::Data { line, reason } => SimError::DataFile {
            path: path.display().to_string(),
            line,
            reason,
        },
        other => other,
    })
}

/// Writes cards in the register's CSV format.
pub fn write_cards(writer: impl std::io::Write, cards: &[IdCard]) -> Result<(), SimError> {
    let mut csv = csv::Writer::from_writer(writer);
    for card in cards {
        csv.serialize(CardRow {
            id_number: card.id_number.clone(),
            name_km: card.name_km.clone(),
            name_latin: card.name_latin.clone(),
            birth_date: card.birth_date.to_string(),
            sex: match card.sex {
                Sex::Female => "female".into(),
                Sex::Male => "male".into(),
            },
            status: match card.status {
                CardStatus::Valid => "valid".into(),
                CardStatus::Revoked => "revoked".into(),
                CardStatus::Deceased => "deceased".into(),
            },
            expires_on: card.expires_on.format("%Y-%m-%d").to_string(),
        })
        .map_err(|error| SimError::Write(error.to_string()))?;
    }
    csv.flush()
        .map_err(|error| SimError::Write(error.to_string()))
}

/// Khmer name comparison form: NFC, and every run of whitespace or zero-width space (which Khmer text
/// uses between words) as one space, none at the ends.
pub fn normalize_khmer(name: &str) -> String {
    let composed: String = name.nfc().collect();
    composed
        .split(|c: char| c.is_whitespace() || c == '\u{200B}' || c == '\u{FEFF}')
        .filter(|token| !token.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Latin name comparison form: upper case, tokens sorted, so `Sok Dara` equals `DARA SOK`.
pub fn normalize_latin(name: &str) -> Vec<String> {
    let mut tokens: Vec<String> = name
        .split_whitespace()
        .map(|token| token.to_uppercase())
        .collect();
    tokens.sort();
    tokens
}

/// A validated verification request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub request_id: uuid::Uuid,
    pub purpose: Option<String>,
    pub id_number: String,
    pub name_km: Option<String>,
    pub name_latin: Option<String>,
    pub birth_date: Option<PartialDate>,
    pub sex: Option<Sex>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuestionWire {
    request_id: String,
    #[serde(default)]
    purpose: Option<String>,
    id_number: String,
    #[serde(default)]
    name_km: Option<String>,
    #[serde(default)]
    name_latin: Option<String>,
    #[serde(default)]
    birth_date: Option<String>,
    #[serde(default)]
    sex: Option<String>,
}

impl Question {
    /// Checks every field and reports every problem at once, naming the fields (not their values).
    fn from_wire(wire: QuestionWire) -> Result<Question, String> {
        let mut problems = Vec::new();
        let request_id = uuid::Uuid::parse_str(&wire.request_id)
            .map_err(|_| problems.push("request_id must be a UUID".to_owned()))
            .ok();
        if !is_id_number(&wire.id_number) {
            problems.push("id_number must be 1 to 20 letters and digits".to_owned());
        }
        let mut text = |name: &str, value: Option<String>, max: usize| match value {
            Some(value) if value.trim().is_empty() => {
                problems.push(format!(
                    "{name} is empty: leave it out when it is not known"
                ));
                None
            }
            Some(value) if value.chars().count() > max => {
                problems.push(format!("{name} is longer than {max} characters"));
                None
            }
            other => other,
        };
        let purpose = text("purpose", wire.purpose, 100);
        let name_km = text("name_km", wire.name_km, 200);
        let name_latin = text("name_latin", wire.name_latin, 200);
        let birth_date = match wire.birth_date {
            None => None,
            Some(value) => match PartialDate::parse(&value) {
                Some(date) => Some(date),
                None => {
                    problems.push(
                        "birth_date must be YYYY, YYYY-MM or YYYY-MM-DD and a real date".to_owned(),
                    );
                    None
                }
            },
        };
        let sex = match wire.sex {
            None => None,
            Some(value) => match Sex::parse(&value) {
                Some(sex) => Some(sex),
                None => {
                    problems.push("sex must be \"female\" or \"male\"".to_owned());
                    None
                }
            },
        };
        match request_id {
            Some(request_id) if problems.is_empty() => Ok(Question {
                request_id,
                purpose,
                id_number: wire.id_number,
                name_km,
                name_latin,
                birth_date,
                sex,
            }),
            _ => Err(problems.join("; ")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdStatus {
    Valid,
    NotFound,
    Revoked,
    Deceased,
    Expired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LevelOfAssurance {
    Low,
    Substantial,
    High,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldCheck {
    pub field: String,
    pub compared: bool,
    pub matched: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub request_id: uuid::Uuid,
    pub id_status: IdStatus,
    pub fields: Vec<FieldCheck>,
    pub level_of_assurance: LevelOfAssurance,
    pub checked_at: chrono::DateTime<Utc>,
}

/// Compares a question with the register as of `today`. The level of assurance is derived, eIDAS-like:
/// `high` when the card is valid and a name, the full birth date and the sex were all given and all
/// matched; `substantial` when the card is valid and a name and the birth date (any precision) were given
/// and everything given matched; `low` otherwise (including every card that is not valid).
pub fn check(
    cards: &HashMap<String, IdCard>,
    question: &Question,
    today: NaiveDate,
    now: chrono::DateTime<Utc>,
) -> Answer {
    let card = cards.get(&question.id_number);
    let id_status = match card {
        None => IdStatus::NotFound,
        Some(card) => match card.status {
            CardStatus::Revoked => IdStatus::Revoked,
            CardStatus::Deceased => IdStatus::Deceased,
            CardStatus::Valid if card.expires_on < today => IdStatus::Expired,
            CardStatus::Valid => IdStatus::Valid,
        },
    };
    let compare = |field: &str, given: bool, matched: &dyn Fn(&IdCard) -> bool| {
        let compared = given && card.is_some();
        FieldCheck {
            field: field.to_owned(),
            compared,
            matched: compared && card.is_some_and(matched),
        }
    };
    let fields = vec![
        compare("name_km", question.name_km.is_some(), &|card| {
            question
                .name_km
                .as_deref()
                .is_some_and(|name| normalize_khmer(name) == normalize_khmer(&card.name_km))
        }),
        compare("name_latin", question.name_latin.is_some(), &|card| {
            question
                .name_latin
                .as_deref()
                .is_some_and(|name| normalize_latin(name) == normalize_latin(&card.name_latin))
        }),
        compare("birth_date", question.birth_date.is_some(), &|card| {
            question
                .birth_date
                .is_some_and(|date| date.matches(&card.birth_date))
        }),
        compare("sex", question.sex.is_some(), &|card| {
            question.sex == Some(card.sex)
        }),
    ];
    let all_matched = fields.iter().all(|check| !check.compared || check.matched);
    let name_given = question.name_km.is_some() || question.name_latin.is_some();
    let level_of_assurance = if id_status != IdStatus::Valid || !all_matched {
        LevelOfAssurance::Low
    } else if name_given
        && question.birth_date.is_some_and(|date| date.is_full())
        && question.sex.is_some()
    {
        LevelOfAssurance::High
    } else if name_given && question.birth_date.is_some() {
        LevelOfAssurance::Substantial
    } else {
        LevelOfAssurance::Low
    };
    Answer {
        request_id: question.request_id,
        id_status,
        fields,
        level_of_assurance,
        checked_at: now,
    }
}

/// The simulator's configuration.
#[derive(Debug, Clone)]
pub struct NationalIdConfig {
    pub cards: Vec<IdCard>,
    /// The bearer token every verification must carry.
    pub token: String,
    /// The first this many verifications answer 503.
    pub fail_first: u32,
    /// Faults in force at start (latency, down).
    pub faults: Faults,
    /// The day expiry is judged against; today (UTC) when absent.
    pub today: Option<NaiveDate>,
}

impl NationalIdConfig {
    pub fn new(cards: Vec<IdCard>, token: impl Into<String>) -> NationalIdConfig {
        NationalIdConfig {
            cards,
            token: token.into(),
            fail_first: 0,
            faults: Faults::default(),
            today: None,
        }
    }
}

/// One verification as the Ministry would log it: who asked, why, through what, and the outcome. No
/// personal data beyond what an audit log needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub request_id: Option<uuid::Uuid>,
    pub via: String,
    pub x_road_client: Option<String>,
    pub x_road_service: Option<String>,
    pub x_road_id: Option<String>,
    pub user_id: Option<String>,
    pub purpose: Option<String>,
    pub status: u16,
}

struct NidState {
    cards: HashMap<String, IdCard>,
    token: String,
    fail_first: u32,
    served: AtomicU32,
    faults: SharedFaults,
    today: Option<NaiveDate>,
    audit: Mutex<Vec<AuditEntry>>,
}

/// The simulator's routes: `POST /v1/identity/verify`, the same below `/r1/{5 parts of the service id}`,
/// and the control routes `POST /_sim/faults`, `GET /_sim/faults`, `GET /_sim/audit`.
pub fn national_id_router(config: NationalIdConfig) -> Router {
    let cards = config
        .cards
        .into_iter()
        .map(|card| (card.id_number.clone(), card))
        .collect();
    let state = Arc::new(NidState {
        cards,
        token: config.token,
        fail_first: config.fail_first,
        served: AtomicU32::new(0),
        faults: Arc::new(Mutex::new(config.faults)),
        today: config.today,
        audit: Mutex::new(Vec::new()),
    });
    Router::new()
        .route(VERIFY_PATH, post(verify_direct))
        .route(
            &format!(
                "/r1/{{instance}}/{{class}}/{{member}}/{{subsystem}}/{{service}}{VERIFY_PATH}"
            ),
            post(verify_x_road),
        )
        .route("/_sim/faults", post(post_faults).get(get_faults))
        .route("/_sim/audit", get(get_audit))
        .with_state(state)
}

/// Serves the simulator on `listener` until `cancel` fires, then lets requests in flight finish.
pub async fn serve_national_id(
    listener: TcpListener,
    config: NationalIdConfig,
    cancel: CancellationToken,
) -> Result<(), SimError> {
    axum::serve(listener, national_id_router(config))
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await
        .map_err(|source| SimError::Io {
            path: "listener".into(),
            source,
        })
}

async fn verify_direct(
    State(state): State<Arc<NidState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    verify(&state, Via::Direct, &headers, &body).await
}

async fn verify_x_road(
    State(state): State<Arc<NidState>>,
    UrlPath((instance, class, member, subsystem, service)): UrlPath<(
        String,
        String,
        String,
        String,
        String,
    )>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let service = format!("{instance}/{class}/{member}/{subsystem}/{service}");
    verify(&state, Via::XRoad { service }, &headers, &body).await
}

async fn verify(state: &NidState, via: Via, headers: &HeaderMap, body: &Bytes) -> Response {
    let envelope = match http::check_envelope(&via, headers) {
        Ok(envelope) => envelope,
        Err(response) => return response,
    };
    let (response, request_id, purpose) = answer(state, headers, body).await;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let entry = AuditEntry {
        request_id,
        via: match via {
            Via::Direct => "direct".into(),
            Via::XRoad { .. } => "x-road".into(),
        },
        x_road_client: envelope.as_ref().map(|e: &Envelope| e.client.clone()),
        x_road_service: envelope.as_ref().map(|e| e.service.clone()),
        x_road_id: envelope.as_ref().map(|e| e.message_id.clone()),
        user_id: header("x-road-userid"),
        purpose: purpose.or_else(|| header("x-purpose")),
        status: response.status().as_u16(),
    };
    tracing::info!(
        request_id = ?entry.request_id,
        via = %entry.via,
        user_id = entry.user_id.as_deref(),
        purpose = entry.purpose.as_deref(),
        status = entry.status,
        "verification"
    );
    {
        let mut audit = http::lock(&state.audit);
        if audit.len() >= AUDIT_KEEP {
            audit.remove(0);
        }
        audit.push(entry);
    }
    http::with_envelope(response, envelope.as_ref())
}

async fn answer(
    state: &NidState,
    headers: &HeaderMap,
    body: &Bytes,
) -> (Response, Option<uuid::Uuid>, Option<String>) {
    if let Some(response) = http::injected_fault(&state.faults).await {
        return (response, None, None);
    }
    if state.served.fetch_add(1, Ordering::SeqCst) < state.fail_first {
        return (
            http::unavailable("temporary failure (--fail-first)"),
            None,
            None,
        );
    }
    if let Err(response) = http::check_bearer(headers, &state.token) {
        return (response, None, None);
    }
    let wire: QuestionWire = match http::parse_json(headers, body) {
        Ok(wire) => wire,
        Err(response) => return (response, None, None),
    };
    let question = match Question::from_wire(wire) {
        Ok(question) => question,
        Err(problems) => {
            return (
                http::problem(StatusCode::UNPROCESSABLE_ENTITY, problems),
                None,
                None,
            );
        }
    };
    let now = Utc::now();
    let today = state.today.unwrap_or_else(|| now.date_naive());
    let answer = check(&state.cards, &question, today, now);
    (
        Json(answer).into_response(),
        Some(question.request_id),
        question.purpose,
    )
}

async fn post_faults(
    State(state): State<Arc<NidState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    http::update_faults(&state.faults, &headers, &body)
}

async fn get_faults(State(state): State<Arc<NidState>>) -> Response {
    Json(http::lock(&state.faults).clone()).into_response()
}

async fn get_audit(State(state): State<Arc<NidState>>) -> Response {
    Json(http::lock(&state.audit).clone()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> IdCard {
        IdCard {
            id_number: "010203045".into(),
            name_km: "សុខ ដារ៉ា".into(),
            name_latin: "SOK DARA".into(),
            birth_date: PartialDate::parse("1980-05-17").unwrap(),
            sex: Sex::Male,
            status: CardStatus::Valid,
            expires_on: NaiveDate::from_ymd_opt(2030, 1, 1).unwrap(),
        }
    }

    fn ask(card: IdCard, question: Question) -> Answer {
        let cards = HashMap::from([(card.id_number.clone(), card)]);
        let today = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        check(&cards, &question, today, chrono::DateTime::UNIX_EPOCH)
    }

    fn question() -> Question {
        Question {
            request_id: uuid::Uuid::nil(),
            purpose: None,
            id_number: "010203045".into(),
            name_km: None,
            name_latin: None,
            birth_date: None,
            sex: None,
        }
    }

    fn summary(answer: &Answer) -> String {
        let fields: Vec<String> = answer
            .fields
            .iter()
            .map(|f| {
                let mark = match (f.compared, f.matched) {
                    (false, _) => "-",
                    (true, true) => "=",
                    (true, false) => "x",
                };
                format!("{}{mark}", f.field)
            })
            .collect();
        format!(
            "{:?} {:?} {}",
            answer.id_status,
            answer.level_of_assurance,
            fields.join(" ")
        )
    }

    #[test]
    fn levels_of_assurance_follow_what_was_given_and_matched() {
        let full = Question {
            name_km: Some("សុខ ដារ៉ា".into()),
            birth_date: PartialDate::parse("1980-05-17"),
            sex: Some(Sex::Male),
            ..question()
        };
        let cases = [
            (
                full.clone(),
                "Valid High name_km= name_latin- birth_date= sex=",
            ),
            (
                Question {
                    birth_date: PartialDate::parse("1980"),
                    ..full.clone()
                },
                "Valid Substantial name_km= name_latin- birth_date= sex=",
            ),
            (
                Question {
                    sex: Some(Sex::Female),
                    ..full.clone()
                },
                "Valid Low name_km= name_latin- birth_date= sexx",
            ),
            (
                question(),
                "Valid Low name_km- name_latin- birth_date- sex-",
            ),
            (
                Question {
                    id_number: "999".into(),
                    ..full.clone()
                },
                "NotFound Low name_km- name_latin- birth_date- sex-",
            ),
        ];
        for (question, expected) in cases {
            assert_eq!(summary(&ask(card(), question)), expected);
        }
        let revoked = IdCard {
            status: CardStatus::Revoked,
            ..card()
        };
        assert_eq!(
            summary(&ask(revoked, full.clone())),
            "Revoked Low name_km= name_latin- birth_date= sex="
        );
        let expired = IdCard {
            expires_on: NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
            ..card()
        };
        assert_eq!(
            summary(&ask(expired, full)),
            "Expired Low name_km= name_latin- birth_date= sex="
        );
    }

    #[test]
    fn names_compare_after_normalisation() {
        // Decomposed vs composed, extra and zero-width spaces.
        assert_eq!(normalize_khmer(" សុខ\u{200B}  ដារ៉ា "), "សុខ ដារ៉ា");
        assert_eq!(normalize_khmer("e\u{301}"), "\u{e9}");
        assert_eq!(normalize_latin("Dara  sok"), normalize_latin("SOK DARA"));
        assert_ne!(normalize_latin("SOK DARA"), normalize_latin("SOK DARAH"));
        assert_ne!(normalize_latin("SOK SOK DARA"), normalize_latin("SOK DARA"));
    }

    #[test]
    fn dates_compare_at_the_coarser_precision() {
        let date = |text| PartialDate::parse(text).unwrap();
        assert!(date("1980").matches(&date("1980-05-17")));
        assert!(date("1980-05").matches(&date("1980-05-17")));
        assert!(!date("1980-06").matches(&date("1980-05-17")));
        assert!(!date("1981").matches(&date("1980-05-17")));
        assert!(date("1980-05-17").matches(&date("1980-05-17")));
        assert!(!date("1980-05-18").matches(&date("1980-05-17")));
        for bad in ["1980-02-30", "80", "1980-5", "1980-05-17-1", "", "198O"] {
            assert_eq!(PartialDate::parse(bad), None, "{bad}");
        }
        assert_eq!(date("1980-05").to_string(), "1980-05");
    }

    #[test]
    fn questions_report_every_bad_field_at_once() {
        let wire = QuestionWire {
            request_id: "nope".into(),
            purpose: Some(" ".into()),
            id_number: "01-02".into(),
            name_km: None,
            name_latin: None,
            birth_date: Some("1980-13".into()),
            sex: Some("M".into()),
        };
        assert_eq!(
            Question::from_wire(wire).unwrap_err(),
            "request_id must be a UUID; id_number must be 1 to 20 letters and digits; \
             purpose is empty: leave it out when it is not known; \
             birth_date must be YYYY, YYYY-MM or YYYY-MM-DD and a real date; sex must be \"female\" or \"male\""
        );
    }

    #[test]
    fn the_register_csv_round_trips_and_refuses_duplicates() {
        let mut bytes = Vec::new();
        write_cards(&mut bytes, &[card()]).unwrap();
        assert_eq!(read_cards(bytes.as_slice()).unwrap(), vec![card()]);
        let mut twice = Vec::new();
        write_cards(&mut twice, &[card(), card()]).unwrap();
        match read_cards(twice.as_slice()) {
            Err(SimError::Data { line, reason }) => {
                assert_eq!(
                    (line, reason.as_str()),
                    (3, "id_number repeats the card on line 2")
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
