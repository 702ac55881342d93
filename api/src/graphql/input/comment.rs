use async_graphql::{ID, InputObject};

#[derive(InputObject)]
pub struct CommentCreateInput {
    pub ticket_id: ID,
    pub body: String,
    /// An internal note for staff; clients cannot write or read these.
    #[graphql(default)]
    pub internal: bool,
    /// Retrying with the same key within 24 hours returns the first try's comment.
    pub idempotency_key: Option<String>,
}
