//! Biometrics in the registry: each person's two thumbs (or an approved exception for a thumb that cannot be
//! captured) and face, stored only sealed; the 1:N duplicate check of every capture against the registry, whose
//! likely duplicates open cases in the same adjudication queue as the biographic ones (`source` fingerprint or
//! face) and hold enrolments the same way; and 1:1 verification of a person at a service point, each recorded.
//!
//! The fingerprint index (`fingerprint::ThumbIndex`: posting lists of MCC hash keys with their poses, votes counted
//! only where they agree on one rotation and translation) is held in memory and
//! catches up on captures changed in the store since it last looked, like the biographic index; its short list is
//! re-ranked with MCC on the candidates' cylinders, sealed beside their templates at capture and read from the store
//! and opened for that search only (thumbs sealed before the cylinders were kept have theirs built from the template).
//! Faces are searched in the configured `face::FaceIndex` (embedded Qdrant Edge by default), kept up to date the same
//! way.
//!
//! Scores are turned into decisions with thresholds measured, not chosen: a thumb pair matches above the highest
//! impostor score of the matcher's shipped calibration (FVC2002 DB2_B); a two-thumb case opens when the thumbs
//! together score above twice that. See BENCHMARKS.md for the error rates behind them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, Utc};
use dspp_domain::{Actor, BiometricStatus, Person, PersonId, Spid};
use dspp_store::{BiometricCheckRow, BiometricRow, Change, Store, Tx};
use dspp_vault::Keyring;
use fingerprint::{
    MccMatcher, MccTemplate, MinutiaeRecord, RecordFormat, ScoreCalibration, ThumbCodes,
    ThumbIndex, ThumbKeys, ThumbSide,
};
use rand::Rng;

use crate::duplicates::{Evidence, EvidenceLine};
use crate::outbox::parse_uuid;
use crate::people::{Warning, check_live, required_reason};
use crate::{Registry, ServiceError, authorize_read, authorize_write, commune_of};

/// The format every stored template is written in, whatever the scanner sent.
pub const TEMPLATE_FORMAT: &str = "iso-19794-2:2005";

/// Fewest minutiae a thumb template may have: below it the capture matches nothing reliably, and the officer
/// captures again or records an exception.
pub const MIN_MINUTIAE: usize = 12;

/// Most captures of one thumb an enrolment sends (the best usable one is kept).
pub const MAX_CAPTURES: usize = 6;

/// Candidates of the fingerprint index re-ranked with MCC per search, at least, unless configured.
const SHORT_LIST: usize = 200;

/// Candidates re-ranked per million enrolled people, where that is more than [`SHORT_LIST`], unless configured: a
/// mate's rank in the index grows with the registry, so a short list of a fixed length finds fewer of them as it
/// grows. At 10 M people the mate is within 100 in 90–94 % of searches, within 1,000 in 93–97 %, within 10,000 in
/// 96–99 % (`crates/fingerprint/BENCHMARKS.md`, session 16), and re-ranking 1,000 costs a capture some 30–35 ms against
/// an index search of 0.6–0.9 s: one in 10,000 (100 a million, 1,000 at 10 M) is where a longer list stops being
/// cheap beside the search.
const SHORT_LIST_PER_MILLION: usize = 100;

/// At most this many candidates per capture open cases (the best ones).
const MAX_CASES_PER_CHECK: usize = 5;

/// Face distances are not calibrated to probabilities (no labelled set of Cambodian faces yet): a face case is
/// opened as undetermined, 0.5, and the reviewer reads the distance in its evidence.
const FACE_CASE_PROBABILITY: f64 = 0.5;

/// The saved fingerprint index: its magic, and the plain bytes sealed per chunk.
const SAVED_INDEX_MAGIC: &[u8; 8] = b"DSPPBIX1";
const SAVED_FACE_KEYS_MAGIC: &[u8; 8] = b"DSPPFKY1";
const SAVED_INDEX_CHUNK: usize = 1 << 20;

/// Captures read per round trip when an index catches up.
const CATCH_UP_PAGE: u32 = 1_000;

/// A fingerprint catch-up applies the thumbs of the pages it read once they number this many (or the store has no
/// more): posting 20,000 thumbs' keys in one batch takes about half the time of posting them one by one, 1,000 at a
/// time little less (`fingerprint`'s `insert_bench`, BENCHMARKS.md); the index's write lock is held for about a second.
const FINGER_APPLY_BATCH: usize = 20_000;

/// See `duplicates::CATCH_UP_OVERLAP`: commits land out of timestamp order.
const CATCH_UP_OVERLAP: Duration = Duration::seconds(5);

const THUMBS: [Thumb; 2] = [Thumb::Right, Thumb::Left];

/// What the registry needs to handle biometrics.
#[derive(Debug, Clone)]
pub struct BiometricSettings {
    /// Seals templates, embeddings and photos at rest.
    pub keyring: Keyring,
    /// The face engine and index; without them face captures are refused as not configured.
    pub face: Option<FaceSettings>,
    /// How the fingerprint index is laid out and searched.
    pub fingerprint: FingerprintSettings,
}

/// How the fingerprint index is laid out and searched: what a registry of millions sets to fit its memory and its
/// time (figures for 10 M people in `crates/fingerprint/BENCHMARKS.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FingerprintSettings {
    /// An enrolled thumb posts this share of its key values, (kept, of) (`fingerprint::ThumbIndex::with_share`):
    /// (1, 1), every key, is about 5 × 10⁹ postings at 10 M people with the default list cap (projected from 1 M:
    /// some 22 GB resident, too close to a 24 GB machine's limit);
    /// (1, 2) is 4.05 × 10⁹ postings and 17.3 GB resident, (3, 4) with the default list cap 3.80 × 10⁹ and 17.4 GB,
    /// and finds more mates (measured, `crates/fingerprint/BENCHMARKS.md`). A saved index of another share is not
    /// loaded: the index is rebuilt from the store.
    pub share: (u8, u8),
    /// The longest a posting list grows before its key is no longer posted (`fingerprint::LIST_CAP` by default,
    /// `fingerprint::ThumbIndex::set_list_cap`): no list reaches the default below about half a million people; at
    /// 10 M it drops more than a third of the postings, those a search within the default budget hardly reads, which
    /// lets (3, 4) fit where (1, 2) did. A saved index of another cap is not loaded: the index is rebuilt.
    pub list_cap: u32,
    /// Most postings a search reads per thumb (`fingerprint::HIT_BUDGET` by default): a search's time grows with
    /// it, and in a large population so does its recall (at 10 M people, (3, 4): 13.5 M postings find 1.5 points
    /// more of the dev set's mates than 9 M for about 200 ms more a search on 2 cores).
    pub hit_budget: usize,
    /// Candidates of the index re-ranked with MCC, their stored cylinders read and opened, per search, at least:
    /// about 35 µs a candidate on a 2-core machine (70 when the cylinders were built).
    pub short_list: usize,
    /// Candidates re-ranked per million people in the index, where that is more than `short_list`
    /// ([`FingerprintSettings::short_list_for`]; 0: `short_list` whatever the registry's size). At 10 M people the
    /// mate is within 1,000 in 93–97 % of searches, within 100 in 90–94 % (BENCHMARKS.md): the default, 100, re-ranks
    /// 1,000 there.
    pub short_list_per_million: usize,
    /// Threads one search reads the index on.
    pub search_threads: usize,
}

impl Default for FingerprintSettings {
    fn default() -> FingerprintSettings {
        FingerprintSettings {
            share: (1, 1),
            list_cap: fingerprint::LIST_CAP,
            hit_budget: fingerprint::HIT_BUDGET,
            short_list: SHORT_LIST,
            short_list_per_million: SHORT_LIST_PER_MILLION,
            search_threads: 2,
        }
    }
}

impl FingerprintSettings {
    /// Candidates a search re-ranks in an index of `people`: `short_list`, or `short_list_per_million` for each
    /// million of them (rounded up) where that is more.
    pub fn short_list_for(&self, people: usize) -> usize {
        let scaled = (people as u128 * self.short_list_per_million as u128).div_ceil(1_000_000);
        self.short_list
            .max(usize::try_from(scaled).unwrap_or(usize::MAX))
    }

    /// An empty index laid out and searched as these settings say.
    fn empty_index(&self) -> ThumbIndex {
        let mut index = ThumbIndex::with_share(self.share.0, self.share.1);
        index.set_list_cap(self.list_cap);
        index.set_hit_budget(self.hit_budget);
        index
    }
}

/// The face engine, where faces are searched, and how long photos are kept.
#[derive(Debug, Clone)]
pub struct FaceSettings {
    pub engine: Arc<face::FaceEngine>,
    pub index: Arc<dyn face::FaceIndex>,
    /// A photo is kept (sealed) this long after capture, then deleted; its embedding stays.
    pub photo_retention: Duration,
}

/// A thumb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Thumb {
    Right,
    Left,
}

impl Thumb {
    pub fn as_str(self) -> &'static str {
        match self {
            Thumb::Right => "right_thumb",
            Thumb::Left => "left_thumb",
        }
    }

    pub fn parse(text: &str) -> Result<Thumb, ServiceError> {
        match text {
            "right_thumb" => Ok(Thumb::Right),
            "left_thumb" => Ok(Thumb::Left),
            other => Err(ServiceError::invalid(
                "thumb",
                format!("{other:?} is not a thumb; right_thumb or left_thumb"),
            )),
        }
    }
}

/// Why a thumb has no capture. The person still enrols; their other thumb and face carry the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExceptionReason {
    /// Congenitally missing.
    Missing,
    Amputated,
    /// Present, but no usable capture in the allowed attempts (worn, scarred, calloused ridges).
    Unreadable,
    /// Bandaged or injured: to be captured again later.
    Temporary,
}

impl ExceptionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ExceptionReason::Missing => "missing",
            ExceptionReason::Amputated => "amputated",
            ExceptionReason::Unreadable => "unreadable",
            ExceptionReason::Temporary => "temporary",
        }
    }

    pub fn parse(text: &str) -> Result<ExceptionReason, ServiceError> {
        match text {
            "missing" => Ok(ExceptionReason::Missing),
            "amputated" => Ok(ExceptionReason::Amputated),
            "unreadable" => Ok(ExceptionReason::Unreadable),
            "temporary" => Ok(ExceptionReason::Temporary),
            other => Err(ServiceError::invalid(
                "exception.reason",
                format!("{other:?}: missing, amputated, unreadable or temporary"),
            )),
        }
    }
}

/// One thumb as an enrolment sends it.
#[derive(Debug, Clone)]
pub enum ThumbInput {
    /// A minutiae template from the scanner's SDK.
    Template {
        format: RecordFormat,
        bytes: Vec<u8>,
    },
    /// Up to [`MAX_CAPTURES`] images of the thumb (PNG, TIFF, BMP or WSQ) at `dpi`: each is scored for quality, the
    /// best usable one is kept and its minutiae extracted.
    Images { images: Vec<Vec<u8>>, dpi: u16 },
    /// No capture, and why (recorded with the officer who approved it).
    Exception {
        reason: ExceptionReason,
        note: String,
    },
}

/// Both thumbs of one person.
#[derive(Debug, Clone)]
pub struct ThumbsInput {
    pub right: ThumbInput,
    pub left: ThumbInput,
}

/// A thumb ready to store: its template (with the MCC form used for matching) or an exception.
enum PreparedThumb {
    Captured {
        template: Vec<u8>,
        mcc: Box<MccTemplate>,
        quality: u8,
    },
    Exception {
        reason: ExceptionReason,
        note: String,
    },
}

/// What is on record for one part of a person.
#[derive(Debug, Clone, PartialEq)]
pub struct BiometricPartView {
    /// `right_thumb`, `left_thumb` or `face`.
    pub part: String,
    /// `captured` or `exception`.
    pub status: String,
    pub format: Option<String>,
    pub quality: Option<u8>,
    pub exception_reason: Option<String>,
    pub note: Option<String>,
    /// Face: whether the photo is still kept, and until when.
    pub photo_kept_until: Option<DateTime<Utc>>,
    pub captured_at: DateTime<Utc>,
}

/// The answer to a capture: what was stored, the duplicate check's outcome and its warnings.
#[derive(Debug, Clone)]
pub struct CaptureOutcome {
    pub spid: Spid,
    pub parts: Vec<BiometricPartView>,
    /// `unique` or `possible_duplicate`.
    pub status: BiometricStatus,
    /// One per likely duplicate, each naming its case.
    pub warnings: Vec<Warning>,
    /// People compared with MCC (or faces searched) in the check.
    pub compared: usize,
}

/// The answer to a 1:1 verification.
#[derive(Debug, Clone, PartialEq)]
pub struct VerificationOutcome {
    pub spid: Spid,
    pub part: String,
    /// Higher means more alike for fingerprints (MCC similarity); for faces, the distance (lower means more alike).
    pub score: f64,
    pub threshold: f64,
    pub matched: bool,
    /// Fingerprints: the estimated false match rate of accepting at this score (from the shipped calibration).
    pub false_match_rate: Option<f64>,
    pub check_id: String,
}

/// The registry's biometric state: the keys, the fingerprint index, the face settings.
pub(crate) struct Biometrics {
    keyring: Keyring,
    calibration: ScoreCalibration,
    fingers: RwLock<FingerState>,
    fingerprint: FingerprintSettings,
    face: Option<FaceState>,
    /// One catch-up of each index at a time: one that read a page and is still opening its templates must not apply
    /// them after a later one applied newer rows (and a row skipped as applied would then never mend it).
    finger_catch_up: tokio::sync::Mutex<()>,
    face_catch_up: tokio::sync::Mutex<()>,
}

struct FaceState {
    settings: FaceSettings,
    /// Index keys of people (faces are keyed by a number) and how far the index has read the store.
    keys: RwLock<FaceKeys>,
}

#[derive(Default)]
struct FaceKeys {
    keys: Keys,
    mark: Option<(DateTime<Utc>, String)>,
    applied: Applied,
}

/// The rows a catch-up applied lately (id and version), so that the next one, which reads again the last
/// [`CATCH_UP_OVERLAP`] before its mark (commits land out of timestamp order), skips those instead of opening and
/// applying them again (at the peak, hundreds of rows a capture).
#[derive(Clone, Default)]
struct Applied {
    recent: HashMap<String, DateTime<Utc>>,
}

impl Applied {
    /// Whether this version of the row was applied already.
    fn has(&self, row: &BiometricRow) -> bool {
        self.recent.get(&row.id) == Some(&row.updated_at)
    }

    /// Notes rows (id, version) as applied and forgets those the next catch-up, from a mark at `mark`, no longer
    /// reads again.
    fn note(
        &mut self,
        rows: impl IntoIterator<Item = (String, DateTime<Utc>)>,
        mark: Option<DateTime<Utc>>,
    ) {
        self.recent.extend(rows);
        if let Some(at) = mark {
            let from = at - CATCH_UP_OVERLAP;
            self.recent.retain(|_, updated| *updated >= from);
        }
    }
}

/// After a catch-up applied rows up to `after`: its index's `mark` moves on to `after` (never back), and the rows are
/// noted as applied (those the next catch-up, from the mark, no longer reads again are forgotten).
fn advance_mark(
    mark: &mut Option<(DateTime<Utc>, String)>,
    applied: &mut Applied,
    after: &Option<(DateTime<Utc>, String)>,
    rows: impl IntoIterator<Item = (String, DateTime<Utc>)>,
) {
    if mark.as_ref().is_none_or(|mark| after.as_ref() > Some(mark)) {
        mark.clone_from(after);
    }
    applied.note(rows, mark.as_ref().map(|(at, _)| *at));
}

/// The numbers the indexes know people by, given in the order people are first seen (the indexes are rebuilt from
/// the store at start, so the numbers need not outlive the process).
#[derive(Default)]
struct Keys {
    people: Vec<PersonId>,
    key_of: HashMap<PersonId, u64>,
}

impl Keys {
    fn key(&mut self, person: PersonId) -> u64 {
        if let Some(&key) = self.key_of.get(&person) {
            return key;
        }
        let key = self.people.len() as u64;
        self.people.push(person);
        self.key_of.insert(person, key);
        key
    }

    fn person(&self, key: u64) -> Option<PersonId> {
        usize::try_from(key)
            .ok()
            .and_then(|key| self.people.get(key))
            .copied()
    }
}

impl std::fmt::Debug for Biometrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Biometrics")
            .field("keyring", &self.keyring)
            .field("face", &self.face.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct FingerState {
    index: ThumbIndex,
    keys: Keys,
    mark: Option<(DateTime<Utc>, String)>,
    applied: Applied,
}

impl Biometrics {
    pub(crate) fn new(settings: BiometricSettings) -> Result<Biometrics, ServiceError> {
        let calibration = ScoreCalibration::shipped().map_err(|e| {
            ServiceError::Internal(dspp_store::StoreError::Corrupt(format!(
                "the fingerprint matcher's calibration: {e}"
            )))
        })?;
        Ok(Biometrics {
            keyring: settings.keyring,
            calibration,
            fingers: RwLock::new(FingerState {
                index: settings.fingerprint.empty_index(),
                ..FingerState::default()
            }),
            fingerprint: settings.fingerprint,
            face: settings.face.map(|settings| FaceState {
                settings,
                keys: RwLock::default(),
            }),
            finger_catch_up: tokio::sync::Mutex::new(()),
            face_catch_up: tokio::sync::Mutex::new(()),
        })
    }

    /// A thumb pair matches at or above this MCC score: just above the highest impostor score of the shipped
    /// calibration (2,880 impostor pairs; on FVC2002 DB2_B 1.8 % of genuine pairs fall below it).
    pub(crate) fn thumb_threshold(&self) -> f64 {
        self.calibration.highest_impostor().next_up()
    }

    /// A fingerprint case opens when the thumbs together score at or above this: twice the thumb threshold, so one
    /// strongly matching thumb (a person whose other thumb is an exception) can open one too.
    fn case_threshold(&self) -> f64 {
        2.0 * self.thumb_threshold()
    }

    fn seal(&self, plain: &[u8], record: &str) -> Result<Vec<u8>, ServiceError> {
        let nonce: [u8; dspp_vault::NONCE_LEN] = rand::thread_rng().r#gen();
        self.keyring
            .seal(plain, record.as_bytes(), nonce)
            .map_err(|e| internal(format!("sealing: {e}")))
    }

    fn open(&self, sealed: &[u8], record: &str) -> Result<Vec<u8>, ServiceError> {
        open_sealed(&self.keyring, sealed, record)
    }

    fn finger_read<T>(&self, f: impl FnOnce(&FingerState) -> T) -> T {
        match self.fingers.read() {
            Ok(state) => f(&state),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    fn finger_write<T>(&self, f: impl FnOnce(&mut FingerState) -> T) -> T {
        match self.fingers.write() {
            Ok(mut state) => f(&mut state),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Reads every thumb capture changed since the last look and applies it to the fingerprint index.
    async fn catch_up_fingers(&self, store: &Store) -> Result<(), ServiceError> {
        let _one_at_a_time = self.finger_catch_up.lock().await;
        let mut after = self.finger_read(|state| {
            state
                .mark
                .clone()
                .map(|(at, _)| (at - CATCH_UP_OVERLAP, String::new()))
        });
        // Pages read but not yet applied: their thumbs' keys, and their rows (id, version). They are applied together
        // once they hold FINGER_APPLY_BATCH thumbs or the store has no more, so that a large catch-up (the rebuild at
        // start) posts its keys in large batches.
        let mut updates: Vec<(PersonId, Thumb, Option<ThumbKeys>)> = Vec::new();
        let mut ids: Vec<(String, DateTime<Utc>)> = Vec::new();
        loop {
            let mut tx = store.begin().await?;
            let rows = thumb_rows_after(&mut tx, &after).await?;
            tx.commit().await?;
            let full_page = rows.len() == CATCH_UP_PAGE as usize;
            let Some(last) = rows.last() else {
                if updates.is_empty() && ids.is_empty() {
                    return Ok(());
                }
                // The last page was full and nothing followed it: apply what is pending.
                self.apply_finger_pages(
                    &after,
                    std::mem::take(&mut ids),
                    std::mem::take(&mut updates),
                );
                return Ok(());
            };
            after = Some((last.updated_at, last.id.clone()));
            let mut rows = rows;
            self.finger_read(|state| rows.retain(|row| !state.applied.has(row)));
            let mut current = Vec::new();
            for row in rows {
                ids.push((row.id.clone(), row.updated_at));
                if row.replaced_at.is_some() {
                    continue;
                }
                let person = PersonId(parse_uuid(&row.person_id)?);
                let thumb = Thumb::parse(&row.part)?;
                current.push((person, thumb, row));
            }
            // Opening a template and building its keys is ~0.1 ms of processor time: a page of them (and a
            // registry's worth at start-up) runs off the async threads, on every core.
            let keyring = self.keyring.clone();
            updates.extend(
                on_every_core(current, move |(person, thumb, row)| {
                    let code = match with_thumb(&keyring, &row, ThumbKeys::from_mcc) {
                        Ok(keys) => keys,
                        Err(error) => {
                            // A row that does not open (a key missing from the configuration) must not stop
                            // enrolment everywhere: it is left out of the index and reported.
                            tracing::error!(%error, row = %row.id, "a stored thumb template does not open; not indexed");
                            None
                        }
                    };
                    (person, thumb, code)
                })
                .await?,
            );
            if full_page && updates.len() < FINGER_APPLY_BATCH {
                continue;
            }
            self.apply_finger_pages(
                &after,
                std::mem::take(&mut ids),
                std::mem::take(&mut updates),
            );
            if !full_page {
                return Ok(());
            }
        }
    }

    /// Applies the thumbs of the pages a catch-up read up to `after` to the fingerprint index, and notes their rows.
    fn apply_finger_pages(
        &self,
        after: &Option<(DateTime<Utc>, String)>,
        rows: Vec<(String, DateTime<Utc>)>,
        updates: Vec<(PersonId, Thumb, Option<ThumbKeys>)>,
    ) {
        self.finger_write(|state| {
            let batch: Vec<_> = updates
                .into_iter()
                .map(|(person, thumb, code)| {
                    // One thumb changes at a time: the other keeps what the index has.
                    let side = match thumb {
                        Thumb::Right => ThumbSide::Right,
                        Thumb::Left => ThumbSide::Left,
                    };
                    (state.keys.key(person), side, code)
                })
                .collect();
            state.index.insert_thumbs(batch);
            advance_mark(&mut state.mark, &mut state.applied, after, rows);
        });
    }

    /// Reads every face capture changed since the last look and applies it to the face index.
    async fn catch_up_faces(&self, store: &Store) -> Result<(), ServiceError> {
        let Some(face) = &self.face else {
            return Ok(());
        };
        let _one_at_a_time = self.face_catch_up.lock().await;
        let mut after = read_lock(&face.keys, |keys| {
            keys.mark
                .clone()
                .map(|(at, _)| (at - CATCH_UP_OVERLAP, String::new()))
        });
        loop {
            let mut tx = store.begin().await?;
            let rows = tx
                .biometrics_changed_since(&["face"], after.clone(), CATCH_UP_PAGE)
                .await?;
            tx.commit().await?;
            let Some(last) = rows.last() else {
                return Ok(());
            };
            after = Some((last.updated_at, last.id.clone()));
            let full_page = rows.len() == CATCH_UP_PAGE as usize;
            let mut rows = rows;
            read_lock(&face.keys, |keys| rows.retain(|row| !keys.applied.has(row)));
            let mut batch = Vec::new();
            for row in rows.iter().filter(|row| row.replaced_at.is_none()) {
                let person = PersonId(parse_uuid(&row.person_id)?);
                let Some(sealed) = &row.sealed else { continue };
                let embedding = self
                    .open(sealed, &sealing_record(&row.person_id, &row.part))
                    .and_then(|plain| {
                        face::Embedding::from_bytes(&plain)
                            .map_err(|e| internal(format!("stored embedding: {e}")))
                    });
                match embedding {
                    Ok(embedding) => {
                        let key = write_lock(&face.keys, |keys| keys.keys.key(person));
                        batch.push((key, embedding));
                    }
                    Err(error) => {
                        tracing::error!(%error, row = %row.id, "a stored face embedding does not open; not indexed");
                    }
                }
            }
            if !batch.is_empty() {
                let index = face.settings.index.clone();
                tokio::task::spawn_blocking(move || index.upsert_batch(&batch))
                    .await
                    .map_err(|e| internal(format!("face index: {e}")))?
                    .map_err(|e| internal(format!("face index: {e}")))?;
            }
            write_lock(&face.keys, |keys| {
                advance_mark(
                    &mut keys.mark,
                    &mut keys.applied,
                    &after,
                    rows.iter().map(|row| (row.id.clone(), row.updated_at)),
                );
            });
            if !full_page {
                return Ok(());
            }
        }
    }
}

/// What every saved index starts with: its magic, how far it had read the store, and the people its numbers name.
fn write_saved_head(
    out: &mut impl std::io::Write,
    magic: &[u8; 8],
    mark: &Option<(DateTime<Utc>, String)>,
    keys: &Keys,
) -> Result<(), ServiceError> {
    let io = |e: std::io::Error| internal(format!("writing a saved index: {e}"));
    out.write_all(magic).map_err(io)?;
    let (at, id) = mark
        .as_ref()
        .map(|(at, id)| {
            (
                at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                id.clone(),
            )
        })
        .unwrap_or_default();
    for text in [&at, &id] {
        out.write_all(&(text.len() as u32).to_le_bytes())
            .map_err(io)?;
        out.write_all(text.as_bytes()).map_err(io)?;
    }
    out.write_all(&(keys.people.len() as u64).to_le_bytes())
        .map_err(io)?;
    for person in &keys.people {
        out.write_all(person.0.as_bytes()).map_err(io)?;
    }
    Ok(())
}

/// Seals what is written to it in chunks of [`SAVED_INDEX_CHUNK`] bytes, each framed by its length and bound to its
/// position, so a saved index is never all in memory twice and chunks cannot be reordered.
struct SealingWriter<'a, W: std::io::Write> {
    biometrics: &'a Biometrics,
    out: &'a mut W,
    buffer: Vec<u8>,
    chunk: usize,
    failed: Option<ServiceError>,
}

impl<'a, W: std::io::Write> SealingWriter<'a, W> {
    fn new(biometrics: &'a Biometrics, out: &'a mut W) -> SealingWriter<'a, W> {
        SealingWriter {
            biometrics,
            out,
            buffer: Vec::with_capacity(SAVED_INDEX_CHUNK),
            chunk: 0,
            failed: None,
        }
    }

    fn seal_buffer(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let sealed = match self
            .biometrics
            .seal(&self.buffer, &format!("fingerprint-index/{}", self.chunk))
        {
            Ok(sealed) => sealed,
            Err(e) => {
                self.failed = Some(e);
                return Err(std::io::Error::other("sealing failed"));
            }
        };
        self.out.write_all(&(sealed.len() as u32).to_le_bytes())?;
        self.out.write_all(&sealed)?;
        self.buffer.clear();
        self.chunk += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<(), ServiceError> {
        let done = self.seal_buffer().and_then(|()| self.out.flush());
        match (done, self.failed.take()) {
            (_, Some(e)) => Err(e),
            (Err(e), None) => Err(internal(format!("writing the fingerprint index: {e}"))),
            (Ok(()), None) => Ok(()),
        }
    }
}

impl<W: std::io::Write> std::io::Write for SealingWriter<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let room = SAVED_INDEX_CHUNK - self.buffer.len();
        let taken = bytes.len().min(room);
        self.buffer.extend_from_slice(&bytes[..taken]);
        if self.buffer.len() == SAVED_INDEX_CHUNK {
            self.seal_buffer()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads what [`SealingWriter`] wrote, opening one chunk at a time.
struct OpeningReader<'a, R: std::io::Read> {
    biometrics: &'a Biometrics,
    input: &'a mut R,
    plain: Vec<u8>,
    at: usize,
    chunk: usize,
}

impl<'a, R: std::io::Read> OpeningReader<'a, R> {
    fn new(biometrics: &'a Biometrics, input: &'a mut R) -> OpeningReader<'a, R> {
        OpeningReader {
            biometrics,
            input,
            plain: Vec::new(),
            at: 0,
            chunk: 0,
        }
    }
}

impl<R: std::io::Read> std::io::Read for OpeningReader<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.plain.len() {
            let mut length = [0u8; 4];
            match self.input.read_exact(&mut length) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            let length = u32::from_le_bytes(length) as usize;
            if length > SAVED_INDEX_CHUNK + 256 {
                return Err(std::io::Error::other(format!(
                    "chunk {} claims {length} bytes",
                    self.chunk
                )));
            }
            let mut sealed = vec![0u8; length];
            self.input.read_exact(&mut sealed)?;
            self.plain = self
                .biometrics
                .keyring
                .open(
                    &sealed,
                    format!("fingerprint-index/{}", self.chunk).as_bytes(),
                )
                .map_err(|e| std::io::Error::other(format!("chunk {}: {e}", self.chunk)))?;
            self.at = 0;
            self.chunk += 1;
        }
        let n = out.len().min(self.plain.len() - self.at);
        out[..n].copy_from_slice(&self.plain[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn read_lock<S, T>(lock: &RwLock<S>, f: impl FnOnce(&S) -> T) -> T {
    match lock.read() {
        Ok(state) => f(&state),
        Err(poisoned) => f(&poisoned.into_inner()),
    }
}

fn write_lock<S, T>(lock: &RwLock<S>, f: impl FnOnce(&mut S) -> T) -> T {
    match lock.write() {
        Ok(mut state) => f(&mut state),
        Err(poisoned) => f(&mut poisoned.into_inner()),
    }
}

/// One page of thumb rows (current and replaced) changed after `after`, in that order.
async fn thumb_rows_after(
    tx: &mut Tx,
    after: &Option<(DateTime<Utc>, String)>,
) -> Result<Vec<BiometricRow>, ServiceError> {
    Ok(tx
        .biometrics_changed_since(
            &[Thumb::Right.as_str(), Thumb::Left.as_str()],
            after.clone(),
            CATCH_UP_PAGE,
        )
        .await?)
}

/// In a capture's write transaction: past [`dspp_store::Tx::serialize_biometric_checks`] (so that of two captures at
/// once the later sees the earlier), the current rows of `parts` of people other than `own` that the index had not
/// applied when the capture's search asked it: those after its mark, and those of the overlap before it that it had
/// not seen yet (older ones it had all, or would never read either).
async fn late_rows(
    tx: &mut Tx,
    parts: &[&str],
    seen: &IndexSeen,
    own: PersonId,
) -> Result<Vec<BiometricRow>, ServiceError> {
    tx.serialize_biometric_checks().await?;
    let own = own.to_string();
    let mut after = seen
        .mark
        .as_ref()
        .map(|(at, _)| (*at - CATCH_UP_OVERLAP, String::new()));
    let mut late = Vec::new();
    loop {
        let rows = tx
            .biometrics_changed_since(parts, after.clone(), CATCH_UP_PAGE)
            .await?;
        let Some(last) = rows.last() else { break };
        after = Some((last.updated_at, last.id.clone()));
        let full_page = rows.len() == CATCH_UP_PAGE as usize;
        late.extend(rows.into_iter().filter(|row| {
            row.replaced_at.is_none() && row.person_id != own && !seen.applied.has(row)
        }));
        if !full_page {
            break;
        }
    }
    Ok(late)
}

/// A row recorded at `at` for a person's part, with nothing in it yet (the caller sets status and contents).
fn new_row(
    id: String,
    person_id: &str,
    part: &str,
    change_id: &str,
    at: DateTime<Utc>,
) -> BiometricRow {
    BiometricRow {
        id,
        person_id: person_id.into(),
        part: part.into(),
        status: String::new(),
        format: None,
        sealed: None,
        quality: None,
        exception_reason: None,
        note: None,
        photo: None,
        photo_expires_at: None,
        change_id: change_id.into(),
        captured_at: at,
        replaced_at: None,
        updated_at: at,
    }
}

/// Opens what was sealed for `record` (see [`sealing_record`]).
fn open_sealed(keyring: &Keyring, sealed: &[u8], record: &str) -> Result<Vec<u8>, ServiceError> {
    keyring
        .open(sealed, record.as_bytes())
        .map_err(|e| internal(format!("{record}: {e}")))
}

/// What a captured thumb's sealed contents begin with: then the length of its ISO/IEC 19794-2 record (`u32`,
/// little-endian), the record, and the MCC cylinders built from it (`MccTemplate::to_bytes`, some 2.2 kB), so that a
/// search re-ranking stored thumbs reads their cylinders instead of building them again (~6 µs a thumb against ~70 µs,
/// `crates/fingerprint/BENCHMARKS.md`). Thumbs sealed before this layout hold the record alone (which begins
/// `FMR\0`), and cylinders of another `fingerprint::CYLINDER_SCHEME` are built again from the record: both open.
const SEALED_THUMB_MAGIC: &[u8; 8] = b"DSPPTHM1";

/// The plain contents a captured thumb is sealed as: its record and its cylinders ([`SEALED_THUMB_MAGIC`]).
fn sealed_thumb_contents(record: &[u8], mcc: &MccTemplate) -> Result<Vec<u8>, ServiceError> {
    let length =
        u32::try_from(record.len()).map_err(|_| internal("a template of more than 4 GB".into()))?;
    let cylinders = mcc.to_bytes();
    let mut plain =
        Vec::with_capacity(SEALED_THUMB_MAGIC.len() + 4 + record.len() + cylinders.len());
    plain.extend_from_slice(SEALED_THUMB_MAGIC);
    plain.extend_from_slice(&length.to_le_bytes());
    plain.extend_from_slice(record);
    plain.extend_from_slice(&cylinders);
    Ok(plain)
}

/// A thumb's opened contents as its record and, where they were stored with it, its cylinders.
fn split_thumb_contents(plain: &[u8]) -> Result<(&[u8], Option<&[u8]>), String> {
    let Some(rest) = plain.strip_prefix(SEALED_THUMB_MAGIC) else {
        // Sealed before the cylinders were kept: the record alone.
        return Ok((plain, None));
    };
    let (length, rest) = rest
        .split_first_chunk::<4>()
        .ok_or("the contents end inside the record's length")?;
    let length = u32::from_le_bytes(*length) as usize;
    if rest.len() < length {
        return Err(format!(
            "the record's length is {length} bytes but only {} follow",
            rest.len()
        ));
    }
    let (record, cylinders) = rest.split_at(length);
    Ok((record, Some(cylinders)))
}

/// Opens a stored thumb row into its MCC template (`None` for an exception): its stored cylinders where it has them
/// (of this version's scheme), else built from its record.
fn open_thumb(keyring: &Keyring, row: &BiometricRow) -> Result<Option<MccTemplate>, ServiceError> {
    with_thumb(keyring, row, MccTemplate::clone)
}

/// `f` of a stored thumb row's MCC template, opened as [`open_thumb`] opens it (`None` for an exception) but without
/// allocating one: stored cylinders are read into the thread's own template ([`OPENED`]), which a search's re-ranking
/// reads a thousand thumbs into one after another.
fn with_thumb<T>(
    keyring: &Keyring,
    row: &BiometricRow,
    f: impl Fn(&MccTemplate) -> T,
) -> Result<Option<T>, ServiceError> {
    let Some(sealed) = &row.sealed else {
        return Ok(None);
    };
    let plain = open_sealed(keyring, sealed, &sealing_record(&row.person_id, &row.part))?;
    let stored = |e: String| internal(format!("stored template of {}: {e}", row.person_id));
    let (record, cylinders) = split_thumb_contents(&plain).map_err(stored)?;
    if let Some(cylinders) = cylinders {
        match OPENED.with_borrow_mut(|opened| opened.read_bytes(cylinders).map(|()| f(opened))) {
            Ok(result) => return Ok(Some(result)),
            // Stored under another scheme of cylinders: built again from the record below.
            Err(fingerprint::Error::CylinderScheme { .. }) => {}
            Err(e) => return Err(stored(format!("cylinders: {e}"))),
        }
    }
    let record = MinutiaeRecord::decode_iso(record).map_err(|e| stored(e.to_string()))?;
    Ok(record
        .views()
        .first()
        .map(|view| f(&MccTemplate::new(view))))
}

thread_local! {
    /// Each thread's MCC buffers, kept between searches.
    static MATCHER: std::cell::RefCell<MccMatcher> = std::cell::RefCell::new(MccMatcher::new());
    /// Each thread's template that stored cylinders are read into ([`with_thumb`]).
    static OPENED: std::cell::RefCell<MccTemplate> = std::cell::RefCell::new(MccTemplate::default());
}

/// `f` applied to every item, in order, off the async threads: the items split into one run per core, each run on
/// a thread of its own (one run, on the blocking thread itself, when there are few).
async fn on_every_core<I, T, F>(items: Vec<I>, f: F) -> Result<Vec<T>, ServiceError>
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(I) -> T + Send + Sync + 'static,
{
    /// Fewer items than this a run are not worth a thread.
    const LEAST_PER_RUN: usize = 16;
    tokio::task::spawn_blocking(move || {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let runs = cores.min(items.len() / LEAST_PER_RUN).max(1);
        if runs == 1 {
            return items.into_iter().map(&f).collect();
        }
        let per_run = items.len().div_ceil(runs);
        let mut items = items.into_iter();
        let chunks: Vec<Vec<I>> = (0..runs)
            .map(|_| items.by_ref().take(per_run).collect())
            .collect();
        let f = &f;
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|chunk| scope.spawn(move || chunk.into_iter().map(f).collect::<Vec<T>>()))
                .collect();
            handles
                .into_iter()
                .flat_map(|handle| match handle.join() {
                    Ok(results) => results,
                    Err(panic) => std::panic::resume_unwind(panic),
                })
                .collect()
        })
    })
    .await
    .map_err(|e| internal(format!("a biometric worker stopped: {e}")))
}

fn internal(reason: String) -> ServiceError {
    ServiceError::Internal(dspp_store::StoreError::Corrupt(reason))
}

/// What a sealed value is bound to: the person and the part, so a value copied to another row does not open.
fn sealing_record(person_id: &str, part: &str) -> String {
    format!("biometric/{person_id}/{part}")
}

fn not_configured(what: &str) -> ServiceError {
    ServiceError::NotConfigured(format!(
        "{what} are not configured on this server (no biometric key, or no face model)"
    ))
}

/// Checks and prepares one thumb, or says precisely what is wrong with it.
fn prepare_thumb(field: &str, input: ThumbInput) -> Result<PreparedThumb, ServiceError> {
    let bad = |reason: String| ServiceError::invalid(field, reason);
    let template = match input {
        ThumbInput::Exception { reason, note } => {
            let note = note.trim().to_string();
            if note.chars().count() > 500 {
                return Err(bad("the exception's note: at most 500 characters".into()));
            }
            if note.is_empty() {
                return Err(bad(
                    "an exception needs a note saying what the officer saw".into()
                ));
            }
            return Ok(PreparedThumb::Exception { reason, note });
        }
        ThumbInput::Template { format, bytes } => {
            let record = MinutiaeRecord::decode_zero_padded(&bytes, format)
                .map_err(|e| bad(format!("template: {e}")))?;
            let Some(view) = record.into_views().into_iter().next() else {
                return Err(bad("the template has no finger view".into()));
            };
            let quality = view.info().quality;
            (view, quality)
        }
        ThumbInput::Images { images, dpi } => {
            if images.is_empty() || images.len() > MAX_CAPTURES {
                return Err(bad(format!(
                    "{} images sent; send 1 to {MAX_CAPTURES} captures of the thumb",
                    images.len()
                )));
            }
            let mut decoded = Vec::new();
            for (n, bytes) in images.iter().enumerate() {
                let image = fingerprint::FingerImage::decode(bytes, dpi)
                    .map_err(|e| bad(format!("image {}: {e}", n + 1)))?;
                decoded.push(image);
            }
            let qualities: Vec<fingerprint::Quality> =
                decoded.iter().map(fingerprint::assess).collect();
            let best = fingerprint::best_capture(&qualities).map_err(|refusals| {
                let reasons: Vec<String> = refusals
                    .iter()
                    .enumerate()
                    .map(|(n, refusal)| format!("image {}: {refusal}", n + 1))
                    .collect();
                bad(format!(
                    "no usable capture ({}); capture again, or record an exception if the print cannot be read",
                    reasons.join("; ")
                ))
            })?;
            let image = decoded
                .get(best)
                .ok_or_else(|| bad("no usable capture".into()))?;
            let quality = qualities.get(best).map_or(0, |q| q.score);
            let view = fingerprint::extract(image, fingerprint::ViewInfo::default())
                .map_err(|e| bad(format!("minutiae extraction: {e}")))?;
            (view, quality)
        }
    };
    let (template, quality) = template;
    let minutiae = template.minutiae().len();
    if minutiae < MIN_MINUTIAE {
        return Err(bad(format!(
            "{minutiae} minutiae found, at least {MIN_MINUTIAE} needed: capture again (clean the finger and the \
             scanner, press flat), or record an exception if the print cannot be read"
        )));
    }
    let stored = MinutiaeRecord::parse(0, 0, vec![template])
        .map_err(|e| bad(format!("template: {e}")))?
        .encode(RecordFormat::Iso19794_2_2005);
    // The cylinders of the record as stored (ISO/IEC 19794-2 keeps directions to 1.4°): those a search compares
    // with, those sealed beside the record, and those the record alone builds again.
    let mcc = MinutiaeRecord::decode_iso(&stored)
        .map_err(|e| {
            internal(format!(
                "a template re-encoded as ISO/IEC 19794-2 does not decode: {e}"
            ))
        })?
        .views()
        .first()
        .map(|view| Box::new(MccTemplate::new(view)))
        .ok_or_else(|| internal("a template re-encoded as ISO/IEC 19794-2 has no view".into()))?;
    Ok(PreparedThumb::Captured {
        template: stored,
        mcc,
        quality,
    })
}

fn part_view(row: &BiometricRow) -> BiometricPartView {
    BiometricPartView {
        part: row.part.clone(),
        status: row.status.clone(),
        format: row.format.clone(),
        quality: row.quality.and_then(|q| u8::try_from(q).ok()),
        exception_reason: row.exception_reason.clone(),
        note: row.note.clone(),
        photo_kept_until: row.photo.as_ref().and(row.photo_expires_at),
        captured_at: row.captured_at,
    }
}

/// A likely duplicate an engine found, ready to open a case.
struct Found {
    other: PersonId,
    probability: f64,
    proposal: &'static str,
    /// How it was found, for the officer: "fingerprints (right_thumb=…)".
    what: String,
    evidence: Evidence,
}

/// A person's fingerprint match with another: each thumb's MCC score and what it weighs.
struct FingerMatch {
    other: PersonId,
    right: Option<f64>,
    left: Option<f64>,
}

/// How far an index had read the store (its mark) and the rows of the overlap before the mark it had applied, when a
/// capture's search asked it: what the capture's late check must compare again ([`late_rows`]).
struct IndexSeen {
    mark: Option<(DateTime<Utc>, String)>,
    applied: Applied,
}

/// A capture's fingerprint search: its probe, the MCC scores found so far, and what the index had applied when it
/// answered.
struct FingerSearch {
    probe: Arc<[Option<Box<MccTemplate>>; 2]>,
    scores: HashMap<PersonId, [Option<f64>; 2]>,
    /// People the index short-listed.
    compared: usize,
    seen: IndexSeen,
}

impl FingerSearch {
    /// Opens and compares these stored thumb rows with the probe (off the async threads, on every core); a later
    /// row's score replaces an earlier one's for the same person and thumb.
    async fn score(
        &mut self,
        biometrics: &Biometrics,
        rows: Vec<BiometricRow>,
    ) -> Result<(), ServiceError> {
        let mut compared = Vec::new();
        for row in rows {
            let (Ok(thumb), Ok(other)) = (Thumb::parse(&row.part), parse_uuid(&row.person_id))
            else {
                continue;
            };
            let slot = match thumb {
                Thumb::Right => 0,
                Thumb::Left => 1,
            };
            if self.probe[slot].is_some() {
                compared.push((PersonId(other), slot, row));
            }
        }
        let keyring = biometrics.keyring.clone();
        let probe = Arc::clone(&self.probe);
        let scored = on_every_core(compared, move |(other, slot, row)| {
            let Some(probe) = probe.get(slot).and_then(Option::as_deref) else {
                return Ok(None);
            };
            let score = with_thumb(&keyring, &row, |enrolled| {
                MATCHER.with_borrow_mut(|matcher| matcher.similarity(probe, enrolled))
            })?;
            Ok::<_, ServiceError>(score.map(|score| (other, slot, score)))
        })
        .await?;
        for score in scored {
            if let Some((other, slot, score)) = score? {
                self.scores.entry(other).or_default()[slot] = Some(score);
            }
        }
        Ok(())
    }

    /// Everyone whose thumbs together score at or above the case threshold, best first.
    fn matches(&self, biometrics: &Biometrics) -> Vec<FingerMatch> {
        let mut found: Vec<FingerMatch> = self
            .scores
            .iter()
            .map(|(&other, &[right, left])| FingerMatch { other, right, left })
            .filter(|candidate| candidate.fused() >= biometrics.case_threshold())
            .collect();
        found.sort_by(|a, b| {
            b.fused()
                .total_cmp(&a.fused())
                .then(a.other.0.cmp(&b.other.0))
        });
        found
    }
}

impl FingerMatch {
    fn fused(&self) -> f64 {
        self.right.unwrap_or(0.0) + self.left.unwrap_or(0.0)
    }
}

impl Registry {
    /// Whether this server captures and searches faces.
    pub fn faces_configured(&self) -> bool {
        self.biometrics
            .as_deref()
            .is_some_and(|biometrics| biometrics.face.is_some())
    }

    pub(crate) fn biometrics(&self) -> Result<&Biometrics, ServiceError> {
        self.biometrics
            .as_deref()
            .ok_or_else(|| not_configured("biometrics"))
    }

    /// Brings the fingerprint and face indexes up to date with the store (all of it, at start) and returns how many
    /// people each holds: `dspp serve` calls it before serving, so the first capture does not pay for the load.
    pub async fn biometric_index_sizes(&self) -> Result<(usize, usize), ServiceError> {
        let Some(biometrics) = self.biometrics.as_deref() else {
            return Ok((0, 0));
        };
        biometrics.catch_up_fingers(self.store()).await?;
        biometrics.catch_up_faces(self.store()).await?;
        let fingers = biometrics.finger_read(|state| state.index.len());
        let faces = biometrics.face.as_ref().map_or(0, |face| {
            read_lock(&face.keys, |keys| keys.keys.people.len())
        });
        Ok((fingers, faces))
    }

    /// Brings the fingerprint index up to date and writes it with how far it has read the store, sealed chunk by
    /// chunk (the codes derive from fingerprints), so that a restart loads it and reads only what changed since
    /// instead of opening every template again.
    pub async fn save_fingerprint_index(
        &self,
        out: &mut impl std::io::Write,
    ) -> Result<(), ServiceError> {
        let biometrics = self.biometrics()?;
        biometrics.catch_up_fingers(self.store()).await?;
        let mut sealed = SealingWriter::new(biometrics, out);
        biometrics.finger_read(|state| -> Result<(), ServiceError> {
            write_saved_head(&mut sealed, SAVED_INDEX_MAGIC, &state.mark, &state.keys)?;
            state
                .index
                .write_to(&mut sealed)
                .map_err(|e| internal(format!("fingerprint index: {e}")))
        })?;
        sealed.finish()
    }

    /// Loads what [`Registry::save_fingerprint_index`] wrote, if it belongs to this database (the last capture it had
    /// read exists here); the next catch-up reads only what changed since. Returns the people loaded.
    pub async fn load_fingerprint_index(
        &self,
        input: &mut impl std::io::Read,
    ) -> Result<usize, ServiceError> {
        let biometrics = self.biometrics()?;
        let mut reader = OpeningReader::new(biometrics, input);
        let (mark, keys) = self.read_saved_head(&mut reader, SAVED_INDEX_MAGIC).await?;
        let mut index = ThumbIndex::read_from(&mut reader)
            .map_err(|e| ServiceError::invalid("saved index", e.to_string()))?;
        let configured = biometrics.fingerprint.empty_index();
        if index.share() != configured.share() {
            let ((kept, of), (ckept, cof)) = (index.share(), configured.share());
            return Err(ServiceError::invalid(
                "saved index",
                format!(
                    "it posts {kept} key values in {of}, the configuration {ckept} in {cof}: the index is rebuilt \
                     from the store"
                ),
            ));
        }
        if index.list_cap() != configured.list_cap() {
            let (cap, configured) = (index.list_cap(), configured.list_cap());
            return Err(ServiceError::invalid(
                "saved index",
                format!(
                    "its lists grow to {cap} postings, the configuration's to {configured}: the index is rebuilt \
                     from the store"
                ),
            ));
        }
        index.set_hit_budget(biometrics.fingerprint.hit_budget);
        let loaded = index.len();
        // (Not in the middle of a catch-up.)
        let _one_at_a_time = biometrics.finger_catch_up.lock().await;
        biometrics.finger_write(|state| {
            *state = FingerState {
                index,
                keys,
                mark,
                applied: Applied::default(),
            };
        });
        Ok(loaded)
    }

    /// Brings the face index up to date and writes which person each of its points is and how far it has read the
    /// store (the points themselves persist in the face index's own files), sealed like the fingerprint index.
    /// Before writing, the index builds its search structures for what it received since (and trains its cells
    /// once it holds enough faces).
    pub async fn save_face_keys(&self, out: &mut impl std::io::Write) -> Result<(), ServiceError> {
        let (biometrics, face) = self.face()?;
        biometrics.catch_up_faces(self.store()).await?;
        let index = face.settings.index.clone();
        tokio::task::spawn_blocking(move || index.optimize())
            .await
            .map_err(|e| internal(format!("face index: {e}")))?
            .map_err(|e| internal(format!("face index: {e}")))?;
        let mut sealed = SealingWriter::new(biometrics, out);
        read_lock(&face.keys, |keys| {
            write_saved_head(&mut sealed, SAVED_FACE_KEYS_MAGIC, &keys.mark, &keys.keys)
        })?;
        sealed.finish()
    }

    /// Loads what [`Registry::save_face_keys`] wrote, if it belongs to this database; the next catch-up upserts only
    /// the faces changed since. Returns the faces known.
    pub async fn load_face_keys(
        &self,
        input: &mut impl std::io::Read,
    ) -> Result<usize, ServiceError> {
        let (biometrics, face) = self.face()?;
        let mut reader = OpeningReader::new(biometrics, input);
        let (mark, keys) = self
            .read_saved_head(&mut reader, SAVED_FACE_KEYS_MAGIC)
            .await?;
        let known = keys.people.len();
        let _one_at_a_time = biometrics.face_catch_up.lock().await;
        write_lock(&face.keys, |state| {
            *state = FaceKeys {
                keys,
                mark,
                applied: Applied::default(),
            }
        });
        Ok(known)
    }

    /// Reads the head [`write_saved_head`] wrote and checks that it belongs to this database.
    async fn read_saved_head(
        &self,
        reader: &mut impl std::io::Read,
        magic: &[u8; 8],
    ) -> Result<(Option<(DateTime<Utc>, String)>, Keys), ServiceError> {
        let bad = |reason: String| ServiceError::invalid("saved index", reason);
        let mut take = |len: usize, what: &str| -> Result<Vec<u8>, ServiceError> {
            let mut bytes = vec![0u8; len];
            reader
                .read_exact(&mut bytes)
                .map_err(|e| bad(format!("at the {what}: {e}")))?;
            Ok(bytes)
        };
        if take(8, "magic")? != magic {
            return Err(bad("not what this server saved there".into()));
        }
        let mut texts = Vec::new();
        for what in ["mark time", "mark id"] {
            let len = u32::from_le_bytes(take(4, what)?.try_into().unwrap_or_default()) as usize;
            if len > 64 {
                return Err(bad(format!("the {what} claims {len} bytes")));
            }
            texts.push(
                String::from_utf8(take(len, what)?)
                    .map_err(|_| bad(format!("the {what} is not text")))?,
            );
        }
        let count = u64::from_le_bytes(take(8, "key count")?.try_into().unwrap_or_default());
        let mut keys = Keys::default();
        for _ in 0..count {
            let bytes: [u8; 16] = take(16, "keys")?.try_into().unwrap_or_default();
            keys.key(PersonId(uuid::Uuid::from_bytes(bytes)));
        }
        let mark = match (texts[0].as_str(), texts[1].as_str()) {
            ("", _) => None,
            (at, id) => {
                let at = DateTime::parse_from_rfc3339(at)
                    .map_err(|e| bad(format!("mark time: {e}")))?
                    .with_timezone(&Utc);
                let mut tx = self.store().begin().await?;
                let ours = tx.biometric_exists(id).await?;
                tx.commit().await?;
                if !ours {
                    return Err(bad(
                        "it was saved from another database (its last capture is not in this one)"
                            .into(),
                    ));
                }
                Some((at, id.to_string()))
            }
        };
        Ok((mark, keys))
    }

    /// The thumbs recorded as exceptions in the actor's area (or `place` inside it), with who recorded each and when,
    /// and their counts per commune, part and reason: exceptions keep people enrolled when prints cannot be read,
    /// and are audited because they also skip the fingerprint check.
    pub async fn biometric_exceptions(
        &self,
        actor: &Actor,
        place: Option<&str>,
    ) -> Result<
        (
            Vec<dspp_store::ExceptionRow>,
            Vec<dspp_store::ExceptionCount>,
        ),
        ServiceError,
    > {
        if !actor.role.may_read_registry() {
            return Err(ServiceError::Forbidden(format!(
                "a {} does not read registry reports",
                actor.role.as_str().replace('_', " ")
            )));
        }
        let place = crate::people::scoped_place(actor, place)?.unwrap_or_default();
        let mut tx = self.store().begin().await?;
        let found = tx.biometric_exceptions(&place, 1000).await?;
        tx.commit().await?;
        Ok(found)
    }

    /// Records a person's two thumbs (each a template, images, or an exception), checks them against everyone's
    /// in the registry, opens a case for each likely duplicate (holding both people's enrolments until a reviewer
    /// decides), and sets the person's biometric status. A new capture replaces the current one; the old is kept
    /// on record.
    pub async fn record_fingerprints(
        &self,
        actor: &Actor,
        spid: Spid,
        input: ThumbsInput,
        reason: &str,
    ) -> Result<CaptureOutcome, ServiceError> {
        let reason = required_reason(reason)?;
        let biometrics = self.biometrics()?;
        let (right, left) = (
            prepare_thumb("right_thumb", input.right),
            prepare_thumb("left_thumb", input.left),
        );
        let (right, left) = match (right, left) {
            (Ok(right), Ok(left)) => (right, left),
            (right, left) => {
                let mut problems = Vec::new();
                for result in [right.err(), left.err()].into_iter().flatten() {
                    match result {
                        ServiceError::Invalid(list) => problems.extend(list),
                        other => return Err(other),
                    }
                }
                return Err(ServiceError::Invalid(problems));
            }
        };
        if matches!(
            (&right, &left),
            (
                PreparedThumb::Exception { .. },
                PreparedThumb::Exception { .. }
            )
        ) {
            tracing::info!("both thumbs recorded as exceptions; the face carries the check");
        }
        biometrics.catch_up_fingers(self.store()).await?;
        // The search reads and re-ranks hundreds of stored templates: it runs before the write transaction (which
        // is then held only for the writes) and off the async threads, once the person is known to be in the
        // actor's reach (a short read, so that no one out of reach spends it).
        let own = {
            let mut tx = self.store().begin().await?;
            let own = self.writable_person(&mut tx, actor, spid).await?.id;
            tx.commit().await?;
            own
        };
        let probe = [&right, &left].map(|prepared| match prepared {
            PreparedThumb::Captured { mcc, .. } => Some(mcc.clone()),
            PreparedThumb::Exception { .. } => None,
        });
        let mut search = self.search_fingers(biometrics, own, probe).await?;
        let (mut tx, current, now, change_id) = self
            .begin_capture(actor, spid, "capture_fingerprints", reason)
            .await?;
        self.late_thumbs(&mut tx, biometrics, &mut search, current.id)
            .await?;
        let (matches, compared) = (search.matches(biometrics), search.compared);
        let person_id = current.id.to_string();
        for (thumb, prepared) in THUMBS.into_iter().zip([right, left]) {
            let part = thumb.as_str();
            let recorded = new_row(self.new_id().to_string(), &person_id, part, &change_id, now);
            let row = match prepared {
                PreparedThumb::Captured {
                    template,
                    mcc,
                    quality,
                } => BiometricRow {
                    status: "captured".into(),
                    format: Some(TEMPLATE_FORMAT.into()),
                    sealed: Some(biometrics.seal(
                        &sealed_thumb_contents(&template, &mcc)?,
                        &sealing_record(&person_id, part),
                    )?),
                    quality: Some(i64::from(quality)),
                    ..recorded
                },
                PreparedThumb::Exception { reason, note } => BiometricRow {
                    status: "exception".into(),
                    exception_reason: Some(reason.as_str().into()),
                    note: Some(note),
                    ..recorded
                },
            };
            tx.put_biometric(&row).await?;
        }
        let mut found = Vec::new();
        // (The person the search excluded, unless a merge moved the SPID to another since.)
        for candidate in matches.iter().filter(|m| m.other != current.id) {
            let both = [candidate.right, candidate.left]
                .iter()
                .all(|score| score.is_some_and(|s| s >= biometrics.thumb_threshold()));
            let proposal = if both { "same_person" } else { "needs_review" };
            let evidence = self.finger_evidence(biometrics, candidate);
            found.push(Found {
                other: candidate.other,
                probability: self.finger_probability(biometrics, candidate).await?,
                proposal,
                what: format!("fingerprints ({})", evidence.summary()),
                evidence,
            });
        }
        self.finish_capture(tx, actor, current, "fingerprint", found, reason, compared)
            .await
    }

    /// Opens a capture's transaction: the person (live, in the actor's reach) and the change-log row the
    /// captured rows point to.
    async fn begin_capture(
        &self,
        actor: &Actor,
        spid: Spid,
        action: &str,
        reason: &str,
    ) -> Result<(Tx, Person, DateTime<Utc>, String), ServiceError> {
        let mut tx = self.store().begin().await?;
        let current = self.writable_person(&mut tx, actor, spid).await?;
        let now = self.now();
        let change = Change {
            at: now,
            actor,
            reason: Some(reason),
        };
        let change_id = tx
            .log_change(
                &change,
                action,
                "person",
                &current.id.to_string(),
                current.version,
            )
            .await?;
        Ok((tx, current, now, change_id))
    }

    /// The live person `spid` names, if in the actor's reach to write.
    async fn writable_person(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        spid: Spid,
    ) -> Result<Person, ServiceError> {
        let current = self.resolve(tx, spid).await?.person;
        authorize_write(
            actor,
            commune_of(tx, current.record.village, "village").await?,
        )?;
        check_live(&current)?;
        Ok(current)
    }

    /// Ends a capture: a case for each likely duplicate still live (the best few), the person's biometric
    /// status, the commit.
    #[allow(clippy::too_many_arguments)]
    async fn finish_capture(
        &self,
        mut tx: Tx,
        actor: &Actor,
        current: Person,
        source: &str,
        found: Vec<Found>,
        reason: &str,
        compared: usize,
    ) -> Result<CaptureOutcome, ServiceError> {
        let mut warnings = Vec::new();
        for found in found.into_iter().take(MAX_CASES_PER_CHECK) {
            let Some(other) = tx.person(found.other).await? else {
                continue;
            };
            if other.merged_into.is_some() {
                continue;
            }
            let Some((case, new_case)) = self
                .open_case(
                    &mut tx,
                    actor,
                    (&current, &other),
                    source,
                    found.probability,
                    found.proposal,
                    &found.evidence,
                )
                .await?
            else {
                continue;
            };
            warnings.push(Warning {
                code: "possible_duplicate",
                message: format!(
                    "possibly the same person as {} ({}), found by {}. Case {} holds both people's enrolments \
                     until a reviewer decides (by {}).",
                    other.spid,
                    found.proposal.replace('_', " "),
                    found.what,
                    case.id,
                    case.deadline.format("%Y-%m-%d"),
                ),
                spids: vec![other.spid],
                duplicate: Some(crate::DuplicateHint {
                    case_id: case.id.clone(),
                    new_case,
                    match_probability: found.probability,
                    proposal: found.proposal,
                    evidence: found.evidence,
                }),
            });
        }
        let spid = current.spid;
        let person_id = current.id.to_string();
        let status = self
            .set_biometric_status(&mut tx, actor, current, !warnings.is_empty(), reason)
            .await?;
        let parts = tx.current_biometrics(&person_id).await?;
        tx.commit().await?;
        Ok(CaptureOutcome {
            spid,
            parts: parts.iter().map(part_view).collect(),
            status,
            warnings,
            compared,
        })
    }

    /// The index's short list for the probe (right, left), re-ranked with MCC: its templates read in a transaction of
    /// their own and opened and compared off the async threads, on every core. Also what the index had applied when
    /// it answered, for [`Registry::late_thumbs`].
    async fn search_fingers(
        &self,
        biometrics: &Biometrics,
        own: PersonId,
        probe: [Option<Box<MccTemplate>>; 2],
    ) -> Result<FingerSearch, ServiceError> {
        let probe = Arc::new(probe);
        let codes = ThumbCodes {
            right: probe[0].as_deref().map(ThumbKeys::from_mcc),
            left: probe[1].as_deref().map(ThumbKeys::from_mcc),
        };
        let (short_list, seen): (Vec<PersonId>, _) = biometrics.finger_read(|state| {
            let short_list = if codes.right.is_none() && codes.left.is_none() {
                Vec::new()
            } else {
                state
                    .index
                    .search(
                        &codes,
                        biometrics.fingerprint.short_list_for(state.index.len()),
                        biometrics.fingerprint.search_threads,
                    )
                    .into_iter()
                    .filter_map(|candidate| state.keys.person(candidate.person))
                    .filter(|person| *person != own)
                    .collect()
            };
            let seen = IndexSeen {
                mark: state.mark.clone(),
                applied: state.applied.clone(),
            };
            (short_list, seen)
        });
        let mut search = FingerSearch {
            probe,
            scores: HashMap::new(),
            compared: short_list.len(),
            seen,
        };
        if short_list.is_empty() {
            return Ok(search);
        }
        let ids: Vec<String> = short_list.iter().map(ToString::to_string).collect();
        let rows = {
            let mut tx = self.store().begin().await?;
            let rows = tx
                .current_biometrics_of(&ids, &[Thumb::Right.as_str(), Thumb::Left.as_str()])
                .await?;
            tx.commit().await?;
            rows
        };
        search.score(biometrics, rows).await?;
        Ok(search)
    }

    /// In the capture's write transaction: the thumbs committed since the index answered the search (another capture
    /// in flight at the same moment, perhaps of the same person), compared with the probe too. Past
    /// [`dspp_store::Tx::serialize_biometric_checks`], so that of two captures at once the later sees the earlier.
    async fn late_thumbs(
        &self,
        tx: &mut Tx,
        biometrics: &Biometrics,
        search: &mut FingerSearch,
        own: PersonId,
    ) -> Result<usize, ServiceError> {
        if search.probe.iter().all(Option::is_none) {
            return Ok(0);
        }
        let late = late_rows(
            tx,
            &[Thumb::Right.as_str(), Thumb::Left.as_str()],
            &search.seen,
            own,
        )
        .await?;
        let count = late.len();
        search.score(biometrics, late).await?;
        Ok(count)
    }

    fn finger_evidence(&self, biometrics: &Biometrics, found: &FingerMatch) -> Evidence {
        let mut fields = Vec::new();
        for (thumb, score) in [(Thumb::Right, found.right), (Thumb::Left, found.left)] {
            let Some(score) = score else { continue };
            let fmr = biometrics.calibration.false_match_rate(score);
            fields.push(EvidenceLine {
                field: thumb.as_str().into(),
                level: format!("MCC {score:.3}, false match rate at most {fmr:.1e}"),
                weight: -fmr.log2(),
            });
        }
        Evidence {
            match_weight: fields.iter().map(|line| line.weight).sum(),
            names_swapped: false,
            fields,
        }
    }

    /// How likely the pair is one person: one true mate against the false matches expected from the registry's
    /// size at the thumbs' estimated false match rates (independent thumbs). The calibration evidences rates
    /// down to about 3.5e-4 per thumb, so in a large registry this stays modest: it is a floor, not a verdict.
    async fn finger_probability(
        &self,
        biometrics: &Biometrics,
        found: &FingerMatch,
    ) -> Result<f64, ServiceError> {
        let population = biometrics.finger_read(|state| state.index.len()).max(1) as f64;
        let fmr: f64 = [found.right, found.left]
            .iter()
            .flatten()
            .map(|score| biometrics.calibration.false_match_rate(*score))
            .product();
        Ok(1.0 / (1.0 + population * fmr))
    }

    /// Writes the outcome of a biometric check on the person's record (a new version: it moves the identity-
    /// assurance category) and returns it.
    async fn set_biometric_status(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        current: Person,
        possible_duplicate: bool,
        reason: &str,
    ) -> Result<BiometricStatus, ServiceError> {
        let now = self.now();
        let status = if possible_duplicate {
            BiometricStatus::PossibleDuplicate { since: now }
        } else {
            BiometricStatus::Unique { checked_at: now }
        };
        let expected = current.version;
        let mut record = current.record.clone();
        record.biometric_status = status.clone();
        let person = Person {
            version: current.version + 1,
            record,
            updated_at: now,
            ..current
        };
        let change = Change {
            at: now,
            actor,
            reason: Some(reason),
        };
        tx.update_person(&person, expected, "biometric_check", &change)
            .await?;
        Ok(status)
    }

    /// After a decision: a person marked as a possible biometric duplicate with no biometric case left open is
    /// unique again (a new version of the record, so the assurance category follows).
    pub(crate) async fn settle_biometric_status(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        person: PersonId,
        reason: &str,
    ) -> Result<(), ServiceError> {
        let Some(current) = tx.person(person).await? else {
            return Ok(());
        };
        if current.merged_into.is_some()
            || !matches!(
                current.record.biometric_status,
                BiometricStatus::PossibleDuplicate { .. }
            )
            || tx.open_biometric_cases_of(&current.id.to_string()).await? > 0
        {
            return Ok(());
        }
        self.set_biometric_status(tx, actor, current, false, reason)
            .await?;
        Ok(())
    }

    /// What is on record for a person's biometrics (never the templates themselves).
    pub async fn biometrics_of(
        &self,
        actor: &Actor,
        spid: Spid,
    ) -> Result<Vec<BiometricPartView>, ServiceError> {
        let mut tx = self.store().begin().await?;
        let person = self.resolve(&mut tx, spid).await?.person;
        authorize_read(
            actor,
            commune_of(&mut tx, person.record.village, "village").await?,
        )?;
        let rows = tx.current_biometrics(&person.id.to_string()).await?;
        tx.commit().await?;
        Ok(rows.iter().map(part_view).collect())
    }

    /// 1:1 verification at a service point: is this thumb the one on record for `spid`? Every check is recorded
    /// with who asked and why.
    pub async fn verify_fingerprint(
        &self,
        actor: &Actor,
        spid: Spid,
        thumb: Thumb,
        input: ThumbInput,
    ) -> Result<VerificationOutcome, ServiceError> {
        let biometrics = self.biometrics()?;
        if matches!(input, ThumbInput::Exception { .. }) {
            return Err(ServiceError::invalid(
                thumb.as_str(),
                "verification needs a capture, not an exception",
            ));
        }
        let PreparedThumb::Captured { mcc: probe, .. } = prepare_thumb(thumb.as_str(), input)?
        else {
            return Err(ServiceError::invalid(thumb.as_str(), "no capture"));
        };
        let mut tx = self.store().begin().await?;
        let person = self.resolve(&mut tx, spid).await?.person;
        authorize_read(
            actor,
            commune_of(&mut tx, person.record.village, "village").await?,
        )?;
        let person_id = person.id.to_string();
        let rows = tx.current_biometrics(&person_id).await?;
        let row = rows
            .iter()
            .find(|row| row.part == thumb.as_str())
            .ok_or_else(|| {
                ServiceError::Conflict(format!(
                    "no {} on record for {spid}: verify with the other thumb or the face",
                    thumb.as_str().replace('_', " ")
                ))
            })?;
        let enrolled = open_thumb(&biometrics.keyring, row)?.ok_or_else(|| {
            ServiceError::Conflict(format!(
                "the {} of {spid} is recorded as an exception ({}): verify with the other thumb or the face",
                thumb.as_str().replace('_', " "),
                row.exception_reason.as_deref().unwrap_or("no reason")
            ))
        })?;
        let score = MccMatcher::new().similarity(&probe, &enrolled);
        let threshold = biometrics.thumb_threshold();
        let outcome = self
            .record_check(
                &mut tx,
                actor,
                &person,
                thumb.as_str(),
                score,
                threshold,
                score >= threshold,
            )
            .await?;
        tx.commit().await?;
        Ok(VerificationOutcome {
            false_match_rate: Some(biometrics.calibration.false_match_rate(score)),
            ..outcome
        })
    }

    fn face(&self) -> Result<(&Biometrics, &FaceState), ServiceError> {
        let biometrics = self.biometrics()?;
        let face = biometrics
            .face
            .as_ref()
            .ok_or_else(|| not_configured("face captures"))?;
        Ok((biometrics, face))
    }

    /// Runs the face engine on a photo off the async threads; a photo the engine cannot use is refused with
    /// every reason an officer can act on.
    async fn face_capture(
        face: &FaceState,
        photo: Vec<u8>,
    ) -> Result<(face::Embedding, face::QualityReport), ServiceError> {
        let engine = face.settings.engine.clone();
        let capture = tokio::task::spawn_blocking(move || engine.capture(&photo))
            .await
            .map_err(|e| internal(format!("face engine: {e}")))?
            .map_err(|e| match e {
                face::FaceError::Model { .. } | face::FaceError::Config { .. } => {
                    internal(format!("face engine: {e}"))
                }
                other => ServiceError::invalid("photo", other.to_string()),
            })?;
        match capture.embedding {
            Some(embedding) => Ok((embedding, capture.report)),
            None => Err(ServiceError::invalid(
                "photo",
                format!(
                    "the photo cannot be used: {}",
                    capture.report.reasons().join("; ")
                ),
            )),
        }
    }

    /// The quality of a photo, without storing anything: what the capture page shows live while the officer frames
    /// the face. Only people who may enrol may ask.
    pub async fn face_quality(
        &self,
        actor: &Actor,
        photo: Vec<u8>,
    ) -> Result<face::QualityReport, ServiceError> {
        if !actor.role.may_register() {
            return Err(ServiceError::Forbidden(format!(
                "a {} does not capture faces",
                actor.role.as_str().replace('_', " ")
            )));
        }
        let (_, face) = self.face()?;
        let engine = face.settings.engine.clone();
        tokio::task::spawn_blocking(move || engine.quality(&photo))
            .await
            .map_err(|e| internal(format!("face engine: {e}")))?
            .map_err(|e| match e {
                face::FaceError::Model { .. } | face::FaceError::Config { .. } => {
                    internal(format!("face engine: {e}"))
                }
                other => ServiceError::invalid("photo", other.to_string()),
            })
    }

    /// Records a person's face: the photo is checked for quality (every failed check with its reason), its
    /// embedding sealed and searched against every face in the registry; a face closer than the engine's threshold
    /// opens a case. The photo itself is kept sealed only until the retention deadline.
    pub async fn record_face(
        &self,
        actor: &Actor,
        spid: Spid,
        photo: Vec<u8>,
        reason: &str,
    ) -> Result<CaptureOutcome, ServiceError> {
        let reason = required_reason(reason)?;
        let (biometrics, face) = self.face()?;
        let sealed_photo_source = photo.clone();
        let (embedding, report) = Registry::face_capture(face, photo).await?;
        if !report.acceptable_for_enrolment() {
            return Err(ServiceError::invalid(
                "photo",
                format!(
                    "not good enough to enrol: {}; take the photo again",
                    report.reasons().join("; ")
                ),
            ));
        }
        biometrics.catch_up_faces(self.store()).await?;
        // What the index had applied before it is searched (a catch-up of another capture may add more, which the
        // late check below then compares again: a few more comparisons, never one fewer).
        let seen = read_lock(&face.keys, |keys| IndexSeen {
            mark: keys.mark.clone(),
            applied: keys.applied.clone(),
        });
        let index = face.settings.index.clone();
        let probe = embedding.clone();
        let nearest = tokio::task::spawn_blocking(move || index.search(&probe, 10))
            .await
            .map_err(|e| internal(format!("face index: {e}")))?
            .map_err(|e| internal(format!("face index: {e}")))?;
        let threshold = face.settings.engine.config().threshold;
        let (mut tx, current, now, change_id) = self
            .begin_capture(actor, spid, "capture_face", reason)
            .await?;
        let late = self
            .late_faces(&mut tx, biometrics, &embedding, seen, current.id)
            .await?;
        let person_id = current.id.to_string();
        let model = face
            .settings
            .engine
            .config()
            .embedder
            .file_name()
            .map(|name| name.to_string_lossy().into_owned());
        let row = BiometricRow {
            id: self.new_id().to_string(),
            person_id: person_id.clone(),
            part: "face".into(),
            status: "captured".into(),
            format: model,
            sealed: Some(
                biometrics.seal(&embedding.to_bytes(), &sealing_record(&person_id, "face"))?,
            ),
            quality: Some(i64::from(report.score())),
            exception_reason: None,
            note: None,
            photo: Some(biometrics.seal(
                &sealed_photo_source,
                &sealing_record(&person_id, "face/photo"),
            )?),
            photo_expires_at: Some(now + face.settings.photo_retention),
            change_id,
            captured_at: now,
            replaced_at: None,
            updated_at: now,
        };
        tx.put_biometric(&row).await?;
        let mut others: Vec<(PersonId, f32)> = read_lock(&face.keys, |keys| {
            nearest
                .iter()
                .filter_map(|candidate| {
                    keys.keys
                        .person(candidate.id)
                        .map(|person| (person, candidate.distance))
                })
                .collect()
        });
        others.extend(late);
        // The nearest face of each other person, nearest first.
        others.retain(|(person, distance)| *distance < threshold && *person != current.id);
        others.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        let mut seen_people = std::collections::HashSet::new();
        others.retain(|(person, _)| seen_people.insert(*person));
        let found = others
            .into_iter()
            .map(|(other, distance)| Found {
                other,
                probability: FACE_CASE_PROBABILITY,
                proposal: "needs_review",
                what: format!("the face (distance {distance:.3}, threshold {threshold:.2})"),
                evidence: Evidence {
                    match_weight: 0.0,
                    names_swapped: false,
                    fields: vec![EvidenceLine {
                        field: "face".into(),
                        level: format!(
                            "distance {distance:.3}, below the same-person threshold {threshold:.2}"
                        ),
                        weight: 0.0,
                    }],
                },
            })
            .collect();
        self.finish_capture(tx, actor, current, "face", found, reason, nearest.len())
            .await
    }

    /// In the capture's write transaction: the faces committed since the index was searched (another capture in
    /// flight at the same moment, perhaps of the same person), with their distances to the probe, as
    /// [`Registry::late_thumbs`] does for thumbs. `seen` is the index's mark and the rows it had applied before the
    /// search.
    async fn late_faces(
        &self,
        tx: &mut Tx,
        biometrics: &Biometrics,
        probe: &face::Embedding,
        seen: IndexSeen,
        own: PersonId,
    ) -> Result<Vec<(PersonId, f32)>, ServiceError> {
        let mut late = Vec::new();
        for row in late_rows(tx, &["face"], &seen, own).await? {
            let Some(sealed) = &row.sealed else { continue };
            // One that does not open, or is of another model, is left out as the catch-up leaves it out of the index
            // (which reports it).
            let distance = biometrics
                .open(sealed, &sealing_record(&row.person_id, &row.part))
                .ok()
                .and_then(|plain| face::Embedding::from_bytes(&plain).ok())
                .and_then(|enrolled| probe.distance(&enrolled).ok());
            if let Some(distance) = distance {
                late.push((PersonId(parse_uuid(&row.person_id)?), distance));
            }
        }
        Ok(late)
    }

    /// 1:1 verification of a face at a service point: the distance between the photo and the face on record.
    pub async fn verify_face(
        &self,
        actor: &Actor,
        spid: Spid,
        photo: Vec<u8>,
    ) -> Result<VerificationOutcome, ServiceError> {
        let (biometrics, face) = self.face()?;
        let (probe, _) = Registry::face_capture(face, photo).await?;
        let mut tx = self.store().begin().await?;
        let person = self.resolve(&mut tx, spid).await?.person;
        authorize_read(
            actor,
            commune_of(&mut tx, person.record.village, "village").await?,
        )?;
        let person_id = person.id.to_string();
        let rows = tx.current_biometrics(&person_id).await?;
        let sealed = rows
            .iter()
            .find(|row| row.part == "face")
            .and_then(|row| row.sealed.as_ref())
            .ok_or_else(|| {
                ServiceError::Conflict(format!("no face on record for {spid}: verify with a thumb"))
            })?;
        let enrolled = face::Embedding::from_bytes(
            &biometrics.open(sealed, &sealing_record(&person_id, "face"))?,
        )
        .map_err(|e| internal(format!("stored embedding: {e}")))?;
        let decision = face
            .settings
            .engine
            .verify(&probe, &enrolled)
            .map_err(|e| ServiceError::invalid("photo", e.to_string()))?;
        let threshold = f64::from(face.settings.engine.config().threshold);
        let outcome = self
            .record_check(
                &mut tx,
                actor,
                &person,
                "face",
                f64::from(decision.distance),
                threshold,
                decision.same,
            )
            .await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Deletes the face photos past their retention deadline (embeddings stay); run by the worker. Returns how
    /// many were deleted.
    pub async fn purge_expired_photos(&self) -> Result<u64, ServiceError> {
        let mut tx = self.store().begin().await?;
        let purged = tx.purge_expired_photos(self.now()).await?;
        tx.commit().await?;
        Ok(purged)
    }

    #[allow(clippy::too_many_arguments)]
    async fn record_check(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        person: &Person,
        part: &str,
        score: f64,
        threshold: f64,
        matched: bool,
    ) -> Result<VerificationOutcome, ServiceError> {
        let now = self.now();
        let change = Change {
            at: now,
            actor,
            reason: None,
        };
        let person_id = person.id.to_string();
        let change_id = tx
            .log_change(
                &change,
                &format!("verify_{part}"),
                "person",
                &person_id,
                person.version,
            )
            .await?;
        let row = BiometricCheckRow {
            id: self.new_id().to_string(),
            person_id,
            part: part.into(),
            score,
            threshold,
            matched,
            change_id,
            checked_at: now,
        };
        tx.insert_biometric_check(&row).await?;
        Ok(VerificationOutcome {
            spid: person.spid,
            part: part.into(),
            score,
            threshold,
            matched,
            false_match_rate: None,
            check_id: row.id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_short_list_grows_with_the_registry_past_its_least_length() {
        let settings = FingerprintSettings::default();
        assert_eq!(
            (settings.short_list, settings.short_list_per_million),
            (200, 100)
        );
        for (people, expected) in [
            (0, 200),
            (1_000, 200),
            (2_000_000, 200),
            (2_000_001, 201),
            (10_000_000, 1_000),
            (18_000_000, 1_800),
        ] {
            assert_eq!(settings.short_list_for(people), expected, "{people} people");
        }
        let fixed = FingerprintSettings {
            short_list_per_million: 0,
            ..settings
        };
        assert_eq!(fixed.short_list_for(18_000_000), 200);
        let huge = FingerprintSettings {
            short_list_per_million: usize::MAX,
            ..settings
        };
        assert_eq!(huge.short_list_for(usize::MAX), usize::MAX);
    }

    #[tokio::test]
    async fn work_split_over_the_cores_comes_back_whole_and_in_order() {
        for n in [0usize, 1, 15, 16, 33, 200, 1_001] {
            let items: Vec<usize> = (0..n).collect();
            let threads = std::sync::Mutex::new(std::collections::HashSet::new());
            let threads = Arc::new(threads);
            let seen = Arc::clone(&threads);
            let out = on_every_core(items, move |i| {
                seen.lock().unwrap().insert(std::thread::current().id());
                i * 3
            })
            .await
            .unwrap();
            assert_eq!(out, (0..n).map(|i| i * 3).collect::<Vec<_>>(), "{n} items");
            let cores = std::thread::available_parallelism().map_or(1, usize::from);
            let used = threads.lock().unwrap().len();
            assert!(
                used <= cores && (used > 0) == (n > 0),
                "{n} items on {used} threads"
            );
            if cores > 1 && n >= 2 * 16 {
                assert!(used > 1, "{n} items stayed on one thread");
            }
        }
    }

    /// A thumb sealed with its cylinders opens to the very template it was captured as; one sealed before (its record
    /// alone) opens to the template built from the record, which compares the same; damaged contents are refused.
    #[test]
    fn thumbs_open_with_their_cylinders_or_from_their_record_alone() {
        let keyring = Keyring::new(
            dspp_vault::Key::from_bytes("test", [7; 32]).unwrap(),
            vec![],
        );
        let template =
            fingerprint::synth::finger(11, &fingerprint::synth::SynthParams::default()).unwrap();
        let other = MccTemplate::new(&fingerprint::synth::finger(12, &Default::default()).unwrap());
        let record = MinutiaeRecord::parse(0, 0, vec![template.clone()])
            .unwrap()
            .encode(RecordFormat::Iso19794_2_2005);
        // The cylinders of the record as stored, as a capture builds them.
        let mcc = MccTemplate::new(&MinutiaeRecord::decode_iso(&record).unwrap().views()[0]);
        let mut matcher = MccMatcher::new();
        let expected = matcher.similarity(&mcc, &other);
        let sealed_row = |plain: &[u8]| {
            let mut row = row("r", Utc::now());
            row.sealed = Some(
                keyring
                    .seal(
                        plain,
                        sealing_record("p", "right_thumb").as_bytes(),
                        [1; 12],
                    )
                    .unwrap(),
            );
            row
        };
        let with_cylinders = sealed_thumb_contents(&record, &mcc).unwrap();
        assert_eq!(
            split_thumb_contents(&with_cylinders).unwrap(),
            (&record[..], Some(&mcc.to_bytes()[..]))
        );
        for plain in [&with_cylinders, &record] {
            let opened = open_thumb(&keyring, &sealed_row(plain)).unwrap().unwrap();
            assert!(opened.to_bytes() == mcc.to_bytes(), "other cylinders");
            assert_eq!(
                matcher.similarity(&opened, &other).to_bits(),
                expected.to_bits()
            );
        }
        // Cylinders of another scheme are built again from the record.
        let mut other_scheme = with_cylinders.clone();
        let scheme_at = 12 + record.len() + 8;
        other_scheme[scheme_at..scheme_at + 4]
            .copy_from_slice(&(fingerprint::CYLINDER_SCHEME + 1).to_le_bytes());
        let opened = open_thumb(&keyring, &sealed_row(&other_scheme))
            .unwrap()
            .unwrap();
        assert_eq!(opened.to_bytes(), mcc.to_bytes());
        // A record's length beyond the contents, and damaged cylinders.
        let mut long = with_cylinders.clone();
        long[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        let error = format!(
            "{:?}",
            open_thumb(&keyring, &sealed_row(&long)).unwrap_err()
        );
        assert!(
            error.contains("the record's length is 4294967295 bytes but only"),
            "{error}"
        );
        let mut damaged = with_cylinders.clone();
        damaged.pop();
        let error = format!(
            "{:?}",
            open_thumb(&keyring, &sealed_row(&damaged)).unwrap_err()
        );
        assert!(
            error.contains("stored template of p: cylinders: record truncated"),
            "{error}"
        );
        assert!(split_thumb_contents(&with_cylinders[..10]).is_err());
    }

    fn row(id: &str, updated_at: DateTime<Utc>) -> BiometricRow {
        new_row(id.into(), "p", "right_thumb", "c", updated_at)
    }

    #[test]
    fn a_catch_up_skips_the_rows_it_applied_until_they_change_or_fall_behind_the_overlap() {
        let t0 = DateTime::parse_from_rfc3339("2026-12-01T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut applied = Applied::default();
        let (a, b) = (row("a", t0), row("b", t0 + Duration::seconds(1)));
        assert!(!applied.has(&a) && !applied.has(&b));
        applied.note(
            [(a.id.clone(), a.updated_at), (b.id.clone(), b.updated_at)],
            Some(b.updated_at),
        );
        assert!(applied.has(&a) && applied.has(&b));
        // A new version of a row (replaced, say) is applied again.
        assert!(!applied.has(&row("a", t0 + Duration::seconds(2))));
        // Once the mark is past the overlap, the next catch-up no longer reads them: forgotten.
        let later = t0 + CATCH_UP_OVERLAP + Duration::seconds(1);
        applied.note([], Some(later));
        assert!(!applied.has(&a), "a is behind the overlap");
        assert!(applied.has(&b), "b is within it");
        applied.note([], Some(later + Duration::seconds(1)));
        assert!(applied.recent.is_empty());
    }

    #[tokio::test]
    async fn a_panic_in_the_work_is_an_error_not_a_hang() {
        let out = on_every_core((0..100).collect::<Vec<usize>>(), |i| {
            assert!(i != 70, "item 70");
            i
        })
        .await;
        assert!(out.is_err());
    }
}
