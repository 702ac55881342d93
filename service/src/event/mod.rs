//! The event log (transactional outbox): every ticket change writes its event(s) in the same
//! transaction as the change, with a per-ticket sequence number; the relay ([`relay`]) then
//! publishes them in commit order, numbering them with a log-wide `position`; the change feed
//! reads them back by position within the reader's access.

pub mod relay;

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
/// A file's virus scan finished: clean or infected (its metadata in `attachment`).
pub const ATTACHMENT_SCANNED: &str = "attachment.scanned";
/// A breach reached a level of the policy's escalation ladder (once per level), or a level
/// nobody acknowledged reminds its recipients (`reminder` counts them).
pub const SLA_ESCALATED: &str = "sla.escalated";
/// A member of staff took an escalation (the actor); its reminders stop.
pub const SLA_ACKNOWLEDGED: &str = "sla.acknowledged";

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

/// Appends an event of a change that added files and may mention staff: the files' metadata
/// go out as the payload's `attachments` list (never their bytes), the mentioned users as the
/// comment's `mentionIds`.
pub async fn record_with_attachments(
    db: &impl ConnectionTrait,
    ticket: &ticket::Model,
    kind: &str,
    actor_id: Option<Uuid>,
    comment: Option<&comment::Model>,
    attachments: &[entity::attachment::Model],
    mentions: &[Uuid],
) -> Result<outbox_event::Model> {
    let list = attachments
        .iter()
        .map(crate::attachment::metadata)
        .collect::<Vec<_>>();
    let extra = (!attachments.is_empty() || !mentions.is_empty()).then(|| Extra::Added {
        attachments: list,
        mentions: mentions.to_vec(),
    });
    append_event(db, ticket, kind, actor_id, &[], comment, extra).await
}

/// Appends an event about one file (by the system): internal when the file is.
pub async fn record_attachment(
    db: &impl ConnectionTrait,
    ticket: &ticket::Model,
    kind: &str,
    attachment: &entity::attachment::Model,
) -> Result<outbox_event::Model> {
    let extra = Extra::Attachment {
        metadata: crate::attachment::metadata(attachment),
        internal: attachment.is_internal,
    };
    append_event(db, ticket, kind, None, &[], None, Some(extra)).await
}

/// Appends an SLA event (by the system, or by the member of staff who acknowledged an
/// escalation): `detail` goes out as the payload's `sla` object.
pub async fn record_sla(
    db: &impl ConnectionTrait,
    ticket: &ticket::Model,
    kind: &str,
    actor_id: Option<Uuid>,
    detail: serde_json::Value,
) -> Result<outbox_event::Model> {
    append(db, ticket, kind, actor_id, &[], None, Some(detail)).await
}

/// What an event's payload carries beside the ticket, its changes and its comment.
enum Extra {
    Sla(serde_json::Value),
    Added {
        attachments: Vec<serde_json::Value>,
        mentions: Vec<Uuid>,
    },
    Attachment {
        metadata: serde_json::Value,
        internal: bool,
    },
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
    append_event(
        db,
        ticket,
        kind,
        actor_id,
        changes,
        comment,
        sla.map(Extra::Sla),
    )
    .await
}

async fn append_event(
    db: &impl ConnectionTrait,
    ticket: &ticket::Model,
    kind: &str,
    actor_id: Option<Uuid>,
    changes: &[Change],
    comment: Option<&comment::Model>,
    extra: Option<Extra>,
) -> Result<outbox_event::Model> {
    let internal = comment.is_some_and(|c| c.is_internal)
        || matches!(extra, Some(Extra::Attachment { internal: true, .. }));
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
    match extra {
        Some(Extra::Sla(sla)) => payload["sla"] = sla,
        Some(Extra::Added {
            attachments,
            mentions,
        }) => {
            if !attachments.is_empty() {
                payload["attachments"] = attachments.into();
            }
            if !mentions.is_empty() && payload["comment"].is_object() {
                payload["comment"]["mentionIds"] = json!(mentions);
            }
        }
        Some(Extra::Attachment { metadata, .. }) => payload["attachment"] = metadata,
        None => {}
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
        position: Set(None),
        trace_parent: Set(crate::trace::current()),
    })
    .exec_with_returning(db)
    .await?)
}

/// Which events to read: the one definition of the filter, applied in SQL to the change feed
/// and in memory to live events ([`EventFilter::matches`]).
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub ticket_id: Option<Uuid>,
    pub organization_id: Option<Uuid>,
    pub kinds: Vec<String>,
}

impl EventFilter {
    /// The filter as a condition on `outbox_events`.
    pub fn condition(&self) -> Condition {
        let mut condition = Condition::all();
        if let Some(ticket_id) = self.ticket_id {
            condition = condition.add(outbox_event::Column::TicketId.eq(ticket_id));
        }
        if let Some(organization_id) = self.organization_id {
            condition = condition.add(outbox_event::Column::OrganizationId.eq(organization_id));
        }
        if !self.kinds.is_empty() {
            condition = condition.add(outbox_event::Column::Kind.is_in(self.kinds.clone()));
        }
        condition
    }

    /// Whether `event` passes the filter: the same test as [`EventFilter::condition`].
    pub fn matches(&self, event: &outbox_event::Model) -> bool {
        self.ticket_id.is_none_or(|id| id == event.ticket_id)
            && self
                .organization_id
                .is_none_or(|id| id == event.organization_id)
            && (self.kinds.is_empty() || self.kinds.contains(&event.kind))
    }
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

/// The cursor of a published event: its position.
pub fn position(event: &outbox_event::Model) -> Position {
    Position {
        key: Key::Int(event.position.unwrap_or_default()),
        id: Uuid::nil(),
    }
}

/// A page of the change feed, oldest first, after a position. Only published events are in
/// it, so a reader never sees an event that a later commit could still precede.
pub async fn feed(
    db: &impl ConnectionTrait,
    actor: &Actor,
    filter: &EventFilter,
    page: &PageRequest,
) -> Result<Page<outbox_event::Model>> {
    page.expect(crate::page::KeyKind::Int)?;
    let (limit, _) = page.window()?;
    let after = match &page.after {
        Some(Position {
            key: Key::Int(after),
            ..
        }) => Some(*after),
        _ => None,
    };
    if let Some(after) = after {
        check_cursor(db, after).await?;
    }
    let mut rows = outbox_event::Entity::find()
        .filter(scope(actor))
        .filter(filter.condition())
        .filter(outbox_event::Column::Position.gt(after.unwrap_or(0)))
        .order_by_asc(outbox_event::Column::Position)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok(Page {
        items: rows,
        has_next_page: more,
        has_previous_page: after.is_some(),
    })
}

/// The counter holding the last position retention removed: a cursor before it has lost events.
const EXPIRED_THROUGH: &str = "events.expired_through";

/// `CURSOR_EXPIRED` when events after `after` were removed by retention.
pub async fn check_cursor(db: &impl ConnectionTrait, after: i64) -> Result<()> {
    let expired = expired_through(db).await?;
    if after < expired {
        return Err(crate::Error::CursorExpired { oldest: expired });
    }
    Ok(())
}

/// The last position retention removed, or 0.
pub async fn expired_through(db: &impl ConnectionTrait) -> Result<i64> {
    Ok(entity::counter::Entity::find_by_id(EXPIRED_THROUGH)
        .one(db)
        .await?
        .map_or(0, |c| c.value))
}

/// Removes published events created before `before` (never one the relay has not handed on);
/// returns how many. Call inside a write transaction. Readers whose cursor falls before what
/// is left get `CURSOR_EXPIRED`.
pub async fn remove_before(
    txn: &impl ConnectionTrait,
    before: chrono::DateTime<Utc>,
) -> Result<u64> {
    let last: Option<Option<i64>> = outbox_event::Entity::find()
        .select_only()
        .column_as(outbox_event::Column::Position.max(), "last")
        .filter(outbox_event::Column::CreatedAt.lt(before))
        .filter(outbox_event::Column::Position.is_not_null())
        .into_tuple()
        .one(txn)
        .await?;
    let Some(through) = last.flatten() else {
        return Ok(0);
    };
    // Everything up to that position goes, so what is left is the log's tail, whole.
    let removed = outbox_event::Entity::delete_many()
        .filter(outbox_event::Column::Position.lte(through))
        .exec(txn)
        .await?
        .rows_affected;
    entity::counter::Entity::insert(entity::counter::ActiveModel {
        name: Set(EXPIRED_THROUGH.to_string()),
        value: Set(through),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(entity::counter::Column::Name)
            .update_column(entity::counter::Column::Value)
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(removed)
}

/// Published events after `after`, in position order, at most `limit`: what a replica that
/// missed some of the fan-out forwards to its subscribers.
pub async fn published_after(
    db: &impl ConnectionTrait,
    after: i64,
    limit: u64,
) -> Result<Vec<outbox_event::Model>> {
    Ok(outbox_event::Entity::find()
        .filter(outbox_event::Column::Position.gt(after))
        .order_by_asc(outbox_event::Column::Position)
        .limit(limit)
        .all(db)
        .await?)
}

/// The last position published, or 0 for a log that never had an event: where a new
/// subscriber starts. Retention never takes it back: positions are never reused.
pub async fn last_position(db: &impl ConnectionTrait) -> Result<i64> {
    let last: Option<Option<i64>> = outbox_event::Entity::find()
        .select_only()
        .column_as(outbox_event::Column::Position.max(), "last")
        .into_tuple()
        .one(db)
        .await?;
    match last.flatten() {
        Some(last) => Ok(last),
        None => expired_through(db).await,
    }
}

/// The id of a ticket's last event, or 0: the state a reader of the ticket has already seen.
/// (One ticket's changes commit in the order they took their ids: each locks the ticket row
/// before it writes its event.)
pub async fn last_id_of_ticket(db: &impl ConnectionTrait, ticket_id: Uuid) -> Result<i64> {
    let last: Option<Option<i64>> = outbox_event::Entity::find()
        .select_only()
        .column_as(outbox_event::Column::Id.max(), "last")
        .filter(outbox_event::Column::TicketId.eq(ticket_id))
        .into_tuple()
        .one(db)
        .await?;
    Ok(last.flatten().unwrap_or(0))
}
