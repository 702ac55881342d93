use async_graphql::{Context, Object, Result};

use crate::graphql::context::{actor, client_info, service_db};
use crate::graphql::id::{Kind, expect};
use crate::graphql::input::sla::{
    BusinessCalendarCreateInput, BusinessCalendarUpdateInput, SlaPolicyCreateInput,
    SlaPolicyDeactivateInput, SlaPolicyUpdateInput,
};
use crate::graphql::object::payload::{
    BusinessCalendarPayload, EscalationAcknowledgePayload, SlaPolicyPayload,
};

/// The escalation you take.
#[derive(async_graphql::InputObject)]
pub struct EscalationAcknowledgeInput {
    /// The escalation's global ID.
    pub id: async_graphql::ID,
}

#[derive(Default)]
pub struct SlaMutation;

#[Object]
impl SlaMutation {
    /// Creates the active policy of a priority (administrators); the one active before is
    /// deactivated, and its tickets keep being measured against it.
    async fn sla_policy_create(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The policy to create.")] input: SlaPolicyCreateInput,
    ) -> Result<SlaPolicyPayload> {
        let viewer = &actor(ctx)?;
        let result = async {
            service::sla::admin::create(
                service_db(ctx)?,
                viewer,
                input.into_service()?,
                &client_info(ctx),
            )
            .await
        };
        SlaPolicyPayload::from_result(result.await)
    }

    /// Changes a policy (administrators); its unfinished tickets are re-measured.
    async fn sla_policy_update(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The policy and its new values.")] input: SlaPolicyUpdateInput,
    ) -> Result<SlaPolicyPayload> {
        let viewer = &actor(ctx)?;
        let result = async {
            let (id, changes) = input.into_service()?;
            service::sla::admin::update(service_db(ctx)?, viewer, id, changes, &client_info(ctx))
                .await
        };
        SlaPolicyPayload::from_result(result.await)
    }

    /// Takes an escalation (staff who may read its ticket): records you as the one who took it
    /// and stops its reminders. Taking it again changes nothing; the first one stays.
    async fn escalation_acknowledge(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The escalation to take.")] input: EscalationAcknowledgeInput,
    ) -> Result<EscalationAcknowledgePayload> {
        let viewer = &actor(ctx)?;
        let result = async {
            let id = expect(Kind::Escalation, &input.id, "id")?;
            service::sla::escalation::acknowledge(service_db(ctx)?, viewer, id).await
        };
        EscalationAcknowledgePayload::from_result(result.await)
    }

    /// Stops giving a policy to new tickets (administrators).
    async fn sla_policy_deactivate(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The policy to deactivate.")] input: SlaPolicyDeactivateInput,
    ) -> Result<SlaPolicyPayload> {
        let viewer = &actor(ctx)?;
        let result = async {
            let id = expect(Kind::SlaPolicy, &input.id, "id")?;
            service::sla::admin::deactivate(service_db(ctx)?, viewer, id, &client_info(ctx)).await
        };
        SlaPolicyPayload::from_result(result.await)
    }

    /// Creates a business calendar (administrators).
    async fn business_calendar_create(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The calendar to create.")] input: BusinessCalendarCreateInput,
    ) -> Result<BusinessCalendarPayload> {
        let viewer = &actor(ctx)?;
        let result = async {
            service::sla::admin::create_calendar(service_db(ctx)?, viewer, input.into_service()?)
                .await
        };
        BusinessCalendarPayload::from_result(result.await)
    }

    /// Changes a business calendar (administrators); tickets measured with it are re-measured.
    async fn business_calendar_update(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The calendar and its new values.")] input: BusinessCalendarUpdateInput,
    ) -> Result<BusinessCalendarPayload> {
        let viewer = &actor(ctx)?;
        let result = async {
            let (id, changes) = input.into_service()?;
            service::sla::admin::update_calendar(service_db(ctx)?, viewer, id, changes).await
        };
        BusinessCalendarPayload::from_result(result.await)
    }
}
