//! The Redis connection: an auto-reconnecting multiplexed connection shared by the process.
//! Redis is optional; without `REDIS_URL` the cache and fan-out stay in process.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Why Redis could not be reached; the message never contains a password.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to Redis at {url}: {reason}")]
pub struct RedisConnectError {
    pub url: String,
    pub reason: String,
}

pub async fn connect(url: &str) -> Result<ConnectionManager, RedisConnectError> {
    let fail = |reason: String| RedisConnectError {
        url: crate::db::redact(url),
        reason,
    };
    let client = redis::Client::open(url).map_err(|e| fail(e.to_string()))?;
    // One direct attempt first, so an unreachable server fails at once; the manager below
    // retries with backoff, which is right for reconnecting later but not for starting.
    let mut probe = tokio::time::timeout(
        Duration::from_secs(5),
        client.get_multiplexed_async_connection(),
    )
    .await
    .map_err(|_| fail("no answer within 5s".into()))?
    .map_err(|e| fail(e.to_string()))?;
    redis::cmd("PING")
        .query_async::<String>(&mut probe)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(Duration::from_secs(5)));
    let mut manager = ConnectionManager::new_with_config(client, config)
        .await
        .map_err(|e| fail(e.to_string()))?;
    ping(&mut manager).await.map_err(|e| fail(e.to_string()))?;
    Ok(manager)
}

pub async fn ping(conn: &mut ConnectionManager) -> redis::RedisResult<()> {
    redis::cmd("PING")
        .query_async::<String>(conn)
        .await
        .map(|_| ())
}
