//! The relay's transaction: claim the events that committed since the last pass, give each the
//! next log position, queue their webhook deliveries, and mark them published, all or nothing.
//! What the caller does with the events afterwards (hand them to subscribers) happens after the
//! commit and never holds this back: a subscriber that missed an event reads it from the log by
//! position.

use chrono::Utc;
use entity::outbox_event;
use sea_orm::sea_query::{CaseStatement, Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionSession, TransactionTrait,
};

use crate::Result;

/// The advisory lock key the relays of all replicas take turns on.
const RELAY_LOCK: i64 = 0x6864_6573_6b01;

/// What one pass published.
#[derive(Debug, Default)]
pub struct Relayed {
    /// In position order, each with its position.
    pub events: Vec<outbox_event::Model>,
    /// Webhook deliveries queued for them.
    pub deliveries: usize,
    /// Notices to people made from them.
    pub notifications: usize,
}

/// One pass of the relay over at most `limit` events.
///
/// On PostgreSQL a transaction-scoped advisory lock lets one relay work at a time (another
/// replica that finds it taken leaves the batch to the holder), so positions are handed out
/// one pass after the other; events whose change has not committed yet are not visible to the
/// pass and get a later position once it has. On SQLite the write transaction serializes
/// relays. The same transaction queues the events' webhook deliveries and notices (by email
/// too when `email`: an SMTP server is configured).
pub async fn publish_next<C>(db: &C, limit: u64, email: bool) -> Result<Relayed>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = crate::db::begin_write(db).await?;
    if !crate::db::try_job_lock(&txn, RELAY_LOCK).await? {
        txn.rollback().await?;
        return Ok(Relayed::default());
    }
    let mut events = outbox_event::Entity::find()
        .filter(outbox_event::Column::PublishedAt.is_null())
        .order_by_asc(outbox_event::Column::Id)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(&txn)
        .await?;
    if events.is_empty() {
        txn.commit().await?;
        return Ok(Relayed::default());
    }
    let last = super::last_position(&txn).await?;
    let now = Utc::now();
    let mut positions = CaseStatement::new();
    for (offset, event) in events.iter_mut().enumerate() {
        let position = last + 1 + offset as i64;
        event.position = Some(position);
        event.published_at = Some(now);
        positions = positions.case(outbox_event::Column::Id.eq(event.id), position);
    }
    outbox_event::Entity::update_many()
        .col_expr(outbox_event::Column::PublishedAt, Expr::value(now))
        .col_expr(outbox_event::Column::Position, positions.into())
        .filter(outbox_event::Column::Id.is_in(events.iter().map(|e| e.id)))
        .exec(&txn)
        .await?;
    let deliveries = crate::webhook::enqueue(&txn, &events).await?;
    let notifications = crate::notification::enqueue(&txn, &events, email).await?;
    txn.commit().await?;
    Ok(Relayed {
        events,
        deliveries,
        notifications,
    })
}
