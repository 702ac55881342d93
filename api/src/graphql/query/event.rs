use async_graphql::{Context, ID, InputObject, Object, Result};
use service::page::PageRequest;

use crate::graphql::context::{actor, db};
use crate::graphql::enums::EventKind;
use crate::graphql::error::ResultExt;
use crate::graphql::id::{Kind, expect, parse_cursor};
use crate::graphql::object::event::TicketEventConnection;

#[derive(Default)]
pub struct EventQuery;

/// Which events to read.
#[derive(InputObject, Default)]
pub struct EventFilter {
    /// Only this ticket's events (global ID).
    pub ticket_id: Option<ID>,
    /// Only the events of this organization's tickets (global ID).
    pub organization_id: Option<ID>,
    /// Only events of these kinds; all when omitted.
    pub kinds: Option<Vec<EventKind>>,
}

impl EventFilter {
    /// The service's filter, with the ids checked.
    pub fn into_service(self) -> service::Result<service::event::EventFilter> {
        Ok(service::event::EventFilter {
            ticket_id: self
                .ticket_id
                .map(|id| expect(Kind::Ticket, &id, "ticketId"))
                .transpose()?,
            organization_id: self
                .organization_id
                .map(|id| expect(Kind::Organization, &id, "organizationId"))
                .transpose()?,
            kinds: EventKind::names(self.kinds.unwrap_or_default()),
        })
    }
}

#[Object]
impl EventQuery {
    /// The change feed for sync and ETL clients: every committed change of the tickets you may
    /// see, in the order the changes committed (by `position`). Keep the last `endCursor` and
    /// ask again with `after` to get only what is new: no event is skipped or repeated. A
    /// cursor older than the log keeps (`HELPDESK_EVENT_RETENTION_DAYS`) is refused with
    /// `CURSOR_EXPIRED`: read the current state again, then follow the feed.
    #[graphql(complexity = "(first.unwrap_or(20).clamp(0, 100) as usize) * child_complexity + 1")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Return the events after this cursor (an edge cursor or `endCursor`); \
                    from the oldest event kept when null."
        )]
        after: Option<String>,
        #[graphql(desc = "How many events, at most 100; 20 when null.")] first: Option<i32>,
        #[graphql(desc = "Only the events that match.")] filter: Option<EventFilter>,
    ) -> Result<TicketEventConnection> {
        let viewer = &actor(ctx)?;
        let filter = filter.unwrap_or_default().into_service().gql()?;
        let page = PageRequest {
            first,
            after: after.map(|c| parse_cursor(&c, "after")).transpose().gql()?,
            ..Default::default()
        };
        let page = service::event::feed(db(ctx)?, viewer, &filter, &page)
            .await
            .gql()?;
        let tickets: Vec<uuid::Uuid> = page.items.iter().map(|e| e.ticket_id).collect();
        let users: Vec<uuid::Uuid> = page.items.iter().filter_map(|e| e.actor_id).collect();
        // Every event's ticket and actor in one batch each.
        let loaders = crate::graphql::context::loaders(ctx)?;
        let (t, u) = futures_util::join!(
            loaders.tickets.load_many(tickets),
            loaders.users.load_many(users)
        );
        t.gql()?;
        u.gql()?;
        Ok(TicketEventConnection::new(page))
    }
}
