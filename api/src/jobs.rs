//! The background jobs' timer: every `HELPDESK_JOBS_INTERVAL` seconds the SLA scanner, then
//! auto-close, then retention. Each job is safe to run on every replica at once (see
//! `service::jobs`); a failed round is logged and the next one tries again.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sea_orm::DatabaseConnection;

use crate::config::JobSettings;
use crate::events::EventBus;
use crate::metrics::Metrics;

pub async fn run(
    db: DatabaseConnection,
    settings: JobSettings,
    metrics: Arc<Metrics>,
    bus: EventBus,
) {
    if settings.jobs_interval_secs == 0 {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(settings.jobs_interval_secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = Utc::now();
        match service::sla::scan(&db, now).await {
            Ok(report) => metrics.record_job("sla_scan", report.tickets),
            Err(err) => tracing::warn!(%err, "SLA scan failed"),
        }
        match service::jobs::auto_close(&db, now, settings.auto_close_days).await {
            Ok(closed) => metrics.record_job("auto_close", closed),
            Err(err) => tracing::warn!(%err, "auto-close failed"),
        }
        match service::jobs::retention(&db, now, &settings.retention()).await {
            Ok(gone) => metrics.record_job("retention", gone.total()),
            Err(err) => tracing::warn!(%err, "retention clean-up failed"),
        }
        // Their events go out now rather than with the next request.
        bus.wake_relay();
    }
}
