use async_graphql::{Context, ID, InputObject, Object, Result};
use service::page::PageRequest;

use crate::graphql::context::{actor, db};
use crate::graphql::enums::Role;
use crate::graphql::error::{ResultExt, gql};
use crate::graphql::id::{Kind, expect, parse_cursor};
use crate::graphql::object::user::{User, UserConnection};

#[derive(Default)]
pub struct UserQuery;

/// Which users to list.
#[derive(InputObject, Default)]
pub struct UserFilter {
    pub role: Option<Vec<Role>>,
    pub organization_id: Option<ID>,
    /// Matches the start of the name or of the email address.
    pub query: Option<String>,
}

#[Object]
impl UserQuery {
    /// A user by ID: staff may look anyone up, clients themselves. Null otherwise.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        let viewer = &actor(ctx)?;
        let id = expect(Kind::User, &id, "id").gql()?;
        match service::user::get(db(ctx)?, viewer, id).await {
            Ok(found) => Ok(Some(User(found))),
            Err(service::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(gql(err)),
        }
    }

    /// Users by name (staff only).
    #[graphql(
        complexity = "(first.or(last).unwrap_or(20).clamp(0, 100) as usize) * child_complexity + 1"
    )]
    async fn users(
        &self,
        ctx: &Context<'_>,
        filter: Option<UserFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<UserConnection> {
        let viewer = &actor(ctx)?;
        let filter = filter.unwrap_or_default();
        let filter = service::user::UserFilter {
            role: filter
                .role
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            organization_id: filter
                .organization_id
                .map(|id| expect(Kind::Organization, &id, "organizationId"))
                .transpose()
                .gql()?,
            query: filter.query,
        };
        let page = PageRequest {
            first,
            after: after.map(|c| parse_cursor(&c, "after")).transpose().gql()?,
            last,
            before: before
                .map(|c| parse_cursor(&c, "before"))
                .transpose()
                .gql()?,
        };
        let db = db(ctx)?;
        let page = service::user::list(db, viewer, &filter, &page)
            .await
            .gql()?;
        // One COUNT, only when asked for.
        let total = if ctx.look_ahead().field("totalCount").exists() {
            service::user::count(db, viewer, &filter).await.gql()?
        } else {
            0
        };
        Ok(UserConnection::new(page, total))
    }
}
