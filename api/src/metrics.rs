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

/// The labels of OpenTelemetry's HTTP server semantic conventions.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpRouteLabels {
    pub http_request_method: String,
    /// The route's template (`/files/{id}`), or `unmatched`: never the raw path.
    pub http_route: String,
    pub http_response_status_code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub state: PoolState,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum PoolState {
    in_use,
    idle,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    pub queue: Queue,
}

/// What waits to go out.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Queue {
    /// Events the relay has not published (the outbox's lag).
    events,
    /// Webhook deliveries not made yet.
    webhooks,
    /// Notices by email not sent yet.
    email,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    pub outcome: AttemptOutcome,
}

/// What an attempt to send a webhook delivery or an email came to.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum AttemptOutcome {
    /// Accepted by the endpoint or the SMTP server.
    delivered,
    /// Failed; it will be tried again.
    retry,
    /// Failed for good: given up.
    failed,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
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

/// How a page of tickets was resolved (`api::graphql::object::planned`).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum PageResolution {
    /// From a plan of its selection, made once for the page.
    plan,
    /// By async-graphql's executor, field by field.
    executor,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PageLabels {
    pub resolved: PageResolution,
}

/// What became of a query run at the same time as the check of its token, as the account the
/// token named on its last request (`api::http::graphql`).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum EarlyOutcome {
    /// The check found the same account, roles and memberships: its answer was sent.
    sent,
    /// The check found otherwise: its answer was dropped, and the query run again.
    dropped,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EarlyLabels {
    pub outcome: EarlyOutcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub job: String,
}

/// The background jobs, by the names their metrics carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Job {
    SlaScan,
    AutoClose,
    Retention,
    AttachmentPurge,
}

impl Job {
    pub const ALL: [Job; 4] = [
        Job::SlaScan,
        Job::AutoClose,
        Job::Retention,
        Job::AttachmentPurge,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Job::SlaScan => "sla_scan",
            Job::AutoClose => "auto_close",
            Job::Retention => "retention",
            Job::AttachmentPurge => "attachment_purge",
        }
    }
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
    graphql_ticket_pages: Family<PageLabels, Counter>,
    graphql_early: Family<EarlyLabels, Counter>,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<HttpRouteLabels, Histogram>,
    pool_connections: Family<PoolLabels, Gauge>,
    pool_waiting: Gauge,
    pool_max: Gauge,
    backlog: Family<QueueLabels, Gauge>,
    backlog_age: Family<QueueLabels, Gauge>,
    webhook_attempts: Family<AttemptLabels, Counter>,
    email_attempts: Family<AttemptLabels, Counter>,
    process: ProcessGauges,
    subscriptions_active: Gauge,
    subscription_groups: Gauge,
    sockets_open: Gauge,
    redis_degraded: Gauge,
    events_replayed: Counter,
    events_fanout_failures: Counter,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        // The standard names (`http_server_...`, `process_...`) at the root; ours under
        // `helpdesk_`.
        let mut root = Registry::default();
        let http_duration = Family::<HttpRouteLabels, Histogram>::new_with_constructor(|| {
            // OpenTelemetry's default boundaries for HTTP durations.
            Histogram::new([
                0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
            ])
        });
        root.register_with_unit(
            "http_server_request_duration",
            "Duration of HTTP server requests, by method, route and status",
            prometheus_client::registry::Unit::Seconds,
            http_duration.clone(),
        );
        let process = ProcessGauges::register(&mut root);
        let registry = root.sub_registry_with_prefix("helpdesk");
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
            })
            .set(1);
        registry.register(
            "build_info",
            "The running build: always 1, with the version as a label",
            build_info,
        );
        let pool_connections = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Connections of the database pool, in use or idle (read when scraped)",
            pool_connections.clone(),
        );
        let backlog = Family::<QueueLabels, Gauge>::default();
        registry.register(
            "backlog",
            "Items waiting to go out, by queue: unpublished events, pending webhook deliveries, \
             unsent notices by email (read when scraped)",
            backlog.clone(),
        );
        let backlog_age = Family::<QueueLabels, Gauge>::default();
        registry.register_with_unit(
            "backlog_oldest_age",
            "How long the oldest waiting item of each queue has waited; 0 when none waits",
            prometheus_client::registry::Unit::Seconds,
            backlog_age.clone(),
        );
        let webhook_attempts = Family::<AttemptLabels, Counter>::default();
        registry.register(
            "webhook_attempts",
            "Webhook delivery attempts, by outcome: delivered, retry (failed, tried again later), \
             failed (given up)",
            webhook_attempts.clone(),
        );
        let email_attempts = Family::<AttemptLabels, Counter>::default();
        registry.register(
            "email_attempts",
            "Attempts to send a notice by email, by outcome: delivered (accepted by the SMTP \
             server), retry, failed (given up)",
            email_attempts.clone(),
        );
        let pool_waiting = Gauge::default();
        registry.register(
            "db_pool_waiting",
            "Statements and transactions waiting for a connection of the database pool (read \
             when scraped)",
            pool_waiting.clone(),
        );
        let pool_max = Gauge::default();
        registry.register(
            "db_pool_max_connections",
            "The most connections the database pool opens",
            pool_max.clone(),
        );
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
        let graphql_ticket_pages = Family::<PageLabels, Counter>::default();
        registry.register(
            "graphql_ticket_pages",
            "Pages of tickets (`nodes` of a ticket connection) resolved, by how: from a plan of the selection, or by the executor field by field",
            graphql_ticket_pages.clone(),
        );
        for resolved in [PageResolution::plan, PageResolution::executor] {
            let _ = graphql_ticket_pages.get_or_create(&PageLabels { resolved });
        }
        let graphql_early = Family::<EarlyLabels, Counter>::default();
        registry.register(
            "graphql_early_queries",
            "Queries run while their token was checked, as the account it named before, by outcome: the answer sent, or dropped (the account had changed) and the query run again",
            graphql_early.clone(),
        );
        for outcome in [EarlyOutcome::sent, EarlyOutcome::dropped] {
            let _ = graphql_early.get_or_create(&EarlyLabels { outcome });
        }
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
        let subscription_groups = Gauge::default();
        registry.register(
            "subscription_groups",
            "Subscription operations run once for every socket that subscribed them as the same account",
            subscription_groups.clone(),
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
        // Every known series starts at 0, so it is there to alert on (and `rate` has a start)
        // before the first event it counts.
        for operation in [
            OperationType::query,
            OperationType::mutation,
            OperationType::subscription,
            OperationType::invalid,
        ] {
            graphql_requests
                .get_or_create(&OperationLabels { operation })
                .inc_by(0);
            graphql_errors
                .get_or_create(&OperationLabels { operation })
                .inc_by(0);
        }
        for result in [
            CacheResult::hit,
            CacheResult::miss,
            CacheResult::unavailable,
        ] {
            stats_cache.get_or_create(&CacheLabels { result }).inc_by(0);
        }
        for outcome in [
            AttemptOutcome::delivered,
            AttemptOutcome::retry,
            AttemptOutcome::failed,
        ] {
            webhook_attempts
                .get_or_create(&AttemptLabels { outcome })
                .inc_by(0);
            email_attempts
                .get_or_create(&AttemptLabels { outcome })
                .inc_by(0);
        }
        for job in Job::ALL {
            let labels = JobLabels {
                job: job.name().to_string(),
            };
            job_runs.get_or_create(&labels).inc_by(0);
            job_items.get_or_create(&labels).inc_by(0);
        }
        Arc::new(Self {
            registry: root,
            http_duration,
            pool_connections,
            pool_waiting,
            pool_max,
            backlog,
            backlog_age,
            webhook_attempts,
            email_attempts,
            process,
            stats_cache,
            job_runs,
            job_items,
            db_statements,
            db_failed_statements,
            db_background_statements,
            graphql_requests,
            graphql_errors,
            graphql_duration,
            graphql_ticket_pages,
            graphql_early,
            http_requests,
            subscriptions_active,
            subscription_groups,
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

    pub fn record_job(&self, job: Job, items: u64) {
        let labels = JobLabels {
            job: job.name().to_string(),
        };
        self.job_runs.get_or_create(&labels).inc();
        self.job_items.get_or_create(&labels).inc_by(items);
    }

    /// Counts a round of webhook attempts (`webhook`) or of mails (`!webhook`).
    pub fn record_attempts(&self, webhook: bool, delivered: u64, retry: u64, failed: u64) {
        let family = if webhook {
            &self.webhook_attempts
        } else {
            &self.email_attempts
        };
        for (outcome, count) in [
            (AttemptOutcome::delivered, delivered),
            (AttemptOutcome::retry, retry),
            (AttemptOutcome::failed, failed),
        ] {
            family
                .get_or_create(&AttemptLabels { outcome })
                .inc_by(count);
        }
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

    /// A shared subscription operation started (`true`) or ended.
    pub fn subscription_group(&self, started: bool) {
        if started {
            self.subscription_groups.inc();
        } else {
            self.subscription_groups.dec();
        }
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

    pub fn record_ticket_page(&self, resolved: PageResolution) {
        self.graphql_ticket_pages
            .get_or_create(&PageLabels { resolved })
            .inc();
    }

    pub fn record_early_query(&self, outcome: EarlyOutcome) {
        self.graphql_early
            .get_or_create(&EarlyLabels { outcome })
            .inc();
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

    /// One HTTP request, by OpenTelemetry's conventions.
    pub fn record_http_duration(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.http_duration
            .get_or_create(&HttpRouteLabels {
                http_request_method: method.to_string(),
                http_route: route.to_string(),
                http_response_status_code: status,
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Reads what is sampled at scrape time: the pool's connections and the process.
    pub fn sample(&self, db: &sea_orm::DatabaseConnection) {
        let pool = service::db::pool_usage(db);
        self.pool_connections
            .get_or_create(&PoolLabels {
                state: PoolState::in_use,
            })
            .set(i64::from(pool.in_use()));
        self.pool_connections
            .get_or_create(&PoolLabels {
                state: PoolState::idle,
            })
            .set(i64::from(pool.idle));
        self.pool_waiting.set(crate::telemetry::pool_waiting());
        self.pool_max.set(i64::from(pool.max));
        self.process.sample();
    }

    /// Reads the backlogs (three statements on `db`, which should not count them as a
    /// request's).
    pub async fn sample_backlogs(&self, db: &sea_orm::DatabaseConnection) {
        match service::health::backlogs(db).await {
            Ok(backlogs) => {
                let now = chrono::Utc::now();
                for (queue, q) in [
                    (Queue::events, backlogs.events),
                    (Queue::webhooks, backlogs.webhooks),
                    (Queue::email, backlogs.mail),
                ] {
                    let labels = QueueLabels { queue };
                    self.backlog.get_or_create(&labels).set(q.waiting);
                    self.backlog_age
                        .get_or_create(&labels)
                        .set(q.age_seconds(now));
                }
            }
            Err(err) => tracing::debug!(%err, "the backlogs could not be read for /metrics"),
        }
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

/// The process metrics Prometheus' client libraries export, read from `/proc/self`.
struct ProcessGauges {
    cpu_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    resident_bytes: Gauge,
    virtual_bytes: Gauge,
    open_fds: Gauge,
    max_fds: Gauge,
    start_time_seconds: Gauge,
    threads: Gauge,
}

impl ProcessGauges {
    fn register(registry: &mut Registry) -> Self {
        let gauges = Self {
            cpu_seconds: Gauge::default(),
            resident_bytes: Gauge::default(),
            virtual_bytes: Gauge::default(),
            open_fds: Gauge::default(),
            max_fds: Gauge::default(),
            start_time_seconds: Gauge::default(),
            threads: Gauge::default(),
        };
        use prometheus_client::registry::Unit;
        registry.register_with_unit(
            "process_cpu",
            "User and system CPU time the process has used",
            Unit::Seconds,
            gauges.cpu_seconds.clone(),
        );
        registry.register_with_unit(
            "process_resident_memory",
            "Resident memory of the process",
            Unit::Bytes,
            gauges.resident_bytes.clone(),
        );
        registry.register_with_unit(
            "process_virtual_memory",
            "Virtual memory of the process",
            Unit::Bytes,
            gauges.virtual_bytes.clone(),
        );
        registry.register(
            "process_open_fds",
            "Open file descriptors",
            gauges.open_fds.clone(),
        );
        registry.register(
            "process_max_fds",
            "The most file descriptors the process may open",
            gauges.max_fds.clone(),
        );
        registry.register_with_unit(
            "process_start_time",
            "When the process started, in seconds since the Unix epoch",
            Unit::Seconds,
            gauges.start_time_seconds.clone(),
        );
        registry.register(
            "process_threads",
            "Threads of the process",
            gauges.threads.clone(),
        );
        gauges
    }

    /// Reads `/proc/self`; what cannot be read keeps its last value.
    fn sample(&self) {
        const TICKS: f64 = 100.0; // USER_HZ on Linux
        const PAGE: i64 = 4096;
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
            && let Some((_, rest)) = stat.rsplit_once(')')
        {
            // Fields from the state (field 3) on: utime is 14, stime 15, threads 20,
            // starttime 22, vsize 23, rss 24.
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<i64>().ok());
            if let (Some(user), Some(system)) = (field(14), field(15)) {
                self.cpu_seconds.set((user + system) as f64 / TICKS);
            }
            if let Some(threads) = field(20) {
                self.threads.set(threads);
            }
            if let Some(vsize) = field(23) {
                self.virtual_bytes.set(vsize);
            }
            if let Some(rss) = field(24) {
                self.resident_bytes.set(rss * PAGE);
            }
            if let (Some(start), Some(boot)) = (field(22), boot_time()) {
                self.start_time_seconds.set(boot + start / TICKS as i64);
            }
        }
        if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds.set(entries.count() as i64);
        }
        if let Ok(limits) = std::fs::read_to_string("/proc/self/limits")
            && let Some(line) = limits.lines().find(|l| l.starts_with("Max open files"))
            && let Some(soft) = line.split_whitespace().nth(3)
            && let Ok(soft) = soft.parse::<i64>()
        {
            self.max_fds.set(soft);
        }
    }
}

/// The boot time, in seconds since the Unix epoch.
fn boot_time() -> Option<i64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}
