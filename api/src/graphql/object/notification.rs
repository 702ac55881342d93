use crate::graphql::scalar::Timestamp;
use async_graphql::{Context, ID, Object, Result, SimpleObject};
use entity::notification;

use super::ticket::Ticket;
use crate::graphql::context::loaders;
use crate::graphql::enums::{NotificationChannel, NotificationKind, NotificationStatus};
use crate::graphql::error::ResultExt;
use crate::graphql::id::{Kind, encode};

/// A notice to you, in the app: a reply to your ticket, an assignment, an SLA warning ...
#[derive(Clone)]
pub struct Notification(pub notification::Model);

/// A notice to you, in the app: a reply to your ticket, an assignment, an SLA warning ...
#[Object]
impl Notification {
    /// The notice's global ID, for `notificationMarkRead`.
    pub async fn id(&self) -> ID {
        encode(Kind::Notification, self.0.id)
    }

    /// What the notice is about.
    async fn kind(&self) -> NotificationKind {
        self.0.kind.into()
    }

    /// One line, with the ticket's number: `[HD-1042] New reply: Printer on fire`.
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// The details, in plain text: the start of a reply, the new status, ...
    async fn body(&self) -> &str {
        &self.0.body
    }

    /// The ticket it is about, while you may read it.
    async fn ticket(&self, ctx: &Context<'_>) -> Result<Option<Ticket>> {
        let Some(id) = self.0.ticket_id else {
            return Ok(None);
        };
        Ok(loaders(ctx)?.tickets.load_one(id).await.gql()?.map(Ticket))
    }

    /// You have read it (`readAt` is set).
    async fn read(&self) -> bool {
        self.0.read_at.is_some()
    }

    /// When you marked it read; null while unread.
    async fn read_at(&self) -> Option<Timestamp> {
        self.0.read_at.map(Timestamp)
    }

    /// When the notice was made.
    async fn created_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }
}

super::page_info::connection!(
    /// A page of your notices, newest first.
    NotificationConnection,
    NotificationEdge,
    Notification,
    notification::Model,
    service::notification::position,
    /// Your unread notices in all (not only on this page).
    unread_count: u64,
);

/// Whether you hear one kind of notice on one channel.
#[derive(SimpleObject, Clone)]
pub struct NotificationPreference {
    /// The kind of notice.
    pub kind: NotificationKind,
    /// The channel it would come on.
    pub channel: NotificationChannel,
    /// You hear this kind on this channel.
    pub enabled: bool,
}

/// A notice by email as administrators see it: to whom, and how sending it went.
#[derive(Clone)]
pub struct NotificationDelivery(pub notification::Model);

/// A notice by email as administrators see it: to whom, and how sending it went.
#[Object]
impl NotificationDelivery {
    /// The delivery's global ID (its notice's `Notification` id names the in-app side).
    pub async fn id(&self) -> ID {
        encode(Kind::NotificationDelivery, self.0.id)
    }

    /// Whom the email is for.
    async fn recipient(&self, ctx: &Context<'_>) -> Result<Option<super::user::User>> {
        Ok(loaders(ctx)?
            .users
            .load_one(self.0.user_id)
            .await
            .gql()?
            .map(super::user::User))
    }

    /// What the notice is about.
    async fn kind(&self) -> NotificationKind {
        self.0.kind.into()
    }

    /// The notice's one line, the email's subject: `[HD-1042] New reply: Printer on fire`.
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// How sending it went.
    async fn status(&self) -> NotificationStatus {
        self.0.status.into()
    }

    /// Attempts made so far.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }

    /// Why the last attempt did not go through.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }

    /// When the next attempt is due (PENDING only).
    async fn next_attempt_at(&self) -> Option<Timestamp> {
        self.0
            .next_attempt_at
            .filter(|_| self.0.status == entity::enums::NotificationStatus::Pending)
            .map(Timestamp)
    }

    /// When the mail server accepted it; null unless `SENT`.
    async fn sent_at(&self) -> Option<Timestamp> {
        self.0.sent_at.map(Timestamp)
    }

    /// When the notice was made.
    async fn created_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }
}

super::page_info::connection!(
    /// A page of notices by email, newest first.
    NotificationDeliveryConnection,
    NotificationDeliveryEdge,
    NotificationDelivery,
    notification::Model,
    service::notification::position,
);

/// The (created at, id) position an `after` cursor of a list by time names.
pub fn time_cursor(after: Option<&str>) -> Result<service::notification::After> {
    let Some(cursor) = after else {
        return Ok(None);
    };
    let position =
        crate::graphql::id::parse_cursor(cursor, "after").map_err(crate::graphql::error::gql)?;
    match position.key {
        service::page::Key::Time(at) => Ok(Some((at, position.id))),
        _ => Err(crate::graphql::error::gql(service::Error::invalid(
            "after",
            "is not a cursor of this list",
        ))),
    }
}
