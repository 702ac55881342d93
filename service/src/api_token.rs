//! API tokens for integrations: `Authorization: Bearer hd_pat_...` acts as the token's owner,
//! with the owner's access as it is at each request (a read-only token refuses every
//! mutation), over HTTP and WebSocket alike. The token is shown once at creation; only its
//! SHA-256 hash is stored, with its first characters to tell tokens apart. The recognisable
//! `hd_pat_` prefix lets secret scanners find leaked ones. Tokens may expire, are revocable,
//! show when they were last used, and every change is audited.

use chrono::{DateTime, Duration, Utc};
use entity::api_token;
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::actor::{Actor, ApiTokenUse};
use crate::audit::{self, ClientInfo};
use crate::{Error, Result, access};

/// What every API token starts with.
pub const PREFIX: &str = "hd_pat_";
/// Characters of a token kept to tell it apart (`hd_pat_` and four more).
const SHOWN: usize = PREFIX.len() + 4;
/// `last_used_at` is written at most this often per token.
const LAST_USED_EVERY: Duration = Duration::minutes(1);
const MAX_NAME: usize = 100;

fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether a bearer token is an API token (and not an access token).
pub fn is_api_token(token: &str) -> bool {
    token.starts_with(PREFIX)
}

/// A new token.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub read_only: bool,
}

/// Makes a token for the actor. Returns it with the token itself, the only time it is shown.
/// Made by a signed-in person, not by another API token.
pub async fn create(
    db: &impl ConnectionTrait,
    actor: &Actor,
    new: NewToken,
    client: &ClientInfo,
) -> Result<(api_token::Model, String)> {
    if actor.api_token.is_some() {
        return Err(Error::Forbidden);
    }
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(Error::invalid(
            "name",
            format!("must be 1 to {MAX_NAME} characters"),
        ));
    }
    let now = Utc::now();
    if new.expires_at.is_some_and(|at| at <= now) {
        return Err(Error::invalid("expiresAt", "must be in the future"));
    }
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!(
        "{PREFIX}{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let row = api_token::Model {
        id: Uuid::now_v7(),
        user_id: actor.user_id,
        name: name.to_string(),
        token_hash: hash(&token),
        prefix: token[..SHOWN].to_string(),
        read_only: new.read_only,
        expires_at: new.expires_at,
        last_used_at: None,
        revoked_at: None,
        created_at: now,
    };
    api_token::Entity::insert(api_token::ActiveModel::from(row.clone()))
        .exec_without_returning(db)
        .await?;
    audit::record(
        db,
        Some(actor.user_id),
        "api_token.created",
        None,
        format!(
            "API token {} ({}, {}) created",
            row.prefix,
            row.name,
            if row.read_only {
                "read-only"
            } else {
                "full access"
            }
        ),
        client,
    )
    .await?;
    Ok((row, token))
}

/// Where a token sits in a list of tokens, newest first.
pub fn position(token: &api_token::Model) -> crate::page::Position {
    crate::page::Position {
        key: crate::page::Key::Time(token.created_at),
        id: token.id,
    }
}

/// The tokens of `user_id`, newest first: theirs, or anyone's for administrators.
pub async fn list(
    db: &impl ConnectionTrait,
    actor: &Actor,
    user_id: Uuid,
) -> Result<Vec<api_token::Model>> {
    access::require(actor.user_id == user_id || actor.is_admin())?;
    Ok(api_token::Entity::find()
        .filter(api_token::Column::UserId.eq(user_id))
        .order_by_desc(api_token::Column::CreatedAt)
        .all(db)
        .await?)
}

/// Revokes a token: the actor's own, or anyone's for administrators (`NOT_FOUND` otherwise).
pub async fn revoke(
    db: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
    client: &ClientInfo,
) -> Result<api_token::Model> {
    let row = api_token::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|t| t.user_id == actor.user_id || actor.is_admin())
        .ok_or(Error::NotFound {
            entity: "API token",
        })?;
    if row.revoked_at.is_some() {
        return Ok(row);
    }
    let revoked = api_token::Entity::update(api_token::ActiveModel {
        id: Set(row.id),
        revoked_at: Set(Some(Utc::now())),
        ..Default::default()
    })
    .exec(db)
    .await?;
    audit::record(
        db,
        Some(actor.user_id),
        "api_token.revoked",
        None,
        format!("API token {} ({}) revoked", row.prefix, row.name),
        client,
    )
    .await?;
    Ok(revoked)
}

/// The actor behind an API token: its owner's account as it is now, marked with the token.
/// `UNAUTHENTICATED` for an unknown, revoked or expired token.
pub async fn authenticate(db: &impl ConnectionTrait, token: &str) -> Result<Actor> {
    let now = Utc::now();
    let refused = || Error::Unauthenticated("invalid, revoked or expired API token".into());
    let row = api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(hash(token.trim())))
        .filter(api_token::Column::RevokedAt.is_null())
        .filter(
            Condition::any()
                .add(api_token::Column::ExpiresAt.is_null())
                .add(api_token::Column::ExpiresAt.gt(now)),
        )
        .one(db)
        .await?
        .ok_or_else(refused)?;
    let mut actor = crate::auth::actor_for_user(db, row.user_id).await?;
    actor.api_token = Some(ApiTokenUse {
        id: row.id,
        read_only: row.read_only,
    });
    if row
        .last_used_at
        .is_none_or(|at| at + LAST_USED_EVERY <= now)
    {
        api_token::Entity::update_many()
            .col_expr(api_token::Column::LastUsedAt, Expr::value(now))
            .filter(api_token::Column::Id.eq(row.id))
            .exec(db)
            .await?;
    }
    Ok(actor)
}
