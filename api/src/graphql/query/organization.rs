use async_graphql::{Context, ID, Object, Result};
use service::page::PageRequest;

use crate::graphql::context::{actor, db};
use crate::graphql::error::{ResultExt, gql};
use crate::graphql::id::{Kind, expect, parse_cursor};
use crate::graphql::loader::prefetch_organizations;
use crate::graphql::object::organization::{Organization, OrganizationConnection};

#[derive(Default)]
pub struct OrganizationQuery;

#[Object]
impl OrganizationQuery {
    /// An organization you may see (your own; staff with a global role see all), or null.
    async fn organization(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The organization's global ID.")] id: ID,
    ) -> Result<Option<Organization>> {
        let viewer = &actor(ctx)?;
        let id = expect(Kind::Organization, &id, "id").gql()?;
        match service::organization::get(db(ctx)?, viewer, id).await {
            Ok(found) => Ok(Some(Organization::from(found))),
            Err(service::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(gql(err)),
        }
    }

    /// The organizations you may see, by name.
    #[graphql(
        complexity = "(first.or(last).unwrap_or(20).clamp(0, 100) as usize) * child_complexity + 1"
    )]
    async fn organizations(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "How many organizations to return from the start or after `after`, at most 100; \
                    20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "Return the organizations after this cursor (an edge cursor or `endCursor`)."
        )]
        after: Option<String>,
        #[graphql(
            desc = "How many organizations to return from the end or before `before`, at most 100. \
                    Not with `first`."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Return the organizations before this cursor (an edge cursor or `startCursor`)."
        )]
        before: Option<String>,
    ) -> Result<OrganizationConnection> {
        let viewer = &actor(ctx)?;
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
        let page = service::organization::list(db, viewer, &page).await.gql()?;
        // One COUNT, only when asked for.
        let total = if ctx.look_ahead().field("totalCount").exists() {
            service::organization::count(db, viewer).await.gql()?
        } else {
            0
        };
        prefetch_organizations(ctx, &page.items).await?;
        Ok(OrganizationConnection::new(page, total))
    }
}
