//! Idempotency keys: the first request with a key claims it, its response is stored, and a retry with
//! the same key and body gets the stored response instead of doing the work twice.

use sqlx::Row;

use crate::{Store, StoreError, ts};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key is new and now belongs to this request: do the work, then `complete_idempotency`.
    Claimed,
    /// The same request was made before: answer with its response.
    Replay(StoredResponse),
    /// The key was used for a different request.
    Mismatch,
    /// The first request with this key has not finished (or was interrupted before it answered).
    InProgress,
}

impl Store {
    pub async fn claim_idempotency(
        &self,
        subject: &str,
        key: &str,
        method: &str,
        path: &str,
        request_hash: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<IdempotencyClaim, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO idempotency (actor_subject, idempotency_key, method, path, request_hash, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (actor_subject, idempotency_key) DO NOTHING",
        )
        .bind(subject)
        .bind(key)
        .bind(method)
        .bind(path)
        .bind(request_hash)
        .bind(ts(at))
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        if inserted.rows_affected() == 1 {
            return Ok(IdempotencyClaim::Claimed);
        }
        let row = sqlx::query(
            "SELECT method, path, request_hash, status, response_headers, response_body FROM idempotency
             WHERE actor_subject = $1 AND idempotency_key = $2",
        )
        .bind(subject)
        .bind(key)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        let get = |col: &str| row.try_get::<String, _>(col).map_err(StoreError::from_sqlx);
        if get("method")? != method || get("path")? != path || get("request_hash")? != request_hash
        {
            return Ok(IdempotencyClaim::Mismatch);
        }
        let status: Option<i64> = row.try_get("status").map_err(StoreError::from_sqlx)?;
        let Some(status) = status else {
            return Ok(IdempotencyClaim::InProgress);
        };
        let headers: Option<String> = row
            .try_get("response_headers")
            .map_err(StoreError::from_sqlx)?;
        let body: Option<String> = row
            .try_get("response_body")
            .map_err(StoreError::from_sqlx)?;
        Ok(IdempotencyClaim::Replay(StoredResponse {
            status: u16::try_from(status).unwrap_or(500),
            headers: headers
                .map(|h| crate::from_json(&h, "stored headers"))
                .transpose()?
                .unwrap_or_default(),
            body: body.unwrap_or_default(),
        }))
    }

    pub async fn complete_idempotency(
        &self,
        subject: &str,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE idempotency SET status = $1, response_headers = $2, response_body = $3
             WHERE actor_subject = $4 AND idempotency_key = $5",
        )
        .bind(i64::from(response.status))
        .bind(crate::to_json(&response.headers)?)
        .bind(&response.body)
        .bind(subject)
        .bind(key)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Releases a claim whose request failed before doing anything, so the client may retry.
    pub async fn release_idempotency(&self, subject: &str, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM idempotency WHERE actor_subject = $1 AND idempotency_key = $2 AND status IS NULL")
            .bind(subject)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }
}
