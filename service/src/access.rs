//! Who may see and do what, decided once for every entry point.
//!
//! - ADMIN: everything. SUPERAGENT: every ticket of every organization.
//! - AGENT: tickets of their organizations and tickets assigned to them.
//! - CLIENT: the tickets they requested; never internal comments.
//!
//! A ticket the actor may not read does not exist for them (`NOT_FOUND`); one they may read
//! but not change is `FORBIDDEN`. List queries apply [`ticket_scope`] in SQL.

use entity::enums::Role;
use entity::{comment, ticket};
use sea_orm::{ColumnTrait, Condition};

use crate::actor::Actor;
use crate::{Error, Result};

/// The SQL condition selecting the (not deleted) tickets `actor` may read.
pub fn ticket_scope(actor: &Actor) -> Condition {
    let live = Condition::all().add(ticket::Column::DeletedAt.is_null());
    match actor.role {
        Role::Admin | Role::Superagent => live,
        Role::Agent => live.add(
            Condition::any()
                .add(ticket::Column::OrganizationId.is_in(actor.organization_ids.clone()))
                .add(ticket::Column::AssigneeId.eq(actor.user_id)),
        ),
        Role::Client => live.add(ticket::Column::RequesterId.eq(actor.user_id)),
    }
}

/// Whether `actor` may learn anything of internal notes: their text, that they exist, when
/// they were written. Only staff; every place that shows comments, events, counts, search
/// results or sequence numbers asks this.
pub fn sees_internal_notes(actor: &Actor) -> bool {
    actor.is_staff()
}

/// The SQL condition selecting the comments `actor` may read on tickets they may read.
pub fn comment_scope(actor: &Actor) -> Condition {
    if sees_internal_notes(actor) {
        Condition::all()
    } else {
        Condition::all().add(comment::Column::IsInternal.eq(false))
    }
}

/// Whether `actor` may see an event (about an internal note when `internal`) of a ticket they
/// may read.
pub fn can_see_event(actor: &Actor, internal: bool) -> bool {
    !internal || sees_internal_notes(actor)
}

/// Whether `actor` may see SLA policies and business calendars (names, warnings, escalation
/// ladders): staff. Clients see a ticket's targets and due dates only.
pub fn can_see_sla_policies(actor: &Actor) -> bool {
    actor.is_staff()
}

/// Whether `viewer` may see a user's email address and account state: staff, and the user.
pub fn can_see_account_details(viewer: &Actor, user_id: uuid::Uuid) -> bool {
    viewer.is_staff() || viewer.user_id == user_id
}

/// Whether `viewer` may see a member of an organization they see: staff see everyone, clients
/// the staff and themselves (not the organization's other customers).
pub fn can_see_member(viewer: &Actor, member_id: uuid::Uuid, member_role: Role) -> bool {
    viewer.is_staff() || member_role.is_staff() || member_id == viewer.user_id
}

pub fn can_read(actor: &Actor, ticket: &ticket::Model) -> bool {
    if ticket.deleted_at.is_some() {
        return false;
    }
    match actor.role {
        Role::Admin | Role::Superagent => true,
        Role::Agent => {
            actor.belongs_to(ticket.organization_id) || ticket.assignee_id == Some(actor.user_id)
        }
        Role::Client => ticket.requester_id == actor.user_id,
    }
}

/// The ticket if `actor` may read it; otherwise it does not exist for them.
pub fn readable(actor: &Actor, ticket: Option<ticket::Model>) -> Result<ticket::Model> {
    ticket
        .filter(|t| can_read(actor, t))
        .ok_or(Error::NotFound { entity: "ticket" })
}

/// Edit title, description, priority and category; transition freely.
pub fn can_update(actor: &Actor, ticket: &ticket::Model) -> bool {
    actor.is_staff() && can_read(actor, ticket)
}

/// Assign and unassign. Agents assign within the organizations they belong to.
pub fn can_assign(actor: &Actor, ticket: &ticket::Model) -> bool {
    match actor.role {
        Role::Admin | Role::Superagent => can_read(actor, ticket),
        Role::Agent => can_read(actor, ticket) && actor.belongs_to(ticket.organization_id),
        Role::Client => false,
    }
}

pub fn can_comment(actor: &Actor, ticket: &ticket::Model) -> bool {
    can_read(actor, ticket)
}

pub fn can_comment_internal(actor: &Actor, ticket: &ticket::Model) -> bool {
    actor.is_staff() && can_read(actor, ticket)
}

/// Whether the actor may move the ticket at all (which edges: see [`crate::lifecycle`]).
pub fn can_transition(actor: &Actor, ticket: &ticket::Model) -> bool {
    can_read(actor, ticket)
}

pub fn can_delete(actor: &Actor, ticket: &ticket::Model) -> bool {
    actor.is_admin() && can_read(actor, ticket)
}

/// Create a ticket in this organization.
pub fn can_create_in(actor: &Actor, organization_id: uuid::Uuid) -> bool {
    actor.sees_everything() || actor.belongs_to(organization_id)
}

pub fn require(allowed: bool) -> Result<()> {
    if allowed {
        Ok(())
    } else {
        Err(Error::Forbidden)
    }
}
