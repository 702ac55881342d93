//! Changing tickets on behalf of an actor: create, edit, assign, move through the lifecycle,
//! delete. Each change is one transaction holding the row change and its history rows.

use chrono::Utc;
use entity::enums::{Role, TicketCategory, TicketPriority, TicketStatus};
use entity::{organization_member, ticket, user};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, EntityTrait, QuerySelect, TransactionSession,
    TransactionTrait,
};
use uuid::Uuid;

use super::{NewTicket, history_entry, validate_description, validate_title};
use crate::actor::Actor;
use crate::{Error, Result, access, event, idempotency, lifecycle};

/// A ticket as a user asks for it; the organization and requester default from the actor.
#[derive(Debug, Clone)]
pub struct CreateTicket {
    pub title: String,
    pub description: String,
    pub priority: TicketPriority,
    pub category: TicketCategory,
    /// Required unless the actor belongs to exactly one organization.
    pub organization_id: Option<Uuid>,
    /// Staff may file on behalf of a member of the organization; clients file for themselves.
    pub requester_id: Option<Uuid>,
    /// Retrying with the same key within 24 hours returns the ticket the first try created.
    pub idempotency_key: Option<String>,
    /// Files the actor uploaded for the new ticket.
    pub attachments: crate::attachment::Attaching,
}

pub async fn is_member(
    db: &impl ConnectionTrait,
    organization_id: Uuid,
    user_id: Uuid,
) -> Result<bool> {
    Ok(
        organization_member::Entity::find_by_id((organization_id, user_id))
            .one(db)
            .await?
            .is_some(),
    )
}

#[tracing::instrument(skip(db, actor, input), fields(actor = %actor.user_id))]
pub async fn create_as<C>(db: &C, actor: &Actor, input: CreateTicket) -> Result<ticket::Model>
where
    C: ConnectionTrait + TransactionTrait,
{
    let organization_id = match input.organization_id {
        Some(id) => id,
        None => match actor.organization_ids.as_slice() {
            [only] => *only,
            _ => return Err(Error::invalid("organizationId", "is required")),
        },
    };
    access::require(access::can_create_in(actor, organization_id))?;
    let requester_id = match input.requester_id {
        None => actor.user_id,
        Some(id) if id == actor.user_id => id,
        Some(_) if actor.is_client() => return Err(Error::Forbidden),
        Some(id) => {
            if !is_member(db, organization_id, id).await? {
                return Err(Error::invalid(
                    "requesterId",
                    "the requester must belong to the ticket's organization",
                ));
            }
            id
        }
    };
    let new = NewTicket {
        title: input.title,
        description: input.description,
        priority: input.priority,
        category: input.category,
        requester_id,
        organization_id,
    };
    let Some(key) = input.idempotency_key else {
        return super::create_with(db, Some(actor.user_id), new, &input.attachments).await;
    };
    idempotency::validate(&key)?;
    let hash = idempotency::fingerprint(&[
        &new.title,
        &new.description,
        &value(new.priority),
        &value(new.category),
        &organization_id.to_string(),
        &requester_id.to_string(),
        &crate::attachment::id_list(&input.attachments.ids),
    ]);
    // Twice at most: a concurrent request with the same key may commit between our check and
    // our insert, and then the second pass replays its ticket.
    for _ in 0..2 {
        let txn = crate::db::begin_write(db).await?;
        if let Some(id) = idempotency::replay(&txn, actor.user_id, OPERATION, &key, &hash).await? {
            txn.commit().await?;
            return super::query::get(db, actor, id).await;
        }
        let created =
            super::create_with(&txn, Some(actor.user_id), new.clone(), &input.attachments).await?;
        if idempotency::remember(&txn, actor.user_id, OPERATION, &key, &hash, created.id).await? {
            txn.commit().await?;
            return Ok(created);
        }
    }
    Err(Error::conflict(
        Some("idempotencyKey"),
        "the key is in use by a request still running",
    ))
}

const OPERATION: &str = "ticketCreate";

/// Loads a ticket for change inside `txn` (locked on PostgreSQL until the transaction ends),
/// or NOT_FOUND when the actor may not read it.
pub(crate) async fn load_for_change(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
) -> Result<ticket::Model> {
    access::readable(
        actor,
        ticket::Entity::find_by_id(id)
            .lock_exclusive()
            .one(txn)
            .await?,
    )
}

/// New values for the editable fields; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TicketChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub priority: Option<TicketPriority>,
    pub category: Option<TicketCategory>,
}

#[tracing::instrument(skip(db, actor, changes), fields(actor = %actor.user_id))]
pub async fn update<C>(
    db: &C,
    actor: &Actor,
    id: Uuid,
    changes: TicketChanges,
) -> Result<ticket::Model>
where
    C: ConnectionTrait + TransactionTrait,
{
    let title = changes.title.as_deref().map(validate_title).transpose()?;
    let description = changes
        .description
        .as_deref()
        .map(validate_description)
        .transpose()?;

    let txn = crate::db::begin_write(db).await?;
    let current = load_for_change(&txn, actor, id).await?;
    access::require(access::can_update(actor, &current))?;

    let now = Utc::now();
    let mut row = ticket::ActiveModel {
        id: Set(current.id),
        ..Default::default()
    };
    let mut history = Vec::new();
    let mut field_changes = Vec::new();
    let mut note = |field: &str, old: String, new: String| {
        field_changes.push(crate::event::Change::new(
            field,
            Some(old.clone()),
            Some(new.clone()),
        ));
        history.push(history_entry(
            current.id,
            Some(actor.user_id),
            field,
            Some(old),
            Some(new),
            now,
        ));
    };
    if let Some(title) = title.filter(|t| *t != current.title) {
        note("title", current.title.clone(), title.clone());
        row.title = Set(title);
    }
    if let Some(description) = description.filter(|d| *d != current.description) {
        note(
            "description",
            current.description.clone(),
            description.clone(),
        );
        row.description = Set(description);
    }
    if let Some(priority) = changes.priority.filter(|p| *p != current.priority) {
        note("priority", value(current.priority), value(priority));
        row.priority = Set(priority);
    }
    if let Some(category) = changes.category.filter(|c| *c != current.category) {
        note("category", value(current.category), value(category));
        row.category = Set(category);
    }
    if history.is_empty() {
        return Ok(current);
    }
    row.updated_at = Set(now);
    let updated = ticket::Entity::update(row).exec(&txn).await?;
    let updated = super::after_change(&txn, Some(&current), updated, now).await?;
    ticket_history_insert(&txn, history).await?;
    event::record(
        &txn,
        &updated,
        event::TICKET_UPDATED,
        Some(actor.user_id),
        &field_changes,
        None,
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

fn value<E: sea_orm::ActiveEnum<Value = String>>(e: E) -> String {
    e.to_value()
}

async fn ticket_history_insert(
    db: &impl ConnectionTrait,
    rows: Vec<entity::ticket_history::ActiveModel>,
) -> Result<()> {
    if !rows.is_empty() {
        entity::ticket_history::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Assigns the ticket to a staff member, or unassigns it with `None`. Clients cannot be
/// assignees, and an agent must belong to the ticket's organization.
#[tracing::instrument(skip(db, actor), fields(actor = %actor.user_id))]
pub async fn assign<C>(
    db: &C,
    actor: &Actor,
    id: Uuid,
    assignee_id: Option<Uuid>,
) -> Result<ticket::Model>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = crate::db::begin_write(db).await?;
    let current = load_for_change(&txn, actor, id).await?;
    access::require(access::can_assign(actor, &current))?;
    if let Some(assignee_id) = assignee_id {
        let assignee = user::Entity::find_by_id(assignee_id)
            .one(&txn)
            .await?
            .ok_or_else(|| Error::invalid("assigneeId", "no such user"))?;
        match assignee.role {
            Role::Client => {
                return Err(Error::invalid(
                    "assigneeId",
                    "tickets cannot be assigned to clients",
                ));
            }
            Role::Agent if !is_member(&txn, current.organization_id, assignee.id).await? => {
                return Err(Error::invalid(
                    "assigneeId",
                    "the agent does not belong to the ticket's organization",
                ));
            }
            _ => {}
        }
    }
    if assignee_id == current.assignee_id {
        return Ok(current);
    }
    let now = Utc::now();
    let updated = ticket::Entity::update(ticket::ActiveModel {
        id: Set(current.id),
        assignee_id: Set(assignee_id),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(&txn)
    .await?;
    let updated = super::after_change(&txn, Some(&current), updated, now).await?;
    ticket_history_insert(
        &txn,
        vec![history_entry(
            current.id,
            Some(actor.user_id),
            "assignee",
            current.assignee_id.map(|id| id.to_string()),
            assignee_id.map(|id| id.to_string()),
            now,
        )],
    )
    .await?;
    let change = event::Change::new(
        "assignee",
        current.assignee_id.map(|id| id.to_string()),
        assignee_id.map(|id| id.to_string()),
    );
    event::record(
        &txn,
        &updated,
        event::TICKET_ASSIGNED,
        Some(actor.user_id),
        &[change],
        None,
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// The statuses `actor` may move this ticket to.
pub fn available_transitions(actor: &Actor, ticket: &ticket::Model) -> Vec<TicketStatus> {
    if !access::can_transition(actor, ticket) {
        return Vec::new();
    }
    lifecycle::successors(ticket.status)
        .iter()
        .copied()
        .filter(|to| may_take(actor, ticket, ticket.status, *to))
        .collect()
}

fn may_take(actor: &Actor, ticket: &ticket::Model, from: TicketStatus, to: TicketStatus) -> bool {
    if access::can_update(actor, ticket) {
        return true;
    }
    ticket.requester_id == actor.user_id && lifecycle::requester_may(from, to)
}

/// Moves the ticket to `to`, optionally with a public comment in the same transaction.
#[tracing::instrument(skip(db, actor, comment), fields(actor = %actor.user_id))]
pub async fn transition<C>(
    db: &C,
    actor: &Actor,
    id: Uuid,
    to: TicketStatus,
    comment: Option<String>,
) -> Result<ticket::Model>
where
    C: ConnectionTrait + TransactionTrait,
{
    let comment = comment
        .filter(|c| !c.trim().is_empty())
        .map(|c| crate::comment::validate_body(&c))
        .transpose()?;
    let txn = crate::db::begin_write(db).await?;
    let current = load_for_change(&txn, actor, id).await?;
    access::require(access::can_transition(actor, &current))?;
    let from = current.status;
    if !lifecycle::is_edge(from, to) {
        return Err(Error::InvalidTransition {
            from: lifecycle::name(from).into(),
            to: lifecycle::name(to).into(),
        });
    }
    access::require(may_take(actor, &current, from, to))?;

    let now = Utc::now();
    let mut row = ticket::ActiveModel {
        id: Set(current.id),
        status: Set(to),
        updated_at: Set(now),
        ..Default::default()
    };
    match to {
        TicketStatus::Resolved => {
            row.resolved_at = Set(Some(now));
            row.closed_at = Set(None);
        }
        TicketStatus::Closed => {
            row.closed_at = Set(Some(now));
            row.resolved_at = Set(Some(current.resolved_at.unwrap_or(now)));
        }
        _ if lifecycle::is_reopen(from, to) => {
            row.resolved_at = Set(None);
            row.closed_at = Set(None);
            row.reopened_count = Set(current.reopened_count + 1);
        }
        _ => {}
    }
    let mut history = vec![history_entry(
        current.id,
        Some(actor.user_id),
        "status",
        Some(lifecycle::name(from).into()),
        Some(lifecycle::name(to).into()),
        now,
    )];
    let mut posted = None;
    if let Some(body) = comment {
        posted =
            Some(crate::comment::insert(&txn, current.id, actor.user_id, body, false, now).await?);
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
    let updated = ticket::Entity::update(row).exec(&txn).await?;
    let updated = super::after_change(&txn, Some(&current), updated, now).await?;
    ticket_history_insert(&txn, history).await?;
    let change = event::Change::new(
        "status",
        Some(lifecycle::name(from).into()),
        Some(lifecycle::name(to).into()),
    );
    event::record(
        &txn,
        &updated,
        event::TICKET_STATUS_CHANGED,
        Some(actor.user_id),
        &[change],
        None,
    )
    .await?;
    if let Some(posted) = &posted {
        event::record(
            &txn,
            &updated,
            event::COMMENT_CREATED,
            Some(actor.user_id),
            &[],
            Some(posted),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(updated)
}

/// Soft-deletes the ticket: hidden from every listing from now on, kept for the record.
#[tracing::instrument(skip(db, actor), fields(actor = %actor.user_id))]
pub async fn soft_delete<C>(db: &C, actor: &Actor, id: Uuid) -> Result<ticket::Model>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = crate::db::begin_write(db).await?;
    let current = load_for_change(&txn, actor, id).await?;
    access::require(access::can_delete(actor, &current))?;
    let now = Utc::now();
    let deleted = ticket::Entity::update(ticket::ActiveModel {
        id: Set(current.id),
        deleted_at: Set(Some(now)),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(&txn)
    .await?;
    let deleted = super::after_change(&txn, Some(&current), deleted, now).await?;
    ticket_history_insert(
        &txn,
        vec![history_entry(
            current.id,
            Some(actor.user_id),
            "deleted",
            None,
            Some(now.to_rfc3339()),
            now,
        )],
    )
    .await?;
    event::record(
        &txn,
        &deleted,
        event::TICKET_DELETED,
        Some(actor.user_id),
        &[],
        None,
    )
    .await?;
    txn.commit().await?;
    Ok(deleted)
}
