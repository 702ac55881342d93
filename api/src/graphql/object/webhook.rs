use crate::graphql::scalar::Timestamp;
use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::Utc;
use entity::{webhook, webhook_delivery};

use super::organization::Organization;
use super::payload::UserError;
use crate::graphql::context::{actor, db, loaders};
use crate::graphql::error::ResultExt;
use crate::graphql::extension::response_size::charge;
use crate::graphql::id::{Kind, encode, parse_cursor};

/// An endpoint that receives signed deliveries of events (administrators).
#[derive(Clone)]
pub struct Webhook(pub webhook::Model);

/// Where a delivery stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum WebhookDeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Succeeded,
    /// Every attempt failed, or the endpoint answered 410 Gone.
    Failed,
}

impl WebhookDeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => service::webhook::PENDING,
            Self::Succeeded => service::webhook::SUCCEEDED,
            Self::Failed => service::webhook::FAILED,
        }
    }

    fn parse(value: &str) -> Self {
        match value {
            service::webhook::SUCCEEDED => Self::Succeeded,
            service::webhook::FAILED => Self::Failed,
            _ => Self::Pending,
        }
    }
}

/// An endpoint that receives signed deliveries of events (administrators).
#[Object]
impl Webhook {
    /// The endpoint's global ID.
    pub async fn id(&self) -> ID {
        encode(Kind::Webhook, self.0.id)
    }

    /// The URL deliveries are POSTed to.
    async fn url(&self) -> &str {
        &self.0.url
    }

    /// What the endpoint is for, for people; empty when not given.
    async fn description(&self, ctx: &Context<'_>) -> Result<&str> {
        charge(ctx, &self.0.description)
    }

    /// The event kinds delivered; empty means every kind.
    async fn events(&self) -> Result<Vec<crate::graphql::enums::EventKind>> {
        service::webhook::kinds_of(&self.0)
            .iter()
            .map(|name| crate::graphql::enums::EventKind::of(name))
            .collect()
    }

    /// Only this organization's events; null means all.
    async fn organization(&self, ctx: &Context<'_>) -> Result<Option<Organization>> {
        let Some(id) = self.0.organization_id else {
            return Ok(None);
        };
        Ok(loaders(ctx)?
            .organizations
            .load_one(id)
            .await
            .gql()?
            .map(Organization))
    }

    /// False when an administrator disabled it, it answered 410 Gone, or every delivery failed
    /// for 5 days; its pending deliveries resume when it is enabled again.
    async fn enabled(&self) -> bool {
        self.0.enabled
    }

    /// Why the endpoint is disabled, in a sentence; null while it is enabled.
    async fn disabled_reason(&self) -> Option<&str> {
        self.0.disabled_reason.as_deref()
    }

    /// When the endpoint was disabled; null while it is enabled.
    async fn disabled_at(&self) -> Option<Timestamp> {
        self.0.disabled_at.map(Timestamp)
    }

    /// Since when every attempt has failed; null after a success.
    async fn failing_since(&self) -> Option<Timestamp> {
        self.0.failing_since.map(Timestamp)
    }

    /// Until when the secret before the last rotation still signs alongside the new one.
    async fn previous_secret_expires_at(&self) -> Option<Timestamp> {
        self.0
            .previous_secret_expires_at
            .filter(|until| *until > Utc::now())
            .map(Timestamp)
    }

    /// When the endpoint was created.
    async fn created_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }

    /// Deliveries to this endpoint, newest first.
    #[graphql(complexity = "(first.unwrap_or(20).clamp(0, 100) as usize) * child_complexity + 1")]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many deliveries to return, at most 100; 20 when null.")]
        first: Option<i32>,
        #[graphql(
            desc = "Return the deliveries after this cursor (an edge cursor or `endCursor`)."
        )]
        after: Option<String>,
        #[graphql(desc = "Only deliveries in this status.")] status: Option<WebhookDeliveryStatus>,
    ) -> Result<WebhookDeliveryConnection> {
        let viewer = &actor(ctx)?;
        let page = service::page::PageRequest {
            first,
            after: after.map(|c| parse_cursor(&c, "after")).transpose().gql()?,
            ..Default::default()
        };
        let page = service::webhook::deliveries(
            db(ctx)?,
            viewer,
            self.0.id,
            status.map(WebhookDeliveryStatus::as_str),
            &page,
        )
        .await
        .gql()?;
        Ok(WebhookDeliveryConnection::new(page))
    }
}

/// One event (or ping) on its way to an endpoint.
#[derive(Clone)]
pub struct WebhookDelivery(pub webhook_delivery::Model);

/// One event (or ping) on its way to an endpoint.
#[Object]
impl WebhookDelivery {
    /// The delivery's global ID, for `webhookDeliveryRedeliver`.
    pub async fn id(&self) -> ID {
        encode(Kind::WebhookDelivery, self.0.id)
    }

    /// The `webhook-id` header: the same for every attempt and redelivery of an event.
    async fn message_id(&self) -> &str {
        &self.0.message_id
    }

    /// The event delivered (`TicketEvent.id`); null for a ping.
    async fn event_id(&self) -> Option<ID> {
        self.0.event_id.map(|id| ID(id.to_string()))
    }

    /// The kind of the event delivered, or `WEBHOOK_PING` for a test.
    async fn kind(&self) -> async_graphql::Result<crate::graphql::enums::EventKind> {
        crate::graphql::enums::EventKind::of(&self.0.kind)
    }

    /// Attempts made so far.
    async fn attempt(&self) -> i32 {
        self.0.attempt
    }

    /// Where the delivery stands.
    async fn status(&self) -> WebhookDeliveryStatus {
        WebhookDeliveryStatus::parse(&self.0.status)
    }

    /// The HTTP status of the last attempt; null when none was received.
    async fn response_status(&self) -> Option<i32> {
        self.0.response_status
    }

    /// How long the last attempt took, in milliseconds; null before the first attempt.
    async fn duration_ms(&self) -> Option<i32> {
        self.0.duration_ms
    }

    /// When the next attempt is due; null once the delivery succeeded or failed.
    async fn next_attempt_at(&self) -> Option<Timestamp> {
        self.0.next_attempt_at.map(Timestamp)
    }

    /// Why the last attempt failed.
    async fn error(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        self.0.error.as_deref().map(|v| charge(ctx, v)).transpose()
    }

    /// When the delivery was queued.
    async fn created_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }

    /// When the last attempt was made; null before the first.
    async fn last_attempt_at(&self) -> Option<Timestamp> {
        self.0.last_attempt_at.map(Timestamp)
    }
}

super::page_info::connection!(
    /// A page of an endpoint's deliveries, newest first.
    WebhookDeliveryConnection,
    WebhookDeliveryEdge,
    WebhookDelivery,
    webhook_delivery::Model,
    service::webhook::delivery_position
);

/// A new endpoint, or one with a new secret.
#[derive(SimpleObject, Clone, Default)]
pub struct WebhookSecretPayload {
    /// The endpoint after the change; null when `userErrors` is not empty.
    pub webhook: Option<Webhook>,
    /// The signing secret (`whsec_...`), shown this once: store it now.
    pub secret: Option<String>,
    /// What was wrong with the input, field by field; empty when the change was made.
    pub user_errors: Vec<UserError>,
}

/// The result of `webhookDelete`.
#[derive(SimpleObject, Clone, Default)]
pub struct WebhookDeletePayload {
    /// The global ID of the endpoint deleted; null when `userErrors` is not empty.
    pub deleted_id: Option<ID>,
    /// What was wrong with the input, field by field; empty when the endpoint was deleted.
    pub user_errors: Vec<UserError>,
}

/// The result of `webhookReplay`.
#[derive(SimpleObject, Clone, Default)]
pub struct WebhookReplayPayload {
    /// Deliveries queued.
    pub queued: Option<u64>,
    /// What was wrong with the input, field by field; empty when the deliveries were queued.
    pub user_errors: Vec<UserError>,
}

super::page_info::connection!(
    /// A page of webhook endpoints, oldest first.
    WebhookConnection,
    WebhookEdge,
    Webhook,
    webhook::Model,
    service::webhook::position,
    /// How many endpoints there are in all.
    total_count: u64,
);
