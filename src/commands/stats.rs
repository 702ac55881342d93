use std::process::ExitCode;

use api::config::DatabaseSettings;
use chrono::NaiveDate;
use clap::{Args, Subcommand};

use super::{CommandResult, connect};

#[derive(Args)]
pub struct StatsArgs {
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Print the ticket statistics the API answers, from the roll-ups.
    Show {
        /// Only this organization (by name).
        #[arg(long)]
        org: Option<String>,
        /// First day (YYYY-MM-DD), inclusive; default: 30 days before --to.
        #[arg(long)]
        from: Option<NaiveDate>,
        /// Last day (YYYY-MM-DD), inclusive; default: today.
        #[arg(long)]
        to: Option<NaiveDate>,
        /// Print JSON instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the roll-ups from the tickets and their history (after a manual data fix, an
    /// import or a restore); cached answers are dropped with them.
    Rebuild,
}

pub async fn run(args: StatsArgs) -> CommandResult {
    let db = connect(&args.database).await?;
    match args.action {
        Action::Show {
            org,
            from,
            to,
            json,
        } => {
            let organization_id = match org {
                Some(name) => Some(super::organization_named(&db, &name).await?),
                None => None,
            };
            let scope = service::stats::scope(
                &service::actor::Actor::command_line(),
                &service::stats::StatsFilter {
                    organization_id,
                    agent_id: None,
                    from,
                    to,
                },
                service::stats::today(),
            )?;
            let stats = service::stats::compute(&db, &scope).await?;
            if json {
                out!("{}", serde_json::to_string_pretty(&stats)?);
                return Ok(ExitCode::SUCCESS);
            }
            let minutes = |m: Option<f64>| m.map_or("-".to_string(), |m| format!("{m:.1} min"));
            out!("period            {} to {}", scope.from, scope.to);
            out!("tickets           {}", stats.total);
            out!("created           {}", stats.created);
            out!("resolved          {}", stats.resolved);
            out!("reopened          {}", stats.reopened);
            out!("backlog           {}", stats.backlog);
            out!("breached          {}", stats.breached);
            out!(
                "first response    {} on average",
                minutes(stats.avg_first_response_minutes)
            );
            out!(
                "resolution        {} on average, {} median",
                minutes(stats.avg_resolution_minutes),
                minutes(stats.median_resolution_minutes)
            );
            out!(
                "SLA compliance    {}",
                stats
                    .sla_compliance
                    .map_or("-".to_string(), |c| format!("{:.1} %", c * 100.0))
            );
            for (status, count) in &stats.by_status {
                out!("status {:<10} {count}", service::lifecycle::name(*status));
            }
            for (priority, count) in &stats.by_priority {
                out!(
                    "priority {:<8} {count}",
                    format!("{priority:?}").to_uppercase()
                );
            }
        }
        Action::Rebuild => {
            let started = std::time::Instant::now();
            service::stats::rollup::rebuild(&db).await?;
            out!(
                "statistics rebuilt from the tickets and their history in {:.1?}",
                started.elapsed()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
