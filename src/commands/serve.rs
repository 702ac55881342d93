use std::process::ExitCode;

use api::{Application, Settings};
use clap::Args;
use service::db::Backend;

use super::CommandResult;

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub settings: Settings,
    /// Seed demo data into an empty database even on PostgreSQL (SQLite gets it by default).
    #[arg(long, env = "HELPDESK_DEMO")]
    pub demo: bool,
    /// Never seed demo data, not even into an empty SQLite database (wins over --demo).
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
    let embedded = Backend::of(db) == Backend::Sqlite;
    let wanted = !args.no_demo && (args.demo || embedded);
    if wanted && service::seed::is_empty(db).await? {
        tracing::info!(
            tickets = args.demo_tickets,
            "empty database: seeding demo data"
        );
        let summary = service::seed::demo(db, args.demo_tickets, &|_| {}).await?;
        super::seed::print_logins(&summary);
    }
    let addr = app.local_addr();
    // The listening line comes last: scripts and tests wait for it.
    if graphiql {
        println!("GraphiQL: http://{addr}/graphql");
    }
    println!(
        "helpdesk {} listening on http://{addr}",
        env!("CARGO_PKG_VERSION")
    );
    tracing::info!(%addr, "serving");
    app.run_until(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (what orchestrators send).
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
