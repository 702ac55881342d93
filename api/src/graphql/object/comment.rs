use crate::graphql::scalar::Timestamp;
use async_graphql::{Context, ID, Object, Result};
use entity::comment;

use super::user::User;
use crate::graphql::context::loaders;
use crate::graphql::error::ResultExt;
use crate::graphql::extension::response_size::charge;
use crate::graphql::id::{Kind, encode};

/// A message on a ticket. Internal notes are visible to staff only.
#[derive(Clone)]
pub struct Comment(pub comment::Model);

/// A message on a ticket. Internal notes are visible to staff only.
// The loader and page futures are boxed: async-graphql boxes every field's future at the
// size of the type's largest one (see `User`).
#[Object]
impl Comment {
    /// The comment's global ID.
    pub async fn id(&self) -> ID {
        encode(Kind::Comment, self.0.id)
    }

    /// The message text, as written.
    async fn body(&self, ctx: &Context<'_>) -> Result<&str> {
        charge(ctx, &self.0.body)
    }

    /// An internal note for staff; clients never receive these.
    async fn internal(&self) -> bool {
        self.0.is_internal
    }

    /// Who wrote the comment.
    async fn author(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(loaders(ctx)?.user(self.0.author_id).await.gql()?.map(User))
    }

    /// The files attached with this comment, oldest first.
    #[graphql(complexity = "(first.clamp(0, 100) as usize) * child_complexity + 1")]
    async fn attachments(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default = 20,
            validator(minimum = 0),
            desc = "How many files to return; more than 100 is served as 100."
        )]
        first: i32,
        #[graphql(desc = "Return the files after this cursor (an edge cursor or `endCursor`).")]
        after: Option<String>,
    ) -> Result<super::attachment::AttachmentConnection> {
        Box::pin(super::attachment::page_of(
            ctx,
            crate::graphql::loader::AttachmentsOf::Comment(self.0.id),
            first,
            after.as_deref(),
        ))
        .await
    }

    /// When the comment was written.
    async fn created_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }

    /// When the comment last changed.
    async fn updated_at(&self) -> Timestamp {
        Timestamp(self.0.updated_at)
    }
}

super::page_info::connection!(
    /// A page of a ticket's comments, oldest first.
    CommentConnection,
    CommentEdge,
    Comment,
    comment::Model,
    service::comment::position
);
