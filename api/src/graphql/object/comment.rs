use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::comment;

use super::page_info::PageInfo;
use super::user::User;
use crate::graphql::context::loaders;
use crate::graphql::error::ResultExt;
use crate::graphql::id::{Kind, cursor, encode};

/// A message on a ticket. Internal notes are visible to staff only.
#[derive(Clone)]
pub struct Comment(pub comment::Model);

#[Object]
impl Comment {
    pub async fn id(&self) -> ID {
        encode(Kind::Comment, self.0.id)
    }

    async fn body(&self) -> &str {
        &self.0.body
    }

    /// An internal note for staff; clients never receive these.
    async fn internal(&self) -> bool {
        self.0.is_internal
    }

    async fn author(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(loaders(ctx)?
            .users
            .load_one(self.0.author_id)
            .await
            .gql()?
            .map(User))
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

#[derive(SimpleObject, Clone)]
pub struct CommentEdge {
    pub cursor: String,
    pub node: Comment,
}

/// A page of a ticket's comments, oldest first.
#[derive(SimpleObject, Clone)]
pub struct CommentConnection {
    pub edges: Vec<CommentEdge>,
    /// The comments of `edges`, without cursors.
    pub nodes: Vec<Comment>,
    pub page_info: PageInfo,
}

impl CommentConnection {
    pub fn new(items: Vec<comment::Model>, has_next_page: bool, has_previous_page: bool) -> Self {
        let edges: Vec<CommentEdge> = items
            .into_iter()
            .map(|c| CommentEdge {
                cursor: cursor(&service::comment::position(&c)),
                node: Comment(c),
            })
            .collect();
        Self {
            page_info: PageInfo {
                has_next_page,
                has_previous_page,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            nodes: edges.iter().map(|e| e.node.clone()).collect(),
            edges,
        }
    }
}
