//! The program operator simulator: receives approved enrolments (docs/protocols/operator-delivery.md),
//! at most one beneficiary per `Idempotency-Key`, with an optional JSON-lines journal that survives
//! restarts.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::SimError;
use crate::http::{self, Faults, SharedFaults, Via};
use crate::national_id::{PartialDate, Sex};

/// The delivery resource, below the root (direct) or below the X-Road service id.
pub const ENROLMENTS_PATH: &str = "/enrolments";

/// The simulator's configuration.
#[derive(Debug, Clone)]
pub struct OperatorConfig {
    /// When set, deliveries must carry `Authorization: Bearer {token}`.
    pub token: Option<String>,
    /// Every key's first this many attempts answer 503.
    pub fail_first: u32,
    pub faults: Faults,
    /// Appended with one JSON line per delivery and replay, and read back at start.
    pub journal: Option<PathBuf>,
    /// Program codes this operator runs; empty accepts any.
    pub programs: Vec<String>,
    /// Beneficiary ids are `{prefix}-{sequence:07}`.
    pub beneficiary_prefix: String,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        OperatorConfig {
            token: None,
            fail_first: 0,
            faults: Faults::default(),
            journal: None,
            programs: Vec::new(),
            beneficiary_prefix: "BEN".into(),
        }
    }
}

/// What `GET /_sim/received` lists: one entry per key that was accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedDelivery {
    pub key: String,
    pub program_code: String,
    pub spid: String,
    pub beneficiary_id: String,
    /// Every request under this key, failed ones and replays included.
    pub attempts: u32,
    /// Requests after the first accepted one.
    pub replays: u32,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
}

/// One journal line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum JournalLine {
    Received {
        key: String,
        beneficiary_id: String,
        at: DateTime<Utc>,
        body: Value,
    },
    Replay {
        key: String,
        at: DateTime<Utc>,
    },
}

struct Stored {
    entry: ReceivedDelivery,
    body: Value,
}

#[derive(Default)]
struct Book {
    stored: HashMap<String, Stored>,
    attempts: HashMap<String, u32>,
    next_sequence: u64,
}

struct OperatorState {
    token: Option<String>,
    fail_first: u32,
    faults: SharedFaults,
    journal: Option<PathBuf>,
    programs: Vec<String>,
    beneficiary_prefix: String,
    book: Mutex<Book>,
}

fn read_journal(path: &PathBuf) -> Result<Book, SimError> {
    let mut book = Book {
        next_sequence: 1,
        ..Book::default()
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(book),
        Err(source) => {
            return Err(SimError::Io {
                path: path.display().to_string(),
                source,
            });
        }
    };
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line_number = index + 1;
        let bad = |reason: String| SimError::DataFile {
            path: path.display().to_string(),
            line: line_number,
            reason,
        };
        let line = line.map_err(|error| bad(error.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<JournalLine>(&line).map_err(|error| bad(error.to_string()))? {
            JournalLine::Received {
                key,
                beneficiary_id,
                at,
                body,
            } => {
                let text = |name: &str| {
                    body.get(name)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                let entry = ReceivedDelivery {
                    key: key.clone(),
                    program_code: text("program_code"),
                    spid: text("spid"),
                    beneficiary_id,
                    attempts: 1,
                    replays: 0,
                    first_at: at,
                    last_at: at,
                };
                book.stored.insert(key, Stored { entry, body });
                book.next_sequence += 1;
            }
            JournalLine::Replay { key, at } => {
                let stored = book
                    .stored
                    .get_mut(&key)
                    .ok_or_else(|| bad("a replay of a key never received".into()))?;
                stored.entry.attempts += 1;
                stored.entry.replays += 1;
                stored.entry.last_at = at;
            }
        }
    }
    for (key, stored) in &book.stored {
        book.attempts.insert(key.clone(), stored.entry.attempts);
    }
    Ok(book)
}

fn append_journal(path: &PathBuf, line: &JournalLine) -> Result<(), std::io::Error> {
    let mut text = serde_json::to_string(line).map_err(std::io::Error::other)?;
    text.push('\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_data()
}

/// The simulator's routes: `POST /enrolments`, the same below `/r1/{5 parts of the service id}`, and the
/// control routes `POST|GET /_sim/faults` and `GET /_sim/received`. Reads the journal, if any.
pub fn operator_router(config: OperatorConfig) -> Result<Router, SimError> {
    let book = match &config.journal {
        Some(path) => read_journal(path)?,
        None => Book {
            next_sequence: 1,
            ..Book::default()
        },
    };
    let state = Arc::new(OperatorState {
        token: config.token,
        fail_first: config.fail_first,
        faults: Arc::new(Mutex::new(config.faults)),
        journal: config.journal,
        programs: config.programs,
        beneficiary_prefix: config.beneficiary_prefix,
        book: Mutex::new(book),
    });
    Ok(Router::new()
        .route(ENROLMENTS_PATH, post(deliver_direct))
        .route(
            &format!(
                "/r1/{{instance}}/{{class}}/{{member}}/{{subsystem}}/{{service}}{ENROLMENTS_PATH}"
            ),
            post(deliver_x_road),
        )
        .route("/_sim/faults", post(post_faults).get(get_faults))
        .route("/_sim/received", get(get_received))
        .with_state(state))
}

/// Serves the simulator on `listener` until `cancel` fires, then lets requests in flight finish.
pub async fn serve_operator(
    listener: TcpListener,
    config: OperatorConfig,
    cancel: CancellationToken,
) -> Result<(), SimError> {
    let router = operator_router(config)?;
    axum::serve(listener, router)
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await
        .map_err(|source| SimError::Io {
            path: "listener".into(),
            source,
        })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PersonWire {
    #[serde(default)]
    name_km: Option<String>,
    #[serde(default)]
    name_latin: Option<String>,
    sex: String,
    #[serde(default)]
    birth_date: Option<String>,
    village_code: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryWire {
    delivery_id: String,
    program_code: String,
    program_version: String,
    spid: String,
    #[serde(default)]
    household_spid: Option<String>,
    #[serde(deserialize_with = "http::object")]
    person: PersonWire,
    answers: Value,
    approved_at: String,
    approved_by: String,
    #[serde(default)]
    on_behalf_of: Option<String>,
}

fn is_code(text: &str, max: usize) -> bool {
    (1..=max).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Every problem with a delivery at once, naming fields, not values.
fn validate(wire: &DeliveryWire, key: &str, programs: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    match uuid::Uuid::parse_str(&wire.delivery_id) {
        Err(_) => problems.push("delivery_id must be a UUID".to_owned()),
        Ok(id) if id.to_string() != key.to_ascii_lowercase() => {
            problems.push("delivery_id must equal the Idempotency-Key header".to_owned());
        }
        Ok(_) => {}
    }
    if !is_code(&wire.program_code, 32) {
        problems.push("program_code must be 1 to 32 letters, digits, '-' or '_'".to_owned());
    } else if !programs.is_empty() && !programs.contains(&wire.program_code) {
        problems.push("program_code is not a program this operator runs".to_owned());
    }
    if wire.program_version.trim().is_empty() || wire.program_version.chars().count() > 64 {
        problems.push("program_version must be 1 to 64 characters".to_owned());
    }
    if !is_code(&wire.spid, 64) {
        problems.push("spid must be 1 to 64 letters, digits, '-' or '_'".to_owned());
    }
    if let Some(household) = &wire.household_spid
        && !is_code(household, 64)
    {
        problems.push("household_spid must be 1 to 64 letters, digits, '-' or '_'".to_owned());
    }
    let person = &wire.person;
    let blank = |value: &Option<String>| value.as_deref().is_none_or(|text| text.trim().is_empty());
    if blank(&person.name_km) && blank(&person.name_latin) {
        problems.push("person needs name_km or name_latin".to_owned());
    }
    if Sex::parse(&person.sex).is_none() {
        problems.push("person.sex must be \"female\" or \"male\"".to_owned());
    }
    if let Some(date) = &person.birth_date
        && PartialDate::parse(date).is_none()
    {
        problems.push(
            "person.birth_date must be YYYY, YYYY-MM or YYYY-MM-DD and a real date".to_owned(),
        );
    }
    if person.village_code.len() != 8 || !person.village_code.bytes().all(|b| b.is_ascii_digit()) {
        problems.push("person.village_code must be 8 digits".to_owned());
    }
    if !wire.answers.is_object() {
        problems.push("answers must be a JSON object".to_owned());
    }
    if DateTime::parse_from_rfc3339(&wire.approved_at).is_err() {
        problems.push("approved_at must be an RFC 3339 timestamp".to_owned());
    }
    if wire.approved_by.trim().is_empty() {
        problems.push("approved_by must not be empty".to_owned());
    }
    if let Some(on_behalf_of) = &wire.on_behalf_of
        && on_behalf_of.trim().is_empty()
    {
        problems.push("on_behalf_of is empty: leave it out when there is none".to_owned());
    }
    problems
}

async fn deliver_direct(
    State(state): State<Arc<OperatorState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    deliver(&state, Via::Direct, &headers, &body).await
}

async fn deliver_x_road(
    State(state): State<Arc<OperatorState>>,
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
    deliver(&state, Via::XRoad { service }, &headers, &body).await
}

async fn deliver(state: &OperatorState, via: Via, headers: &HeaderMap, body: &Bytes) -> Response {
    let envelope = match http::check_envelope(&via, headers) {
        Ok(envelope) => envelope,
        Err(response) => return response,
    };
    let response = accept(state, headers, body).await;
    tracing::info!(
        key = headers
            .get("idempotency-key")
            .and_then(|value| value.to_str().ok()),
        via = if envelope.is_some() {
            "x-road"
        } else {
            "direct"
        },
        status = response.status().as_u16(),
        "delivery"
    );
    http::with_envelope(response, envelope.as_ref())
}

async fn accept(state: &OperatorState, headers: &HeaderMap, body: &Bytes) -> Response {
    if let Some(response) = http::injected_fault(&state.faults).await {
        return response;
    }
    if let Some(token) = &state.token
        && let Err(response) = http::check_bearer(headers, token)
    {
        return response;
    }
    let key = match headers
        .get("idempotency-key")
        .map(|value| value.to_str().map(str::trim))
    {
        None => {
            return http::problem(
                StatusCode::BAD_REQUEST,
                "the Idempotency-Key header is required (the delivery_id)",
            );
        }
        Some(Ok(key)) if !key.is_empty() && key.len() <= 255 => key.to_owned(),
        Some(_) => {
            return http::problem(
                StatusCode::BAD_REQUEST,
                "the Idempotency-Key header must be 1 to 255 visible ASCII characters",
            );
        }
    };
    {
        let mut book = http::lock(&state.book);
        let attempts = book.attempts.entry(key.clone()).or_insert(0);
        *attempts += 1;
        let attempts = *attempts;
        if let Some(stored) = book.stored.get_mut(&key) {
            stored.entry.attempts = attempts;
        }
        if attempts <= state.fail_first {
            return http::unavailable("temporary failure (--fail-first)");
        }
    }
    let wire: DeliveryWire = match http::parse_json(headers, body) {
        Ok(wire) => wire,
        Err(response) => return response,
    };
    let problems = validate(&wire, &key, &state.programs);
    if !problems.is_empty() {
        return http::problem(StatusCode::UNPROCESSABLE_ENTITY, problems.join("; "));
    }
    // Stored and compared as a JSON value, so key order and spacing do not make two bodies differ.
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return http::problem(StatusCode::BAD_REQUEST, "the body is not JSON");
    };
    let now = Utc::now();
    let mut book = http::lock(&state.book);
    if let Some(stored) = book.stored.get(&key) {
        if stored.body != value {
            return http::problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "a different body was already delivered under this Idempotency-Key",
            );
        }
        if let Some(path) = &state.journal
            && let Err(error) = append_journal(
                path,
                &JournalLine::Replay {
                    key: key.clone(),
                    at: now,
                },
            )
        {
            tracing::error!(%error, "journal write failed");
            return http::problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the journal could not be written",
            );
        }
        let Some(stored) = book.stored.get_mut(&key) else {
            return http::problem(StatusCode::INTERNAL_SERVER_ERROR, "the delivery vanished");
        };
        stored.entry.replays += 1;
        stored.entry.last_at = now;
        let mut response = (
            StatusCode::OK,
            Json(serde_json::json!({
                "beneficiary_id": stored.entry.beneficiary_id,
                "received_at": stored.entry.first_at,
            })),
        )
            .into_response();
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        return response;
    }
    let beneficiary_id = format!("{}-{:07}", state.beneficiary_prefix, book.next_sequence);
    if let Some(path) = &state.journal
        && let Err(error) = append_journal(
            path,
            &JournalLine::Received {
                key: key.clone(),
                beneficiary_id: beneficiary_id.clone(),
                at: now,
                body: value.clone(),
            },
        )
    {
        tracing::error!(%error, "journal write failed");
        return http::problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the journal could not be written",
        );
    }
    book.next_sequence += 1;
    let attempts = book.attempts.get(&key).copied().unwrap_or(1);
    book.stored.insert(
        key.clone(),
        Stored {
            entry: ReceivedDelivery {
                key,
                program_code: wire.program_code,
                spid: wire.spid,
                beneficiary_id: beneficiary_id.clone(),
                attempts,
                replays: 0,
                first_at: now,
                last_at: now,
            },
            body: value,
        },
    );
    (
        StatusCode::CREATED,
        Json(serde_json::json!({ "beneficiary_id": beneficiary_id, "received_at": now })),
    )
        .into_response()
}

async fn post_faults(
    State(state): State<Arc<OperatorState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    http::update_faults(&state.faults, &headers, &body)
}

async fn get_faults(State(state): State<Arc<OperatorState>>) -> Response {
    Json(http::lock(&state.faults).clone()).into_response()
}

async fn get_received(State(state): State<Arc<OperatorState>>) -> Response {
    let book = http::lock(&state.book);
    let mut received: Vec<ReceivedDelivery> = book
        .stored
        .values()
        .map(|stored| stored.entry.clone())
        .collect();
    received.sort_by(|a, b| (a.first_at, &a.key).cmp(&(b.first_at, &b.key)));
    Json(received).into_response()
}
