//! Each ticket's clock: the standstills, the policy and the due dates on the ticket row,
//! rewritten in the transaction of every change that moves them ([`settle`]), and when the
//! scanner next has to look ([`next_check`]).

use chrono::{DateTime, Utc};
use entity::enums::{SlaTarget, TicketStatus};
use entity::{sla_policy, ticket};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use super::escalation::Fired;
use super::*;
use crate::Result;

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
pub(super) fn watched(target: SlaTarget, ticket: &ticket::Model) -> bool {
    match target {
        SlaTarget::FirstResponse => {
            ticket.first_response_at.is_none() && phase(ticket.status) != Phase::Stopped
        }
        SlaTarget::Resolution => phase(ticket.status) == Phase::Running,
    }
}

/// When the scanner next has to look at a ticket: the next warning, breach, escalation level
/// or reminder still to come. `escalated` holds the levels already written, when known;
/// without it a breached target asks for a look now, and the scanner works the rest out.
pub(super) fn next_check(
    ticket: &ticket::Model,
    measure: &Measure,
    evaluation: &Evaluation,
    escalated: Option<&Fired>,
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
                        .find(|l| l.level > 1 && !done.contains_key(&(kind, l.level)))
                    {
                        consider(measure.hours.add(target.due_at, level.after_minutes * 60));
                    }
                    for row in done.values().filter(|r| r.target == kind) {
                        if let (None, Some(at)) = (row.acknowledged_at, row.next_notice_at) {
                            consider(at);
                        }
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
    escalated: Option<&Fired>,
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
    apply(&mut columns, ticket, measure, Some(&Fired::new()), now);
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
