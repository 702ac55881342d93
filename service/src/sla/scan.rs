//! The scanner: warns, marks breaches, fires escalation levels and reminds their recipients
//! when a ticket's next SLA moment comes.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::enums::SlaTarget;
use entity::{escalation, ticket};
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::escalation::{Fired, fire, remind};
use super::settle::{next_check, watched};
use super::*;
use crate::{Result, event};

/// What one scan did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanReport {
    pub tickets: u64,
    pub warnings: u64,
    pub breaches: u64,
    /// Levels past the first that fired.
    pub escalations: u64,
    /// Reminders of levels nobody acknowledged.
    pub reminders: u64,
}

/// The advisory lock the scanners of all replicas take turns on.
const SCAN_LOCK: i64 = 0x6864_6573_6b02;
const SCAN_BATCH: u64 = 200;

pub(super) fn target_name(target: SlaTarget) -> &'static str {
    match target {
        SlaTarget::FirstResponse => "FIRST_RESPONSE",
        SlaTarget::Resolution => "RESOLUTION",
    }
}

/// Warns, marks breaches, escalates and reminds for every ticket whose next SLA moment is at
/// or before `now`. One scanner at a time (an advisory lock on PostgreSQL, the write lock on
/// SQLite), and each notice is written with the mark that keeps it from being written again,
/// in one transaction: every warning, breach, level and reminder goes out exactly once.
pub async fn scan<C>(db: &C, now: DateTime<Utc>) -> Result<ScanReport>
where
    C: ConnectionTrait + TransactionTrait,
{
    let mut report = ScanReport::default();
    loop {
        let txn = crate::db::begin_write(db).await?;
        if !crate::db::try_job_lock(&txn, SCAN_LOCK).await? {
            return Ok(report);
        }
        let due = ticket::Entity::find()
            .filter(ticket::Column::SlaNextCheckAt.lte(now))
            .filter(ticket::Column::DeletedAt.is_null())
            .order_by_asc(ticket::Column::SlaNextCheckAt)
            .limit(SCAN_BATCH)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .all(&txn)
            .await?;
        let ids: Vec<Uuid> = due.iter().map(|t| t.id).collect();
        let mut fired: HashMap<Uuid, Fired> = HashMap::new();
        for row in escalation::Entity::find()
            .filter(escalation::Column::TicketId.is_in(ids))
            .all(&txn)
            .await?
        {
            fired
                .entry(row.ticket_id)
                .or_default()
                .insert((row.target, row.level), row);
        }
        let mut measures = Measures::default();
        for ticket in &due {
            let done = fired.entry(ticket.id).or_default();
            let measure = match ticket.sla_policy_id {
                Some(id) => measures.get(&txn, id).await?.cloned(),
                None => None,
            };
            scan_one(&txn, ticket, measure.as_ref(), done, now, &mut report).await?;
            report.tickets += 1;
        }
        txn.commit().await?;
        if (due.len() as u64) < SCAN_BATCH {
            return Ok(report);
        }
    }
}

async fn scan_one(
    txn: &impl ConnectionTrait,
    ticket: &ticket::Model,
    measure: Option<&Measure>,
    done: &mut Fired,
    now: DateTime<Utc>,
    report: &mut ScanReport,
) -> Result<()> {
    let Some(measure) = measure else {
        ticket::Entity::update(ticket::ActiveModel {
            id: Set(ticket.id),
            sla_next_check_at: Set(None),
            ..Default::default()
        })
        .exec(txn)
        .await?;
        return Ok(());
    };
    let evaluation = measure.evaluate(ticket, now);
    let ladder = ladder_of(&measure.policy);
    let warn = measure.policy.warn_before_minutes > 0;
    let mut marked = ticket.clone();
    let targets = [
        (SlaTarget::FirstResponse, evaluation.first_response),
        (SlaTarget::Resolution, evaluation.resolution),
    ];
    for (kind, target) in targets {
        if !watched(kind, ticket) {
            continue;
        }
        let (warned, breached) = match kind {
            SlaTarget::FirstResponse => (
                &mut marked.first_response_warned_at,
                &mut marked.first_response_breached_at,
            ),
            SlaTarget::Resolution => (
                &mut marked.resolution_warned_at,
                &mut marked.resolution_breached_at,
            ),
        };
        let detail = |level: Option<&Level>, row: Option<&escalation::Model>| {
            let mut detail = json!({
                "target": target_name(kind),
                "dueAt": target.due_at,
                "remainingMinutes": target.remaining_minutes,
                "level": level.map(|l| l.level),
            });
            if let Some(row) = row {
                detail["escalationId"] = json!(row.id);
                if row.notices > 1 {
                    detail["reminder"] = json!(row.notices - 1);
                }
            }
            detail
        };
        match target.status {
            Status::Active if warn && warned.is_none() && target.warn_at <= now => {
                *warned = Some(now);
                event::record_sla(txn, ticket, event::SLA_WARNING, None, detail(None, None))
                    .await?;
                report.warnings += 1;
            }
            Status::Breached => {
                // A ticket that jumped past its warning (a short target, a late scan) is not
                // warned after the fact.
                warned.get_or_insert(now);
                if breached.is_none() {
                    *breached = Some(now);
                    let first = ladder.first().filter(|l| l.level == 1);
                    let row = match first {
                        Some(level) => {
                            fire(txn, ticket, measure, kind, target.due_at, level, now).await?
                        }
                        None => None,
                    };
                    let sent = detail(first, row.as_ref());
                    if let Some(row) = row {
                        done.insert((kind, 1), row);
                    }
                    event::record_sla(txn, ticket, event::SLA_BREACHED, None, sent).await?;
                    report.breaches += 1;
                }
                for level in ladder.iter().filter(|l| l.level > 1) {
                    if done.contains_key(&(kind, level.level))
                        || measure.hours.add(target.due_at, level.after_minutes * 60) > now
                    {
                        continue;
                    }
                    if let Some(row) =
                        fire(txn, ticket, measure, kind, target.due_at, level, now).await?
                    {
                        let sent = detail(Some(level), Some(&row));
                        event::record_sla(txn, ticket, event::SLA_ESCALATED, None, sent).await?;
                        report.escalations += 1;
                        // The lower levels remind no more.
                        for lower in done.values_mut().filter(|r| r.target == kind) {
                            lower.next_notice_at = None;
                        }
                        done.insert((kind, level.level), row);
                    }
                }
                // Reminders of the level in charge, while nobody took it.
                for level in &ladder {
                    let Some(row) = done.get(&(kind, level.level)) else {
                        continue;
                    };
                    if row.acknowledged_at.is_some() || row.next_notice_at.is_none_or(|at| at > now)
                    {
                        continue;
                    }
                    let row = remind(txn, ticket, measure, row, level, now).await?;
                    let sent = detail(Some(level), Some(&row));
                    event::record_sla(txn, ticket, event::SLA_ESCALATED, None, sent).await?;
                    report.reminders += 1;
                    done.insert((kind, level.level), row);
                }
            }
            _ => {}
        }
    }
    let next = next_check(&marked, measure, &evaluation, Some(done), now);
    let updated = ticket::Entity::update(ticket::ActiveModel {
        id: Set(ticket.id),
        first_response_warned_at: Set(marked.first_response_warned_at),
        first_response_breached_at: Set(marked.first_response_breached_at),
        resolution_warned_at: Set(marked.resolution_warned_at),
        resolution_breached_at: Set(marked.resolution_breached_at),
        sla_next_check_at: Set(next.filter(|at| *at > now)),
        ..Default::default()
    })
    .exec(txn)
    .await?;
    // A breach moves the ticket into the breached count.
    crate::stats::rollup::track(txn, Some(ticket), &updated, now).await
}
