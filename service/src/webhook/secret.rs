//! Signing secrets at rest: both secret columns of `webhooks` hold envelopes sealed with the
//! data keyring ([`crate::crypto`]), bound to the row's id and the column, so a value copied
//! to another endpoint or from `previous_secret` to `secret` does not open.
//!
//! Rows written before sealing began hold the `whsec_...` text itself; [`seal_stored`] seals
//! them at startup (idempotent: envelopes are recognised by their prefix), and until then they
//! are read as they are.

use chrono::{DateTime, Utc};
use entity::webhook;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    TransactionSession, TransactionTrait,
};
use uuid::Uuid;

use crate::Result;
use crate::crypto::{CryptoError, Keyring};

const SECRET: &str = "secret";
const PREVIOUS_SECRET: &str = "previous_secret";

fn associated_data(id: Uuid, column: &str) -> Vec<u8> {
    format!("webhooks.{column}:{id}").into_bytes()
}

fn seal(keyring: &Keyring, id: Uuid, column: &str, secret: &str) -> String {
    keyring.seal(secret.as_bytes(), &associated_data(id, column))
}

fn open(keyring: &Keyring, id: Uuid, column: &str, stored: &str) -> Result<String, CryptoError> {
    if !Keyring::is_sealed(stored) {
        // Stored before sealing began (sealed at the next start).
        return Ok(stored.to_string());
    }
    let bytes = keyring.open(stored, &associated_data(id, column))?;
    String::from_utf8(bytes).map_err(|_| CryptoError::Malformed)
}

/// The `secret` column's value for a new current secret of endpoint `id`.
pub fn seal_current(keyring: &Keyring, id: Uuid, secret: &str) -> String {
    seal(keyring, id, SECRET, secret)
}

/// The `previous_secret` column's value for a rotated-out secret of endpoint `id`.
pub fn seal_previous(keyring: &Keyring, id: Uuid, secret: &str) -> String {
    seal(keyring, id, PREVIOUS_SECRET, secret)
}

/// The current secret of an endpoint, opened.
pub fn current(keyring: &Keyring, hook: &webhook::Model) -> Result<String, CryptoError> {
    open(keyring, hook.id, SECRET, &hook.secret)
}

/// The secrets that sign a delivery sent at `now`: the current one, and the previous one
/// while its overlap lasts.
#[derive(Clone)]
pub struct SigningSecrets {
    pub current: String,
    pub previous: Option<String>,
}

impl std::fmt::Debug for SigningSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecrets(***)")
    }
}

pub fn signing(
    keyring: &Keyring,
    hook: &webhook::Model,
    now: DateTime<Utc>,
) -> Result<SigningSecrets, CryptoError> {
    let previous = match (&hook.previous_secret, hook.previous_secret_expires_at) {
        (Some(previous), Some(until)) if now < until => {
            Some(open(keyring, hook.id, PREVIOUS_SECRET, previous)?)
        }
        _ => None,
    };
    Ok(SigningSecrets {
        current: current(keyring, hook)?,
        previous,
    })
}

/// What [`seal_stored`] and [`rewrap`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Endpoints whose stored secrets were sealed again (or for the first time).
    pub endpoints: u64,
    /// Endpoints whose secrets could not be opened and were replaced (`rewrap` only, when
    /// asked to).
    pub replaced: u64,
    /// Attachments whose file keys were sealed again (`rewrap` only).
    pub files: u64,
}

/// Seals the secrets still stored as they are (rows from before sealing began), and checks
/// that every sealed one names a key of the ring: a server with the wrong key refuses to start
/// rather than fail every delivery. Runs at every start; does nothing once all are sealed.
pub async fn seal_stored<C>(db: &C, keyring: &Keyring) -> Result<Resealed>
where
    C: ConnectionTrait + TransactionTrait,
{
    let hooks = webhook::Entity::find()
        .order_by_asc(webhook::Column::Id)
        .all(db)
        .await?;
    for hook in &hooks {
        for stored in std::iter::once(&hook.secret).chain(hook.previous_secret.as_ref()) {
            if Keyring::is_sealed(stored) && !keyring.knows(stored) {
                let id = keyring.key_id_of(stored).unwrap_or_default();
                return Err(CryptoError::UnknownKey(id.to_string()).into());
            }
        }
    }
    let plain: Vec<&webhook::Model> = hooks
        .iter()
        .filter(|h| {
            !Keyring::is_sealed(&h.secret)
                || h.previous_secret
                    .as_ref()
                    .is_some_and(|p| !Keyring::is_sealed(p))
        })
        .collect();
    if plain.is_empty() {
        return Ok(Resealed::default());
    }
    let txn = crate::db::begin_write(db).await?;
    let mut endpoints = 0;
    for hook in plain {
        // Read again under the write lock: another replica may have sealed it meanwhile.
        let Some(hook) = webhook::Entity::find_by_id(hook.id).one(&txn).await? else {
            continue;
        };
        let mut changes = webhook::ActiveModel {
            id: sea_orm::ActiveValue::Unchanged(hook.id),
            ..Default::default()
        };
        let mut changed = false;
        if !Keyring::is_sealed(&hook.secret) {
            changes.secret = Set(seal_current(keyring, hook.id, &hook.secret));
            changed = true;
        }
        if let Some(previous) = hook
            .previous_secret
            .as_ref()
            .filter(|p| !Keyring::is_sealed(p))
        {
            changes.previous_secret = Set(Some(seal_previous(keyring, hook.id, previous)));
            changed = true;
        }
        if changed {
            webhook::Entity::update(changes).exec(&txn).await?;
            endpoints += 1;
        }
    }
    txn.commit().await?;
    Ok(Resealed {
        files: 0,
        endpoints,
        replaced: 0,
    })
}

/// Seals every stored secret again under the keyring's current key, in one transaction, so
/// older keys can leave `HELPDESK_DATA_KEY_PREVIOUS`. A secret no key of the ring opens stops
/// the whole rewrap (nothing changes), unless `replace_unreadable`: then that endpoint gets a
/// new secret nobody knows yet and is disabled until an administrator rotates its secret
/// (and hands the new one to the receiver) and enables it again.
pub async fn rewrap<C>(db: &C, keyring: &Keyring, replace_unreadable: bool) -> Result<Resealed>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = crate::db::begin_write(db).await?;
    let hooks = webhook::Entity::find()
        .order_by_asc(webhook::Column::Id)
        .all(&txn)
        .await?;
    let mut report = Resealed::default();
    let now = Utc::now();
    for hook in hooks {
        let stale = |stored: &str| !Keyring::is_sealed(stored) || keyring.needs_rewrap(stored);
        if !stale(&hook.secret) && hook.previous_secret.as_deref().is_none_or(|p| !stale(p)) {
            continue;
        }
        let opened = current(keyring, &hook).and_then(|secret| {
            let previous = hook
                .previous_secret
                .as_deref()
                .map(|p| open(keyring, hook.id, PREVIOUS_SECRET, p))
                .transpose()?;
            Ok((secret, previous))
        });
        let mut changes = webhook::ActiveModel {
            id: sea_orm::ActiveValue::Unchanged(hook.id),
            ..Default::default()
        };
        match opened {
            Ok((secret, previous)) => {
                changes.secret = Set(seal_current(keyring, hook.id, &secret));
                changes.previous_secret =
                    Set(previous.map(|p| seal_previous(keyring, hook.id, &p)));
                report.endpoints += 1;
            }
            Err(err) if replace_unreadable => {
                tracing::warn!(webhook = %hook.id, %err, "replacing a signing secret no data key opens; the endpoint is disabled");
                changes.secret = Set(seal_current(keyring, hook.id, &super::new_secret()));
                changes.previous_secret = Set(None);
                changes.previous_secret_expires_at = Set(None);
                changes.enabled = Set(false);
                changes.disabled_reason = Set(Some(
                    "its signing secret was lost with a data key: rotate the secret, then enable it"
                        .into(),
                ));
                changes.disabled_at = Set(Some(now));
                changes.updated_at = Set(now);
                report.replaced += 1;
            }
            Err(err) => {
                txn.rollback().await?;
                return Err(err.into());
            }
        }
        webhook::Entity::update(changes).exec(&txn).await?;
    }
    // The files' own keys (a file key that no data key opens stops the rewrap: the file would
    // be lost, and no new key brings it back).
    report.files = match crate::attachment::rewrap_keys(&txn, keyring).await {
        Ok(files) => files,
        Err(err) => {
            txn.rollback().await?;
            return Err(err);
        }
    };
    txn.commit().await?;
    Ok(report)
}

/// Erases the previous secrets whose overlap has ended: once it no longer signs, nothing
/// needs it, and a secret that is not stored cannot leak. Returns how many endpoints had one.
pub async fn erase_expired(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64> {
    Ok(webhook::Entity::update_many()
        .col_expr(
            webhook::Column::PreviousSecret,
            sea_orm::sea_query::Expr::value(Option::<String>::None),
        )
        .col_expr(
            webhook::Column::PreviousSecretExpiresAt,
            sea_orm::sea_query::Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(webhook::Column::PreviousSecretExpiresAt.lte(now))
        .exec(db)
        .await?
        .rows_affected)
}
