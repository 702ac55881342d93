use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, Result, Subscription};
use futures_util::Stream;
use service::stats::cache::StatsCache;
use tokio::sync::broadcast::error::RecvError;

use crate::events::{Delivery, EventBus};
use crate::graphql::context::{actor, db};
use crate::graphql::error::{ResultExt, gql};
use crate::graphql::input::stats::TicketStatsFilter;
use crate::graphql::object::stats::TicketStats;

/// How long changes are gathered into one `ticketStatsUpdated` push.
#[derive(Debug, Clone, Copy)]
pub struct StatsPushInterval(pub Duration);

impl Default for StatsPushInterval {
    fn default() -> Self {
        Self(Duration::from_secs(1))
    }
}

#[derive(Default)]
pub struct TicketStatsSubscription;

#[Subscription]
impl TicketStatsSubscription {
    /// Fresh `ticketStats` for the filter whenever a change touches its scope, at most one push
    /// per interval (a second by default): a burst of changes arrives as one update, computed
    /// after the burst's first second. Same access rules as `ticketStats`.
    async fn ticket_stats_updated(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which tickets and days; all you may see, the last 30 days, when null.")]
        filter: Option<TicketStatsFilter>,
    ) -> Result<impl Stream<Item = Result<TicketStats>> + use<>> {
        let db = db(ctx)?.clone();
        // The account as it is now, not as the socket found it when it connected.
        let viewer = super::ticket_events::current_account(&db, &actor(ctx)?).await?;
        let cache: Arc<StatsCache> = ctx.data::<Arc<StatsCache>>()?.clone();
        let window = ctx
            .data_opt::<StatsPushInterval>()
            .copied()
            .unwrap_or_default()
            .0;
        let filter = filter.unwrap_or_default().into_service().gql()?;
        // Checked now, so a refused subscription fails at once.
        service::stats::scope(&viewer, &filter, service::stats::today()).gql()?;
        let mut live = ctx.data::<EventBus>()?.subscribe();
        Ok(async_stream::stream! {
            loop {
                // Wait for a change in scope; a subscriber that fell behind has missed some,
                // so it is due an update too.
                let scope = match service::stats::scope(&viewer, &filter, service::stats::today()) {
                    Ok(scope) => scope,
                    Err(err) => {
                        yield Err(gql(err));
                        return;
                    }
                };
                loop {
                    match live.receiver.recv().await {
                        Ok(Delivery::Event(published))
                            if scope.covers(published.event.organization_id) =>
                        {
                            break;
                        }
                        Ok(Delivery::Event(_)) => {}
                        // Events may have been missed: due an update too.
                        Ok(Delivery::Gap { .. }) | Err(RecvError::Lagged(_)) => break,
                        Err(RecvError::Closed) => return,
                    }
                }
                // Gather the rest of the burst, then answer once.
                let deadline = tokio::time::Instant::now() + window;
                loop {
                    match tokio::time::timeout_at(deadline, live.receiver.recv()).await {
                        Err(_) => break,
                        Ok(Err(RecvError::Closed)) => return,
                        Ok(_) => {}
                    }
                }
                // Answered with the account as it is now: a demoted or removed agent gets no
                // figures they may no longer see.
                let current = match super::ticket_events::current_account(&db, &viewer).await {
                    Ok(current) => current,
                    Err(err) => {
                        yield Err(err);
                        return;
                    }
                };
                let scope = match service::stats::scope(&current, &filter, service::stats::today()) {
                    Ok(scope) => scope,
                    Err(err) => {
                        yield Err(gql(err));
                        return;
                    }
                };
                match service::stats::ticket_stats(&db, &cache, &scope).await {
                    Ok(stats) => yield Ok(TicketStats::of(&scope, stats)),
                    Err(err) => {
                        yield Err(gql(err));
                        return;
                    }
                }
            }
        })
    }
}
