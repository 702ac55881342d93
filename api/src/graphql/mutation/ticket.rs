use async_graphql::{Context, MaybeUndefined, Object, Result};

use crate::graphql::context::{actor, db, service_db};
use crate::graphql::id::{Kind, expect};
use crate::graphql::input::ticket::{
    TicketAssignInput, TicketCreateInput, TicketDeleteInput, TicketTransitionInput,
    TicketUpdateInput,
};
use crate::graphql::object::payload::{
    TicketAssignPayload, TicketCreatePayload, TicketDeletePayload, TicketTransitionPayload,
    TicketUpdatePayload, user_errors,
};

#[derive(Default)]
pub struct TicketMutation;

#[Object]
impl TicketMutation {
    /// Raises a ticket. Clients raise them in their own organizations, for themselves.
    async fn ticket_create(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ticket to raise.")] input: TicketCreateInput,
    ) -> Result<TicketCreatePayload> {
        let viewer = &actor(ctx)?;
        let ids = (|| {
            let organization_id = input
                .organization_id
                .as_ref()
                .map(|id| expect(Kind::Organization, id, "organizationId"))
                .transpose()?;
            let requester_id = input
                .requester_id
                .as_ref()
                .map(|id| expect(Kind::User, id, "requesterId"))
                .transpose()?;
            let attachment_ids = super::comment::attachment_ids(&input.attachment_ids)?;
            Ok((organization_id, requester_id, attachment_ids))
        })();
        let (organization_id, requester_id, attachment_ids) = match ids {
            Ok(ids) => ids,
            Err(err) => {
                return Ok(TicketCreatePayload {
                    ticket: None,
                    user_errors: user_errors(err)?,
                });
            }
        };
        TicketCreatePayload::from_result(
            service::ticket::create_as(
                db(ctx)?,
                viewer,
                service::ticket::CreateTicket {
                    title: input.title,
                    description: input.description,
                    priority: input.priority.into(),
                    category: input.category.into(),
                    organization_id,
                    requester_id,
                    idempotency_key: input.idempotency_key,
                    attachments: super::comment::attaching(ctx, attachment_ids)?,
                },
            )
            .await,
        )
    }

    /// Edits a ticket's title, description, priority or category (staff).
    async fn ticket_update(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ticket and its new values.")] input: TicketUpdateInput,
    ) -> Result<TicketUpdatePayload> {
        let viewer = &actor(ctx)?;
        let result = async {
            let id = expect(Kind::Ticket, &input.id, "id")?;
            let changes = service::ticket::TicketChanges {
                title: input.title,
                description: input.description,
                priority: input.priority.map(Into::into),
                category: input.category.map(Into::into),
            };
            service::ticket::update(service_db(ctx)?, viewer, id, changes).await
        };
        TicketUpdatePayload::from_result(result.await)
    }

    /// Assigns a ticket to a staff member, or unassigns it with `assigneeId: null`.
    async fn ticket_assign(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ticket and its new assignee.")] input: TicketAssignInput,
    ) -> Result<TicketAssignPayload> {
        let viewer = &actor(ctx)?;
        let result = async {
            let id = expect(Kind::Ticket, &input.id, "id")?;
            let assignee = match &input.assignee_id {
                MaybeUndefined::Value(assignee) => {
                    Some(expect(Kind::User, assignee, "assigneeId")?)
                }
                MaybeUndefined::Null => None,
                // Leaving the field out must not unassign by accident.
                MaybeUndefined::Undefined => {
                    return Err(service::Error::invalid(
                        "assigneeId",
                        "give a user's ID to assign, or null to unassign",
                    ));
                }
            };
            service::ticket::assign(service_db(ctx)?, viewer, id, assignee).await
        };
        TicketAssignPayload::from_result(result.await)
    }

    /// Moves a ticket through its lifecycle; see `Ticket.availableTransitions`.
    async fn ticket_transition(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ticket and the status to move it to.")] input: TicketTransitionInput,
    ) -> Result<TicketTransitionPayload> {
        let viewer = &actor(ctx)?;
        let result = async {
            let id = expect(Kind::Ticket, &input.id, "id")?;
            service::ticket::transition(
                service_db(ctx)?,
                viewer,
                id,
                input.to.into(),
                input.comment,
            )
            .await
        };
        TicketTransitionPayload::from_result(result.await)
    }

    /// Deletes a ticket (administrators). It disappears from every list but stays on record.
    async fn ticket_delete(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ticket to delete.")] input: TicketDeleteInput,
    ) -> Result<TicketDeletePayload> {
        let viewer = &actor(ctx)?;
        let result = async {
            let id = expect(Kind::Ticket, &input.id, "id")?;
            service::ticket::soft_delete(service_db(ctx)?, viewer, id).await
        };
        TicketDeletePayload::from_result(result.await)
    }
}
