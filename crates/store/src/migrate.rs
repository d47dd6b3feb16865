//! Versioned migrations: numbered SQL files compiled into the binary, applied in order, each once, each
//! in its own transaction, recorded in `schema_migrations` with a checksum so an edited file is caught.

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{Store, StoreError, ts};

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "registry",
        sql: include_str!("../migrations/0001_registry.sql"),
    },
    Migration {
        version: 2,
        name: "enrolment",
        sql: include_str!("../migrations/0002_enrolment.sql"),
    },
    Migration {
        version: 3,
        name: "duplicates",
        sql: include_str!("../migrations/0003_duplicates.sql"),
    },
    Migration {
        version: 4,
        name: "biometrics",
        sql: include_str!("../migrations/0004_biometrics.sql"),
    },
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: i64,
    pub name: String,
}

fn checksum(sql: &str) -> String {
    Sha256::digest(sql.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Store {
    /// Brings the schema up to date and returns the migrations applied now (none when current).
    pub async fn migrate(&self) -> Result<Vec<AppliedMigration>, StoreError> {
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)",
        )
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        let rows = sqlx::query("SELECT version, checksum FROM schema_migrations ORDER BY version")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        let mut done = Vec::new();
        for row in rows {
            let version: i64 = row.try_get("version").map_err(StoreError::from_sqlx)?;
            let sum: String = row.try_get("checksum").map_err(StoreError::from_sqlx)?;
            done.push((version, sum));
        }
        let mut applied = Vec::new();
        for migration in MIGRATIONS {
            if let Some((_, sum)) = done.iter().find(|(v, _)| *v == migration.version) {
                if *sum != checksum(migration.sql) {
                    return Err(StoreError::Config(format!(
                        "migration {} ({}) was changed after it was applied; add a new migration instead",
                        migration.version, migration.name
                    )));
                }
                continue;
            }
            let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
            sqlx::raw_sql(migration.sql)
                .execute(&mut *tx)
                .await
                .map_err(|source| StoreError::Migration {
                    version: migration.version,
                    source,
                })?;
            sqlx::query("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)")
                .bind(migration.version)
                .bind(migration.name)
                .bind(checksum(migration.sql))
                .bind(ts(chrono::Utc::now()))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
            tx.commit().await.map_err(StoreError::from_sqlx)?;
            tracing::info!(
                version = migration.version,
                name = migration.name,
                "applied migration"
            );
            applied.push(AppliedMigration {
                version: migration.version,
                name: migration.name.to_string(),
            });
        }
        Ok(applied)
    }
}
