use crate::graphql::scalar::Date;
use async_graphql::SimpleObject;

use crate::graphql::enums::{StatsInterval, TicketPriority, TicketStatus};

/// How many tickets are in one status now.
#[derive(SimpleObject, Clone)]
pub struct StatusCount {
    /// The status.
    pub status: TicketStatus,
    /// How many tickets are in it.
    pub count: i64,
}

/// How many tickets have one priority now.
#[derive(SimpleObject, Clone)]
pub struct PriorityCount {
    /// The priority.
    pub priority: TicketPriority,
    /// How many tickets have it.
    pub count: i64,
}

/// Ticket figures of a scope. `total`, `backlog`, `byStatus`, `byPriority` and `breached`
/// describe the tickets as they are now; the rest describe the period `from`..`to`.
#[derive(SimpleObject, Clone)]
pub struct TicketStats {
    /// The period's first local day.
    pub from: Date,
    /// The period's last local day (included).
    pub to: Date,
    /// Tickets now (not deleted).
    pub total: i64,
    /// Tickets created in the period.
    pub created: i64,
    /// Resolutions in the period (a ticket resolved again after a reopen counts again).
    pub resolved: i64,
    /// Reopens in the period.
    pub reopened: i64,
    /// Unfinished tickets now (neither RESOLVED nor CLOSED).
    pub backlog: i64,
    /// Tickets now, per status.
    pub by_status: Vec<StatusCount>,
    /// Tickets now, per priority.
    pub by_priority: Vec<PriorityCount>,
    /// Over the first responses given in the period, minutes from creation.
    pub avg_first_response_minutes: Option<f64>,
    /// Over the resolutions in the period, minutes from creation.
    pub avg_resolution_minutes: Option<f64>,
    /// Exact below 128 minutes, within 1.6% above.
    pub median_resolution_minutes: Option<f64>,
    /// The share (0 to 1) of the period's resolutions under an SLA policy that met their
    /// resolution target; null when there were none.
    pub sla_compliance: Option<f64>,
    /// Unfinished tickets whose resolution target has been marked breached.
    pub breached: i64,
}

impl TicketStats {
    pub fn of(scope: &service::stats::Scope, stats: service::stats::TicketStats) -> Self {
        Self {
            from: scope.from.into(),
            to: scope.to.into(),
            total: stats.total,
            created: stats.created,
            resolved: stats.resolved,
            reopened: stats.reopened,
            backlog: stats.backlog,
            by_status: stats
                .by_status
                .into_iter()
                .map(|(status, count)| StatusCount {
                    status: status.into(),
                    count,
                })
                .collect(),
            by_priority: stats
                .by_priority
                .into_iter()
                .map(|(priority, count)| PriorityCount {
                    priority: priority.into(),
                    count,
                })
                .collect(),
            avg_first_response_minutes: stats.avg_first_response_minutes,
            avg_resolution_minutes: stats.avg_resolution_minutes,
            median_resolution_minutes: stats.median_resolution_minutes,
            sla_compliance: stats.sla_compliance,
            breached: stats.breached,
        }
    }
}

/// One period of a series.
#[derive(SimpleObject, Clone)]
pub struct TicketStatsPoint {
    /// The first local day of the period.
    pub period_start: Date,
    /// Tickets created in the period.
    pub created: i64,
    /// Resolutions in the period (a ticket resolved again after a reopen counts again).
    pub resolved: i64,
    /// Over the resolutions in the period, minutes from creation; null when there were none.
    pub avg_resolution_minutes: Option<f64>,
    /// The share (0 to 1) of the period's resolutions under an SLA policy that met their
    /// resolution target; null when there were none.
    pub sla_compliance: Option<f64>,
}

/// Figures per period for charts; every period of the range is present, empty ones with 0.
#[derive(SimpleObject, Clone)]
pub struct TicketStatsSeries {
    /// The zone of the days: the organization's when the filter names one, else UTC.
    pub time_zone: String,
    /// The length of each period.
    pub interval: StatsInterval,
    /// The periods of the range, oldest first.
    pub points: Vec<TicketStatsPoint>,
}

impl From<service::stats::Series> for TicketStatsSeries {
    fn from(series: service::stats::Series) -> Self {
        Self {
            time_zone: series.time_zone,
            interval: series.interval.into(),
            points: series
                .points
                .into_iter()
                .map(|p| TicketStatsPoint {
                    period_start: p.period_start.into(),
                    created: p.created,
                    resolved: p.resolved,
                    avg_resolution_minutes: p.avg_resolution_minutes,
                    sla_compliance: p.sla_compliance,
                })
                .collect(),
        }
    }
}
