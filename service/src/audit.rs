//! Writing the audit log: security-relevant events with who, what and from where.

use chrono::Utc;
use entity::audit_log;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use uuid::Uuid;

use crate::Result;

/// Where a request came from, for the audit log and refresh-token records.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    fn ip(&self) -> Option<String> {
        self.ip.as_ref().map(|ip| truncate(ip, 45))
    }

    fn user_agent(&self) -> Option<String> {
        self.user_agent.as_ref().map(|ua| truncate(ua, 512))
    }
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

pub async fn record(
    db: &impl ConnectionTrait,
    user_id: Option<Uuid>,
    action: &str,
    ticket_id: Option<Uuid>,
    description: impl Into<String>,
    client: &ClientInfo,
) -> Result<()> {
    audit_log::Entity::insert(audit_log::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        action: Set(action.to_string()),
        ticket_id: Set(ticket_id),
        description: Set(description.into()),
        ip_address: Set(client.ip()),
        user_agent: Set(client.user_agent()),
        created_at: Set(Utc::now()),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}
