use async_graphql::{Context, Object, Result};

use crate::graphql::context::{actor, db};
use crate::graphql::enums::NotificationStatus;
use crate::graphql::error::ResultExt;
use crate::graphql::object::notification::NotificationDeliveryConnection;

#[derive(Default)]
pub struct NotificationQuery;

#[Object]
impl NotificationQuery {
    /// Notices by email, newest first, with their attempts and last error (administrators):
    /// what went out, what is being retried, what failed.
    #[graphql(complexity = "(first.clamp(0, 100) as usize) * child_complexity + 1")]
    async fn notification_deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the notices in this status.")] status: Option<NotificationStatus>,
        #[graphql(
            default = 20,
            validator(minimum = 0),
            desc = "How many notices to return; more than 100 is served as 100."
        )]
        first: i32,
        #[graphql(desc = "Return the notices after this cursor (an edge cursor or `endCursor`).")]
        after: Option<String>,
    ) -> Result<NotificationDeliveryConnection> {
        let first = service::page::capped(first);
        let viewer = &actor(ctx)?;
        let after = crate::graphql::object::notification::time_cursor(after.as_deref())?;
        let rows = service::notification::deliveries(
            db(ctx)?,
            viewer,
            status.map(Into::into),
            first as u64,
            after,
        )
        .await
        .gql()?;
        let mut page = service::page::Page::first_of(rows, first as usize);
        page.has_previous_page = after.is_some();
        Ok(NotificationDeliveryConnection::new(page))
    }
}
