//! The SLA calculator: from a ticket's clock (when it started, when it stood still, when it was
//! first answered) and a policy's targets, the due dates and statuses. A pure function of its
//! inputs, so it is tested with properties rather than examples alone.
//!
//! - The first-response clock runs from creation until the first public staff reply (or the
//!   resolution, which answers too). It does not pause.
//! - The resolution clock runs from creation, stands still while the ticket waits for the
//!   customer (PENDING_INFO) and while it is resolved, and resumes on the way back. Its due
//!   date is the instant at which the working time it ran reaches the target, so the time it
//!   stood still moves the due date later and is kept when the target changes (a new priority
//!   is measured from the same start with the same standstills).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::hours::Hours;

/// An interval in which the resolution clock stood still; `to` is `None` while it still does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    pub from: DateTime<Utc>,
    pub to: Option<DateTime<Utc>>,
}

/// What the ticket is doing now, as far as the clock is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// NEW, OPEN, IN_PROGRESS.
    Running,
    /// PENDING_INFO: waiting for the customer.
    Paused,
    /// RESOLVED or CLOSED.
    Stopped,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Clock {
    pub started_at: DateTime<Utc>,
    pub pauses: Vec<Pause>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub phase: Phase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Targets {
    pub first_response_minutes: i64,
    pub resolution_minutes: i64,
    pub warn_before_minutes: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    /// The clock runs and the target is ahead.
    Active,
    /// The resolution clock stands still before its target passed.
    Paused,
    /// Done within the target.
    Met,
    /// The target passed first.
    Breached,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// When the target is (or was) due; for a paused clock, the due date if it resumed now.
    pub due_at: DateTime<Utc>,
    /// The due date counting only the standstills that ended (stored for queries).
    pub settled_due_at: DateTime<Utc>,
    /// When to warn: `warn_before` working minutes ahead of the due date.
    pub warn_at: DateTime<Utc>,
    pub status: Status,
    /// Working minutes left (negative: overdue); frozen while paused, `None` once finished.
    pub remaining_minutes: Option<i64>,
    /// Working minutes the clock stood still, up to now.
    pub paused_minutes: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    pub first_response: Target,
    pub resolution: Target,
}

impl Clock {
    /// The standstills, clipped to the start, sorted and merged (so their order in storage
    /// never matters); the open one ends `now` when `open` is set and is left out otherwise.
    fn standstills(&self, open: bool, now: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = self
            .pauses
            .iter()
            .filter(|p| open || p.to.is_some())
            .map(|p| {
                let to = p.to.unwrap_or(now.max(p.from));
                (p.from.max(self.started_at), to.max(self.started_at))
            })
            .filter(|(from, to)| to > from)
            .collect();
        spans.sort_unstable();
        let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::with_capacity(spans.len());
        for (from, to) in spans {
            match merged.last_mut() {
                Some(last) if from <= last.1 => last.1 = last.1.max(to),
                _ => merged.push((from, to)),
            }
        }
        merged
    }

    /// Where the clock stands still now, if it does: the start of the open standstill.
    pub fn stopped_at(&self) -> Option<DateTime<Utc>> {
        if self.phase == Phase::Running {
            return None;
        }
        self.pauses
            .iter()
            .filter(|p| p.to.is_none())
            .map(|p| p.from.max(self.started_at))
            .min()
    }
}

/// The instant the clock has run `seconds` of working time, skipping `standstills` (sorted,
/// disjoint, all ended).
fn run_until(
    hours: &Hours,
    start: DateTime<Utc>,
    standstills: &[(DateTime<Utc>, DateTime<Utc>)],
    seconds: i64,
) -> DateTime<Utc> {
    let mut cursor = start;
    let mut left = seconds;
    for &(from, to) in standstills {
        if from > cursor {
            let available = hours.working_seconds(cursor, from);
            if left <= available {
                return hours.add(cursor, left);
            }
            left -= available;
        }
        cursor = cursor.max(to);
    }
    hours.add(cursor, left)
}

fn minutes(seconds: i64) -> i64 {
    seconds.div_euclid(60)
}

/// Working minutes from `from` to `to`, negative when `to` is earlier.
fn signed_minutes(hours: &Hours, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    if to >= from {
        minutes(hours.working_seconds(from, to))
    } else {
        -minutes(hours.working_seconds(to, from) + 59)
    }
}

pub fn evaluate(hours: &Hours, targets: &Targets, clock: &Clock, now: DateTime<Utc>) -> Evaluation {
    let start = clock.started_at;
    let stopped_at = clock.stopped_at();
    let warn = |target: i64| (target - targets.warn_before_minutes).max(0) * 60;

    // First response: no standstills.
    let due = hours.add(start, targets.first_response_minutes * 60);
    let answered = clock.first_response_at.or(match clock.phase {
        Phase::Stopped => stopped_at,
        _ => None,
    });
    let (status, remaining) = match answered {
        Some(at) if at <= due => (Status::Met, None),
        Some(_) => (Status::Breached, None),
        None if now < due => (Status::Active, Some(signed_minutes(hours, now, due))),
        None => (Status::Breached, Some(signed_minutes(hours, now, due))),
    };
    let first_response = Target {
        due_at: due,
        settled_due_at: due,
        warn_at: hours.add(start, warn(targets.first_response_minutes)),
        status,
        remaining_minutes: remaining,
        paused_minutes: 0,
    };

    // Resolution: the finished standstills move the due date; an open one is counted as if it
    // ended now for the due date shown, and not at all for the settled one.
    let all = clock.standstills(true, now);
    let finished = clock.standstills(false, now);
    let target = targets.resolution_minutes * 60;
    let settled_due = run_until(hours, start, &finished, target);
    let shown_due = run_until(hours, start, &all, target);
    let paused_minutes = minutes(
        all.iter()
            .map(|(from, to)| hours.working_seconds(*from, *to))
            .sum(),
    );
    let (status, remaining) = match (clock.phase, stopped_at) {
        (Phase::Running, _) | (_, None) => {
            let left = signed_minutes(hours, now, settled_due);
            if now < settled_due {
                (Status::Active, Some(left))
            } else {
                (Status::Breached, Some(left))
            }
        }
        (Phase::Paused, Some(at)) => {
            let left = Some(signed_minutes(hours, at, settled_due));
            if at <= settled_due {
                (Status::Paused, left)
            } else {
                (Status::Breached, left)
            }
        }
        (Phase::Stopped, Some(at)) if at <= settled_due => (Status::Met, None),
        (Phase::Stopped, Some(_)) => (Status::Breached, None),
    };
    let resolution = Target {
        due_at: if clock.phase == Phase::Paused {
            shown_due
        } else {
            settled_due
        },
        settled_due_at: settled_due,
        warn_at: run_until(hours, start, &finished, warn(targets.resolution_minutes)),
        status,
        remaining_minutes: remaining,
        paused_minutes,
    };
    Evaluation {
        first_response,
        resolution,
    }
}
