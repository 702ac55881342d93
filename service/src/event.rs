//! The event log (transactional outbox): every ticket change writes its event(s) in the same
//! transaction as the change, with a per-ticket sequence number; the change feed reads them
//! back within the reader's access.

use chrono::Utc;
use entity::{comment, outbox_event, ticket};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::actor::Actor;
use crate::page::{Key, Page, PageRequest, Position};
use crate::{Result, access};

/// The version of the payload layout; bumped when it changes incompatibly.
pub const PAYLOAD_VERSION: u32 = 1;

pub const TICKET_CREATED: &str = "ticket.created";
pub const TICKET_UPDATED: &str = "ticket.updated";
pub const TICKET_ASSIGNED: &str = "ticket.assigned";
pub const TICKET_STATUS_CHANGED: &str = "ticket.status_changed";
pub const TICKET_DELETED: &str = "ticket.deleted";
pub const COMMENT_CREATED: &str = "comment.created";
/// A target is `warnBeforeMinutes` away; sent once per ticket and target.
pub const SLA_WARNING: &str = "sla.warning";
/// A target passed unmet; sent once per ticket and target.
pub const SLA_BREACHED: &str = "sla.breached";
/// A breach reached a level of the policy's escalation ladder; once per level.
pub const SLA_ESCALATED: &str = "sla.escalated";

/// One changed field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

impl Change {
    pub fn new(field: &str, old_value: Option<String>, new_value: Option<String>) -> Self {
        Self {
            field: field.to_string(),
            old_value,
            new_value,
        }
    }
}

/// Appends an event for `ticket` (as it is after the change). Call inside the change's
/// transaction, after the ticket row was written: on PostgreSQL the row lock then orders
/// concurrent changes of one ticket, so their sequence numbers follow the commit order.
pub async fn record(
    db: &impl ConnectionTrait,
    ticket: &ticket::Model,
    kind: &str,
    actor_id: Option<Uuid>,
    changes: &[Change],
    comment: Option<&comment::Model>,
) -> Result<outbox_event::Model> {
    append(db, ticket, kind, actor_id, changes, comment, None).await
}

/// Appends an SLA event (by the system): `detail` goes out as the payload's `sla` object.
pub async fn record_sla(
    db: &impl ConnectionTrait,
    ticket: &ticket::Model,
    kind: &str,
    detail: serde_json::Value,
) -> Result<outbox_event::Model> {
    append(db, ticket, kind, None, &[], None, Some(detail)).await
}

async fn append(
    db: &impl ConnectionTrait,
    ticket: &ticket::Model,
    kind: &str,
    actor_id: Option<Uuid>,
    changes: &[Change],
    comment: Option<&comment::Model>,
    sla: Option<serde_json::Value>,
) -> Result<outbox_event::Model> {
    let internal = comment.is_some_and(|c| c.is_internal);
    let last: Option<(Option<i64>, Option<i64>)> = outbox_event::Entity::find()
        .select_only()
        .column_as(outbox_event::Column::Sequence.max(), "last")
        .column_as(outbox_event::Column::ClientSequence.max(), "last_client")
        .filter(outbox_event::Column::TicketId.eq(ticket.id))
        .into_tuple()
        .one(db)
        .await?;
    let (last, last_client) = last.unwrap_or_default();
    let sequence = last.unwrap_or(0) + 1;
    // Clients count only what they may see, so their numbers have no gaps.
    let client_sequence = (!internal).then(|| last_client.unwrap_or(0) + 1);
    let mut payload = json!({
        "version": PAYLOAD_VERSION,
        "ticket": {
            "id": ticket.id,
            "number": crate::ticket::display_number(ticket.number),
            "title": ticket.title,
            "status": crate::lifecycle::name(ticket.status),
            "priority": ticket.priority,
            "category": ticket.category,
            "organizationId": ticket.organization_id,
            "requesterId": ticket.requester_id,
            "assigneeId": ticket.assignee_id,
            "updatedAt": ticket.updated_at,
        },
        "changes": changes,
        "comment": comment.map(|c| json!({
            "id": c.id,
            "authorId": c.author_id,
            "body": c.body,
            "internal": c.is_internal,
            "createdAt": c.created_at,
        })),
    });
    if let Some(sla) = sla {
        payload["sla"] = sla;
    }
    Ok(outbox_event::Entity::insert(outbox_event::ActiveModel {
        id: Default::default(),
        ticket_id: Set(ticket.id),
        organization_id: Set(ticket.organization_id),
        kind: Set(kind.to_string()),
        sequence: Set(sequence),
        client_sequence: Set(client_sequence),
        actor_id: Set(actor_id),
        internal: Set(internal),
        payload: Set(payload),
        created_at: Set(Utc::now()),
        published_at: Set(None),
    })
    .exec_with_returning(db)
    .await?)
}

/// Which events to read.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub ticket_id: Option<Uuid>,
    pub organization_id: Option<Uuid>,
    pub kinds: Vec<String>,
}

/// The events `actor` may see: of tickets they may read now (so a ticket moved out of an
/// agent's reach takes its history with it), and never about an internal note for a client.
pub fn scope(actor: &Actor) -> Condition {
    let readable = Query::select()
        .column(ticket::Column::Id)
        .from(ticket::Entity)
        .cond_where(access::ticket_scope(actor))
        .to_owned();
    let mut condition = Condition::all().add(outbox_event::Column::TicketId.in_subquery(readable));
    if !access::sees_internal_notes(actor) {
        condition = condition.add(outbox_event::Column::Internal.eq(false));
    }
    condition
}

pub fn position(event: &outbox_event::Model) -> Position {
    Position {
        key: Key::Int(event.id),
        id: Uuid::nil(),
    }
}

/// A page of the change feed, oldest first, after an event id.
pub async fn feed(
    db: &impl ConnectionTrait,
    actor: &Actor,
    filter: &EventFilter,
    page: &PageRequest,
) -> Result<Page<outbox_event::Model>> {
    page.expect(crate::page::KeyKind::Int)?;
    let (limit, _) = page.window()?;
    let mut query = outbox_event::Entity::find().filter(scope(actor));
    if let Some(ticket_id) = filter.ticket_id {
        query = query.filter(outbox_event::Column::TicketId.eq(ticket_id));
    }
    if let Some(organization_id) = filter.organization_id {
        query = query.filter(outbox_event::Column::OrganizationId.eq(organization_id));
    }
    if !filter.kinds.is_empty() {
        query = query.filter(outbox_event::Column::Kind.is_in(filter.kinds.clone()));
    }
    if let Some(Position {
        key: Key::Int(after),
        ..
    }) = &page.after
    {
        query = query.filter(outbox_event::Column::Id.gt(*after));
    }
    let mut rows = query
        .order_by_asc(outbox_event::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok(Page {
        items: rows,
        has_next_page: more,
        has_previous_page: page.after.is_some(),
    })
}

/// The advisory lock key the relays of all replicas take turns on.
const RELAY_LOCK: i64 = 0x6864_6573_6b01;

/// Claims up to `limit` unpublished events in log order, for the relay. Call inside a write
/// transaction (`db::begin_write`) and mark them with [`mark_published`] before it commits. On
/// PostgreSQL a transaction-scoped advisory lock lets one relay work at a time (and the rows
/// are locked FOR UPDATE SKIP LOCKED), so replicas never publish an event twice or out of
/// order; on SQLite the write transaction serializes relays.
pub async fn claim_unpublished(
    txn: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<outbox_event::Model>> {
    use sea_orm::sea_query::{LockBehavior, LockType};
    // One relay at a time, so events are handed on in log order across replicas; a replica
    // that finds the lock taken leaves the batch to the holder.
    if !crate::db::try_job_lock(txn, RELAY_LOCK).await? {
        return Ok(Vec::new());
    }
    Ok(outbox_event::Entity::find()
        .filter(outbox_event::Column::PublishedAt.is_null())
        .order_by_asc(outbox_event::Column::Id)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(txn)
        .await?)
}

pub async fn mark_published(
    txn: &impl ConnectionTrait,
    events: &[outbox_event::Model],
) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    outbox_event::Entity::update_many()
        .col_expr(
            outbox_event::Column::PublishedAt,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .filter(outbox_event::Column::Id.is_in(events.iter().map(|e| e.id).collect::<Vec<_>>()))
        .exec(txn)
        .await?;
    Ok(())
}

/// The last event id, or 0 for an empty log: where a new subscriber starts.
pub async fn last_id(db: &impl ConnectionTrait) -> Result<i64> {
    last_id_where(db, None).await
}

/// The id of a ticket's last event, or 0: the state a reader of the ticket has already seen.
pub async fn last_id_of_ticket(db: &impl ConnectionTrait, ticket_id: Uuid) -> Result<i64> {
    last_id_where(db, Some(ticket_id)).await
}

async fn last_id_where(db: &impl ConnectionTrait, ticket_id: Option<Uuid>) -> Result<i64> {
    let mut query = outbox_event::Entity::find()
        .select_only()
        .column_as(outbox_event::Column::Id.max(), "last");
    if let Some(ticket_id) = ticket_id {
        query = query.filter(outbox_event::Column::TicketId.eq(ticket_id));
    }
    let last: Option<Option<i64>> = query.into_tuple().one(db).await?;
    Ok(last.flatten().unwrap_or(0))
}

/// Whether `actor` may receive `event` now: the same rules as the change feed.
pub async fn visible_to(
    db: &impl ConnectionTrait,
    actor: &Actor,
    event: &outbox_event::Model,
) -> Result<bool> {
    if !access::can_see_event(actor, event.internal) {
        return Ok(false);
    }
    Ok(ticket::Entity::find_by_id(event.ticket_id)
        .one(db)
        .await?
        .is_some_and(|t| access::can_read(actor, &t)))
}
