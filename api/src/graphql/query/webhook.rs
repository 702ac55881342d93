use async_graphql::{Context, ID, Object, Result};

use crate::graphql::context::{actor, db};
use crate::graphql::error::ResultExt;
use crate::graphql::id::{Kind, expect};
use crate::graphql::object::webhook::Webhook;

#[derive(Default)]
pub struct WebhookQuery;

/// What the unpaginated webhook list counts for in a query's cost.
const WEBHOOKS_CHARGED: usize = 50;

#[Object]
impl WebhookQuery {
    /// Every webhook endpoint, oldest first (administrators). Charged as
    /// [`WEBHOOKS_CHARGED`] endpoints in a query's cost, since the list has no page size.
    #[graphql(complexity = "WEBHOOKS_CHARGED * child_complexity + 1")]
    async fn webhooks(&self, ctx: &Context<'_>) -> Result<Vec<Webhook>> {
        let viewer = &actor(ctx)?;
        Ok(service::webhook::list(db(ctx)?, viewer)
            .await
            .gql()?
            .into_iter()
            .map(Webhook)
            .collect())
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
