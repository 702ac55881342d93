//! Tickets: creation with a safely allocated number, changes through the lifecycle, purging.

pub mod alongside;
mod change;
pub mod query;

pub use change::{
    CreateTicket, TicketChanges, assign, available_transitions, create_as, is_member, soft_delete,
    transition, update,
};

use chrono::Utc;
use entity::enums::{TicketCategory, TicketPriority, TicketStatus};
use entity::{counter, organization, ticket, ticket_history, user};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, EntityTrait, TransactionSession, TransactionTrait,
};
use uuid::Uuid;

use crate::{Error, Result};

pub const MAX_TITLE_LENGTH: usize = 200;
pub const MAX_DESCRIPTION_LENGTH: usize = 100_000;
/// Ticket numbers start here so the first ones read like real ones (HD-1001).
const FIRST_NUMBER: i64 = 1001;
pub const NUMBER_COUNTER: &str = "ticket_number";
const NUMBER_PREFIX: &str = "HD-";

/// `1042` -> `HD-1042`.
pub fn display_number(number: i64) -> String {
    format!("{NUMBER_PREFIX}{number}")
}

/// Every priority, lowest first.
pub const PRIORITIES: [TicketPriority; 4] = [
    TicketPriority::Low,
    TicketPriority::Medium,
    TicketPriority::High,
    TicketPriority::Critical,
];

/// The API's name of a priority (`CRITICAL`).
pub fn priority_name(priority: TicketPriority) -> &'static str {
    match priority {
        TicketPriority::Low => "LOW",
        TicketPriority::Medium => "MEDIUM",
        TicketPriority::High => "HIGH",
        TicketPriority::Critical => "CRITICAL",
    }
}

/// `HD-1042`, `hd-1042` or `1042` -> `1042`.
pub fn parse_number(text: &str) -> Option<i64> {
    let text = text.trim();
    let digits = match text.get(..NUMBER_PREFIX.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(NUMBER_PREFIX) => &text[NUMBER_PREFIX.len()..],
        _ => text,
    };
    digits.parse().ok().filter(|n| *n > 0)
}

#[derive(Debug, Clone)]
pub struct NewTicket {
    pub title: String,
    pub description: String,
    pub priority: TicketPriority,
    pub category: TicketCategory,
    pub requester_id: Uuid,
    pub organization_id: Uuid,
}

pub fn validate_title(title: &str) -> Result<String> {
    let title = title.trim();
    if title.is_empty() {
        return Err(Error::invalid("title", "must not be empty"));
    }
    if title.chars().count() > MAX_TITLE_LENGTH {
        return Err(Error::invalid(
            "title",
            format!("must be at most {MAX_TITLE_LENGTH} characters"),
        ));
    }
    Ok(title.to_string())
}

pub fn validate_description(description: &str) -> Result<String> {
    if description.chars().count() > MAX_DESCRIPTION_LENGTH {
        return Err(Error::invalid(
            "description",
            format!("must be at most {MAX_DESCRIPTION_LENGTH} characters"),
        ));
    }
    Ok(description.trim().to_string())
}

/// Creates a ticket in status NEW. The number, the row and its first history entry are written
/// in one transaction: a failure anywhere leaves nothing behind and gives the number back.
#[tracing::instrument(skip(db, new), fields(organization_id = %new.organization_id))]
pub async fn create<C>(db: &C, actor_id: Option<Uuid>, new: NewTicket) -> Result<ticket::Model>
where
    C: ConnectionTrait + TransactionTrait,
{
    create_with(db, actor_id, new, &crate::attachment::Attaching::default()).await
}

/// As [`create`], attaching files `actor_id` uploaded for it, in the same transaction.
pub async fn create_with<C>(
    db: &C,
    actor_id: Option<Uuid>,
    new: NewTicket,
    attaching: &crate::attachment::Attaching,
) -> Result<ticket::Model>
where
    C: ConnectionTrait + TransactionTrait,
{
    let title = validate_title(&new.title)?;
    let description = validate_description(&new.description)?;

    let txn = crate::db::begin_write(db).await?;
    // The counter comes first: it is the write that serializes concurrent creates, and on
    // SQLite a transaction that starts with a write takes the write lock before reading.
    let number = next_numbers(&txn, 1).await?;
    if user::Entity::find_by_id(new.requester_id)
        .one(&txn)
        .await?
        .is_none()
    {
        return Err(Error::invalid("requesterId", "no such user"));
    }
    if organization::Entity::find_by_id(new.organization_id)
        .one(&txn)
        .await?
        .is_none()
    {
        return Err(Error::invalid("organizationId", "no such organization"));
    }
    let now = Utc::now();
    let created = ticket::Entity::insert(ticket::ActiveModel {
        id: Set(Uuid::now_v7()),
        number: Set(number),
        title: Set(title),
        description: Set(description),
        status: Set(TicketStatus::New),
        priority: Set(new.priority),
        category: Set(new.category),
        requester_id: Set(new.requester_id),
        assignee_id: Set(None),
        organization_id: Set(new.organization_id),
        first_response_at: Set(None),
        resolved_at: Set(None),
        closed_at: Set(None),
        reopened_count: Set(0),
        deleted_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec_with_returning(&txn)
    .await?;
    let created = after_change(&txn, None, created, now).await?;
    ticket_history::Entity::insert(history_entry(
        created.id,
        actor_id,
        "created",
        None,
        Some(display_number(number)),
        now,
    ))
    .exec_without_returning(&txn)
    .await?;
    let attached = match actor_id {
        Some(uploader) if !attaching.ids.is_empty() => {
            crate::attachment::attach(&txn, uploader, &created, None, attaching).await?
        }
        _ if !attaching.ids.is_empty() => {
            return Err(Error::invalid(
                "attachmentIds",
                "only a user attaches files",
            ));
        }
        _ => Vec::new(),
    };
    crate::event::record_with_attachments(
        &txn,
        &created,
        crate::event::TICKET_CREATED,
        actor_id,
        None,
        &attached,
        &[],
    )
    .await?;
    txn.commit().await?;
    Ok(created)
}

/// Keeps what hangs off a ticket row in step with a change, inside the change's transaction
/// and after the row was written: the SLA clock's columns, then the statistics roll-ups (which
/// read the settled clock). `before` is `None` for a new ticket.
pub(crate) async fn after_change(
    txn: &impl ConnectionTrait,
    before: Option<&ticket::Model>,
    after: ticket::Model,
    now: chrono::DateTime<Utc>,
) -> Result<ticket::Model> {
    let after = crate::sla::settle(txn, before, after, now).await?;
    crate::stats::rollup::track(txn, before, &after, now).await?;
    Ok(after)
}

pub(crate) fn history_entry(
    ticket_id: Uuid,
    actor_id: Option<Uuid>,
    field: &str,
    old_value: Option<String>,
    new_value: Option<String>,
    at: chrono::DateTime<Utc>,
) -> ticket_history::ActiveModel {
    ticket_history::ActiveModel {
        id: Set(Uuid::now_v7()),
        ticket_id: Set(ticket_id),
        actor_id: Set(actor_id),
        field: Set(field.to_string()),
        old_value: Set(old_value),
        new_value: Set(new_value),
        created_at: Set(at),
    }
}

/// Reserves `count` consecutive ticket numbers and returns the first. Call inside the
/// transaction that uses them: the counter row stays locked until it commits, so concurrent
/// callers get disjoint ranges, and a rollback returns the range.
pub async fn next_numbers(db: &impl ConnectionTrait, count: i64) -> Result<i64> {
    let bump = Query::update()
        .table(counter::Entity)
        .value(
            counter::Column::Value,
            Expr::col(counter::Column::Value).add(count),
        )
        .and_where(Expr::col(counter::Column::Name).eq(NUMBER_COUNTER))
        .returning_col(counter::Column::Value)
        .to_owned();
    if let Some(row) = db.query_one(&bump).await? {
        let last: i64 = row.try_get("", "value")?;
        return Ok(last - count + 1);
    }
    // First ticket ever: create the counter. Concurrent first creates race here, so the insert
    // yields to whichever came first and everyone then takes the bump path.
    let seed = Query::insert()
        .into_table(counter::Entity)
        .columns([counter::Column::Name, counter::Column::Value])
        .values_panic([NUMBER_COUNTER.into(), (FIRST_NUMBER - 1).into()])
        .on_conflict(
            OnConflict::column(counter::Column::Name)
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    db.execute(&seed).await?;
    let row = db
        .query_one(&bump)
        .await?
        .ok_or_else(|| Error::Internal("ticket number counter is missing".into()))?;
    let last: i64 = row.try_get("", "value")?;
    Ok(last - count + 1)
}

/// Removes a ticket for good, with its comments, attachments and history (the database
/// cascades). Tickets are normally soft-deleted; this is for retention and erasure requests.
#[tracing::instrument(skip(db))]
pub async fn purge(db: &impl ConnectionTrait, id: Uuid) -> Result<()> {
    let result = ticket::Entity::delete_by_id(id).exec(db).await?;
    if result.rows_affected == 0 {
        return Err(Error::NotFound { entity: "ticket" });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_and_parse_both_ways() {
        assert_eq!(display_number(1042), "HD-1042");
        assert_eq!(parse_number("HD-1042"), Some(1042));
        assert_eq!(parse_number(" hd-7 "), Some(7));
        assert_eq!(parse_number("1042"), Some(1042));
        for bad in ["HD-", "HD-x", "HD--1", "0", "", "XY-12"] {
            assert_eq!(parse_number(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn titles_are_required_and_bounded() {
        assert_eq!(
            validate_title("  Printer on fire ").unwrap(),
            "Printer on fire"
        );
        assert_eq!(validate_title(" ").unwrap_err().field(), Some("title"));
        assert_eq!(
            validate_title(&"x".repeat(MAX_TITLE_LENGTH + 1))
                .unwrap_err()
                .field(),
            Some("title")
        );
    }
}
