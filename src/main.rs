//! `helpdesk`: the server and its operations CLI.
//!
//! With no subcommand it serves (`helpdesk` is `helpdesk serve`). Every flag is also an
//! environment variable; `helpdesk <command> --help` lists them.

/// `println!` for a command's output: when its reader went away (`helpdesk user list | head`)
/// the command ends quietly with the status a shell gives that (141), instead of a panic.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(err) = writeln!(std::io::stdout(), $($arg)*)
            && err.kind() == std::io::ErrorKind::BrokenPipe
        {
            std::process::exit(141);
        }
    }};
}

mod commands;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// A request allocates and frees many small objects (rows, values, futures); mimalloc serves
// them from per-thread pages, where glibc's malloc spent a quarter of the server's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "helpdesk",
    version,
    about = "A helpdesk (ticketing) backend served as one GraphQL API"
)]
struct Cli {
    #[command(flatten)]
    telemetry: api::config::TelemetrySettings,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the serve variant's settings costs nothing.
#[derive(Subcommand)]
enum Command {
    /// Serve the GraphQL API (the default when no command is given).
    // Boxed: the server's settings dwarf every other command's arguments.
    Serve(Box<commands::serve::ServeArgs>),
    /// Inspect and apply database migrations.
    Migrate(commands::migrate::MigrateArgs),
    /// Fill the database with demo data.
    Seed(commands::seed::SeedArgs),
    /// Manage user accounts.
    User(commands::user::UserArgs),
    /// Print the GraphQL schema (SDL); `schema.graphql` is its committed output.
    Schema,
    /// Check that the database (and Redis, when configured) answer; exit 0 when all do.
    Health(commands::health::HealthArgs),
    /// Manage the data key that seals secrets at rest.
    DataKey(commands::data_key::DataKeyArgs),
    /// Make, check, list and prune backups of the database and the attachments.
    Backup(commands::backup::BackupArgs),
    /// Restore a backup into an empty database (or in place of everything with --replace).
    Restore(commands::backup::restore::RestoreArgs),
    /// Write records to a JSON Lines file (optionally anonymised), for staging or migration.
    Export(commands::transfer::ExportArgs),
    /// Read records from a JSON Lines export: every record validated before anything is
    /// written, then written in transactions of a batch each.
    Import(commands::transfer::ImportArgs),
    /// Show ticket statistics, or rebuild them from the tickets and their history.
    Stats(commands::stats::StatsArgs),
    /// Run every retention rule now and print what it removed (or, with --dry-run, would).
    Cleanup(commands::maintenance::CleanupArgs),
    /// The database's upkeep: VACUUM (ANALYZE) on PostgreSQL; optimize, VACUUM and an
    /// integrity check on SQLite.
    Maintenance(commands::maintenance::MaintenanceArgs),
}

const COMMANDS: &[&str] = &[
    "serve",
    "migrate",
    "seed",
    "user",
    "schema",
    "health",
    "data-key",
    "backup",
    "restore",
    "export",
    "import",
    "stats",
    "cleanup",
    "maintenance",
    "help",
];

/// `helpdesk [FLAGS]` means `helpdesk serve [FLAGS]`. Global flags may come before a command
/// (`helpdesk --log-format json migrate up`), so any command word counts, not only the first.
fn args() -> Vec<OsString> {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let explicit = args
        .iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .any(|a| COMMANDS.contains(&a) || matches!(a, "-h" | "--help" | "-V" | "--version"));
    if !explicit {
        args.insert(1.min(args.len()), OsString::from("serve"));
    }
    args
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(args()) {
        Ok(cli) => cli,
        Err(err) => return usage(err),
    };
    if let Command::Schema = cli.command {
        use std::io::Write as _;
        if let Err(err) = write!(std::io::stdout(), "{}", api::graphql::sdl())
            && err.kind() == std::io::ErrorKind::BrokenPipe
        {
            return ExitCode::from(141);
        }
        return ExitCode::SUCCESS;
    }
    // Telemetry first, outside the runtime: the OTLP exporter's blocking client must not be
    // created on a runtime thread.
    let telemetry = match api::telemetry::init(&cli.telemetry) {
        Ok(telemetry) => telemetry,
        Err(err) => return fail(&err),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(&err),
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => commands::serve::run(*args).await,
            Command::Migrate(args) => commands::migrate::run(args).await,
            Command::Seed(args) => commands::seed::run(args).await,
            Command::User(args) => commands::user::run(args).await,
            Command::Health(args) => commands::health::run(args).await,
            Command::DataKey(args) => commands::data_key::run(args).await,
            Command::Backup(args) => commands::backup::run(args).await,
            Command::Restore(args) => commands::backup::restore::run(args).await,
            Command::Export(args) => commands::transfer::export(args).await,
            Command::Import(args) => commands::transfer::import(args).await,
            Command::Stats(args) => commands::stats::run(args).await,
            Command::Cleanup(args) => commands::maintenance::cleanup(args).await,
            Command::Maintenance(args) => commands::maintenance::maintenance(args).await,
            Command::Schema => unreachable!("handled before the runtime starts"),
        }
    });
    drop(runtime);
    drop(telemetry);
    match result {
        Ok(code) => code,
        Err(err) => fail(err.as_ref()),
    }
}

/// Help and version print as usual; a bad flag or environment value is one line and exit 2.
fn usage(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            ExitCode::from(2)
        }
        _ => {
            let rendered = err.render().to_string();
            let first = rendered
                .lines()
                .next()
                .unwrap_or("error: invalid arguments");
            eprintln!("{first} (see --help)");
            ExitCode::from(2)
        }
    }
}

/// Bad configuration and failed commands end with one line on stderr and a non-zero exit.
fn fail(err: &(dyn std::error::Error + 'static)) -> ExitCode {
    eprintln!("error: {}", api::startup::error_chain(err));
    ExitCode::FAILURE
}
