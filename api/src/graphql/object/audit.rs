use crate::graphql::scalar::Timestamp;
use async_graphql::{Context, ID, Json, Object, Result};
use entity::audit_log;

use super::user::User;
use crate::graphql::context::loaders;
use crate::graphql::error::ResultExt;
use crate::graphql::id::{Kind, encode};

/// One entry of the audit log.
#[derive(Clone)]
pub struct AuditEntry(pub audit_log::Model);

/// One entry of the audit log.
#[Object]
impl AuditEntry {
    /// The entry's global ID.
    pub async fn id(&self) -> ID {
        encode(Kind::AuditEntry, self.0.id)
    }

    /// A dotted name: `auth.login_failed`, `user.role_changed`, `api_token.created` ...
    async fn action(&self) -> &str {
        &self.0.action
    }

    /// What happened, in a sentence for people.
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// The account concerned.
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.user_id else {
            return Ok(None);
        };
        Ok(loaders(ctx)?.users.load_one(id).await.gql()?.map(User))
    }

    /// Who made an administrative change.
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.actor_id else {
            return Ok(None);
        };
        Ok(loaders(ctx)?.users.load_one(id).await.gql()?.map(User))
    }

    /// The ticket concerned, by id.
    async fn ticket_id(&self) -> Option<ID> {
        self.0.ticket_id.map(|id| encode(Kind::Ticket, id))
    }

    /// What the change replaced: only the fields it changed.
    async fn old_values(&self) -> Option<Json<serde_json::Value>> {
        self.0.old_values.clone().map(Json)
    }

    /// What the change set: only the fields it changed.
    async fn new_values(&self) -> Option<Json<serde_json::Value>> {
        self.0.new_values.clone().map(Json)
    }

    /// The client address of the request behind the entry; null when there was none
    /// (background jobs, commands at the server's shell).
    async fn ip_address(&self) -> Option<&str> {
        self.0.ip_address.as_deref()
    }

    /// The `User-Agent` header of the request behind the entry (`helpdesk-cli/...` for
    /// commands at the server's shell); null when none was sent.
    async fn user_agent(&self) -> Option<&str> {
        self.0.user_agent.as_deref()
    }

    /// When it happened.
    async fn created_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }
}

super::page_info::connection!(
    /// A page of the audit log, newest first.
    AuditEntryConnection,
    AuditEntryEdge,
    AuditEntry,
    audit_log::Model,
    service::audit::position,
);
