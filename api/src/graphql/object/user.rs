use crate::graphql::scalar::Timestamp;
use async_graphql::{Context, ID, Object, Result};
use entity::user;

use super::organization::OrganizationConnection;
use super::page_info::slice;
use crate::graphql::context::{actor, loaders};
use crate::graphql::enums::Role;
use crate::graphql::error::ResultExt;
use crate::graphql::id::{Kind, encode};
use service::page::{KeyKind, Sort};

/// A person: staff or a client of an organization.
/// Shared with the request's loader cache, which hands out the same row to every field that
/// names the user.
#[derive(Clone)]
pub struct User(pub std::sync::Arc<user::Model>);

impl From<user::Model> for User {
    fn from(model: user::Model) -> Self {
        Self(std::sync::Arc::new(model))
    }
}

impl From<std::sync::Arc<user::Model>> for User {
    fn from(model: std::sync::Arc<user::Model>) -> Self {
        Self(model)
    }
}

/// A person: staff or a client of an organization.
// The service calls of the rarely asked fields (notifications, sessions, tokens, second factor)
// are boxed: async-graphql boxes every field's future at the size of the type's largest one,
// and unboxed they made each `name` of a dashboard's ~350 people a 2.5 KB allocation and copy.
#[Object]
impl User {
    /// The user's global ID.
    pub async fn id(&self) -> ID {
        encode(Kind::User, self.0.id)
    }

    /// Your notices in the app, newest first, with your unread count. Only on yourself
    /// (`me`): `FORBIDDEN` on anyone else.
    #[graphql(complexity = "(first.clamp(0, 100) as usize) * child_complexity + 1")]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default = 20,
            validator(minimum = 0),
            desc = "How many notices to return; more than 100 is served as 100."
        )]
        first: i32,
        #[graphql(desc = "Return the notices after this cursor (an edge cursor or `endCursor`).")]
        after: Option<String>,
        #[graphql(default, desc = "Only the notices not read yet.")] unread_only: bool,
    ) -> Result<super::notification::NotificationConnection> {
        let first = service::page::capped(first);
        let viewer = actor(ctx)?;
        if viewer.user_id != self.0.id {
            return Err(crate::graphql::error::gql(service::Error::Forbidden));
        }
        let after = super::notification::time_cursor(after.as_deref())?;
        let db = crate::graphql::context::db(ctx)?;
        let rows = Box::pin(service::notification::inbox(
            db,
            self.0.id,
            first as u64,
            after,
            unread_only,
        ))
        .await
        .map_err(crate::graphql::error::gql)?;
        let unread = Box::pin(service::notification::unread_count(db, self.0.id))
            .await
            .map_err(crate::graphql::error::gql)?;
        let mut page = service::page::Page::first_of(rows, first as usize);
        page.has_previous_page = after.is_some();
        Ok(super::notification::NotificationConnection::new(
            page, unread,
        ))
    }

    /// Two-factor sign-in: on yourself, and administrators on anyone; `FORBIDDEN` otherwise.
    async fn two_factor(&self, ctx: &Context<'_>) -> Result<TwoFactorStatus> {
        let viewer = actor(ctx)?;
        if viewer.user_id != self.0.id && !viewer.is_admin() {
            return Err(crate::graphql::error::gql(service::Error::Forbidden));
        }
        let db = crate::graphql::context::db(ctx)?;
        let status = Box::pin(service::two_factor::status(db, self.0.id))
            .await
            .map_err(crate::graphql::error::gql)?;
        Ok(TwoFactorStatus {
            enabled: status.enabled,
            confirmed_at: status.confirmed_at.map(Timestamp),
            recovery_codes_left: status.recovery_codes_left,
        })
    }

    /// The sign-ins still alive, most recently used first: on yourself, and administrators on
    /// anyone; `FORBIDDEN` otherwise.
    #[graphql(complexity = "(first.clamp(0, 100) as usize) * child_complexity + 1")]
    async fn sessions(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default = 20,
            validator(minimum = 0),
            desc = "How many sessions to return; more than 100 is served as 100."
        )]
        first: i32,
        #[graphql(desc = "Return the sessions after this cursor (an edge cursor or `endCursor`).")]
        after: Option<String>,
    ) -> Result<SessionConnection> {
        let viewer = actor(ctx)?;
        let db = crate::graphql::context::db(ctx)?;
        let sessions = Box::pin(service::session::list(db, &viewer, self.0.id))
            .await
            .gql()?;
        let (page, total) = slice(
            sessions,
            first,
            after.as_deref(),
            KeyKind::Time,
            Sort::Descending,
            service::session::position,
        )?;
        Ok(SessionConnection::new(page, total))
    }

    /// API tokens, newest first: on yourself, and administrators on anyone; `FORBIDDEN`
    /// otherwise. The tokens themselves are never shown again after their creation.
    #[graphql(complexity = "(first.clamp(0, 100) as usize) * child_complexity + 1")]
    async fn api_tokens(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default = 20,
            validator(minimum = 0),
            desc = "How many tokens to return; more than 100 is served as 100."
        )]
        first: i32,
        #[graphql(desc = "Return the tokens after this cursor (an edge cursor or `endCursor`).")]
        after: Option<String>,
    ) -> Result<ApiTokenConnection> {
        let viewer = actor(ctx)?;
        let db = crate::graphql::context::db(ctx)?;
        let tokens = Box::pin(service::api_token::list(db, &viewer, self.0.id))
            .await
            .gql()?;
        let (page, total) = slice(
            tokens,
            first,
            after.as_deref(),
            KeyKind::Time,
            Sort::Descending,
            service::api_token::position,
        )?;
        Ok(ApiTokenConnection::new(page, total))
    }

    /// Which notices you hear on which channel. Only on yourself (`me`).
    async fn notification_preferences(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<super::notification::NotificationPreference>> {
        let viewer = actor(ctx)?;
        if viewer.user_id != self.0.id {
            return Err(crate::graphql::error::gql(service::Error::Forbidden));
        }
        let db = crate::graphql::context::db(ctx)?;
        Ok(Box::pin(service::notification::preferences(db, self.0.id))
            .await
            .map_err(crate::graphql::error::gql)?
            .into_iter()
            .map(
                |(kind, channel, enabled)| super::notification::NotificationPreference {
                    kind: kind.into(),
                    channel: channel.into(),
                    enabled,
                },
            )
            .collect())
    }

    /// The user's display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What the user may do and see.
    async fn role(&self) -> Role {
        self.0.role.into()
    }

    /// Visible to staff and to the user themselves; null for everyone else.
    async fn email(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        let viewer = &actor(ctx)?;
        Ok(service::access::can_see_account_details(viewer, self.0.id)
            .then_some(self.0.email.as_str()))
    }

    /// Whether the account is locked; visible to staff and to the user themselves.
    async fn is_locked(&self, ctx: &Context<'_>) -> Result<Option<bool>> {
        let viewer = &actor(ctx)?;
        Ok(service::access::can_see_account_details(viewer, self.0.id).then_some(self.0.is_locked))
    }

    /// Whether the account may sign in yet; visible to staff and to the user themselves.
    async fn is_approved(&self, ctx: &Context<'_>) -> Result<Option<bool>> {
        let viewer = &actor(ctx)?;
        Ok(service::access::can_see_account_details(viewer, self.0.id)
            .then_some(self.0.is_approved))
    }

    /// The organizations the user belongs to, among those you may see, by name.
    #[graphql(complexity = "(first.clamp(0, 100) as usize) * child_complexity + 1")]
    async fn organizations(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default = 20,
            validator(minimum = 0),
            desc = "How many organizations to return; more than 100 is served as 100."
        )]
        first: i32,
        #[graphql(
            desc = "Return the organizations after this cursor (an edge cursor or `endCursor`)."
        )]
        after: Option<String>,
    ) -> Result<OrganizationConnection> {
        let viewer = &actor(ctx)?;
        let mut found = loaders(ctx)?
            .user_organizations
            .load_one(self.0.id)
            .await
            .gql()?
            .unwrap_or_default();
        found.retain(|o| service::organization::visible(viewer, o.id));
        let (page, total) = slice(
            found,
            first,
            after.as_deref(),
            KeyKind::Text,
            Sort::Ascending,
            service::organization::position,
        )?;
        Ok(OrganizationConnection::new(page, total))
    }

    /// When the account was created.
    async fn created_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }
}

super::page_info::connection!(
    /// A page of users, by name.
    UserConnection,
    UserEdge,
    User,
    user::Model,
    service::user::position,
    /// How many match in all.
    total_count: u64,
);

/// Whether sign-in asks for a second factor.
#[derive(async_graphql::SimpleObject, Clone)]
pub struct TwoFactorStatus {
    /// A code from the authenticator is asked for at sign-in.
    pub enabled: bool,
    /// When the second factor was set up; null while it is not.
    pub confirmed_at: Option<Timestamp>,
    /// Recovery codes not used yet.
    pub recovery_codes_left: u64,
}

/// One sign-in: its refresh tokens and the access tokens issued with them.
#[derive(Clone)]
pub struct Session(pub service::session::Session);

/// One sign-in: its refresh tokens and the access tokens issued with them.
#[async_graphql::Object]
impl Session {
    /// The session's global ID, for `sessionRevoke`.
    pub async fn id(&self) -> async_graphql::ID {
        crate::graphql::id::encode(crate::graphql::id::Kind::Session, self.0.id)
    }

    /// Browser and system, from the user agent: `Firefox on Linux`.
    async fn device(&self) -> String {
        service::session::device(self.0.user_agent.as_deref())
    }

    /// The `User-Agent` header of the last sign-in or refresh; null when none was sent.
    async fn user_agent(&self) -> Option<&str> {
        self.0.user_agent.as_deref()
    }

    /// The client address of the last sign-in or refresh.
    async fn ip_address(&self) -> Option<&str> {
        self.0.ip_address.as_deref()
    }

    /// When the user signed in.
    async fn created_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }

    /// The last sign-in or refresh.
    async fn last_used_at(&self) -> Timestamp {
        Timestamp(self.0.last_used_at)
    }

    /// When the session ends unless it is refreshed before then.
    async fn expires_at(&self) -> Timestamp {
        Timestamp(self.0.expires_at)
    }

    /// The session this request is made in.
    async fn current(&self) -> bool {
        self.0.current
    }
}

/// A token an integration sends as `Authorization: Bearer hd_pat_...`, acting as its owner.
#[derive(Clone)]
pub struct ApiToken(pub entity::api_token::Model);

/// A token an integration sends as `Authorization: Bearer hd_pat_...`, acting as its owner.
#[async_graphql::Object]
impl ApiToken {
    /// The token's global ID, for `apiTokenRevoke`.
    pub async fn id(&self) -> async_graphql::ID {
        crate::graphql::id::encode(crate::graphql::id::Kind::ApiToken, self.0.id)
    }

    /// What the token is for, as its owner named it.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The token's first characters (`hd_pat_1a2b`), to tell it apart.
    async fn prefix(&self) -> &str {
        &self.0.prefix
    }

    /// Only queries: every mutation is refused.
    async fn read_only(&self) -> bool {
        self.0.read_only
    }

    /// When the token stops working; null when it never expires.
    async fn expires_at(&self) -> Option<Timestamp> {
        self.0.expires_at.map(Timestamp)
    }

    /// When it was last used (to the minute).
    async fn last_used_at(&self) -> Option<Timestamp> {
        self.0.last_used_at.map(Timestamp)
    }

    /// When the token was revoked; null while it is not.
    async fn revoked_at(&self) -> Option<Timestamp> {
        self.0.revoked_at.map(Timestamp)
    }

    /// When the token was created.
    async fn created_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }
}

super::page_info::connection!(
    /// A page of sign-ins, most recently used first.
    SessionConnection,
    SessionEdge,
    Session,
    service::session::Session,
    service::session::position,
    /// How many sessions are alive in all.
    total_count: u64,
);

super::page_info::connection!(
    /// A page of API tokens, newest first.
    ApiTokenConnection,
    ApiTokenEdge,
    ApiToken,
    entity::api_token::Model,
    service::api_token::position,
    /// How many tokens there are in all.
    total_count: u64,
);
