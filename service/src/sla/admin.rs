//! Managing SLA policies and business calendars (administrators; staff may read them).
//!
//! A policy's priority has at most one active policy: creating one for a priority replaces the
//! active one, whose tickets keep being measured against it. Changing a policy's targets or
//! calendar (or a calendar's hours) re-measures its unfinished tickets in the same transaction,
//! so the due dates the API filters on never disagree with the policy shown.

use chrono::{NaiveDate, Utc};
use std::collections::HashSet;

use entity::enums::{Role, TicketPriority};
use entity::{business_calendar, sla_policy, user};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::policy::store_intervals;
use super::{Calendar, Interval, Level, remeasure};
use crate::actor::Actor;
use crate::audit::ClientInfo;
use crate::{Error, Result, access};

pub const MAX_NAME_LENGTH: usize = 100;
pub const MAX_LEVELS: usize = 10;
pub const MAX_HOLIDAYS: usize = 1000;
/// A year of minutes: no target is longer.
pub const MAX_MINUTES: i32 = 366 * 24 * 60;

fn validate_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LENGTH {
        return Err(Error::invalid(
            "name",
            format!("must be 1 to {MAX_NAME_LENGTH} characters"),
        ));
    }
    Ok(name.to_string())
}

fn validate_minutes(field: &'static str, minutes: i32, zero_allowed: bool) -> Result<i32> {
    let low = if zero_allowed { 0 } else { 1 };
    if !(low..=MAX_MINUTES).contains(&minutes) {
        return Err(Error::invalid(
            field,
            format!("must be between {low} and {MAX_MINUTES} minutes"),
        ));
    }
    Ok(minutes)
}

/// Reminders come at most this often.
pub const MIN_REPEAT_MINUTES: i64 = 5;
/// Users a level may name.
pub const MAX_NAMED: usize = 50;

async fn validate_levels(db: &impl ConnectionTrait, mut levels: Vec<Level>) -> Result<Vec<Level>> {
    const FIELD: &str = "escalationLevels";
    if levels.len() > MAX_LEVELS {
        return Err(Error::invalid(
            FIELD,
            format!("at most {MAX_LEVELS} levels"),
        ));
    }
    levels.sort_by_key(|l| l.level);
    for (index, level) in levels.iter_mut().enumerate() {
        if level.level != index as i32 + 1 {
            return Err(Error::invalid(
                FIELD,
                "levels are numbered 1, 2, 3, ... without gaps",
            ));
        }
        if level.after_minutes < 0 || level.after_minutes > MAX_MINUTES.into() {
            return Err(Error::invalid(
                FIELD,
                "afterMinutes must be between 0 and a year",
            ));
        }
        if let Some(repeat) = level.repeat_minutes
            && !(MIN_REPEAT_MINUTES..=MAX_MINUTES.into()).contains(&repeat)
        {
            return Err(Error::invalid(
                FIELD,
                format!("repeatMinutes must be between {MIN_REPEAT_MINUTES} and a year"),
            ));
        }
        let notify = &mut level.notify;
        notify.user_ids.sort();
        notify.user_ids.dedup();
        notify.roles.sort_by_key(|r| *r as u8);
        notify.roles.dedup();
        if notify.is_empty() {
            return Err(Error::invalid(
                FIELD,
                "notify names no one: give userIds, roles or organizationAgents",
            ));
        }
        if notify.user_ids.len() > MAX_NAMED {
            return Err(Error::invalid(
                FIELD,
                format!("notify names at most {MAX_NAMED} users"),
            ));
        }
        if notify.roles.contains(&Role::Client) {
            return Err(Error::invalid(FIELD, "notify names staff roles only"));
        }
    }
    // Named users must be staff: clients never hear of escalations.
    let named: HashSet<Uuid> = levels
        .iter()
        .flat_map(|l| l.notify.user_ids.iter().copied())
        .collect();
    if !named.is_empty() {
        let staff: HashSet<Uuid> = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .filter(user::Column::Id.is_in(named.iter().copied()))
            .filter(user::Column::Role.is_in([Role::Agent, Role::Superagent, Role::Admin]))
            .into_tuple()
            .all(db)
            .await?
            .into_iter()
            .collect();
        if let Some(unknown) = named.iter().find(|id| !staff.contains(id)) {
            return Err(Error::invalid(
                FIELD,
                format!("notify names {unknown}, who is not a member of staff"),
            ));
        }
    }
    if levels
        .windows(2)
        .any(|w| w[1].after_minutes < w[0].after_minutes)
    {
        return Err(Error::invalid(
            FIELD,
            "a higher level cannot come before a lower one",
        ));
    }
    Ok(levels)
}

async fn require_calendar(db: &impl ConnectionTrait, id: Option<Uuid>) -> Result<()> {
    if let Some(id) = id
        && business_calendar::Entity::find_by_id(id)
            .one(db)
            .await?
            .is_none()
    {
        return Err(Error::invalid("businessCalendarId", "no such calendar"));
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct NewPolicy {
    pub name: String,
    pub priority: TicketPriority,
    pub first_response_minutes: i32,
    pub resolution_minutes: i32,
    pub warn_before_minutes: i32,
    /// `None` installs the default ladder.
    pub escalation_levels: Option<Vec<Level>>,
    pub business_calendar_id: Option<Uuid>,
}

/// Where a policy sits in the list of policies: the active ones first, then the most urgent
/// priority first, then the newest first (one sortable text, so that a cursor carries all three).
pub fn position(policy: &sla_policy::Model) -> crate::page::Position {
    use entity::enums::TicketPriority;
    let rank = match policy.priority {
        TicketPriority::Critical => 0,
        TicketPriority::High => 1,
        TicketPriority::Medium => 2,
        TicketPriority::Low => 3,
    };
    let age = i64::MAX - policy.created_at.timestamp_micros().max(0);
    crate::page::Position {
        key: crate::page::Key::Text(format!(
            "{}{rank}{age:019}",
            if policy.is_active { 0 } else { 1 }
        )),
        id: policy.id,
    }
}

/// Where a calendar sits in the list of calendars, by name.
pub fn calendar_position(calendar: &business_calendar::Model) -> crate::page::Position {
    crate::page::Position {
        key: crate::page::Key::Text(calendar.name.clone()),
        id: calendar.id,
    }
}

/// The policies (in the order of [`position`] once paged); staff only.
pub async fn list(
    db: &impl ConnectionTrait,
    actor: &Actor,
    include_inactive: bool,
) -> Result<Vec<sla_policy::Model>> {
    access::require(access::can_see_sla_policies(actor))?;
    let mut query = sla_policy::Entity::find();
    if !include_inactive {
        query = query.filter(sla_policy::Column::IsActive.eq(true));
    }
    Ok(query
        .order_by_desc(sla_policy::Column::IsActive)
        .order_by_asc(sla_policy::Column::Priority)
        .order_by_desc(sla_policy::Column::CreatedAt)
        .all(db)
        .await?)
}

pub async fn get(db: &impl ConnectionTrait, actor: &Actor, id: Uuid) -> Result<sla_policy::Model> {
    access::require(access::can_see_sla_policies(actor))?;
    sla_policy::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(Error::NotFound {
            entity: "SLA policy",
        })
}

/// Creates the active policy of a priority, replacing the one active before.
pub async fn create<C>(
    db: &C,
    actor: &Actor,
    new: NewPolicy,
    client: &ClientInfo,
) -> Result<sla_policy::Model>
where
    C: ConnectionTrait + TransactionTrait,
{
    access::require(actor.is_admin())?;
    let name = validate_name(&new.name)?;
    let first_response =
        validate_minutes("firstResponseMinutes", new.first_response_minutes, false)?;
    let resolution = validate_minutes("resolutionMinutes", new.resolution_minutes, false)?;
    let warn = validate_minutes("warnBeforeMinutes", new.warn_before_minutes, true)?;
    let levels = validate_levels(
        db,
        new.escalation_levels.unwrap_or_else(super::default_ladder),
    )
    .await?;
    let txn = crate::db::begin_write(db).await?;
    require_calendar(&txn, new.business_calendar_id).await?;
    let now = Utc::now();
    sla_policy::Entity::update_many()
        .col_expr(sla_policy::Column::IsActive, false.into())
        .col_expr(sla_policy::Column::UpdatedAt, now.into())
        .filter(sla_policy::Column::Priority.eq(new.priority))
        .filter(sla_policy::Column::IsActive.eq(true))
        .exec(&txn)
        .await?;
    let created = sla_policy::Entity::insert(sla_policy::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name),
        priority: Set(new.priority),
        first_response_minutes: Set(first_response),
        resolution_minutes: Set(resolution),
        warn_before_minutes: Set(warn),
        escalation_levels: Set(json!(levels)),
        is_active: Set(true),
        business_calendar_id: Set(new.business_calendar_id),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_with_returning(&txn)
    .await?;
    crate::audit::admin_change(
        &txn,
        actor,
        "sla_policy.created",
        format!("SLA policy {} created", created.name),
        json!({}),
        fields(&created),
        client,
    )
    .await?;
    txn.commit().await?;
    Ok(created)
}

/// The fields of a policy an audit entry shows.
fn fields(policy: &sla_policy::Model) -> serde_json::Value {
    json!({
        "id": policy.id,
        "name": policy.name,
        "priority": policy.priority,
        "firstResponseMinutes": policy.first_response_minutes,
        "resolutionMinutes": policy.resolution_minutes,
        "warnBeforeMinutes": policy.warn_before_minutes,
        "escalationLevels": policy.escalation_levels,
        "active": policy.is_active,
        "businessCalendarId": policy.business_calendar_id,
    })
}

/// New values for a policy; `None` leaves a field, `Some(None)` clears the calendar.
#[derive(Debug, Clone, Default)]
pub struct PolicyChanges {
    pub name: Option<String>,
    pub first_response_minutes: Option<i32>,
    pub resolution_minutes: Option<i32>,
    pub warn_before_minutes: Option<i32>,
    pub escalation_levels: Option<Vec<Level>>,
    pub business_calendar_id: Option<Option<Uuid>>,
}

/// Changes a policy and re-measures its unfinished tickets, in one transaction.
pub async fn update<C>(
    db: &C,
    actor: &Actor,
    id: Uuid,
    changes: PolicyChanges,
    client: &ClientInfo,
) -> Result<sla_policy::Model>
where
    C: ConnectionTrait + TransactionTrait,
{
    access::require(actor.is_admin())?;
    let mut row = sla_policy::ActiveModel {
        id: Set(id),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    if let Some(name) = &changes.name {
        row.name = Set(validate_name(name)?);
    }
    if let Some(m) = changes.first_response_minutes {
        row.first_response_minutes = Set(validate_minutes("firstResponseMinutes", m, false)?);
    }
    if let Some(m) = changes.resolution_minutes {
        row.resolution_minutes = Set(validate_minutes("resolutionMinutes", m, false)?);
    }
    if let Some(m) = changes.warn_before_minutes {
        row.warn_before_minutes = Set(validate_minutes("warnBeforeMinutes", m, true)?);
    }
    if let Some(levels) = changes.escalation_levels {
        row.escalation_levels = Set(json!(validate_levels(db, levels).await?));
    }
    let txn = crate::db::begin_write(db).await?;
    let current = get(&txn, actor, id).await?;
    if let Some(calendar) = changes.business_calendar_id {
        require_calendar(&txn, calendar).await?;
        row.business_calendar_id = Set(calendar);
    }
    let updated = sla_policy::Entity::update(row).exec(&txn).await?;
    remeasure(&txn, id, Utc::now()).await?;
    crate::audit::admin_change(
        &txn,
        actor,
        "sla_policy.updated",
        format!("SLA policy {} changed", updated.name),
        fields(&current),
        fields(&updated),
        client,
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Takes a policy out of use for new tickets; its tickets keep being measured against it.
pub async fn deactivate(
    db: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
    client: &ClientInfo,
) -> Result<sla_policy::Model> {
    access::require(actor.is_admin())?;
    let current = get(db, actor, id).await?;
    let updated = sla_policy::Entity::update(sla_policy::ActiveModel {
        id: Set(id),
        is_active: Set(false),
        updated_at: Set(Utc::now()),
        ..Default::default()
    })
    .exec(db)
    .await?;
    crate::audit::admin_change(
        db,
        actor,
        "sla_policy.deactivated",
        format!("SLA policy {} deactivated", updated.name),
        fields(&current),
        fields(&updated),
        client,
    )
    .await?;
    Ok(updated)
}

#[derive(Debug, Clone)]
pub struct NewCalendar {
    pub name: String,
    pub time_zone: String,
    pub working_hours: Vec<Interval>,
    pub holidays: Vec<NaiveDate>,
}

fn check_calendar(zone: &str, hours: &[Interval], holidays: &[NaiveDate]) -> Result<()> {
    if holidays.len() > MAX_HOLIDAYS {
        return Err(Error::invalid(
            "holidays",
            format!("at most {MAX_HOLIDAYS} holidays"),
        ));
    }
    Calendar::new(zone, hours, holidays.iter().copied())
        .map(|_| ())
        .map_err(|e| Error::invalid(e.field, e.message))
}

pub async fn calendars(
    db: &impl ConnectionTrait,
    actor: &Actor,
) -> Result<Vec<business_calendar::Model>> {
    access::require(access::can_see_sla_policies(actor))?;
    Ok(business_calendar::Entity::find()
        .order_by_asc(business_calendar::Column::Name)
        .all(db)
        .await?)
}

pub async fn calendar(
    db: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
) -> Result<business_calendar::Model> {
    access::require(access::can_see_sla_policies(actor))?;
    business_calendar::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(Error::NotFound {
            entity: "business calendar",
        })
}

pub async fn create_calendar(
    db: &impl ConnectionTrait,
    actor: &Actor,
    new: NewCalendar,
) -> Result<business_calendar::Model> {
    access::require(actor.is_admin())?;
    let name = validate_name(&new.name)?;
    let zone = new.time_zone.trim().to_string();
    check_calendar(&zone, &new.working_hours, &new.holidays)?;
    let now = Utc::now();
    Ok(
        business_calendar::Entity::insert(business_calendar::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(name),
            time_zone: Set(zone),
            working_hours: Set(store_intervals(&new.working_hours)),
            holidays: Set(json!(new.holidays)),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_with_returning(db)
        .await?,
    )
}

#[derive(Debug, Clone, Default)]
pub struct CalendarChanges {
    pub name: Option<String>,
    pub time_zone: Option<String>,
    pub working_hours: Option<Vec<Interval>>,
    pub holidays: Option<Vec<NaiveDate>>,
}

/// Changes a calendar and re-measures the unfinished tickets of every policy that uses it.
pub async fn update_calendar<C>(
    db: &C,
    actor: &Actor,
    id: Uuid,
    changes: CalendarChanges,
) -> Result<business_calendar::Model>
where
    C: ConnectionTrait + TransactionTrait,
{
    access::require(actor.is_admin())?;
    let txn = crate::db::begin_write(db).await?;
    let current = calendar(&txn, actor, id).await?;
    let zone = changes
        .time_zone
        .map(|z| z.trim().to_string())
        .unwrap_or(current.time_zone.clone());
    let hours = changes
        .working_hours
        .unwrap_or_else(|| super::intervals_of(&current));
    let holidays = changes
        .holidays
        .unwrap_or_else(|| super::holidays_of(&current));
    check_calendar(&zone, &hours, &holidays)?;
    let now = Utc::now();
    let updated = business_calendar::Entity::update(business_calendar::ActiveModel {
        id: Set(id),
        name: Set(match &changes.name {
            Some(name) => validate_name(name)?,
            None => current.name.clone(),
        }),
        time_zone: Set(zone),
        working_hours: Set(store_intervals(&hours)),
        holidays: Set(json!(holidays)),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(&txn)
    .await?;
    let policies = sla_policy::Entity::find()
        .filter(sla_policy::Column::BusinessCalendarId.eq(id))
        .all(&txn)
        .await?;
    for policy in policies {
        remeasure(&txn, policy.id, now).await?;
    }
    txn.commit().await?;
    Ok(updated)
}
