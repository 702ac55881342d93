use std::collections::HashSet;
use std::time::{Duration, Instant};

use async_graphql::{Context, ErrorExtensions, ID, Result, Subscription};
use futures_util::Stream;
use service::page::{Key, PageRequest, Position};
use tokio::sync::broadcast::error::RecvError;

use super::ReplayPermits;
use crate::events::{BUS_CAPACITY, Event, EventBus};
use crate::graphql::context::{Viewer, actor, db};
use crate::graphql::error::{ResultExt, gql};
use crate::graphql::id::{Kind, expect};
use crate::graphql::object::event::TicketEvent;
use crate::graphql::object::ticket::Ticket;
use crate::graphql::query::EventFilter;

/// Most events a resuming subscriber is sent from the log before it goes live; further
/// behind, it reads the change feed first.
const MAX_REPLAY: usize = 10_000;
/// How long after catching up an event read from the log may still arrive live.
const REPLAY_OVERLAP: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct TicketEventsSubscription;

#[Subscription]
impl TicketEventsSubscription {
    /// Every change of the tickets you may see, as it commits: the same events as the change
    /// feed (`events`), each checked against your access at the moment it is sent.
    ///
    /// With `after` (the `id` of the last event you received), you first get what you missed
    /// from the log, then live events, with no gap and no duplicate.
    async fn ticket_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<EventFilter>,
        after: Option<ID>,
    ) -> Result<impl Stream<Item = Result<TicketEvent>> + use<>> {
        let db = db(ctx)?.clone();
        let viewer = current_account(&db, &actor(ctx)?).await?;
        let filter = filter.unwrap_or_default().into_service().gql()?;
        let after = after
            .map(|id| {
                id.parse::<i64>()
                    .ok()
                    .filter(|id| *id >= 0)
                    .ok_or_else(|| service::Error::invalid("after", "not an event id"))
            })
            .transpose()
            .gql()?;
        let shared = ctx.data::<Viewer>()?.clone();
        let permits = ctx.data::<ReplayPermits>()?.clone();
        // Listen before reading the log, so nothing committed in between is missed.
        let mut live = ctx.data::<EventBus>()?.subscribe();
        Ok(async_stream::stream! {
            let mut replayed = HashSet::new();
            if let Some(mut cursor) = after {
                let _permit = permits.acquire().await;
                loop {
                    let current = match current_account(&db, &viewer).await {
                        Ok(current) => current,
                        Err(err) => {
                            yield Err(err);
                            return;
                        }
                    };
                    shared.sign_in(current.clone());
                    let page = PageRequest {
                        first: Some(100),
                        after: Some(Position { key: Key::Int(cursor), id: uuid::Uuid::nil() }),
                        ..Default::default()
                    };
                    let page = match service::event::feed(&db, &current, &filter, &page).await {
                        Ok(page) => page,
                        Err(err) => {
                            yield Err(gql(err));
                            return;
                        }
                    };
                    for event in page.items {
                        cursor = event.id;
                        replayed.insert(event.id);
                        yield Ok(TicketEvent(event));
                    }
                    if !page.has_next_page {
                        break;
                    }
                    if replayed.len() >= MAX_REPLAY {
                        yield Err(async_graphql::Error::new(format!(
                            "more than {MAX_REPLAY} events to catch up: read them from `events`, then resume after the last one"
                        )).extend_with(|_, e| e.set("code", "TOO_FAR_BEHIND")));
                        return;
                    }
                }
            }
            let caught_up = Instant::now();
            loop {
                let event = match live.receiver.recv().await {
                    Ok(event) => event,
                    Err(RecvError::Lagged(_)) => {
                        yield Err(slow_consumer());
                        return;
                    }
                    Err(RecvError::Closed) => return,
                };
                if !replayed.is_empty() {
                    if replayed.remove(&event.id) {
                        continue;
                    }
                    if caught_up.elapsed() > REPLAY_OVERLAP {
                        replayed = HashSet::new();
                    }
                }
                if after.is_some_and(|after| event.id <= after) || !matches(&filter, &event) {
                    continue;
                }
                match visible(&db, &viewer, &event).await {
                    Ok((current, true)) => {
                        // The push resolves with the account as it is now.
                        shared.sign_in(current);
                        yield Ok(TicketEvent((*event).clone()));
                    }
                    Ok((_, false)) => {}
                    // The account is gone or disabled, or its session ended.
                    Err(err) => {
                        yield Err(err);
                        return;
                    }
                }
            }
        })
    }

    /// The ticket after each change to it, while you may see it; with `initial: true`, its
    /// current state first, so nothing between your query and this subscription is missed.
    /// Ends when the ticket is deleted.
    async fn ticket_updated(
        &self,
        ctx: &Context<'_>,
        id: ID,
        initial: Option<bool>,
    ) -> Result<impl Stream<Item = Result<Ticket>> + use<>> {
        let db = db(ctx)?.clone();
        // The account as it is now, not as the socket found it when it connected.
        let viewer = current_account(&db, &actor(ctx)?).await?;
        let shared = ctx.data::<Viewer>()?.clone();
        shared.sign_in(viewer.clone());
        let ticket_id = expect(Kind::Ticket, &id, "id").gql()?;
        // Listen first, then read: a change committed in between is in both, and is skipped
        // live because the state read already shows it. The ticket must be readable now;
        // otherwise it does not exist for this viewer.
        let mut live = ctx.data::<EventBus>()?.subscribe();
        let seen = service::event::last_id_of_ticket(&db, ticket_id)
            .await
            .gql()?;
        let current = service::ticket::query::get(&db, &viewer, ticket_id)
            .await
            .gql()?;
        Ok(async_stream::stream! {
            if initial.unwrap_or(false) {
                yield Ok(Ticket(current));
            }
            loop {
                let event = match live.receiver.recv().await {
                    Ok(event) => event,
                    Err(RecvError::Lagged(_)) => {
                        yield Err(slow_consumer());
                        return;
                    }
                    Err(RecvError::Closed) => return,
                };
                if event.ticket_id != ticket_id || event.id <= seen {
                    continue;
                }
                if event.kind == service::event::TICKET_DELETED {
                    return;
                }
                let actor = match current_account(&db, &viewer).await {
                    Ok(actor) => actor,
                    Err(err) => {
                        yield Err(err);
                        return;
                    }
                };
                // A client learns nothing of internal notes, not even that one was written.
                if !service::access::can_see_event(&actor, event.internal) {
                    continue;
                }
                match service::ticket::query::get(&db, &actor, ticket_id).await {
                    Ok(ticket) => {
                        shared.sign_in(actor);
                        yield Ok(Ticket(ticket));
                    }
                    // Out of reach now (moved to another organization, or deleted).
                    Err(service::Error::NotFound { .. }) => {}
                    Err(err) => {
                        yield Err(gql(err));
                        return;
                    }
                }
            }
        })
    }
}

fn matches(filter: &service::event::EventFilter, event: &Event) -> bool {
    filter.ticket_id.is_none_or(|id| id == event.ticket_id)
        && filter
            .organization_id
            .is_none_or(|id| id == event.organization_id)
        && (filter.kinds.is_empty() || filter.kinds.contains(&event.kind))
}

/// The account as it is now, and whether it may receive `event` (current role and
/// memberships, the ticket as it is now); an error when the account is gone or disabled, or
/// the session the subscription was made in has ended.
async fn visible(
    db: &sea_orm::DatabaseConnection,
    viewer: &service::actor::Actor,
    event: &Event,
) -> Result<(service::actor::Actor, bool)> {
    let current = current_account(db, viewer).await?;
    let visible = service::event::visible_to(db, &current, event)
        .await
        .unwrap_or(false);
    Ok((current, visible))
}

/// The subscriber's account as it is now, while the session it subscribed in lasts
/// (`UNAUTHENTICATED` once it has ended).
pub(super) async fn current_account(
    db: &sea_orm::DatabaseConnection,
    viewer: &service::actor::Actor,
) -> Result<service::actor::Actor> {
    service::auth::session_account(db, viewer.user_id, viewer.session_epoch)
        .await
        .gql()
}

fn slow_consumer() -> async_graphql::Error {
    async_graphql::Error::new(format!(
        "fell more than {BUS_CAPACITY} events behind; resubscribe with `after` set to the last event id received"
    ))
    .extend_with(|_, e| e.set("code", "SLOW_CONSUMER"))
}
