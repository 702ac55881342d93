use crate::graphql::scalar::Date;
use async_graphql::{ID, InputObject};

use crate::graphql::id::{Kind, expect};

/// Which tickets and which days. Days are the organization's local days (UTC across
/// organizations); `from` and `to` are both included, and default to the last 30 days.
#[derive(InputObject, Default, Clone)]
pub struct TicketStatsFilter {
    /// Only this organization's tickets (global ID); every organization you may see when null.
    pub organization_id: Option<ID>,
    /// The figures of tickets while assigned to this agent.
    pub agent_id: Option<ID>,
    /// The first day of the period (`YYYY-MM-DD`).
    pub from: Option<Date>,
    /// The last day of the period (`YYYY-MM-DD`), included.
    pub to: Option<Date>,
}

impl TicketStatsFilter {
    pub fn into_service(self) -> service::Result<service::stats::StatsFilter> {
        Ok(service::stats::StatsFilter {
            organization_id: self
                .organization_id
                .map(|id| expect(Kind::Organization, &id, "organizationId"))
                .transpose()?,
            agent_id: self
                .agent_id
                .map(|id| expect(Kind::User, &id, "agentId"))
                .transpose()?,
            from: self.from.map(|d| d.0),
            to: self.to.map(|d| d.0),
        })
    }
}
