//! The tracing subscriber, built once at start: an env filter, pretty or JSON log lines, and
//! OpenTelemetry tracing.
//!
//! Spans are exported over OTLP when the standard variables ask for it
//! (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`, or
//! `OTEL_TRACES_EXPORTER=otlp`); the exporter and the SDK read the rest themselves:
//! `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`, `http/json`), `..._HEADERS`, `..._TIMEOUT`,
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER[_ARG]`, `OTEL_BSP_*`.
//! `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turns exporting off.
//!
//! W3C trace context is the propagator: a request's `traceparent` becomes its span's parent,
//! and webhook deliveries and mails carry theirs on ([`service::trace`]). JSON log lines carry
//! the `trace_id` and `span_id` of the span they were written in, so logs and traces join;
//! JSON logs therefore trace even when nothing is exported.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};

use opentelemetry::trace::{SpanContext, TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, TelemetrySettings};

/// The service name on exported spans unless `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES`
/// names another.
const SERVICE_NAME: &str = "helpdesk";

/// Keeps the exporter alive; dropping it flushes the spans still buffered.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(err) = provider.shutdown()
        {
            eprintln!("warning: flushing traces failed: {err}");
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid log filter `{filter}`: {reason}")]
    Filter { filter: String, reason: String },
    #[error("cannot set up the OTLP trace exporter: {0}")]
    Exporter(String),
    #[error("OTEL_TRACES_EXPORTER={0} is not supported: use `otlp` or `none`")]
    UnsupportedExporter(String),
    #[error("a tracing subscriber is already installed")]
    AlreadyInstalled,
}

/// Whether the standard variables ask for spans to be exported over OTLP.
fn exporting(var: impl Fn(&str) -> Option<String>) -> Result<bool, TelemetryError> {
    let set = |name: &str| var(name).is_some_and(|v| !v.trim().is_empty());
    if var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Ok(false);
    }
    match var("OTEL_TRACES_EXPORTER").map(|v| v.trim().to_ascii_lowercase()) {
        Some(exporter) if exporter == "none" => Ok(false),
        Some(exporter) if exporter == "otlp" => Ok(true),
        Some(exporter) if !exporter.is_empty() => {
            Err(TelemetryError::UnsupportedExporter(exporter))
        }
        _ => Ok(set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") || set("OTEL_EXPORTER_OTLP_ENDPOINT")),
    }
}

/// The resource of exported spans: the SDK's detectors (`OTEL_SERVICE_NAME`,
/// `OTEL_RESOURCE_ATTRIBUTES`), with this service's name when they name none, and the version.
fn resource() -> Resource {
    let named = std::env::var_os("OTEL_SERVICE_NAME").is_some_and(|v| !v.is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| {
            v.split(',')
                .any(|kv| kv.trim().starts_with("service.name="))
        });
    let mut builder = Resource::builder().with_attribute(opentelemetry::KeyValue::new(
        "service.version",
        env!("CARGO_PKG_VERSION"),
    ));
    if !named {
        builder = builder.with_service_name(SERVICE_NAME);
    }
    builder.build()
}

/// Installs the global subscriber and propagator. Call once, from `main`, before the async
/// runtime starts: the OTLP exporter's blocking HTTP client must not be created on a runtime
/// thread.
fn env_filter(text: &str) -> EnvFilter {
    EnvFilter::try_new(text).unwrap_or_else(|_| EnvFilter::new("info"))
}

pub fn init(settings: &TelemetrySettings) -> Result<Telemetry, TelemetryError> {
    let filter = EnvFilter::try_new(&settings.log_filter).map_err(|e| TelemetryError::Filter {
        filter: settings.log_filter.clone(),
        reason: e.to_string(),
    })?;
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let json = settings.log_format == LogFormat::Json;
    let provider = if exporting(|name| std::env::var(name).ok())? {
        // No endpoint here: the exporter reads OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT (and the
        // protocol, headers and timeout) itself.
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        Some(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource())
                .build(),
        )
    } else if json {
        // Spans with ids for the log lines, exported nowhere.
        Some(
            SdkTracerProvider::builder()
                .with_resource(resource())
                .build(),
        )
    } else {
        None
    };
    let shown = filter.max_level_hint();
    subscriber(settings, filter, provider.as_ref())
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    // Crates that write through `log` (the WebSocket library traces every frame) are asked
    // only for the levels the filter shows, not for the TRACE the pool's count listens to
    // (it listens to `tracing` events, which are filtered per target).
    log::set_max_level(log_level(shown));
    Ok(Telemetry { provider })
}

/// Log lines through `filter`, spans to `provider` when there is one, and the pool's waiting
/// count.
fn subscriber(
    settings: &TelemetrySettings,
    filter: EnvFilter,
    provider: Option<&SdkTracerProvider>,
) -> impl Subscriber + Send + Sync + 'static {
    let fmt = if settings.log_format == LogFormat::Json {
        tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(JsonWithTraceIds(
                tracing_subscriber::fmt::format()
                    .json()
                    .with_current_span(true),
            ))
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed()
    };
    // The filter applies to the log lines and the spans; the pool's waiting count sees its
    // own few spans and events whatever the filter says ([`Recorded`]). Without spans to export there is a
    // layer that takes nothing, not an absent one: an absent (`None`) layer counts as taking
    // every span and event, and then every span of every crate is recorded, entered and left
    // at each poll, whatever the filters say (a fifth of the server's CPU on the read path).
    let otel = match provider {
        Some(provider) => tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("helpdesk"))
            .with_filter(env_filter(&settings.log_filter))
            .boxed(),
        None => tracing_subscriber::layer::Identity::new()
            .with_filter(tracing::level_filters::LevelFilter::OFF)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(Recorded {
            shown: env_filter(&settings.log_filter),
        })
        .with(otel)
        .with(fmt.with_filter(filter))
        .with(PoolWaiting.with_filter(PoolWaiting::targets()))
}

/// The `log` level that lets through what `hint` does (everything when there is no hint).
fn log_level(hint: Option<tracing::level_filters::LevelFilter>) -> log::LevelFilter {
    use tracing::level_filters::LevelFilter;
    match hint {
        Some(LevelFilter::OFF) => log::LevelFilter::Off,
        Some(LevelFilter::ERROR) => log::LevelFilter::Error,
        Some(LevelFilter::WARN) => log::LevelFilter::Warn,
        Some(LevelFilter::INFO) => log::LevelFilter::Info,
        Some(LevelFilter::DEBUG) => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    }
}

/// How many statements and transactions wait for a connection of the database pool now
/// (OpenTelemetry's `db.client.connection.pending_requests`); 0 unless [`init`] ran.
pub fn pool_waiting() -> i64 {
    WAITING.load(Ordering::Relaxed).max(0)
}

static WAITING: AtomicI64 = AtomicI64::new(0);

/// Counts the tasks waiting for a database connection. sqlx's pool does not say how many wait,
/// so the count is kept from what SeaORM and sqlx trace: each statement or transaction that
/// SeaORM starts on the pool runs in a span of its driver, and asks the pool for a connection
/// first; it waits from the span's start until sqlx reports the connection acquired inside it
/// (`sqlx::pool::acquire`, enabled by [`service::db::connect`]), or until the span ends without
/// one (the acquire timed out). Statements inside a transaction use its connection and open no
/// driver span.
///
/// A driver span is recorded only when the pool of the server ([`watch_pool`]) has no idle
/// connection as the statement starts ([`Recorded`]): one that finds a connection does not
/// wait, and a recorded span costs at every poll of the statement (a twentieth of a read's CPU
/// when every statement had one). Without a watched pool every driver span is recorded.
struct PoolWaiting;

/// Marks a driver span still waiting for its connection.
struct Waiting;

/// SeaORM's driver methods that acquire a connection from the pool before anything else.
const ACQUIRING: [&str; 7] = [
    "execute",
    "execute_unprepared",
    "query_one",
    "query_all",
    "stream",
    "begin",
    "transaction",
];

/// The pool whose idle connections decide whether a statement may wait.
static WATCHED: std::sync::OnceLock<sea_orm::DatabaseConnection> = std::sync::OnceLock::new();

/// Counts waiting statements only when `db`'s pool has no idle connection (see
/// [`PoolWaiting`]). For the server's pool, once; later calls change nothing.
pub fn watch_pool(db: &sea_orm::DatabaseConnection) {
    let _ = WATCHED.set(db.clone());
}

/// Whether a statement starting now may have to wait for a connection: none is idle, or
/// statements already wait (a connection given back is idle for a moment before the first of
/// them takes it, and a newcomer queues behind them).
fn may_wait() -> bool {
    use sea_orm::DatabaseBackend;
    let Some(db) = WATCHED.get() else {
        return true;
    };
    if WAITING.load(Ordering::Relaxed) > 0 {
        return true;
    }
    match db.get_database_backend() {
        DatabaseBackend::Postgres => db.get_postgres_connection_pool().num_idle() == 0,
        DatabaseBackend::Sqlite => db.get_sqlite_connection_pool().num_idle() == 0,
        _ => true,
    }
}

fn is_acquiring(meta: &tracing::Metadata<'_>) -> bool {
    meta.is_span()
        && (meta.target() == "sea_orm::driver::sqlx_postgres"
            || meta.target() == "sea_orm::driver::sqlx_sqlite")
        && ACQUIRING.contains(&meta.name())
}

/// What is recorded at all, for any layer: what the log filter shows, SeaORM's driver spans of
/// statements that may wait for a connection ([`may_wait`]), and sqlx's acquire events; the
/// layers then take what their own filters let through. A global filter, innermost: with
/// per-layer filters alone, tracing-subscriber's registry records a span whenever one filter
/// is asked about it at run time, even when every filter refuses it, and a recorded span is
/// entered and left at every poll of what it wraps.
struct Recorded {
    shown: EnvFilter,
}

fn is_acquire_event(meta: &tracing::Metadata<'_>) -> bool {
    meta.is_event() && meta.target() == "sqlx::pool::acquire"
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorded {
    fn register_callsite(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if is_acquiring(meta) {
            // Asked at each statement: whether it may wait depends on the pool at the time.
            tracing::subscriber::Interest::sometimes()
        } else if is_acquire_event(meta) {
            tracing::subscriber::Interest::always()
        } else {
            Layer::<S>::register_callsite(&self.shown, meta)
        }
    }

    fn enabled(
        &self,
        meta: &tracing::Metadata<'_>,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        if is_acquiring(meta) && may_wait() || is_acquire_event(meta) {
            return true;
        }
        Layer::<S>::enabled(&self.shown, meta, ctx)
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        // The driver spans and acquire events are TRACE.
        Some(tracing::level_filters::LevelFilter::TRACE)
    }

    // The filter follows the spans it matches by their fields (`[span{field=value}]=level`).
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        Layer::<S>::on_new_span(&self.shown, attrs, id, ctx)
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        Layer::<S>::on_record(&self.shown, id, values, ctx)
    }

    fn on_enter(&self, id: &tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        Layer::<S>::on_enter(&self.shown, id, ctx)
    }

    fn on_exit(&self, id: &tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        Layer::<S>::on_exit(&self.shown, id, ctx)
    }

    fn on_close(&self, id: tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        Layer::<S>::on_close(&self.shown, id, ctx)
    }
}

impl PoolWaiting {
    fn targets() -> tracing_subscriber::filter::Targets {
        tracing_subscriber::filter::Targets::new()
            .with_target("sea_orm::driver::sqlx_postgres", tracing::Level::TRACE)
            .with_target("sea_orm::driver::sqlx_sqlite", tracing::Level::TRACE)
            .with_target("sqlx::pool::acquire", tracing::Level::TRACE)
    }

    fn done_waiting<S: for<'a> LookupSpan<'a>>(
        span: Option<tracing_subscriber::registry::SpanRef<'_, S>>,
    ) {
        if let Some(span) = span
            && span.extensions_mut().remove::<Waiting>().is_some()
        {
            WAITING.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl<S> Layer<S> for PoolWaiting
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if is_acquiring(attrs.metadata())
            && let Some(span) = ctx.span(id)
        {
            span.extensions_mut().insert(Waiting);
            WAITING.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::pool::acquire" {
            Self::done_waiting(ctx.event_span(event));
        }
    }

    fn on_close(&self, id: tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        Self::done_waiting(ctx.span(&id));
    }
}

/// Makes `span` a child of the caller's span that a request's `traceparent` names.
pub fn continue_from_headers(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    struct Headers<'a>(&'a axum::http::HeaderMap);
    impl opentelemetry::propagation::Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|k| k.as_str()).collect()
        }
    }
    if !headers.contains_key(service::trace::TRACEPARENT) {
        return;
    }
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(headers)));
    // Fails only for a span already started: the request's span is new.
    let _ = span.set_parent(cx);
}

/// JSON log lines that begin with the `trace_id` and `span_id` of the span they were written
/// in (when it belongs to a trace).
struct JsonWithTraceIds(Format<Json>);

impl<S, N> FormatEvent<S, N> for JsonWithTraceIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let ids = ctx
            .lookup_current()
            .and_then(|span| {
                tracing::dispatcher::get_default(|dispatch| {
                    tracing_opentelemetry::get_otel_context(&span.id(), dispatch)
                })
            })
            .map(|cx| cx.span().span_context().clone())
            .filter(SpanContext::is_valid);
        let Some(ids) = ids else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(rest) => write!(
                writer,
                "{{\"trace_id\":\"{}\",\"span_id\":\"{}\",{rest}",
                ids.trace_id(),
                ids.span_id()
            ),
            None => writer.write_str(&line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exporting_with(vars: &[(&str, &str)]) -> Result<bool, TelemetryError> {
        exporting(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    /// Spans the filter does not show are not recorded at all (each recorded span costs the
    /// registry work at every poll of what it wraps), with or without an exporter; the driver
    /// spans the pool's waiting count reads are the exception.
    #[test]
    fn what_the_filter_does_not_show_is_not_recorded() {
        let settings = TelemetrySettings {
            log_filter: "info,sqlx=warn,sea_orm=warn,async_graphql::dataloader=warn".into(),
            log_format: LogFormat::Pretty,
        };
        let exporter = SdkTracerProvider::builder().build();
        for provider in [None, Some(&exporter)] {
            let subscriber = subscriber(&settings, env_filter(&settings.log_filter), provider);
            tracing::subscriber::with_default(subscriber, || {
                assert!(
                    tracing::info_span!(target: "async_graphql::dataloader", "load_one")
                        .is_disabled()
                );
                assert!(tracing::debug_span!(target: "h2::codec", "frame").is_disabled());
                assert!(!tracing::info_span!(target: "api::http", "request").is_disabled());
            });
        }
    }

    /// A statement's driver span is recorded only while the watched pool has no idle
    /// connection, and then it is counted as waiting until sqlx hands it one.
    #[tokio::test]
    async fn driver_spans_are_recorded_only_when_the_pool_has_no_idle_connection() {
        let mut options = sea_orm::ConnectOptions::new("sqlite::memory:");
        options.max_connections(1).min_connections(1);
        let db = sea_orm::Database::connect(options).await.expect("sqlite");
        watch_pool(&db);
        let pool = db.get_sqlite_connection_pool();
        while pool.num_idle() == 0 {
            tokio::task::yield_now().await;
        }
        let settings = TelemetrySettings {
            log_filter: "info".into(),
            log_format: LogFormat::Pretty,
        };
        let installed = || subscriber(&settings, env_filter(&settings.log_filter), None);
        let driver = || tracing::trace_span!(target: "sea_orm::driver::sqlx_sqlite", "query_all");
        let idle = tracing::subscriber::with_default(installed(), driver);
        assert!(idle.is_disabled(), "a span while a connection is idle");

        let held = pool.acquire().await.expect("the one connection");
        tracing::subscriber::with_default(installed(), || {
            let before = WAITING.load(Ordering::Relaxed);
            let busy = driver();
            assert!(
                !busy.is_disabled(),
                "no span while every connection is taken"
            );
            assert_eq!(WAITING.load(Ordering::Relaxed), before + 1);
            drop(busy);
            assert_eq!(WAITING.load(Ordering::Relaxed), before);
        });
        drop(held);
    }

    #[test]
    fn spans_are_exported_when_the_standard_variables_ask_for_it() {
        assert!(!exporting_with(&[]).unwrap());
        assert!(exporting_with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]).unwrap());
        assert!(
            exporting_with(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c/v1/traces")])
                .unwrap()
        );
        assert!(exporting_with(&[("OTEL_TRACES_EXPORTER", "otlp")]).unwrap());
        assert!(
            !exporting_with(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_TRACES_EXPORTER", "none"),
            ])
            .unwrap()
        );
        assert!(
            !exporting_with(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_SDK_DISABLED", "true"),
            ])
            .unwrap()
        );
        assert!(matches!(
            exporting_with(&[("OTEL_TRACES_EXPORTER", "zipkin")]),
            Err(TelemetryError::UnsupportedExporter(e)) if e == "zipkin"
        ));
    }
}
