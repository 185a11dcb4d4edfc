//! The command line: `serve` (default), `migrate up|down|status|fresh`, `create-admin`.

use std::io::{BufRead, IsTerminal};

use clap::{Parser, Subcommand};
use sea_orm_migration::MigratorTrait;
use taskforge_migration::Migrator;

use crate::settings::Settings;
use crate::startup::{self, Application};

/// Taskforge: a task-management REST API.
#[derive(Debug, Parser)]
#[command(name = "taskforge", version, about)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (applies pending migrations when AUTO_MIGRATE is on).
    Serve,
    /// Manage the database schema.
    Migrate {
        /// up, down, status or fresh.
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Create an admin, or make an existing user an active admin (idempotent).
    CreateAdmin {
        /// The admin's email.
        #[arg(long)]
        email: String,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// Schema actions.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert the last applied migration.
    Down,
    /// List migrations and whether each is applied.
    Status,
    /// Drop everything and apply every migration from scratch.
    Fresh,
}

/// Runs a parsed command.
///
/// # Errors
/// A message for the user; the caller exits non-zero.
pub async fn run(cli: Cli, settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate { action } => migrate(settings, action).await,
        Command::CreateAdmin {
            email,
            password_stdin,
        } => create_admin(settings, &email, password_stdin).await,
    }
}

async fn serve(settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    if settings.jwt_secret_is_ephemeral {
        tracing::warn!(
            "JWT_SECRET_KEY is not set: using an ephemeral secret, so every token dies with this \
             process and instances cannot share sessions. Set JWT_SECRET_KEY (32+ bytes) for real use."
        );
    }
    let (host, database) = (settings.host.clone(), redact_url(&settings.database_url));
    let app = Application::build(settings).await?;
    tracing::info!(address = %format!("{host}:{}", app.port()), database = %database, "listening");
    app.run_until_stopped().await?;
    Ok(())
}

async fn migrate(
    settings: Settings,
    action: MigrateAction,
) -> Result<(), Box<dyn std::error::Error>> {
    let db = startup::connect_for_migrations(&settings).await?;
    match action {
        MigrateAction::Up => Migrator::up(&db, None).await?,
        MigrateAction::Down => Migrator::down(&db, Some(1)).await?,
        MigrateAction::Fresh => Migrator::fresh(&db).await?,
        MigrateAction::Status => {
            let applied: Vec<String> = Migrator::get_applied_migrations(&db)
                .await?
                .iter()
                .map(|m| m.name().to_owned())
                .collect();
            for migration in Migrator::migrations() {
                let name = migration.name().to_owned();
                let state = if applied.contains(&name) {
                    "applied"
                } else {
                    "pending"
                };
                println!("{state:8} {name}");
            }
        }
    }
    db.close().await?;
    Ok(())
}

async fn create_admin(
    settings: Settings,
    email: &str,
    password_stdin: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let password = if password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password for the admin: ")?
    } else {
        return Err(
            "no terminal to prompt for the password: pass --password-stdin and pipe it in".into(),
        );
    };
    let db = startup::open_database(&settings).await?;
    let services = startup::build_services(&settings, &db)?;
    startup::ensure_admin(&services, email, &password).await?;
    db.close().await?;
    println!("{} is an active admin", email.trim().to_lowercase());
    Ok(())
}

/// A database URL without its password, for logs.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("sqlite://taskforge.db"), "sqlite://taskforge.db");
    }
}
