//! Ticket statistics for dashboards, read from the roll-ups (never by scanning tickets) and
//! cached under a key that carries the scope's version.
//!
//! - Figures of now: `total`, `backlog`, `byStatus`, `byPriority`, `breached` (unfinished
//!   tickets the SLA scanner marked breached), from `ticket_counts`.
//! - Figures of the period (`from`..=`to`, local days): `created`, `resolved`, `reopened`, the
//!   first-response and resolution averages, the median resolution time and SLA compliance
//!   (the share of resolutions measured against a policy that met its target), from the daily
//!   roll-up. A ticket counts for the agent it was assigned to when it happened.

pub mod cache;
pub mod rollup;

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, Utc};
use entity::enums::{TicketPriority, TicketStatus};
use entity::{
    counter, organization, ticket_count, ticket_resolution_bucket,
    ticket_resolution_bucket_monthly, ticket_stats_daily,
};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::actor::Actor;
use crate::{Error, Result, access};

/// The longest period one request may span.
pub const MAX_DAYS: i64 = 3 * 366;
/// The period when none is given: the last 30 days.
pub const DEFAULT_DAYS: i64 = 30;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsFilter {
    pub organization_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    /// First local day, inclusive.
    pub from: Option<NaiveDate>,
    /// Last local day, inclusive.
    pub to: Option<NaiveDate>,
}

/// What a request may see: resolved from the actor and the filter once, then used for the
/// figures, the cache key and the live updates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    /// `None`: every organization.
    pub organizations: Option<Vec<Uuid>>,
    pub agent_id: Option<Uuid>,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Scope {
    /// Whether a change in `organization_id` may move the figures.
    pub fn covers(&self, organization_id: Uuid) -> bool {
        self.organizations
            .as_ref()
            .is_none_or(|orgs| orgs.contains(&organization_id))
    }
}

/// The days statistics can be asked about: every date arithmetic below stays far inside
/// chrono's range for them.
const FIRST_DAY: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date");
const LAST_DAY: NaiveDate = NaiveDate::from_ymd_opt(9999, 12, 31).expect("a valid date");

fn in_range(day: Option<NaiveDate>, field: &'static str) -> Result<Option<NaiveDate>> {
    match day {
        Some(day) if !(FIRST_DAY..=LAST_DAY).contains(&day) => Err(Error::invalid(
            field,
            format!("must be between {FIRST_DAY} and {LAST_DAY}"),
        )),
        day => Ok(day),
    }
}

/// Who may see which statistics: administrators and superagents any; an agent their own
/// organizations, and their own figures anywhere; clients none.
pub fn scope(actor: &Actor, filter: &StatsFilter, today: NaiveDate) -> Result<Scope> {
    access::require(actor.is_staff())?;
    let to = in_range(filter.to, "to")?.unwrap_or(today);
    let from = match in_range(filter.from, "from")? {
        Some(from) => from,
        None => std::cmp::Ord::max(
            to.checked_sub_signed(Duration::days(DEFAULT_DAYS - 1))
                .unwrap_or(FIRST_DAY),
            FIRST_DAY,
        ),
    };
    if from > to {
        return Err(Error::invalid("from", "must not be after `to`"));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(Error::invalid(
            "from",
            format!("a period spans at most {MAX_DAYS} days"),
        ));
    }
    let organizations = if actor.sees_everything() || filter.agent_id == Some(actor.user_id) {
        filter.organization_id.map(|id| vec![id])
    } else {
        match filter.organization_id {
            Some(id) => {
                access::require(actor.belongs_to(id))?;
                Some(vec![id])
            }
            None => Some(actor.organization_ids.clone()),
        }
    };
    Ok(Scope {
        organizations,
        agent_id: filter.agent_id,
        from,
        to,
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketStats {
    pub total: i64,
    pub created: i64,
    pub resolved: i64,
    pub reopened: i64,
    pub backlog: i64,
    pub by_status: Vec<(TicketStatus, i64)>,
    pub by_priority: Vec<(TicketPriority, i64)>,
    pub avg_first_response_minutes: Option<f64>,
    pub avg_resolution_minutes: Option<f64>,
    pub median_resolution_minutes: Option<f64>,
    pub sla_compliance: Option<f64>,
    pub breached: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Interval {
    Day,
    Week,
    Month,
    Year,
}

impl Interval {
    /// The first day of the period holding `day` (weeks start on Monday).
    pub fn start_of(self, day: NaiveDate) -> NaiveDate {
        match self {
            Interval::Day => day,
            Interval::Week => day
                .checked_sub_signed(Duration::days(day.weekday().num_days_from_monday().into()))
                .unwrap_or(day),
            Interval::Month => day.with_day(1).unwrap_or(day),
            Interval::Year => NaiveDate::from_ymd_opt(day.year(), 1, 1).unwrap_or(day),
        }
    }

    fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Interval::Day => start
                .checked_add_signed(Duration::days(1))
                .unwrap_or(NaiveDate::MAX),
            Interval::Week => start
                .checked_add_signed(Duration::days(7))
                .unwrap_or(NaiveDate::MAX),
            // Past chrono's last day nothing follows; the caller's loop ends there.
            Interval::Month => start
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(NaiveDate::MAX),
            Interval::Year => start
                .checked_add_months(chrono::Months::new(12))
                .unwrap_or(NaiveDate::MAX),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub period_start: NaiveDate,
    pub created: i64,
    pub resolved: i64,
    pub avg_resolution_minutes: Option<f64>,
    pub sla_compliance: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// The zone the days are in: the organization's when the scope is one, else UTC.
    pub time_zone: String,
    pub interval: Interval,
    pub points: Vec<Point>,
}

fn sum(column: impl sea_orm::IntoSimpleExpr) -> SimpleExpr {
    // PostgreSQL sums BIGINT into NUMERIC; both databases agree on BIGINT.
    Expr::expr(Func::sum(column.into_simple_expr())).cast_as(Alias::new("BIGINT"))
}

/// The rows of a roll-up in the scope's organizations and for its agent (every roll-up has
/// both columns).
fn in_scope(scope: &Scope, organization: impl ColumnTrait, agent: impl ColumnTrait) -> Condition {
    let mut condition = Condition::all();
    if let Some(orgs) = &scope.organizations {
        condition = condition.add(organization.is_in(orgs.clone()));
    }
    if let Some(id) = scope.agent_id {
        condition = condition.add(agent.eq(id));
    }
    condition
}

fn counts_condition(scope: &Scope) -> Condition {
    in_scope(
        scope,
        ticket_count::Column::OrganizationId,
        ticket_count::Column::AgentId,
    )
}

fn days_condition(scope: &Scope) -> Condition {
    use ticket_stats_daily::Column as C;
    in_scope(scope, C::OrganizationId, C::AgentId)
        .add(C::Day.gte(scope.from))
        .add(C::Day.lte(scope.to))
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

type Sums = (
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

fn select_sums<E: EntityTrait>(query: sea_orm::Select<E>) -> sea_orm::Select<E> {
    use ticket_stats_daily::Column as C;
    query
        .select_only()
        .column_as(sum(C::Created), "created")
        .column_as(sum(C::Resolved), "resolved")
        .column_as(sum(C::Reopened), "reopened")
        .column_as(sum(C::FirstResponses), "first_responses")
        .column_as(sum(C::FirstResponseMinutes), "first_response_minutes")
        .column_as(sum(C::ResolutionMinutes), "resolution_minutes")
        .column_as(sum(C::SlaMeasured), "sla_measured")
        .column_as(sum(C::SlaMet), "sla_met")
}

/// The figures of a scope, from the roll-ups.
pub async fn compute(db: &impl ConnectionTrait, scope: &Scope) -> Result<TicketStats> {
    let counts: Vec<(TicketStatus, TicketPriority, bool, Option<i64>)> =
        ticket_count::Entity::find()
            .select_only()
            .column(ticket_count::Column::Status)
            .column(ticket_count::Column::Priority)
            .column(ticket_count::Column::Breached)
            .column_as(sum(ticket_count::Column::Count), "count")
            .filter(counts_condition(scope))
            .group_by(ticket_count::Column::Status)
            .group_by(ticket_count::Column::Priority)
            .group_by(ticket_count::Column::Breached)
            .into_tuple()
            .all(db)
            .await?;
    let mut by_status: Vec<(TicketStatus, i64)> =
        crate::lifecycle::ALL.iter().map(|s| (*s, 0)).collect();
    let mut by_priority: Vec<(TicketPriority, i64)> =
        crate::ticket::PRIORITIES.iter().map(|p| (*p, 0)).collect();
    let (mut total, mut backlog, mut breached) = (0, 0, 0);
    for (status, priority, is_breached, count) in counts {
        let count = count.unwrap_or(0);
        total += count;
        let open = !matches!(status, TicketStatus::Resolved | TicketStatus::Closed);
        if open {
            backlog += count;
            if is_breached {
                breached += count;
            }
        }
        if let Some(entry) = by_status.iter_mut().find(|(s, _)| *s == status) {
            entry.1 += count;
        }
        if let Some(entry) = by_priority.iter_mut().find(|(p, _)| *p == priority) {
            entry.1 += count;
        }
    }

    let sums: Option<Sums> = select_sums(ticket_stats_daily::Entity::find())
        .filter(days_condition(scope))
        .into_tuple()
        .one(db)
        .await?;
    let (
        created,
        resolved,
        reopened,
        responses,
        response_minutes,
        resolution_minutes,
        measured,
        met,
    ) = sums.unwrap_or_default();
    let resolved = resolved.unwrap_or(0);
    let responses = responses.unwrap_or(0);

    Ok(TicketStats {
        total,
        created: created.unwrap_or(0),
        resolved,
        reopened: reopened.unwrap_or(0),
        backlog,
        by_status,
        by_priority,
        avg_first_response_minutes: ratio(response_minutes.unwrap_or(0), responses),
        avg_resolution_minutes: ratio(resolution_minutes.unwrap_or(0), resolved),
        median_resolution_minutes: median(db, scope).await?,
        sla_compliance: ratio(met.unwrap_or(0), measured.unwrap_or(0)),
        breached,
    })
}

/// The median resolution time, read from the histogram: the months the period covers whole
/// from the monthly one, the days at its ends from the daily one. Exact up to the buckets'
/// width: the minutes themselves below 128, within 1/64 (1.6%) above.
async fn median(db: &impl ConnectionTrait, scope: &Scope) -> Result<Option<f64>> {
    let (whole, days) = months_and_days(scope.from, scope.to);
    let from_days = async {
        use ticket_resolution_bucket::Column as C;
        if days.is_empty() {
            return Ok(Vec::new());
        }
        let mut by_day = Condition::any();
        for (from, to) in &days {
            by_day = by_day.add(C::Day.gte(*from).and(C::Day.lte(*to)));
        }
        let condition = in_scope(scope, C::OrganizationId, C::AgentId).add(by_day);
        histogram::<ticket_resolution_bucket::Entity>(db, C::Bucket, C::Count, condition).await
    };
    let from_months = async {
        use ticket_resolution_bucket_monthly::Column as C;
        let Some((first, last)) = whole else {
            return Ok(Vec::new());
        };
        let condition = in_scope(scope, C::OrganizationId, C::AgentId)
            .add(C::Month.gte(first))
            .add(C::Month.lte(last));
        histogram::<ticket_resolution_bucket_monthly::Entity>(db, C::Bucket, C::Count, condition)
            .await
    };
    let (from_days, from_months) = futures_util::join!(from_days, from_months);
    // Ordered by bucket, the days' and the months' counts added up.
    let mut merged: BTreeMap<i32, i64> = BTreeMap::new();
    for (bucket, count) in from_days?.into_iter().chain(from_months?) {
        *merged.entry(bucket).or_default() += count.unwrap_or(0);
    }
    let buckets: Vec<(i32, i64)> = merged.into_iter().filter(|(_, n)| *n > 0).collect();
    let n: i64 = buckets.iter().map(|(_, c)| c).sum();
    if n == 0 {
        return Ok(None);
    }
    let nth = |k: i64| {
        let mut seen = 0;
        for (bucket, count) in &buckets {
            seen += count;
            if k < seen {
                return rollup::bucket_floor(*bucket);
            }
        }
        rollup::bucket_floor(buckets.last().expect("non-empty").0)
    };
    Ok(Some((nth((n - 1) / 2) + nth(n / 2)) as f64 / 2.0))
}

/// The counts per bucket of a histogram's rows under `condition`.
async fn histogram<E: EntityTrait>(
    db: &impl ConnectionTrait,
    bucket: E::Column,
    count: E::Column,
    condition: Condition,
) -> std::result::Result<Vec<(i32, Option<i64>)>, sea_orm::DbErr> {
    E::find()
        .select_only()
        .column(bucket)
        .column_as(sum(count), "count")
        .filter(condition)
        .group_by(bucket)
        .into_tuple()
        .all(db)
        .await
}

/// From a first to a last day, both included.
type DayRange = (NaiveDate, NaiveDate);

/// The months inside `from..=to` whole (first days of the first and last of them), and the day
/// ranges before and after them; with no whole month, the period itself as one day range.
fn months_and_days(from: NaiveDate, to: NaiveDate) -> (Option<DayRange>, Vec<DayRange>) {
    let first = if from.day() == 1 {
        Some(from)
    } else {
        from.with_day(1)
            .and_then(|d| d.checked_add_months(chrono::Months::new(1)))
    };
    // The first day after the last whole month.
    let end = match to.succ_opt() {
        Some(next) if next.day() == 1 => Some(next),
        _ => to.with_day(1),
    };
    match (first, end) {
        (Some(first), Some(end)) if first < end => {
            let last = end
                .checked_sub_months(chrono::Months::new(1))
                .unwrap_or(first);
            let mut days = Vec::new();
            if from < first {
                days.push((from, first.pred_opt().unwrap_or(first)));
            }
            if end <= to {
                days.push((end, to));
            }
            (Some((first, last)), days)
        }
        _ => (None, vec![(from, to)]),
    }
}

/// A day of the roll-up: created, resolved, resolution minutes, measured, met.
type DayRow = (
    NaiveDate,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// The figures per period, for charts; every period of the range is present.
pub async fn series(
    db: &impl ConnectionTrait,
    scope: &Scope,
    interval: Interval,
) -> Result<Series> {
    use ticket_stats_daily::Column as C;
    let rows: Vec<DayRow> = ticket_stats_daily::Entity::find()
        .select_only()
        .column(C::Day)
        .column_as(sum(C::Created), "created")
        .column_as(sum(C::Resolved), "resolved")
        .column_as(sum(C::ResolutionMinutes), "resolution_minutes")
        .column_as(sum(C::SlaMeasured), "sla_measured")
        .column_as(sum(C::SlaMet), "sla_met")
        .filter(days_condition(scope))
        .group_by(C::Day)
        .into_tuple()
        .all(db)
        .await?;
    let mut periods: BTreeMap<NaiveDate, [i64; 5]> = BTreeMap::new();
    let mut start = interval.start_of(scope.from);
    while start <= scope.to {
        periods.insert(start, [0; 5]);
        start = interval.next(start);
    }
    for (day, created, resolved, minutes, measured, met) in rows {
        let entry = periods.entry(interval.start_of(day)).or_default();
        for (slot, value) in entry
            .iter_mut()
            .zip([created, resolved, minutes, measured, met])
        {
            *slot += value.unwrap_or(0);
        }
    }
    let time_zone = match scope.organizations.as_deref() {
        Some([only]) => organization::Entity::find_by_id(*only)
            .one(db)
            .await?
            .map(|o| o.time_zone)
            .unwrap_or_else(|| "UTC".into()),
        _ => "UTC".into(),
    };
    Ok(Series {
        time_zone,
        interval,
        points: periods
            .into_iter()
            .map(
                |(period_start, [created, resolved, minutes, measured, met])| Point {
                    period_start,
                    created,
                    resolved,
                    avg_resolution_minutes: ratio(minutes, resolved),
                    sla_compliance: ratio(met, measured),
                },
            )
            .collect(),
    })
}

/// The version of a scope's figures: the sum and number of its organizations' version
/// counters. Each counter only grows, and grows in the transaction of every ticket change, so
/// the version read after a change committed differs from every version read before.
pub async fn version(db: &impl ConnectionTrait, scope: &Scope) -> Result<String> {
    let mut query = counter::Entity::find()
        .select_only()
        .column_as(sum(counter::Column::Value), "sum")
        .column_as(counter::Column::Name.count(), "count");
    query = match &scope.organizations {
        Some(orgs) => {
            query.filter(counter::Column::Name.is_in(orgs.iter().map(|o| rollup::version_name(*o))))
        }
        None => query.filter(counter::Column::Name.starts_with(rollup::VERSION_PREFIX)),
    };
    let (sum, count): (Option<i64>, i64) = query.into_tuple().one(db).await?.unwrap_or((None, 0));
    Ok(format!("{}.{count}", sum.unwrap_or(0)))
}

/// The cache key of a request: what it asks (`what`), its scope and the scope's version.
pub fn cache_key(what: &str, scope: &Scope, version: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(what.as_bytes());
    match &scope.organizations {
        None => hash.update(b"all"),
        Some(orgs) => {
            let mut orgs = orgs.clone();
            orgs.sort();
            for org in orgs {
                hash.update(org.as_bytes());
            }
        }
    }
    hash.update(scope.agent_id.unwrap_or(Uuid::nil()).as_bytes());
    hash.update(scope.from.to_string().as_bytes());
    hash.update(scope.to.to_string().as_bytes());
    let digest = hash.finalize();
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("{what}:{hex}:{version}")
}

/// Today in UTC: the default end of a period.
pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// The figures of a scope, through the cache.
pub async fn ticket_stats(
    db: &impl ConnectionTrait,
    cache: &cache::StatsCache,
    scope: &Scope,
) -> Result<TicketStats> {
    let key = cache_key("stats", scope, &version(db, scope).await?);
    cache.get_or_compute(&key, compute(db, scope)).await
}

/// The series of a scope, through the cache.
pub async fn ticket_stats_series(
    db: &impl ConnectionTrait,
    cache: &cache::StatsCache,
    scope: &Scope,
    interval: Interval,
) -> Result<Series> {
    let what = format!("series:{interval:?}");
    let key = cache_key(&what, scope, &version(db, scope).await?);
    cache
        .get_or_compute(&key, series(db, scope, interval))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().expect("a date")
    }

    fn split(from: &str, to: &str) -> (Option<DayRange>, Vec<DayRange>) {
        months_and_days(day(from), day(to))
    }

    #[test]
    fn a_period_is_its_whole_months_and_the_days_at_its_ends() {
        assert_eq!(
            split("2025-12-02", "2026-12-01"),
            (
                Some((day("2026-01-01"), day("2026-11-01"))),
                vec![
                    (day("2025-12-02"), day("2025-12-31")),
                    (day("2026-12-01"), day("2026-12-01"))
                ]
            )
        );
        assert_eq!(
            split("2026-01-01", "2026-12-31"),
            (Some((day("2026-01-01"), day("2026-12-01"))), vec![])
        );
        assert_eq!(
            split("2026-02-01", "2026-02-28"),
            (Some((day("2026-02-01"), day("2026-02-01"))), vec![])
        );
        assert_eq!(
            split("2026-02-01", "2026-03-15"),
            (
                Some((day("2026-02-01"), day("2026-02-01"))),
                vec![(day("2026-03-01"), day("2026-03-15"))]
            )
        );
        // No whole month: the days themselves.
        for (from, to) in [
            ("2026-02-02", "2026-03-30"),
            ("2026-02-02", "2026-02-27"),
            ("2026-03-05", "2026-03-05"),
        ] {
            assert_eq!(split(from, to), (None, vec![(day(from), day(to))]));
        }
        // Every day of a period is counted once, from one table or the other.
        for (from, to) in [("2024-01-15", "2025-01-14"), ("2026-01-31", "2026-04-01")] {
            let (months, days) = split(from, to);
            let mut covered = 0;
            if let Some((first, last)) = months {
                let end = last.checked_add_months(chrono::Months::new(1)).unwrap();
                covered += (end - first).num_days();
            }
            for (a, b) in days {
                covered += (b - a).num_days() + 1;
            }
            assert_eq!(
                covered,
                (day(to) - day(from)).num_days() + 1,
                "{from}..{to}"
            );
        }
    }
}
