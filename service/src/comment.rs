//! Comments on tickets: writing them with their effects on the ticket, and reading them in
//! batches (one statement for the comments of many tickets).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::enums::TicketStatus;
use entity::{comment, ticket};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
    TransactionSession, TransactionTrait,
};
use uuid::Uuid;

use crate::actor::Actor;
use crate::decode::Positional;
use crate::error::{Violation, violation};
use crate::page::{Key, Position};
use crate::ticket::history_entry;
use crate::{Error, Result, access, lifecycle};

pub const MAX_BODY_LENGTH: usize = 100_000;

/// What a comment carries beside its body: files, and the staff it mentions by id.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    pub attaching: crate::attachment::Attaching,
    pub mention_ids: Vec<Uuid>,
}

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

pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    ticket_id: Uuid,
    author_id: Uuid,
    body: String,
    is_internal: bool,
    at: DateTime<Utc>,
) -> Result<comment::Model> {
    Ok(comment::Entity::insert(comment::ActiveModel {
        id: Set(Uuid::now_v7()),
        ticket_id: Set(ticket_id),
        author_id: Set(author_id),
        body: Set(body),
        is_internal: Set(is_internal),
        created_at: Set(at),
        updated_at: Set(at),
    })
    .exec_with_returning(db)
    .await?)
}

/// Comments on a ticket as `actor`. A public comment by the requester on a PENDING_INFO ticket
/// moves it back to OPEN; the first public comment by staff sets the first response time.
#[tracing::instrument(skip(db, actor, body), fields(actor = %actor.user_id))]
pub async fn create_as<C>(
    db: &C,
    actor: &Actor,
    ticket_id: Uuid,
    body: &str,
    is_internal: bool,
) -> Result<(comment::Model, ticket::Model)>
where
    C: ConnectionTrait + TransactionTrait,
{
    create_with_key(
        db,
        actor,
        ticket_id,
        body,
        is_internal,
        &Extras::default(),
        None,
    )
    .await
}

/// As [`create_as`], with an idempotency key: retrying with the same key within 24 hours
/// returns the comment the first try created.
pub async fn create_with_key<C>(
    db: &C,
    actor: &Actor,
    ticket_id: Uuid,
    body: &str,
    is_internal: bool,
    extras: &Extras,
    idempotency_key: Option<&str>,
) -> Result<(comment::Model, ticket::Model)>
where
    C: ConnectionTrait + TransactionTrait,
{
    let Some(key) = idempotency_key else {
        return create_once(db, actor, ticket_id, body, is_internal, extras).await;
    };
    crate::idempotency::validate(key)?;
    let ticket = ticket_id.to_string();
    let attachments = crate::attachment::id_list(&extras.attaching.ids);
    let mentions = crate::attachment::id_list(&extras.mention_ids);
    let mut parts = vec![
        ticket.as_str(),
        body.trim(),
        if is_internal { "internal" } else { "public" },
        attachments.as_str(),
    ];
    // Keys of comments without mentions keep the fingerprint they had before mentions.
    if !extras.mention_ids.is_empty() {
        parts.push(mentions.as_str());
    }
    let hash = crate::idempotency::fingerprint(&parts);
    for _ in 0..2 {
        let txn = crate::db::begin_write(db).await?;
        if let Some(id) =
            crate::idempotency::replay(&txn, actor.user_id, OPERATION, key, &hash).await?
        {
            txn.commit().await?;
            let original = comment::Entity::find_by_id(id)
                .one(db)
                .await?
                .ok_or(Error::NotFound { entity: "comment" })?;
            let ticket = crate::ticket::query::get(db, actor, original.ticket_id).await?;
            return Ok((original, ticket));
        }
        let (created, ticket) =
            create_once(&txn, actor, ticket_id, body, is_internal, extras).await?;
        if crate::idempotency::remember(&txn, actor.user_id, OPERATION, key, &hash, created.id)
            .await?
        {
            txn.commit().await?;
            return Ok((created, ticket));
        }
    }
    Err(Error::conflict(
        Some("idempotencyKey"),
        "the key is in use by a request still running",
    ))
}

const OPERATION: &str = "commentCreate";

async fn create_once<C>(
    db: &C,
    actor: &Actor,
    ticket_id: Uuid,
    body: &str,
    is_internal: bool,
    extras: &Extras,
) -> Result<(comment::Model, ticket::Model)>
where
    C: ConnectionTrait + TransactionTrait,
{
    let body = validate_body(body)?;
    let txn = crate::db::begin_write(db).await?;
    let current = crate::ticket::query::get(&txn, actor, ticket_id)
        .await
        .map_err(|e| match e {
            Error::NotFound { .. } => Error::invalid("ticketId", "no such ticket"),
            other => other,
        })?;
    access::require(access::can_comment(actor, &current))?;
    if is_internal {
        access::require(access::can_comment_internal(actor, &current))?;
    }
    let mentioned =
        crate::mention::resolve(&txn, actor, &current, &body, &extras.mention_ids).await?;
    let now = Utc::now();
    let created = insert(&txn, current.id, actor.user_id, body, is_internal, now).await?;
    let attached = crate::attachment::attach(
        &txn,
        actor.user_id,
        &current,
        Some(&created),
        &extras.attaching,
    )
    .await?;

    let mut row = ticket::ActiveModel {
        id: Set(current.id),
        ..Default::default()
    };
    // Clients see `updatedAt`; an internal note must not show through it.
    if !is_internal {
        row.updated_at = Set(now);
    }
    let mut history = Vec::new();
    if !is_internal {
        if actor.user_id == current.requester_id && current.status == TicketStatus::PendingInfo {
            row.status = Set(TicketStatus::Open);
            history.push(history_entry(
                current.id,
                Some(actor.user_id),
                "status",
                Some(lifecycle::name(TicketStatus::PendingInfo).into()),
                Some(lifecycle::name(TicketStatus::Open).into()),
                now,
            ));
        }
        if actor.is_staff() && current.first_response_at.is_none() {
            row.first_response_at = Set(Some(now));
            history.push(history_entry(
                current.id,
                Some(actor.user_id),
                "first_response_at",
                None,
                Some(now.to_rfc3339()),
                now,
            ));
        }
    }
    let reopened = history.iter().any(|h| h.field.as_ref() == "status");
    let ticket = ticket::Entity::update(row).exec(&txn).await?;
    let ticket = crate::ticket::after_change(&txn, Some(&current), ticket, now).await?;
    if !history.is_empty() {
        entity::ticket_history::Entity::insert_many(history)
            .exec_without_returning(&txn)
            .await?;
    }
    use crate::event;
    event::record_with_attachments(
        &txn,
        &ticket,
        event::COMMENT_CREATED,
        Some(actor.user_id),
        Some(&created),
        &attached,
        &mentioned,
    )
    .await?;
    if reopened {
        let change = event::Change::new(
            "status",
            Some(lifecycle::name(TicketStatus::PendingInfo).into()),
            Some(lifecycle::name(TicketStatus::Open).into()),
        );
        event::record(
            &txn,
            &ticket,
            event::TICKET_STATUS_CHANGED,
            Some(actor.user_id),
            &[change],
            None,
        )
        .await?;
    }
    txn.commit().await?;
    Ok((created, ticket))
}

/// The first `first` comments (oldest first, after the `after` position when given) of each
/// ticket in `ticket_ids` that `actor` may read, in one statement.
pub async fn first_of_tickets(
    db: &impl ConnectionTrait,
    actor: &Actor,
    ticket_ids: &[Uuid],
    first: u64,
    after: Option<(DateTime<Utc>, Uuid)>,
) -> Result<HashMap<Uuid, Vec<comment::Model>>> {
    let only = (!crate::access::sees_internal_notes(actor))
        .then(|| Expr::col((comment::Entity, comment::Column::IsInternal)).eq(false));
    let rows = crate::page::first_per_ticket::<comment::Entity, Positional<comment::Model>>(
        db, ticket_ids, first, after, only,
    )
    .await?;
    Ok(crate::page::by_ticket(
        rows.into_iter().map(|Positional(row)| row),
        |c| (c.ticket_id, c.created_at, c.id),
    ))
}

pub fn position(comment: &comment::Model) -> Position {
    Position {
        key: Key::Time(comment.created_at),
        id: comment.id,
    }
}

/// How many comments `actor` may read on each ticket, in one statement.
pub async fn counts_of_tickets(
    db: &impl ConnectionTrait,
    actor: &Actor,
    ticket_ids: &[Uuid],
) -> Result<HashMap<Uuid, i64>> {
    if ticket_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, i64)> = comment::Entity::find()
        .select_only()
        .column(comment::Column::TicketId)
        .column_as(comment::Column::Id.count(), "count")
        .filter(comment::Column::TicketId.is_in(ticket_ids.to_vec()))
        .filter(access::comment_scope(actor))
        .group_by(comment::Column::TicketId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}
