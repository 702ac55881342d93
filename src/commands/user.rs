use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use api::config::DatabaseSettings;
use clap::{Args, Subcommand, ValueEnum};
use entity::enums::Role;

use super::{CommandResult, connect};

#[derive(Args)]
pub struct UserArgs {
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Create an account. The password is read from stdin (first line) or asked for on the
    /// terminal; it is never taken from the command line, where other users could see it.
    Create {
        #[arg(long, env = "HELPDESK_USER_EMAIL")]
        email: String,
        #[arg(long, env = "HELPDESK_USER_NAME")]
        name: String,
        #[arg(long, env = "HELPDESK_USER_ROLE", value_enum)]
        role: RoleArg,
        /// Add the user to this organization (by name); repeat for several. The environment
        /// variable names one (organization names may contain commas).
        #[arg(long = "org", env = "HELPDESK_USER_ORG")]
        organizations: Vec<String>,
    },
}

#[derive(ValueEnum, Clone, Copy)]
enum RoleArg {
    Admin,
    Superagent,
    Agent,
    Client,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::Superagent => Role::Superagent,
            RoleArg::Agent => Role::Agent,
            RoleArg::Client => Role::Client,
        }
    }
}

pub async fn run(args: UserArgs) -> CommandResult {
    let db = connect(&args.database).await?;
    match args.action {
        Action::Create {
            email,
            name,
            role,
            organizations,
        } => {
            let password = read_password()?;
            let user = service::user::create_with_organizations(
                &db,
                service::user::NewUser {
                    email,
                    name,
                    password,
                    role: role.into(),
                    is_approved: true,
                },
                &organizations,
            )
            .await?;
            println!(
                "created user {} <{}> ({:?})",
                user.id, user.email, user.role
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_password() -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Repeat password: ")?;
        if first != second {
            return Err("the passwords do not match".into());
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }
}
