//! Policies: targets per priority, the working hours they count (business calendars), the
//! escalation ladder, and the defaults a fresh install starts with.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc, Weekday};
use entity::enums::{Role, TicketPriority};
use entity::{business_calendar, sla_policy, ticket};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionSession,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::{Error, Result};

/// One step of a policy's escalation ladder: `after_minutes` of working time past the breach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Level {
    pub level: i32,
    pub after_minutes: i64,
    /// Working minutes between reminders to the level's targets while nobody acknowledged the
    /// escalation and no higher level fired; `None`: one notice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_minutes: Option<i64>,
    pub notify: Notify,
}

/// Whom a level notifies: named users, everyone of some roles, and the staff of the ticket's
/// organization; resolved when the level fires, to the approved staff among them who may read
/// the ticket then ([`super::escalation::recipients`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notify {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_ids: Vec<Uuid>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Role>,
    /// The staff members of the ticket's organization.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub organization_agents: bool,
}

impl Notify {
    pub fn is_empty(&self) -> bool {
        self.user_ids.is_empty() && self.roles.is_empty() && !self.organization_agents
    }

    fn roles(roles: &[Role]) -> Self {
        Self {
            roles: roles.to_vec(),
            ..Default::default()
        }
    }

    /// The targets a label of the first ladders stood for (`team_lead`, `manager`, `admin`):
    /// the organization's staff, superagents, administrators; any other label, administrators.
    fn of_label(label: &str) -> Self {
        match label {
            "team_lead" => Self {
                organization_agents: true,
                ..Default::default()
            },
            "manager" => Self::roles(&[Role::Superagent]),
            _ => Self::roles(&[Role::Admin]),
        }
    }
}

/// The ladder installed with the default policies: the organization's staff at the breach,
/// superagents an hour later, administrators after four hours; one notice each.
pub fn default_ladder() -> Vec<Level> {
    [
        (1, 0, Notify::of_label("team_lead")),
        (2, 60, Notify::of_label("manager")),
        (3, 240, Notify::of_label("admin")),
    ]
    .into_iter()
    .map(|(level, after_minutes, notify)| Level {
        level,
        after_minutes,
        repeat_minutes: None,
        notify,
    })
    .collect()
}

/// A policy's ladder, lowest level first. Levels stored with a label for `notify` (the first
/// ladders) read as the targets the label stood for.
pub fn ladder_of(policy: &sla_policy::Model) -> Vec<Level> {
    let mut stored = policy.escalation_levels.clone();
    if let Some(levels) = stored.as_array_mut() {
        for level in levels {
            if let Some(label) = level["notify"].as_str() {
                level["notify"] = json!(Notify::of_label(label));
            }
        }
    }
    let mut levels: Vec<Level> = serde_json::from_value(stored).unwrap_or_default();
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

pub(crate) fn store_intervals(intervals: &[Interval]) -> serde_json::Value {
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
