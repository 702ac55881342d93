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
    /// List accounts: email, role, whether approved, locked or with two-factor sign-in, and
    /// the last sign-in.
    List {
        /// Only accounts of this role.
        #[arg(long, value_enum)]
        role: Option<RoleArg>,
        /// Only members of this organization (by name).
        #[arg(long)]
        org: Option<String>,
    },
    /// Give an account another role (its sessions end: tokens carry the role).
    SetRole {
        email: String,
        #[arg(value_enum)]
        role: RoleArg,
    },
    /// Lock an account until it is unlocked; its sessions end.
    Lock {
        email: String,
        /// Why, for the audit log and other administrators.
        #[arg(long)]
        reason: String,
    },
    /// Unlock an account (a lock by an administrator or after failed sign-ins).
    Unlock { email: String },
    /// Set a new password read from stdin (or asked for on the terminal), or with --send-link
    /// mail the owner a reset link. Every session of the account ends.
    ResetPassword {
        email: String,
        /// Mail a password reset link instead (needs HELPDESK_SMTP_URL, and
        /// HELPDESK_PASSWORD_RESET_URL or HELPDESK_PUBLIC_URL for the link).
        #[arg(long)]
        send_link: bool,
        #[command(flatten)]
        mail: api::config::MailSettings,
        /// The address recipients reach the server at (links in mail point there).
        #[arg(long, env = "HELPDESK_PUBLIC_URL")]
        public_url: Option<String>,
    },
    /// Remove an account's second factor and recovery codes (for a lost phone); its sessions
    /// end.
    #[command(name = "disable-2fa")]
    Disable2fa { email: String },
    /// List an account's live sessions.
    Sessions { email: String },
    /// End every session of an account.
    RevokeSessions { email: String },
}

#[derive(ValueEnum, Clone, Copy)]
pub enum RoleArg {
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

/// The account with `email`, or a one-line error.
async fn account(
    db: &sea_orm::DatabaseConnection,
    email: &str,
) -> Result<entity::user::Model, Box<dyn std::error::Error + Send + Sync>> {
    service::user::find_by_email(db, email)
        .await?
        .ok_or_else(|| format!("no account has the email address {email}").into())
}

pub async fn run(args: UserArgs) -> CommandResult {
    let db = connect(&args.database).await?;
    let actor = service::actor::Actor::command_line();
    let client = service::audit::ClientInfo::command_line();
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
            out!(
                "created user {} <{}> ({:?})",
                user.id,
                user.email,
                user.role
            );
        }
        Action::List { role, org } => list(&db, role.map(Role::from), org.as_deref()).await?,
        Action::SetRole { email, role } => {
            let user = account(&db, &email).await?;
            let updated = service::user::update_as(
                &db,
                &actor,
                user.id,
                service::user::UserChanges {
                    role: Some(role.into()),
                    ..Default::default()
                },
                &client,
            )
            .await?;
            out!("{} is now {}", updated.email, role_name(updated.role));
        }
        Action::Lock { email, reason } => {
            let user = account(&db, &email).await?;
            service::user::update_as(
                &db,
                &actor,
                user.id,
                service::user::UserChanges {
                    lock: Some(Some(reason)),
                    ..Default::default()
                },
                &client,
            )
            .await?;
            out!("{email} is locked; its sessions ended");
        }
        Action::Unlock { email } => {
            let user = account(&db, &email).await?;
            service::user::update_as(
                &db,
                &actor,
                user.id,
                service::user::UserChanges {
                    lock: Some(None),
                    ..Default::default()
                },
                &client,
            )
            .await?;
            out!("{email} is unlocked");
        }
        Action::ResetPassword {
            email,
            send_link,
            mail,
            public_url,
        } => {
            let user = account(&db, &email).await?;
            if send_link {
                let links = reset_links(&mail, public_url.as_deref())?;
                service::password_reset::send_for_now(&db, &actor, Some(&links), user.id, &client)
                    .await?;
                out!("a password reset link was mailed to {email}");
            } else {
                let password = read_password()?;
                service::user::set_password_as(&db, &actor, user.id, &password, &client).await?;
                out!("the password of {email} is set; its sessions ended");
            }
        }
        Action::Disable2fa { email } => {
            let user = account(&db, &email).await?;
            let had = service::two_factor::enabled(&db, user.id).await?;
            service::two_factor::reset(&db, &actor, user.id, &client).await?;
            if had {
                out!("two-factor sign-in of {email} is off; its sessions ended");
            } else {
                out!("{email} had no two-factor sign-in");
            }
        }
        Action::Sessions { email } => {
            let user = account(&db, &email).await?;
            let sessions = service::session::list(&db, &actor, user.id).await?;
            for session in &sessions {
                out!(
                    "{}  {}  {}  signed in {}  last used {}  expires {}",
                    session.id,
                    service::session::device(session.user_agent.as_deref()),
                    session.ip_address.as_deref().unwrap_or("-"),
                    session.created_at.format("%Y-%m-%d %H:%M"),
                    session.last_used_at.format("%Y-%m-%d %H:%M"),
                    session.expires_at.format("%Y-%m-%d %H:%M"),
                );
            }
            out!("{} live session(s) of {email}", sessions.len());
        }
        Action::RevokeSessions { email } => {
            let user = account(&db, &email).await?;
            let ended = service::session::revoke_all_of(&db, &actor, user.id, &client).await?;
            out!("{ended} session(s) of {email} ended");
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

fn role_name(role: Role) -> String {
    format!("{role:?}").to_lowercase()
}

async fn list(
    db: &sea_orm::DatabaseConnection,
    role: Option<Role>,
    org: Option<&str>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use entity::{organization_member, second_factor, user};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
    let mut query = user::Entity::find().order_by_asc(user::Column::Email);
    if let Some(role) = role {
        query = query.filter(user::Column::Role.eq(role));
    }
    if let Some(name) = org {
        let organization_id = super::organization_named(db, name).await?;
        let members: Vec<uuid::Uuid> = organization_member::Entity::find()
            .select_only()
            .column(organization_member::Column::UserId)
            .filter(organization_member::Column::OrganizationId.eq(organization_id))
            .into_tuple()
            .all(db)
            .await?;
        query = query.filter(user::Column::Id.is_in(members));
    }
    let users = query.all(db).await?;
    let with_2fa: std::collections::HashSet<uuid::Uuid> = second_factor::Entity::find()
        .filter(second_factor::Column::UserId.is_in(users.iter().map(|u| u.id)))
        .filter(second_factor::Column::ConfirmedAt.is_not_null())
        .all(db)
        .await?
        .into_iter()
        .map(|f| f.user_id)
        .collect();
    out!(
        "{:<36}  {:<32}  {:<10}  {:<8}  {:<6}  {:<3}  last sign-in",
        "id",
        "email",
        "role",
        "approved",
        "locked",
        "2fa"
    );
    for u in &users {
        out!(
            "{:<36}  {:<32}  {:<10}  {:<8}  {:<6}  {:<3}  {}",
            u.id,
            u.email,
            role_name(u.role),
            if u.is_approved { "yes" } else { "no" },
            if u.is_locked { "yes" } else { "no" },
            if with_2fa.contains(&u.id) {
                "yes"
            } else {
                "no"
            },
            u.last_login_at
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|| "never".into()),
        );
    }
    out!("{} account(s)", users.len());
    Ok(())
}

fn reset_links(
    mail: &api::config::MailSettings,
    public_url: Option<&str>,
) -> Result<service::password_reset::Links, Box<dyn std::error::Error + Send + Sync>> {
    let url = mail
        .smtp_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or("--send-link mails the link: set HELPDESK_SMTP_URL")?;
    let mailer = service::notification::mail::Mailer::new(url, &mail.mail_from)?.with_timeout(
        std::time::Duration::from_secs(mail.smtp_timeout_secs.max(1)),
    );
    let base_url = match (
        mail.password_reset_url
            .as_deref()
            .filter(|u| !u.trim().is_empty()),
        public_url.filter(|u| !u.trim().is_empty()),
    ) {
        (Some(url), _) => url.to_string(),
        (None, Some(public)) => format!("{}/password-reset", public.trim_end_matches('/')),
        (None, None) => {
            return Err("the link needs HELPDESK_PASSWORD_RESET_URL or HELPDESK_PUBLIC_URL".into());
        }
    };
    Ok(service::password_reset::Links { mailer, base_url })
}
