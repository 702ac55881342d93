//! What resolvers take from the request: the viewer, the database, the loaders.

use service::ErrorCode;
use std::sync::Arc;

use async_graphql::{Context, ErrorExtensions};
use sea_orm::DatabaseConnection;
use service::actor::Actor;
use service::audit::ClientInfo;
use service::auth::Auth;

use super::loader::Loaders;

/// The user a request acts for. A request without a token, or with one that was refused, is
/// anonymous: fields that need a user say so (`UNAUTHENTICATED`, with the reason), while
/// `authLogin` and `authRefresh` still work — a client whose token expired needs exactly those.
/// Signing in sets the viewer for the rest of the request, so the `AuthPayload` is answered
/// as the user who just signed in.
///
/// Clones share one actor: the loaders of a request hold a clone, and on a subscription socket
/// each push first replaces the actor with the account as it is now, so a push is resolved
/// (comments, counts, tickets) with current access, not with the access the socket had when
/// it connected.
#[derive(Default, Clone)]
pub struct Viewer {
    actor: Arc<std::sync::RwLock<Option<Actor>>>,
    refused: Option<Arc<str>>,
}

impl Viewer {
    pub fn signed_in(actor: Option<Actor>) -> Self {
        Self {
            actor: Arc::new(std::sync::RwLock::new(actor)),
            refused: None,
        }
    }

    pub fn refused(reason: String) -> Self {
        Self {
            actor: Arc::new(std::sync::RwLock::new(None)),
            refused: Some(reason.into()),
        }
    }

    pub fn current(&self) -> Option<Actor> {
        self.actor.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn sign_in(&self, actor: Actor) {
        *self.actor.write().unwrap_or_else(|e| e.into_inner()) = Some(actor);
    }
}

/// Set for a request whose operation is a mutation (or could not be told apart): it may have
/// committed events, so the relay is woken after it. Reads never wake the relay, which then
/// costs them no background statements.
#[derive(Default, Clone)]
pub struct MayHaveWritten(pub Arc<std::sync::atomic::AtomicBool>);

impl MayHaveWritten {
    pub fn mark(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The actor, or an `UNAUTHENTICATED` error when the request has no valid token.
pub fn actor(ctx: &Context<'_>) -> async_graphql::Result<Actor> {
    let viewer = ctx.data_opt::<Viewer>();
    if let Some(actor) = viewer.and_then(Viewer::current) {
        return Ok(actor);
    }
    let message = viewer
        .and_then(|v| v.refused.as_deref().map(str::to_string))
        .unwrap_or_else(|| "sign in first: send `Authorization: Bearer <access token>`".into());
    Err(async_graphql::Error::new(message)
        .extend_with(|_, ext| ext.set("code", ErrorCode::Unauthenticated.as_str())))
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
