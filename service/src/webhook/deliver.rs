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
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, TransactionSession, TransactionTrait,
};
use tracing::Instrument;
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
/// Deliveries sent at once by one worker: one per (endpoint, ticket) chain.
pub const CONCURRENCY: usize = 64;
/// Most deliveries a worker claims at once.
pub const BATCH: u64 = 512;
/// Most deliveries of one endpoint and ticket claimed at once; they are sent one after the
/// other, in event order.
const CHAIN: i64 = 32;

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

/// What one round of [`Deliverer::run_round`] came to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Deliveries claimed (some may have been let go unsent, behind a failure of their chain).
    pub claimed: usize,
    /// Attempts the endpoint accepted.
    pub delivered: u64,
    /// Failed attempts that will be tried again.
    pub retrying: u64,
    /// Failed attempts after which the delivery is given up.
    pub failed: u64,
}

/// What one attempt came to.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub status: Option<u16>,
    pub duration_ms: i32,
    pub error: Option<String>,
    pub retry_after: Option<Duration>,
}

impl Outcome {
    /// A 2xx answer.
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// One attempt made, with what it came to.
struct Attempted {
    hook: webhook::Model,
    delivery: webhook_delivery::Model,
    outcome: Outcome,
    sent_at: DateTime<Utc>,
}

/// What came of one chain: the attempts made, and the deliveries released unattempted
/// behind a failed one.
#[derive(Default)]
struct Chain {
    attempted: Vec<Attempted>,
    released: Vec<Uuid>,
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
    /// were claimed.
    ///
    /// The deliveries of one endpoint and ticket form a chain, sent one after the other in
    /// event order; chains go out concurrently. A failed attempt ends its chain: the rest are
    /// released, and wait behind it; so are those the claim's hold would not cover. The
    /// outcomes are recorded together, in one transaction.
    pub async fn run_due<C>(&self, db: &C, now: DateTime<Utc>, limit: u64) -> Result<usize>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        Ok(self.run_round(db, now, limit).await?.claimed)
    }

    /// [`Self::run_due`], telling what the attempts came to.
    pub async fn run_round<C>(&self, db: &C, now: DateTime<Utc>, limit: u64) -> Result<Round>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let claimed = claim_due(db, now, limit, self.lease()).await?;
        let held_from = Instant::now();
        let count = claimed.len();
        // The claim comes in chain order: each chain is one run of it.
        let mut chains: Vec<Vec<(webhook_delivery::Model, webhook::Model)>> = Vec::new();
        for (delivery, hook) in claimed {
            match chains.last_mut() {
                Some(chain)
                    if chain[0].0.webhook_id == delivery.webhook_id
                        && chain[0].0.ticket_id == delivery.ticket_id =>
                {
                    chain.push((delivery, hook))
                }
                _ => chains.push(vec![(delivery, hook)]),
            }
        }
        let sent: Vec<Chain> = futures_util::stream::iter(chains)
            .map(|chain| async move {
                let mut done = Chain::default();
                let mut chain = chain.into_iter();
                for (delivery, hook) in chain.by_ref() {
                    // An attempt that could outlast the claim's hold is left for the next
                    // claim (another worker may take it once the hold ends).
                    if held_from.elapsed() + self.timeout >= self.lease() {
                        done.released.push(delivery.id);
                        break;
                    }
                    // The real time when it is later (a test's clock may be ahead of it).
                    let sent_at = std::cmp::Ord::max(now, Utc::now());
                    let outcome = self.attempt(&hook, &delivery, sent_at).await;
                    let succeeded = outcome.succeeded();
                    done.attempted.push(Attempted {
                        hook,
                        delivery,
                        outcome,
                        sent_at,
                    });
                    if !succeeded {
                        break;
                    }
                }
                done.released.extend(chain.map(|(delivery, _)| delivery.id));
                done
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut round = record_all(db, sent).await?;
        round.claimed = count;
        Ok(round)
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
        // A span in the trace of the request that made the event, whose context goes out with
        // the delivery.
        let span = tracing::info_span!(
            "webhook.deliver",
            otel.kind = "client",
            webhook = %hook.id,
            delivery = %delivery.id,
            attempt = delivery.attempt + 1,
        );
        crate::trace::continue_from(&span, delivery.trace_parent.as_deref());
        let mut request = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature);
        for (name, value) in crate::trace::headers_of(&span) {
            request = request.header(name, value);
        }
        let sent = request
            .body(delivery.body.clone())
            .send()
            .instrument(span)
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

/// The advisory lock key claims of all workers take turns on.
const CLAIM_LOCK: i64 = 0x6864_6573_6b05;

/// Claims due deliveries of enabled endpoints, holding each for `lease`: of every endpoint and
/// ticket, the first pending ones in event order (at most [`CHAIN`]) up to the first that is
/// not due or is held by another worker, so an endpoint receives each ticket's events in
/// order. The first of every chain come first, then the second, and so on: a claim cut short
/// by `limit` still holds whole beginnings of chains. Claims take turns (an advisory lock on
/// PostgreSQL, the write transaction on SQLite); a worker that finds the lock taken claims
/// nothing this time.
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
    if !crate::db::try_job_lock(&txn, CLAIM_LOCK).await? {
        txn.rollback().await?;
        return Ok(Vec::new());
    }
    let backend = txn.get_database_backend();
    let (p1, p2, p3, p4, p5) = match backend {
        sea_orm::DatabaseBackend::Postgres => ("$1", "$2", "$3", "$4", "$5"),
        _ => ("?", "?", "?", "?", "?"),
    };
    // `held` counts, along a chain, the deliveries not yet due or held by a worker: a
    // delivery may go only when none before it (itself included) is.
    let sql = format!(
        "SELECT * FROM (\
           SELECT d.*, \
             ROW_NUMBER() OVER chain AS chain_rank, \
             SUM(CASE WHEN d.next_attempt_at > {p1} \
                   OR (d.locked_until IS NOT NULL AND d.locked_until > {p2}) THEN 1 ELSE 0 END) \
               OVER (chain ROWS UNBOUNDED PRECEDING) AS held \
           FROM webhook_deliveries d \
           WHERE d.status = {p3} \
             AND d.webhook_id IN (SELECT id FROM webhooks WHERE enabled = {p4}) \
           WINDOW chain AS (PARTITION BY d.webhook_id, d.ticket_id ORDER BY d.event_id, d.id)\
         ) c \
         WHERE c.held = 0 AND c.chain_rank <= {CHAIN} \
         ORDER BY c.chain_rank, c.next_attempt_at, c.id \
         LIMIT {p5}"
    );
    let due = webhook_delivery::Entity::find()
        .from_raw_sql(sea_orm::Statement::from_sql_and_values(
            backend,
            sql,
            [
                now.into(),
                now.into(),
                PENDING.into(),
                true.into(),
                (limit as i64).into(),
            ],
        ))
        .all(&txn)
        .await?;
    if due.is_empty() {
        txn.commit().await?;
        return Ok(Vec::new());
    }
    let until = now + chrono::Duration::from_std(lease).unwrap_or_default();
    let ids: Vec<Uuid> = due.iter().map(|d| d.id).collect();
    for chunk in ids.chunks(500) {
        webhook_delivery::Entity::update_many()
            .col_expr(D::LockedUntil, Expr::value(until))
            .filter(D::Id.is_in(chunk.to_vec()))
            .exec(&txn)
            .await?;
    }
    let mut hook_ids: Vec<Uuid> = due.iter().map(|d| d.webhook_id).collect();
    hook_ids.sort();
    hook_ids.dedup();
    let hooks = webhook::Entity::find()
        .filter(webhook::Column::Id.is_in(hook_ids))
        .all(&txn)
        .await?;
    txn.commit().await?;
    // In chain order: by endpoint and ticket, then event.
    let mut due = due;
    due.sort_by(|a, b| {
        (a.webhook_id, a.ticket_id, a.event_id, a.id).cmp(&(
            b.webhook_id,
            b.ticket_id,
            b.event_id,
            b.id,
        ))
    });
    Ok(due
        .into_iter()
        .filter_map(|d| {
            let hook = hooks.iter().find(|h| h.id == d.webhook_id)?.clone();
            Some((d, hook))
        })
        .collect())
}

/// Records what a round of chains came to, in one transaction: the successes in one
/// statement, each failure with its next attempt, the endpoints' failure records, and the
/// released deliveries let go.
async fn record_all<C>(db: &C, chains: Vec<Chain>) -> Result<Round>
where
    C: ConnectionTrait + TransactionTrait,
{
    use sea_orm::sea_query::CaseStatement;
    use webhook_delivery::Column as D;
    let mut succeeded = Vec::new();
    let mut failed = Vec::new();
    let mut released = Vec::new();
    for chain in chains {
        released.extend(chain.released);
        for attempted in chain.attempted {
            if attempted.outcome.succeeded() {
                succeeded.push(attempted);
            } else {
                failed.push(attempted);
            }
        }
    }
    let mut round = Round {
        delivered: succeeded.len() as u64,
        ..Round::default()
    };
    if succeeded.is_empty() && failed.is_empty() && released.is_empty() {
        return Ok(round);
    }
    let txn = crate::db::begin_write(db).await?;
    for chunk in succeeded.chunks(200) {
        let mut status = CaseStatement::new();
        let mut duration = CaseStatement::new();
        let mut at = CaseStatement::new();
        for a in chunk {
            let this = D::Id.eq(a.delivery.id);
            status = status.case(this.clone(), a.outcome.status.map(i32::from));
            duration = duration.case(this.clone(), a.outcome.duration_ms);
            at = at.case(this, a.sent_at);
        }
        webhook_delivery::Entity::update_many()
            .col_expr(D::Status, Expr::value(SUCCEEDED))
            .col_expr(D::Attempt, Expr::col(D::Attempt).add(1))
            .col_expr(D::NextAttemptAt, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(D::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(D::ResponseStatus, status.into())
            .col_expr(D::DurationMs, duration.into())
            .col_expr(D::Error, Expr::value(Option::<String>::None))
            .col_expr(D::LastAttemptAt, at.into())
            .filter(D::Id.is_in(chunk.iter().map(|a| a.delivery.id)))
            .exec(&txn)
            .await?;
    }
    // An endpoint that answered is no longer failing.
    let mut answered: Vec<Uuid> = succeeded.iter().map(|a| a.hook.id).collect();
    answered.sort();
    answered.dedup();
    if !answered.is_empty() {
        webhook::Entity::update_many()
            .col_expr(
                webhook::Column::FailingSince,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(webhook::Column::Id.is_in(answered))
            .filter(webhook::Column::FailingSince.is_not_null())
            .exec(&txn)
            .await?;
    }
    for a in &failed {
        match record_in(&txn, &a.hook, &a.delivery, &a.outcome, a.sent_at).await? {
            PENDING => round.retrying += 1,
            _ => round.failed += 1,
        }
    }
    for chunk in released.chunks(500) {
        webhook_delivery::Entity::update_many()
            .col_expr(D::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(D::Id.is_in(chunk.to_vec()))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(round)
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
    record_in(&txn, hook, delivery, outcome, now).await?;
    txn.commit().await?;
    Ok(())
}

/// [`record`], inside the caller's write transaction; returns the delivery's new status.
async fn record_in(
    txn: &impl ConnectionTrait,
    hook: &webhook::Model,
    delivery: &webhook_delivery::Model,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> Result<&'static str> {
    let attempt = delivery.attempt + 1;
    let succeeded = outcome.succeeded();
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
    row.update(txn).await?;

    // The endpoint's record, read again inside the transaction (other attempts ran too).
    if let Some(current) = webhook::Entity::find_by_id(hook.id).one(txn).await? {
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
            endpoint.update(txn).await?;
        }
    }
    Ok(status)
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
