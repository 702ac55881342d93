use async_graphql::{Context, ID, Object, Result};
use service::page::PageRequest;

use crate::graphql::context::{actor, db};
use crate::graphql::error::{ResultExt, gql};
use crate::graphql::id::{Kind, expect, parse_cursor};
use crate::graphql::input::ticket::{TicketFilter, TicketOrder};
use crate::graphql::loader::ticket_page;
use crate::graphql::object::ticket::Ticket;
use crate::graphql::object::ticket_connection::TicketConnection;

#[derive(Default)]
pub struct TicketQuery;

#[Object]
impl TicketQuery {
    /// One ticket by global ID or by number (`HD-1042`); null when it does not exist or you
    /// may not see it.
    async fn ticket(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ticket's global ID; give this or `number`.")] id: Option<ID>,
        #[graphql(desc = "The number (`HD-1042`); give this or `id`.")] number: Option<String>,
    ) -> Result<Option<Ticket>> {
        let viewer = &actor(ctx)?;
        let db = db(ctx)?;
        let found = match (id, number) {
            (Some(id), None) => {
                let id = expect(Kind::Ticket, &id, "id").gql()?;
                service::ticket::query::get(db, viewer, id).await
            }
            (None, Some(number)) => {
                service::ticket::query::get_by_number(db, viewer, &number).await
            }
            _ => Err(service::Error::invalid(
                "id",
                "give exactly one of id and number",
            )),
        };
        match found {
            Ok(ticket) => Ok(Some(Ticket(ticket))),
            Err(service::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(gql(err)),
        }
    }

    /// The tickets you may see, filtered and sorted; newest first by default. `first`
    /// defaults to 20 and is capped at 100.
    #[allow(clippy::too_many_arguments)]
    #[graphql(
        complexity = "(first.or(last).unwrap_or(20).clamp(0, 100) as usize) * child_complexity + 1"
    )]
    async fn tickets(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the tickets that match.")] filter: Option<TicketFilter>,
        #[graphql(
            desc = "The order of the tickets; newest first (`CREATED_AT`, `DESC`) when null."
        )]
        order_by: Option<TicketOrder>,
        #[graphql(
            desc = "How many tickets to return from the start or after `after`, at most 100; \
                    20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(desc = "Return the tickets after this cursor (an edge cursor or `endCursor`).")]
        after: Option<String>,
        #[graphql(
            desc = "How many tickets to return from the end or before `before`, at most 100. \
                    Not with `first`."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Return the tickets before this cursor (an edge cursor or `startCursor`)."
        )]
        before: Option<String>,
    ) -> Result<TicketConnection> {
        let filter = filter.unwrap_or_default().into_service().gql()?;
        let page = PageRequest {
            first,
            after: after.map(|c| parse_cursor(&c, "after")).transpose().gql()?,
            last,
            before: before
                .map(|c| parse_cursor(&c, "before"))
                .transpose()
                .gql()?,
        };
        ticket_page(ctx, filter, order_by.unwrap_or_default().into(), page).await
    }
}
