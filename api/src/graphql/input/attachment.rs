use async_graphql::{ID, InputObject};

/// A file about to be uploaded.
#[derive(InputObject)]
pub struct AttachmentUploadBeginInput {
    /// The ticket the file is for; omit it for a ticket you create next with `ticketCreate`.
    pub ticket_id: Option<ID>,
    /// The file's name (any directory is dropped); 1 to 255 characters.
    pub file_name: String,
    /// Its media type (`image/png`); checked against the bytes when they arrive.
    pub content_type: String,
    /// Its exact size in bytes: the upload must send exactly this many.
    pub size_bytes: i64,
    /// For an internal note (staff only).
    #[graphql(default)]
    pub internal: bool,
}

/// The file to delete.
#[derive(InputObject)]
pub struct AttachmentDeleteInput {
    /// The attachment's global ID.
    pub id: ID,
}
