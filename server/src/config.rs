//! Server configuration (architecture §7.6): one typed struct, filled from `--flags` or
//! their `ADC_*` environment variables by clap.

use crate::secrets::Secret;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Config {
    /// `None`: the embedded SQLite file.
    pub database_url: Option<String>,
    /// The address agents and browsers use, e.g. `https://adc.example.com`.
    pub public_url: Option<String>,
    pub tls: Option<TlsFiles>,
    pub agent_dist: Option<PathBuf>,
    pub bootstrap_admin_email: Option<String>,
    pub bootstrap_admin_password: Option<Secret>,
    /// How often the server sends heartbeats and checks its agents; three missed make
    /// the heartbeat timeout, after which an agent, or a replica that died, is gone.
    pub heartbeat_interval: Duration,
    /// This replica's name on its agent connections' records (`ADC_REPLICA_NAME`), so
    /// that it removes its previous life's records as it restarts. Unique among the
    /// replicas sharing a database. Empty: this host and the port it listens on, set
    /// as the server starts.
    pub replica_name: String,
    /// A web session lasts this long.
    pub session_ttl: Duration,
    /// How often the scheduler looks for due runs.
    pub schedule_check: Duration,
    /// A run whose agent sends nothing for it this long fails.
    pub run_stall_timeout: Duration,
    /// How long pass-through authentication waits for an agent's answer (504 after).
    pub auth_timeout: Duration,
    /// Wrong passwords allowed per username, and per source address, in `auth_window`.
    pub auth_failures_per_username: u32,
    pub auth_failures_per_address: u32,
    pub auth_window: Duration,
    /// Wrong sign-in passwords allowed per account from one address, and per address
    /// over all accounts, in `auth_window` (429 after, with Retry-After).
    pub sign_in_failures_per_account: u32,
    pub sign_in_failures_per_address: u32,
    /// With it, `/metrics` answers only `Authorization: Bearer <token>` (ADC_METRICS_TOKEN).
    pub metrics_token: Option<Secret>,
    /// The SMTP server e-mail notifications go through; without it, e-mail recipients
    /// cannot be added.
    pub smtp: Option<SmtpConfig>,
    /// Webhooks may target loopback and private addresses (ADC_WEBHOOK_ALLOW_PRIVATE):
    /// off, a tenant cannot make the server call into its own network.
    pub webhook_allow_private: bool,
    /// How often this replica looks for events to notify and deliveries due.
    pub notify_interval: Duration,
    /// A failed delivery is tried again after this, doubling each time up to 120 times
    /// it (30 s: 1 h), until `notify_give_up` after the event.
    pub notify_retry_base: Duration,
    pub notify_give_up: Duration,
    /// On PostgreSQL, the users' (groups') search index is built once the table holds
    /// this many rows (below, a scan answers as fast, and no write pays for the index),
    /// looked at this often until it is there (architecture §9).
    pub search_index_min_rows: u64,
    pub search_index_check: Duration,
}

/// How e-mail is sent (ADC_SMTP_*).
#[derive(Clone, Debug)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// The From address of every notification.
    pub from: String,
    /// A PEM file of CA certificates trusted besides the system's (an internal relay).
    pub ca_file: Option<PathBuf>,
}

/// How the connection to the SMTP server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SmtpTls {
    /// STARTTLS, required (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// None: only for a relay on this host.
    None,
}

impl SmtpTls {
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        }
    }
}

#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Config {
    /// The defaults, on the database at `database_url`.
    pub fn new(database_url: Option<String>) -> Self {
        Config {
            database_url,
            public_url: None,
            tls: None,
            agent_dist: None,
            bootstrap_admin_email: None,
            bootstrap_admin_password: None,
            heartbeat_interval: Duration::from_secs(adc_shared::protocol::HEARTBEAT_INTERVAL_SECS),
            replica_name: String::new(),
            session_ttl: Duration::from_secs(12 * 3600),
            schedule_check: Duration::from_secs(30),
            run_stall_timeout: Duration::from_secs(600),
            auth_timeout: Duration::from_secs(10),
            auth_failures_per_username: 5,
            auth_failures_per_address: 50,
            auth_window: Duration::from_secs(300),
            sign_in_failures_per_account: 5,
            sign_in_failures_per_address: 30,
            metrics_token: None,
            smtp: None,
            webhook_allow_private: false,
            notify_interval: Duration::from_secs(2),
            notify_retry_base: Duration::from_secs(30),
            notify_give_up: Duration::from_secs(26 * 3600),
            search_index_min_rows: 10_000,
            search_index_check: Duration::from_secs(30),
        }
    }
}

/// Every `ADC_*` variable the server reads; others are warned about at start, since
/// a misspelt variable would otherwise be silently ignored.
pub const KNOWN_ENV: &[&str] = &[
    "ADC_LISTEN",
    "ADC_DATABASE_URL",
    "ADC_PUBLIC_URL",
    "ADC_TLS_CERT",
    "ADC_TLS_KEY",
    "ADC_AGENT_DIST",
    "ADC_BOOTSTRAP_ADMIN_EMAIL",
    "ADC_BOOTSTRAP_ADMIN_PASSWORD",
    "ADC_LOG",
    "ADC_LOG_FORMAT",
    "ADC_HEARTBEAT_SECS",
    "ADC_SEARCH_INDEX_MIN_ROWS",
    "ADC_REPLICA_NAME",
    "ADC_METRICS_TOKEN",
    "ADC_SMTP_HOST",
    "ADC_SMTP_PORT",
    "ADC_SMTP_TLS",
    "ADC_SMTP_USERNAME",
    "ADC_SMTP_PASSWORD",
    "ADC_SMTP_FROM",
    "ADC_SMTP_CA_FILE",
    "ADC_WEBHOOK_ALLOW_PRIVATE",
    "ADC_NOTIFY_RETRY_SECS",
];

pub fn unknown_env_vars() -> Vec<String> {
    std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| k.starts_with("ADC_") && !KNOWN_ENV.contains(&k.as_str()))
        .collect()
}

/// This host's name and the port it listens on: unique among replicas on one host.
pub fn default_replica_name(listen: SocketAddr) -> String {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    format!("{host}:{}", listen.port())
}

impl Config {
    /// The heartbeat timeout: three missed heartbeats.
    pub fn heartbeat_timeout(&self) -> Duration {
        self.heartbeat_interval * 3
    }
}

/// The listen address default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    s.parse()
        .map_err(|e| format!("`{s}` is not host:port: {e}"))
}
