//! Password reset by email.
//!
//! [`request`] answers the same whether the address belongs to an account or not: it looks
//! the address up either way, and the mail (to an approved account not locked by an
//! administrator) goes out in the background, so neither the answer nor its timing tells which
//! addresses exist. The mail holds a link with a random token, stored only as its SHA-256 hash,
//! good for an hour and once. [`reset`] sets the new password, spends the token (and every
//! other one of the account), lifts a lockout, ends every session of the account, and is
//! audited. Both are throttled per address and per account. An administrator may send a
//! user a link ([`send_for`]).

use chrono::{DateTime, Duration, Utc};
use entity::{password_reset, user};
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionSession,
    TransactionTrait,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::{self, ClientInfo};
use crate::auth::Auth;
use crate::notification::mail::Mailer;
use crate::{Error, Result, access, password};

/// How long a link works.
pub const LIFETIME: Duration = Duration::hours(1);

fn hash(token: &str) -> String {
    Sha256::digest(token.trim().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where reset links point, and how mail goes out.
#[derive(Clone)]
pub struct Links {
    pub mailer: Mailer,
    /// The page a link opens: the token is appended as `?token=...`.
    pub base_url: String,
}

impl Links {
    pub fn link(&self, token: &str) -> String {
        let separator = if self.base_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{separator}token={token}", self.base_url)
    }
}

/// Makes a token for `account`, valid for [`LIFETIME`] from `now`.
async fn issue(
    db: &impl ConnectionTrait,
    account: &user::Model,
    now: DateTime<Utc>,
) -> Result<String> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    password_reset::Entity::insert(password_reset::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(account.id),
        token_hash: Set(hash(&token)),
        expires_at: Set(now + LIFETIME),
        used_at: Set(None),
        created_at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    Ok(token)
}

/// Mails the link in the background: the caller's answer never waits for (or shows) SMTP.
fn mail_in_background(links: &Links, account: user::Model, token: String) {
    let links = links.clone();
    tokio::spawn(async move {
        if let Err(reason) = mail_link(&links, &account, &token).await {
            tracing::warn!(user = %account.id, %reason, "a password reset mail was not sent");
        }
    });
}

async fn mail_link(
    links: &Links,
    account: &user::Model,
    token: &str,
) -> std::result::Result<(), String> {
    let body = format!(
        "Someone (we hope you) asked to reset the password of your account {}.\n\n\
         Choose a new one here, within the hour; the link works once:\n{}\n\n\
         If it was not you, ignore this mail: your password stays as it is.",
        account.email,
        links.link(token)
    );
    links
        .mailer
        .send_now(
            account,
            "Reset your password",
            &body,
            "someone asked to reset the password of your account",
        )
        .await
        .map_err(|e| e.to_string())
}

/// Whether an account may reset its password: approved, and not locked by an administrator
/// (a lock after failed sign-ins is no obstacle: the reset lifts it).
fn may_reset(account: &user::Model) -> bool {
    account.is_approved && !(account.is_locked && account.locked_until.is_none())
}

/// Asks for a reset link to `email`. The same answer (`Ok`) whether or not an account has the
/// address; without email configured (`links` is `None`), nothing is sent.
pub async fn request(
    db: &impl ConnectionTrait,
    auth: &Auth,
    links: Option<&Links>,
    email: &str,
    client: &ClientInfo,
) -> Result<()> {
    auth.throttle(client, Some(email.trim()))?;
    let found = crate::user::find_by_email(db, email).await?;
    let Some(account) = found.filter(may_reset) else {
        return Ok(());
    };
    let Some(links) = links else {
        tracing::warn!(user = %account.id, "a password reset was asked for, but email is off");
        return Ok(());
    };
    let token = issue(db, &account, Utc::now()).await?;
    audit::record(
        db,
        Some(account.id),
        "auth.password_reset_requested",
        None,
        "a password reset link was mailed",
        client,
    )
    .await?;
    mail_in_background(links, account, token);
    Ok(())
}

/// Sends `user_id` a reset link (administrators).
pub async fn send_for(
    db: &impl ConnectionTrait,
    actor: &Actor,
    links: Option<&Links>,
    user_id: Uuid,
    client: &ClientInfo,
) -> Result<()> {
    let (links, account, token) = issue_for(db, actor, links, user_id, client).await?;
    mail_in_background(links, account, token);
    Ok(())
}

/// Sends `user_id` a reset link and waits for the mail server to take it (the command line,
/// whose process ends with the command).
pub async fn send_for_now(
    db: &impl ConnectionTrait,
    actor: &Actor,
    links: Option<&Links>,
    user_id: Uuid,
    client: &ClientInfo,
) -> Result<()> {
    let (links, account, token) = issue_for(db, actor, links, user_id, client).await?;
    mail_link(links, &account, &token)
        .await
        .map_err(|reason| Error::Internal(format!("the reset mail was not sent: {reason}")))
}

async fn issue_for<'l>(
    db: &impl ConnectionTrait,
    actor: &Actor,
    links: Option<&'l Links>,
    user_id: Uuid,
    client: &ClientInfo,
) -> Result<(&'l Links, user::Model, String)> {
    access::require(actor.is_admin())?;
    let account = user::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .ok_or(Error::NotFound { entity: "user" })?;
    let links = links.ok_or_else(|| {
        Error::invalid(
            "userId",
            "email is off (HELPDESK_SMTP_URL is unset): no link can be sent",
        )
    })?;
    if !may_reset(&account) {
        return Err(Error::invalid(
            "userId",
            "the account is not approved or is locked by an administrator",
        ));
    }
    let token = issue(db, &account, Utc::now()).await?;
    audit::record_change(
        db,
        audit::Change {
            actor_id: actor.user_id,
            user_id: Some(user_id),
            action: "user.password_reset_sent",
            description: format!(
                "a password reset link was mailed to user {user_id} by {}",
                actor.label()
            ),
            old: serde_json::json!({}),
            new: serde_json::json!({}),
        },
        client,
    )
    .await?;
    Ok((links, account, token))
}

/// Sets a new password with the token of a reset link: once, within the hour. Every session
/// of the account ends; its other links stop working.
pub async fn reset<C>(
    db: &C,
    auth: &Auth,
    token: &str,
    new_password: &str,
    client: &ClientInfo,
) -> Result<()>
where
    C: ConnectionTrait + TransactionTrait,
{
    auth.throttle(client, None)?;
    password::validate_new("newPassword", new_password)?;
    let invalid = || Error::invalid("token", "the link is invalid, used or expired");
    let found = password_reset::Entity::find()
        .filter(password_reset::Column::TokenHash.eq(hash(token)))
        .one(db)
        .await?
        .ok_or_else(invalid)?;
    auth.throttle(client, Some(&found.user_id.to_string()))?;
    let hashed = password::hash(new_password).await?;
    let txn = crate::db::begin_write(db).await?;
    let now = Utc::now();
    // Spent here, once: a second use (or a racing one) finds it used.
    let spent = password_reset::Entity::update_many()
        .col_expr(password_reset::Column::UsedAt, Expr::value(now))
        .filter(password_reset::Column::Id.eq(found.id))
        .filter(password_reset::Column::UsedAt.is_null())
        .filter(password_reset::Column::ExpiresAt.gt(now))
        .exec(&txn)
        .await?;
    if spent.rows_affected == 0 {
        return Err(invalid());
    }
    let account = user::Entity::find_by_id(found.user_id)
        .one(&txn)
        .await?
        .filter(may_reset)
        .ok_or_else(invalid)?;
    let mut row = user::ActiveModel {
        id: Set(account.id),
        password_hash: Set(hashed),
        failed_login_count: Set(0),
        updated_at: Set(now),
        ..Default::default()
    };
    if account.is_locked {
        row.is_locked = Set(false);
        row.locked_until = Set(None);
        row.lock_reason = Set(None);
    }
    user::Entity::update(row).exec(&txn).await?;
    password_reset::Entity::update_many()
        .col_expr(password_reset::Column::UsedAt, Expr::value(now))
        .filter(password_reset::Column::UserId.eq(account.id))
        .filter(password_reset::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    crate::auth::end_sessions(&txn, account.id).await?;
    audit::record(
        &txn,
        Some(account.id),
        "auth.password_reset",
        None,
        "password set with a reset link; every session ended",
        client,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Removes links that expired more than a day ago (retention).
pub async fn purge(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64> {
    Ok(password_reset::Entity::delete_many()
        .filter(password_reset::Column::ExpiresAt.lt(now - Duration::days(1)))
        .exec(db)
        .await?
        .rows_affected)
}
