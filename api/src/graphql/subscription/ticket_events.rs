use async_graphql::{Context, ErrorExtensions, ID, Result, Subscription};
use futures_util::Stream;
use service::ErrorCode;
use service::page::{Key, PageRequest, Position};
use tokio::sync::broadcast::error::RecvError;

use super::{ReplayPermits, SharedRun};
use crate::events::{BUS_CAPACITY, Delivery, EventBus};
use crate::graphql::context::{Viewer, actor, db};
use crate::graphql::error::{ResultExt, gql};
use crate::graphql::id::{Kind, expect};
use crate::graphql::object::event::TicketEvent;
use crate::graphql::object::ticket::Ticket;
use crate::graphql::query::EventFilter;

/// Most events a resuming subscriber is sent from the log before it goes live; further
/// behind, it reads the change feed first.
const MAX_REPLAY: usize = 10_000;

#[derive(Default)]
pub struct TicketEventsSubscription;

#[Subscription]
impl TicketEventsSubscription {
    /// Every change of the tickets you may see, as it commits: the same events as the change
    /// feed (`events`), in the same order, each checked against your access at the moment it is
    /// sent.
    ///
    /// With `after` (the `position` of the last event you received), you first get what you
    /// missed from the log, then live events, with no gap and no duplicate. A subscription
    /// that cannot go on without a gap ends with an error whose `extensions.code` is
    /// `RESUBSCRIBE` (or `SLOW_CONSUMER` when it fell behind) and whose `extensions.after` is the
    /// position to resume after; a position older than the log keeps is refused with
    /// `CURSOR_EXPIRED`.
    async fn ticket_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the events that match.")] filter: Option<EventFilter>,
        #[graphql(
            desc = "The `position` of the last event you received; live events only when null."
        )]
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
                    .ok_or_else(|| service::Error::invalid("after", "not an event position"))
            })
            .transpose()
            .gql()?;
        if let Some(after) = after {
            service::event::check_cursor(&db, after).await.gql()?;
        }
        let shared = ctx.data::<Viewer>()?.clone();
        let permits = ctx.data::<ReplayPermits>()?.clone();
        // Listen before reading the log, so nothing committed in between is missed. An
        // operation shared by a group of sockets counts its members itself.
        let run = ctx.data_opt::<SharedRun>().cloned();
        let bus = ctx.data::<EventBus>()?;
        let mut live = match &run {
            Some(run) => {
                let live = bus.subscribe_shared_as(&viewer);
                run.listening();
                live
            }
            None => bus.subscribe_as(&viewer),
        };
        Ok(async_stream::stream! {
            // The last position sent or passed over: the bus delivers in position order, so a
            // live event at or before it was already read from the log.
            let mut cursor = after;
            if let Some(mut position) = after {
                let _permit = permits.acquire().await;
                let mut replayed = 0;
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
                        after: Some(Position { key: Key::Int(position), id: uuid::Uuid::nil() }),
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
                        position = event.position.unwrap_or(position);
                        replayed += 1;
                        yield Ok(TicketEvent(event));
                    }
                    if !page.has_next_page {
                        break;
                    }
                    if replayed >= MAX_REPLAY {
                        yield Err(async_graphql::Error::new(format!(
                            "more than {MAX_REPLAY} events to catch up: read them from `events`, then resume after the last one"
                        )).extend_with(|_, e| {
                            e.set("code", ErrorCode::TooFarBehind.as_str());
                            e.set("after", position.to_string());
                        }));
                        return;
                    }
                }
                cursor = Some(position);
            }
            loop {
                let published = match next_published(&mut live, cursor).await {
                    Some(Ok(published)) => published,
                    Some(Err(err)) => {
                        yield Err(err);
                        return;
                    }
                    None => return,
                };
                let position = published.position();
                if cursor.is_some_and(|cursor| position <= cursor) {
                    continue;
                }
                if !filter.matches(&published.event) {
                    cursor = Some(position);
                    continue;
                }
                // The account as it is now, and the ticket as it is now, each read once for
                // every subscription of this server.
                let current = match published.account(&db, &viewer).await {
                    Ok(current) => current,
                    // The account is gone or disabled, or its session ended.
                    Err(err) => {
                        yield Err(err);
                        return;
                    }
                };
                match published.ticket_for(&db, &current).await {
                    Ok(Some(_)) => {
                        cursor = Some(position);
                        // The push resolves with the account as it is now.
                        shared.sign_in(current);
                        if let Some(run) = &run {
                            run.pushing(position);
                        }
                        yield Ok(TicketEvent(published.event.clone()));
                    }
                    Ok(None) => cursor = Some(position),
                    Err(_) => {
                        yield Err(resubscribe(position - 1));
                        return;
                    }
                }
            }
        })
    }

    /// The ticket after each change to it, while you may see it; with `initial: true`, its
    /// current state first, so nothing between your query and this subscription is missed.
    /// Ends when the ticket is deleted. When it cannot go on without missing a change, it ends
    /// with `RESUBSCRIBE`: subscribe again with `initial: true`.
    async fn ticket_updated(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ticket's global ID.")] id: ID,
        #[graphql(desc = "Send the ticket's current state first (false when null).")]
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
        let mut live = ctx.data::<EventBus>()?.subscribe_as(&viewer);
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
            let mut cursor = None;
            loop {
                let published = match next_published(&mut live, cursor).await {
                    Some(Ok(published)) => published,
                    Some(Err(err)) => {
                        yield Err(err);
                        return;
                    }
                    None => return,
                };
                cursor = Some(published.position());
                let event = &published.event;
                if event.ticket_id != ticket_id || event.id <= seen {
                    continue;
                }
                if event.kind == service::event::TICKET_DELETED {
                    return;
                }
                let actor = match published.account(&db, &viewer).await {
                    Ok(actor) => actor,
                    Err(err) => {
                        yield Err(err);
                        return;
                    }
                };
                // A client learns nothing of internal notes, not even that one was written;
                // a ticket out of reach now (moved to another organization, or deleted) is not
                // sent.
                match published.ticket_for(&db, &actor).await {
                    Ok(Some(ticket)) => {
                        let ticket = ticket.clone();
                        shared.sign_in(actor);
                        yield Ok(Ticket(ticket));
                    }
                    Ok(None) => {}
                    Err(err) => {
                        yield Err(err);
                        return;
                    }
                }
            }
        })
    }
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

/// The next event on the bus for a subscription whose last position is `cursor`; the error
/// that ends it when it cannot go on without a gap; `None` when the bus closed.
pub(super) async fn next_published(
    live: &mut crate::events::Subscription,
    cursor: Option<i64>,
) -> Option<Result<crate::events::Event>> {
    match live.receiver.recv().await {
        Ok(Delivery::Event(published)) => Some(Ok(published)),
        Ok(Delivery::Gap { after }) => Some(Err(resubscribe(cursor.unwrap_or(after)))),
        Err(RecvError::Lagged(_)) => Some(Err(slow_consumer(cursor))),
        Err(RecvError::Closed) => None,
    }
}

pub(crate) fn slow_consumer(cursor: Option<i64>) -> async_graphql::Error {
    async_graphql::Error::new(format!(
        "fell more than {BUS_CAPACITY} events behind; resubscribe with `after` set to the position of the last event received"
    ))
    .extend_with(|_, e| {
        e.set("code", ErrorCode::SlowConsumer.as_str());
        if let Some(cursor) = cursor {
            e.set("after", cursor.to_string());
        }
    })
}

/// Events may have been missed (the event log could not be read): resume after `after`.
fn resubscribe(after: i64) -> async_graphql::Error {
    async_graphql::Error::new(
        "live events were interrupted; subscribe again with `after` set to extensions.after to get what was missed",
    )
    .extend_with(|_, e| {
        e.set("code", ErrorCode::Resubscribe.as_str());
        e.set("after", after.to_string());
    })
}
