use async_graphql::InputObject;

#[derive(InputObject)]
pub struct AuthLoginInput {
    pub email: String,
    #[graphql(secret)]
    pub password: String,
}

#[derive(InputObject)]
pub struct AuthRefreshInput {
    #[graphql(secret)]
    pub refresh_token: String,
}

#[derive(InputObject)]
pub struct AuthLogoutInput {
    #[graphql(secret)]
    pub refresh_token: String,
}

/// A challenge from `authLogin` and what proves the second factor: a current code from the
/// authenticator, or one of the recovery codes (exactly one of them).
#[derive(InputObject)]
pub struct AuthSecondFactorInput {
    #[graphql(secret)]
    pub challenge: String,
    #[graphql(secret)]
    pub code: Option<String>,
    #[graphql(secret)]
    pub recovery_code: Option<String>,
}

/// Signed in: omit `challenge`. Signing in to a role that must have a second factor: the
/// enrolment challenge `authLogin` answered.
#[derive(InputObject, Default)]
pub struct TwoFactorEnrollBeginInput {
    #[graphql(secret)]
    pub challenge: Option<String>,
}

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
    #[graphql(secret)]
    pub code: Option<String>,
    #[graphql(secret)]
    pub recovery_code: Option<String>,
}

#[derive(InputObject)]
pub struct TwoFactorResetInput {
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

#[derive(InputObject)]
pub struct AuthPasswordResetRequestInput {
    pub email: String,
}

#[derive(InputObject)]
pub struct AuthPasswordResetInput {
    /// The token of the link in the mail.
    #[graphql(secret)]
    pub token: String,
    #[graphql(secret)]
    pub new_password: String,
}

#[derive(InputObject)]
pub struct UserPasswordResetSendInput {
    pub user_id: async_graphql::ID,
}

#[derive(InputObject)]
pub struct SessionRevokeInput {
    pub id: async_graphql::ID,
}

#[derive(InputObject)]
pub struct ApiTokenCreateInput {
    /// What it is for (1 to 100 characters).
    pub name: String,
    /// Never, when omitted.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Only queries: every mutation is refused.
    #[graphql(default)]
    pub read_only: bool,
}

#[derive(InputObject)]
pub struct ApiTokenRevokeInput {
    pub id: async_graphql::ID,
}
