//! The background jobs' timer: every `HELPDESK_JOBS_INTERVAL` seconds the SLA scanner, then
//! auto-close, then retention. Each job is safe to run on every replica at once (see
//! `service::jobs`); a failed round is logged and the next one tries again.

use crate::metrics::Job;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sea_orm::DatabaseConnection;

use service::attachment::Attachments;

use crate::config::JobSettings;
use crate::events::EventBus;
use crate::metrics::Metrics;

pub async fn run(
    db: DatabaseConnection,
    settings: JobSettings,
    metrics: Arc<Metrics>,
    bus: EventBus,
    attachments: Arc<Attachments>,
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
            Ok(report) => metrics.record_job(Job::SlaScan, report.tickets),
            Err(err) => tracing::warn!(%err, "SLA scan failed"),
        }
        match service::jobs::auto_close(&db, now, settings.auto_close_days).await {
            Ok(closed) => metrics.record_job(Job::AutoClose, closed),
            Err(err) => tracing::warn!(%err, "auto-close failed"),
        }
        match service::jobs::retention(&db, now, &settings.retention()).await {
            Ok(gone) => metrics.record_job(Job::Retention, gone.total()),
            Err(err) => tracing::warn!(%err, "retention clean-up failed"),
        }
        // Uploads never attached past their expiry, and deleted files: bytes, then rows.
        match service::attachment::purge(&db, &attachments.storage, now, now).await {
            Ok(gone) => metrics.record_job(Job::AttachmentPurge, gone),
            Err(err) => tracing::warn!(%err, "attachment clean-up failed"),
        }
        // Their events go out now rather than with the next request.
        bus.wake_relay();
    }
}

/// The virus scanner's worker: scans the files waiting (new uploads, and failed scans whose
/// retry is due), then sleeps until the next retry is due or an upload wakes it. Without a
/// scanner configured it ends at once (files are `NOT_SCANNED`).
pub async fn scan_attachments(
    db: DatabaseConnection,
    attachments: Arc<Attachments>,
    bus: EventBus,
) {
    let Some(scanner) = attachments.scanner.clone() else {
        return;
    };
    const BATCH: u64 = 16;
    const IDLE: Duration = Duration::from_secs(60);
    loop {
        let mut full = false;
        match service::attachment::due_for_scan(&db, Utc::now(), BATCH).await {
            Ok(due) => {
                full = due.len() as u64 == BATCH;
                for row in &due {
                    if let Err(err) =
                        service::attachment::scan_one(&db, &attachments, &scanner, row).await
                    {
                        tracing::warn!(%err, attachment = %row.id, "recording a scan failed");
                    }
                }
                if !due.is_empty() {
                    bus.wake_relay();
                }
            }
            Err(err) => tracing::warn!(%err, "reading the files to scan failed"),
        }
        if full {
            continue;
        }
        // Until the next retry is due (another replica's uploads show up within a minute).
        let wait = match service::attachment::next_scan_at(&db).await {
            Ok(Some(at)) => (at - Utc::now()).to_std().unwrap_or_default().min(IDLE),
            Ok(None) => IDLE,
            Err(_) => Duration::from_secs(5),
        };
        // A retry due now that could not be recorded is not tried again in a tight loop.
        let wait = wait.max(Duration::from_millis(200));
        tokio::select! {
            _ = attachments.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
