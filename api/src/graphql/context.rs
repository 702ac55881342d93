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

/// The access tokens a mutation issued (a sign-in, a refresh), each with the account it names
/// as a check of it would find it: the HTTP layer remembers them as known, so that the first
/// query of a new token may run while the token is checked, as later ones do.
#[derive(Default, Clone)]
pub struct SignedIn(pub Arc<std::sync::Mutex<Vec<(String, Actor)>>>);

impl SignedIn {
    pub fn record(&self, access_token: String, actor: Actor) {
        if let Ok(mut issued) = self.0.lock() {
            issued.push((access_token, actor));
        }
    }

    pub fn take(&self) -> Vec<(String, Actor)> {
        self.0
            .lock()
            .map(|mut issued| std::mem::take(&mut *issued))
            .unwrap_or_default()
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

/// A credential's check that a query run early may answer: the statement read alongside a
/// page of tickets can read what checking the credential reads (its account, sign-in and
/// memberships) for the account it runs as, and hand the rows to the check, which then runs
/// no statement of its own. At most one statement takes it; the check reads for itself when
/// none did, or when the one that did failed.
pub struct CheckAlongside {
    viewer: service::ticket::alongside::Viewer,
    rows: std::sync::Mutex<
        Option<tokio::sync::oneshot::Sender<service::ticket::alongside::ViewerRows>>,
    >,
}

impl CheckAlongside {
    /// A check of `viewer`'s credential, and where its rows arrive if a statement takes it.
    pub fn new(
        viewer: service::ticket::alongside::Viewer,
    ) -> (
        Arc<Self>,
        tokio::sync::oneshot::Receiver<service::ticket::alongside::ViewerRows>,
    ) {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let check = Self {
            viewer,
            rows: std::sync::Mutex::new(Some(sender)),
        };
        (Arc::new(check), receiver)
    }

    pub fn viewer(&self) -> service::ticket::alongside::Viewer {
        self.viewer
    }

    /// Takes the check for a statement about to run: `None` once one did, or the check
    /// closed it.
    pub fn take(
        &self,
    ) -> Option<tokio::sync::oneshot::Sender<service::ticket::alongside::ViewerRows>> {
        self.rows.lock().ok()?.take()
    }

    /// Whether a statement took the check. Closes it either way: from now on none may.
    pub fn taken(&self) -> bool {
        self.rows.lock().is_ok_and(|mut rows| rows.take().is_none())
    }
}
