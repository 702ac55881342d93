use async_graphql::{ID, InputObject, MaybeUndefined};

/// A new organization.
#[derive(InputObject)]
pub struct OrganizationCreateInput {
    /// Unique without regard to letter case.
    pub name: String,
    /// A contact email address.
    pub email: Option<String>,
    /// A contact phone number, as free text.
    pub phone: Option<String>,
    /// The postal address, as free text.
    pub address: Option<String>,
    /// Free-text notes about the organization.
    pub description: Option<String>,
    /// An IANA zone name (`Europe/Berlin`): the days of the organization's statistics. UTC
    /// when omitted.
    pub time_zone: Option<String>,
}

/// New values; omitted fields stay, `null` clears an optional field.
#[derive(InputObject)]
pub struct OrganizationUpdateInput {
    /// The organization's global ID.
    pub id: ID,
    /// The new name, unique without regard to letter case.
    pub name: Option<String>,
    /// The new contact email address; `null` clears it.
    pub email: MaybeUndefined<String>,
    /// The new contact phone number; `null` clears it.
    pub phone: MaybeUndefined<String>,
    /// The new postal address; `null` clears it.
    pub address: MaybeUndefined<String>,
    /// The new notes; `null` clears them.
    pub description: MaybeUndefined<String>,
    /// The new IANA zone name (`Europe/Berlin`) of the organization's statistics days.
    pub time_zone: Option<String>,
}

/// A user to add to an organization.
#[derive(InputObject)]
pub struct OrganizationMemberAddInput {
    /// The organization's global ID.
    pub organization_id: ID,
    /// The global ID of the user to add.
    pub user_id: ID,
}

/// A user to remove from an organization.
#[derive(InputObject)]
pub struct OrganizationMemberRemoveInput {
    /// The organization's global ID.
    pub organization_id: ID,
    /// The global ID of the user to remove.
    pub user_id: ID,
}
