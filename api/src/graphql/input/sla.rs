use crate::graphql::scalar::Date;
use async_graphql::{ID, InputObject, MaybeUndefined};

use crate::graphql::enums::{Role, TicketPriority, Weekday};
use crate::graphql::id::{Kind, expect};

/// Whom a level notifies; resolved when the level fires, to the approved staff among them who
/// may read the ticket. Name at least one.
#[derive(InputObject, Clone)]
pub struct EscalationNotifyInput {
    /// Members of staff, by id (at most 50).
    #[graphql(default)]
    pub user_ids: Vec<ID>,
    /// Everyone of these staff roles.
    #[graphql(default)]
    pub roles: Vec<Role>,
    /// The staff members of the ticket's organization.
    #[graphql(default)]
    pub organization_agents: bool,
}

/// One step of an escalation ladder: when it fires after the breach, and whom it notifies.
#[derive(InputObject, Clone)]
pub struct EscalationLevelInput {
    /// 1, 2, 3, ... without gaps.
    pub level: i32,
    /// Working minutes after the breach (level 1 is written at the breach whatever it says).
    pub after_minutes: i64,
    /// Working minutes between reminders while nobody acknowledged the escalation and no
    /// higher level fired (at least 5); omitted: one notice.
    pub repeat_minutes: Option<i64>,
    /// Whom the level notifies.
    pub notify: EscalationNotifyInput,
}

impl EscalationLevelInput {
    fn into_service(self) -> service::Result<service::sla::Level> {
        let user_ids = self
            .notify
            .user_ids
            .iter()
            .map(|id| expect(Kind::User, id, "escalationLevels"))
            .collect::<service::Result<Vec<_>>>()?;
        Ok(service::sla::Level {
            level: self.level,
            after_minutes: self.after_minutes,
            repeat_minutes: self.repeat_minutes,
            notify: service::sla::Notify {
                user_ids,
                roles: self.notify.roles.into_iter().map(Into::into).collect(),
                organization_agents: self.notify.organization_agents,
            },
        })
    }
}

/// A new active policy for a priority; the one active before is deactivated.
#[derive(InputObject)]
pub struct SlaPolicyCreateInput {
    /// The policy's name: 1 to 100 characters.
    pub name: String,
    /// The priority of the tickets the policy applies to.
    pub priority: TicketPriority,
    /// The first-response target, in working minutes from the ticket's creation (1 minute to
    /// a year).
    pub first_response_minutes: i32,
    /// The resolution target, in working minutes the resolution clock runs (1 minute to a
    /// year).
    pub resolution_minutes: i32,
    /// 0 (the default) sends no warning.
    #[graphql(default)]
    pub warn_before_minutes: i32,
    /// The default ladder when omitted: the staff of the ticket's organization at the breach,
    /// superagents 60 working minutes later, administrators after 240; one notice each.
    pub escalation_levels: Option<Vec<EscalationLevelInput>>,
    /// Around the clock when omitted.
    pub business_calendar_id: Option<ID>,
}

fn ladder(
    levels: Option<Vec<EscalationLevelInput>>,
) -> service::Result<Option<Vec<service::sla::Level>>> {
    levels
        .map(|levels| {
            levels
                .into_iter()
                .map(EscalationLevelInput::into_service)
                .collect()
        })
        .transpose()
}

fn calendar_id(id: Option<ID>) -> service::Result<Option<uuid::Uuid>> {
    id.map(|id| expect(Kind::BusinessCalendar, &id, "businessCalendarId"))
        .transpose()
}

impl SlaPolicyCreateInput {
    pub fn into_service(self) -> service::Result<service::sla::admin::NewPolicy> {
        Ok(service::sla::admin::NewPolicy {
            name: self.name,
            priority: self.priority.into(),
            first_response_minutes: self.first_response_minutes,
            resolution_minutes: self.resolution_minutes,
            warn_before_minutes: self.warn_before_minutes,
            escalation_levels: ladder(self.escalation_levels)?,
            business_calendar_id: calendar_id(self.business_calendar_id)?,
        })
    }
}

/// New values; omitted fields stay, `businessCalendarId: null` counts around the clock. The
/// policy's unfinished tickets are re-measured in the same transaction.
#[derive(InputObject)]
pub struct SlaPolicyUpdateInput {
    /// The policy's global ID.
    pub id: ID,
    /// The new name: 1 to 100 characters.
    pub name: Option<String>,
    /// The new first-response target, in working minutes (1 minute to a year).
    pub first_response_minutes: Option<i32>,
    /// The new resolution target, in working minutes (1 minute to a year).
    pub resolution_minutes: Option<i32>,
    /// The new warning lead, in working minutes before a due date; 0 sends no warning.
    pub warn_before_minutes: Option<i32>,
    /// The new escalation ladder, replacing the whole of the old one.
    pub escalation_levels: Option<Vec<EscalationLevelInput>>,
    /// The new business calendar (global ID); null counts around the clock.
    pub business_calendar_id: MaybeUndefined<ID>,
}

impl SlaPolicyUpdateInput {
    pub fn into_service(self) -> service::Result<(uuid::Uuid, service::sla::admin::PolicyChanges)> {
        let id = expect(Kind::SlaPolicy, &self.id, "id")?;
        let business_calendar_id = match self.business_calendar_id {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(v) => Some(calendar_id(Some(v))?),
        };
        Ok((
            id,
            service::sla::admin::PolicyChanges {
                name: self.name,
                first_response_minutes: self.first_response_minutes,
                resolution_minutes: self.resolution_minutes,
                warn_before_minutes: self.warn_before_minutes,
                escalation_levels: ladder(self.escalation_levels)?,
                business_calendar_id,
            },
        ))
    }
}

/// A working interval of a weekday, in the calendar's local time.
#[derive(InputObject, Clone)]
pub struct WorkingIntervalInput {
    /// The weekday the interval is on.
    pub day: Weekday,
    /// `HH:MM`, local time.
    pub from: String,
    /// `HH:MM`, up to `24:00`.
    pub to: String,
}

fn intervals(input: Vec<WorkingIntervalInput>) -> service::Result<Vec<service::sla::Interval>> {
    input
        .into_iter()
        .map(|i| {
            let minute = |text: &str| {
                service::sla::hours::parse_minute(text).ok_or_else(|| {
                    service::Error::invalid("workingHours", format!("{text:?} is not HH:MM"))
                })
            };
            Ok(service::sla::Interval {
                day: i.day.into(),
                from: minute(&i.from)?,
                to: minute(&i.to)?,
            })
        })
        .collect()
}

/// A new business calendar.
#[derive(InputObject)]
pub struct BusinessCalendarCreateInput {
    /// The calendar's name: 1 to 100 characters.
    pub name: String,
    /// An IANA zone name, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// The working intervals; a weekday without any has no working time.
    pub working_hours: Vec<WorkingIntervalInput>,
    /// Local dates without working time (`YYYY-MM-DD`; at most 1,000).
    #[graphql(default)]
    pub holidays: Vec<Date>,
}

impl BusinessCalendarCreateInput {
    pub fn into_service(self) -> service::Result<service::sla::admin::NewCalendar> {
        Ok(service::sla::admin::NewCalendar {
            name: self.name,
            time_zone: self.time_zone,
            working_hours: intervals(self.working_hours)?,
            holidays: self.holidays.into_iter().map(|d| d.0).collect(),
        })
    }
}

/// New values; omitted fields stay. Tickets measured with the calendar are re-measured.
#[derive(InputObject)]
pub struct BusinessCalendarUpdateInput {
    /// The calendar's global ID.
    pub id: ID,
    /// The new name: 1 to 100 characters.
    pub name: Option<String>,
    /// The new IANA zone name, e.g. `Europe/Berlin`.
    pub time_zone: Option<String>,
    /// The new working intervals, replacing all the old ones.
    pub working_hours: Option<Vec<WorkingIntervalInput>>,
    /// The new holidays (`YYYY-MM-DD`; at most 1,000), replacing all the old ones.
    pub holidays: Option<Vec<Date>>,
}

impl BusinessCalendarUpdateInput {
    pub fn into_service(
        self,
    ) -> service::Result<(uuid::Uuid, service::sla::admin::CalendarChanges)> {
        let id = expect(Kind::BusinessCalendar, &self.id, "id")?;
        Ok((
            id,
            service::sla::admin::CalendarChanges {
                name: self.name,
                time_zone: self.time_zone,
                working_hours: self.working_hours.map(intervals).transpose()?,
                holidays: self
                    .holidays
                    .map(|days| days.into_iter().map(|d| d.0).collect()),
            },
        ))
    }
}

/// The policy to stop giving to new tickets.
#[derive(InputObject)]
pub struct SlaPolicyDeactivateInput {
    /// The policy's global ID.
    pub id: ID,
}
