use crate::graphql::scalar::Timestamp;
use async_graphql::{ID, InputObject, MaybeUndefined};

use crate::graphql::enums::{
    OrderDirection, SlaStatus, TicketCategory, TicketOrderField, TicketPriority, TicketStatus,
};
use crate::graphql::id::{Kind, expect};

/// Which tickets to list. Fields combine with AND; list fields match any of their values.
#[derive(InputObject, Default, Clone)]
pub struct TicketFilter {
    /// Only tickets in any of these statuses.
    pub status: Option<Vec<TicketStatus>>,
    /// Only tickets of any of these priorities.
    pub priority: Option<Vec<TicketPriority>>,
    /// Only tickets of any of these categories.
    pub category: Option<Vec<TicketCategory>>,
    /// Only this organization's tickets (global ID).
    pub organization_id: Option<ID>,
    /// Only tickets assigned to this user (global ID).
    pub assignee_id: Option<ID>,
    /// Only tickets nobody is assigned to.
    pub unassigned: Option<bool>,
    /// Only tickets this user raised (global ID).
    pub requester_id: Option<ID>,
    /// Only tickets created after this instant (RFC 3339, not included).
    pub created_after: Option<Timestamp>,
    /// Only tickets created before this instant (RFC 3339, not included).
    pub created_before: Option<Timestamp>,
    /// Only tickets changed after this instant (RFC 3339, not included).
    pub updated_after: Option<Timestamp>,
    /// Only tickets last changed before this instant (RFC 3339, not included).
    pub updated_before: Option<Timestamp>,
    /// Words to find in the title, description or comments (all of them, in any order);
    /// results are then ranked by relevance — title matches first — whatever `orderBy` says.
    pub search: Option<String>,
    /// The resolution target's SLA status, any of.
    pub sla_status: Option<Vec<SlaStatus>>,
    /// Unfinished tickets whose resolution clock runs and is due before this instant,
    /// overdue ones included.
    pub resolution_due_before: Option<Timestamp>,
}

impl TicketFilter {
    pub fn into_service(self) -> service::Result<service::ticket::query::TicketFilter> {
        let id =
            |kind, value: Option<ID>, field| value.map(|v| expect(kind, &v, field)).transpose();
        Ok(service::ticket::query::TicketFilter {
            status: self
                .status
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            priority: self
                .priority
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            category: self
                .category
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            organization_id: id(Kind::Organization, self.organization_id, "organizationId")?,
            assignee_id: id(Kind::User, self.assignee_id, "assigneeId")?,
            unassigned: self.unassigned.unwrap_or(false),
            requester_id: id(Kind::User, self.requester_id, "requesterId")?,
            created_after: self.created_after.map(|at| at.0),
            created_before: self.created_before.map(|at| at.0),
            updated_after: self.updated_after.map(|at| at.0),
            updated_before: self.updated_before.map(|at| at.0),
            search: self.search,
            sla_status: self
                .sla_status
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            resolution_due_before: self.resolution_due_before.map(|at| at.0),
        })
    }
}

/// How to sort tickets; ties are broken by id, so pages never overlap.
#[derive(InputObject, Default, Clone, Copy)]
pub struct TicketOrder {
    /// What to sort by.
    #[graphql(default)]
    pub field: TicketOrderField,
    /// Which way to sort.
    #[graphql(default)]
    pub direction: OrderDirection,
}

impl From<TicketOrder> for service::ticket::query::TicketOrder {
    fn from(order: TicketOrder) -> Self {
        use service::ticket::query::TicketOrderField as F;
        Self {
            field: match order.field {
                TicketOrderField::CreatedAt => F::CreatedAt,
                TicketOrderField::UpdatedAt => F::UpdatedAt,
                TicketOrderField::Priority => F::Priority,
                TicketOrderField::Number => F::Number,
                TicketOrderField::FirstResponseDueAt => F::FirstResponseDueAt,
                TicketOrderField::ResolutionDueAt => F::ResolutionDueAt,
            },
            descending: order.direction == OrderDirection::Desc,
        }
    }
}

/// A new ticket.
#[derive(InputObject)]
pub struct TicketCreateInput {
    /// 1 to 200 characters.
    pub title: String,
    /// What the requester needs, in their words; at most 100,000 characters.
    #[graphql(default)]
    pub description: String,
    /// How urgent the ticket is; it picks the SLA policy.
    #[graphql(default_with = "TicketPriority::Medium")]
    pub priority: TicketPriority,
    /// What the ticket is about.
    #[graphql(default_with = "TicketCategory::Other")]
    pub category: TicketCategory,
    /// Required unless you belong to exactly one organization.
    pub organization_id: Option<ID>,
    /// Staff may file for a member of the organization; defaults to you.
    pub requester_id: Option<ID>,
    /// Any unique string of yours: retrying with the same key within 24 hours returns the
    /// ticket the first try created instead of a second one.
    pub idempotency_key: Option<String>,
    /// Files you uploaded (`attachmentUploadBegin` without a ticket) to attach to the ticket.
    #[graphql(default)]
    pub attachment_ids: Vec<ID>,
}

/// New values for a ticket's fields; omitted fields stay as they are.
#[derive(InputObject)]
pub struct TicketUpdateInput {
    /// The ticket's global ID.
    pub id: ID,
    /// The new title: 1 to 200 characters.
    pub title: Option<String>,
    /// The new description: at most 100,000 characters.
    pub description: Option<String>,
    /// The new priority; the ticket's SLA policy follows it.
    pub priority: Option<TicketPriority>,
    /// The new category.
    pub category: Option<TicketCategory>,
}

/// Who is to work on a ticket.
#[derive(InputObject)]
pub struct TicketAssignInput {
    /// The ticket's global ID.
    pub id: ID,
    /// The staff member to assign; null unassigns.
    pub assignee_id: MaybeUndefined<ID>,
}

/// A ticket's next status.
#[derive(InputObject)]
pub struct TicketTransitionInput {
    /// The ticket's global ID.
    pub id: ID,
    /// The status to move to; see `Ticket.availableTransitions`.
    pub to: TicketStatus,
    /// A public comment posted with the change, e.g. the resolution.
    pub comment: Option<String>,
}

/// The ticket to delete.
#[derive(InputObject)]
pub struct TicketDeleteInput {
    /// The ticket's global ID.
    pub id: ID,
}
