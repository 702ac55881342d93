use std::process::ExitCode;

use api::config::DatabaseSettings;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::{CommandResult, connect};

#[derive(Args)]
pub struct SeedArgs {
    #[command(flatten)]
    database: DatabaseSettings,
    /// Seed the demo organizations, people and tickets (the only data set so far).
    #[arg(long, env = "HELPDESK_SEED_DEMO", required = true)]
    demo: bool,
    /// How many tickets to create.
    #[arg(long, env = "HELPDESK_SEED_TICKETS", default_value_t = 1000)]
    tickets: u64,
}

pub async fn run(args: SeedArgs) -> CommandResult {
    let db = connect(&args.database).await?;
    api::startup::apply_migrations(&db).await?;
    let bar = ProgressBar::new(args.tickets).with_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} tickets  {per_sec}  eta {eta}",
    )?);
    let summary = service::seed::demo(&db, args.tickets, &|done| bar.set_position(done)).await?;
    bar.finish();
    out!(
        "seeded {} tickets in {:.1?}",
        summary.tickets_created,
        bar.elapsed()
    );
    print_logins(&summary);
    Ok(ExitCode::SUCCESS)
}

pub fn print_logins(summary: &service::seed::DemoSummary) {
    out!("Demo logins (password: {}):", service::seed::DEMO_PASSWORD);
    for login in &summary.logins {
        let role = format!("{:?}", login.role).to_lowercase();
        match &login.organization {
            Some(org) => out!("  {:<11} {:<40} {org}", role, login.email),
            None => out!("  {:<11} {}", role, login.email),
        }
    }
}
