use async_graphql::InputObject;

/// An email address and password to sign in with.
#[derive(InputObject)]
pub struct AuthLoginInput {
    /// The account's email address (case does not matter).
    pub email: String,
    /// The account's password.
    #[graphql(secret)]
    pub password: String,
}

/// A refresh token to trade for a new access and refresh token.
#[derive(InputObject)]
pub struct AuthRefreshInput {
    /// The `refreshToken` of the last `AuthPayload`; it works once.
    #[graphql(secret)]
    pub refresh_token: String,
}

/// The session to sign out of.
#[derive(InputObject)]
pub struct AuthLogoutInput {
    /// The session's current `refreshToken`.
    #[graphql(secret)]
    pub refresh_token: String,
}

/// A challenge from `authLogin` and what proves the second factor: a current code from the
/// authenticator, or one of the recovery codes (exactly one of them).
#[derive(InputObject)]
pub struct AuthSecondFactorInput {
    /// The `challenge` of the `AuthPayload` that `authLogin` answered.
    #[graphql(secret)]
    pub challenge: String,
    /// A current code from the authenticator; null when giving `recoveryCode`.
    #[graphql(secret)]
    pub code: Option<String>,
    /// One of the recovery codes, used up by signing in; null when giving `code`.
    #[graphql(secret)]
    pub recovery_code: Option<String>,
}

/// Signed in: omit `challenge`. Signing in to a role that must have a second factor: the
/// enrolment challenge `authLogin` answered.
#[derive(InputObject, Default)]
pub struct TwoFactorEnrollBeginInput {
    /// The enrolment challenge `authLogin` answered; null when signed in.
    #[graphql(secret)]
    pub challenge: Option<String>,
}

/// The code that proves the authenticator holds the new secret.
#[derive(InputObject)]
pub struct TwoFactorEnrollConfirmInput {
    /// A current code from the authenticator the secret went into.
    #[graphql(secret)]
    pub code: String,
    /// The enrolment challenge, when enrolling to sign in; the answer then carries a session.
    #[graphql(secret)]
    pub challenge: Option<String>,
}

/// A current code, or one of the recovery codes (exactly one of them).
#[derive(InputObject)]
pub struct TwoFactorDisableInput {
    /// A current code from the authenticator; null when giving `recoveryCode`.
    #[graphql(secret)]
    pub code: Option<String>,
    /// One of the recovery codes; null when giving `code`.
    #[graphql(secret)]
    pub recovery_code: Option<String>,
}

/// The user whose second factor to remove.
#[derive(InputObject)]
pub struct TwoFactorResetInput {
    /// The user's global ID.
    pub user_id: async_graphql::ID,
}

impl AuthSecondFactorInput {
    pub fn proof(&self) -> service::Result<service::two_factor::Proof<'_>> {
        proof(self.code.as_deref(), self.recovery_code.as_deref())
    }
}

impl TwoFactorDisableInput {
    pub fn proof(&self) -> service::Result<service::two_factor::Proof<'_>> {
        proof(self.code.as_deref(), self.recovery_code.as_deref())
    }
}

fn proof<'a>(
    code: Option<&'a str>,
    recovery_code: Option<&'a str>,
) -> service::Result<service::two_factor::Proof<'a>> {
    match (code, recovery_code) {
        (Some(code), None) => Ok(service::two_factor::Proof::Code(code)),
        (None, Some(code)) => Ok(service::two_factor::Proof::RecoveryCode(code)),
        _ => Err(service::Error::invalid(
            "code",
            "give either code or recoveryCode",
        )),
    }
}

/// The account that forgot its password.
#[derive(InputObject)]
pub struct AuthPasswordResetRequestInput {
    /// The account's email address.
    pub email: String,
}

/// A password reset link's token and the new password.
#[derive(InputObject)]
pub struct AuthPasswordResetInput {
    /// The token of the link in the mail.
    #[graphql(secret)]
    pub token: String,
    /// The new password: 10 to 256 characters.
    #[graphql(secret)]
    pub new_password: String,
}

/// The user to mail a password reset link to.
#[derive(InputObject)]
pub struct UserPasswordResetSendInput {
    /// The user's global ID.
    pub user_id: async_graphql::ID,
}

/// The session to end.
#[derive(InputObject)]
pub struct SessionRevokeInput {
    /// The session's global ID (`Session.id`).
    pub id: async_graphql::ID,
}

/// A new API token: its name, expiry and rights.
#[derive(InputObject)]
pub struct ApiTokenCreateInput {
    /// What it is for (1 to 100 characters).
    pub name: String,
    /// Never, when omitted.
    pub expires_at: Option<crate::graphql::scalar::Timestamp>,
    /// Only queries: every mutation is refused.
    #[graphql(default)]
    pub read_only: bool,
}

/// The API token to revoke.
#[derive(InputObject)]
pub struct ApiTokenRevokeInput {
    /// The token's global ID (`ApiToken.id`).
    pub id: async_graphql::ID,
}
