//! Idempotency keys for creates. The same key from the same user within 24 hours gets the
//! original result instead of a duplicate; the same key with different input is a conflict.

use chrono::{Duration, Utc};
use entity::idempotency_key;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{Violation, violation};
use crate::{Error, Result};

pub const MAX_KEY_LENGTH: usize = 255;
const LIFETIME_HOURS: i64 = 24;

/// A hash of the parts of a request that must match for a retry to count as the same request.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn validate(key: &str) -> Result<()> {
    if key.trim().is_empty() || key.len() > MAX_KEY_LENGTH {
        return Err(Error::invalid(
            "idempotencyKey",
            format!("must be 1 to {MAX_KEY_LENGTH} characters"),
        ));
    }
    Ok(())
}

/// What an earlier request with this key created, if it was the same request; a conflict if it
/// was a different one; nothing if there was none (or it is older than 24 hours).
pub async fn replay(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    operation: &str,
    key: &str,
    hash: &str,
) -> Result<Option<Uuid>> {
    let found = idempotency_key::Entity::find()
        .filter(idempotency_key::Column::UserId.eq(user_id))
        .filter(idempotency_key::Column::Operation.eq(operation))
        .filter(idempotency_key::Column::Key.eq(key))
        .one(db)
        .await?;
    let Some(found) = found else {
        return Ok(None);
    };
    if found.created_at < Utc::now() - Duration::hours(LIFETIME_HOURS) {
        idempotency_key::Entity::delete_many()
            .filter(idempotency_key::Column::UserId.eq(user_id))
            .filter(idempotency_key::Column::Operation.eq(operation))
            .filter(idempotency_key::Column::Key.eq(key))
            .exec(db)
            .await?;
        return Ok(None);
    }
    if found.request_hash != hash {
        return Err(Error::conflict(
            Some("idempotencyKey"),
            "this key was already used for a different request",
        ));
    }
    Ok(Some(found.resource_id))
}

/// Remembers what a request with this key created. `Ok(false)` when a concurrent request with
/// the same key got there first: the caller's transaction must be rolled back and the
/// original replayed.
pub async fn remember(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    operation: &str,
    key: &str,
    hash: &str,
    resource_id: Uuid,
) -> Result<bool> {
    let inserted = idempotency_key::Entity::insert(idempotency_key::ActiveModel {
        user_id: Set(user_id),
        operation: Set(operation.to_string()),
        key: Set(key.to_string()),
        request_hash: Set(hash.to_string()),
        resource_id: Set(resource_id),
        created_at: Set(Utc::now()),
    })
    .exec_without_returning(db)
    .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(err) => match violation(err) {
            Ok(Violation::Unique) => Ok(false),
            Ok(Violation::ForeignKey) => Err(Error::NotFound { entity: "user" }),
            Err(other) => Err(other),
        },
    }
}

/// Deletes keys older than their 24 hours; returns how many. (A key found expired when it is
/// used again is replaced then; this removes the ones never used again.)
pub async fn remove_expired(db: &impl ConnectionTrait, now: chrono::DateTime<Utc>) -> Result<u64> {
    Ok(idempotency_key::Entity::delete_many()
        .filter(idempotency_key::Column::CreatedAt.lt(now - Duration::hours(LIFETIME_HOURS)))
        .exec(db)
        .await?
        .rows_affected)
}
