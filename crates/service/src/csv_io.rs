//! Import and export of people and households as CSV (UTF-8, Khmer text as is), streaming: rows are
//! read, checked and written in batches, so a million rows need a batch of memory, not a million rows.
//! The format is documented in `docs/csv-format.md`.
//!
//! A bad row is reported with its line number and reason and the rest go on. Rows of one household
//! stand or fall together: importing a household without one of its members would corrupt it.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use dspp_domain::{
    Actor, CommuneCode, Death, Household, HouseholdId, Member, Person, PersonId, PersonRecord,
    Relationship, Spid, VillageCode,
};
use dspp_store::{Change, SpidState, Tx};

use crate::{DocumentInput, FieldProblem, PersonInput, Registry, ServiceError, authorize_write};

/// The columns, in the order export writes them. Import finds columns by name and needs all but the
/// optional ones (`spid`, `death_date`, `assurance`); `assurance` is informational and ignored on import.
pub const CSV_HEADER: [&str; 16] = [
    "household_ref",
    "relationship",
    "spid",
    "family_km",
    "given_km",
    "family_latin",
    "given_latin",
    "sex",
    "birth_date",
    "birth_village",
    "phone",
    "village",
    "address_detail",
    "documents",
    "death_date",
    "assurance",
];

const OPTIONAL: [&str; 3] = ["spid", "death_date", "assurance"];

/// People per import transaction: large enough that commits do not dominate, small enough that a
/// failed batch is cheap to redo household by household.
const BATCH_PEOPLE: usize = 2_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// The line in the file where the row starts.
    pub line: u64,
    /// The row's number among the data rows (1 = the first after the header). Unique per row even where a
    /// file's line breaks are unusual (a lone carriage return ends a row but not a line).
    pub row: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub rows: u64,
    pub people: u64,
    pub households: u64,
    pub rejected_rows: u64,
    /// Duplicate cases opened by the imported people (against the registry and the rest of the file).
    pub possible_duplicates: u64,
    pub elapsed: Duration,
}

impl ImportSummary {
    pub fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A checked row waiting for its household's other rows.
struct PlannedPerson {
    line: u64,
    row: u64,
    relationship: Option<Relationship>,
    spid: Option<Spid>,
    record: PersonRecord,
}

/// The rows of one household (or one person without a household), checked.
struct Group {
    reference: String,
    address_detail: Option<String>,
    people: Vec<PlannedPerson>,
    problems: Vec<RowProblem>,
}

fn parse_documents(text: &str) -> Vec<DocumentInput> {
    text.split('|')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let mut parts = item.splitn(3, ':');
            DocumentInput {
                kind: parts.next().unwrap_or_default().trim().to_string(),
                number: parts.next().unwrap_or_default().trim().to_string(),
                issuer: parts.next().map(|s| s.trim().to_string()),
            }
        })
        .collect()
}

fn format_documents(record: &PersonRecord) -> String {
    record
        .documents
        .iter()
        .map(|d| match &d.issuer {
            Some(issuer) => format!("{}:{}:{}", d.kind.as_str(), d.number, issuer),
            None => format!("{}:{}", d.kind.as_str(), d.number),
        })
        .collect::<Vec<_>>()
        .join("|")
}

fn describe(problems: &[FieldProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("{}: {}", p.field, p.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

struct Columns {
    index: Vec<Option<usize>>,
}

impl Columns {
    fn new(headers: &csv::StringRecord) -> Result<Columns, ServiceError> {
        let index: Vec<Option<usize>> = CSV_HEADER
            .iter()
            .map(|name| headers.iter().position(|h| h.trim() == *name))
            .collect();
        let missing: Vec<&str> = CSV_HEADER
            .iter()
            .zip(&index)
            .filter(|(name, i)| i.is_none() && !OPTIONAL.contains(name))
            .map(|(name, _)| *name)
            .collect();
        if !missing.is_empty() {
            return Err(ServiceError::invalid(
                "header",
                format!("missing column(s): {}", missing.join(", ")),
            ));
        }
        Ok(Columns { index })
    }

    fn get<'r>(&self, record: &'r csv::StringRecord, name: &str) -> &'r str {
        CSV_HEADER
            .iter()
            .position(|n| *n == name)
            .and_then(|i| self.index[i])
            .and_then(|i| record.get(i))
            .unwrap_or("")
    }
}

impl Registry {
    /// Imports people and households from CSV. Problems are reported through `on_problem` as they are
    /// found; the summary counts what was written. Every household written is durable when this returns.
    pub async fn import_csv(
        &self,
        actor: &Actor,
        input: impl Read,
        on_problem: &mut dyn FnMut(RowProblem),
    ) -> Result<ImportSummary, ServiceError> {
        let started = Instant::now();
        let today = self.today();
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
        let headers = reader
            .headers()
            .map_err(|e| ServiceError::invalid("header", e.to_string()))?
            .clone();
        let columns = Columns::new(&headers)?;
        let villages: HashMap<String, CommuneCode> = {
            let mut tx = self.store().begin().await?;
            let villages = tx.village_communes().await?;
            tx.commit().await?;
            villages
        };
        let mut summary = ImportSummary::default();
        let mut seen_refs: HashSet<String> = HashSet::new();
        let mut batch: Vec<Group> = Vec::new();
        let mut batch_people = 0usize;
        let mut current: Option<Group> = None;
        let mut record = csv::StringRecord::new();
        loop {
            let line_before = reader.position().line();
            let more = match reader.read_record(&mut record) {
                Ok(more) => more,
                Err(e) => {
                    // A row the CSV reader cannot read (bad UTF-8, broken quoting): report and go on.
                    summary.rows += 1;
                    summary.rejected_rows += 1;
                    let line = e.position().map(|p| p.line()).unwrap_or(line_before);
                    on_problem(RowProblem {
                        line,
                        row: summary.rows,
                        reason: format!("unreadable row: {e}"),
                    });
                    if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                        return Err(ServiceError::invalid(
                            "input",
                            format!("the input could not be read: {e}"),
                        ));
                    }
                    continue;
                }
            };
            if !more {
                break;
            }
            summary.rows += 1;
            let row = summary.rows;
            let line = record.position().map(|p| p.line()).unwrap_or(line_before);
            let reference = columns.get(&record, "household_ref").trim().to_string();
            let continues = current
                .as_ref()
                .is_some_and(|g| !reference.is_empty() && g.reference == reference);
            if !continues {
                if let Some(group) = current.take() {
                    batch_people += group.people.len();
                    batch.push(group);
                    if batch_people >= BATCH_PEOPLE {
                        self.flush(actor, &villages, &mut batch, &mut summary, on_problem)
                            .await?;
                        batch_people = 0;
                    }
                }
                let mut group = Group {
                    reference: reference.clone(),
                    address_detail: None,
                    people: Vec::new(),
                    problems: Vec::new(),
                };
                if !reference.is_empty() && !seen_refs.insert(reference.clone()) {
                    group.problems.push(RowProblem {
                        line,
                        row,
                        reason: format!("household_ref {reference:?} appeared earlier; a household's rows must be together"),
                    });
                }
                current = Some(group);
            }
            let Some(group) = current.as_mut() else {
                continue;
            };
            match check_row(&columns, &record, &villages, today) {
                Ok((planned_relationship, spid, person_record, address)) => {
                    if group.address_detail.is_none() {
                        group.address_detail = address;
                    }
                    group.people.push(PlannedPerson {
                        line,
                        row,
                        relationship: planned_relationship,
                        spid,
                        record: person_record,
                    });
                }
                Err(reason) => group.problems.push(RowProblem { line, row, reason }),
            }
        }
        if let Some(group) = current.take() {
            batch.push(group);
        }
        self.flush(actor, &villages, &mut batch, &mut summary, on_problem)
            .await?;
        summary.elapsed = started.elapsed();
        Ok(summary)
    }

    /// Writes a batch of groups in one transaction; if it fails, writes them one group at a time so
    /// that one bad group (a SPID already taken) does not sink the others.
    async fn flush(
        &self,
        actor: &Actor,
        villages: &HashMap<String, CommuneCode>,
        batch: &mut Vec<Group>,
        summary: &mut ImportSummary,
        on_problem: &mut dyn FnMut(RowProblem),
    ) -> Result<(), ServiceError> {
        let groups: Vec<Group> = std::mem::take(batch);
        let mut good = Vec::new();
        for mut group in groups {
            if group.problems.is_empty()
                && let Err(reason) = check_group(&group, actor, villages)
            {
                let (line, row) = group
                    .people
                    .first()
                    .map(|p| (p.line, p.row))
                    .unwrap_or((0, 0));
                group.problems.push(RowProblem { line, row, reason });
            }
            if group.problems.is_empty() {
                good.push(group);
            } else {
                reject(&group, summary, on_problem);
            }
        }
        if good.is_empty() {
            return Ok(());
        }
        let change = Change {
            at: self.now(),
            actor,
            reason: Some("import"),
        };
        let mut tx = self.store().begin().await?;
        let mut written = (0u64, 0u64);
        let mut failed = false;
        let mut imported: Vec<Person> = Vec::new();
        for group in &good {
            match self.write_group(&mut tx, &change, group).await {
                Ok((people, households)) => {
                    written.0 += people.len() as u64;
                    written.1 += households;
                    imported.extend(people);
                }
                Err(ServiceError::Unavailable(e)) => return Err(ServiceError::Unavailable(e)),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if !failed {
            tx.commit().await?;
            summary.people += written.0;
            summary.households += written.1;
            return self.check_imported(actor, &imported, summary).await;
        }
        drop(tx);
        imported.clear();
        for mut group in good {
            let mut tx = self.store().begin().await?;
            match self.write_group(&mut tx, &change, &group).await {
                Ok((people, households)) => {
                    tx.commit().await?;
                    summary.people += people.len() as u64;
                    summary.households += households;
                    imported.extend(people);
                }
                Err(ServiceError::Unavailable(e)) => return Err(ServiceError::Unavailable(e)),
                Err(e) => {
                    let (line, row) = group
                        .people
                        .first()
                        .map(|p| (p.line, p.row))
                        .unwrap_or((0, 0));
                    group.problems.push(RowProblem {
                        line,
                        row,
                        reason: e.to_string(),
                    });
                    reject(&group, summary, on_problem);
                }
            }
        }
        self.check_imported(actor, &imported, summary).await
    }

    /// Checks a committed batch of imported people for duplicates: against the registry as it now stands, which
    /// includes the file's earlier batches and this one, so every pair within the file is looked at once.
    async fn check_imported(
        &self,
        actor: &Actor,
        people: &[Person],
        summary: &mut ImportSummary,
    ) -> Result<(), ServiceError> {
        if people.is_empty() {
            return Ok(());
        }
        self.refresh_duplicates().await?;
        let mut tx = self.store().begin().await?;
        for person in people {
            summary.possible_duplicates += self
                .check_duplicates(&mut tx, actor, person)
                .await?
                .iter()
                .filter(|warning| warning.duplicate.as_ref().is_some_and(|hint| hint.new_case))
                .count() as u64;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn write_group(
        &self,
        tx: &mut Tx,
        change: &Change<'_>,
        group: &Group,
    ) -> Result<(Vec<Person>, u64), ServiceError> {
        let household_id = (!group.reference.is_empty()).then(|| HouseholdId(self.new_id()));
        let mut people = Vec::new();
        for planned in &group.people {
            let spid = match planned.spid {
                Some(spid) => {
                    if !tx
                        .reserve_spid(spid, SpidState::Assigned, None, change.at)
                        .await?
                    {
                        return Err(ServiceError::Conflict(format!(
                            "SPID {spid} is already in the registry"
                        )));
                    }
                    spid
                }
                None => self.draw_spid(tx, SpidState::Assigned, None).await?,
            };
            people.push(Person {
                id: PersonId(self.new_id()),
                spid,
                version: 1,
                record: planned.record.clone(),
                household: household_id,
                merged_into: None,
                created_at: change.at,
                updated_at: change.at,
            });
        }
        if let (Some(id), Some(first)) = (household_id, group.people.first()) {
            let household = Household {
                id,
                version: 1,
                village: first.record.village,
                address_detail: group.address_detail.clone(),
                members: people
                    .iter()
                    .zip(&group.people)
                    .map(|(person, planned)| Member {
                        person: person.id,
                        relationship: planned.relationship.unwrap_or(Relationship::OtherRelative),
                    })
                    .collect(),
                dissolved: false,
                created_at: change.at,
                updated_at: change.at,
            };
            tx.insert_household(&household, change).await?;
        }
        for person in &people {
            tx.insert_person(person, change).await?;
        }
        let households = u64::from(household_id.is_some());
        Ok((people, households))
    }

    /// Writes every live person in `place` (or the actor's whole scope) as CSV, household by household.
    pub async fn export_csv(
        &self,
        actor: &Actor,
        place: Option<&str>,
        output: impl Write,
    ) -> Result<u64, ServiceError> {
        if !actor.role.may_read_registry() {
            return Err(ServiceError::Forbidden(format!(
                "the role {} cannot export the registry",
                actor.role.as_str()
            )));
        }
        let place = crate::people::scoped_place(actor, place)?;
        let mut writer = csv::Writer::from_writer(output);
        let io = |e: csv::Error| ServiceError::invalid("output", format!("cannot write: {e}"));
        writer.write_record(CSV_HEADER).map_err(io)?;
        let mut after: Option<(String, String)> = None;
        let mut household: Option<Household> = None;
        let mut written = 0u64;
        loop {
            let mut tx = self.store().begin().await?;
            let page = tx
                .people_grouped_by_household(place.as_deref(), after.clone(), 1_000)
                .await?;
            if page.is_empty() {
                tx.commit().await?;
                break;
            }
            for person in &page {
                if let Some(id) = person.household
                    && household.as_ref().map(|h| h.id) != Some(id)
                {
                    household = tx.household(id).await?;
                }
                let (reference, relationship, address) = match (person.household, &household) {
                    (Some(id), Some(h)) if h.id == id => {
                        let relationship = h
                            .members
                            .iter()
                            .find(|m| m.person == person.id)
                            .map(|m| m.relationship.as_str());
                        (
                            id.0.to_string(),
                            relationship.unwrap_or(""),
                            h.address_detail.clone().unwrap_or_default(),
                        )
                    }
                    _ => (String::new(), "", String::new()),
                };
                let r = &person.record;
                writer
                    .write_record([
                        reference.as_str(),
                        relationship,
                        &person.spid.to_string(),
                        &r.name.family_km,
                        &r.name.given_km,
                        &r.name.family_latin,
                        &r.name.given_latin,
                        r.sex.as_str(),
                        &r.birth_date.to_string(),
                        &r.birth_village.map(|v| v.to_string()).unwrap_or_default(),
                        r.phone.as_deref().unwrap_or(""),
                        r.village.as_str(),
                        &address,
                        &format_documents(r),
                        &r.death
                            .as_ref()
                            .map(|d| d.date.to_string())
                            .unwrap_or_default(),
                        &r.assurance().number().to_string(),
                    ])
                    .map_err(io)?;
                written += 1;
            }
            tx.commit().await?;
            after = page.last().map(|p| {
                (
                    p.household.map(|h| h.0.to_string()).unwrap_or_default(),
                    p.id.0.to_string(),
                )
            });
        }
        writer
            .flush()
            .map_err(|e| ServiceError::invalid("output", format!("cannot write: {e}")))?;
        Ok(written)
    }
}

fn reject(group: &Group, summary: &mut ImportSummary, on_problem: &mut dyn FnMut(RowProblem)) {
    let first_failed_line = group.problems.first().map(|p| p.line).unwrap_or(0);
    for problem in &group.problems {
        on_problem(problem.clone());
    }
    let mut rows: HashSet<u64> = group.problems.iter().map(|p| p.row).collect();
    for person in &group.people {
        if rows.insert(person.row) {
            on_problem(RowProblem {
                line: person.line,
                row: person.row,
                reason: format!(
                    "not imported: another row of household {:?} was refused (line {first_failed_line})",
                    group.reference
                ),
            });
        }
    }
    summary.rejected_rows += rows.len() as u64;
}

/// Checks one row into a person; the reason names every problem in the row.
#[allow(clippy::type_complexity)]
fn check_row(
    columns: &Columns,
    record: &csv::StringRecord,
    villages: &HashMap<String, CommuneCode>,
    today: NaiveDate,
) -> Result<
    (
        Option<Relationship>,
        Option<Spid>,
        PersonRecord,
        Option<String>,
    ),
    String,
> {
    let get = |name: &str| columns.get(record, name).trim();
    let input = PersonInput {
        family_km: get("family_km").to_string(),
        given_km: get("given_km").to_string(),
        family_latin: get("family_latin").to_string(),
        given_latin: get("given_latin").to_string(),
        sex: get("sex").to_string(),
        birth_date: get("birth_date").to_string(),
        birth_village: Some(get("birth_village").to_string()),
        phone: Some(get("phone").to_string()),
        village: Some(get("village").to_string()),
        documents: parse_documents(get("documents")),
    };
    let mut problems: Vec<FieldProblem> = Vec::new();
    let relationship = if get("household_ref").is_empty() {
        None
    } else {
        match Relationship::parse(get("relationship")) {
            Ok(r) => Some(r),
            Err(e) => {
                problems.push(e.into());
                None
            }
        }
    };
    let spid = match get("spid") {
        "" => None,
        text => match Spid::parse(text) {
            Ok(spid) => Some(spid),
            Err(e) => {
                problems.push(e.into());
                None
            }
        },
    };
    let mut person = match input.validate("", None, today) {
        Ok(person) => Some(person),
        Err(mut more) => {
            problems.append(&mut more);
            None
        }
    };
    if let Some(person) = &person {
        if !villages.contains_key(person.village.as_str()) {
            problems.push(FieldProblem {
                field: "village".into(),
                reason: format!("{} is not a village of the gazetteer", person.village),
            });
        }
        if let Some(code) = person.birth_village
            && !villages.contains_key(code.as_str())
        {
            problems.push(FieldProblem {
                field: "birth_village".into(),
                reason: format!("{code} is not a village of the gazetteer"),
            });
        }
    }
    match get("death_date") {
        "" => {}
        text => match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            Ok(date) => {
                if let Some(person) = person.as_mut() {
                    person.death = Some(Death {
                        date,
                        evidence: None,
                    });
                    if let Err(e) = person.validate(today) {
                        problems.push(e.into());
                    }
                }
            }
            Err(_) => problems.push(FieldProblem {
                field: "death_date".into(),
                reason: format!("{text:?} is not a date (YYYY-MM-DD)"),
            }),
        },
    }
    let address = Some(get("address_detail").to_string()).filter(|s| !s.is_empty());
    match person {
        Some(person) if problems.is_empty() => Ok((relationship, spid, person, address)),
        _ => Err(describe(&problems)),
    }
}

/// Checks what only the whole group shows: one head, one village, the actor's scope.
fn check_group(
    group: &Group,
    actor: &Actor,
    villages: &HashMap<String, CommuneCode>,
) -> Result<(), String> {
    let Some(first) = group.people.first() else {
        return Err("empty household".into());
    };
    let village: VillageCode = first.record.village;
    if group.people.iter().any(|p| p.record.village != village) {
        return Err(format!(
            "the members of household {:?} live in different villages",
            group.reference
        ));
    }
    if !group.reference.is_empty() {
        let heads = group
            .people
            .iter()
            .filter(|p| p.relationship == Some(Relationship::Head))
            .count();
        if heads != 1 {
            return Err(format!(
                "household {:?} has {heads} heads; it needs exactly one",
                group.reference
            ));
        }
    }
    let commune = villages
        .get(village.as_str())
        .copied()
        .ok_or_else(|| format!("{village} is not a village of the gazetteer"))?;
    authorize_write(actor, commune).map_err(|e| e.to_string())
}
