//! Two-factor sign-in: TOTP (RFC 6238: HMAC-SHA1, six digits, 30-second steps) with ten
//! single-use recovery codes.
//!
//! - Enrolment is two steps: [`enroll_begin`] makes a secret (sealed with the data key) and
//!   hands out its `otpauth://` URI and QR code; only [`enroll_confirm`] with a code from the
//!   authenticator turns it on, and answers the recovery codes, once (they are stored hashed).
//! - At sign-in ([`crate::auth::login`]) a user with a confirmed factor gets a short-lived
//!   challenge instead of tokens; [`crate::auth::second_factor`] trades it and a code (or a
//!   recovery code) for a session. A code is accepted one step either side of now, and never
//!   for a step at or before the last one accepted, so no code works twice. Wrong codes count
//!   toward the account's lockout like wrong passwords.
//! - Disabling needs a current code; an administrator may reset a user's factor. Every change
//!   is audited.

use chrono::{DateTime, Utc};
use entity::{recovery_code, second_factor, user};
use rand::RngCore;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    TransactionSession, TransactionTrait,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::{self, ClientInfo};
use crate::crypto::Keyring;
use crate::{Error, Result, access};

/// Digits of a code.
pub const DIGITS: usize = 6;
/// Seconds of one time step.
pub const STEP_SECONDS: i64 = 30;
/// Recovery codes made at each confirmed enrolment.
pub const RECOVERY_CODES: usize = 10;
/// Who the codes are for, as authenticator apps show it.
pub const ISSUER: &str = "Helpdesk";
/// Bytes of a secret (160 bits, as RFC 4226 recommends).
const SECRET_BYTES: usize = 20;
/// Characters of recovery codes: no 0/o, 1/l/i to misread.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

fn associated(user_id: Uuid) -> Vec<u8> {
    format!("second-factor:{user_id}").into_bytes()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The time step of `at`.
pub fn step_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(STEP_SECONDS)
}

/// The TOTP of a secret (SHA-1, six digits, 30-second steps, one step of skew either side),
/// labelled for authenticator apps with the account's email.
fn totp(secret: Vec<u8>, account: &str) -> Result<totp_rs::Totp> {
    totp_rs::Builder::new()
        .with_secret(secret)
        .with_digits(DIGITS as u8)
        .with_step_duration(STEP_SECONDS as u64)
        .with_skew(1)
        .with_account_name(account.replace(':', ""))
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(|e| Error::Internal(format!("TOTP: {e}")))
}

/// The step among now and one either side whose code is `code`, if any.
fn matching_step(totp: &totp_rs::Totp, code: &str, now: DateTime<Utc>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let now = u64::try_from(now.timestamp()).ok()?;
    totp.check(&code, now)
        .and_then(|step| i64::try_from(step).ok())
}

fn recovery_hash(code: &str) -> String {
    let normalised: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hex(&Sha256::digest(normalised.as_bytes()))
}

fn new_recovery_code() -> String {
    let mut bytes = [0u8; 10];
    rand::rng().fill_bytes(&mut bytes);
    let chars: String = bytes
        .iter()
        .map(|b| RECOVERY_ALPHABET[*b as usize % RECOVERY_ALPHABET.len()] as char)
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// A user's second factor as they (or an administrator) see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Asked for at sign-in.
    pub enabled: bool,
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Recovery codes not used yet.
    pub recovery_codes_left: u64,
}

pub async fn status(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Status> {
    let row = second_factor::Entity::find_by_id(user_id).one(db).await?;
    let confirmed_at = row.and_then(|r| r.confirmed_at);
    let recovery_codes_left = if confirmed_at.is_some() {
        recovery_code::Entity::find()
            .filter(recovery_code::Column::UserId.eq(user_id))
            .filter(recovery_code::Column::UsedAt.is_null())
            .count(db)
            .await?
    } else {
        0
    };
    Ok(Status {
        enabled: confirmed_at.is_some(),
        confirmed_at,
        recovery_codes_left,
    })
}

/// Whether `user_id` has a confirmed second factor.
pub async fn enabled(db: &impl ConnectionTrait, user_id: Uuid) -> Result<bool> {
    Ok(second_factor::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .is_some_and(|r| r.confirmed_at.is_some()))
}

/// A secret being enrolled, for the authenticator app.
#[derive(Debug, Clone)]
pub struct Enrollment {
    /// The secret in base32, for typing in by hand.
    pub secret: String,
    /// `otpauth://totp/...`: what the QR code holds.
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: String,
}

/// Starts (or starts over) the enrolment of `account`: a new secret, not asked for at sign-in
/// until [`enroll_confirm`]. `CONFLICT` while a confirmed factor is on (disable it first).
pub async fn enroll_begin<C>(db: &C, keyring: &Keyring, account: &user::Model) -> Result<Enrollment>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = crate::db::begin_write(db).await?;
    if enabled(&txn, account.id).await? {
        return Err(Error::conflict(
            None,
            "two-factor sign-in is already on; disable it before enrolling again",
        ));
    }
    let mut secret = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    let generator = totp(secret.to_vec(), &account.email)?;
    let now = Utc::now();
    second_factor::Entity::insert(second_factor::ActiveModel {
        user_id: Set(account.id),
        secret: Set(keyring.seal(&secret, &associated(account.id))),
        confirmed_at: Set(None),
        last_used_step: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(second_factor::Column::UserId)
            .update_columns([
                second_factor::Column::Secret,
                second_factor::Column::ConfirmedAt,
                second_factor::Column::LastUsedStep,
                second_factor::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    let otpauth_uri = generator
        .to_url()
        .map_err(|e| Error::Internal(format!("otpauth URI: {e}")))?;
    let qr_svg = qrcode::QrCode::new(otpauth_uri.as_bytes())
        .map_err(|e| Error::Internal(format!("QR code: {e}")))?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    Ok(Enrollment {
        secret: generator.secret().to_base32(),
        otpauth_uri,
        qr_svg,
    })
}

/// The TOTP of a stored factor.
fn totp_of(keyring: &Keyring, row: &second_factor::Model) -> Result<totp_rs::Totp> {
    let secret = keyring
        .open(&row.secret, &associated(row.user_id))
        .map_err(|e| Error::Internal(format!("second factor of {}: {e}", row.user_id)))?;
    totp(secret, "")
}

/// Confirms the enrolment of `user_id` with a code from the authenticator: from now on it is
/// asked for at sign-in. Returns the recovery codes, the only time they are shown.
pub async fn enroll_confirm<C>(
    db: &C,
    keyring: &Keyring,
    user_id: Uuid,
    code: &str,
    client: &ClientInfo,
) -> Result<Vec<String>>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = crate::db::begin_write(db).await?;
    let row = second_factor::Entity::find_by_id(user_id)
        .one(&txn)
        .await?
        .filter(|r| r.confirmed_at.is_none())
        .ok_or_else(|| Error::invalid("code", "no enrolment in progress: begin one first"))?;
    let now = Utc::now();
    let Some(step) = matching_step(&totp_of(keyring, &row)?, code, now) else {
        return Err(Error::invalid("code", "the code is not the current one"));
    };
    second_factor::Entity::update(second_factor::ActiveModel {
        user_id: Set(user_id),
        confirmed_at: Set(Some(now)),
        last_used_step: Set(Some(step)),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(&txn)
    .await?;
    let codes = replace_recovery_codes(&txn, user_id, now).await?;
    audit::record(
        &txn,
        Some(user_id),
        "2fa.enabled",
        None,
        "two-factor sign-in turned on",
        client,
    )
    .await?;
    txn.commit().await?;
    Ok(codes)
}

async fn replace_recovery_codes(
    txn: &impl ConnectionTrait,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<String>> {
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .exec(txn)
        .await?;
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
    recovery_code::Entity::insert_many(codes.iter().map(|code| recovery_code::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        code_hash: Set(recovery_hash(code)),
        used_at: Set(None),
        created_at: Set(now),
    }))
    .exec_without_returning(txn)
    .await?;
    Ok(codes)
}

/// What proves the second factor: a current code, or one of the recovery codes.
#[derive(Debug, Clone, Copy)]
pub enum Proof<'a> {
    Code(&'a str),
    RecoveryCode(&'a str),
}

/// Checks `proof` for `user_id` inside the caller's transaction, and spends it: the code's
/// step (and every one before) or the recovery code works no more. `false` for a wrong,
/// reused or spent proof, and when the user has no confirmed factor.
pub async fn verify(
    txn: &impl ConnectionTrait,
    keyring: &Keyring,
    user_id: Uuid,
    proof: Proof<'_>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let Some(row) = second_factor::Entity::find_by_id(user_id)
        .one(txn)
        .await?
        .filter(|r| r.confirmed_at.is_some())
    else {
        return Ok(false);
    };
    match proof {
        Proof::Code(code) => {
            let Some(step) = matching_step(&totp_of(keyring, &row)?, code, now) else {
                return Ok(false);
            };
            // Spent only if no one spent this step (or a later one) meanwhile.
            let spent = second_factor::Entity::update_many()
                .col_expr(second_factor::Column::LastUsedStep, Expr::value(step))
                .col_expr(second_factor::Column::UpdatedAt, Expr::value(now))
                .filter(second_factor::Column::UserId.eq(user_id))
                .filter(
                    sea_orm::Condition::any()
                        .add(second_factor::Column::LastUsedStep.is_null())
                        .add(second_factor::Column::LastUsedStep.lt(step)),
                )
                .exec(txn)
                .await?;
            Ok(spent.rows_affected == 1)
        }
        Proof::RecoveryCode(code) => {
            let spent = recovery_code::Entity::update_many()
                .col_expr(recovery_code::Column::UsedAt, Expr::value(now))
                .filter(recovery_code::Column::UserId.eq(user_id))
                .filter(recovery_code::Column::CodeHash.eq(recovery_hash(code)))
                .filter(recovery_code::Column::UsedAt.is_null())
                .exec(txn)
                .await?;
            Ok(spent.rows_affected == 1)
        }
    }
}

async fn remove(txn: &impl ConnectionTrait, user_id: Uuid) -> Result<bool> {
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .exec(txn)
        .await?;
    Ok(second_factor::Entity::delete_by_id(user_id)
        .exec(txn)
        .await?
        .rows_affected
        > 0)
}

/// Turns two-factor sign-in off for the signed-in user, who proves it with a current code
/// (or a recovery code). Refused (`BAD_USER_INPUT` on `code`) without one.
pub async fn disable<C>(
    db: &C,
    keyring: &Keyring,
    actor: &Actor,
    proof: Proof<'_>,
    client: &ClientInfo,
) -> Result<()>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = crate::db::begin_write(db).await?;
    if !verify(&txn, keyring, actor.user_id, proof, Utc::now()).await? {
        return Err(Error::invalid(
            "code",
            "a current code is needed to turn it off",
        ));
    }
    remove(&txn, actor.user_id).await?;
    audit::record(
        &txn,
        Some(actor.user_id),
        "2fa.disabled",
        None,
        "two-factor sign-in turned off",
        client,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Removes a user's second factor (administrators), for someone who lost their authenticator
/// and their recovery codes; they may enrol again. Their sessions end.
pub async fn reset<C>(db: &C, actor: &Actor, user_id: Uuid, client: &ClientInfo) -> Result<()>
where
    C: ConnectionTrait + TransactionTrait,
{
    access::require(actor.is_admin())?;
    let txn = crate::db::begin_write(db).await?;
    user::Entity::find_by_id(user_id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound { entity: "user" })?;
    if remove(&txn, user_id).await? {
        crate::auth::end_sessions(&txn, user_id).await?;
    }
    audit::record_change(
        &txn,
        audit::Change {
            actor_id: actor.user_id,
            user_id: Some(user_id),
            action: "2fa.reset",
            description: format!(
                "two-factor sign-in of user {user_id} reset by {}",
                if actor.is_command_line() {
                    "the command line"
                } else {
                    "an administrator"
                }
            ),
            old: serde_json::json!({ "twoFactor": true }),
            new: serde_json::json!({ "twoFactor": false }),
        },
        client,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B: the SHA-1 secret "12345678901234567890" (eight digits there; six
    /// here are their last six).
    #[test]
    fn codes_match_the_rfc_test_vectors_one_step_either_side_and_no_further() {
        let generator = totp(b"12345678901234567890".to_vec(), "someone@example.com").unwrap();
        for (time, eight) in [
            (59i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            let at = DateTime::from_timestamp(time, 0).unwrap();
            assert_eq!(
                matching_step(&generator, &eight[2..], at),
                Some(step_of(at))
            );
            for off in [-STEP_SECONDS, STEP_SECONDS] {
                let near = DateTime::from_timestamp(time + off, 0).unwrap();
                assert_eq!(
                    matching_step(&generator, &eight[2..], near),
                    Some(step_of(at))
                );
            }
            let far = DateTime::from_timestamp(time + 3 * STEP_SECONDS, 0).unwrap();
            assert_eq!(matching_step(&generator, &eight[2..], far), None);
        }
        let now = Utc::now();
        assert_eq!(matching_step(&generator, "12345", now), None);
        assert_eq!(matching_step(&generator, "abcdef", now), None);
        assert_eq!(matching_step(&generator, "+12345", now), None);
    }

    #[test]
    fn recovery_codes_read_the_same_in_any_case_and_spacing() {
        let code = new_recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(
            recovery_hash(&code),
            recovery_hash(&format!(" {} ", code.to_uppercase().replace('-', " ")))
        );
    }
}
