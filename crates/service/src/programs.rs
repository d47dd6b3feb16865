//! The program catalogue: definition files (XLSForms) loaded by their operators, every version kept, the one
//! in force read from the store at each use so that several platform processes agree. Parsed definitions
//! are cached by (code, version), which never change once stored.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use dspp_domain::{Actor, Role, Scope};
use dspp_forms::{DefinitionError, ProgramDefinition};
use dspp_store::ProgramSource;
use sha2::{Digest, Sha256};

use crate::{FieldProblem, Registry, ServiceError};

/// Parsed definitions by (code, version).
#[derive(Debug, Default)]
pub(crate) struct DefinitionCache(RwLock<BTreeMap<(String, String), Arc<ProgramDefinition>>>);

/// A definition file as an operator sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefinitionFormat {
    Csv,
    Xlsx,
}

impl DefinitionFormat {
    fn as_str(self) -> &'static str {
        match self {
            DefinitionFormat::Csv => "csv",
            DefinitionFormat::Xlsx => "xlsx",
        }
    }
}

/// A program in force, with where its definition came from.
#[derive(Debug, Clone)]
pub struct ProgramView {
    pub definition: Arc<ProgramDefinition>,
    pub sha256: String,
    pub loaded_at: chrono::DateTime<chrono::Utc>,
    pub loaded_by: String,
}

fn definition_problems(error: DefinitionError) -> ServiceError {
    ServiceError::Invalid(
        error
            .problems
            .into_iter()
            .map(|p| {
                let mut field = p.sheet.clone();
                if let Some(row) = p.row {
                    field.push_str(&format!(" row {row}"));
                }
                if let Some(column) = &p.column {
                    field.push_str(&format!(" column {column}"));
                }
                FieldProblem {
                    field,
                    reason: p.message,
                }
            })
            .collect(),
    )
}

fn parse_source(format: &str, source: &str) -> Result<ProgramDefinition, ServiceError> {
    match format {
        "csv" => dspp_forms::parse_csv(source).map_err(definition_problems),
        "xlsx" => {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(source)
                .map_err(|e| {
                    ServiceError::invalid("definition", format!("stored workbook: {e}"))
                })?;
            dspp_forms::parse_xlsx(&bytes).map_err(definition_problems)
        }
        other => Err(ServiceError::invalid(
            "format",
            format!("{other:?} is not a definition format"),
        )),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Registry {
    fn cached_definition(
        &self,
        source: &ProgramSource,
    ) -> Result<Arc<ProgramDefinition>, ServiceError> {
        let key = (source.code.clone(), source.version.clone());
        if let Ok(cache) = self.definitions.0.read()
            && let Some(found) = cache.get(&key)
        {
            return Ok(found.clone());
        }
        let parsed = Arc::new(parse_source(&source.format, &source.source)?);
        if let Ok(mut cache) = self.definitions.0.write() {
            cache.insert(key, parsed.clone());
        }
        Ok(parsed)
    }

    /// Every program in force, by code.
    pub async fn programs(&self) -> Result<Vec<ProgramView>, ServiceError> {
        let sources = self.store().current_programs().await?;
        sources
            .iter()
            .map(|source| {
                Ok(ProgramView {
                    definition: self.cached_definition(source)?,
                    sha256: source.sha256.clone(),
                    loaded_at: source.loaded_at,
                    loaded_by: source.loaded_by.clone(),
                })
            })
            .collect()
    }

    pub async fn program(&self, code: &str) -> Result<ProgramView, ServiceError> {
        self.programs()
            .await?
            .into_iter()
            .find(|p| p.definition.code == code)
            .ok_or_else(|| ServiceError::NotFound(format!("program {code}")))
    }

    /// The definition an enrolment was evaluated with.
    pub(crate) async fn definition_version(
        &self,
        tx: &mut dspp_store::Tx,
        code: &str,
        version: &str,
    ) -> Result<Arc<ProgramDefinition>, ServiceError> {
        let source = tx
            .program_version(code, version)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("program {code} version {version}")))?;
        self.cached_definition(&source)
    }

    /// Loads a definition file. Its operator (a program-operator client acting for `program:CODE`) or a
    /// national administrator may; a version once loaded never changes, so loading other content under an
    /// existing version is a conflict, and loading the same file again changes nothing.
    pub async fn put_program(
        &self,
        actor: &Actor,
        expected_code: Option<&str>,
        format: DefinitionFormat,
        bytes: &[u8],
    ) -> Result<ProgramView, ServiceError> {
        let source = match format {
            DefinitionFormat::Csv => std::str::from_utf8(bytes)
                .map_err(|e| {
                    ServiceError::invalid("definition", format!("the CSV file is not UTF-8: {e}"))
                })?
                .to_string(),
            DefinitionFormat::Xlsx => {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(bytes)
            }
        };
        let definition = parse_source(format.as_str(), &source)?;
        if let Some(code) = expected_code
            && code != definition.code
        {
            return Err(ServiceError::invalid(
                "settings row 2 column form_id",
                format!(
                    "the file defines program {:?} but was sent for {code:?}",
                    definition.code
                ),
            ));
        }
        let allowed = match (actor.role, &actor.scope) {
            (Role::NationalAdministrator | Role::System, _) => true,
            (Role::ProgramOperator, Scope::Program(code)) => *code == definition.code,
            _ => false,
        };
        if !allowed {
            return Err(ServiceError::Forbidden(format!(
                "only the operator of {} (role program_operator, scope program:{}) or a national administrator may load its definition",
                definition.code, definition.code
            )));
        }
        let sha256 = sha256_hex(bytes);
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if let Some(existing) = tx
            .program_version(&definition.code, &definition.version)
            .await?
            && existing.sha256 != sha256
        {
            return Err(ServiceError::Conflict(format!(
                "version {} of {} is already loaded with other content; give the changed file a new version in its settings sheet",
                definition.version, definition.code
            )));
        }
        let stored = ProgramSource {
            code: definition.code.clone(),
            version: definition.version.clone(),
            format: format.as_str().into(),
            source,
            sha256: sha256.clone(),
            loaded_at: now,
            loaded_by: actor.subject.clone(),
        };
        tx.put_program(&stored, &definition.operator).await?;
        tx.log_change(
            &dspp_store::Change {
                at: now,
                actor,
                reason: Some("program definition loaded"),
            },
            "load_program",
            "program",
            &format!("{}@{}", definition.code, definition.version),
            1,
        )
        .await?;
        tx.commit().await?;
        let definition = Arc::new(definition);
        if let Ok(mut cache) = self.definitions.0.write() {
            cache.insert(
                (definition.code.clone(), definition.version.clone()),
                definition.clone(),
            );
        }
        Ok(ProgramView {
            definition,
            sha256,
            loaded_at: now,
            loaded_by: actor.subject.clone(),
        })
    }

    /// Installs the shipped definitions the store does not have yet (at start-up and in the demo).
    /// Returns the codes installed now.
    pub async fn install_shipped_programs(&self) -> Result<Vec<String>, ServiceError> {
        let current = self.store().current_programs().await?;
        let mut installed = Vec::new();
        for (code, csv) in dspp_forms::SHIPPED {
            if current.iter().any(|p| p.code == *code) {
                continue;
            }
            let actor = Actor::system(dspp_domain::Purpose::Administration);
            self.put_program(&actor, Some(code), DefinitionFormat::Csv, csv.as_bytes())
                .await?;
            installed.push((*code).to_string());
        }
        Ok(installed)
    }
}
