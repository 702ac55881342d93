use std::process::ExitCode;

use api::{Application, Settings};
use clap::Args;
use service::db::Backend;

use super::CommandResult;

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub settings: Settings,
    /// Seed demo data into an empty database whatever the address and database. Without it,
    /// only an empty embedded (SQLite) database served on a loopback address gets demo data.
    #[arg(long, env = "HELPDESK_DEMO")]
    pub demo: bool,
    /// Never seed demo data, not even into an empty SQLite database on loopback (wins over
    /// --demo).
    #[arg(long, env = "HELPDESK_NO_DEMO")]
    pub no_demo: bool,
    /// How many demo tickets to create when seeding.
    #[arg(long, env = "HELPDESK_DEMO_TICKETS", default_value_t = 200)]
    pub demo_tickets: u64,
}

pub async fn run(args: ServeArgs) -> CommandResult {
    let graphiql = args.settings.server.graphiql;
    let app = Application::build(args.settings).await?;
    let db = app.state().db();
    api::telemetry::watch_pool(db);
    let addr = app.local_addr();
    let shutdown = shutdown_signal();
    let embedded = Backend::of(db) == Backend::Sqlite;
    // The demo logins are public (they are in the README): a server others can reach must not
    // have them unless asked to. The embedded default on loopback is someone trying it out.
    let loopback = addr.ip().to_canonical().is_loopback();
    let wanted = !args.no_demo && (args.demo || (embedded && loopback));
    if service::seed::is_empty(db).await? {
        if wanted {
            tracing::info!(
                tickets = args.demo_tickets,
                "empty database: seeding demo data"
            );
            let summary = service::seed::demo(db, args.demo_tickets, &|_| {}).await?;
            super::seed::print_logins(&summary);
        } else {
            tracing::warn!(
                %addr,
                "the database has no users: create the first administrator with \
                 `helpdesk user create --email EMAIL --name NAME --role admin` (demo data is \
                 seeded only with --demo, or into the embedded database on a loopback address)"
            );
        }
    }
    // The listening line comes last: scripts and tests wait for it.
    if graphiql {
        println!("GraphiQL: http://{addr}/graphql");
    }
    if let Some(metrics) = app.metrics_addr() {
        println!("Metrics: http://{metrics}/metrics");
    }
    println!(
        "helpdesk {} listening on http://{addr}",
        env!("CARGO_PKG_VERSION")
    );
    tracing::info!(%addr, "serving");
    app.run_until(shutdown).await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (what orchestrators send). The handlers are
/// installed when this is called, not when the future is first polled: a signal sent right
/// after the listening line must stop the server cleanly rather than kill it.
#[cfg(unix)]
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind: SignalKind, name: &'static str| {
        let installed = signal(kind);
        async move {
            match installed {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(err) => {
                    tracing::error!(%err, "cannot listen for {name}");
                    std::future::pending::<()>().await;
                }
            }
        }
    };
    let interrupt = listen(SignalKind::interrupt(), "SIGINT");
    let terminate = listen(SignalKind::terminate(), "SIGTERM");
    async move {
        tokio::select! {
            () = interrupt => {},
            () = terminate => {},
        }
    }
}

#[cfg(not(unix))]
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    }
}
