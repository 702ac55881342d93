use async_graphql::{Context, Object, Result};

use crate::graphql::context::{actor, db};
use crate::graphql::error::ResultExt;
use crate::graphql::object::sla::{BusinessCalendar, SlaPolicy};

#[derive(Default)]
pub struct SlaQuery;

#[Object]
impl SlaQuery {
    /// The SLA policies (staff): the active ones, and with `includeInactive` the retired ones
    /// that tickets may still be measured against.
    async fn sla_policies(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] include_inactive: bool,
    ) -> Result<Vec<SlaPolicy>> {
        let viewer = actor(ctx)?;
        Ok(
            service::sla::admin::list(db(ctx)?, &viewer, include_inactive)
                .await
                .gql()?
                .into_iter()
                .map(SlaPolicy)
                .collect(),
        )
    }

    /// The business calendars (staff).
    async fn business_calendars(&self, ctx: &Context<'_>) -> Result<Vec<BusinessCalendar>> {
        let viewer = actor(ctx)?;
        Ok(service::sla::admin::calendars(db(ctx)?, &viewer)
            .await
            .gql()?
            .into_iter()
            .map(BusinessCalendar)
            .collect())
    }
}
