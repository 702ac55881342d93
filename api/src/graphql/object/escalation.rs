use crate::graphql::scalar::Timestamp;
use async_graphql::{Context, ID, Object, Result};
use entity::escalation;

use super::ticket::Ticket;
use super::user::{User, UserConnection};
use crate::graphql::context::loaders;
use crate::graphql::enums::SlaTarget;
use crate::graphql::error::ResultExt;
use crate::graphql::id::{Kind, encode};

/// One level of one SLA breach: whom it reached, and who took it.
#[derive(Clone)]
pub struct Escalation(pub escalation::Model);

/// One level of one SLA breach: whom it reached, and who took it.
#[Object]
impl Escalation {
    /// The escalation's global ID, for `escalationAcknowledge`.
    pub async fn id(&self) -> ID {
        encode(Kind::Escalation, self.0.id)
    }

    /// The ticket, while you may read it.
    async fn ticket(&self, ctx: &Context<'_>) -> Result<Option<Ticket>> {
        Ok(loaders(ctx)?
            .tickets
            .load_one(self.0.ticket_id)
            .await
            .gql()?
            .map(Ticket))
    }

    /// Which SLA target was breached: first response or resolution.
    async fn target(&self) -> SlaTarget {
        self.0.target.into()
    }

    /// The level of the policy's ladder: 1 at the breach, then higher.
    async fn level(&self) -> i32 {
        self.0.level
    }

    /// When the target was due.
    async fn due_at(&self) -> Timestamp {
        Timestamp(self.0.due_at)
    }

    /// When the level fired.
    async fn escalated_at(&self) -> Timestamp {
        Timestamp(self.0.escalated_at)
    }

    /// Whom its last notice went to, by name: the level's targets, resolved when it fired or
    /// reminded.
    #[graphql(complexity = "(first.clamp(0, 100) as usize) * child_complexity + 1")]
    async fn recipients(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default = 20,
            validator(minimum = 0),
            desc = "How many recipients to return; more than 100 is served as 100."
        )]
        first: i32,
        #[graphql(
            desc = "Return the recipients after this cursor (an edge cursor or `endCursor`)."
        )]
        after: Option<String>,
    ) -> Result<UserConnection> {
        let ids = service::sla::escalation::recipients_of(&self.0);
        let users = loaders(ctx)?
            .users
            .load_many(ids.iter().copied())
            .await
            .gql()?;
        let (page, total) = super::page_info::slice(
            users
                .into_values()
                .map(std::sync::Arc::unwrap_or_clone)
                .collect(),
            first,
            after.as_deref(),
            service::page::KeyKind::Text,
            service::page::Sort::Ascending,
            service::user::position,
        )?;
        Ok(UserConnection::new(page, total))
    }

    /// Notices sent: the first, and each reminder since.
    async fn notices(&self) -> i32 {
        self.0.notices
    }

    /// When its recipients are reminded next; null once acknowledged, superseded by a higher
    /// level, or for a level without reminders.
    async fn next_notice_at(&self) -> Option<Timestamp> {
        self.0.next_notice_at.map(Timestamp)
    }

    /// When a member of staff acknowledged it; null until then.
    async fn acknowledged_at(&self) -> Option<Timestamp> {
        self.0.acknowledged_at.map(Timestamp)
    }

    /// Who took it.
    async fn acknowledged_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.acknowledged_by else {
            return Ok(None);
        };
        Ok(loaders(ctx)?.users.load_one(id).await.gql()?.map(User))
    }
}

super::page_info::connection!(
    /// A page of escalations, newest first.
    EscalationConnection,
    EscalationEdge,
    Escalation,
    escalation::Model,
    service::sla::escalation::position,
);
