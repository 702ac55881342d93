use crate::graphql::scalar::Timestamp;
use async_graphql::{Context, Object, Result};

use crate::graphql::context::{SignedIn, Viewer, actor, auth, client_info, db, service_db};
use crate::graphql::error::gql;
use crate::graphql::id::{Kind, expect};
use crate::graphql::input::auth::{
    ApiTokenCreateInput, ApiTokenRevokeInput, AuthLoginInput, AuthLogoutInput,
    AuthPasswordResetInput, AuthPasswordResetRequestInput, AuthRefreshInput, AuthSecondFactorInput,
    SessionRevokeInput, TwoFactorDisableInput, TwoFactorEnrollBeginInput,
    TwoFactorEnrollConfirmInput, TwoFactorResetInput, UserPasswordResetSendInput,
};
use crate::graphql::object::payload::{
    ApiTokenCreatePayload, AuthLogoutPayload, AuthPayload, SessionRevokeOthersPayload,
    SuccessPayload, TwoFactorEnrollBeginPayload, TwoFactorEnrollConfirmPayload, user_errors,
};
use crate::graphql::object::user::User;

#[derive(Default)]
pub struct AuthMutation;

/// The payload of a new session, answered as the user who just signed in: fields of `user`
/// that only the user may see (`email`, `organizations`) resolve for them.
async fn payload(ctx: &Context<'_>, session: service::auth::Session) -> Result<AuthPayload> {
    let actor = service::auth::actor_for_user(db(ctx)?, session.user.id)
        .await
        .map_err(gql)?;
    if let Some(signed_in) = ctx.data_opt::<SignedIn>()
        && let Some(claims) = auth(ctx)
            .ok()
            .and_then(|auth| auth.verify_access_token(&session.access_token).ok())
    {
        // The account as a check of the new token finds it: of the token's sign-in.
        let mut known = actor.clone();
        known.session_id = claims.sid;
        signed_in.record(session.access_token.clone(), known);
    }
    if let Some(viewer) = ctx.data_opt::<Viewer>() {
        viewer.sign_in(actor);
    }
    Ok(AuthPayload {
        access_token: Some(session.access_token),
        refresh_token: Some(session.refresh_token),
        access_token_expires_at: Some(Timestamp(session.access_token_expires_at)),
        user: Some(User::from(session.user)),
        ..Default::default()
    })
}

fn keyring<'a>(ctx: &'a Context<'_>) -> Result<&'a service::crypto::Keyring> {
    Ok(ctx
        .data::<std::sync::Arc<service::crypto::Keyring>>()
        .map_err(|_| {
            gql(service::Error::Internal(
                "the schema has no data keyring".into(),
            ))
        })?
        .as_ref())
}

#[Object]
impl AuthMutation {
    /// Signs in with email and password. Five failures in a row lock the account for a while;
    /// a wrong password and an unknown email give the same error.
    async fn auth_login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The email and password to sign in with.")] input: AuthLoginInput,
    ) -> Result<AuthPayload> {
        let login = service::auth::login(
            db(ctx)?,
            auth(ctx)?,
            &input.email,
            &input.password,
            &client_info(ctx),
        )
        .await
        .map_err(gql)?;
        match login {
            service::auth::Login::Session(session) => payload(ctx, session).await,
            service::auth::Login::Challenge(challenge) => Ok(AuthPayload {
                second_factor_required: !challenge.enrollment,
                enrollment_required: challenge.enrollment,
                challenge: Some(challenge.token),
                challenge_expires_at: Some(Timestamp(challenge.expires_at)),
                ..Default::default()
            }),
        }
    }

    /// Finishes a sign-in that asked for a second factor: the challenge `authLogin` answered,
    /// and a current code from the authenticator or one of the recovery codes. A code works
    /// once; wrong codes count toward the lockout as wrong passwords do.
    async fn auth_second_factor(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The challenge and a code.")] input: AuthSecondFactorInput,
    ) -> Result<AuthPayload> {
        let proof = input.proof().map_err(gql)?;
        let session = service::auth::second_factor(
            db(ctx)?,
            auth(ctx)?,
            keyring(ctx)?,
            &input.challenge,
            proof,
            &client_info(ctx),
        )
        .await
        .map_err(gql)?;
        payload(ctx, session).await
    }

    /// Starts setting up two-factor sign-in: signed in, or with the enrolment challenge of a
    /// role that must have it. Starting again replaces a secret not confirmed yet; `CONFLICT`
    /// while it is on.
    async fn two_factor_enroll_begin(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The enrolment challenge, when not signed in; null when signed in.")]
        input: Option<TwoFactorEnrollBeginInput>,
    ) -> Result<TwoFactorEnrollBeginPayload> {
        let input = input.unwrap_or_default();
        let (db, auth, keyring) = (db(ctx)?, auth(ctx)?, keyring(ctx)?);
        let viewer = match &input.challenge {
            Some(_) => None,
            None => Some(actor(ctx)?),
        };
        let result = async {
            let account = match (&input.challenge, viewer) {
                (Some(challenge), _) => {
                    service::auth::enrollment_account(db, auth, challenge).await?
                }
                (None, Some(viewer)) => service::user::get(db, &viewer, viewer.user_id).await?,
                (None, None) => return Err(service::Error::Forbidden),
            };
            service::two_factor::enroll_begin(db, keyring, &account).await
        };
        match result.await {
            Ok(enrollment) => Ok(TwoFactorEnrollBeginPayload {
                secret: Some(enrollment.secret),
                otpauth_uri: Some(enrollment.otpauth_uri),
                qr_code_svg: Some(enrollment.qr_svg),
                user_errors: vec![],
            }),
            Err(err) => Ok(TwoFactorEnrollBeginPayload {
                user_errors: user_errors(err)?,
                ..Default::default()
            }),
        }
    }

    /// Turns two-factor sign-in on with a current code from the authenticator; answers the ten
    /// recovery codes, once. With the enrolment challenge, it also signs in.
    async fn two_factor_enroll_confirm(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "A current authenticator code, and the challenge when enrolling to sign in."
        )]
        input: TwoFactorEnrollConfirmInput,
    ) -> Result<TwoFactorEnrollConfirmPayload> {
        let client = client_info(ctx);
        let result = match &input.challenge {
            Some(challenge) => service::auth::enroll_and_sign_in(
                db(ctx)?,
                auth(ctx)?,
                keyring(ctx)?,
                challenge,
                &input.code,
                &client,
            )
            .await
            .map(|(codes, session)| (codes, Some(session))),
            None => {
                let viewer = actor(ctx)?;
                service::two_factor::enroll_confirm(
                    db(ctx)?,
                    keyring(ctx)?,
                    viewer.user_id,
                    &input.code,
                    &client,
                )
                .await
                .map(|codes| (codes, None))
            }
        };
        match result {
            Ok((recovery_codes, session)) => Ok(TwoFactorEnrollConfirmPayload {
                recovery_codes,
                session: match session {
                    Some(session) => Some(payload(ctx, session).await?),
                    None => None,
                },
                user_errors: vec![],
            }),
            Err(err) => Ok(TwoFactorEnrollConfirmPayload {
                user_errors: user_errors(err)?,
                ..Default::default()
            }),
        }
    }

    /// Turns two-factor sign-in off; a current code (or a recovery code) proves it is you.
    async fn two_factor_disable(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A current code or a recovery code.")] input: TwoFactorDisableInput,
    ) -> Result<SuccessPayload> {
        let viewer = actor(ctx)?;
        let (db, keyring) = (db(ctx)?, keyring(ctx)?);
        let result = async {
            let proof = input.proof()?;
            service::two_factor::disable(db, keyring, &viewer, proof, &client_info(ctx)).await
        };
        SuccessPayload::from_result(result.await)
    }

    /// Makes an API token for an integration, acting as you (or only reading, `readOnly`).
    /// The answer holds the token, the only time it is shown. Made when signed in, not with
    /// another API token.
    async fn api_token_create(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The token's name, expiry and rights.")] input: ApiTokenCreateInput,
    ) -> Result<ApiTokenCreatePayload> {
        let viewer = actor(ctx)?;
        let result = service::api_token::create(
            db(ctx)?,
            &viewer,
            service::api_token::NewToken {
                name: input.name,
                expires_at: input.expires_at.map(|at| at.0),
                read_only: input.read_only,
            },
            &client_info(ctx),
        )
        .await;
        match result {
            Ok((row, token)) => Ok(ApiTokenCreatePayload {
                token: Some(token),
                api_token: Some(crate::graphql::object::user::ApiToken(row)),
                user_errors: vec![],
            }),
            Err(err) => Ok(ApiTokenCreatePayload {
                user_errors: user_errors(err)?,
                ..Default::default()
            }),
        }
    }

    /// Revokes an API token of yours (administrators: anyone's); it works no more.
    async fn api_token_revoke(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The token to revoke.")] input: ApiTokenRevokeInput,
    ) -> Result<SuccessPayload> {
        let viewer = actor(ctx)?;
        let db = db(ctx)?;
        let result = async {
            let id = expect(Kind::ApiToken, &input.id, "id")?;
            service::api_token::revoke(db, &viewer, id, &client_info(ctx))
                .await
                .map(|_| ())
        };
        SuccessPayload::from_result(result.await)
    }

    /// Ends one of your sessions (administrators: anyone's): its refresh tokens are revoked and
    /// its access tokens refused from now on; the others go on.
    async fn session_revoke(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The session to end.")] input: SessionRevokeInput,
    ) -> Result<SuccessPayload> {
        let viewer = actor(ctx)?;
        let db = service_db(ctx).map_err(gql)?;
        let result = async {
            let id = expect(Kind::Session, &input.id, "id")?;
            service::session::revoke(db, &viewer, id, &client_info(ctx)).await
        };
        SuccessPayload::from_result(result.await)
    }

    /// Ends every session of yours but the one this request is made in.
    async fn session_revoke_others(&self, ctx: &Context<'_>) -> Result<SessionRevokeOthersPayload> {
        let viewer = actor(ctx)?;
        let revoked = service::session::revoke_others(
            service_db(ctx).map_err(gql)?,
            &viewer,
            &client_info(ctx),
        )
        .await
        .map_err(gql)?;
        Ok(SessionRevokeOthersPayload { revoked })
    }

    /// Mails a password reset link to the account with this email, if there is one: the answer
    /// is the same either way. The link works once, within the hour.
    async fn auth_password_reset_request(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's email address.")] input: AuthPasswordResetRequestInput,
    ) -> Result<SuccessPayload> {
        service::password_reset::request(
            db(ctx)?,
            auth(ctx)?,
            ctx.data_opt::<service::password_reset::Links>(),
            &input.email,
            &client_info(ctx),
        )
        .await
        .map_err(gql)?;
        Ok(SuccessPayload {
            success: true,
            user_errors: vec![],
        })
    }

    /// Sets a new password with the token of a reset link. Every session of the account ends.
    async fn auth_password_reset(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The token of the reset link and the new password.")]
        input: AuthPasswordResetInput,
    ) -> Result<SuccessPayload> {
        let (db, auth) = (db(ctx)?, auth(ctx)?);
        SuccessPayload::from_result(
            service::password_reset::reset(
                db,
                auth,
                &input.token,
                &input.new_password,
                &client_info(ctx),
            )
            .await,
        )
    }

    /// Mails a user a password reset link (administrators).
    async fn user_password_reset_send(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user to mail the link to.")] input: UserPasswordResetSendInput,
    ) -> Result<SuccessPayload> {
        let viewer = actor(ctx)?;
        let db = db(ctx)?;
        let result = async {
            let user_id = expect(Kind::User, &input.user_id, "userId")?;
            service::password_reset::send_for(
                db,
                &viewer,
                ctx.data_opt::<service::password_reset::Links>(),
                user_id,
                &client_info(ctx),
            )
            .await
        };
        SuccessPayload::from_result(result.await)
    }

    /// Removes a user's second factor (administrators), for someone who lost their
    /// authenticator and recovery codes; their sessions end, and they may enrol again.
    async fn two_factor_reset(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user whose second factor to remove.")] input: TwoFactorResetInput,
    ) -> Result<SuccessPayload> {
        let viewer = actor(ctx)?;
        let result = async {
            let user_id = expect(Kind::User, &input.user_id, "userId")?;
            service::two_factor::reset(service_db(ctx)?, &viewer, user_id, &client_info(ctx)).await
        };
        SuccessPayload::from_result(result.await)
    }

    /// Trades a refresh token for a new access and refresh token. Each refresh token works
    /// once; presenting a used one again signs out every session descended from that login.
    async fn auth_refresh(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The refresh token to trade.")] input: AuthRefreshInput,
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
        #[graphql(desc = "The refresh token of the session to end.")] input: AuthLogoutInput,
    ) -> Result<AuthLogoutPayload> {
        service::auth::logout(db(ctx)?, &input.refresh_token, &client_info(ctx))
            .await
            .map_err(gql)?;
        Ok(AuthLogoutPayload { success: true })
    }
}
