use async_graphql::{Context, ID, Object, Result};
use entity::ticket;
use service::page::PageRequest;

use crate::graphql::context::{actor, db, loaders};
use crate::graphql::error::{ResultExt, gql};
use crate::graphql::id::{Kind, expect, parse_cursor};
use crate::graphql::input::ticket::{TicketFilter, TicketOrder};
use crate::graphql::loader::CommentWindow;
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
        id: Option<ID>,
        number: Option<String>,
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
        filter: Option<TicketFilter>,
        order_by: Option<TicketOrder>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
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

/// A page of the tickets the viewer may read, with what the selection below it needs
/// prefetched level by level.
pub async fn ticket_page(
    ctx: &Context<'_>,
    filter: service::ticket::query::TicketFilter,
    order: service::ticket::query::TicketOrder,
    page: PageRequest,
) -> Result<TicketConnection> {
    let viewer = &actor(ctx)?;
    let page = service::ticket::query::list(db(ctx)?, viewer, &filter, order, &page)
        .await
        .gql()?;
    prefetch_tickets(ctx, &page.items).await?;
    Ok(TicketConnection::new(page, viewer.clone(), filter))
}

/// Loads, in as few statements as the query's shape allows, what the selection below a page
/// of tickets will ask for: their comments window, then every user (requesters, assignees,
/// comment authors) in one batch and every organization in another. The field resolvers then
/// find everything in the request's loader caches. Doing this here rather than leaving it to
/// the loaders' batching window keeps the statement count fixed under concurrent load.
pub async fn prefetch_tickets(ctx: &Context<'_>, tickets: &[ticket::Model]) -> Result<()> {
    if tickets.is_empty() {
        return Ok(());
    }
    let look = ctx.look_ahead();
    let levels = [look.field("nodes"), look.field("edges").field("node")];
    let wants = |name: &str| levels.iter().any(|level| level.field(name).exists());
    let loaders = loaders(ctx)?;

    let mut user_ids = Vec::new();
    if wants("requester") {
        user_ids.extend(tickets.iter().map(|t| t.requester_id));
    }
    if wants("assignee") {
        user_ids.extend(tickets.iter().filter_map(|t| t.assignee_id));
    }

    // The first page of each ticket's comments and history, when that is what every
    // selection of them asks for, and the people they name.
    if let Some((first, wants_people)) = first_page(&levels, "comments", "author")? {
        let keys = tickets.iter().map(|t| CommentWindow {
            ticket_id: t.id,
            first,
        });
        let windows = loaders.comment_windows.load_many(keys).await.gql()?;
        if wants_people {
            user_ids.extend(windows.values().flatten().map(|c| c.author_id));
        }
    }
    if let Some((first, wants_people)) = first_page(&levels, "history", "actor")? {
        let keys = tickets.iter().map(|t| CommentWindow {
            ticket_id: t.id,
            first,
        });
        let windows = loaders.history_windows.load_many(keys).await.gql()?;
        if wants_people {
            user_ids.extend(windows.values().flatten().filter_map(|h| h.actor_id));
        }
    }
    if wants("commentCount") {
        loaders
            .comment_counts
            .load_many(tickets.iter().map(|t| t.id))
            .await
            .gql()?;
    }

    let organizations = async {
        if wants("organization") {
            loaders
                .organizations
                .load_many(tickets.iter().map(|t| t.organization_id))
                .await
                .gql()?;
        }
        Ok::<_, async_graphql::Error>(())
    };
    let users = async {
        if !user_ids.is_empty() {
            user_ids.sort_unstable();
            user_ids.dedup();
            loaders
                .users
                .load_many(user_ids.iter().copied())
                .await
                .gql()?;
        }
        Ok::<_, async_graphql::Error>(())
    };
    let (organizations, users) = futures_util::join!(organizations, users);
    organizations?;
    users?;
    Ok(())
}

/// For a paged child field (`comments`, `history`) selected below a list of tickets: the window
/// size to load (one more than asked, to know whether there is a next page) and whether `person`
/// (`author`, `actor`) is selected on its nodes. `None` when it is not selected, or when some
/// selection asks for a later page (those load on their own).
fn first_page(
    levels: &[async_graphql::Lookahead<'_>],
    field: &str,
    person: &str,
) -> Result<Option<(u64, bool)>> {
    let selections: Vec<_> = levels
        .iter()
        .flat_map(|level| level.field(field).selection_fields())
        .collect();
    if selections.is_empty() {
        return Ok(None);
    }
    let mut first = 20;
    for selection in &selections {
        let arguments = selection
            .arguments()
            .map_err(|e| async_graphql::Error::new(e.message))?;
        for (name, value) in arguments {
            match (name.as_str(), value) {
                ("first", async_graphql::Value::Number(n)) => first = n.as_u64().unwrap_or(20),
                ("after", async_graphql::Value::Null) => {}
                ("after", _) => return Ok(None),
                _ => {}
            }
        }
    }
    let wants_person = selections.iter().any(|s| {
        s.selection_set().any(|f| {
            (f.name() == "nodes" && f.selection_set().any(|g| g.name() == person))
                || (f.name() == "edges"
                    && f.selection_set().any(|g| {
                        g.name() == "node" && g.selection_set().any(|h| h.name() == person)
                    }))
        })
    });
    Ok(Some((first.min(100) + 1, wants_person)))
}
