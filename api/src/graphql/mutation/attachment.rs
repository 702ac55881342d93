use crate::graphql::scalar::Timestamp;
use async_graphql::{Context, ID, Object, Result, SimpleObject};
use service::attachment::link::Purpose;

use crate::graphql::context::{actor, db};
use crate::graphql::id::{Kind, encode, expect};
use crate::graphql::input::attachment::{AttachmentDeleteInput, AttachmentUploadBeginInput};
use crate::graphql::object::attachment::{Attachment, links, mint};
use crate::graphql::object::payload::{UserError, user_errors};

#[derive(Default)]
pub struct AttachmentMutation;

/// The result of `attachmentUploadBegin`: the new upload and where its bytes go.
#[derive(SimpleObject, Clone, Default)]
pub struct AttachmentUploadBeginPayload {
    /// The new upload (status `UPLOADING`); null when `userErrors` is not empty.
    pub attachment: Option<Attachment>,
    /// `PUT` the file's bytes here (exactly `sizeBytes` of them), before `uploadUrlExpiresAt`;
    /// then attach it with `commentCreate` or `ticketCreate` (`attachmentIds`).
    pub upload_url: Option<String>,
    /// When `uploadUrl` stops accepting the bytes; null when `userErrors` is not empty.
    pub upload_url_expires_at: Option<Timestamp>,
    /// What was wrong with the input (name, type or size over the limits), field by field;
    /// empty when the upload began.
    pub user_errors: Vec<UserError>,
}

/// The result of `attachmentDelete`.
#[derive(SimpleObject, Clone, Default)]
pub struct AttachmentDeletePayload {
    /// The global ID of the deleted file; null when `userErrors` is not empty.
    pub deleted_attachment_id: Option<ID>,
    /// What was wrong with the input, field by field; empty when the file was deleted.
    pub user_errors: Vec<UserError>,
}

#[Object]
impl AttachmentMutation {
    /// Starts an upload: checks the file's name, type and size against the limits and returns
    /// the URL its bytes go to. Files never attached are removed after a day.
    async fn attachment_upload_begin(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The file to upload: its name, type and size.")]
        input: AttachmentUploadBeginInput,
    ) -> Result<AttachmentUploadBeginPayload> {
        let viewer = &actor(ctx)?;
        let attachments = &links(ctx)?.attachments;
        let ticket_id = match input
            .ticket_id
            .as_ref()
            .map(|id| expect(Kind::Ticket, id, "ticketId"))
            .transpose()
        {
            Ok(id) => id,
            Err(err) => {
                return Ok(AttachmentUploadBeginPayload {
                    user_errors: user_errors(err)?,
                    ..Default::default()
                });
            }
        };
        let begun = service::attachment::begin(
            db(ctx)?,
            viewer,
            &attachments.policy,
            &attachments.keyring,
            service::attachment::NewUpload {
                ticket_id,
                file_name: input.file_name,
                content_type: input.content_type,
                size_bytes: input.size_bytes,
                internal: input.internal,
            },
        )
        .await;
        match begun {
            Ok(row) => {
                let (url, expires_at) = mint(ctx, row.id, Purpose::Upload)?;
                Ok(AttachmentUploadBeginPayload {
                    attachment: Some(Attachment(row)),
                    upload_url: Some(url),
                    upload_url_expires_at: Some(Timestamp(expires_at)),
                    user_errors: vec![],
                })
            }
            Err(err) => Ok(AttachmentUploadBeginPayload {
                user_errors: user_errors(err)?,
                ..Default::default()
            }),
        }
    }

    /// Deletes a file: the one who uploaded it, or staff who may work on its ticket. It is
    /// hidden at once and its bytes are removed with the next clean-up.
    async fn attachment_delete(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The file to delete.")] input: AttachmentDeleteInput,
    ) -> Result<AttachmentDeletePayload> {
        let viewer = &actor(ctx)?;
        let result = match expect(Kind::Attachment, &input.id, "id") {
            Ok(id) => service::attachment::delete(db(ctx)?, viewer, id).await,
            Err(err) => Err(err),
        };
        match result {
            Ok(id) => Ok(AttachmentDeletePayload {
                deleted_attachment_id: Some(encode(Kind::Attachment, id)),
                user_errors: vec![],
            }),
            Err(err) => Ok(AttachmentDeletePayload {
                deleted_attachment_id: None,
                user_errors: user_errors(err)?,
            }),
        }
    }
}
