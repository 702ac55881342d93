//! Housekeeping jobs the server runs on a timer: closing tickets resolved long ago, and
//! deleting what the retention rules say has expired. (The SLA scanner is [`crate::sla::scan`].)
//!
//! Each takes `now` from its caller, so tests drive them on a clock of their own. With several
//! replicas on PostgreSQL a job runs under an advisory lock and claims its rows with
//! `FOR UPDATE SKIP LOCKED`, and every row change re-checks its condition: a job never acts
//! twice on the same ticket.

use chrono::{DateTime, Duration, Utc};
use entity::enums::TicketStatus;
use entity::{audit_log, refresh_token, ticket, webhook_delivery};
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionSession, TransactionTrait,
};

use crate::ticket::history_entry;
use crate::{Result, event, lifecycle};

const AUTO_CLOSE_LOCK: i64 = 0x6864_6573_6b03;
const RETENTION_LOCK: i64 = 0x6864_6573_6b04;
const BATCH: u64 = 200;
/// Delivered webhook deliveries are kept this long for `webhookDeliveries`.
pub const DELIVERY_RETENTION_DAYS: i64 = 30;

/// Closes every ticket RESOLVED for at least `days` days: CLOSED, with a history row and an
/// event by the system. Returns how many it closed.
pub async fn auto_close<C>(db: &C, now: DateTime<Utc>, days: i64) -> Result<u64>
where
    C: ConnectionTrait + TransactionTrait,
{
    let cutoff = now - Duration::days(days);
    let mut closed = 0;
    loop {
        let txn = crate::db::begin_write(db).await?;
        if !crate::db::try_job_lock(&txn, AUTO_CLOSE_LOCK).await? {
            return Ok(closed);
        }
        let due = ticket::Entity::find()
            .filter(ticket::Column::Status.eq(TicketStatus::Resolved))
            .filter(ticket::Column::ResolvedAt.lte(cutoff))
            .filter(ticket::Column::DeletedAt.is_null())
            .order_by_asc(ticket::Column::ResolvedAt)
            .limit(BATCH)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .all(&txn)
            .await?;
        for current in &due {
            let updated = ticket::Entity::update(ticket::ActiveModel {
                id: Set(current.id),
                status: Set(TicketStatus::Closed),
                closed_at: Set(Some(now)),
                updated_at: Set(now),
                ..Default::default()
            })
            .exec(&txn)
            .await?;
            let updated = crate::ticket::after_change(&txn, Some(current), updated, now).await?;
            let (from, to) = (
                lifecycle::name(TicketStatus::Resolved),
                lifecycle::name(TicketStatus::Closed),
            );
            entity::ticket_history::Entity::insert(history_entry(
                current.id,
                None,
                "status",
                Some(from.into()),
                Some(to.into()),
                now,
            ))
            .exec_without_returning(&txn)
            .await?;
            event::record(
                &txn,
                &updated,
                event::TICKET_STATUS_CHANGED,
                None,
                &[event::Change::new(
                    "status",
                    Some(from.into()),
                    Some(to.into()),
                )],
                None,
            )
            .await?;
        }
        txn.commit().await?;
        closed += due.len() as u64;
        if (due.len() as u64) < BATCH {
            return Ok(closed);
        }
    }
}

/// How long each kind of record is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Audit log entries.
    pub audit_days: i64,
    /// Published events of the log; a change-feed cursor older than what is kept gets
    /// `CURSOR_EXPIRED`.
    pub event_days: i64,
    /// Webhook deliveries that failed for good (`FAILED`).
    pub failed_delivery_days: i64,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            audit_days: 365,
            event_days: 90,
            failed_delivery_days: 30,
        }
    }
}

/// What one retention round deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retained {
    pub audit_entries: u64,
    /// Delivered webhook deliveries.
    pub deliveries: u64,
    /// Webhook deliveries that failed for good.
    pub failed_deliveries: u64,
    pub events: u64,
    pub idempotency_keys: u64,
    pub refresh_tokens: u64,
    /// Password reset links a day past their hour.
    pub password_resets: u64,
    /// Previous webhook secrets erased because their overlap ended.
    pub previous_secrets: u64,
}

impl Retained {
    pub fn total(&self) -> u64 {
        self.audit_entries
            + self.deliveries
            + self.failed_deliveries
            + self.events
            + self.idempotency_keys
            + self.refresh_tokens
            + self.password_resets
            + self.previous_secrets
    }
}

/// Takes a job's lock for a preview (the job inside takes it again: the session holds it), or
/// says that a server is running the job right now, when a count of zero would be a guess.
async fn busy_unless_locked(txn: &impl ConnectionTrait, key: i64) -> Result<()> {
    if crate::db::try_job_lock(txn, key).await? {
        Ok(())
    } else {
        Err(crate::Error::Internal(
            "a server is running this clean-up right now; try again in a moment".into(),
        ))
    }
}

/// What [`retention`] would delete now, counted by running it in a transaction that is then
/// rolled back: nothing changes.
pub async fn retention_preview<C>(
    db: &C,
    now: DateTime<Utc>,
    policy: &RetentionPolicy,
) -> Result<Retained>
where
    C: ConnectionTrait + TransactionTrait,
{
    let outer = crate::db::begin_write(db).await?;
    busy_unless_locked(&outer, RETENTION_LOCK).await?;
    let counted = retention(&outer, now, policy).await?;
    outer.rollback().await?;
    Ok(counted)
}

/// What [`auto_close`] would close now, counted the same way.
pub async fn auto_close_preview<C>(db: &C, now: DateTime<Utc>, days: i64) -> Result<u64>
where
    C: ConnectionTrait + TransactionTrait,
{
    let outer = crate::db::begin_write(db).await?;
    busy_unless_locked(&outer, AUTO_CLOSE_LOCK).await?;
    let counted = auto_close(&outer, now, days).await?;
    outer.rollback().await?;
    Ok(counted)
}

/// Deletes what `policy` no longer keeps: audit log entries, published events, webhook
/// deliveries that failed for good, delivered ones older than [`DELIVERY_RETENTION_DAYS`],
/// idempotency keys past their 24 hours, refresh tokens that expired, password reset links a
/// day past their hour, and previous webhook secrets whose overlap ended. All in one
/// transaction.
pub async fn retention<C>(db: &C, now: DateTime<Utc>, policy: &RetentionPolicy) -> Result<Retained>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = crate::db::begin_write(db).await?;
    if !crate::db::try_job_lock(&txn, RETENTION_LOCK).await? {
        return Ok(Retained::default());
    }
    let audit_entries = audit_log::Entity::delete_many()
        .filter(audit_log::Column::CreatedAt.lt(now - Duration::days(policy.audit_days)))
        .exec(&txn)
        .await?
        .rows_affected;
    let deliveries = webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::Status.eq(crate::webhook::SUCCEEDED))
        .filter(
            webhook_delivery::Column::CreatedAt.lt(now - Duration::days(DELIVERY_RETENTION_DAYS)),
        )
        .exec(&txn)
        .await?
        .rows_affected;
    let failed_deliveries = webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::Status.eq(crate::webhook::FAILED))
        .filter(
            webhook_delivery::Column::CreatedAt
                .lt(now - Duration::days(policy.failed_delivery_days)),
        )
        .exec(&txn)
        .await?
        .rows_affected;
    let events = crate::event::remove_before(&txn, now - Duration::days(policy.event_days)).await?;
    let idempotency_keys = crate::idempotency::remove_expired(&txn, now).await?;
    let refresh_tokens = refresh_token::Entity::delete_many()
        .filter(refresh_token::Column::ExpiresAt.lt(now))
        .exec(&txn)
        .await?
        .rows_affected;
    let password_resets = crate::password_reset::purge(&txn, now).await?;
    let previous_secrets = crate::webhook::secret::erase_expired(&txn, now).await?;
    txn.commit().await?;
    Ok(Retained {
        audit_entries,
        deliveries,
        failed_deliveries,
        events,
        idempotency_keys,
        refresh_tokens,
        password_resets,
        previous_secrets,
    })
}
