use crate::graphql::scalar::Timestamp;
use async_graphql::{Context, Object, Result};
use entity::ticket_history;

use super::user::User;
use crate::graphql::context::loaders;
use crate::graphql::error::ResultExt;
use crate::graphql::extension::response_size::charge;

/// One changed field of a ticket: who changed it, when, from what to what.
#[derive(Clone)]
pub struct TicketHistoryEntry(pub ticket_history::Model);

/// One changed field of a ticket: who changed it, when, from what to what.
#[Object]
impl TicketHistoryEntry {
    /// The field that changed (`status`, `assignee`, `priority`, ...), or `created`.
    async fn field(&self) -> &str {
        &self.0.field
    }

    /// The value before the change, as text; null when there was none.
    async fn old_value(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        self.0
            .old_value
            .as_deref()
            .map(|v| charge(ctx, v))
            .transpose()
    }

    /// The value after the change, as text; null when it was cleared.
    async fn new_value(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        self.0
            .new_value
            .as_deref()
            .map(|v| charge(ctx, v))
            .transpose()
    }

    /// Who made the change; null when the system did (auto-close, escalation).
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(actor_id) = self.0.actor_id else {
            return Ok(None);
        };
        Ok(loaders(ctx)?
            .users
            .load_one(actor_id)
            .await
            .gql()?
            .map(User))
    }

    /// When the change was made.
    async fn at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }
}
