use async_graphql::{Context, Object, Result};

use crate::graphql::context::{actor, db};
use crate::graphql::id::{Kind, expect};
use crate::graphql::input::comment::CommentCreateInput;
use crate::graphql::object::comment::Comment;
use crate::graphql::object::payload::{CommentCreatePayload, user_errors};
use crate::graphql::object::ticket::Ticket;

#[derive(Default)]
pub struct CommentMutation;

#[Object]
impl CommentMutation {
    /// Comments on a ticket. The requester's reply to a PENDING_INFO ticket reopens it; the
    /// first public reply by staff sets its first response time.
    async fn comment_create(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ticket and the comment to write on it.")] input: CommentCreateInput,
    ) -> Result<CommentCreatePayload> {
        let viewer = &actor(ctx)?;
        let ids = expect(Kind::Ticket, &input.ticket_id, "ticketId").and_then(|ticket_id| {
            let mention_ids = input
                .mention_ids
                .iter()
                .map(|id| expect(Kind::User, id, "mentionIds"))
                .collect::<service::Result<Vec<_>>>()?;
            Ok((
                ticket_id,
                attachment_ids(&input.attachment_ids)?,
                mention_ids,
            ))
        });
        let result = match ids {
            Ok((ticket_id, attachment_ids, mention_ids)) => {
                let extras = service::comment::Extras {
                    attaching: attaching(ctx, attachment_ids)?,
                    mention_ids,
                };
                service::comment::create_with_key(
                    db(ctx)?,
                    viewer,
                    ticket_id,
                    &input.body,
                    input.internal,
                    &extras,
                    input.idempotency_key.as_deref(),
                )
                .await
            }
            Err(err) => Err(err),
        };
        match result {
            Ok((comment, ticket)) => Ok(CommentCreatePayload {
                comment: Some(Comment(comment)),
                ticket: Some(Ticket(ticket)),
                user_errors: vec![],
            }),
            Err(err) => Ok(CommentCreatePayload {
                comment: None,
                ticket: None,
                user_errors: user_errors(err)?,
            }),
        }
    }
}

/// The attachment ids of an input.
pub fn attachment_ids(ids: &[async_graphql::ID]) -> service::Result<Vec<uuid::Uuid>> {
    ids.iter()
        .map(|id| expect(Kind::Attachment, id, "attachmentIds"))
        .collect()
}

/// What a change attaching `ids` carries: the ids and the ticket's cap.
pub fn attaching(
    ctx: &Context<'_>,
    ids: Vec<uuid::Uuid>,
) -> Result<service::attachment::Attaching> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    Ok(crate::graphql::object::attachment::links(ctx)?
        .attachments
        .policy
        .attaching(ids))
}
