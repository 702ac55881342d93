//! Loading a level at once: a page of tickets, and what the selection below it asks of every
//! ticket of the page (comments, history, people, organizations), in as few statements as the
//! query's shape allows, whatever the number of rows. This is where the statement budget is
//! kept: the field resolvers below then find everything in the request's loader caches.

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::{Context, InputType, Lookahead, Result};
use entity::ticket;
use service::page::PageRequest;
use service::ticket::alongside::Wanted;
use uuid::Uuid;

use super::{CommentWindow, PerOrganization, prefetch, ticket_count_spec, ticket_page_spec};
use crate::graphql::context::{CheckAlongside, actor, db, loaders};
use crate::graphql::error::ResultExt;
use crate::graphql::object::ticket_connection::TicketConnection;

/// How a level's keys reach its loaders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batching {
    /// The level is the only one of its kind in the request (the top-level `tickets`): load
    /// at once, without waiting for the loaders' batching window.
    Now,
    /// The level is one of many siblings (the tickets of each organization of a page): go
    /// through the loaders' batching window, so the siblings' keys share one statement.
    Window,
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
    let db = db(ctx)?;
    let look = ctx.look_ahead();
    let listed = service::ticket::query::list(db, viewer, &filter, order, &page);
    // On PostgreSQL, what the selection below asks of the page's tickets is read at the same
    // time as the page, by a statement that selects the page's tickets itself: a lone request
    // then waits on one round of statements for all of it.
    let levels = [look.field("nodes"), look.field("edges").field("node")];
    let wanted = wanted(&levels)?;
    // A query run while its credential is checked also reads, in this statement, what the
    // check reads; the check then runs no statement of its own.
    let check = ctx.data_opt::<Arc<CheckAlongside>>();
    let asked = check.map(|check| check.viewer());
    let statement = service::ticket::alongside::statement(
        db.get_database_backend(),
        viewer,
        &filter,
        order,
        &page,
        &wanted,
        asked,
    )
    .gql()?;
    let (page, alongside) = match statement {
        Some(statement) => {
            // The check is taken only by a statement that runs: without one, it reads for
            // itself at once. Taken already (by another page) or closed, the rows go unused.
            let check = check.and_then(|check| check.take());
            // The statement alongside, the longer, goes out first.
            let (read, page) = futures_util::join!(
                service::ticket::alongside::read(db, statement, asked),
                listed
            );
            // The page's own failure is the one reported; without what was read alongside,
            // the loaders read it as they would have, and the check reads for itself.
            let mut read = read
                .inspect_err(|error| tracing::warn!(%error, "reading alongside a page failed"))
                .ok();
            if let Some(rows) = check
                && let Some(found) = read.as_mut().and_then(|read| read.viewer.take())
            {
                let _ = rows.send(found);
            }
            (page.gql()?, read.map(|read| (wanted, read)))
        }
        None => (listed.await.gql()?, None),
    };
    prefetch_tickets_with(loaders(ctx)?, &look, &page.items, Batching::Now, alongside).await?;
    Ok(TicketConnection::new(page, viewer.clone(), filter))
}

/// What the selection `levels` (a page's nodes) asks of every ticket, as the statement read
/// alongside the page reads it.
fn wanted(levels: &[Lookahead<'_>]) -> Result<Wanted> {
    let wants = |name: &str| levels.iter().any(|level| level.field(name).exists());
    let comments = first_page(levels, "comments", "author")?;
    Ok(Wanted {
        comments: comments.map(|(first, after, _)| (first, after)),
        requesters: wants("requester"),
        assignees: wants("assignee"),
        authors: comments.is_some_and(|(_, _, authors)| authors),
        organizations: wants("organization"),
    })
}

/// A page of one organization's tickets, as one of a level of organizations: every
/// organization's page is loaded in one statement, and so is each level below them.
pub async fn organization_ticket_page(
    ctx: &Context<'_>,
    organization_id: uuid::Uuid,
    mut filter: service::ticket::query::TicketFilter,
    order: service::ticket::query::TicketOrder,
    page: PageRequest,
) -> Result<TicketConnection> {
    let viewer = &actor(ctx)?;
    let key = PerOrganization::of(
        organization_id,
        &ticket_page_spec(filter.clone(), order, page),
    );
    let page = loaders(ctx)?
        .organization_tickets
        .load_one(key)
        .await
        .gql()?
        .unwrap_or_else(|| service::ticket::query::TicketPage {
            items: Vec::new(),
            positions: Vec::new(),
            has_next_page: false,
            has_previous_page: false,
        });
    // Usually loaded already, with the levels below, by the organizations' page.
    prefetch_tickets(
        loaders(ctx)?,
        &ctx.look_ahead(),
        &page.items,
        Batching::Window,
    )
    .await?;
    filter.organization_id = Some(organization_id);
    Ok(TicketConnection::new(page, viewer.clone(), filter))
}

/// Loads, in as few statements as the query's shape allows, what the selection below a page
/// of tickets will ask for: their comments window, then every user (requesters, assignees,
/// comment authors) in one batch and every organization in another. The field resolvers then
/// find everything in the request's loader caches. Doing this here rather than leaving it to
/// the loaders' batching window keeps the statement count fixed under concurrent load.
pub async fn prefetch_tickets(
    loaders: &super::Loaders,
    look: &Lookahead<'_>,
    tickets: &[ticket::Model],
    batching: Batching,
) -> Result<()> {
    prefetch_tickets_with(loaders, look, tickets, batching, None).await
}

/// [`prefetch_tickets`], what was read `alongside` the page taken as read.
async fn prefetch_tickets_with(
    loaders: &super::Loaders,
    look: &Lookahead<'_>,
    tickets: &[ticket::Model],
    batching: Batching,
    alongside: Option<(Wanted, service::ticket::alongside::Alongside)>,
) -> Result<()> {
    if tickets.is_empty() {
        return Ok(());
    }
    let levels = [look.field("nodes"), look.field("edges").field("node")];
    let wants = |name: &str| levels.iter().any(|level| level.field(name).exists());

    // People and organizations read alongside the page are not read again.
    let mut known_users = HashSet::with_hasher(super::Hasher::default());
    let mut known_organizations = HashSet::with_hasher(super::Hasher::default());
    let (wanted, mut read) = alongside.unzip();
    if let Some(read) = &mut read {
        let people: Vec<_> = std::mem::take(&mut read.people)
            .into_iter()
            .map(|user| {
                let user = Arc::new(user);
                loaders.seen_users.keep(user.id, &user);
                known_users.insert(user.id);
                (user.id, user)
            })
            .collect();
        loaders.users.feed_many(people).await;
        let organizations: Vec<_> = std::mem::take(&mut read.organizations)
            .into_iter()
            .map(|organization| {
                let organization = Arc::new(organization);
                loaders
                    .seen_organizations
                    .keep(organization.id, &organization);
                known_organizations.insert(organization.id);
                (organization.id, organization)
            })
            .collect();
        loaders.organizations.feed_many(organizations).await;
    }

    let mut user_ids = Vec::new();
    if wants("requester") {
        user_ids.extend(tickets.iter().map(|t| t.requester_id));
    }
    if wants("assignee") {
        user_ids.extend(tickets.iter().filter_map(|t| t.assignee_id));
    }

    // The first page of each ticket's comments and history, when that is what every
    // selection of them asks for, and the people they name.
    if let Some((first, after, wants_people)) = first_page(&levels, "comments", "author")? {
        let mut keys: Vec<CommentWindow> = tickets
            .iter()
            .map(|t| CommentWindow {
                ticket_id: t.id,
                first,
                after,
            })
            .collect();
        let read = read
            .as_mut()
            .filter(|_| wanted.is_some_and(|w| w.comments == Some((first, after))));
        if let Some(read) = read {
            // A ticket that came into the page after the comments were read is read now.
            let mut found: Vec<(CommentWindow, Arc<[entity::comment::Model]>)> =
                Vec::with_capacity(keys.len());
            keys.retain(|key| match read.windows.remove(&key.ticket_id) {
                Some(window) => {
                    found.push((*key, Arc::from(window)));
                    false
                }
                None => true,
            });
            if wants_people {
                for (_, window) in &found {
                    user_ids.extend(window.iter().map(|c| c.author_id));
                }
            }
            loaders.comment_windows.feed_many(found).await;
        }
        if !keys.is_empty() {
            load(&loaders.comment_windows, keys, batching, |window| {
                if wants_people {
                    user_ids.extend(window.iter().map(|c| c.author_id));
                }
            })
            .await
            .gql()?;
        }
    }
    if let Some((first, after, wants_people)) = first_page(&levels, "history", "actor")? {
        let keys = tickets.iter().map(|t| CommentWindow {
            ticket_id: t.id,
            first,
            after,
        });
        load(&loaders.history_windows, keys, batching, |window| {
            if wants_people {
                user_ids.extend(window.iter().filter_map(|h| h.actor_id));
            }
        })
        .await
        .gql()?;
    }
    if wants("commentCount") {
        load(
            &loaders.comment_counts,
            tickets.iter().map(|t| t.id),
            batching,
            |_| {},
        )
        .await
        .gql()?;
    }

    let organizations = async {
        if wants("organization") {
            load(
                &loaders.organizations,
                tickets
                    .iter()
                    .map(|t| t.organization_id)
                    .filter(|id| !known_organizations.contains(id)),
                batching,
                |organization| {
                    loaders
                        .seen_organizations
                        .keep(organization.id, organization)
                },
            )
            .await
            .gql()?;
        }
        Ok::<_, async_graphql::Error>(())
    };
    let users = async {
        let user_ids = user_ids.iter().filter(|id| !known_users.contains(*id));
        load(&loaders.users, user_ids.copied(), batching, |user| {
            loaders.seen_users.keep(user.id, user)
        })
        .await
        .gql()?;
        Ok::<_, async_graphql::Error>(())
    };
    let (organizations, users) = futures_util::join!(organizations, users);
    organizations?;
    users?;
    Ok(())
}

/// For a paged child field (`comments`, `history`) selected below a list of tickets: the window
/// to load (one more than asked, to know whether there is a next page, after the position its
/// `after` cursor names) and whether `person` (`author`, `actor`) is selected on its nodes.
/// `None` when it is not selected, when its selections ask for different pages, or when an
/// argument is not valid (its resolver then reports it).
fn first_page(
    levels: &[async_graphql::Lookahead<'_>],
    field: &str,
    person: &str,
) -> Result<Option<(u64, super::comment::After, bool)>> {
    let selections: Vec<_> = levels
        .iter()
        .flat_map(|level| level.field(field).selection_fields())
        .collect();
    let mut window = None;
    for selection in &selections {
        let arguments = selection
            .arguments()
            .map_err(|e| async_graphql::Error::new(e.message))?;
        let mut first = 20;
        let mut after = None;
        for (name, value) in arguments {
            match (name.as_str(), value) {
                ("first", async_graphql::Value::Number(n)) => first = n.as_u64().unwrap_or(20),
                ("after", async_graphql::Value::Null) => {}
                ("after", async_graphql::Value::String(cursor)) => {
                    match crate::graphql::id::parse_cursor(&cursor, "after") {
                        Ok(service::page::Position {
                            key: service::page::Key::Time(at),
                            id,
                        }) => after = Some((at, id)),
                        _ => return Ok(None),
                    }
                }
                ("first" | "after", _) => return Ok(None),
                _ => {}
            }
        }
        if first > 100 {
            return Ok(None);
        }
        match window {
            None => window = Some((first + 1, after)),
            Some(other) if other == (first + 1, after) => {}
            Some(_) => return Ok(None),
        }
    }
    let Some((first, after)) = window else {
        return Ok(None);
    };
    let wants_person = selections.iter().any(|s| {
        s.selection_set().any(|f| {
            (f.name() == "nodes" && f.selection_set().any(|g| g.name() == person))
                || (f.name() == "edges"
                    && f.selection_set().any(|g| {
                        g.name() == "node" && g.selection_set().any(|h| h.name() == person)
                    }))
        })
    });
    Ok(Some((first, after, wants_person)))
}

/// `keys` through `loader`, as `batching` says.
async fn load<K, T>(
    loader: &async_graphql::dataloader::DataLoader<T, super::Cache>,
    keys: impl IntoIterator<Item = K>,
    batching: Batching,
    inspect: impl FnMut(&T::Value),
) -> std::result::Result<(), T::Error>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    T: async_graphql::dataloader::Loader<K>,
{
    match batching {
        Batching::Now => prefetch(loader, keys, inspect).await,
        Batching::Window => {
            loader.load_many(keys).await?.values().for_each(inspect);
            Ok(())
        }
    }
}

/// Loads what the selection below a page of organizations asks of every organization of the
/// page: their tickets (and what is asked below those, and their count), their members, and
/// those members' organizations, one statement each.
pub async fn prefetch_organizations(
    ctx: &Context<'_>,
    organizations: &[entity::organization::Model],
) -> Result<()> {
    if organizations.is_empty() {
        return Ok(());
    }
    let look = ctx.look_ahead();
    let levels = [look.field("nodes"), look.field("edges").field("node")];
    let loaders = loaders(ctx)?;
    let ids: Vec<Uuid> = organizations.iter().map(|o| o.id).collect();
    for selection in levels
        .iter()
        .flat_map(|level| level.field("tickets").selection_fields())
    {
        prefetch_organization_tickets(loaders, &ids, selection).await;
    }
    let members = levels.iter().map(|level| level.field("members"));
    if !members.clone().any(|m| m.exists()) {
        return Ok(());
    }
    let mut people = Vec::new();
    prefetch(
        &loaders.members,
        organizations.iter().map(|o| o.id),
        |users| {
            people.extend(users.iter().map(|user| user.id));
        },
    )
    .await
    .gql()?;
    if members.clone().any(|m| {
        m.field("nodes").field("organizations").exists()
            || m.field("edges")
                .field("node")
                .field("organizations")
                .exists()
    }) {
        prefetch(&loaders.user_organizations, people, |_| {})
            .await
            .gql()?;
    }
    Ok(())
}

/// One `tickets(...)` selection below a page of organizations: the page of every organization
/// in one statement, its count when asked, and the levels below. What fails here (arguments
/// that do not parse, a cursor of another list) is left for the field's resolver to run into
/// and report, on that field.
async fn prefetch_organization_tickets(
    loaders: &super::Loaders,
    organizations: &[Uuid],
    selection: async_graphql::SelectionField<'_>,
) {
    let Some((filter, order, page)) = ticket_arguments(&selection) else {
        return;
    };
    let _ = prefetch_level(loaders, organizations, selection, filter, order, page).await;
}

async fn prefetch_level(
    loaders: &super::Loaders,
    organizations: &[Uuid],
    selection: async_graphql::SelectionField<'_>,
    filter: service::ticket::query::TicketFilter,
    order: service::ticket::query::TicketOrder,
    page: PageRequest,
) -> Result<()> {
    let look = Lookahead::from(selection);
    if look.field("totalCount").exists() {
        let spec = ticket_count_spec(filter.clone());
        let keys = organizations
            .iter()
            .map(|id| PerOrganization::of(*id, &spec));
        prefetch(&loaders.organization_ticket_counts, keys, |_| {})
            .await
            .gql()?;
    }
    if !(look.field("nodes").exists()
        || look.field("edges").exists()
        || look.field("pageInfo").exists())
    {
        return Ok(());
    }
    let spec = ticket_page_spec(filter, order, page);
    let keys = organizations
        .iter()
        .map(|id| PerOrganization::of(*id, &spec));
    let mut tickets: Vec<ticket::Model> = Vec::new();
    prefetch(&loaders.organization_tickets, keys, |page| {
        tickets.extend(page.items.iter().cloned());
    })
    .await
    .gql()?;
    prefetch_tickets(loaders, &look, &tickets, Batching::Now).await
}

/// The arguments of a `tickets(...)` selection, as its resolver reads them; `None` when one
/// does not parse.
fn ticket_arguments(
    selection: &async_graphql::SelectionField<'_>,
) -> Option<(
    service::ticket::query::TicketFilter,
    service::ticket::query::TicketOrder,
    PageRequest,
)> {
    use crate::graphql::input::ticket::{TicketFilter, TicketOrder};
    let mut filter = None;
    let mut order = None;
    let mut page = PageRequest::default();
    let cursor = |value: async_graphql::Value| match value {
        async_graphql::Value::Null => Some(None),
        async_graphql::Value::String(text) => crate::graphql::id::parse_cursor(&text, "after")
            .ok()
            .map(Some),
        _ => None,
    };
    for (name, value) in selection.arguments().ok()? {
        match name.as_str() {
            "filter" => filter = <Option<TicketFilter>>::parse(Some(value)).ok()?,
            "orderBy" => order = <Option<TicketOrder>>::parse(Some(value)).ok()?,
            "first" => page.first = <Option<i32>>::parse(Some(value)).ok()?,
            "last" => page.last = <Option<i32>>::parse(Some(value)).ok()?,
            "after" => page.after = cursor(value)?,
            "before" => page.before = cursor(value)?,
            _ => return None,
        }
    }
    let filter = filter.unwrap_or_default().into_service().ok()?;
    Some((filter, order.unwrap_or_default().into(), page))
}
