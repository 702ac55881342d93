use async_graphql::{Context, Object, Result, SimpleObject};
use service::actor::Actor;
use service::ticket::query::{TicketFilter, TicketPage};

use super::page_info::PageInfo;
use super::ticket::Ticket;
use crate::graphql::context::{db, loaders};
use crate::graphql::error::ResultExt;
use crate::graphql::id::cursor;
use crate::graphql::loader::{PerOrganization, ticket_count_spec};

/// One `Ticket` of a `TicketConnection` page, with its cursor.
#[derive(SimpleObject, Clone)]
pub struct TicketEdge {
    /// This item's opaque position: pass it as `after` (or `before`, where offered) to
    /// page from here.
    pub cursor: String,
    /// The `Ticket` at this position.
    pub node: Ticket,
}

/// A page of tickets. Cursors are written only for the fields that show them.
pub struct TicketConnection {
    tickets: Vec<Ticket>,
    positions: Vec<service::page::Position>,
    has_next_page: bool,
    has_previous_page: bool,
    pub actor: Actor,
    pub filter: TicketFilter,
}

impl TicketConnection {
    pub fn new(page: TicketPage, actor: Actor, filter: TicketFilter) -> Self {
        Self {
            tickets: page.items.into_iter().map(Ticket).collect(),
            positions: page.positions,
            has_next_page: page.has_next_page,
            has_previous_page: page.has_previous_page,
            actor,
            filter,
        }
    }
}

/// A page of tickets.
#[Object]
impl TicketConnection {
    /// The page's items, each with its cursor (`TicketEdge`).
    async fn edges(&self) -> Vec<TicketEdge> {
        self.tickets
            .iter()
            .zip(&self.positions)
            .map(|(ticket, position)| TicketEdge {
                cursor: cursor(position),
                node: ticket.clone(),
            })
            .collect()
    }

    /// The tickets of `edges`, without cursors.
    async fn nodes(&self) -> super::planned::TicketNodes<'_> {
        super::planned::TicketNodes(&self.tickets)
    }

    /// Where this page sits in the whole list, and the cursors to page on.
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.has_next_page,
            has_previous_page: self.has_previous_page,
            start_cursor: self.positions.first().map(cursor),
            end_cursor: self.positions.last().map(cursor),
        }
    }

    /// How many tickets match the filter in all (one COUNT query; ask only when needed).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        // One organization's tickets may be one of a level of organizations: counted with
        // their siblings, in one statement.
        if let Some(organization_id) = self.filter.organization_id {
            let key = PerOrganization::of(organization_id, &ticket_count_spec(self.filter.clone()));
            return Ok(loaders(ctx)?
                .organization_ticket_counts
                .load_one(key)
                .await
                .gql()?
                .unwrap_or(0));
        }
        service::ticket::query::count(db(ctx)?, &self.actor, &self.filter)
            .await
            .gql()
    }
}
