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
    /// Only users of any of these roles.
    pub role: Option<Vec<Role>>,
    /// Only members of this organization (global ID).
    pub organization_id: Option<ID>,
    /// Matches the start of the name or of the email address.
    pub query: Option<String>,
}

#[Object]
impl UserQuery {
    /// A user by ID: staff may look anyone up, clients themselves. Null otherwise.
    async fn user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user's global ID.")] id: ID,
    ) -> Result<Option<User>> {
        let viewer = &actor(ctx)?;
        let id = expect(Kind::User, &id, "id").gql()?;
        match service::user::get(db(ctx)?, viewer, id).await {
            Ok(found) => Ok(Some(User::from(found))),
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
        #[graphql(desc = "Only the users that match; all when null.")] filter: Option<UserFilter>,
        #[graphql(
            desc = "How many users to return from the start or after `after`, at most 100; \
                    20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(desc = "Return the users after this cursor (an edge cursor or `endCursor`).")]
        after: Option<String>,
        #[graphql(
            desc = "How many users to return from the end or before `before`, at most 100. \
                    Not with `first`."
        )]
        last: Option<i32>,
        #[graphql(desc = "Return the users before this cursor (an edge cursor or `startCursor`).")]
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
