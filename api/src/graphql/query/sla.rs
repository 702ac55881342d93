use async_graphql::{Context, Object, Result};

use crate::graphql::context::{actor, db};
use crate::graphql::enums::SlaTarget;
use crate::graphql::error::ResultExt;
use crate::graphql::id::{Kind, expect};
use crate::graphql::object::escalation::EscalationConnection;
use crate::graphql::object::page_info::slice;
use crate::graphql::object::sla::{BusinessCalendarConnection, SlaPolicyConnection};
use service::page::{KeyKind, Sort};

/// Which escalations to list.
#[derive(async_graphql::InputObject, Default)]
pub struct EscalationFilter {
    /// True: nobody acknowledged it and its target is still unmet; false: the others;
    /// omitted or null: all. Without a filter the open ones are listed.
    pub open: Option<bool>,
    /// Only this ticket's escalations (global ID).
    pub ticket_id: Option<async_graphql::ID>,
    /// Only the escalations of this SLA target.
    pub target: Option<SlaTarget>,
    /// Only the escalations of this level of the ladder (1, 2, 3, ...).
    pub level: Option<i32>,
}

#[derive(Default)]
pub struct SlaQuery;

#[Object]
impl SlaQuery {
    /// The SLA policies (staff): the active ones, and with `includeInactive` the retired ones
    /// that tickets may still be measured against; active first, then the most urgent priority
    /// first, then the newest first.
    #[graphql(complexity = "(first.clamp(0, 100) as usize) * child_complexity + 1")]
    async fn sla_policies(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default,
            desc = "Also list the policies no longer given to new tickets."
        )]
        include_inactive: bool,
        #[graphql(
            default = 20,
            validator(minimum = 0),
            desc = "How many policies to return; more than 100 is served as 100."
        )]
        first: i32,
        #[graphql(desc = "Return the policies after this cursor (an edge cursor or `endCursor`).")]
        after: Option<String>,
    ) -> Result<SlaPolicyConnection> {
        let viewer = actor(ctx)?;
        let policies = service::sla::admin::list(db(ctx)?, &viewer, include_inactive)
            .await
            .gql()?;
        let (page, total) = slice(
            policies,
            first,
            after.as_deref(),
            KeyKind::Text,
            Sort::Ascending,
            service::sla::admin::position,
        )?;
        Ok(SlaPolicyConnection::new(page, total))
    }

    /// The escalations of the tickets you may read (staff), newest first: by default the open
    /// ones, which nobody acknowledged and whose target is still unmet.
    #[graphql(complexity = "(first.clamp(0, 100) as usize) * child_complexity + 1")]
    async fn escalations(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Which escalations to list; when null, the open ones nobody acknowledged yet."
        )]
        filter: Option<EscalationFilter>,
        #[graphql(
            default = 20,
            validator(minimum = 0),
            desc = "How many escalations to return; more than 100 is served as 100."
        )]
        first: i32,
        #[graphql(
            desc = "Return the escalations after this cursor (an edge cursor or `endCursor`)."
        )]
        after: Option<String>,
    ) -> Result<EscalationConnection> {
        let first = service::page::capped(first);
        let viewer = &actor(ctx)?;
        let filter = filter.unwrap_or(EscalationFilter {
            open: Some(true),
            ..Default::default()
        });
        let after = crate::graphql::object::notification::time_cursor(after.as_deref())?;
        let ticket_id = filter
            .ticket_id
            .as_ref()
            .map(|id| expect(Kind::Ticket, id, "filter.ticketId"))
            .transpose()
            .gql()?;
        let rows = service::sla::escalation::list(
            db(ctx)?,
            viewer,
            &service::sla::escalation::EscalationFilter {
                open: filter.open,
                ticket_id,
                target: filter.target.map(Into::into),
                level: filter.level,
            },
            first as u64,
            after,
        )
        .await
        .gql()?;
        let mut page = service::page::Page::first_of(rows, first as usize);
        page.has_previous_page = after.is_some();
        Ok(EscalationConnection::new(page))
    }

    /// The business calendars (staff), by name.
    #[graphql(complexity = "(first.clamp(0, 100) as usize) * child_complexity + 1")]
    async fn business_calendars(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default = 20,
            validator(minimum = 0),
            desc = "How many calendars to return; more than 100 is served as 100."
        )]
        first: i32,
        #[graphql(
            desc = "Return the calendars after this cursor (an edge cursor or `endCursor`)."
        )]
        after: Option<String>,
    ) -> Result<BusinessCalendarConnection> {
        let viewer = actor(ctx)?;
        let calendars = service::sla::admin::calendars(db(ctx)?, &viewer)
            .await
            .gql()?;
        let (page, total) = slice(
            calendars,
            first,
            after.as_deref(),
            KeyKind::Text,
            Sort::Ascending,
            service::sla::admin::calendar_position,
        )?;
        Ok(BusinessCalendarConnection::new(page, total))
    }
}
