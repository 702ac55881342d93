use async_graphql::{Context, Object, Result};

use crate::events::EventBus;
use crate::graphql::context::{actor, client_info, db, service_db};
use crate::graphql::id::{Kind, expect};
use crate::graphql::input::user::{UserCreateInput, UserPasswordChangeInput, UserUpdateInput};
use crate::graphql::object::payload::{
    UserCreatePayload, UserPasswordChangePayload, UserUpdatePayload, user_errors,
};

#[derive(Default)]
pub struct UserMutation;

#[Object]
impl UserMutation {
    /// Creates an approved account (administrators).
    async fn user_create(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account to create.")] input: UserCreateInput,
    ) -> Result<UserCreatePayload> {
        let viewer = &actor(ctx)?;
        let result = async {
            let organization_ids = input
                .organization_ids
                .iter()
                .map(|id| expect(Kind::Organization, id, "organizationIds"))
                .collect::<service::Result<Vec<_>>>()?;
            let new = service::user::NewUser {
                email: input.email,
                name: input.name,
                password: input.password,
                role: input.role.into(),
                is_approved: true,
            };
            service::user::create_as(
                service_db(ctx)?,
                viewer,
                new,
                &organization_ids,
                &client_info(ctx),
            )
            .await
        };
        UserCreatePayload::from_result(result.await)
    }

    /// Changes an account: its name (the user or an administrator); role, approval and
    /// locks (administrators). A role change, a lock or an unapproval ends every session of
    /// the account at once: its tokens are refused and its sockets close with 4403.
    async fn user_update(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user and their new values.")] input: UserUpdateInput,
    ) -> Result<UserUpdatePayload> {
        let viewer = &actor(ctx)?;
        let client = client_info(ctx);
        let result = async {
            let id = expect(Kind::User, &input.id, "id")?;
            let reason = input
                .lock_reason
                .take()
                .unwrap_or_else(|| "locked by an administrator".into());
            let changes = service::user::UserChanges {
                name: input.name,
                role: input.role.map(Into::into),
                approved: input.approved,
                lock: input.locked.map(|locked| locked.then_some(reason)),
            };
            let ends_sessions = changes.role.is_some()
                || changes.approved == Some(false)
                || matches!(changes.lock, Some(Some(_)));
            let updated =
                service::user::update_as(service_db(ctx)?, viewer, id, changes, &client).await?;
            if ends_sessions {
                // Sockets re-read the account and close only if their session really ended.
                ctx.data::<EventBus>()
                    .map_err(|e| service::Error::Internal(e.message))?
                    .end_sessions(id)
                    .await;
            }
            Ok(updated)
        };
        UserUpdatePayload::from_result(result.await)
    }

    /// Changes your own password. Every session, this one included, must sign in again.
    async fn user_password_change(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Your current password and the new one.")] input: UserPasswordChangeInput,
    ) -> Result<UserPasswordChangePayload> {
        let viewer = &actor(ctx)?;
        match service::user::change_password(
            db(ctx)?,
            crate::graphql::context::auth(ctx)?,
            viewer,
            &input.current_password,
            &input.new_password,
            &client_info(ctx),
        )
        .await
        {
            Ok(()) => {
                ctx.data::<EventBus>()?.end_sessions(viewer.user_id).await;
                Ok(UserPasswordChangePayload {
                    success: true,
                    user_errors: vec![],
                })
            }
            Err(err) => Ok(UserPasswordChangePayload {
                success: false,
                user_errors: user_errors(err)?,
            }),
        }
    }
}
