//! Prometheus metrics, served at `GET /metrics` in the text exposition format.
//!
//! One registry per running application (not a process-global one), so several servers in one
//! process — the test suite starts many — each count only their own work.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The kind of a GraphQL operation; `invalid` when the document did not parse.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum OperationType {
    query,
    mutation,
    subscription,
    invalid,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: OperationType,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub status: u16,
}

/// What a statistics cache lookup found.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum CacheResult {
    hit,
    miss,
    /// The cache (Redis) did not answer; computed from the database.
    unavailable,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    pub result: CacheResult,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub job: String,
}

pub struct Metrics {
    registry: Registry,
    stats_cache: Family<CacheLabels, Counter>,
    job_runs: Family<JobLabels, Counter>,
    job_items: Family<JobLabels, Counter>,
    db_statements: Counter,
    db_failed_statements: Counter,
    db_background_statements: Counter,
    graphql_requests: Family<OperationLabels, Counter>,
    graphql_errors: Family<OperationLabels, Counter>,
    graphql_duration: Family<OperationLabels, Histogram>,
    http_requests: Family<HttpLabels, Counter>,
    subscriptions_active: Gauge,
    sockets_open: Gauge,
    redis_degraded: Gauge,
    events_replayed: Counter,
    events_fanout_failures: Counter,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("helpdesk");
        let db_statements = Counter::default();
        registry.register(
            "db_statements",
            "SQL statements run against the database",
            db_statements.clone(),
        );
        let db_failed_statements = Counter::default();
        registry.register(
            "db_failed_statements",
            "SQL statements that returned an error",
            db_failed_statements.clone(),
        );
        let db_background_statements = Counter::default();
        registry.register(
            "db_background_statements",
            "SQL statements run by background work (the event relay), not by requests",
            db_background_statements.clone(),
        );
        let graphql_requests = Family::<OperationLabels, Counter>::default();
        registry.register(
            "graphql_requests",
            "GraphQL operations executed, by operation type",
            graphql_requests.clone(),
        );
        let graphql_errors = Family::<OperationLabels, Counter>::default();
        registry.register(
            "graphql_errors",
            "GraphQL operations whose response carried errors, by operation type",
            graphql_errors.clone(),
        );
        // 1 ms to ~16 s in powers of two.
        let graphql_duration = Family::<OperationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 15))
        });
        registry.register(
            "graphql_request_duration_seconds",
            "Time to execute a GraphQL operation, by operation type",
            graphql_duration.clone(),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method and status",
            http_requests.clone(),
        );
        let subscriptions_active = Gauge::default();
        registry.register(
            "subscriptions_active",
            "GraphQL subscriptions listening for events on this server",
            subscriptions_active.clone(),
        );
        let sockets_open = Gauge::default();
        registry.register(
            "websockets_open",
            "Subscription WebSockets open on this server",
            sockets_open.clone(),
        );
        let redis_degraded = Gauge::default();
        registry.register(
            "redis_degraded",
            "1 while Redis does not answer: the server keeps serving, with live updates between \
             replicas read from the event log and statistics computed uncached",
            redis_degraded.clone(),
        );
        let events_replayed = Counter::default();
        registry.register(
            "events_replayed",
            "Events this server read back from the event log because the fan-out through Redis \
             missed them (an outage, a reconnect, a relay that stopped before publishing)",
            events_replayed.clone(),
        );
        let events_fanout_failures = Counter::default();
        registry.register(
            "events_fanout_failures",
            "Batches of events the relay could not publish to Redis; other replicas read them \
             from the event log instead",
            events_fanout_failures.clone(),
        );
        let stats_cache = Family::<CacheLabels, Counter>::default();
        registry.register(
            "stats_cache_requests",
            "Statistics requests by what the cache had: hit, miss, or unavailable (Redis down)",
            stats_cache.clone(),
        );
        let job_runs = Family::<JobLabels, Counter>::default();
        registry.register(
            "job_runs",
            "Completed rounds of each background job on this server",
            job_runs.clone(),
        );
        let job_items = Family::<JobLabels, Counter>::default();
        registry.register(
            "job_items",
            "What each background job acted on: tickets scanned or closed, rows deleted",
            job_items.clone(),
        );
        Arc::new(Self {
            registry,
            stats_cache,
            job_runs,
            job_items,
            db_statements,
            db_failed_statements,
            db_background_statements,
            graphql_requests,
            graphql_errors,
            graphql_duration,
            http_requests,
            subscriptions_active,
            sockets_open,
            redis_degraded,
            events_replayed,
            events_fanout_failures,
        })
    }

    /// Counts statistics cache lookups into `helpdesk_stats_cache_requests_total`.
    pub fn stats_cache_observer(self: &Arc<Self>) -> service::stats::cache::Observer {
        let family = self.stats_cache.clone();
        Arc::new(move |outcome| {
            use service::stats::cache::Outcome;
            let result = match outcome {
                Outcome::Hit => CacheResult::hit,
                Outcome::Miss => CacheResult::miss,
                Outcome::Unavailable => CacheResult::unavailable,
            };
            family.get_or_create(&CacheLabels { result }).inc();
        })
    }

    pub fn record_job(&self, job: &str, items: u64) {
        let labels = JobLabels { job: job.into() };
        self.job_runs.get_or_create(&labels).inc();
        self.job_items.get_or_create(&labels).inc_by(items);
    }

    pub fn record_statement(&self, failed: bool) {
        self.db_statements.inc();
        if failed {
            self.db_failed_statements.inc();
        }
    }

    pub fn subscription_started(&self) {
        self.subscriptions_active.inc();
    }

    pub fn subscription_ended(&self) {
        self.subscriptions_active.dec();
    }

    pub fn socket_opened(&self) {
        self.sockets_open.inc();
    }

    pub fn socket_closed(&self) {
        self.sockets_open.dec();
    }

    /// Whether Redis answers; `/readyz` and the event fan-out report it.
    pub fn set_redis_degraded(&self, degraded: bool) {
        self.redis_degraded.set(i64::from(degraded));
    }

    pub fn record_replayed_events(&self, count: usize) {
        self.events_replayed.inc_by(count as u64);
    }

    pub fn record_fanout_failure(&self) {
        self.events_fanout_failures.inc();
    }

    pub fn record_background_statement(&self) {
        self.db_background_statements.inc();
    }

    pub fn record_operation(&self, operation: OperationType, elapsed: Duration, had_errors: bool) {
        let labels = OperationLabels { operation };
        self.graphql_requests.get_or_create(&labels).inc();
        if had_errors {
            self.graphql_errors.get_or_create(&labels).inc();
        }
        self.graphql_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    pub fn record_http(&self, method: &str, status: u16) {
        self.http_requests
            .get_or_create(&HttpLabels {
                method: method.to_string(),
                status,
            })
            .inc();
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
