use async_graphql::{ID, InputObject, MaybeUndefined};

use crate::graphql::enums::Role;

#[derive(InputObject)]
pub struct UserCreateInput {
    pub email: String,
    pub name: String,
    pub role: Role,
    /// At least 10 characters.
    #[graphql(secret)]
    pub password: String,
    #[graphql(default)]
    pub organization_ids: Vec<ID>,
}

/// Changes to an account. Role, approval and locks are for administrators; anyone may change
/// their own name.
#[derive(InputObject)]
pub struct UserUpdateInput {
    pub id: ID,
    pub name: Option<String>,
    pub role: Option<Role>,
    pub approved: Option<bool>,
    /// `true` locks the account (ending its sessions); `false` unlocks it.
    pub locked: Option<bool>,
    /// Why the account is locked, shown to administrators.
    pub lock_reason: MaybeUndefined<String>,
}

#[derive(InputObject)]
pub struct UserPasswordChangeInput {
    #[graphql(secret)]
    pub current_password: String,
    #[graphql(secret)]
    pub new_password: String,
}
