//! Health of the parts the service depends on, for `/readyz` and `helpdesk health`.

use redis::aio::ConnectionManager;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

/// One dependency's state: `Err` carries a short, password-free reason.
#[derive(Debug, Clone)]
pub struct Check {
    pub part: &'static str,
    pub result: Result<String, String>,
}

impl Check {
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }
}

pub async fn database(db: &DatabaseConnection) -> Check {
    let backend = crate::db::Backend::of(db).name();
    // A prepared statement, not `execute_unprepared`: it passes the metric callback, so it is
    // counted and timed like every other statement.
    let ping = Statement::from_string(db.get_database_backend(), "SELECT 1");
    let result = match db.execute_raw(ping).await {
        Ok(_) => Ok(backend.to_string()),
        Err(err) => Err(format!("{backend}: {err}")),
    };
    Check {
        part: "database",
        result,
    }
}

/// Redis answers `PING` within a second (a readiness probe must not wait out the client's
/// reconnect attempts).
pub async fn redis(conn: &ConnectionManager) -> Check {
    let mut conn = conn.clone();
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        crate::redis::ping(&mut conn),
    )
    .await;
    let result = match answer {
        Ok(Ok(())) => Ok("PONG".to_string()),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err("no answer within a second".to_string()),
    };
    Check {
        part: "redis",
        result,
    }
}

/// Work waiting in one queue: how much, and since when.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Queue {
    pub waiting: i64,
    pub oldest: Option<chrono::DateTime<chrono::Utc>>,
}

impl Queue {
    /// Seconds the oldest item has waited at `now` (0 when nothing waits).
    pub fn age_seconds(&self, now: chrono::DateTime<chrono::Utc>) -> i64 {
        self.oldest.map_or(0, |at| (now - at).num_seconds().max(0))
    }
}

/// What waits to go out: events the relay has not published, webhook deliveries not made
/// yet, notices by email not sent yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlogs {
    pub events: Queue,
    pub webhooks: Queue,
    pub mail: Queue,
}

/// Reads the backlogs: three statements.
pub async fn backlogs(db: &impl ConnectionTrait) -> crate::Result<Backlogs> {
    async fn queue(db: &impl ConnectionTrait, sql: &str) -> crate::Result<Queue> {
        let row = db
            .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
            .await?
            .ok_or_else(|| crate::Error::Internal(format!("no answer to {sql}")))?;
        Ok(Queue {
            waiting: row.try_get("", "waiting")?,
            oldest: row.try_get("", "oldest")?,
        })
    }
    Ok(Backlogs {
        events: queue(
            db,
            "SELECT COUNT(*) AS waiting, MIN(created_at) AS oldest FROM outbox_events \
             WHERE published_at IS NULL",
        )
        .await?,
        webhooks: queue(
            db,
            "SELECT COUNT(*) AS waiting, MIN(created_at) AS oldest FROM webhook_deliveries \
             WHERE status = 'PENDING'",
        )
        .await?,
        mail: queue(
            db,
            "SELECT COUNT(*) AS waiting, MIN(created_at) AS oldest FROM notifications \
             WHERE status = 'pending' AND channel = 'email'",
        )
        .await?,
    })
}
