//! Webhooks: endpoints outside systems register to receive every committed change, signed
//! the Standard Webhooks way (<https://www.standardwebhooks.com>).
//!
//! The relay creates one delivery per event and matching endpoint in the transaction that
//! publishes the event ([`enqueue`]); workers ([`deliver`]) send them with retries on the
//! specification's schedule. Deliveries are rows, so a restart resumes them, and an event's
//! `webhook-id` is the same in every attempt, redelivery and replay.
//!
//! Managing webhooks is for administrators.

pub mod deliver;
pub mod secret;
pub mod ssrf;

use base64::Engine;
use chrono::{DateTime, Utc};
use entity::{outbox_event, webhook, webhook_delivery};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::ClientInfo;
use crate::crypto::Keyring;
use crate::page::{Page, PageRequest, Position};
use crate::{Error, Result};
pub use ssrf::UrlPolicy;

pub const PING: &str = "webhook.ping";
pub const PENDING: &str = "PENDING";
pub const SUCCEEDED: &str = "SUCCEEDED";
pub const FAILED: &str = "FAILED";
/// How long a rotated-out secret keeps signing alongside the new one.
pub const ROTATION_OVERLAP: chrono::Duration = chrono::Duration::hours(24);
/// Most deliveries one `replay` creates.
pub const MAX_REPLAY: u64 = 10_000;

/// The event kinds an endpoint may ask for.
pub const KINDS: &[&str] = &[
    crate::event::TICKET_CREATED,
    crate::event::TICKET_UPDATED,
    crate::event::TICKET_ASSIGNED,
    crate::event::TICKET_STATUS_CHANGED,
    crate::event::TICKET_DELETED,
    crate::event::COMMENT_CREATED,
    crate::event::SLA_WARNING,
    crate::event::SLA_BREACHED,
    crate::event::SLA_ESCALATED,
    crate::event::SLA_ACKNOWLEDGED,
    crate::event::ATTACHMENT_SCANNED,
];

#[derive(Debug, Clone, Default)]
pub struct NewWebhook {
    pub url: String,
    /// Event kinds; empty means every kind.
    pub events: Vec<String>,
    pub description: Option<String>,
    pub organization_id: Option<Uuid>,
}

#[derive(Debug, Clone, Default)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    /// Enabling a disabled endpoint clears its failure record; its pending deliveries resume.
    pub enabled: Option<bool>,
}

fn require_admin(actor: &Actor) -> Result<()> {
    crate::access::require(actor.is_admin())
}

/// A new signing secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

fn check_events(events: &[String]) -> Result<Value> {
    for kind in events {
        if !KINDS.contains(&kind.as_str()) {
            return Err(Error::invalid(
                "events",
                format!("unknown event kind {kind:?}; known: {}", KINDS.join(", ")),
            ));
        }
    }
    let mut events = events.to_vec();
    events.sort();
    events.dedup();
    Ok(json!(events))
}

fn check_description(description: Option<String>) -> Result<String> {
    let description = description.unwrap_or_default().trim().to_string();
    if description.chars().count() > 500 {
        return Err(Error::invalid(
            "description",
            "must be at most 500 characters",
        ));
    }
    Ok(description)
}

/// Registers an endpoint; returns it and its secret (shown this once; stored sealed).
pub async fn create(
    db: &impl ConnectionTrait,
    actor: &Actor,
    new: NewWebhook,
    policy: UrlPolicy,
    keyring: &Keyring,
    client: &ClientInfo,
) -> Result<(webhook::Model, String)> {
    require_admin(actor)?;
    let url = ssrf::check_url(&new.url, policy).await?;
    let events = check_events(&new.events)?;
    let description = check_description(new.description)?;
    if let Some(organization_id) = new.organization_id
        && entity::organization::Entity::find_by_id(organization_id)
            .one(db)
            .await?
            .is_none()
    {
        return Err(Error::invalid("organizationId", "no such organization"));
    }
    let signing_secret = new_secret();
    let now = Utc::now();
    let id = Uuid::now_v7();
    let model = webhook::ActiveModel {
        id: Set(id),
        url: Set(url.to_string()),
        description: Set(description),
        events: Set(events),
        organization_id: Set(new.organization_id),
        secret: Set(secret::seal_current(keyring, id, &signing_secret)),
        previous_secret: Set(None),
        previous_secret_expires_at: Set(None),
        enabled: Set(true),
        disabled_reason: Set(None),
        disabled_at: Set(None),
        failing_since: Set(None),
        created_by: Set(Some(actor.user_id)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    crate::audit::admin_change(
        db,
        actor,
        "webhook.created",
        format!("webhook {} created", model.id),
        json!({}),
        fields(&model),
        client,
    )
    .await?;
    Ok((model, signing_secret))
}

/// The fields of an endpoint an audit entry shows (never its secrets).
fn fields(hook: &webhook::Model) -> serde_json::Value {
    json!({
        "id": hook.id,
        "url": hook.url,
        "description": hook.description,
        "events": hook.events,
        "organizationId": hook.organization_id,
        "enabled": hook.enabled,
    })
}

pub async fn get(db: &impl ConnectionTrait, actor: &Actor, id: Uuid) -> Result<webhook::Model> {
    require_admin(actor)?;
    webhook::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(Error::NotFound { entity: "webhook" })
}

/// Where an endpoint sits in the list of endpoints, oldest first.
pub fn position(hook: &webhook::Model) -> Position {
    Position {
        key: crate::page::Key::Time(hook.created_at),
        id: hook.id,
    }
}

/// Every endpoint, oldest first.
pub async fn list(db: &impl ConnectionTrait, actor: &Actor) -> Result<Vec<webhook::Model>> {
    require_admin(actor)?;
    Ok(webhook::Entity::find()
        .order_by_asc(webhook::Column::CreatedAt)
        .order_by_asc(webhook::Column::Id)
        .all(db)
        .await?)
}

pub async fn update(
    db: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
    changes: WebhookChanges,
    policy: UrlPolicy,
    client: &ClientInfo,
) -> Result<webhook::Model> {
    let current = get(db, actor, id).await?;
    let before = fields(&current);
    let url = match &changes.url {
        Some(url) => Some(ssrf::check_url(url, policy).await?.to_string()),
        None => None,
    };
    let events = changes.events.as_deref().map(check_events).transpose()?;
    let description = changes
        .description
        .map(|d| check_description(Some(d)))
        .transpose()?;
    let mut model = current.into_active_model();
    if let Some(url) = url {
        model.url = Set(url);
    }
    if let Some(events) = events {
        model.events = Set(events);
    }
    if let Some(description) = description {
        model.description = Set(description);
    }
    match changes.enabled {
        Some(true) => {
            model.enabled = Set(true);
            model.disabled_reason = Set(None);
            model.disabled_at = Set(None);
            model.failing_since = Set(None);
        }
        Some(false) => {
            model.enabled = Set(false);
            model.disabled_reason = Set(Some("disabled by an administrator".into()));
            model.disabled_at = Set(Some(Utc::now()));
        }
        None => {}
    }
    model.updated_at = Set(Utc::now());
    let updated = model.update(db).await?;
    crate::audit::admin_change(
        db,
        actor,
        "webhook.updated",
        format!("webhook {id} changed"),
        before,
        fields(&updated),
        client,
    )
    .await?;
    Ok(updated)
}

/// Deletes an endpoint and its deliveries.
pub async fn delete(
    db: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
    client: &ClientInfo,
) -> Result<()> {
    let current = get(db, actor, id).await?;
    webhook::Entity::delete_by_id(id).exec(db).await?;
    crate::audit::admin_change(
        db,
        actor,
        "webhook.deleted",
        format!("webhook {id} deleted"),
        fields(&current),
        json!({}),
        client,
    )
    .await
}

/// A new secret; the old one keeps signing alongside it for [`ROTATION_OVERLAP`], so
/// receivers can switch without losing a delivery. Both are stored sealed.
pub async fn rotate_secret(
    db: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
    keyring: &Keyring,
) -> Result<(webhook::Model, String)> {
    let current = get(db, actor, id).await?;
    let old = secret::current(keyring, &current)?;
    let new = new_secret();
    let now = Utc::now();
    let mut model = current.into_active_model();
    model.previous_secret = Set(Some(secret::seal_previous(keyring, id, &old)));
    model.previous_secret_expires_at = Set(Some(now + ROTATION_OVERLAP));
    model.secret = Set(secret::seal_current(keyring, id, &new));
    model.updated_at = Set(now);
    Ok((model.update(db).await?, new))
}

/// Queues a `webhook.ping` delivery to the endpoint.
pub async fn test(
    db: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
) -> Result<webhook_delivery::Model> {
    let hook = get(db, actor, id).await?;
    let now = Utc::now();
    let delivery_id = Uuid::now_v7();
    let body = json!({
        "type": PING,
        "timestamp": now,
        "data": { "version": crate::event::PAYLOAD_VERSION, "webhookId": hook.id },
    });
    Ok(webhook_delivery::ActiveModel {
        message_id: Set(format!("ping_{}", delivery_id.simple())),
        ..new_delivery(
            delivery_id,
            hook.id,
            None,
            None,
            PING,
            body.to_string(),
            now,
        )
    }
    .insert(db)
    .await?)
}

/// Sends a delivery again, as a new delivery with the same `webhook-id` and body.
pub async fn redeliver(
    db: &impl ConnectionTrait,
    actor: &Actor,
    delivery_id: Uuid,
) -> Result<webhook_delivery::Model> {
    require_admin(actor)?;
    let old = webhook_delivery::Entity::find_by_id(delivery_id)
        .one(db)
        .await?
        .ok_or(Error::NotFound {
            entity: "webhook delivery",
        })?;
    Ok(webhook_delivery::ActiveModel {
        message_id: Set(old.message_id),
        ..new_delivery(
            Uuid::now_v7(),
            old.webhook_id,
            old.event_id,
            old.ticket_id,
            &old.kind,
            old.body,
            Utc::now(),
        )
    }
    .insert(db)
    .await?)
}

/// Queues again, in order, every event since `since` that the endpoint subscribes to (at most
/// [`MAX_REPLAY`]); returns how many.
pub async fn replay<C>(db: &C, actor: &Actor, id: Uuid, since: DateTime<Utc>) -> Result<u64>
where
    C: ConnectionTrait + TransactionTrait,
{
    use sea_orm::TransactionSession;
    let hook = get(db, actor, id).await?;
    let mut query = outbox_event::Entity::find()
        .filter(outbox_event::Column::CreatedAt.gte(since))
        .order_by_asc(outbox_event::Column::Id)
        .limit(MAX_REPLAY);
    if let Some(organization_id) = hook.organization_id {
        query = query.filter(outbox_event::Column::OrganizationId.eq(organization_id));
    }
    let kinds = kinds_of(&hook);
    if !kinds.is_empty() {
        query = query.filter(outbox_event::Column::Kind.is_in(kinds));
    }
    let events = query.all(db).await?;
    let now = Utc::now();
    let rows: Vec<_> = events.iter().map(|e| delivery_of(&hook, e, now)).collect();
    let count = rows.len() as u64;
    let txn = crate::db::begin_write(db).await?;
    for chunk in rows.chunks(500) {
        webhook_delivery::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(count)
}

/// Which deliveries to list.
pub async fn deliveries(
    db: &impl ConnectionTrait,
    actor: &Actor,
    webhook_id: Uuid,
    status: Option<&str>,
    page: &PageRequest,
) -> Result<Page<webhook_delivery::Model>> {
    require_admin(actor)?;
    page.expect(crate::page::KeyKind::Time)?;
    let (limit, _) = page.window()?;
    let mut query =
        webhook_delivery::Entity::find().filter(webhook_delivery::Column::WebhookId.eq(webhook_id));
    if let Some(status) = status {
        query = query.filter(webhook_delivery::Column::Status.eq(status));
    }
    if let Some(after) = &page.after {
        // Ids are time-ordered (UUID v7): newest first, strictly older than the cursor's.
        query = query.filter(webhook_delivery::Column::Id.lt(after.id));
    }
    let mut rows = query
        .order_by_desc(webhook_delivery::Column::Id)
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

/// Where a delivery sits in an endpoint's deliveries.
pub fn delivery_position(delivery: &webhook_delivery::Model) -> Position {
    Position {
        key: crate::page::Key::Time(delivery.created_at),
        id: delivery.id,
    }
}

/// The kinds an endpoint subscribes to; empty means all.
pub fn kinds_of(hook: &webhook::Model) -> Vec<String> {
    serde_json::from_value(hook.events.clone()).unwrap_or_default()
}

fn wants(hook: &webhook::Model, kinds: &[String], event: &outbox_event::Model) -> bool {
    hook.organization_id
        .is_none_or(|organization_id| organization_id == event.organization_id)
        && (kinds.is_empty() || kinds.contains(&event.kind))
}

/// Creates the deliveries of `events` to every enabled endpoint that wants them. The relay
/// calls it in the transaction that publishes the events.
pub async fn enqueue(txn: &impl ConnectionTrait, events: &[outbox_event::Model]) -> Result<usize> {
    if events.is_empty() {
        return Ok(0);
    }
    let hooks = webhook::Entity::find()
        .filter(webhook::Column::Enabled.eq(true))
        .all(txn)
        .await?;
    if hooks.is_empty() {
        return Ok(0);
    }
    let now = Utc::now();
    let mut rows = Vec::new();
    for hook in &hooks {
        let kinds = kinds_of(hook);
        for event in events.iter().filter(|e| wants(hook, &kinds, e)) {
            rows.push(delivery_of(hook, event, now));
        }
    }
    let count = rows.len();
    for chunk in rows.chunks(500) {
        webhook_delivery::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await?;
    }
    Ok(count)
}

/// The `webhook-id` of an event's deliveries.
pub fn message_id(event_id: i64) -> String {
    format!("evt_{event_id}")
}

/// The body an event is delivered with: `{ type, timestamp, data }`, `data` carrying the
/// payload version.
pub fn body_of(event: &outbox_event::Model) -> String {
    let mut data = event.payload.clone();
    if let Some(object) = data.as_object_mut() {
        object.insert("eventId".into(), json!(event.id.to_string()));
        object.insert("sequence".into(), json!(event.sequence));
        object.insert("ticketId".into(), json!(event.ticket_id));
        object.insert("organizationId".into(), json!(event.organization_id));
        object.insert("actorId".into(), json!(event.actor_id));
        object.insert("internal".into(), json!(event.internal));
    }
    json!({ "type": event.kind, "timestamp": event.created_at, "data": data }).to_string()
}

fn delivery_of(
    hook: &webhook::Model,
    event: &outbox_event::Model,
    now: DateTime<Utc>,
) -> webhook_delivery::ActiveModel {
    webhook_delivery::ActiveModel {
        message_id: Set(message_id(event.id)),
        trace_parent: Set(event.trace_parent.clone()),
        ..new_delivery(
            Uuid::now_v7(),
            hook.id,
            Some(event.id),
            Some(event.ticket_id),
            &event.kind,
            body_of(event),
            now,
        )
    }
}

fn new_delivery(
    id: Uuid,
    webhook_id: Uuid,
    event_id: Option<i64>,
    ticket_id: Option<Uuid>,
    kind: &str,
    body: String,
    now: DateTime<Utc>,
) -> webhook_delivery::ActiveModel {
    webhook_delivery::ActiveModel {
        id: Set(id),
        webhook_id: Set(webhook_id),
        message_id: Set(String::new()),
        event_id: Set(event_id),
        ticket_id: Set(ticket_id),
        kind: Set(kind.to_string()),
        body: Set(body),
        status: Set(PENDING.into()),
        attempt: Set(0),
        next_attempt_at: Set(Some(now)),
        locked_until: Set(None),
        response_status: Set(None),
        duration_ms: Set(None),
        error: Set(None),
        created_at: Set(now),
        last_attempt_at: Set(None),
        trace_parent: Set(crate::trace::current()),
    }
}
