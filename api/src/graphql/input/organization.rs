use async_graphql::{ID, InputObject, MaybeUndefined};

#[derive(InputObject)]
pub struct OrganizationCreateInput {
    /// Unique without regard to letter case.
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub description: Option<String>,
    /// An IANA zone name (`Europe/Berlin`): the days of the organization's statistics. UTC
    /// when omitted.
    pub time_zone: Option<String>,
}

/// New values; omitted fields stay, `null` clears an optional field.
#[derive(InputObject)]
pub struct OrganizationUpdateInput {
    pub id: ID,
    pub name: Option<String>,
    pub email: MaybeUndefined<String>,
    pub phone: MaybeUndefined<String>,
    pub address: MaybeUndefined<String>,
    pub description: MaybeUndefined<String>,
    pub time_zone: Option<String>,
}

#[derive(InputObject)]
pub struct OrganizationMemberAddInput {
    pub organization_id: ID,
    pub user_id: ID,
}

#[derive(InputObject)]
pub struct OrganizationMemberRemoveInput {
    pub organization_id: ID,
    pub user_id: ID,
}
