//! What resolvers take from the request: the viewer, the database, the loaders.

use std::sync::Arc;

use async_graphql::{Context, ErrorExtensions};
use sea_orm::DatabaseConnection;
use service::actor::Actor;
use service::audit::ClientInfo;
use service::auth::Auth;

use super::loader::Loaders;

/// The authenticated user of this request, if any.
#[derive(Clone, Default)]
pub struct Viewer(pub Option<Actor>);

/// The actor, or an `UNAUTHENTICATED` error when the request carries no valid token.
pub fn actor<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Actor> {
    ctx.data_opt::<Viewer>()
        .and_then(|viewer| viewer.0.as_ref())
        .ok_or_else(|| {
            async_graphql::Error::new("sign in first: send `Authorization: Bearer <access token>`")
                .extend_with(|_, ext| ext.set("code", "UNAUTHENTICATED"))
        })
}

pub fn db<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a DatabaseConnection> {
    ctx.data::<DatabaseConnection>()
}

/// The database, for code that speaks service errors (mutation bodies building a payload).
pub fn service_db<'a>(ctx: &'a Context<'_>) -> service::Result<&'a DatabaseConnection> {
    ctx.data::<DatabaseConnection>()
        .map_err(|e| service::Error::Internal(e.message))
}

pub fn auth<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Arc<Auth>> {
    ctx.data::<Arc<Auth>>()
}

pub fn loaders<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Loaders> {
    ctx.data::<Loaders>()
}

pub fn client_info(ctx: &Context<'_>) -> ClientInfo {
    ctx.data_opt::<ClientInfo>().cloned().unwrap_or_default()
}
