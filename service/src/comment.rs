//! Comments on tickets.

use chrono::Utc;
use entity::comment;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use uuid::Uuid;

use crate::error::{Violation, violation};
use crate::{Error, Result};

pub const MAX_BODY_LENGTH: usize = 100_000;

#[derive(Debug, Clone)]
pub struct NewComment {
    pub ticket_id: Uuid,
    pub author_id: Uuid,
    pub body: String,
    pub is_internal: bool,
}

pub fn validate_body(body: &str) -> Result<String> {
    let body = body.trim();
    if body.is_empty() {
        return Err(Error::invalid("body", "must not be empty"));
    }
    if body.chars().count() > MAX_BODY_LENGTH {
        return Err(Error::invalid(
            "body",
            format!("must be at most {MAX_BODY_LENGTH} characters"),
        ));
    }
    Ok(body.to_string())
}

#[tracing::instrument(skip(db, new), fields(ticket_id = %new.ticket_id))]
pub async fn create(db: &impl ConnectionTrait, new: NewComment) -> Result<comment::Model> {
    let body = validate_body(&new.body)?;
    let now = Utc::now();
    comment::Entity::insert(comment::ActiveModel {
        id: Set(Uuid::now_v7()),
        ticket_id: Set(new.ticket_id),
        author_id: Set(new.author_id),
        body: Set(body),
        is_internal: Set(new.is_internal),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_with_returning(db)
    .await
    .map_err(|err| match violation(err) {
        Ok(Violation::ForeignKey) => Error::NotFound {
            entity: "ticket or author",
        },
        Ok(Violation::Unique) => Error::Internal("unexpected unique violation on comments".into()),
        Err(other) => other,
    })
}
