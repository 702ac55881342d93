use async_graphql::{Context, ID, Object, Result};

use crate::graphql::context::{actor, db};
use crate::graphql::error::ResultExt;
use crate::graphql::id::{Kind, expect};
use crate::graphql::object::page_info::slice;
use crate::graphql::object::webhook::{Webhook, WebhookConnection};
use service::page::{KeyKind, Sort};

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// The webhook endpoints, oldest first (administrators).
    #[graphql(complexity = "(first.clamp(0, 100) as usize) * child_complexity + 1")]
    async fn webhooks(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default = 20,
            validator(minimum = 0),
            desc = "How many endpoints to return; more than 100 is served as 100."
        )]
        first: i32,
        #[graphql(
            desc = "Return the endpoints after this cursor (an edge cursor or `endCursor`)."
        )]
        after: Option<String>,
    ) -> Result<WebhookConnection> {
        let viewer = &actor(ctx)?;
        let hooks = service::webhook::list(db(ctx)?, viewer).await.gql()?;
        let (page, total) = slice(
            hooks,
            first,
            after.as_deref(),
            KeyKind::Time,
            Sort::Ascending,
            service::webhook::position,
        )?;
        Ok(WebhookConnection::new(page, total))
    }

    /// One webhook endpoint (administrators); null when there is none with this id.
    async fn webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint's global ID.")] id: ID,
    ) -> Result<Option<Webhook>> {
        let viewer = &actor(ctx)?;
        let id = expect(Kind::Webhook, &id, "id").gql()?;
        match service::webhook::get(db(ctx)?, viewer, id).await {
            Ok(hook) => Ok(Some(Webhook(hook))),
            Err(service::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(crate::graphql::error::gql(err)),
        }
    }
}
