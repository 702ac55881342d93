use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::notification;

use super::ticket::Ticket;
use crate::graphql::context::loaders;
use crate::graphql::enums::{NotificationChannel, NotificationKind};
use crate::graphql::error::ResultExt;
use crate::graphql::id::{Kind, encode};

/// A notice to you, in the app: a reply to your ticket, an assignment, an SLA warning ...
#[derive(Clone)]
pub struct Notification(pub notification::Model);

#[Object]
impl Notification {
    pub async fn id(&self) -> ID {
        encode(Kind::Notification, self.0.id)
    }

    async fn kind(&self) -> NotificationKind {
        self.0.kind.into()
    }

    /// One line, with the ticket's number: `[HD-1042] New reply: Printer on fire`.
    async fn title(&self) -> &str {
        &self.0.title
    }

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

    async fn read(&self) -> bool {
        self.0.read_at.is_some()
    }

    async fn read_at(&self) -> Option<DateTime<Utc>> {
        self.0.read_at
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
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
    pub kind: NotificationKind,
    pub channel: NotificationChannel,
    pub enabled: bool,
}
