use async_graphql::{ID, InputObject};

/// A new comment on a ticket.
#[derive(InputObject)]
pub struct CommentCreateInput {
    /// The ticket's global ID.
    pub ticket_id: ID,
    /// The message: 1 to 100,000 characters after trimming.
    pub body: String,
    /// An internal note for staff; clients cannot write or read these.
    #[graphql(default)]
    pub internal: bool,
    /// Files you uploaded (`attachmentUploadBegin`) to attach with the comment; those of an
    /// internal note become internal.
    #[graphql(default)]
    pub attachment_ids: Vec<ID>,
    /// Members of staff who may read the ticket, to notify (staff only; at most 20). An
    /// `@handle` in the body (the part of their email before the `@`, or their name without
    /// spaces) mentions them too.
    #[graphql(default)]
    pub mention_ids: Vec<ID>,
    /// Retrying with the same key within 24 hours returns the first try's comment.
    pub idempotency_key: Option<String>,
}
