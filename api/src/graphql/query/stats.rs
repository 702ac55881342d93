use std::sync::Arc;

use async_graphql::{Context, Object, Result};
use service::stats::cache::StatsCache;

use crate::graphql::context::{actor, db};
use crate::graphql::enums::StatsInterval;
use crate::graphql::error::ResultExt;
use crate::graphql::input::stats::TicketStatsFilter;
use crate::graphql::object::stats::{TicketStats, TicketStatsSeries};

#[derive(Default)]
pub struct StatsQuery;

pub fn cache<'a>(ctx: &'a Context<'_>) -> Result<&'a StatsCache> {
    Ok(ctx.data::<Arc<StatsCache>>()?.as_ref())
}

#[Object]
impl StatsQuery {
    /// Ticket figures for dashboards (staff: administrators and superagents for any scope,
    /// agents for their organizations and themselves). Served from roll-ups and a cache that
    /// is never stale: a change that committed is in the next answer.
    async fn ticket_stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which tickets and days; all you may see, the last 30 days, when null.")]
        filter: Option<TicketStatsFilter>,
    ) -> Result<TicketStats> {
        let viewer = actor(ctx)?;
        let filter = filter.unwrap_or_default().into_service().gql()?;
        let scope = service::stats::scope(&viewer, &filter, service::stats::today()).gql()?;
        let stats = service::stats::ticket_stats(db(ctx)?, cache(ctx)?, &scope)
            .await
            .gql()?;
        Ok(TicketStats::of(&scope, stats))
    }

    /// The same figures per day, week, month or year, for charts.
    async fn ticket_stats_series(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which tickets and days; all you may see, the last 30 days, when null.")]
        filter: Option<TicketStatsFilter>,
        #[graphql(desc = "The length of each period of the series.")] interval: StatsInterval,
    ) -> Result<TicketStatsSeries> {
        let viewer = actor(ctx)?;
        let filter = filter.unwrap_or_default().into_service().gql()?;
        let scope = service::stats::scope(&viewer, &filter, service::stats::today()).gql()?;
        Ok(
            service::stats::ticket_stats_series(db(ctx)?, cache(ctx)?, &scope, interval.into())
                .await
                .gql()?
                .into(),
        )
    }
}
