use async_graphql::{Context, Object, Result, SimpleObject};
use service::actor::Actor;
use service::ticket::query::{TicketFilter, TicketPage};

use super::page_info::PageInfo;
use super::ticket::Ticket;
use crate::graphql::context::{db, loaders};
use crate::graphql::error::ResultExt;
use crate::graphql::id::cursor;
use crate::graphql::loader::OrganizationTicketCount;

#[derive(SimpleObject, Clone)]
pub struct TicketEdge {
    pub cursor: String,
    pub node: Ticket,
}

/// A page of tickets.
pub struct TicketConnection {
    pub edges: Vec<TicketEdge>,
    pub page_info: PageInfo,
    pub actor: Actor,
    pub filter: TicketFilter,
}

impl TicketConnection {
    pub fn new(page: TicketPage, actor: Actor, filter: TicketFilter) -> Self {
        let edges: Vec<TicketEdge> = page
            .items
            .into_iter()
            .zip(page.positions.iter())
            .map(|(t, position)| TicketEdge {
                cursor: cursor(position),
                node: Ticket(t),
            })
            .collect();
        Self {
            page_info: PageInfo {
                has_next_page: page.has_next_page,
                has_previous_page: page.has_previous_page,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
            actor,
            filter,
        }
    }
}

#[Object]
impl TicketConnection {
    async fn edges(&self) -> &[TicketEdge] {
        &self.edges
    }

    /// The tickets of `edges`, without cursors.
    async fn nodes(&self) -> Vec<Ticket> {
        self.edges.iter().map(|e| e.node.clone()).collect()
    }

    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }

    /// How many tickets match the filter in all (one COUNT query; ask only when needed).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        // One organization's tickets may be one of a level of organizations: counted with
        // their siblings, in one statement.
        if let Some(organization_id) = self.filter.organization_id {
            let key = OrganizationTicketCount::new(organization_id, self.filter.clone());
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
