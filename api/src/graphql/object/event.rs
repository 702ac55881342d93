use crate::graphql::scalar::Timestamp;
use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{comment, outbox_event};
use serde::Deserialize;

use super::comment::Comment;
use super::ticket::Ticket;
use super::user::User;
use crate::graphql::context::{actor, loaders};
use crate::graphql::error::ResultExt;

/// One committed change of a ticket, from the event log.
#[derive(Clone)]
pub struct TicketEvent(pub outbox_event::Model);

/// A changed field: its value before and after.
#[derive(SimpleObject, Clone)]
pub struct FieldChange {
    /// The field that changed (`status`, `assignee`, `priority`, ...).
    pub field: String,
    /// The value before the change, as text; null when there was none.
    pub old_value: Option<String>,
    /// The value after the change, as text; null when it was cleared.
    pub new_value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommentSnapshot {
    id: uuid::Uuid,
    author_id: uuid::Uuid,
    body: String,
    internal: bool,
    created_at: DateTime<Utc>,
}

/// One committed change of a ticket, from the event log.
#[Object]
impl TicketEvent {
    /// The event's identity: the same in the change feed, in subscriptions and as the
    /// `eventId` (and `webhook-id`) of its webhook deliveries.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Where the event is in the log: 1, 2, 3, ... in the order changes committed, over every
    /// ticket. Resume a subscription after it (`ticketEvents(after:)`); the change feed's
    /// cursors are positions too.
    async fn position(&self) -> ID {
        ID(self.0.position.unwrap_or_default().to_string())
    }

    /// 1, 2, 3, ... per ticket, in the order its changes committed, counting the events you
    /// may see: no gaps.
    async fn sequence(&self, ctx: &Context<'_>) -> Result<i64> {
        let viewer = actor(ctx)?;
        Ok(if service::access::sees_internal_notes(&viewer) {
            self.0.sequence
        } else {
            self.0.client_sequence.unwrap_or_default()
        })
    }

    /// What the event records.
    async fn kind(&self) -> Result<crate::graphql::enums::EventKind> {
        crate::graphql::enums::EventKind::of(&self.0.kind)
    }

    /// When the change was committed.
    async fn occurred_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }

    /// Who made the change; null for the system.
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.actor_id else {
            return Ok(None);
        };
        Ok(loaders(ctx)?.users.load_one(id).await.gql()?.map(User))
    }

    /// The ticket as it is now; null when you may no longer see it (or it was deleted).
    async fn ticket(&self, ctx: &Context<'_>) -> Result<Option<Ticket>> {
        Ok(loaders(ctx)?
            .tickets
            .load_one(self.0.ticket_id)
            .await
            .gql()?
            .map(Ticket))
    }

    /// The comment of a `comment.created` event.
    async fn comment(&self) -> Option<Comment> {
        let snapshot: CommentSnapshot =
            serde_json::from_value(self.0.payload.get("comment")?.clone()).ok()?;
        Some(Comment(comment::Model {
            id: snapshot.id,
            ticket_id: self.0.ticket_id,
            author_id: snapshot.author_id,
            body: snapshot.body,
            is_internal: snapshot.internal,
            created_at: snapshot.created_at,
            updated_at: snapshot.created_at,
        }))
    }

    /// The fields the change touched.
    async fn changes(&self) -> Vec<FieldChange> {
        let changes: Vec<service::event::Change> = self
            .0
            .payload
            .get("changes")
            .and_then(|c| serde_json::from_value(c.clone()).ok())
            .unwrap_or_default();
        changes
            .into_iter()
            .map(|c| FieldChange {
                field: c.field,
                old_value: c.old_value,
                new_value: c.new_value,
            })
            .collect()
    }
}

super::page_info::connection!(
    /// A page of the change feed, oldest first.
    TicketEventConnection,
    TicketEventEdge,
    TicketEvent,
    outbox_event::Model,
    service::event::position
);
