use crate::graphql::scalar::Timestamp;
use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::attachment;
use service::attachment::link::{self, Link, Purpose};

use super::user::User;
use crate::graphql::AttachmentLinks;
use crate::graphql::context::{actor, loaders};
use crate::graphql::enums::{AttachmentStatus, ScanStatus};
use crate::graphql::error::ResultExt;
use crate::graphql::id::{Kind, encode};

/// A file on a ticket or comment. Visible exactly when its ticket and comment are: clients
/// never see the files of internal notes. Its bytes are not in the API: `downloadUrl` serves
/// them.
#[derive(Clone)]
pub struct Attachment(pub attachment::Model);

/// The links of the attachments, from the schema's data.
pub fn links<'a>(ctx: &'a Context<'_>) -> Result<&'a AttachmentLinks> {
    ctx.data::<AttachmentLinks>()
}

/// A link for the viewer to move the bytes of `attachment_id`, and when it expires.
pub fn mint(
    ctx: &Context<'_>,
    attachment_id: uuid::Uuid,
    purpose: Purpose,
) -> Result<(String, DateTime<Utc>)> {
    let viewer = actor(ctx)?;
    let links = links(ctx)?;
    let attachments = &links.attachments;
    let expires_at = Utc::now() + attachments.policy.link_ttl;
    let token = link::sign(
        &attachments.keyring,
        &Link {
            attachment_id,
            user_id: viewer.user_id,
            session_epoch: viewer.session_epoch,
            purpose,
            expires: expires_at.timestamp(),
        },
    );
    let path = match purpose {
        Purpose::Upload => crate::http::files::upload_path(&token),
        Purpose::Download => crate::http::files::download_path(&token),
    };
    Ok((format!("{}{path}", links.public_url), expires_at))
}

/// A file on a ticket or comment. Visible exactly when its ticket and comment are: clients
/// never see the files of internal notes. Its bytes are not in the API: `downloadUrl` serves
/// them.
#[Object]
impl Attachment {
    /// The attachment's global ID.
    pub async fn id(&self) -> ID {
        encode(Kind::Attachment, self.0.id)
    }

    /// The file's name as uploaded (without any directory).
    async fn file_name(&self) -> &str {
        &self.0.file_name
    }

    /// The media type, as claimed at upload and checked against the file's first bytes.
    async fn content_type(&self) -> &str {
        &self.0.content_type
    }

    /// The file's size in bytes.
    async fn size_bytes(&self) -> i64 {
        self.0.size_bytes
    }

    /// Hex SHA-256 of the content, once the upload is complete.
    async fn sha256(&self) -> Option<&str> {
        self.0.sha256.as_deref()
    }

    /// Belongs to an internal note (staff only).
    async fn internal(&self) -> bool {
        self.0.is_internal
    }

    /// Where the upload is: uploading, uploaded, or attached.
    async fn status(&self) -> AttachmentStatus {
        self.0.state.into()
    }

    /// Where the file is in its virus scan; it can be downloaded only when the scan allows.
    async fn scan_status(&self) -> ScanStatus {
        self.0.scan_status.into()
    }

    /// Who uploaded the file; null when their account was deleted.
    async fn uploaded_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.uploaded_by else {
            return Ok(None);
        };
        Ok(loaders(ctx)?.users.load_one(id).await.gql()?.map(User))
    }

    /// When the upload began.
    async fn created_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }

    /// A link that serves the file to you (and nobody else) for the next 15 minutes; null
    /// while it cannot be downloaded (upload not complete, scan pending, failed or infected).
    async fn download_url(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        let policy = &links(ctx)?.attachments.policy;
        if !service::attachment::downloadable(policy, &self.0) {
            return Ok(None);
        }
        Ok(Some(mint(ctx, self.0.id, Purpose::Download)?.0))
    }
}

super::page_info::connection!(
    /// A page of files, oldest first.
    AttachmentConnection,
    AttachmentEdge,
    Attachment,
    attachment::Model,
    service::attachment::position,
    /// How many files you may see there in all.
    total_count: u64,
);

/// The files of a ticket (with its comments') or of a comment that the viewer may see, as a
/// page: one statement for the whole level of tickets or comments.
pub async fn page_of(
    ctx: &Context<'_>,
    of: crate::graphql::loader::AttachmentsOf,
    first: i32,
    after: Option<&str>,
) -> Result<AttachmentConnection> {
    let files = loaders(ctx)?
        .attachments
        .load_one(of)
        .await
        .gql()?
        .unwrap_or_default();
    let (page, total) = super::page_info::slice(
        files,
        first,
        after,
        service::page::KeyKind::Time,
        service::page::Sort::Ascending,
        service::attachment::position,
    )?;
    Ok(AttachmentConnection::new(page, total))
}
