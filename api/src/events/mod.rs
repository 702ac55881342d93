//! Getting committed events to subscribers: the relay reads the event log in order and hands
//! each event to the in-process bus, which every subscription of this server listens to.
//!
//! The relay is woken right after a request that may have committed a change, and polls every
//! second as a safety net (for changes made by another process, or a wake-up that was missed).
//! The log is the truth: an event is marked published only in the transaction that claims it,
//! and a crash before that leaves it for the next pass.

use std::sync::Arc;
use std::time::Duration;

use entity::outbox_event;
use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, broadcast};

/// Events waiting in a slow subscriber's buffer before it starts missing them.
const BUS_CAPACITY: usize = 1024;
const BATCH: u64 = 200;
const POLL: Duration = Duration::from_secs(1);

/// The in-process event bus.
#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<outbox_event::Model>>,
    wake: Arc<Notify>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(BUS_CAPACITY);
        Self {
            sender,
            wake: Arc::new(Notify::new()),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<outbox_event::Model>> {
        self.sender.subscribe()
    }

    /// Asks the relay to look at the log now.
    pub fn wake_relay(&self) {
        self.wake.notify_one();
    }

    /// Runs the relay until the task is dropped.
    pub async fn relay(self, db: DatabaseConnection) {
        loop {
            loop {
                match service::event::claim_unpublished(&db, BATCH).await {
                    Ok(events) => {
                        let full = events.len() as u64 == BATCH;
                        for event in events {
                            // No subscriber is not an error: the log keeps the event.
                            let _ = self.sender.send(Arc::new(event));
                        }
                        if !full {
                            break;
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "relaying events failed; retrying");
                        break;
                    }
                }
            }
            let _ = tokio::time::timeout(POLL, self.wake.notified()).await;
        }
    }
}
