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
