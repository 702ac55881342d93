//! Building the schema, and printing it: `helpdesk schema` prints the SDL committed as
//! `schema.graphql`, and a test fails when the two differ.

use std::sync::Arc;

use async_graphql::extensions::Tracing;
use async_graphql::{Schema, SchemaBuilder};
use sea_orm::DatabaseConnection;
use service::auth::Auth;

use super::extension::limits::Limits;
use super::extension::response_size::ResponseSize;
use super::mutation::MutationRoot;
use super::query::QueryRoot;
use super::subscription::SubscriptionRoot;
use crate::events::EventBus;
use crate::metrics::Metrics;

pub type HelpdeskSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

fn builder() -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
}

/// What a client may ask of the schema.
#[derive(Clone)]
pub struct SchemaOptions {
    /// Answer `__schema` and `__type`, and suggest field names in errors.
    pub introspection: bool,
    pub limits: Limits,
    /// Cost limit, where a list field's cost is its page size times its selection's.
    pub max_complexity: usize,
    /// Where webhooks may point.
    pub webhook_policy: service::webhook::UrlPolicy,
    /// Seals webhook secrets; managing webhooks is an internal error without it.
    pub keyring: Option<Arc<service::crypto::Keyring>>,
    /// Attachments and where their links point; their fields are an internal error without.
    pub attachments: Option<AttachmentLinks>,
    /// Mails password reset links; without it, email is off and none are sent.
    pub password_resets: Option<service::password_reset::Links>,
    /// The statistics cache; an in-process one when not given.
    pub stats_cache: Option<Arc<service::stats::cache::StatsCache>>,
    pub stats_push_interval: crate::graphql::subscription::StatsPushInterval,
    /// Largest response, in bytes, before execution is abandoned.
    pub max_response_bytes: usize,
    /// Subscriptions catching up from the log at once.
    pub max_concurrent_replays: usize,
    /// A tracing span per resolved field, on `/graphql` and on subscriptions.
    /// Off by default: any extension puts every field of every request through the extension
    /// chain, which costs more than resolving most fields.
    pub trace_fields: bool,
    /// Test builds: the field whose resolver panics.
    #[cfg(feature = "test-hooks")]
    pub panic_in_field: Option<String>,
}

impl Default for SchemaOptions {
    fn default() -> Self {
        Self {
            introspection: true,
            limits: Limits::default(),
            max_complexity: 20_000,
            webhook_policy: Default::default(),
            keyring: None,
            attachments: None,
            password_resets: None,
            stats_cache: None,
            stats_push_interval: Default::default(),
            max_response_bytes: 16 * 1024 * 1024,
            max_concurrent_replays: 8,
            trace_fields: false,
            #[cfg(feature = "test-hooks")]
            panic_in_field: None,
        }
    }
}

/// What attachment fields and mutations use: the attachments and the base of their links.
#[derive(Clone)]
pub struct AttachmentLinks {
    pub attachments: Arc<service::attachment::Attachments>,
    /// `https://helpdesk.example.com`, or empty for links that are paths.
    pub public_url: String,
}

/// The two schemas the server runs, over the same types and data.
#[derive(Clone)]
pub struct Schemas {
    /// `/graphql`: no extensions, so fields resolve without the extension chain. What the
    /// extensions do for sockets, the HTTP handler does once per request: it parses the
    /// document and checks its limits, times and counts the operation, opens its tracing span,
    /// and holds the response to its size cap (see `http::graphql`).
    pub requests: HelpdeskSchema,
    /// Subscription sockets, where async-graphql runs the operations itself: the same checks
    /// as extensions.
    pub sockets: HelpdeskSchema,
}

pub fn build_schema(
    db: DatabaseConnection,
    auth: Arc<Auth>,
    metrics: Arc<Metrics>,
    bus: EventBus,
    options: SchemaOptions,
) -> Schemas {
    let stats_cache = options.stats_cache.clone().unwrap_or_else(|| {
        Arc::new(service::stats::cache::StatsCache::local(
            std::time::Duration::from_secs(300),
            10_000,
            metrics.stats_cache_observer(),
        ))
    });
    let replays = crate::graphql::subscription::ReplayPermits::new(options.max_concurrent_replays);
    let common = |mut builder: SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot>| {
        builder = builder
            .limit_depth(options.limits.max_depth as usize)
            .limit_complexity(options.max_complexity)
            .limit_directives(options.limits.max_directives as usize)
            .data(db.clone())
            .data(auth.clone())
            .data(metrics.clone())
            .data(bus.clone())
            .data(options.webhook_policy)
            .data(stats_cache.clone())
            .data(options.stats_push_interval)
            .data(replays.clone());
        if let Some(keyring) = &options.keyring {
            builder = builder.data(keyring.clone());
        }
        if let Some(links) = &options.attachments {
            builder = builder.data(links.clone());
        }
        if let Some(links) = &options.password_resets {
            builder = builder.data(links.clone());
        }
        #[cfg(feature = "test-hooks")]
        if let Some(field) = &options.panic_in_field {
            builder = builder.extension(super::extension::panic_probe::PanicProbe(field.clone()));
        }
        if !options.introspection {
            builder = builder.disable_introspection().disable_suggestions();
        }
        builder
    };
    let mut requests = builder();
    if options.trace_fields {
        requests = requests.extension(Tracing);
    }
    // Pages of tickets are resolved from a plan of their selection, unless an extension has to
    // see each field resolve (field tracing, the test builds' panic probe; on sockets, the
    // size budget).
    #[cfg(feature = "test-hooks")]
    let watched = options.trace_fields || options.panic_in_field.is_some();
    #[cfg(not(feature = "test-hooks"))]
    let watched = options.trace_fields;
    if !watched {
        requests = requests.data(super::object::planned::Plans);
    }
    // Sockets check the document limits when an operation is subscribed (`http::ws`): every
    // extension here wraps the resolution of every field of every push, so the one left is
    // the size budget, which must count the fields as they resolve.
    let mut sockets = builder();
    if options.trace_fields {
        sockets = sockets.extension(Tracing);
    }
    let sockets = sockets.extension(ResponseSize::new(options.max_response_bytes));
    Schemas {
        requests: common(requests).finish(),
        sockets: common(sockets).finish(),
    }
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    builder()
        .finish()
        .sdl_with_options(async_graphql::SDLExportOptions::new().include_specified_by())
}
