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
        input: CommentCreateInput,
    ) -> Result<CommentCreatePayload> {
        let viewer = &actor(ctx)?;
        let result = match expect(Kind::Ticket, &input.ticket_id, "ticketId") {
            Ok(ticket_id) => {
                service::comment::create_with_key(
                    db(ctx)?,
                    viewer,
                    ticket_id,
                    &input.body,
                    input.internal,
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
