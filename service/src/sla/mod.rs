//! Service levels: policies per priority, business calendars, each ticket's clock, and the
//! scanner that warns, marks breaches and escalates.
//!
//! The calculator ([`clock::evaluate`]) is pure; this module keeps its inputs on the ticket row
//! (the policy, the standstills) and its results in columns the API filters on and the scanner
//! queues by (`resolution_due_at`, `sla_next_check_at`), rewriting them in the transaction of
//! every change that moves them.

pub mod admin;
pub mod clock;
pub mod hours;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc, Weekday};
use entity::enums::{SlaTarget, TicketPriority, TicketStatus};
use entity::{business_calendar, escalation, sla_policy, ticket};
use sea_orm::sea_query::{LockBehavior, LockType, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionSession, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

pub use clock::{Clock, Evaluation, Pause, Phase, Status, Target, Targets};
pub use hours::{Calendar, Hours, Interval};

use crate::{Error, Result, event};

/// One step of a policy's escalation ladder: `after_minutes` of working time past the breach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Level {
    pub level: i32,
    pub after_minutes: i64,
    pub notify: String,
}

/// The ladder installed with the default policies: the team lead at the breach, a manager an
/// hour later, an administrator after four hours.
pub fn default_ladder() -> Vec<Level> {
    [(1, 0, "team_lead"), (2, 60, "manager"), (3, 240, "admin")]
        .into_iter()
        .map(|(level, after_minutes, notify)| Level {
            level,
            after_minutes,
            notify: notify.to_string(),
        })
        .collect()
}

pub fn ladder_of(policy: &sla_policy::Model) -> Vec<Level> {
    let mut levels: Vec<Level> =
        serde_json::from_value(policy.escalation_levels.clone()).unwrap_or_default();
    levels.sort_by_key(|l| l.level);
    levels
}

pub fn targets_of(policy: &sla_policy::Model) -> Targets {
    Targets {
        first_response_minutes: policy.first_response_minutes.into(),
        resolution_minutes: policy.resolution_minutes.into(),
        warn_before_minutes: policy.warn_before_minutes.into(),
    }
}

/// The stored form of a calendar's working hours.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredInterval {
    day: String,
    from: String,
    to: String,
}

pub fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
        Weekday::Sun => "sunday",
    }
}

/// A stored calendar's working intervals.
pub fn intervals_of(calendar: &business_calendar::Model) -> Vec<Interval> {
    let stored: Vec<StoredInterval> =
        serde_json::from_value(calendar.working_hours.clone()).unwrap_or_default();
    stored
        .iter()
        .filter_map(|i| {
            Some(Interval {
                day: i.day.parse().ok()?,
                from: hours::parse_minute(&i.from)?,
                to: hours::parse_minute(&i.to)?,
            })
        })
        .collect()
}

pub fn holidays_of(calendar: &business_calendar::Model) -> Vec<NaiveDate> {
    serde_json::from_value(calendar.holidays.clone()).unwrap_or_default()
}

fn store_intervals(intervals: &[Interval]) -> serde_json::Value {
    json!(
        intervals
            .iter()
            .map(|i| StoredInterval {
                day: weekday_name(i.day).to_string(),
                from: hours::format_minute(i.from),
                to: hours::format_minute(i.to),
            })
            .collect::<Vec<_>>()
    )
}

pub fn hours_of_calendar(calendar: &business_calendar::Model) -> Result<Hours> {
    Calendar::new(
        &calendar.time_zone,
        &intervals_of(calendar),
        holidays_of(calendar),
    )
    .map(Hours::Calendar)
    .map_err(|e| Error::Internal(format!("calendar {}: {}", calendar.id, e.message)))
}

/// A policy with the working hours it counts.
#[derive(Debug, Clone)]
pub struct Measure {
    pub policy: sla_policy::Model,
    pub hours: Hours,
}

impl Measure {
    pub fn evaluate(&self, ticket: &ticket::Model, now: DateTime<Utc>) -> Evaluation {
        clock::evaluate(
            &self.hours,
            &targets_of(&self.policy),
            &clock_of(ticket),
            now,
        )
    }
}

/// Policies with their hours, loaded once per batch of tickets.
#[derive(Default)]
pub struct Measures(HashMap<Uuid, Option<Measure>>);

impl Measures {
    pub async fn get(
        &mut self,
        db: &impl ConnectionTrait,
        policy_id: Uuid,
    ) -> Result<Option<&Measure>> {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.0.entry(policy_id) {
            let measure = match sla_policy::Entity::find_by_id(policy_id).one(db).await? {
                Some(policy) => Some(measure_of(db, policy).await?),
                None => None,
            };
            slot.insert(measure);
        }
        Ok(self.0[&policy_id].as_ref())
    }
}

/// The policies of `ids` with the hours they count, in two statements (policies, then their
/// calendars) however many there are; ids of no policy are absent.
pub async fn measures_of(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Measure>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let policies = sla_policy::Entity::find()
        .filter(sla_policy::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    let calendar_ids: Vec<Uuid> = policies
        .iter()
        .filter_map(|p| p.business_calendar_id)
        .collect();
    let calendars: HashMap<Uuid, business_calendar::Model> = if calendar_ids.is_empty() {
        HashMap::new()
    } else {
        business_calendar::Entity::find()
            .filter(business_calendar::Column::Id.is_in(calendar_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect()
    };
    let mut measures = HashMap::new();
    for policy in policies {
        let calendar = policy
            .business_calendar_id
            .and_then(|id| calendars.get(&id));
        measures.insert(policy.id, measure_with(policy, calendar)?);
    }
    Ok(measures)
}

pub async fn measure_of(db: &impl ConnectionTrait, policy: sla_policy::Model) -> Result<Measure> {
    let calendar = match policy.business_calendar_id {
        None => None,
        Some(id) => business_calendar::Entity::find_by_id(id).one(db).await?,
    };
    measure_with(policy, calendar.as_ref())
}

/// A policy measured in its calendar's working hours, or around the clock without one.
fn measure_with(
    policy: sla_policy::Model,
    calendar: Option<&business_calendar::Model>,
) -> Result<Measure> {
    let hours = match calendar {
        Some(calendar) => hours_of_calendar(calendar)?,
        None => Hours::Always,
    };
    Ok(Measure { policy, hours })
}

pub fn phase(status: TicketStatus) -> Phase {
    match status {
        TicketStatus::New | TicketStatus::Open | TicketStatus::InProgress => Phase::Running,
        TicketStatus::PendingInfo => Phase::Paused,
        TicketStatus::Resolved | TicketStatus::Closed => Phase::Stopped,
    }
}

pub fn pauses_of(ticket: &ticket::Model) -> Vec<Pause> {
    ticket
        .sla_pauses
        .clone()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

pub fn clock_of(ticket: &ticket::Model) -> Clock {
    Clock {
        started_at: ticket.created_at,
        pauses: pauses_of(ticket),
        first_response_at: ticket.first_response_at,
        phase: phase(ticket.status),
    }
}

/// The active policy for a priority.
pub async fn active_policy(
    db: &impl ConnectionTrait,
    priority: TicketPriority,
) -> Result<Option<sla_policy::Model>> {
    Ok(sla_policy::Entity::find()
        .filter(sla_policy::Column::Priority.eq(priority))
        .filter(sla_policy::Column::IsActive.eq(true))
        .one(db)
        .await?)
}

/// The SLA columns of a ticket, as the calculator sets them.
#[derive(Debug, Clone, PartialEq)]
struct Columns {
    policy_id: Option<Uuid>,
    pauses: Vec<Pause>,
    paused_since: Option<DateTime<Utc>>,
    first_response_due_at: Option<DateTime<Utc>>,
    resolution_due_at: Option<DateTime<Utc>>,
    next_check_at: Option<DateTime<Utc>>,
}

impl Columns {
    fn of(ticket: &ticket::Model) -> Self {
        Self {
            policy_id: ticket.sla_policy_id,
            pauses: pauses_of(ticket),
            paused_since: ticket.sla_paused_since,
            first_response_due_at: ticket.first_response_due_at,
            resolution_due_at: ticket.resolution_due_at,
            next_check_at: ticket.sla_next_check_at,
        }
    }

    fn write(&self, ticket: &ticket::Model) -> ticket::ActiveModel {
        ticket::ActiveModel {
            id: Set(ticket.id),
            sla_policy_id: Set(self.policy_id),
            sla_pauses: Set(Some(json!(self.pauses))),
            sla_paused_since: Set(self.paused_since),
            first_response_due_at: Set(self.first_response_due_at),
            resolution_due_at: Set(self.resolution_due_at),
            sla_next_check_at: Set(self.next_check_at),
            ..Default::default()
        }
    }
}

/// The standstills after a move from `from` to `to` at `now`: leaving the running states
/// opens one, coming back closes it.
pub fn pauses_after(
    mut pauses: Vec<Pause>,
    from: Option<TicketStatus>,
    to: TicketStatus,
    now: DateTime<Utc>,
) -> Vec<Pause> {
    match (from.map(phase), phase(to)) {
        (Some(Phase::Running), Phase::Paused | Phase::Stopped) => {
            pauses.push(Pause {
                from: now,
                to: None,
            });
        }
        (Some(Phase::Paused | Phase::Stopped), Phase::Running) => {
            for pause in pauses.iter_mut().filter(|p| p.to.is_none()) {
                pause.to = Some(now);
            }
        }
        _ => {}
    }
    pauses
}

/// Whether a target's clock still runs, so the scanner has something to announce: the first
/// response until it is given (or the ticket is finished), the resolution while the ticket is
/// worked on.
fn watched(target: SlaTarget, ticket: &ticket::Model) -> bool {
    match target {
        SlaTarget::FirstResponse => {
            ticket.first_response_at.is_none() && phase(ticket.status) != Phase::Stopped
        }
        SlaTarget::Resolution => phase(ticket.status) == Phase::Running,
    }
}

/// When the scanner next has to look at a ticket: the next warning, breach or escalation
/// level still to come. `escalated` holds the levels already written, when known; without it a
/// breached target asks for a look now, and the scanner works the rest out.
fn next_check(
    ticket: &ticket::Model,
    measure: &Measure,
    evaluation: &Evaluation,
    escalated: Option<&HashSet<(SlaTarget, i32)>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let warn = measure.policy.warn_before_minutes > 0;
    let ladder = ladder_of(&measure.policy);
    let mut next: Option<DateTime<Utc>> = None;
    let mut consider = |at: DateTime<Utc>| next = Some(next.map_or(at, |n| n.min(at)));
    let targets = [
        (
            SlaTarget::FirstResponse,
            &evaluation.first_response,
            ticket.first_response_warned_at,
            ticket.first_response_breached_at,
        ),
        (
            SlaTarget::Resolution,
            &evaluation.resolution,
            ticket.resolution_warned_at,
            ticket.resolution_breached_at,
        ),
    ];
    for (kind, target, warned, breached) in targets {
        if !watched(kind, ticket) {
            continue;
        }
        match target.status {
            Status::Active => {
                if warn && warned.is_none() && target.warn_at < target.due_at {
                    consider(target.warn_at);
                }
                consider(target.due_at);
            }
            Status::Breached => match (breached, escalated) {
                (Some(_), Some(done)) => {
                    if let Some(level) = ladder
                        .iter()
                        .find(|l| l.level > 1 && !done.contains(&(kind, l.level)))
                    {
                        consider(measure.hours.add(target.due_at, level.after_minutes * 60));
                    }
                }
                _ => consider(now),
            },
            _ => {}
        }
    }
    next
}

/// Brings a changed ticket's SLA columns up to date inside the change's transaction, after the
/// row was written: the standstills follow the status, the policy follows the priority (the
/// clock keeps its start and standstills), and the due dates follow both. `before` is `None`
/// for a new ticket.
pub async fn settle(
    txn: &impl ConnectionTrait,
    before: Option<&ticket::Model>,
    after: ticket::Model,
    now: DateTime<Utc>,
) -> Result<ticket::Model> {
    // Only these move the clock; an edit of the title or an assignment leaves it as it is.
    if let Some(b) = before
        && b.status == after.status
        && b.priority == after.priority
        && b.first_response_at == after.first_response_at
    {
        return Ok(after);
    }
    let mut columns = Columns::of(&after);
    columns.pauses = pauses_after(columns.pauses, before.map(|b| b.status), after.status, now);
    let policy = match before {
        Some(b) if b.priority == after.priority => match after.sla_policy_id {
            Some(id) => sla_policy::Entity::find_by_id(id).one(txn).await?,
            None => None,
        },
        _ => active_policy(txn, after.priority).await?,
    };
    let mut next = after.clone();
    next.sla_pauses = Some(json!(columns.pauses));
    columns.policy_id = policy.as_ref().map(|p| p.id);
    match policy {
        Some(policy) => {
            let measure = measure_of(txn, policy).await?;
            apply(&mut columns, &next, &measure, None, now);
        }
        None => {
            columns.first_response_due_at = None;
            columns.resolution_due_at = None;
            columns.next_check_at = None;
            columns.paused_since = None;
        }
    }
    if columns == Columns::of(&after) {
        return Ok(after);
    }
    Ok(ticket::Entity::update(columns.write(&after))
        .exec(txn)
        .await?)
}

fn apply(
    columns: &mut Columns,
    ticket: &ticket::Model,
    measure: &Measure,
    escalated: Option<&HashSet<(SlaTarget, i32)>>,
    now: DateTime<Utc>,
) {
    let evaluation = measure.evaluate(ticket, now);
    columns.paused_since = clock_of(ticket).stopped_at();
    columns.first_response_due_at = Some(evaluation.first_response.due_at);
    columns.resolution_due_at = Some(evaluation.resolution.settled_due_at);
    columns.next_check_at = next_check(ticket, measure, &evaluation, escalated, now);
}

/// Sets the SLA columns of a ticket written in bulk (the demo seed) as if it had lived through
/// its history: standstills from its status, and every moment already past marked as handled,
/// so the scanner does not announce a year of old breaches.
pub fn stamp(ticket: &mut ticket::Model, measure: Option<&Measure>, now: DateTime<Utc>) {
    let Some(measure) = measure else { return };
    let standstill = match phase(ticket.status) {
        Phase::Running => None,
        Phase::Paused => Some(ticket.updated_at),
        Phase::Stopped => ticket.resolved_at.or(Some(ticket.updated_at)),
    };
    ticket.sla_policy_id = Some(measure.policy.id);
    ticket.sla_pauses = Some(json!(
        standstill
            .map(|from| vec![Pause { from, to: None }])
            .unwrap_or_default()
    ));
    let evaluation = measure.evaluate(ticket, now);
    for (target, warned, breached) in [
        (
            &evaluation.first_response,
            &mut ticket.first_response_warned_at,
            &mut ticket.first_response_breached_at,
        ),
        (
            &evaluation.resolution,
            &mut ticket.resolution_warned_at,
            &mut ticket.resolution_breached_at,
        ),
    ] {
        if target.warn_at <= now {
            *warned = Some(target.warn_at);
        }
        if target.status == Status::Breached {
            *breached = Some(target.settled_due_at);
        }
    }
    let mut columns = Columns::of(ticket);
    apply(&mut columns, ticket, measure, Some(&HashSet::new()), now);
    ticket.sla_paused_since = columns.paused_since;
    ticket.first_response_due_at = columns.first_response_due_at;
    ticket.resolution_due_at = columns.resolution_due_at;
    // Breaches of the past are not escalated after the fact.
    ticket.sla_next_check_at = columns.next_check_at.filter(|_| {
        ticket.first_response_breached_at.is_none() && ticket.resolution_breached_at.is_none()
    });
}

/// Recomputes the SLA columns of every unfinished ticket measured against `policy_id` (after
/// its targets or calendar changed), inside the caller's transaction.
pub(crate) async fn remeasure(
    txn: &impl ConnectionTrait,
    policy_id: Uuid,
    now: DateTime<Utc>,
) -> Result<u64> {
    let Some(policy) = sla_policy::Entity::find_by_id(policy_id).one(txn).await? else {
        return Ok(0);
    };
    let measure = measure_of(txn, policy).await?;
    let tickets = ticket::Entity::find()
        .filter(ticket::Column::SlaPolicyId.eq(policy_id))
        .filter(ticket::Column::Status.is_not_in([TicketStatus::Resolved, TicketStatus::Closed]))
        .filter(ticket::Column::DeletedAt.is_null())
        .all(txn)
        .await?;
    let mut changed = 0;
    for ticket in tickets {
        let mut columns = Columns::of(&ticket);
        apply(&mut columns, &ticket, &measure, None, now);
        if columns != Columns::of(&ticket) {
            ticket::Entity::update(columns.write(&ticket))
                .exec(txn)
                .await?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// What one scan did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanReport {
    pub tickets: u64,
    pub warnings: u64,
    pub breaches: u64,
    pub escalations: u64,
}

/// The advisory lock the scanners of all replicas take turns on.
const SCAN_LOCK: i64 = 0x6864_6573_6b02;
const SCAN_BATCH: u64 = 200;

fn target_name(target: SlaTarget) -> &'static str {
    match target {
        SlaTarget::FirstResponse => "FIRST_RESPONSE",
        SlaTarget::Resolution => "RESOLUTION",
    }
}

/// Warns, marks breaches and escalates every ticket whose next SLA moment is at or before
/// `now`. One scanner at a time (an advisory lock on PostgreSQL, the write lock on SQLite), and
/// each notice is written with the mark that keeps it from being written again, in one
/// transaction: every warning, breach and level goes out exactly once.
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
        let mut escalated: HashMap<Uuid, HashSet<(SlaTarget, i32)>> = HashMap::new();
        for row in escalation::Entity::find()
            .filter(escalation::Column::TicketId.is_in(ids))
            .all(&txn)
            .await?
        {
            escalated
                .entry(row.ticket_id)
                .or_default()
                .insert((row.target, row.level));
        }
        let mut measures = Measures::default();
        for ticket in &due {
            let done = escalated.entry(ticket.id).or_default();
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
    done: &mut HashSet<(SlaTarget, i32)>,
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
        let detail = |level: Option<&Level>| {
            json!({
                "target": target_name(kind),
                "dueAt": target.due_at,
                "remainingMinutes": target.remaining_minutes,
                "level": level.map(|l| l.level),
                "notify": level.map(|l| l.notify.clone()),
            })
        };
        match target.status {
            Status::Active if warn && warned.is_none() && target.warn_at <= now => {
                *warned = Some(now);
                event::record_sla(txn, ticket, event::SLA_WARNING, detail(None)).await?;
                report.warnings += 1;
            }
            Status::Breached => {
                // A ticket that jumped past its warning (a short target, a late scan) is not
                // warned after the fact.
                warned.get_or_insert(now);
                if breached.is_none() {
                    *breached = Some(now);
                    let first = ladder.first().filter(|l| l.level == 1);
                    if escalate(txn, ticket, measure, kind, target.due_at, 1, now).await? {
                        done.insert((kind, 1));
                    }
                    event::record_sla(txn, ticket, event::SLA_BREACHED, detail(first)).await?;
                    report.breaches += 1;
                }
                for level in ladder.iter().filter(|l| l.level > 1) {
                    if done.contains(&(kind, level.level))
                        || measure.hours.add(target.due_at, level.after_minutes * 60) > now
                    {
                        continue;
                    }
                    if escalate(txn, ticket, measure, kind, target.due_at, level.level, now).await?
                    {
                        event::record_sla(txn, ticket, event::SLA_ESCALATED, detail(Some(level)))
                            .await?;
                        report.escalations += 1;
                    }
                    done.insert((kind, level.level));
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

/// Writes one escalation row; `false` when that level of that breach was already written.
async fn escalate(
    txn: &impl ConnectionTrait,
    ticket: &ticket::Model,
    measure: &Measure,
    target: SlaTarget,
    due_at: DateTime<Utc>,
    level: i32,
    now: DateTime<Utc>,
) -> Result<bool> {
    let inserted = escalation::Entity::insert(escalation::ActiveModel {
        id: Set(Uuid::now_v7()),
        ticket_id: Set(ticket.id),
        sla_policy_id: Set(Some(measure.policy.id)),
        target: Set(target),
        level: Set(level),
        due_at: Set(due_at),
        escalated_at: Set(now),
        acknowledged_at: Set(None),
        acknowledged_by: Set(None),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            escalation::Column::TicketId,
            escalation::Column::Target,
            escalation::Column::Level,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(inserted > 0)
}

/// The policies a fresh install starts with, one per priority: (priority, first response,
/// resolution, warn before), in minutes, around the clock.
pub const DEFAULTS: [(TicketPriority, i32, i32, i32); 4] = [
    (TicketPriority::Critical, 60, 4 * 60, 30),
    (TicketPriority::High, 4 * 60, 24 * 60, 60),
    (TicketPriority::Medium, 8 * 60, 72 * 60, 4 * 60),
    (TicketPriority::Low, 24 * 60, 168 * 60, 8 * 60),
];

/// Installs the default policy of every priority that has never had one (an administrator's
/// deactivated policy counts, so a deliberate gap stays a gap). Returns how many it added.
pub async fn install_defaults<C>(db: &C) -> Result<u64>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = crate::db::begin_write(db).await?;
    let present: HashSet<TicketPriority> = sla_policy::Entity::find()
        .all(&txn)
        .await?
        .into_iter()
        .map(|p| p.priority)
        .collect();
    let now = Utc::now();
    let mut added = 0;
    for (priority, first_response, resolution, warn) in DEFAULTS {
        if present.contains(&priority) {
            continue;
        }
        sla_policy::Entity::insert(sla_policy::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(format!(
                "Default {}",
                crate::ticket::priority_name(priority)
            )),
            priority: Set(priority),
            first_response_minutes: Set(first_response),
            resolution_minutes: Set(resolution),
            warn_before_minutes: Set(warn),
            escalation_levels: Set(json!(default_ladder())),
            is_active: Set(true),
            business_calendar_id: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await?;
        added += 1;
    }
    txn.commit().await?;
    Ok(added)
}

#[cfg(test)]
mod tests;
