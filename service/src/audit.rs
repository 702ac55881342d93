//! The audit log: security-relevant events and administrative changes, with who, what, from
//! where, and (for changes) the values replaced and set; readable by administrators.

use chrono::{DateTime, Utc};
use entity::audit_log;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::Result;
use crate::actor::Actor;

/// Where a request came from, for the audit log and refresh-token records.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// The server's shell: the user agent names the command line and the operating-system
    /// user who ran it; there is no address.
    pub fn command_line() -> Self {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into());
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        ClientInfo {
            ip: None,
            user_agent: Some(format!(
                "{COMMAND_LINE_AGENT}/{} ({user}@{host})",
                env!("CARGO_PKG_VERSION")
            )),
        }
    }

    fn ip(&self) -> Option<String> {
        self.ip.as_ref().map(|ip| truncate(ip, 45))
    }

    fn user_agent(&self) -> Option<String> {
        self.user_agent.as_ref().map(|ua| truncate(ua, 512))
    }
}

/// The user agent of entries written by `helpdesk` commands at the shell.
pub const COMMAND_LINE_AGENT: &str = "helpdesk-cli";

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
    insert(
        db,
        user_id,
        action,
        ticket_id,
        description.into(),
        None,
        client,
    )
    .await
}

/// An administrative change: who made it, the account it concerns (if any), and the values
/// it replaced (`old`) and set (`new`), kept to the fields that differ.
#[derive(Debug, Clone)]
pub struct Change {
    pub actor_id: Uuid,
    pub user_id: Option<Uuid>,
    pub action: &'static str,
    pub description: String,
    pub old: Value,
    pub new: Value,
}

/// Records an administrative change with its old and new values.
pub async fn record_change(
    db: &impl ConnectionTrait,
    change: Change,
    client: &ClientInfo,
) -> Result<()> {
    let (old, new) = differing(change.old, change.new);
    insert(
        db,
        change.user_id,
        change.action,
        None,
        change.description,
        Some((change.actor_id, old, new)),
        client,
    )
    .await
}

/// Records an administrative change to something that is not an account (an organization, a
/// webhook, a policy): the actor, and the values replaced and set.
pub async fn admin_change(
    db: &impl ConnectionTrait,
    actor: &Actor,
    action: &'static str,
    description: String,
    old: Value,
    new: Value,
    client: &ClientInfo,
) -> Result<()> {
    record_change(
        db,
        Change {
            actor_id: actor.user_id,
            user_id: None,
            action,
            description,
            old,
            new,
        },
        client,
    )
    .await
}

/// The fields of two objects whose values differ (a field one lacks counts as null); other
/// values are kept whole.
fn differing(old: Value, new: Value) -> (Value, Value) {
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let keys: std::collections::BTreeSet<String> =
                old.keys().chain(new.keys()).cloned().collect();
            let (mut before, mut after) = (Map::new(), Map::new());
            for key in keys {
                let (a, b) = (
                    old.get(&key).cloned().unwrap_or(Value::Null),
                    new.get(&key).cloned().unwrap_or(Value::Null),
                );
                if a != b {
                    before.insert(key.clone(), a);
                    after.insert(key, b);
                }
            }
            (Value::Object(before), Value::Object(after))
        }
        (old, new) => (old, new),
    }
}

async fn insert(
    db: &impl ConnectionTrait,
    user_id: Option<Uuid>,
    action: &str,
    ticket_id: Option<Uuid>,
    description: String,
    change: Option<(Uuid, Value, Value)>,
    client: &ClientInfo,
) -> Result<()> {
    let (actor_id, old_values, new_values) = match change {
        Some((actor, old, new)) => (Some(actor), Some(old), Some(new)),
        None => (None, None, None),
    };
    // The command line has no account: its entries name no actor (their user agent says
    // where they came from).
    let (user_id, actor_id) = (
        user_id.filter(|id| !id.is_nil()),
        actor_id.filter(|id| !id.is_nil()),
    );
    audit_log::Entity::insert(audit_log::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        action: Set(action.to_string()),
        ticket_id: Set(ticket_id),
        description: Set(description),
        ip_address: Set(client.ip()),
        user_agent: Set(client.user_agent()),
        created_at: Set(Utc::now()),
        actor_id: Set(actor_id),
        old_values: Set(old_values),
        new_values: Set(new_values),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Which entries to read.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Entries about this account or made by it.
    pub user_id: Option<Uuid>,
    /// An action (`user.role_changed`), or all of a kind with a trailing dot (`user.`).
    pub action: Option<String>,
    pub ticket_id: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// The audit log for administrators, newest first: `first` entries after `after`, plus one to
/// tell whether more follow.
pub async fn list(
    db: &impl ConnectionTrait,
    actor: &Actor,
    filter: &AuditFilter,
    first: u64,
    after: Option<(DateTime<Utc>, Uuid)>,
) -> Result<Vec<audit_log::Model>> {
    crate::access::require(actor.is_admin())?;
    let mut query = audit_log::Entity::find();
    if let Some(user_id) = filter.user_id {
        query = query.filter(
            Condition::any()
                .add(audit_log::Column::UserId.eq(user_id))
                .add(audit_log::Column::ActorId.eq(user_id)),
        );
    }
    match filter.action.as_deref().map(str::trim) {
        Some(kind) if kind.ends_with('.') => {
            query = query.filter(audit_log::Column::Action.starts_with(kind));
        }
        Some(action) if !action.is_empty() => {
            query = query.filter(audit_log::Column::Action.eq(action));
        }
        _ => {}
    }
    if let Some(ticket_id) = filter.ticket_id {
        query = query.filter(audit_log::Column::TicketId.eq(ticket_id));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_log::Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_log::Column::CreatedAt.lt(to));
    }
    if let Some(after) = after {
        query = query.filter(crate::page::older_than(
            audit_log::Column::CreatedAt,
            audit_log::Column::Id,
            after,
        ));
    }
    Ok(query
        .order_by_desc(audit_log::Column::CreatedAt)
        .order_by_desc(audit_log::Column::Id)
        .limit(first + 1)
        .all(db)
        .await?)
}

/// An entry's place in the log, for cursors.
pub fn position(entry: &audit_log::Model) -> crate::page::Position {
    crate::page::Position {
        key: crate::page::Key::Time(entry.created_at),
        id: entry.id,
    }
}
