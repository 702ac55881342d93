//! Sending deliveries: claim what is due, POST it signed, record the outcome and schedule the
//! next attempt.
//!
//! - 2xx within the timeout is success. 3xx is a failure and is not followed.
//! - 410 Gone disables the endpoint at once.
//! - 429 and 503 with `Retry-After` are retried when the endpoint asks (at most a day later).
//! - Anything else is retried on the Standard Webhooks schedule, with ±10% jitter: 5 s, 5 min,
//!   30 min, 2 h, 5 h, 10 h, 10 h; after the last the delivery is `FAILED`.
//! - An endpoint whose attempts have failed continuously for 5 days is disabled.
//!
//! Every function takes the current time, so tests drive the schedule with their own clock.

use std::time::{Duration, Instant};

use base64::Engine;
use chrono::{DateTime, Utc};
use entity::{webhook, webhook_delivery};
use futures_util::StreamExt;
use hmac::{KeyInit, Mac};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, LockBehavior, LockType, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, TransactionSession, TransactionTrait,
};
use uuid::Uuid;

use super::secret::SigningSecrets;
use super::ssrf::{self, UrlPolicy};
use super::{FAILED, PENDING, SUCCEEDED};
use crate::Result;
use crate::crypto::Keyring;

/// Waits after failed attempts 1, 2, ...; after the last, the delivery has failed.
pub const SCHEDULE: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];
/// Continuous failure for this long disables an endpoint.
pub const DISABLE_AFTER: chrono::Duration = chrono::Duration::days(5);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Deliveries sent at once by one worker.
pub const CONCURRENCY: usize = 32;

/// `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` under the secret's key.
pub fn sign(secret: &str, message_id: &str, timestamp: i64, body: &str) -> String {
    let key = secret_key(secret);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC takes any key");
    mac.update(format!("{message_id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// The key of a `whsec_` secret (its base64 part, decoded).
pub fn secret_key(secret: &str) -> Vec<u8> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap_or_else(|_| encoded.as_bytes().to_vec())
}

/// The `webhook-signature` header: the current secret's signature, and the previous one's
/// while it still signs.
pub fn signatures(
    secrets: &SigningSecrets,
    message_id: &str,
    timestamp: i64,
    body: &str,
) -> String {
    let mut header = sign(&secrets.current, message_id, timestamp, body);
    if let Some(previous) = &secrets.previous {
        header.push(' ');
        header.push_str(&sign(previous, message_id, timestamp, body));
    }
    header
}

/// What one attempt came to.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub status: Option<u16>,
    pub duration_ms: i32,
    pub error: Option<String>,
    pub retry_after: Option<Duration>,
}

/// Sends deliveries.
#[derive(Clone)]
pub struct Deliverer {
    client: reqwest::Client,
    policy: UrlPolicy,
    timeout: Duration,
    /// Opens the stored signing secrets.
    keyring: std::sync::Arc<Keyring>,
}

impl Deliverer {
    pub fn new(policy: UrlPolicy, timeout: Duration, keyring: std::sync::Arc<Keyring>) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .dns_resolver(ssrf::resolver(policy))
            .user_agent(concat!("helpdesk-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the webhook HTTP client");
        Self {
            client,
            policy,
            timeout,
            keyring,
        }
    }

    /// How long a claimed delivery stays held: a worker that dies mid-attempt lets go then.
    pub fn lease(&self) -> Duration {
        self.timeout + Duration::from_secs(5)
    }

    /// Claims up to `limit` due deliveries, sends them, records the outcomes. Returns how many
    /// were attempted.
    pub async fn run_due<C>(&self, db: &C, now: DateTime<Utc>, limit: u64) -> Result<usize>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let claimed = claim_due(db, now, limit, self.lease()).await?;
        let count = claimed.len();
        let results: Vec<Result<()>> = futures_util::stream::iter(claimed)
            .map(|(delivery, hook)| async move {
                // The real time when it is later (a test's clock may be ahead of it).
                let sent_at = std::cmp::Ord::max(now, Utc::now());
                let outcome = self.attempt(&hook, &delivery, sent_at).await;
                record(db, &hook, &delivery, &outcome, sent_at).await
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for result in results {
            result?;
        }
        Ok(count)
    }

    /// One POST of a delivery.
    pub async fn attempt(
        &self,
        hook: &webhook::Model,
        delivery: &webhook_delivery::Model,
        now: DateTime<Utc>,
    ) -> Outcome {
        let started = Instant::now();
        let failed = |error: String| Outcome {
            error: Some(error),
            ..Outcome::default()
        };
        let url = match url::Url::parse(&hook.url) {
            Ok(url) => url,
            Err(err) => return failed(format!("bad URL: {err}")),
        };
        if let Err(refused) = ssrf::check_literal(&url, self.policy) {
            return failed(refused);
        }
        let secrets = match super::secret::signing(&self.keyring, hook, now) {
            Ok(secrets) => secrets,
            Err(err) => {
                // Nothing is sent unsigned; the delivery is retried on the schedule, so it
                // goes out once the server has the right key.
                tracing::error!(webhook = %hook.id, %err, "cannot open the endpoint's signing secret");
                return failed(format!("cannot open the signing secret: {err}"));
            }
        };
        let timestamp = now.timestamp();
        let signature = signatures(&secrets, &delivery.message_id, timestamp, &delivery.body);
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.body.clone())
            .send()
            .await;
        let duration_ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
        match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| retry_after(v, now));
                let error = (!response.status().is_success()).then(|| {
                    if response.status().is_redirection() {
                        format!("answered {status} (redirects are not followed)")
                    } else {
                        format!("answered {status}")
                    }
                });
                Outcome {
                    status: Some(status),
                    duration_ms,
                    error,
                    retry_after,
                }
            }
            Err(err) => Outcome {
                duration_ms,
                error: Some(describe(&err)),
                ..Outcome::default()
            },
        }
    }
}

fn describe(err: &reqwest::Error) -> String {
    let mut text = if err.is_timeout() {
        "timed out".to_string()
    } else if err.is_connect() {
        "could not connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(500).collect()
}

/// `Retry-After` as seconds or an HTTP date, capped at a day.
fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let wait = match value.trim().parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = DateTime::parse_from_rfc2822(value.trim()).ok()?;
            (at.with_timezone(&Utc) - now).to_std().unwrap_or_default()
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// When to try again after failed attempt number `attempt` (1-based); `None` when that was
/// the last.
pub fn next_attempt(attempt: i32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let wait = *SCHEDULE.get(usize::try_from(attempt).ok()?.checked_sub(1)?)?;
    let jitter = rand::random_range(0.9..=1.1);
    Some(now + chrono::Duration::from_std(wait.mul_f64(jitter)).ok()?)
}

/// Claims due deliveries of enabled endpoints, oldest first, holding each for `lease`. A
/// delivery waits while an earlier one of the same ticket to the same endpoint is pending, so
/// an endpoint receives each ticket's events in order.
pub async fn claim_due<C>(
    db: &C,
    now: DateTime<Utc>,
    limit: u64,
    lease: Duration,
) -> Result<Vec<(webhook_delivery::Model, webhook::Model)>>
where
    C: ConnectionTrait + TransactionTrait,
{
    use webhook_delivery::Column as D;
    let txn = crate::db::begin_write(db).await?;
    let earlier = Alias::new("earlier");
    let blocked = Query::select()
        .expr(Expr::val(1))
        .from_as(webhook_delivery::Entity, earlier.clone())
        .and_where(
            Expr::col((earlier.clone(), D::WebhookId))
                .equals((webhook_delivery::Entity, D::WebhookId)),
        )
        .and_where(
            Expr::col((earlier.clone(), D::TicketId))
                .equals((webhook_delivery::Entity, D::TicketId)),
        )
        .and_where(Expr::col((earlier.clone(), D::Status)).eq(PENDING))
        .and_where(
            Expr::col((earlier.clone(), D::EventId))
                .lt(Expr::col((webhook_delivery::Entity, D::EventId))),
        )
        .to_owned();
    let enabled = Query::select()
        .column(webhook::Column::Id)
        .from(webhook::Entity)
        .and_where(Expr::col(webhook::Column::Enabled).eq(true))
        .to_owned();
    let due = webhook_delivery::Entity::find()
        .filter(D::Status.eq(PENDING))
        .filter(D::NextAttemptAt.lte(now))
        .filter(
            sea_orm::Condition::any()
                .add(D::LockedUntil.is_null())
                .add(D::LockedUntil.lte(now)),
        )
        .filter(D::WebhookId.in_subquery(enabled))
        .filter(Expr::exists(blocked).not())
        .order_by_asc(D::NextAttemptAt)
        .order_by_asc(D::Id)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(&txn)
        .await?;
    if due.is_empty() {
        txn.commit().await?;
        return Ok(Vec::new());
    }
    let until = now + chrono::Duration::from_std(lease).unwrap_or_default();
    let ids: Vec<Uuid> = due.iter().map(|d| d.id).collect();
    webhook_delivery::Entity::update_many()
        .col_expr(D::LockedUntil, Expr::value(until))
        .filter(D::Id.is_in(ids))
        .exec(&txn)
        .await?;
    let hook_ids: Vec<Uuid> = due.iter().map(|d| d.webhook_id).collect();
    let hooks = webhook::Entity::find()
        .filter(webhook::Column::Id.is_in(hook_ids))
        .all(&txn)
        .await?;
    txn.commit().await?;
    Ok(due
        .into_iter()
        .filter_map(|d| {
            let hook = hooks.iter().find(|h| h.id == d.webhook_id)?.clone();
            Some((d, hook))
        })
        .collect())
}

/// Stores an attempt's outcome, schedules the next one, and disables the endpoint when it
/// answered 410 or has failed for [`DISABLE_AFTER`].
pub async fn record<C>(
    db: &C,
    hook: &webhook::Model,
    delivery: &webhook_delivery::Model,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> Result<()>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = crate::db::begin_write(db).await?;
    let attempt = delivery.attempt + 1;
    let succeeded = outcome.status.is_some_and(|s| (200..300).contains(&s));
    let gone = outcome.status == Some(410);
    let (status, next) = if succeeded {
        (SUCCEEDED, None)
    } else if gone {
        (FAILED, None)
    } else {
        let asked = outcome
            .retry_after
            .filter(|_| matches!(outcome.status, Some(429 | 503)))
            .and_then(|wait| chrono::Duration::from_std(wait).ok());
        match (asked, next_attempt(attempt, now)) {
            (_, None) => (FAILED, None),
            (Some(wait), Some(_)) => (PENDING, Some(now + wait)),
            (None, Some(at)) => (PENDING, Some(at)),
        }
    };
    let mut row = delivery.clone().into_active_model();
    row.attempt = Set(attempt);
    row.status = Set(status.into());
    row.next_attempt_at = Set(next);
    row.locked_until = Set(None);
    row.response_status = Set(outcome.status.map(i32::from));
    row.duration_ms = Set(Some(outcome.duration_ms));
    row.error = Set(outcome.error.clone());
    row.last_attempt_at = Set(Some(now));
    row.update(&txn).await?;

    // The endpoint's record, read again inside the transaction (other attempts ran too).
    if let Some(current) = webhook::Entity::find_by_id(hook.id).one(&txn).await? {
        let mut endpoint = current.clone().into_active_model();
        let mut changed = true;
        if succeeded {
            changed = current.failing_since.is_some();
            endpoint.failing_since = Set(None);
        } else {
            let since = current.failing_since.unwrap_or(now);
            endpoint.failing_since = Set(Some(since));
            let reason = if gone {
                Some("the endpoint answered 410 Gone".to_string())
            } else if now - since >= DISABLE_AFTER {
                Some("every delivery failed for 5 days".to_string())
            } else {
                None
            };
            if let Some(reason) = reason.filter(|_| current.enabled) {
                tracing::warn!(webhook = %hook.id, %reason, "disabling a webhook endpoint");
                endpoint.enabled = Set(false);
                endpoint.disabled_reason = Set(Some(reason));
                endpoint.disabled_at = Set(Some(now));
            }
        }
        if changed {
            endpoint.update(&txn).await?;
        }
    }
    txn.commit().await?;
    Ok(())
}

/// Pending deliveries of an endpoint, for tests and the CLI.
pub async fn pending_of(
    db: &impl ConnectionTrait,
    webhook_id: Uuid,
) -> Result<Vec<webhook_delivery::Model>> {
    Ok(webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::WebhookId.eq(webhook_id))
        .filter(webhook_delivery::Column::Status.eq(PENDING))
        .order_by_asc(webhook_delivery::Column::Id)
        .all(db)
        .await?)
}
