use async_graphql::{ID, InputObject};

/// A new webhook endpoint.
#[derive(InputObject)]
pub struct WebhookCreateInput {
    /// An http(s) URL on the public internet.
    pub url: String,
    /// Event kinds to deliver (`ticket.created`, `comment.created`, ...); empty or omitted
    /// means every kind.
    pub events: Option<Vec<String>>,
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
    pub events: Option<Vec<String>>,
    /// The new description: at most 500 characters.
    pub description: Option<String>,
    /// Enabling clears the failure record; pending deliveries resume.
    pub enabled: Option<bool>,
}
