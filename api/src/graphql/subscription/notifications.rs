use async_graphql::{Context, Result, Subscription};
use futures_util::Stream;

use super::ticket_events::{current_account, next_published};
use crate::events::EventBus;
use crate::graphql::context::{Viewer, actor, db};
use crate::graphql::object::notification::Notification;

#[derive(Default)]
pub struct NotificationSubscription;

#[Subscription]
impl NotificationSubscription {
    /// Your new notices in the app, as they are made (what `me.notifications` lists next),
    /// following your preferences. When it cannot go on without missing one, it ends with
    /// `RESUBSCRIBE` (or `SLOW_CONSUMER`): read `me.notifications`, then subscribe again.
    async fn notification_received(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<Notification>> + use<>> {
        let db = db(ctx)?.clone();
        let viewer = current_account(&db, &actor(ctx)?).await?;
        let shared = ctx.data::<Viewer>()?.clone();
        shared.sign_in(viewer.clone());
        let mut live = ctx.data::<EventBus>()?.subscribe();
        Ok(async_stream::stream! {
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
                // Made in the transaction that published the event: there by now.
                let notices = match service::notification::of_event(
                    &db,
                    viewer.user_id,
                    published.event.id,
                )
                .await
                {
                    Ok(notices) => notices,
                    Err(err) => {
                        yield Err(crate::graphql::error::gql(err));
                        return;
                    }
                };
                if notices.is_empty() {
                    continue;
                }
                // The session must still be on.
                match published.account(&db, &viewer).await {
                    Ok(current) => shared.sign_in(current),
                    Err(err) => {
                        yield Err(err);
                        return;
                    }
                }
                for notice in notices {
                    yield Ok(Notification(notice));
                }
            }
        })
    }
}
