//! Mutation payloads: the changed entity, or the expected reasons it could not change.

use crate::graphql::scalar::Timestamp;
use async_graphql::{Enum, SimpleObject};
use service::ErrorCode;

use super::comment::Comment;
use super::ticket::Ticket;
use super::user::User;

/// An expected failure of a mutation: bad input, a state that does not allow the change, a
/// conflict. Nothing was changed.
#[derive(SimpleObject, Clone, Debug)]
pub struct UserError {
    /// The input field at fault, when there is one (`title`, `assigneeId`, `to`, ...).
    pub field: Option<String>,
    /// What is wrong, in a sentence for people.
    pub message: String,
    /// What kind of failure it is.
    pub code: UserErrorCode,
}

/// The kinds of expected failure a mutation reports in `userErrors`; the same codes as
/// `extensions.code` of top-level errors.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserErrorCode {
    /// A value that can never be accepted; `field` names it.
    BadUserInput,
    /// The ticket's state machine has no such move (for this viewer).
    InvalidTransition,
    /// The change contradicts the current state: a duplicate, or a row still in use.
    Conflict,
}

/// Splits a service error into the user errors a payload carries, or the top-level error for
/// everything else (`UNAUTHENTICATED`, `FORBIDDEN`, `NOT_FOUND`, `INTERNAL`).
pub fn user_errors(err: service::Error) -> async_graphql::Result<Vec<UserError>> {
    let code = match err.code() {
        ErrorCode::BadUserInput => UserErrorCode::BadUserInput,
        ErrorCode::InvalidTransition => UserErrorCode::InvalidTransition,
        ErrorCode::Conflict => UserErrorCode::Conflict,
        _ => return Err(crate::graphql::error::gql(err)),
    };
    Ok(vec![UserError {
        field: err.field().map(str::to_string),
        message: err.to_string(),
        code,
    }])
}

/// Payloads that carry the changed ticket; each name comes with its type's doc comment.
macro_rules! ticket_payload {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(SimpleObject, Clone, Default)]
        pub struct $name {
            /// The ticket after the change; null when `userErrors` is not empty.
            pub ticket: Option<Ticket>,
            /// What was wrong with the input, field by field; empty when the change was made.
            pub user_errors: Vec<UserError>,
        }

        impl $name {
            pub fn from_result(result: service::Result<entity::ticket::Model>) -> async_graphql::Result<Self> {
                match result {
                    Ok(ticket) => Ok(Self { ticket: Some(Ticket(ticket)), user_errors: vec![] }),
                    Err(err) => Ok(Self { ticket: None, user_errors: user_errors(err)? }),
                }
            }
        }
    )*};
}

ticket_payload!(
    /// The result of `ticketCreate`: the new ticket.
    TicketCreatePayload,
    /// The result of `ticketUpdate`: the ticket with its new title, description, priority or
    /// category.
    TicketUpdatePayload,
    /// The result of `ticketAssign`: the ticket with its new assignee.
    TicketAssignPayload,
    /// The result of `ticketTransition`: the ticket in its new status.
    TicketTransitionPayload,
    /// The result of `ticketDelete`: the deleted ticket.
    TicketDeletePayload
);

/// The result of `commentCreate`: the new comment and its ticket.
#[derive(SimpleObject, Clone, Default)]
pub struct CommentCreatePayload {
    /// The new comment; null when `userErrors` is not empty.
    pub comment: Option<Comment>,
    /// The ticket after the comment (its status or first response time may have changed).
    pub ticket: Option<Ticket>,
    /// What was wrong with the input, field by field; empty when the change was made.
    pub user_errors: Vec<UserError>,
}

/// A signed-in session, or (after a right password, when a second factor is on or must be
/// set up) the challenge to finish signing in with; the session's fields are null then.
#[derive(SimpleObject, Clone, Default)]
pub struct AuthPayload {
    /// Send as `Authorization: Bearer <accessToken>`; valid until `accessTokenExpiresAt`.
    pub access_token: Option<String>,
    /// Trade for a new pair with `authRefresh` before the access token expires. Single use.
    pub refresh_token: Option<String>,
    /// When the access token stops working; null while a challenge is pending.
    pub access_token_expires_at: Option<Timestamp>,
    /// The user signed in; null while a challenge is pending.
    pub user: Option<User>,
    /// The password was right and a second factor is on: send `challenge` with a current code
    /// (or a recovery code) to `authSecondFactor`.
    pub second_factor_required: bool,
    /// The password was right, and the role must sign in with a second factor that is not set
    /// up yet: `twoFactorEnrollBegin` and `twoFactorEnrollConfirm` with `challenge` set it up
    /// and sign in.
    pub enrollment_required: bool,
    /// Short-lived (`challengeExpiresAt`); good for one account and the password it was given
    /// for.
    pub challenge: Option<String>,
    /// When `challenge` stops working; null when there is no challenge.
    pub challenge_expires_at: Option<Timestamp>,
}

/// A second factor being set up: put `secret` into an authenticator app (scan `qrCodeSvg` or
/// open `otpauthUri`), then confirm with `twoFactorEnrollConfirm`.
#[derive(SimpleObject, Clone, Default)]
pub struct TwoFactorEnrollBeginPayload {
    /// The shared secret, base32, for typing in by hand.
    pub secret: Option<String>,
    /// The `otpauth://totp/...` URI that authenticator apps open or scan.
    pub otpauth_uri: Option<String>,
    /// The `otpauthUri` as a QR code: an SVG document.
    pub qr_code_svg: Option<String>,
    /// What was wrong with the input, field by field; empty when setting up began.
    pub user_errors: Vec<UserError>,
}

/// Two-factor sign-in is on.
#[derive(SimpleObject, Clone, Default)]
pub struct TwoFactorEnrollConfirmPayload {
    /// Ten single-use codes that stand in for the authenticator; shown this once only.
    pub recovery_codes: Vec<String>,
    /// The new session, when enrolling to sign in (with `challenge`).
    pub session: Option<AuthPayload>,
    /// What was wrong with the input (a wrong code, an expired challenge), field by field;
    /// empty when two-factor sign-in was turned on.
    pub user_errors: Vec<UserError>,
}

/// A new API token.
#[derive(SimpleObject, Clone, Default)]
pub struct ApiTokenCreatePayload {
    /// The token: send it as `Authorization: Bearer <token>`. Shown this once only.
    pub token: Option<String>,
    /// The new token's record; null when `userErrors` is not empty.
    pub api_token: Option<super::user::ApiToken>,
    /// What was wrong with the input, field by field; empty when the token was created.
    pub user_errors: Vec<UserError>,
}

/// The result of `sessionRevokeOthers`.
#[derive(SimpleObject, Clone, Default)]
pub struct SessionRevokeOthersPayload {
    /// How many sessions ended.
    pub revoked: u64,
}

/// Whether a change went through.
#[derive(SimpleObject, Clone, Default)]
pub struct SuccessPayload {
    /// True when the request went through; false when `userErrors` says why not.
    pub success: bool,
    /// What was wrong with the input, field by field; empty when the change was made.
    pub user_errors: Vec<UserError>,
}

impl SuccessPayload {
    pub fn from_result(result: service::Result<()>) -> async_graphql::Result<Self> {
        match result {
            Ok(()) => Ok(Self {
                success: true,
                user_errors: vec![],
            }),
            Err(err) => Ok(Self {
                success: false,
                user_errors: user_errors(err)?,
            }),
        }
    }
}

/// The result of `authLogout`.
#[derive(SimpleObject, Clone)]
pub struct AuthLogoutPayload {
    /// Always true: the session of the token, if there was one, has ended.
    pub success: bool,
}

/// Payloads that carry one changed entity; each name comes with its type's doc comment.
macro_rules! entity_payload {
    ($($(#[$doc:meta])* $name:ident { $field:ident: $object:ident($model:ty) }),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(SimpleObject, Clone, Default)]
        pub struct $name {
            /// The result of the change; null when `userErrors` is not empty.
            pub $field: Option<$object>,
            /// What was wrong with the input, field by field; empty when the change was made.
            pub user_errors: Vec<UserError>,
        }

        impl $name {
            pub fn from_result(result: service::Result<$model>) -> async_graphql::Result<Self> {
                match result {
                    Ok(value) => Ok(Self { $field: Some($object(value.into())), user_errors: vec![] }),
                    Err(err) => Ok(Self { $field: None, user_errors: user_errors(err)? }),
                }
            }
        }
    )*};
}

use super::escalation::Escalation;
use super::organization::Organization;
use super::sla::{BusinessCalendar, SlaPolicy};
use super::webhook::{Webhook, WebhookDelivery};

entity_payload!(
    /// The result of `organizationCreate`: the new organization.
    OrganizationCreatePayload {
        organization: Organization(entity::organization::Model)
    },
    /// The result of `organizationUpdate`: the organization with its new values.
    OrganizationUpdatePayload {
        organization: Organization(entity::organization::Model)
    },
    /// The result of `organizationMemberAdd`: the organization with its new member.
    OrganizationMemberAddPayload {
        organization: Organization(entity::organization::Model)
    },
    /// The result of `organizationMemberRemove`: the organization without the member.
    OrganizationMemberRemovePayload {
        organization: Organization(entity::organization::Model)
    },
    /// The result of `userCreate`: the new user.
    UserCreatePayload {
        user: User(entity::user::Model)
    },
    /// The result of `userUpdate`: the user with their new values.
    UserUpdatePayload {
        user: User(entity::user::Model)
    },
    /// The result of `webhookUpdate`: the endpoint with its new values.
    WebhookPayload {
        webhook: Webhook(entity::webhook::Model)
    },
    /// The result of `webhookTest` or `webhookDeliveryRedeliver`: the delivery queued.
    WebhookDeliveryPayload {
        delivery: WebhookDelivery(entity::webhook_delivery::Model)
    },
    /// The result of a change to an SLA policy: the policy after it.
    SlaPolicyPayload {
        policy: SlaPolicy(entity::sla_policy::Model)
    },
    /// The result of a change to a business calendar: the calendar after it.
    BusinessCalendarPayload {
        calendar: BusinessCalendar(entity::business_calendar::Model)
    },
    /// The result of `escalationAcknowledge`: the escalation, now acknowledged.
    EscalationAcknowledgePayload {
        escalation: Escalation(entity::escalation::Model)
    },
);

/// The result of `userPasswordChange`.
#[derive(SimpleObject, Clone, Default)]
pub struct UserPasswordChangePayload {
    /// True when the password was changed; every session then has to sign in again.
    pub success: bool,
    /// What was wrong with the input (a wrong current password, a weak new one), field by
    /// field; empty when the password was changed.
    pub user_errors: Vec<UserError>,
}
