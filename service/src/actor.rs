//! Who is acting: the viewer of a query, the author of a change.

use entity::enums::Role;
use uuid::Uuid;

/// An authenticated user as the service layer sees them. Built once per request from the
/// access token and one database read (current role and memberships), so a role change or a
/// removed membership takes effect on the next request, not when the token expires.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Actor {
    pub user_id: Uuid,
    pub role: Role,
    /// The organizations the user belongs to.
    pub organization_ids: Vec<Uuid>,
    /// The account's session epoch when it was read: a token issued under another epoch
    /// belongs to a session that has ended.
    pub session_epoch: i32,
    /// The sign-in (refresh token family) the request's access token belongs to, if any.
    pub session_id: Option<Uuid>,
    /// The API token the request came with, if any.
    pub api_token: Option<ApiTokenUse>,
}

/// A request made with an API token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApiTokenUse {
    pub id: Uuid,
    /// The token may only read: every mutation is refused.
    pub read_only: bool,
}

impl Actor {
    /// An administrator at the server's shell (`helpdesk user ...`): no account of its own,
    /// recorded in the audit log as the command line. Never built from a request.
    pub fn command_line() -> Self {
        Actor {
            user_id: Uuid::nil(),
            role: Role::Admin,
            organization_ids: Vec::new(),
            session_epoch: 0,
            session_id: None,
            api_token: None,
        }
    }

    /// Whether this is [`Actor::command_line`].
    pub fn is_command_line(&self) -> bool {
        self.user_id.is_nil()
    }

    /// Who acted, for audit descriptions: the user's id, or `the command line`.
    pub fn label(&self) -> String {
        if self.is_command_line() {
            "the command line".into()
        } else {
            self.user_id.to_string()
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// ADMIN and SUPERAGENT see every organization.
    pub fn sees_everything(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Superagent)
    }

    pub fn is_staff(&self) -> bool {
        self.role.is_staff()
    }

    pub fn is_client(&self) -> bool {
        self.role == Role::Client
    }

    /// Whether the request may only read (a read-only API token).
    pub fn read_only(&self) -> bool {
        self.api_token.is_some_and(|token| token.read_only)
    }

    pub fn belongs_to(&self, organization_id: Uuid) -> bool {
        self.organization_ids.contains(&organization_id)
    }
}

/// The approved accounts among the users `condition` selects, as actors (their role and
/// memberships now): two statements however many there are.
pub async fn accounts(
    db: &impl sea_orm::ConnectionTrait,
    condition: sea_orm::Condition,
) -> crate::Result<Vec<Actor>> {
    use entity::{organization_member, user};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    Ok(user::Entity::find()
        .filter(condition)
        .filter(user::Column::IsApproved.eq(true))
        .find_with_related(organization_member::Entity)
        .all(db)
        .await?
        .into_iter()
        .map(|(u, memberships)| Actor {
            user_id: u.id,
            role: u.role,
            organization_ids: memberships.iter().map(|m| m.organization_id).collect(),
            session_epoch: u.session_epoch,
            session_id: None,
            api_token: None,
        })
        .collect())
}
