//! Authentication: password login with lockout, JWT access tokens, and rotating refresh tokens
//! with reuse detection.
//!
//! - Access tokens are HS256 JWTs (the algorithm is pinned: a token claiming any other, `none`
//!   included, is refused) carrying sub, role, iat, nbf, exp, iss, aud and jti, all required.
//! - Refresh tokens are 256 random bits, stored only as a SHA-256 hash. Each use rotates the
//!   token; presenting an already rotated token means it was stolen or replayed, so the whole
//!   family (every token descended from that login) is revoked and the event audited. A family
//!   lives at most `refresh_family_lifetime` from its login, however often it is refreshed.
//! - Every access token carries the account's session epoch. A password change, a lock, an
//!   unapproval or a role change raises it ([`end_sessions`]), so tokens issued before are
//!   refused at their next use, not when they expire.
//! - Credential checks are throttled per address and per account before any hashing
//!   ([`crate::throttle`]). While an account is locked, every attempt gets the answer of a wrong
//!   password and no password is checked, so the lock tells an attacker nothing and costs them
//!   the time it lasts.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::enums::Role;
use entity::{organization_member, refresh_token, user};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
    TransactionSession, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::{self, ClientInfo};
use crate::throttle::{Throttle, ThrottleConfig};
use crate::{Error, Result, password};

/// The shortest signing key accepted: HS256 is only as strong as its key.
pub const MIN_SECRET_BYTES: usize = 32;
/// Clock skew tolerated between the servers that issue and check tokens.
const LEEWAY_SECONDS: u64 = 30;

#[derive(Clone)]
pub struct AuthConfig {
    pub secret: Vec<u8>,
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Consecutive failed logins that lock an account.
    pub lockout_threshold: u32,
    pub lockout_duration: Duration,
    /// How long a refresh token family (one login) lives, however often it is refreshed.
    pub refresh_family_lifetime: Duration,
    pub throttle: ThrottleConfig,
    /// Roles that must sign in with a second factor: until they enrol, signing in yields only
    /// an enrolment challenge.
    pub second_factor_roles: Vec<Role>,
    /// How long a sign-in challenge (second factor or enrolment) lasts.
    pub challenge_ttl: Duration,
}

impl AuthConfig {
    pub fn with_secret(secret: Vec<u8>) -> Self {
        Self {
            secret,
            issuer: "helpdesk".into(),
            audience: "helpdesk-api".into(),
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            lockout_threshold: 5,
            lockout_duration: Duration::from_secs(15 * 60),
            refresh_family_lifetime: Duration::from_secs(90 * 24 * 3600),
            throttle: ThrottleConfig::default(),
            second_factor_roles: Vec::new(),
            challenge_ttl: Duration::from_secs(5 * 60),
        }
    }
}

/// A fresh random signing key, for the embedded default when none is configured.
pub fn random_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 64];
    rand::rng().fill_bytes(&mut secret);
    secret
}

/// The keys and validation rules built once from an [`AuthConfig`].
pub struct Auth {
    config: AuthConfig,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    throttle: Throttle,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub role: Role,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub jti: Uuid,
    /// The account's session epoch at issue.
    #[serde(default)]
    pub sv: i32,
    /// The sign-in (refresh token family) an access token belongs to: revoking that session
    /// refuses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
}

/// The audiences of sign-in challenges: never an access token's.
const SECOND_FACTOR_AUDIENCE: &str = "helpdesk-second-factor";
const ENROLLMENT_AUDIENCE: &str = "helpdesk-enrollment";

/// What a password sign-in gives: a session, or a challenge to finish it with.
#[derive(Debug, Clone)]
pub enum Login {
    Session(Session),
    Challenge(Challenge),
}

/// A short-lived proof that the password was right, to be traded for a session with the
/// second factor ([`second_factor`]), or, for a role that must have one and has none yet, with
/// a confirmed enrolment.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// An enrolment challenge: set up the second factor to sign in.
    pub enrollment: bool,
}

/// What a successful login or refresh hands the client.
#[derive(Debug, Clone)]
pub struct Session {
    pub access_token: String,
    pub access_token_expires_at: DateTime<Utc>,
    pub refresh_token: String,
    pub user: user::Model,
}

impl Auth {
    pub fn new(config: AuthConfig) -> Result<Self> {
        if config.secret.len() < MIN_SECRET_BYTES {
            return Err(Error::invalid(
                "jwtSecret",
                format!("must be at least {MIN_SECRET_BYTES} bytes"),
            ));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        // jsonwebtoken checks iss and aud only when listed as required.
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        Ok(Self {
            encoding: EncodingKey::from_secret(&config.secret),
            decoding: DecodingKey::from_secret(&config.secret),
            validation,
            throttle: Throttle::new(config.throttle),
            config,
        })
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Counts a credential check against the address's and the account's limits.
    pub fn throttle(&self, client: &ClientInfo, account: Option<&str>) -> Result<()> {
        self.throttle.check(client.ip.as_deref(), account)
    }

    /// Signs an access token for `user` in the sign-in `session`.
    pub fn issue_access_token(
        &self,
        user: &user::Model,
        session: Option<Uuid>,
    ) -> Result<(String, DateTime<Utc>)> {
        let now = Utc::now();
        let expires = now
            + chrono::Duration::from_std(self.config.access_ttl)
                .map_err(|e| Error::Internal(format!("access token lifetime: {e}")))?;
        let claims = Claims {
            sub: user.id,
            role: user.role,
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: expires.timestamp(),
            iss: self.config.issuer.clone(),
            aud: self.config.audience.clone(),
            jti: Uuid::new_v4(),
            sv: user.session_epoch,
            sid: session,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::Internal(format!("signing an access token failed: {e}")))?;
        Ok((token, expires))
    }

    /// Signs a sign-in challenge for `user`.
    fn issue_challenge(&self, user: &user::Model, enrollment: bool) -> Result<Challenge> {
        let now = Utc::now();
        let expires_at = now
            + chrono::Duration::from_std(self.config.challenge_ttl)
                .map_err(|e| Error::Internal(format!("challenge lifetime: {e}")))?;
        let claims = Claims {
            sub: user.id,
            role: user.role,
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: expires_at.timestamp(),
            iss: self.config.issuer.clone(),
            aud: if enrollment {
                ENROLLMENT_AUDIENCE
            } else {
                SECOND_FACTOR_AUDIENCE
            }
            .into(),
            jti: Uuid::new_v4(),
            sv: user.session_epoch,
            sid: None,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::Internal(format!("signing a challenge failed: {e}")))?;
        Ok(Challenge {
            token,
            expires_at,
            enrollment,
        })
    }

    /// The user a challenge of the given kind was issued to (and the account's session epoch
    /// then); `UNAUTHENTICATED` when it is forged, expired or of the other kind.
    pub fn verify_challenge(&self, token: &str, enrollment: bool) -> Result<(Uuid, i32)> {
        let mut validation = self.validation.clone();
        validation.set_audience(&[if enrollment {
            ENROLLMENT_AUDIENCE
        } else {
            SECOND_FACTOR_AUDIENCE
        }]);
        validation.leeway = 0;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| (data.claims.sub, data.claims.sv))
            .map_err(|_| {
                Error::Unauthenticated("invalid or expired challenge; sign in again".into())
            })
    }

    /// Checks an access token's signature, algorithm and claims.
    pub fn verify_access_token(&self, token: &str) -> Result<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| {
                tracing::debug!(error = %e, "access token refused");
                Error::Unauthenticated("invalid or expired access token".into())
            })
    }
}

fn unauthenticated() -> Error {
    Error::Unauthenticated("invalid email or password".into())
}

/// A hash to verify against when the email is unknown, so that unknown emails and wrong
/// passwords take the same time and cannot be told apart.
async fn dummy_hash() -> Result<&'static str> {
    static DUMMY: OnceCell<String> = OnceCell::const_new();
    DUMMY
        .get_or_try_init(|| async {
            let mut bytes = [0u8; 24];
            rand::rng().fill_bytes(&mut bytes);
            password::hash(&hex(&bytes)).await
        })
        .await
        .map(String::as_str)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn locked_now(user: &user::Model, now: DateTime<Utc>) -> bool {
    user.is_locked && user.locked_until.is_none_or(|until| until > now)
}

/// Logs a user in with email and password.
///
/// A wrong password, an unknown email and a locked account all give the same error (and take
/// the same time), so the answer never tells which emails exist or which accounts are locked.
#[tracing::instrument(skip_all)]
pub async fn login<C>(
    db: &C,
    auth: &Auth,
    email: &str,
    password_text: &str,
    client: &ClientInfo,
) -> Result<Login>
where
    C: ConnectionTrait + TransactionTrait,
{
    auth.throttle(client, Some(email.trim()))?;
    let found = crate::user::find_by_email(db, email).await?;
    let Some(user) = found else {
        password::verify(password_text, dummy_hash().await?).await?;
        audit::record(db, None, "auth.login_failed", None, "unknown email", client).await?;
        return Err(unauthenticated());
    };
    if locked_now(&user, Utc::now()) {
        // Not even checked: the answer and its timing are those of a wrong password.
        password::verify(password_text, dummy_hash().await?).await?;
        audit::record(
            db,
            Some(user.id),
            "auth.login_refused",
            None,
            "account is locked",
            client,
        )
        .await?;
        return Err(unauthenticated());
    }
    let matches = password::verify(password_text, &user.password_hash).await?;
    if !matches {
        record_failure(db, auth, user.id, client).await?;
        return Err(unauthenticated());
    }

    let txn = crate::db::begin_write(db).await?;
    // Re-read under the write lock: a lock set while the password was being checked (by the
    // lockout of a parallel guess, or by an administrator) must hold.
    let user = user::Entity::find_by_id(user.id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(unauthenticated)?;
    let now = Utc::now();
    if locked_now(&user, now) {
        audit::record(
            &txn,
            Some(user.id),
            "auth.login_refused",
            None,
            "account is locked",
            client,
        )
        .await?;
        txn.commit().await?;
        return Err(unauthenticated());
    }
    if !user.is_approved {
        audit::record(
            &txn,
            Some(user.id),
            "auth.login_refused",
            None,
            "account not approved",
            client,
        )
        .await?;
        txn.commit().await?;
        return Err(Error::Unauthenticated(
            "the account is not approved yet".into(),
        ));
    }
    // The password was right: a second factor, when there is one (or must be), comes next.
    let has_second_factor = crate::two_factor::enabled(&txn, user.id).await?;
    let must_enrol = !has_second_factor && auth.config.second_factor_roles.contains(&user.role);
    if has_second_factor || must_enrol {
        audit::record(
            &txn,
            Some(user.id),
            "auth.password_accepted",
            None,
            if must_enrol {
                "password right; the role must enrol a second factor"
            } else {
                "password right; second factor asked for"
            },
            client,
        )
        .await?;
        txn.commit().await?;
        return Ok(Login::Challenge(auth.issue_challenge(&user, must_enrol)?));
    }
    let session = start_session(&txn, auth, user, now, client, "logged in").await?;
    txn.commit().await?;
    Ok(Login::Session(session))
}

/// Opens a session for an account that proved who it is: the failure count is cleared (and
/// an expired lockout), the sign-in recorded, tokens issued.
async fn start_session(
    txn: &impl ConnectionTrait,
    auth: &Auth,
    user: user::Model,
    now: DateTime<Utc>,
    client: &ClientInfo,
    how: &str,
) -> Result<Session> {
    let mut row = user::ActiveModel {
        id: Set(user.id),
        failed_login_count: Set(0),
        last_login_at: Set(Some(now)),
        ..Default::default()
    };
    // An expired lockout is cleared; an administrator's lock (no end) never gets here.
    if user.is_locked {
        row.is_locked = Set(false);
        row.locked_until = Set(None);
        row.lock_reason = Set(None);
    }
    let user = user::Entity::update(row).exec(txn).await?;
    let session = issue_session(txn, auth, user, Uuid::now_v7(), None, client).await?;
    audit::record(txn, Some(session.user.id), "auth.login", None, how, client).await?;
    Ok(session)
}

/// The account a challenge names, re-read under the write lock: it must still be the session
/// it was issued to (no password change, lock or role change since), unlocked and approved.
async fn challenged_account(
    txn: &impl ConnectionTrait,
    user_id: Uuid,
    epoch: i32,
    now: DateTime<Utc>,
) -> Result<user::Model> {
    let user = user::Entity::find_by_id(user_id)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(unauthenticated)?;
    if user.session_epoch != epoch || locked_now(&user, now) || !user.is_approved {
        return Err(Error::Unauthenticated(
            "invalid or expired challenge; sign in again".into(),
        ));
    }
    Ok(user)
}

/// Finishes a two-step sign-in: the challenge of [`login`] and a current code or a recovery
/// code give a session. A wrong code counts toward the lockout as a wrong password does, and
/// the checks are throttled per address and per account.
#[tracing::instrument(skip_all)]
pub async fn second_factor<C>(
    db: &C,
    auth: &Auth,
    keyring: &crate::crypto::Keyring,
    challenge: &str,
    proof: crate::two_factor::Proof<'_>,
    client: &ClientInfo,
) -> Result<Session>
where
    C: ConnectionTrait + TransactionTrait,
{
    let (user_id, epoch) = auth.verify_challenge(challenge, false)?;
    auth.throttle(client, Some(&user_id.to_string()))?;
    let txn = crate::db::begin_write(db).await?;
    let now = Utc::now();
    let user = challenged_account(&txn, user_id, epoch, now).await?;
    if !crate::two_factor::verify(&txn, keyring, user.id, proof, now).await? {
        drop(txn);
        record_failure(db, auth, user_id, client).await?;
        return Err(Error::Unauthenticated(
            "the code is wrong, used already, or expired".into(),
        ));
    }
    let how = match proof {
        crate::two_factor::Proof::Code(_) => "logged in with a second factor",
        crate::two_factor::Proof::RecoveryCode(_) => "logged in with a recovery code",
    };
    let session = start_session(&txn, auth, user, now, client, how).await?;
    txn.commit().await?;
    Ok(session)
}

/// The account an enrolment challenge was issued to, as it is now (see [`challenged_account`]).
pub async fn enrollment_account(
    db: &impl ConnectionTrait,
    auth: &Auth,
    challenge: &str,
) -> Result<user::Model> {
    let (user_id, epoch) = auth.verify_challenge(challenge, true)?;
    challenged_account(db, user_id, epoch, Utc::now()).await
}

/// Finishes the sign-in of a role that must have a second factor: the enrolment challenge and
/// a code confirming the new factor give the recovery codes and a session.
pub async fn enroll_and_sign_in<C>(
    db: &C,
    auth: &Auth,
    keyring: &crate::crypto::Keyring,
    challenge: &str,
    code: &str,
    client: &ClientInfo,
) -> Result<(Vec<String>, Session)>
where
    C: ConnectionTrait + TransactionTrait,
{
    let (user_id, _) = auth.verify_challenge(challenge, true)?;
    auth.throttle(client, Some(&user_id.to_string()))?;
    let codes = crate::two_factor::enroll_confirm(db, keyring, user_id, code, client).await?;
    let txn = crate::db::begin_write(db).await?;
    let user = enrollment_account(&txn, auth, challenge).await?;
    let session = start_session(
        &txn,
        auth,
        user,
        Utc::now(),
        client,
        "logged in after enrolling a second factor",
    )
    .await?;
    txn.commit().await?;
    Ok((codes, session))
}

/// Counts a failed login, in one transaction; the threshold-th consecutive failure locks the
/// account for the lockout duration. A lockout that has run out starts the count again.
pub(crate) async fn record_failure<C>(
    db: &C,
    auth: &Auth,
    user_id: Uuid,
    client: &ClientInfo,
) -> Result<()>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = crate::db::begin_write(db).await?;
    let Some(user) = user::Entity::find_by_id(user_id)
        .lock_exclusive()
        .one(&txn)
        .await?
    else {
        return Ok(());
    };
    let now = Utc::now();
    audit::record(
        &txn,
        Some(user.id),
        "auth.login_failed",
        None,
        "wrong password",
        client,
    )
    .await?;
    if locked_now(&user, now) {
        txn.commit().await?;
        return Ok(());
    }
    let expired_lock = user.is_locked;
    let failures = if expired_lock {
        1
    } else {
        user.failed_login_count + 1
    };
    let mut row = user::ActiveModel {
        id: Set(user.id),
        failed_login_count: Set(failures),
        updated_at: Set(now),
        ..Default::default()
    };
    if expired_lock {
        row.is_locked = Set(false);
        row.locked_until = Set(None);
        row.lock_reason = Set(None);
    }
    if failures >= auth.config.lockout_threshold as i32 {
        let until = now
            + chrono::Duration::from_std(auth.config.lockout_duration)
                .map_err(|e| Error::Internal(format!("lockout duration: {e}")))?;
        row.is_locked = Set(true);
        row.locked_until = Set(Some(until));
        row.lock_reason = Set(Some(format!("{failures} failed logins")));
        audit::record(
            &txn,
            Some(user.id),
            "auth.lockout",
            None,
            format!("locked until {until} after {failures} failed logins"),
            client,
        )
        .await?;
    }
    user::Entity::update(row).exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}

async fn issue_session(
    db: &impl ConnectionTrait,
    auth: &Auth,
    user: user::Model,
    family_id: Uuid,
    parent_id: Option<Uuid>,
    client: &ClientInfo,
) -> Result<Session> {
    let (access_token, access_token_expires_at) =
        auth.issue_access_token(&user, Some(family_id))?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let refresh = hex(&bytes);
    let now = Utc::now();
    let expires = now
        + chrono::Duration::from_std(auth.config.refresh_ttl)
            .map_err(|e| Error::Internal(format!("refresh token lifetime: {e}")))?;
    refresh_token::Entity::insert(refresh_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user.id),
        token_hash: Set(token_hash(&refresh)),
        family_id: Set(family_id),
        parent_id: Set(parent_id),
        expires_at: Set(expires),
        used_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(now),
        user_agent: Set(client
            .user_agent
            .clone()
            .map(|ua| ua.chars().take(512).collect())),
        ip_address: Set(client.ip.clone().map(|ip| ip.chars().take(45).collect())),
    })
    .exec_without_returning(db)
    .await?;
    Ok(Session {
        access_token,
        access_token_expires_at,
        refresh_token: refresh,
        user,
    })
}

/// Locks every token of a family until the transaction ends. Refresh, logout and reuse
/// revocation all take this lock first, so a revocation cannot miss a successor that a
/// concurrent refresh is about to commit (on SQLite the write transaction serializes them).
pub(crate) async fn lock_family(
    db: &impl ConnectionTrait,
    family_id: Uuid,
) -> Result<Vec<refresh_token::Model>> {
    Ok(refresh_token::Entity::find()
        .filter(refresh_token::Column::FamilyId.eq(family_id))
        .lock_exclusive()
        .all(db)
        .await?)
}

/// Trades a refresh token for a new session, rotating it.
#[tracing::instrument(skip_all)]
pub async fn refresh<C>(db: &C, auth: &Auth, token: &str, client: &ClientInfo) -> Result<Session>
where
    C: ConnectionTrait + TransactionTrait,
{
    let invalid = || Error::Unauthenticated("invalid or expired refresh token".into());
    auth.throttle(client, None)?;
    let hash = token_hash(token);
    let txn = crate::db::begin_write(db).await?;
    let Some(found) = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(hash.as_str()))
        .one(&txn)
        .await?
    else {
        return Err(invalid());
    };
    // The account first, then the family, as `end_sessions` takes them: a password change or
    // lock that commits while this refresh runs either waits for it (and then revokes the
    // token it issues) or is seen by it.
    let user = user::Entity::find_by_id(found.user_id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(invalid)?;
    // The token as it is under the family's lock.
    let family = lock_family(&txn, found.family_id).await?;
    let Some(stored) = family.iter().find(|t| t.id == found.id).cloned() else {
        return Err(invalid());
    };
    let now = Utc::now();
    if stored.revoked_at.is_some() || stored.expires_at <= now {
        return Err(invalid());
    }
    // The family's absolute end: its login plus the family lifetime. The login time is in the
    // family id (a UUIDv7 made at sign-in), which outlives the rows retention deletes.
    let started = family_started(stored.family_id).unwrap_or(stored.created_at);
    let lifetime = chrono::Duration::from_std(auth.config.refresh_family_lifetime)
        .unwrap_or(chrono::Duration::MAX);
    if started
        .checked_add_signed(lifetime)
        .is_some_and(|end| end <= now)
    {
        revoke_locked_family(&txn, stored.family_id, now).await?;
        txn.commit().await?;
        return Err(Error::Unauthenticated(
            "this sign-in has reached its maximum age; sign in again".into(),
        ));
    }
    if stored.used_at.is_some() {
        // Already rotated: someone is replaying it. The whole family goes, and it is audited.
        revoke_locked_family(&txn, stored.family_id, now).await?;
        audit::record(
            &txn,
            Some(stored.user_id),
            "auth.refresh_reuse",
            None,
            format!(
                "rotated refresh token presented again; family {} revoked",
                stored.family_id
            ),
            client,
        )
        .await?;
        txn.commit().await?;
        return Err(invalid());
    }
    refresh_token::Entity::update(refresh_token::ActiveModel {
        id: Set(stored.id),
        used_at: Set(Some(now)),
        ..Default::default()
    })
    .exec(&txn)
    .await?;
    if locked_now(&user, now) || !user.is_approved {
        return Err(invalid());
    }
    let session =
        issue_session(&txn, auth, user, stored.family_id, Some(stored.id), client).await?;
    txn.commit().await?;
    Ok(session)
}

/// When the sign-in that started a family happened, from its UUIDv7 family id.
pub(crate) fn family_started(family_id: Uuid) -> Option<DateTime<Utc>> {
    let (seconds, nanos) = family_id.get_timestamp()?.to_unix();
    DateTime::from_timestamp(i64::try_from(seconds).ok()?, nanos)
}

pub(crate) async fn revoke_locked_family(
    db: &impl ConnectionTrait,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::FamilyId.eq(family_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Revokes the refresh token's family: this login ends on every device it was refreshed on.
/// An unknown token is not an error, so logout never tells whether a token existed.
#[tracing::instrument(skip_all)]
pub async fn logout<C>(db: &C, token: &str, client: &ClientInfo) -> Result<()>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = crate::db::begin_write(db).await?;
    if let Some(stored) = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(token_hash(token)))
        .one(&txn)
        .await?
    {
        lock_family(&txn, stored.family_id).await?;
        revoke_locked_family(&txn, stored.family_id, Utc::now()).await?;
        audit::record(
            &txn,
            Some(stored.user_id),
            "auth.logout",
            None,
            "logged out",
            client,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Ends every session of a user at once (on a password change, lock, unapproval or role
/// change): their refresh tokens are revoked and the session epoch raised, so every access
/// token issued before is refused from now on. Call inside the change's transaction.
pub async fn end_sessions(db: &impl ConnectionTrait, user_id: Uuid) -> Result<()> {
    // The account row first (its lock orders this against a concurrent refresh, which takes
    // it before the family), then the refresh tokens.
    user::Entity::update_many()
        .col_expr(
            user::Column::SessionEpoch,
            Expr::col(user::Column::SessionEpoch).add(1),
        )
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    revoke_all(db, user_id).await
}

/// Revokes every refresh token of a user.
pub async fn revoke_all(db: &impl ConnectionTrait, user_id: Uuid) -> Result<()> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(refresh_token::Column::UserId.eq(user_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// The actor behind a verified access token: the user's current role and memberships, read
/// in one statement. A deleted or locked account is refused even while its token is valid.
/// A token from before the account's sessions were ended is refused.
/// A token of a sign-in (`sid`) is refused once that sign-in was revoked, in the same
/// statement.
pub async fn actor(db: &impl ConnectionTrait, claims: &Claims) -> Result<Actor> {
    let Some(session) = claims.sid else {
        return session_account(db, claims.sub, claims.sv).await;
    };
    let rows = user::Entity::find()
        .filter(still_signed_in(claims.sub, Some(session)))
        .find_with_related(organization_member::Entity)
        .all(db)
        .await?;
    let Some((user, memberships)) = rows.into_iter().next() else {
        return Err(session_ended());
    };
    let mut actor = account_of(user, memberships, Utc::now())?;
    if actor.session_epoch != claims.sv {
        return Err(session_ended());
    }
    actor.session_id = Some(session);
    Ok(actor)
}

/// The account `user_id`, unless its sign-in `session` was revoked: what [`actor`] reads, and
/// the statement alongside a page for [`viewer_actor`].
pub(crate) fn still_signed_in(user_id: Uuid, session: Option<Uuid>) -> sea_orm::Condition {
    let account = sea_orm::Condition::all().add(user::Column::Id.eq(user_id));
    let Some(session) = session else {
        return account;
    };
    // Revoking a sign-in marks every token of its family; rotation and expiry do not.
    let revoked = Query::select()
        .expr(Expr::val(1))
        .from(refresh_token::Entity)
        .and_where(refresh_token::Column::FamilyId.eq(session))
        .and_where(refresh_token::Column::RevokedAt.is_not_null())
        .to_owned();
    account.add(Expr::exists(revoked).not())
}

/// [`actor`], from what the statement alongside a page read of the account it was asked about
/// (a [`Viewer`] of `claims`' account and sign-in) instead of a statement of its own.
///
/// [`Viewer`]: crate::ticket::alongside::Viewer
pub fn viewer_actor(claims: &Claims, rows: crate::ticket::alongside::ViewerRows) -> Result<Actor> {
    let Some(account) = rows.account else {
        // As `actor` and `session_account` answer an account they do not find.
        return Err(if claims.sid.is_some() {
            session_ended()
        } else {
            gone()
        });
    };
    let mut actor = account_in(account, rows.organization_ids, Utc::now())?;
    if actor.session_epoch != claims.sv {
        return Err(session_ended());
    }
    actor.session_id = claims.sid;
    Ok(actor)
}

/// The actor behind a bearer token: an API token (`hd_pat_...`), or an access token; with
/// when the access token expires.
pub async fn bearer_actor(
    db: &impl ConnectionTrait,
    auth: &Auth,
    token: &str,
) -> Result<(Actor, Option<DateTime<Utc>>)> {
    if crate::api_token::is_api_token(token) {
        return Ok((crate::api_token::authenticate(db, token).await?, None));
    }
    let claims = auth.verify_access_token(token)?;
    let expires = DateTime::from_timestamp(claims.exp, 0);
    Ok((actor(db, &claims).await?, expires))
}

/// The account of a session made under `epoch`, as it is now; `UNAUTHENTICATED` once that
/// session has ended (or the account is gone, locked or unapproved). For long-lived
/// connections, which check at each push.
pub async fn session_account(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    epoch: i32,
) -> Result<Actor> {
    let actor = actor_for_user(db, user_id).await?;
    if actor.session_epoch != epoch {
        return Err(session_ended());
    }
    Ok(actor)
}

/// The error for a token whose session was ended (password change, lock, role change).
pub fn session_ended() -> Error {
    Error::Unauthenticated("this session has ended; sign in again".into())
}

/// The actor for a user id (current role and memberships; locked or unapproved is refused).
pub async fn actor_for_user(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Actor> {
    let rows = user::Entity::find_by_id(user_id)
        .find_with_related(organization_member::Entity)
        .all(db)
        .await?;
    match rows.into_iter().next() {
        Some((user, memberships)) => account_of(user, memberships, Utc::now()),
        None => Err(gone()),
    }
}

/// [`session_account`] for many sessions at once, in one statement: each `(user, epoch)` with
/// its account as it is now, or why it may not go on.
pub async fn session_accounts(
    db: &impl ConnectionTrait,
    sessions: &[(Uuid, i32)],
) -> Result<Vec<((Uuid, i32), Result<Actor>)>> {
    if sessions.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids: Vec<Uuid> = sessions.iter().map(|(id, _)| *id).collect();
    ids.sort();
    ids.dedup();
    let rows = user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .find_with_related(organization_member::Entity)
        .all(db)
        .await?;
    let now = Utc::now();
    Ok(sessions
        .iter()
        .map(|&(user_id, epoch)| {
            let account = match rows.iter().find(|(user, _)| user.id == user_id) {
                Some((user, memberships)) => account_of(user.clone(), memberships.clone(), now)
                    .and_then(|actor| {
                        if actor.session_epoch == epoch {
                            Ok(actor)
                        } else {
                            Err(session_ended())
                        }
                    }),
                None => Err(gone()),
            };
            ((user_id, epoch), account)
        })
        .collect())
}

fn gone() -> Error {
    Error::Unauthenticated("the account no longer exists".into())
}

/// The actor of an account row and its memberships; locked or unapproved is refused.
fn account_of(
    user: user::Model,
    memberships: Vec<organization_member::Model>,
    now: DateTime<Utc>,
) -> Result<Actor> {
    let organization_ids = memberships.into_iter().map(|m| m.organization_id).collect();
    account_in(user, organization_ids, now)
}

/// The actor of an account row, a member of `organization_ids`; locked or unapproved is
/// refused.
fn account_in(
    user: user::Model,
    mut organization_ids: Vec<Uuid>,
    now: DateTime<Utc>,
) -> Result<Actor> {
    if locked_now(&user, now) {
        return Err(Error::Unauthenticated("the account is locked".into()));
    }
    if !user.is_approved {
        return Err(Error::Unauthenticated("the account is not approved".into()));
    }
    // In one order whatever order the rows came in, so that two reads of the same
    // memberships give equal actors.
    organization_ids.sort_unstable();
    Ok(Actor {
        user_id: user.id,
        role: user.role,
        organization_ids,
        session_epoch: user.session_epoch,
        session_id: None,
        api_token: None,
    })
}
