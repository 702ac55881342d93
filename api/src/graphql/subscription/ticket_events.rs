use async_graphql::{Context, Result, Subscription};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use crate::events::EventBus;
use crate::graphql::context::{actor, db};
use crate::graphql::error::ResultExt;
use crate::graphql::id::{Kind, expect};
use crate::graphql::object::event::TicketEvent;
use crate::graphql::query::EventFilter;

#[derive(Default)]
pub struct TicketEventsSubscription;

#[Subscription]
impl TicketEventsSubscription {
    /// Every change of the tickets you may see, as it commits: the same events as the change
    /// feed (`events`), checked against your access at the moment each one is sent.
    async fn ticket_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<EventFilter>,
    ) -> Result<impl Stream<Item = TicketEvent> + use<>> {
        let viewer = actor(ctx)?;
        let db = db(ctx)?.clone();
        let mut receiver = ctx.data::<EventBus>()?.subscribe();
        let filter = filter.unwrap_or_default();
        let ticket_id = filter
            .ticket_id
            .map(|id| expect(Kind::Ticket, &id, "ticketId"))
            .transpose()
            .gql()?;
        let organization_id = filter
            .organization_id
            .map(|id| expect(Kind::Organization, &id, "organizationId"))
            .transpose()
            .gql()?;
        let kinds = filter.kinds.unwrap_or_default();
        Ok(async_stream::stream! {
            loop {
                let event = match receiver.recv().await {
                    Ok(event) => event,
                    // Too slow to keep up, or the server is stopping: the stream ends rather
                    // than buffering without bound; the client resumes from the feed.
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => break,
                };
                if ticket_id.is_some_and(|id| id != event.ticket_id)
                    || organization_id.is_some_and(|id| id != event.organization_id)
                    || (!kinds.is_empty() && !kinds.contains(&event.kind))
                {
                    continue;
                }
                // Access now: current role and memberships, the ticket as it is now.
                let Ok(current) = service::auth::actor_for_user(&db, viewer.user_id).await else {
                    break;
                };
                if service::event::visible_to(&db, &current, &event).await.unwrap_or(false) {
                    yield TicketEvent((*event).clone());
                }
            }
        })
    }
}
