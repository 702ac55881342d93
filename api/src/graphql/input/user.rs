use async_graphql::{ID, InputObject, MaybeUndefined};

use crate::graphql::enums::Role;

/// A new account.
#[derive(InputObject)]
pub struct UserCreateInput {
    /// The email address to sign in with; unique without regard to letter case.
    pub email: String,
    /// The display name: 1 to 200 characters.
    pub name: String,
    /// What the user may do and see.
    pub role: Role,
    /// At least 10 characters.
    #[graphql(secret)]
    pub password: String,
    /// The organizations the user joins (global IDs).
    #[graphql(default)]
    pub organization_ids: Vec<ID>,
}

/// Changes to an account. Role, approval and locks are for administrators; anyone may change
/// their own name.
#[derive(InputObject)]
pub struct UserUpdateInput {
    /// The user's global ID.
    pub id: ID,
    /// The new display name: 1 to 200 characters.
    pub name: Option<String>,
    /// The new role (administrators); a change ends the account's sessions.
    pub role: Option<Role>,
    /// `true` lets the account sign in; `false` stops it and ends its sessions
    /// (administrators).
    pub approved: Option<bool>,
    /// `true` locks the account (ending its sessions); `false` unlocks it.
    pub locked: Option<bool>,
    /// Why the account is locked, shown to administrators.
    pub lock_reason: MaybeUndefined<String>,
}

/// Your current password and the new one.
#[derive(InputObject)]
pub struct UserPasswordChangeInput {
    /// Your password now, to prove it is you.
    #[graphql(secret)]
    pub current_password: String,
    /// The new password: 10 to 256 characters.
    #[graphql(secret)]
    pub new_password: String,
}
