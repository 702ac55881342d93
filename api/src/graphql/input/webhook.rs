use async_graphql::{ID, InputObject};

#[derive(InputObject)]
pub struct WebhookCreateInput {
    /// An http(s) URL on the public internet.
    pub url: String,
    /// Event kinds to deliver (`ticket.created`, `comment.created`, ...); empty or omitted
    /// means every kind.
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    /// Deliver only this organization's events.
    pub organization_id: Option<ID>,
}

/// New values; omitted fields stay.
#[derive(InputObject)]
pub struct WebhookUpdateInput {
    pub id: ID,
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    /// Enabling clears the failure record; pending deliveries resume.
    pub enabled: Option<bool>,
}
