//! Sessions a user can see and end: one per sign-in (a refresh token family, rotated on every
//! refresh), with the device and address it was last refreshed from. Ending one revokes the
//! family and refuses its access tokens at once (they name their sign-in); the user's other
//! sessions go on. Users see and end their own; administrators anyone's.

use chrono::{DateTime, Utc};
use entity::refresh_token;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, TransactionSession,
    TransactionTrait,
};
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::{self, ClientInfo};
use crate::{Error, Result, access};

/// One sign-in as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The sign-in's id (its refresh token family).
    pub id: Uuid,
    pub user_id: Uuid,
    /// What the user agent says, as sent at the last refresh.
    pub user_agent: Option<String>,
    /// The address of the last refresh.
    pub ip_address: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When it was last refreshed (or signed in).
    pub last_used_at: DateTime<Utc>,
    /// When its refresh token runs out.
    pub expires_at: DateTime<Utc>,
    /// The session the listing actor is signed in with.
    pub current: bool,
}

/// A short name for a user agent: browser and system, as far as they tell.
pub fn device(user_agent: Option<&str>) -> String {
    let Some(agent) = user_agent.filter(|a| !a.trim().is_empty()) else {
        return "Unknown device".into();
    };
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(marker, _)| agent.contains(marker))
    .map(|(_, name)| *name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(marker, _)| agent.contains(marker))
    .map(|(_, name)| *name);
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_string(),
        (None, Some(system)) => system.to_string(),
        (None, None) => agent.chars().take(60).collect(),
    }
}

fn may_manage(actor: &Actor, user_id: Uuid) -> bool {
    actor.user_id == user_id || actor.is_admin()
}

/// The live sessions of `user_id`, most recently used first.
pub async fn list(db: &impl ConnectionTrait, actor: &Actor, user_id: Uuid) -> Result<Vec<Session>> {
    access::require(may_manage(actor, user_id))?;
    let now = Utc::now();
    let tokens = refresh_token::Entity::find()
        .filter(refresh_token::Column::UserId.eq(user_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .filter(refresh_token::Column::ExpiresAt.gt(now))
        .filter(refresh_token::Column::UsedAt.is_null())
        .order_by_desc(refresh_token::Column::CreatedAt)
        .all(db)
        .await?;
    // The unused token of a family is its newest: one per live sign-in.
    Ok(tokens
        .into_iter()
        .map(|token| Session {
            id: token.family_id,
            user_id: token.user_id,
            created_at: crate::auth::family_started(token.family_id).unwrap_or(token.created_at),
            last_used_at: token.created_at,
            expires_at: token.expires_at,
            user_agent: token.user_agent,
            ip_address: token.ip_address,
            current: actor.session_id == Some(token.family_id),
        })
        .collect())
}

/// Where a session sits in a list of sessions, most recently used first.
pub fn position(session: &Session) -> crate::page::Position {
    crate::page::Position {
        key: crate::page::Key::Time(session.last_used_at),
        id: session.id,
    }
}

/// Ends one session: its refresh tokens are revoked and its access tokens refused from now on.
/// `NOT_FOUND` for a session that is not the actor's (or, for administrators, anyone's).
pub async fn revoke<C>(db: &C, actor: &Actor, session_id: Uuid, client: &ClientInfo) -> Result<()>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = crate::db::begin_write(db).await?;
    let family = crate::auth::lock_family(&txn, session_id).await?;
    let owner = family
        .first()
        .map(|t| t.user_id)
        .filter(|owner| may_manage(actor, *owner))
        .ok_or(Error::NotFound { entity: "session" })?;
    crate::auth::revoke_locked_family(&txn, session_id, Utc::now()).await?;
    audit::record(
        &txn,
        Some(actor.user_id),
        "auth.session_revoked",
        None,
        format!("session {session_id} of user {owner} ended"),
        client,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Ends every session of `user_id` (administrators): its refresh tokens are revoked and its
/// access tokens refused from now on. Returns how many sign-ins were live.
pub async fn revoke_all_of<C>(
    db: &C,
    actor: &Actor,
    user_id: Uuid,
    client: &ClientInfo,
) -> Result<u64>
where
    C: ConnectionTrait + TransactionTrait,
{
    access::require(actor.is_admin())?;
    let live = list(db, actor, user_id).await?.len() as u64;
    let txn = crate::db::begin_write(db).await?;
    crate::auth::end_sessions(&txn, user_id).await?;
    audit::record_change(
        &txn,
        audit::Change {
            actor_id: actor.user_id,
            user_id: Some(user_id),
            action: "auth.sessions_revoked",
            description: format!(
                "every session ({live}) of user {user_id} ended by {}",
                actor.label()
            ),
            old: serde_json::json!({ "sessions": live }),
            new: serde_json::json!({ "sessions": 0 }),
        },
        client,
    )
    .await?;
    txn.commit().await?;
    Ok(live)
}

/// Ends every session of the actor but the one they act in. Returns how many ended.
pub async fn revoke_others<C>(db: &C, actor: &Actor, client: &ClientInfo) -> Result<u64>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = crate::db::begin_write(db).await?;
    let mut families: Vec<Uuid> = refresh_token::Entity::find()
        .filter(refresh_token::Column::UserId.eq(actor.user_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .all(&txn)
        .await?
        .into_iter()
        .map(|t| t.family_id)
        .filter(|family| Some(*family) != actor.session_id)
        .collect();
    families.sort();
    families.dedup();
    let now = Utc::now();
    for family in &families {
        crate::auth::lock_family(&txn, *family).await?;
        crate::auth::revoke_locked_family(&txn, *family, now).await?;
    }
    audit::record(
        &txn,
        Some(actor.user_id),
        "auth.sessions_revoked",
        None,
        format!("{} other session(s) ended", families.len()),
        client,
    )
    .await?;
    txn.commit().await?;
    Ok(families.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::device;

    #[test]
    fn devices_are_named_from_the_user_agent() {
        assert_eq!(
            device(Some(
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
            )),
            "Firefox on Linux"
        );
        assert_eq!(
            device(Some(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0"
            )),
            "Edge on Windows"
        );
        assert_eq!(device(Some("curl/8.5.0")), "curl");
        assert_eq!(device(None), "Unknown device");
    }
}
