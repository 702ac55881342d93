use crate::graphql::scalar::Timestamp;
use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::Utc;
use entity::{business_calendar, sla_policy};

use crate::graphql::context::{actor, db};
use crate::graphql::enums::{Role, SlaStatus, TicketPriority, Weekday};
use crate::graphql::error::ResultExt;
use crate::graphql::id::{Kind, encode};

/// A ticket's service levels: its first-response and resolution targets, measured against
/// its policy. Null on a ticket whose priority has no policy.
#[derive(SimpleObject, Clone)]
pub struct TicketSla {
    /// The first-response target and where it stands.
    pub first_response: SlaClock,
    /// The resolution target and where it stands.
    pub resolution: SlaResolutionClock,
    /// The policy the ticket is measured against; staff only (null for clients, who see the
    /// targets and due dates).
    pub policy: Option<SlaPolicy>,
}

/// The first-response target: met by the first public reply of staff.
#[derive(SimpleObject, Clone)]
pub struct SlaClock {
    /// The target, in working minutes from the ticket's creation.
    pub target_minutes: i32,
    /// When the first response is due.
    pub due_at: Timestamp,
    /// Where the target stands.
    pub status: SlaStatus,
    /// Working minutes left, negative when overdue; null once finished.
    pub remaining_minutes: Option<i64>,
}

/// The resolution target. The clock stands still while the ticket waits for the customer
/// (PENDING_INFO) and while it is resolved; that time moves the due date later and is kept
/// when the priority (and so the policy) changes.
#[derive(SimpleObject, Clone)]
pub struct SlaResolutionClock {
    /// The target, in working minutes the clock runs.
    pub target_minutes: i32,
    /// While paused: the due date if the clock resumed now.
    pub due_at: Timestamp,
    /// Where the target stands.
    pub status: SlaStatus,
    /// Working minutes left, negative when overdue, frozen while paused; null once finished.
    pub remaining_minutes: Option<i64>,
    /// Working minutes the clock stood still so far.
    pub paused_minutes: i64,
}

impl TicketSla {
    /// The ticket's clocks as `viewer` may see them.
    pub fn of(
        measure: &service::sla::Measure,
        ticket: &entity::ticket::Model,
        viewer: &service::actor::Actor,
    ) -> Self {
        let evaluation = measure.evaluate(ticket, Utc::now());
        let first = evaluation.first_response;
        let resolution = evaluation.resolution;
        Self {
            first_response: SlaClock {
                target_minutes: measure.policy.first_response_minutes,
                due_at: Timestamp(first.due_at),
                status: first.status.into(),
                remaining_minutes: first.remaining_minutes,
            },
            resolution: SlaResolutionClock {
                target_minutes: measure.policy.resolution_minutes,
                due_at: Timestamp(resolution.due_at),
                status: resolution.status.into(),
                remaining_minutes: resolution.remaining_minutes,
                paused_minutes: resolution.paused_minutes,
            },
            policy: service::access::can_see_sla_policies(viewer)
                .then(|| SlaPolicy(measure.policy.clone())),
        }
    }
}

/// One step of an escalation ladder.
#[derive(SimpleObject, Clone)]
pub struct EscalationLevel {
    /// The step's number: 1, 2, 3, ... in the order the steps fire.
    pub level: i32,
    /// Working minutes after the breach.
    pub after_minutes: i64,
    /// Working minutes between reminders while nobody acknowledged the escalation and no
    /// higher level fired; null: one notice.
    pub repeat_minutes: Option<i64>,
    /// Whom the level notifies.
    pub notify: EscalationNotify,
}

/// Whom an escalation level notifies: resolved when it fires, to the approved staff among
/// them who may read the ticket then.
#[derive(Clone)]
pub struct EscalationNotify(pub service::sla::Notify);

/// Whom an escalation level notifies: resolved when it fires, to the approved staff among
/// them who may read the ticket then.
#[Object]
impl EscalationNotify {
    /// Members of staff named by id.
    async fn users(&self, ctx: &Context<'_>) -> Result<Vec<super::user::User>> {
        let users = crate::graphql::context::loaders(ctx)?
            .users
            .load_many(self.0.user_ids.iter().copied())
            .await
            .gql()?;
        Ok(self
            .0
            .user_ids
            .iter()
            .filter_map(|id| users.get(id).cloned().map(super::user::User))
            .collect())
    }

    /// Everyone of these roles.
    async fn roles(&self) -> Vec<Role> {
        self.0.roles.iter().map(|r| (*r).into()).collect()
    }

    /// The staff members of the ticket's organization.
    async fn organization_agents(&self) -> bool {
        self.0.organization_agents
    }
}

/// Targets for the tickets of one priority.
#[derive(Clone)]
pub struct SlaPolicy(pub sla_policy::Model);

/// Targets for the tickets of one priority.
#[Object]
impl SlaPolicy {
    /// The policy's global ID.
    pub async fn id(&self) -> ID {
        encode(Kind::SlaPolicy, self.0.id)
    }

    /// The policy's name, for people.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The priority of the tickets the policy applies to.
    async fn priority(&self) -> TicketPriority {
        self.0.priority.into()
    }

    /// The first-response target, in working minutes from the ticket's creation.
    async fn first_response_minutes(&self) -> i32 {
        self.0.first_response_minutes
    }

    /// The resolution target, in working minutes the resolution clock runs.
    async fn resolution_minutes(&self) -> i32 {
        self.0.resolution_minutes
    }

    /// How long before a due date `sla.warning` goes out; 0 for no warning.
    async fn warn_before_minutes(&self) -> i32 {
        self.0.warn_before_minutes
    }

    /// Level 1 is written at the breach; each further level its `afterMinutes` later.
    async fn escalation_levels(&self) -> Vec<EscalationLevel> {
        service::sla::ladder_of(&self.0)
            .into_iter()
            .map(|l| EscalationLevel {
                level: l.level,
                after_minutes: l.after_minutes,
                repeat_minutes: l.repeat_minutes,
                notify: EscalationNotify(l.notify),
            })
            .collect()
    }

    /// Only active policies are given to new tickets; a ticket keeps the policy it got.
    async fn active(&self) -> bool {
        self.0.is_active
    }

    /// The working time counted; null means around the clock.
    async fn business_calendar(&self, ctx: &Context<'_>) -> Result<Option<BusinessCalendar>> {
        let Some(id) = self.0.business_calendar_id else {
            return Ok(None);
        };
        let viewer = actor(ctx)?;
        Ok(Some(BusinessCalendar(
            service::sla::admin::calendar(db(ctx)?, &viewer, id)
                .await
                .gql()?,
        )))
    }

    /// When the policy was created.
    async fn created_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }

    /// When the policy last changed.
    async fn updated_at(&self) -> Timestamp {
        Timestamp(self.0.updated_at)
    }
}

/// A working interval of a weekday, in the calendar's local time (`09:00` to `17:00`).
#[derive(SimpleObject, Clone)]
pub struct WorkingInterval {
    /// The weekday the interval is on.
    pub day: Weekday,
    /// The start, `HH:MM`.
    pub from: String,
    /// Up to `24:00`.
    pub to: String,
}

/// Working time: a time zone, working intervals per weekday, and holidays.
#[derive(Clone)]
pub struct BusinessCalendar(pub business_calendar::Model);

/// Working time: a time zone, working intervals per weekday, and holidays.
#[Object]
impl BusinessCalendar {
    /// The calendar's global ID.
    pub async fn id(&self) -> ID {
        encode(Kind::BusinessCalendar, self.0.id)
    }

    /// The calendar's name, for people.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// An IANA zone name, e.g. `Europe/Berlin`; daylight-saving changes are followed.
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }

    /// The working intervals, by weekday; a weekday without any has no working time.
    async fn working_hours(&self) -> Vec<WorkingInterval> {
        service::sla::intervals_of(&self.0)
            .into_iter()
            .map(|i| WorkingInterval {
                day: i.day.into(),
                from: service::sla::hours::format_minute(i.from),
                to: service::sla::hours::format_minute(i.to),
            })
            .collect()
    }

    /// Local dates without working time.
    async fn holidays(&self) -> Vec<crate::graphql::scalar::Date> {
        service::sla::holidays_of(&self.0)
            .into_iter()
            .map(Into::into)
            .collect()
    }

    /// When the calendar was created.
    async fn created_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }

    /// When the calendar last changed.
    async fn updated_at(&self) -> Timestamp {
        Timestamp(self.0.updated_at)
    }
}

super::page_info::connection!(
    /// A page of SLA policies: the active ones first, then the most urgent priority first,
    /// then the newest first.
    SlaPolicyConnection,
    SlaPolicyEdge,
    SlaPolicy,
    sla_policy::Model,
    service::sla::admin::position,
    /// How many policies there are in all.
    total_count: u64,
);

super::page_info::connection!(
    /// A page of business calendars, by name.
    BusinessCalendarConnection,
    BusinessCalendarEdge,
    BusinessCalendar,
    business_calendar::Model,
    service::sla::admin::calendar_position,
    /// How many calendars there are in all.
    total_count: u64,
);
