//! The statistics roll-ups, written in the transaction of every ticket change: current counts
//! per (organization, assignee, status, priority), and per (organization, assignee, local day)
//! what happened that day with a histogram of resolution times. A per-organization version
//! counter is bumped in the same transaction; cached statistics carry it in their key.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use entity::enums::{TicketPriority, TicketStatus};
use entity::{
    counter, organization, ticket, ticket_count, ticket_history, ticket_resolution_bucket,
    ticket_resolution_bucket_monthly, ticket_stats_daily,
};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionSession, TransactionTrait,
};
use uuid::Uuid;

use crate::Result;

/// The prefix of the per-organization version counters in `counters`.
pub const VERSION_PREFIX: &str = "stats:";

pub fn version_name(organization_id: Uuid) -> String {
    format!("{VERSION_PREFIX}{organization_id}")
}

/// The key of unassigned tickets in the roll-ups.
pub fn agent_key(assignee: Option<Uuid>) -> Uuid {
    assignee.unwrap_or(Uuid::nil())
}

/// Resolution times go into log-linear buckets: exact below 128 minutes, then 64 buckets per
/// doubling, so a median read from them is within 1/64 (1.6%) of the true one.
pub fn bucket_of(minutes: i64) -> i32 {
    let m = Ord::max(minutes, 0) as u64;
    if m < 128 {
        return m as i32;
    }
    let exponent = 63 - m.leading_zeros() as i32; // >= 7
    let mantissa = ((m >> (exponent - 6)) & 63) as i32;
    128 + (exponent - 7) * 64 + mantissa
}

/// The smallest number of minutes in a bucket.
pub fn bucket_floor(bucket: i32) -> i64 {
    if bucket < 128 {
        return bucket.into();
    }
    let exponent = (bucket - 128) / 64 + 7;
    let mantissa = i64::from((bucket - 128) % 64);
    (64 + mantissa) << (exponent - 6)
}

fn minutes_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    Ord::max((to - from).num_minutes(), 0)
}

/// What one change adds to a day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Day {
    pub created: i64,
    pub resolved: i64,
    pub reopened: i64,
    pub first_responses: i64,
    pub first_response_minutes: i64,
    pub resolution_minutes: i64,
    pub sla_measured: i64,
    pub sla_met: i64,
    /// (bucket, count)
    pub buckets: Vec<(i32, i64)>,
}

impl Day {
    fn is_empty(&self) -> bool {
        *self == Day::default()
    }

    fn add(&mut self, other: &Day) {
        self.created += other.created;
        self.resolved += other.resolved;
        self.reopened += other.reopened;
        self.first_responses += other.first_responses;
        self.first_response_minutes += other.first_response_minutes;
        self.resolution_minutes += other.resolution_minutes;
        self.sla_measured += other.sla_measured;
        self.sla_met += other.sla_met;
        self.buckets.extend(other.buckets.iter().copied());
    }
}

/// Whether a resolved ticket met its resolution target: the clock stopped by the due date.
pub fn resolution_met(ticket: &ticket::Model) -> Option<bool> {
    let due = ticket.resolution_due_at?;
    ticket.sla_policy_id?;
    Some(ticket.sla_paused_since.is_some_and(|at| at <= due))
}

/// What a change from `before` to `after` adds to the day it happened.
pub fn delta(before: Option<&ticket::Model>, after: &ticket::Model) -> Day {
    let mut day = Day::default();
    if before.is_none() {
        day.created = 1;
    }
    if let Some(at) = after.first_response_at
        && before.is_none_or(|b| b.first_response_at.is_none())
    {
        day.first_responses = 1;
        day.first_response_minutes = minutes_between(after.created_at, at);
    }
    let was_resolved = before.is_some_and(|b| b.resolved_at.is_some());
    match after.resolved_at {
        Some(at) if !was_resolved => {
            let minutes = minutes_between(after.created_at, at);
            day.resolved = 1;
            day.resolution_minutes = minutes;
            day.buckets.push((bucket_of(minutes), 1));
            if let Some(met) = resolution_met(after) {
                day.sla_measured = 1;
                day.sla_met = i64::from(met);
            }
        }
        None if was_resolved => day.reopened = 1,
        _ => {}
    }
    day
}

/// The local day of `at` in an organization's zone.
pub fn local_day(zone: &str, at: DateTime<Utc>) -> NaiveDate {
    match zone.parse::<chrono_tz::Tz>() {
        Ok(tz) => at.with_timezone(&tz).date_naive(),
        Err(_) => at.date_naive(),
    }
}

type CountKey = (Uuid, Uuid, TicketStatus, TicketPriority, bool);

fn count_key(ticket: &ticket::Model) -> Option<CountKey> {
    ticket.deleted_at.is_none().then_some((
        ticket.organization_id,
        agent_key(ticket.assignee_id),
        ticket.status,
        ticket.priority,
        ticket.resolution_breached_at.is_some(),
    ))
}

/// Records a ticket change in the roll-ups; call in the change's transaction, after the row
/// (and its SLA columns) were written. `before` is `None` for a new ticket.
pub async fn track(
    txn: &impl ConnectionTrait,
    before: Option<&ticket::Model>,
    after: &ticket::Model,
    now: DateTime<Utc>,
) -> Result<()> {
    let old = before.and_then(count_key);
    let new = count_key(after);
    if old != new {
        let mut counts = Vec::new();
        if let Some(key) = old {
            counts.push((key, -1));
        }
        if let Some(key) = new {
            counts.push((key, 1));
        }
        add_counts(txn, &counts).await?;
    }
    let day = delta(before, after);
    if !day.is_empty() {
        let zone = organization::Entity::find_by_id(after.organization_id)
            .select_only()
            .column(organization::Column::TimeZone)
            .into_tuple::<String>()
            .one(txn)
            .await?
            .unwrap_or_else(|| "UTC".into());
        let key = (
            after.organization_id,
            agent_key(after.assignee_id),
            local_day(&zone, now),
        );
        add_days(txn, &[(key, day)]).await?;
    }
    bump_version(txn, after.organization_id).await
}

/// Bumps an organization's statistics version: every cached value computed before this
/// transaction commits is unreachable after it does.
pub async fn bump_version(txn: &impl ConnectionTrait, organization_id: Uuid) -> Result<()> {
    counter::Entity::insert(counter::ActiveModel {
        name: Set(version_name(organization_id)),
        value: Set(1),
    })
    .on_conflict(
        OnConflict::column(counter::Column::Name)
            .value(
                counter::Column::Value,
                Expr::col((counter::Entity, counter::Column::Value)).add(1),
            )
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

fn excluded(column: impl sea_orm::IdenStatic) -> Expr {
    Expr::col((Alias::new("excluded"), column))
}

async fn add_counts(txn: &impl ConnectionTrait, counts: &[(CountKey, i64)]) -> Result<()> {
    for chunk in counts.chunks(500) {
        let rows = chunk
            .iter()
            .map(
                |((org, agent, status, priority, breached), n)| ticket_count::ActiveModel {
                    organization_id: Set(*org),
                    agent_id: Set(*agent),
                    status: Set(*status),
                    priority: Set(*priority),
                    breached: Set(*breached),
                    count: Set(*n),
                },
            );
        ticket_count::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    ticket_count::Column::OrganizationId,
                    ticket_count::Column::AgentId,
                    ticket_count::Column::Status,
                    ticket_count::Column::Priority,
                    ticket_count::Column::Breached,
                ])
                .value(
                    ticket_count::Column::Count,
                    Expr::col((ticket_count::Entity, ticket_count::Column::Count))
                        .add(excluded(ticket_count::Column::Count)),
                )
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

type DayKey = (Uuid, Uuid, NaiveDate);

async fn add_days(txn: &impl ConnectionTrait, days: &[(DayKey, Day)]) -> Result<()> {
    use ticket_stats_daily::Column as C;
    for chunk in days.chunks(200) {
        let rows = chunk
            .iter()
            .map(|((org, agent, date), d)| ticket_stats_daily::ActiveModel {
                organization_id: Set(*org),
                agent_id: Set(*agent),
                day: Set(*date),
                created: Set(d.created),
                resolved: Set(d.resolved),
                reopened: Set(d.reopened),
                first_responses: Set(d.first_responses),
                first_response_minutes: Set(d.first_response_minutes),
                resolution_minutes: Set(d.resolution_minutes),
                sla_measured: Set(d.sla_measured),
                sla_met: Set(d.sla_met),
            });
        let mut conflict = OnConflict::columns([C::OrganizationId, C::AgentId, C::Day]);
        for column in [
            C::Created,
            C::Resolved,
            C::Reopened,
            C::FirstResponses,
            C::FirstResponseMinutes,
            C::ResolutionMinutes,
            C::SlaMeasured,
            C::SlaMet,
        ] {
            conflict.value(
                column,
                Expr::col((ticket_stats_daily::Entity, column)).add(excluded(column)),
            );
        }
        ticket_stats_daily::Entity::insert_many(rows)
            .on_conflict(conflict.to_owned())
            .exec_without_returning(txn)
            .await?;
    }
    let mut buckets: HashMap<(Uuid, Uuid, NaiveDate, i32), i64> = HashMap::new();
    let mut months: HashMap<(Uuid, Uuid, NaiveDate, i32), i64> = HashMap::new();
    for ((org, agent, date), d) in days {
        for (bucket, n) in &d.buckets {
            *buckets.entry((*org, *agent, *date, *bucket)).or_default() += n;
            *months
                .entry((*org, *agent, month_of(*date), *bucket))
                .or_default() += n;
        }
    }
    let buckets: Vec<_> = buckets.into_iter().collect();
    for chunk in buckets.chunks(500) {
        let rows = chunk.iter().map(|((org, agent, date, bucket), n)| {
            ticket_resolution_bucket::ActiveModel {
                organization_id: Set(*org),
                agent_id: Set(*agent),
                day: Set(*date),
                bucket: Set(*bucket),
                count: Set(*n),
            }
        });
        ticket_resolution_bucket::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    ticket_resolution_bucket::Column::OrganizationId,
                    ticket_resolution_bucket::Column::AgentId,
                    ticket_resolution_bucket::Column::Day,
                    ticket_resolution_bucket::Column::Bucket,
                ])
                .value(
                    ticket_resolution_bucket::Column::Count,
                    Expr::col((
                        ticket_resolution_bucket::Entity,
                        ticket_resolution_bucket::Column::Count,
                    ))
                    .add(excluded(ticket_resolution_bucket::Column::Count)),
                )
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    let months: Vec<_> = months.into_iter().collect();
    for chunk in months.chunks(500) {
        use ticket_resolution_bucket_monthly::Column as M;
        let rows = chunk.iter().map(|((org, agent, month, bucket), n)| {
            ticket_resolution_bucket_monthly::ActiveModel {
                organization_id: Set(*org),
                agent_id: Set(*agent),
                month: Set(*month),
                bucket: Set(*bucket),
                count: Set(*n),
            }
        });
        ticket_resolution_bucket_monthly::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([M::OrganizationId, M::AgentId, M::Month, M::Bucket])
                    .value(
                        M::Count,
                        Expr::col((ticket_resolution_bucket_monthly::Entity, M::Count))
                            .add(excluded(M::Count)),
                    )
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

fn status_named(name: &str) -> Option<TicketStatus> {
    use TicketStatus::*;
    [New, Open, InProgress, PendingInfo, Resolved, Closed]
        .into_iter()
        .find(|s| crate::lifecycle::name(*s) == name)
}

fn is_finished(status: TicketStatus) -> bool {
    matches!(status, TicketStatus::Resolved | TicketStatus::Closed)
}

/// What a ticket's life added to the days, from its row and its status and assignee history
/// (oldest first): (when, the assignee then, what it added).
fn replay(
    t: &ticket::Model,
    history: &[ticket_history::Model],
) -> Vec<(DateTime<Utc>, Option<Uuid>, Day)> {
    let assignee_of =
        |value: &Option<String>| value.as_deref().and_then(|v| v.parse::<Uuid>().ok());
    let initial = history
        .iter()
        .find(|h| h.field == "assignee")
        .map_or(t.assignee_id, |h| assignee_of(&h.old_value));
    let assignee_at = |at: DateTime<Utc>| {
        history
            .iter()
            .filter(|h| h.field == "assignee" && h.created_at <= at)
            .fold(initial, |_, h| assignee_of(&h.new_value))
    };
    let mut out = vec![(
        t.created_at,
        initial,
        Day {
            created: 1,
            ..Day::default()
        },
    )];
    if let Some(at) = t.first_response_at {
        out.push((
            at,
            assignee_at(at),
            Day {
                first_responses: 1,
                first_response_minutes: minutes_between(t.created_at, at),
                ..Day::default()
            },
        ));
    }
    let resolution = |at: DateTime<Utc>, met: Option<bool>| {
        let minutes = minutes_between(t.created_at, at);
        Day {
            resolved: 1,
            resolution_minutes: minutes,
            buckets: vec![(bucket_of(minutes), 1)],
            sla_measured: i64::from(met.is_some()),
            sla_met: i64::from(met == Some(true)),
            ..Day::default()
        }
    };
    let mut finished = false;
    let mut resolutions = Vec::new();
    for h in history.iter().filter(|h| h.field == "status") {
        let Some(to) = h.new_value.as_deref().and_then(status_named) else {
            continue;
        };
        if !finished && is_finished(to) {
            finished = true;
            resolutions.push(h.created_at);
        } else if finished && !is_finished(to) {
            finished = false;
            out.push((
                h.created_at,
                assignee_at(h.created_at),
                Day {
                    reopened: 1,
                    ..Day::default()
                },
            ));
        }
    }
    if let Some(at) = t.resolved_at
        && !finished
    {
        // The history does not tell of the resolution that stands: count it as the row says.
        resolutions.push(at);
    }
    let standing = t.resolved_at.map(|_| resolutions.len().saturating_sub(1));
    for (index, at) in resolutions.iter().enumerate() {
        let met = if Some(index) == standing {
            resolution_met(t)
        } else {
            t.sla_policy_id
                .and(t.resolution_due_at)
                .map(|due| *at <= due)
        };
        let at = if Some(index) == standing {
            t.resolved_at.unwrap_or(*at)
        } else {
            *at
        };
        out.push((at, assignee_at(at), resolution(at, met)));
    }
    out
}

/// The first day of `day`'s month: the key of the monthly histogram.
pub fn month_of(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

/// Rebuilds the roll-ups from the tickets and their history (after a bulk load such as the
/// demo seed or an import, a manual data fix, or a restore), as the live tracking would have
/// written them: each ticket counts as created on its creation day, answered on its first
/// response, resolved each time its status entered RESOLVED or CLOSED from an open status and
/// reopened each time it left them, under the assignee it had then. A ticket whose history
/// lacks its resolution counts as resolved on its resolution day. Whether an earlier
/// resolution (one later reopened) met its target is judged against the current due date.
pub async fn rebuild<C>(db: &C) -> Result<()>
where
    C: ConnectionTrait + TransactionTrait,
{
    // One transaction that keeps ticket changes out until it commits (SQLite: the write lock;
    // PostgreSQL: the roll-up tables locked against writers): a change made meanwhile is
    // either in what is read, or added on top of what is written after the commit.
    let txn = crate::db::begin_write(db).await?;
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        txn.execute_unprepared(
            "LOCK TABLE ticket_counts, ticket_stats_daily, ticket_resolution_buckets, \
             ticket_resolution_buckets_monthly IN SHARE ROW EXCLUSIVE MODE",
        )
        .await?;
    }
    let db = &txn;
    let zones: HashMap<Uuid, String> = organization::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o.time_zone))
        .collect();
    let mut counts: HashMap<CountKey, i64> = HashMap::new();
    let mut days: HashMap<DayKey, Day> = HashMap::new();
    let mut after: Option<Uuid> = None;
    loop {
        let mut query = ticket::Entity::find().order_by_asc(ticket::Column::Id);
        if let Some(id) = after {
            query = query.filter(ticket::Column::Id.gt(id));
        }
        let page = query.limit(5000).all(db).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        let mut history: HashMap<Uuid, Vec<ticket_history::Model>> = HashMap::new();
        for entry in ticket_history::Entity::find()
            .filter(ticket_history::Column::TicketId.is_in(page.iter().map(|t| t.id)))
            .filter(ticket_history::Column::Field.is_in(["status", "assignee"]))
            .order_by_asc(ticket_history::Column::CreatedAt)
            .order_by_asc(ticket_history::Column::Id)
            .all(db)
            .await?
        {
            history.entry(entry.ticket_id).or_default().push(entry);
        }
        for t in &page {
            if let Some(key) = count_key(t) {
                *counts.entry(key).or_default() += 1;
            }
            let zone = zones.get(&t.organization_id).map_or("UTC", String::as_str);
            for (at, assignee, d) in replay(t, history.get(&t.id).map_or(&[][..], Vec::as_slice)) {
                days.entry((t.organization_id, agent_key(assignee), local_day(zone, at)))
                    .or_default()
                    .add(&d);
            }
        }
    }
    ticket_count::Entity::delete_many().exec(&txn).await?;
    ticket_stats_daily::Entity::delete_many().exec(&txn).await?;
    ticket_resolution_bucket::Entity::delete_many()
        .exec(&txn)
        .await?;
    ticket_resolution_bucket_monthly::Entity::delete_many()
        .exec(&txn)
        .await?;
    let counts: Vec<_> = counts.into_iter().collect();
    add_counts(&txn, &counts).await?;
    let days: Vec<_> = days.into_iter().collect();
    add_days(&txn, &days).await?;
    for org in zones.keys() {
        bump_version(&txn, *org).await?;
    }
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_exact_below_128_minutes_and_within_a_64th_above() {
        for m in 0..128 {
            assert_eq!(bucket_floor(bucket_of(m)), m);
        }
        let mut last = bucket_of(127);
        for m in [128, 129, 200, 1_000, 4_321, 60_000, 525_600, 10_000_000] {
            let bucket = bucket_of(m);
            assert!(bucket >= last, "{m}");
            last = bucket;
            let floor = bucket_floor(bucket);
            assert!(floor <= m && m - floor <= floor / 64, "{m} -> {floor}");
            assert_eq!(bucket_of(floor), bucket);
        }
    }
}
