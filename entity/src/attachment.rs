use sea_orm::entity::prelude::*;

use crate::enums::{AttachmentState, ScanStatus};

/// A file on a ticket or comment. Its bytes live in the object store, encrypted with a key of
/// their own (`wrapped_key`, sealed with the server's data key).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "attachments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// NULL until `ticketCreate` attaches an upload made for a ticket not created yet.
    pub ticket_id: Option<Uuid>,
    pub comment_id: Option<Uuid>,
    pub uploaded_by: Option<Uuid>,
    pub file_name: String,
    /// The content type, as claimed at upload and checked against the bytes.
    pub content_type: String,
    /// Bytes of the file (the plaintext).
    pub size_bytes: i64,
    /// Hex SHA-256 of the content, known once the upload is complete.
    pub sha256: Option<String>,
    /// Where the encrypted bytes live in the object store; never shown to clients.
    pub storage_key: String,
    /// The file's own key, sealed with the data key (associated data: the attachment id).
    pub wrapped_key: String,
    /// Belongs to an internal note: staff only.
    pub is_internal: bool,
    pub state: AttachmentState,
    pub scan_status: ScanStatus,
    pub scan_attempts: i32,
    /// When the scanner tries (again); NULL when there is nothing to scan.
    pub scan_next_at: Option<DateTimeUtc>,
    /// The scanner's word: the signature found, or why the scan failed.
    pub scan_verdict: Option<String>,
    pub scanned_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub stored_at: Option<DateTimeUtc>,
    /// An upload not attached by then is removed.
    pub expires_at: Option<DateTimeUtc>,
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::ticket::Entity",
        from = "Column::TicketId",
        to = "super::ticket::Column::Id",
        on_delete = "Cascade"
    )]
    Ticket,
    #[sea_orm(
        belongs_to = "super::comment::Entity",
        from = "Column::CommentId",
        to = "super::comment::Column::Id",
        on_delete = "Cascade"
    )]
    Comment,
}

impl Related<super::ticket::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Ticket.def()
    }
}

impl Related<super::comment::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Comment.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
