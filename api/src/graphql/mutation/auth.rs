use async_graphql::{Context, Object, Result};

use crate::graphql::context::{Viewer, auth, client_info, db};
use crate::graphql::error::gql;
use crate::graphql::input::auth::{AuthLoginInput, AuthLogoutInput, AuthRefreshInput};
use crate::graphql::object::payload::{AuthLogoutPayload, AuthPayload};
use crate::graphql::object::user::User;

#[derive(Default)]
pub struct AuthMutation;

/// The payload of a new session, answered as the user who just signed in: fields of `user`
/// that only the user may see (`email`, `organizations`) resolve for them.
async fn payload(ctx: &Context<'_>, session: service::auth::Session) -> Result<AuthPayload> {
    let actor = service::auth::actor_for_user(db(ctx)?, session.user.id)
        .await
        .map_err(gql)?;
    if let Some(viewer) = ctx.data_opt::<Viewer>() {
        viewer.sign_in(actor);
    }
    Ok(AuthPayload {
        access_token: session.access_token,
        refresh_token: session.refresh_token,
        access_token_expires_at: session.access_token_expires_at,
        user: User(session.user),
    })
}

#[Object]
impl AuthMutation {
    /// Signs in with email and password. Five failures in a row lock the account for a while;
    /// a wrong password and an unknown email give the same error.
    async fn auth_login(&self, ctx: &Context<'_>, input: AuthLoginInput) -> Result<AuthPayload> {
        let session = service::auth::login(
            db(ctx)?,
            auth(ctx)?,
            &input.email,
            &input.password,
            &client_info(ctx),
        )
        .await
        .map_err(gql)?;
        payload(ctx, session).await
    }

    /// Trades a refresh token for a new access and refresh token. Each refresh token works
    /// once; presenting a used one again signs out every session descended from that login.
    async fn auth_refresh(
        &self,
        ctx: &Context<'_>,
        input: AuthRefreshInput,
    ) -> Result<AuthPayload> {
        let session = service::auth::refresh(
            db(ctx)?,
            auth(ctx)?,
            &input.refresh_token,
            &client_info(ctx),
        )
        .await
        .map_err(gql)?;
        payload(ctx, session).await
    }

    /// Ends the session the refresh token belongs to, on every device it was refreshed on.
    async fn auth_logout(
        &self,
        ctx: &Context<'_>,
        input: AuthLogoutInput,
    ) -> Result<AuthLogoutPayload> {
        service::auth::logout(db(ctx)?, &input.refresh_token, &client_info(ctx))
            .await
            .map_err(gql)?;
        Ok(AuthLogoutPayload { success: true })
    }
}
