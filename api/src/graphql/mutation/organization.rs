use async_graphql::{Context, MaybeUndefined, Object, Result};

use crate::graphql::context::{actor, client_info, db, service_db};
use crate::graphql::id::{Kind, expect};
use crate::graphql::input::organization::{
    OrganizationCreateInput, OrganizationMemberAddInput, OrganizationMemberRemoveInput,
    OrganizationUpdateInput,
};
use crate::graphql::object::payload::{
    OrganizationCreatePayload, OrganizationMemberAddPayload, OrganizationMemberRemovePayload,
    OrganizationUpdatePayload,
};

#[derive(Default)]
pub struct OrganizationMutation;

fn optional(value: MaybeUndefined<String>) -> Option<Option<String>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

#[Object]
impl OrganizationMutation {
    /// Creates an organization (administrators).
    async fn organization_create(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The organization to create.")] input: OrganizationCreateInput,
    ) -> Result<OrganizationCreatePayload> {
        let viewer = &actor(ctx)?;
        let new = service::organization::NewOrganization {
            name: input.name,
            email: input.email,
            phone: input.phone,
            address: input.address,
            description: input.description,
            time_zone: input.time_zone,
        };
        OrganizationCreatePayload::from_result(
            service::organization::create_as(db(ctx)?, viewer, new, &client_info(ctx)).await,
        )
    }

    /// Edits an organization (administrators).
    async fn organization_update(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The organization and its new values.")] input: OrganizationUpdateInput,
    ) -> Result<OrganizationUpdatePayload> {
        let viewer = &actor(ctx)?;
        let result = async {
            let id = expect(Kind::Organization, &input.id, "id")?;
            let changes = service::organization::OrganizationChanges {
                name: input.name,
                email: optional(input.email),
                phone: optional(input.phone),
                address: optional(input.address),
                description: optional(input.description),
                time_zone: input.time_zone,
            };
            service::organization::update_as(
                service_db(ctx)?,
                viewer,
                id,
                changes,
                &client_info(ctx),
            )
            .await
        };
        OrganizationUpdatePayload::from_result(result.await)
    }

    /// Adds a user to an organization (administrators and superagents).
    async fn organization_member_add(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The organization and the user to add.")]
        input: OrganizationMemberAddInput,
    ) -> Result<OrganizationMemberAddPayload> {
        let viewer = &actor(ctx)?;
        let result = async {
            let organization_id =
                expect(Kind::Organization, &input.organization_id, "organizationId")?;
            let user_id = expect(Kind::User, &input.user_id, "userId")?;
            let db = service_db(ctx)?;
            service::organization::add_member_as(
                db,
                viewer,
                organization_id,
                user_id,
                &client_info(ctx),
            )
            .await?;
            service::organization::get(db, viewer, organization_id).await
        };
        OrganizationMemberAddPayload::from_result(result.await)
    }

    /// Removes a user from an organization (administrators and superagents).
    async fn organization_member_remove(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The organization and the user to remove.")]
        input: OrganizationMemberRemoveInput,
    ) -> Result<OrganizationMemberRemovePayload> {
        let viewer = &actor(ctx)?;
        let result = async {
            let organization_id =
                expect(Kind::Organization, &input.organization_id, "organizationId")?;
            let user_id = expect(Kind::User, &input.user_id, "userId")?;
            let db = service_db(ctx)?;
            service::organization::remove_member_as(
                db,
                viewer,
                organization_id,
                user_id,
                &client_info(ctx),
            )
            .await?;
            service::organization::get(db, viewer, organization_id).await
        };
        OrganizationMemberRemovePayload::from_result(result.await)
    }
}
