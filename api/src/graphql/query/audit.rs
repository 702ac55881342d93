use crate::graphql::scalar::Timestamp;
use async_graphql::{Context, ID, InputObject, Object, Result};

use crate::graphql::context::{actor, db};
use crate::graphql::error::ResultExt;
use crate::graphql::id::{Kind, expect};
use crate::graphql::object::audit::AuditEntryConnection;

#[derive(Default)]
pub struct AuditQuery;

/// Which audit entries to read.
#[derive(InputObject, Default)]
pub struct AuditLogFilter {
    /// Entries about this account, or made by it.
    pub user_id: Option<ID>,
    /// One action (`user.role_changed`), or every action of a kind with a trailing dot
    /// (`user.`, `2fa.`, `api_token.`).
    pub action: Option<String>,
    /// Entries about this ticket (global ID).
    pub ticket_id: Option<ID>,
    /// From this moment on (inclusive).
    pub from: Option<Timestamp>,
    /// Before this moment.
    pub to: Option<Timestamp>,
}

#[Object]
impl AuditQuery {
    /// The audit log (administrators), newest first: sign-ins and their failures, sessions,
    /// second factors, API tokens, password resets, and every administrative change with the
    /// values it replaced and set.
    #[graphql(complexity = "(first.clamp(0, 100) as usize) * child_complexity + 1")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the entries that match.")] filter: Option<AuditLogFilter>,
        #[graphql(
            default = 20,
            validator(minimum = 0),
            desc = "How many entries to return; more than 100 is served as 100."
        )]
        first: i32,
        #[graphql(desc = "Return the entries after this cursor (an edge cursor or `endCursor`).")]
        after: Option<String>,
    ) -> Result<AuditEntryConnection> {
        let first = service::page::capped(first);
        let viewer = &actor(ctx)?;
        let filter = filter.unwrap_or_default();
        let after = crate::graphql::object::notification::time_cursor(after.as_deref())?;
        let service_filter = async {
            Ok::<_, service::Error>(service::audit::AuditFilter {
                user_id: filter
                    .user_id
                    .as_ref()
                    .map(|id| expect(Kind::User, id, "filter.userId"))
                    .transpose()?,
                action: filter.action.clone(),
                ticket_id: filter
                    .ticket_id
                    .as_ref()
                    .map(|id| expect(Kind::Ticket, id, "filter.ticketId"))
                    .transpose()?,
                from: filter.from.map(|at| at.0),
                to: filter.to.map(|at| at.0),
            })
        }
        .await
        .gql()?;
        let rows = service::audit::list(db(ctx)?, viewer, &service_filter, first as u64, after)
            .await
            .gql()?;
        let mut page = service::page::Page::first_of(rows, first as usize);
        page.has_previous_page = after.is_some();
        Ok(AuditEntryConnection::new(page))
    }
}
