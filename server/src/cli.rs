//! The command line (architecture §3, §7.6): `serve` (the default) and the tenant and admin
//! management commands. Every serve flag also reads its `ADC_*` variable.

use crate::audit::{Action, Actor, Event, Origin, Target};
use crate::config::{Config, SmtpConfig, SmtpTls, TlsFiles};
use crate::db::{Db, principals, tenants};
use crate::role::Role;
use crate::secrets::{self, Secret};
use crate::telemetry::LogFormat;
use anyhow::{Context, bail};
use clap::{Args, CommandFactory, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "adc-server",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("ADC_GIT_COMMIT"), ")"),
    about = "ad-connect server"
)]
pub struct Cli {
    /// PostgreSQL (`postgres://…`) or SQLite (`sqlite:…`) URL; default ./data/adc.sqlite.
    #[arg(long, env = "ADC_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Log filter, e.g. `info` or `adc_server=debug`.
    #[arg(long, env = "ADC_LOG", default_value = "info", global = true)]
    pub log: String,
    /// `text` for people, `json` for a log collector (one object per line).
    #[arg(
        long,
        env = "ADC_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (the default).
    Serve(Box<ServeArgs>),
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage admin accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Write the manual pages into a folder.
    ///
    /// adc-server.1 and one page per command, e.g. `adc-server man /usr/local/share/man/man1`.
    Man {
        /// The folder to write the pages into; it must exist.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Check that the server on this host answers /healthz.
    ///
    /// Exit 0 when it does, 1 when not: the container image's HEALTHCHECK (the image has
    /// no HTTP client).
    Health {
        /// The address the server listens on (its ADC_LISTEN); 0.0.0.0 and [::] are
        /// asked on loopback.
        #[arg(long, env = "ADC_LISTEN", default_value = crate::config::DEFAULT_LISTEN, value_parser = crate::config::parse_listen)]
        listen: SocketAddr,
        /// With TLS on (ADC_TLS_CERT), only that the port accepts is checked.
        #[arg(long, env = "ADC_TLS_CERT", hide = true)]
        tls_cert: Option<PathBuf>,
    },
}

/// `adc-server health`: one HTTP/1.0 request to /healthz on loopback, 3 s at most.
pub fn health(listen: SocketAddr, tls: bool) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let timeout = std::time::Duration::from_secs(3);
    let mut conn = std::net::TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
        anyhow::anyhow!("nothing answers on {addr}: {e}; check that adc-server runs and ADC_LISTEN")
    })?;
    if tls {
        println!("{addr} accepts connections (TLS: /healthz not asked)");
        return Ok(());
    }
    conn.set_read_timeout(Some(timeout))?;
    conn.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut answer = Vec::new();
    conn.take(4096).read_to_end(&mut answer)?;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        bail!("{addr}/healthz answered `{status}`, not 200");
    }
    println!("{addr}/healthz: ok");
    Ok(())
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address and port to listen on; 0.0.0.0:8080 for every interface.
    #[arg(long, env = "ADC_LISTEN", default_value = crate::config::DEFAULT_LISTEN, value_parser = crate::config::parse_listen)]
    pub listen: SocketAddr,
    /// The address agents and browsers use; fills adc.cfg in agent downloads.
    #[arg(long, env = "ADC_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// PEM certificate chain; with --tls-key the server speaks HTTPS and WSS itself.
    #[arg(long, env = "ADC_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "ADC_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Directory holding agent binaries to offer for download.
    #[arg(long, env = "ADC_AGENT_DIST")]
    pub agent_dist: Option<PathBuf>,
    /// Seconds between heartbeats with agents; three missed make the timeout after which
    /// an agent, or a replica that died, is gone. The same on every replica.
    #[arg(long, env = "ADC_HEARTBEAT_SECS", default_value_t = adc_shared::protocol::HEARTBEAT_INTERVAL_SECS, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub heartbeat_secs: u64,
    /// The users' (groups') search index (PostgreSQL: pg_trgm; SQLite: FTS5) is built
    /// once the table holds this many rows; below, a search reads the rows, as fast, and
    /// no write pays for an index.
    #[arg(long, env = "ADC_SEARCH_INDEX_MIN_ROWS", default_value_t = 10_000)]
    pub search_index_min_rows: u64,
    /// This replica's name among those sharing a PostgreSQL (default host:port); a
    /// replica that restarts under the same name drops its previous connections at once.
    #[arg(long, env = "ADC_REPLICA_NAME")]
    pub replica_name: Option<String>,
    /// First start on an empty database: the first system-admin's e-mail (default
    /// admin@localhost).
    #[arg(long, env = "ADC_BOOTSTRAP_ADMIN_EMAIL")]
    pub bootstrap_admin_email: Option<String>,
    /// First start on an empty database: the first system-admin's password (default: a
    /// random one, printed once to the log).
    #[arg(long, env = "ADC_BOOTSTRAP_ADMIN_PASSWORD", hide_env_values = true)]
    pub bootstrap_admin_password: Option<String>,
    /// A bearer token `/metrics` then requires (`Authorization: Bearer <token>`);
    /// without it, `/metrics` is open: keep it off the public network.
    #[arg(long, env = "ADC_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// The SMTP server e-mail notifications go through (host name); unset, e-mail
    /// recipients cannot be added.
    #[arg(long, env = "ADC_SMTP_HOST", requires = "smtp_from")]
    pub smtp_host: Option<String>,
    /// Its port (default 587 with starttls, 465 with tls, 25 with none).
    #[arg(long, env = "ADC_SMTP_PORT")]
    pub smtp_port: Option<u16>,
    /// How the SMTP connection is protected.
    #[arg(long, env = "ADC_SMTP_TLS", value_enum, default_value = "starttls")]
    pub smtp_tls: SmtpTls,
    /// The SMTP user name, if the server wants one.
    #[arg(long, env = "ADC_SMTP_USERNAME", requires = "smtp_password")]
    pub smtp_username: Option<String>,
    /// The SMTP password.
    #[arg(long, env = "ADC_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<String>,
    /// The From address of notification e-mails, e.g. `ad-connect <adc@example.com>`.
    #[arg(long, env = "ADC_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// A PEM file of CA certificates to trust for the SMTP server besides the system's.
    #[arg(long, env = "ADC_SMTP_CA_FILE")]
    pub smtp_ca_file: Option<PathBuf>,
    /// Let webhooks target loopback and private addresses (off: a tenant cannot make the
    /// server call into its own network).
    #[arg(long, env = "ADC_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub webhook_allow_private: bool,
    /// Seconds before a failed notification is tried again; doubled each time up to 120
    /// times it, until the event is 26 hours old.
    #[arg(long, env = "ADC_NOTIFY_RETRY_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub notify_retry_secs: u64,
}

impl ServeArgs {
    pub fn into_config(self, database_url: Option<String>) -> Config {
        let mut c = Config::new(database_url);
        c.public_url = self.public_url;
        c.tls = self
            .tls_cert
            .zip(self.tls_key)
            .map(|(cert, key)| TlsFiles { cert, key });
        c.agent_dist = self.agent_dist;
        c.bootstrap_admin_email = self.bootstrap_admin_email;
        c.bootstrap_admin_password = self.bootstrap_admin_password.map(Secret::new);
        c.metrics_token = self.metrics_token.map(Secret::new);
        c.smtp = self.smtp_host.map(|host| SmtpConfig {
            host,
            port: self.smtp_port.unwrap_or(self.smtp_tls.default_port()),
            tls: self.smtp_tls,
            username: self.smtp_username,
            password: self.smtp_password.map(Secret::new),
            from: self.smtp_from.unwrap_or_default(),
            ca_file: self.smtp_ca_file,
        });
        c.webhook_allow_private = self.webhook_allow_private;
        c.notify_retry_base = std::time::Duration::from_secs(self.notify_retry_secs);
        c.heartbeat_interval = std::time::Duration::from_secs(self.heartbeat_secs);
        c.search_index_min_rows = self.search_index_min_rows;
        c.replica_name = self.replica_name.unwrap_or_default();
        c
    }
}

#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Create a tenant and its first system-admin; prints the admin's password once.
    Create {
        /// The tenant's name, unique.
        name: String,
        /// E-mail of its first system-admin.
        #[arg(long)]
        admin_email: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Add an admin account to a tenant; prints its password once.
    Add {
        /// Name of the tenant.
        #[arg(long)]
        tenant: String,
        /// The admin's e-mail, used to sign in.
        #[arg(long)]
        email: String,
        /// system-admin, operator or viewer.
        #[arg(long, default_value = "system-admin", value_parser = parse_role)]
        role: Role,
    },
    /// Give an admin a new random password (printed once) and end its sessions.
    ResetPassword {
        /// The admin's e-mail.
        #[arg(long)]
        email: String,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

fn valid_email(e: &str) -> anyhow::Result<String> {
    principals::normalize_email(e).map_err(anyhow::Error::msg)
}

fn audit(tenant_id: uuid::Uuid, action: Action) -> Event {
    Event::new(tenant_id, Actor::cli(), Origin::default(), action)
}

/// Runs a management command; passwords go to stdout, never to the log.
pub async fn manage(database_url: Option<&str>, command: Command) -> anyhow::Result<()> {
    if let Command::Health { listen, tls_cert } = command {
        return health(listen, tls_cert.is_some());
    }
    if let Command::Man { dir } = command {
        // The version without the commit: the shipped pages change with the command line.
        let cli = Cli::command().version(env!("CARGO_PKG_VERSION"));
        return clap_mangen::generate_to(cli, &dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot write the manual pages into `{}`: {e}; check that the folder exists and is writable",
                dir.display()
            )
        });
    }
    let db = Db::connect(database_url).await?;
    match command {
        Command::Serve(_) => unreachable!("serve is handled by main"),
        Command::Health { .. } | Command::Man { .. } => unreachable!("handled above"),
        Command::Tenant(TenantCommand::Create { name, admin_email }) => {
            let email = valid_email(&admin_email)?;
            if tenants::by_name(&db, &name).await?.is_some() {
                bail!("tenant `{name}` exists already");
            }
            if principals::admin_by_email(&db, &email).await?.is_some() {
                bail!("an admin with e-mail {email} exists already");
            }
            let password = secrets::new_password();
            let hash = secrets::hash(password.clone()).await?;
            let t = tenants::insert(&db, &name).await?;
            let id = principals::insert_admin(
                &db,
                t.id,
                &email,
                &hash,
                Role::SystemAdmin.as_str(),
                false,
            )
            .await?;
            audit(t.id, Action::TenantCreated)
                .target(Target::tenant(t.id, &t.name))
                .record(&db)
                .await;
            audit(t.id, Action::AdminCreated)
                .target(Target::admin(id, &email))
                .details(serde_json::json!({ "role": Role::SystemAdmin }))
                .record(&db)
                .await;
            println!("created tenant `{name}` ({})", t.id);
            println!("system-admin: {email}");
            println!("password: {} (shown once)", password.expose());
        }
        Command::Admin(AdminCommand::Add {
            tenant,
            email,
            role,
        }) => {
            let email = valid_email(&email)?;
            let t = tenants::by_name(&db, &tenant)
                .await?
                .with_context(|| format!("no tenant `{tenant}`"))?;
            if principals::admin_by_email(&db, &email).await?.is_some() {
                bail!("an admin with e-mail {email} exists already");
            }
            let password = secrets::new_password();
            let hash = secrets::hash(password.clone()).await?;
            let id =
                principals::insert_admin(&db, t.id, &email, &hash, role.as_str(), false).await?;
            audit(t.id, Action::AdminCreated)
                .target(Target::admin(id, &email))
                .details(serde_json::json!({ "role": role }))
                .record(&db)
                .await;
            println!("added {role} {email} to tenant `{tenant}`");
            println!("password: {} (shown once)", password.expose());
        }
        Command::Admin(AdminCommand::ResetPassword { email }) => {
            let a = principals::admin_by_email(&db, &email)
                .await?
                .with_context(|| format!("no admin with e-mail {email}"))?;
            let password = secrets::new_password();
            let hash = secrets::hash(password.clone()).await?;
            principals::set_admin_password(&db, a.id, &hash).await?;
            audit(a.tenant_id, Action::AdminPasswordReset)
                .target(Target::admin(a.id, &a.email))
                .record(&db)
                .await;
            println!(
                "new password for {}: {} (shown once; their sessions were ended)",
                a.email,
                password.expose()
            );
        }
    }
    db.close().await;
    Ok(())
}

#[cfg(test)]
mod help_tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every flag and argument of every command says what it is for.
    #[test]
    fn every_flag_of_every_command_has_a_description() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "adc-server", &mut missing);
        assert!(missing.is_empty(), "no description: {missing:?}");
    }
}
