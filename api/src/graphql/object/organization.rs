use crate::graphql::scalar::Timestamp;
use async_graphql::{Context, ID, Object, Result};
use entity::organization;
use service::page::{KeyKind, PageRequest, Sort};

use super::page_info::slice;
use super::ticket_connection::TicketConnection;
use super::user::UserConnection;
use crate::graphql::context::{actor, loaders};
use crate::graphql::error::ResultExt;
use crate::graphql::extension::response_size::charge;
use crate::graphql::id::{Kind, encode, parse_cursor};
use crate::graphql::input::ticket::{TicketFilter, TicketOrder};
use crate::graphql::loader::organization_ticket_page;

/// A customer organization: its members raise tickets, its agents work them.
#[derive(Clone)]
pub struct Organization(pub std::sync::Arc<organization::Model>);

impl From<organization::Model> for Organization {
    fn from(model: organization::Model) -> Self {
        Self(std::sync::Arc::new(model))
    }
}

impl From<std::sync::Arc<organization::Model>> for Organization {
    fn from(model: std::sync::Arc<organization::Model>) -> Self {
        Self(model)
    }
}

/// A customer organization: its members raise tickets, its agents work them.
#[Object]
impl Organization {
    /// The organization's global ID.
    pub async fn id(&self) -> ID {
        encode(Kind::Organization, self.0.id)
    }

    /// The organization's name, unique regardless of case.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The organization's contact email address; null when not given.
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }

    /// The organization's contact phone number, as entered; null when not given.
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }

    /// The organization's postal address, free text; null when not given.
    async fn address(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        self.0
            .address
            .as_deref()
            .map(|v| charge(ctx, v))
            .transpose()
    }

    /// Free-text notes about the organization; null when not given.
    async fn description(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        self.0
            .description
            .as_deref()
            .map(|v| charge(ctx, v))
            .transpose()
    }

    /// The IANA zone of the organization's statistics days.
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }

    /// When the organization was created.
    async fn created_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }

    /// The people of this organization, by name. Clients see only the staff among them and
    /// themselves.
    #[graphql(complexity = "(first.clamp(0, 100) as usize) * child_complexity + 1")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default = 20,
            validator(minimum = 0),
            desc = "How many members to return; more than 100 is served as 100."
        )]
        first: i32,
        #[graphql(desc = "Return the members after this cursor (an edge cursor or `endCursor`).")]
        after: Option<String>,
    ) -> Result<UserConnection> {
        let viewer = &actor(ctx)?;
        let mut members = loaders(ctx)?
            .members
            .load_one(self.0.id)
            .await
            .gql()?
            .unwrap_or_default();
        members.retain(|m| service::access::can_see_member(viewer, m.id, m.role));
        let (page, total) = slice(
            members,
            first,
            after.as_deref(),
            KeyKind::Text,
            Sort::Ascending,
            service::user::position,
        )?;
        Ok(UserConnection::new(page, total))
    }

    /// This organization's tickets that you may see.
    #[allow(clippy::too_many_arguments)]
    #[graphql(
        complexity = "(first.or(last).unwrap_or(20).clamp(0, 100) as usize) * child_complexity + 1"
    )]
    async fn tickets(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the tickets that match.")] filter: Option<TicketFilter>,
        #[graphql(
            desc = "The order of the tickets; newest first (`CREATED_AT`, `DESC`) when null."
        )]
        order_by: Option<TicketOrder>,
        #[graphql(
            desc = "How many tickets to return from the start or after `after`, at most 100; \
                    20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(desc = "Return the tickets after this cursor (an edge cursor or `endCursor`).")]
        after: Option<String>,
        #[graphql(
            desc = "How many tickets to return from the end or before `before`, at most 100. \
                    Not with `first`."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Return the tickets before this cursor (an edge cursor or `startCursor`)."
        )]
        before: Option<String>,
    ) -> Result<TicketConnection> {
        let filter = filter.unwrap_or_default().into_service().gql()?;
        let page = PageRequest {
            first,
            after: after.map(|c| parse_cursor(&c, "after")).transpose().gql()?,
            last,
            before: before
                .map(|c| parse_cursor(&c, "before"))
                .transpose()
                .gql()?,
        };
        // Boxed: the page's future is the largest of the type's, and every field's future is
        // allocated and copied at that size (see `User`).
        Box::pin(organization_ticket_page(
            ctx,
            self.0.id,
            filter,
            order_by.unwrap_or_default().into(),
            page,
        ))
        .await
    }
}

super::page_info::connection!(
    /// A page of organizations, by name.
    OrganizationConnection,
    OrganizationEdge,
    Organization,
    organization::Model,
    service::organization::position,
    /// How many match in all.
    total_count: u64,
);
