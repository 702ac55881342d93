use async_graphql::{ID, InputObject};

use crate::graphql::enums::EventKind;

/// A new webhook endpoint.
#[derive(InputObject)]
pub struct WebhookCreateInput {
    /// An http(s) URL on the public internet.
    pub url: String,
    /// Event kinds to deliver; empty or omitted means every kind.
    pub events: Option<Vec<EventKind>>,
    /// What the endpoint is for, for people; at most 500 characters.
    pub description: Option<String>,
    /// Deliver only this organization's events.
    pub organization_id: Option<ID>,
}

/// New values; omitted fields stay.
#[derive(InputObject)]
pub struct WebhookUpdateInput {
    /// The endpoint's global ID.
    pub id: ID,
    /// The new URL: http(s) on the public internet.
    pub url: Option<String>,
    /// The new event kinds to deliver; empty means every kind.
    pub events: Option<Vec<EventKind>>,
    /// The new description: at most 500 characters.
    pub description: Option<String>,
    /// Enabling clears the failure record; pending deliveries resume.
    pub enabled: Option<bool>,
}

/// The endpoint to delete.
#[derive(InputObject)]
pub struct WebhookDeleteInput {
    /// The endpoint's global ID.
    pub id: ID,
}

/// The endpoint whose signing secret to replace.
#[derive(InputObject)]
pub struct WebhookRotateSecretInput {
    /// The endpoint's global ID.
    pub id: ID,
}

/// The endpoint to send a test delivery to.
#[derive(InputObject)]
pub struct WebhookTestInput {
    /// The endpoint's global ID.
    pub id: ID,
}

/// The delivery to send again.
#[derive(InputObject)]
pub struct WebhookDeliveryRedeliverInput {
    /// The delivery's global ID.
    pub id: ID,
}

/// The endpoint, and from when to queue its events again.
#[derive(InputObject)]
pub struct WebhookReplayInput {
    /// The endpoint's global ID.
    pub id: ID,
    /// Replay the events that occurred at or after this time.
    pub since: crate::graphql::scalar::Timestamp,
}
