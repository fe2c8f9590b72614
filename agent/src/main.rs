use adc_agent::env::{self, ServerAccess};
use adc_agent::run::{Agent, Control, Status};
use clap::{Parser, Subcommand};
use std::process::ExitCode;
use tokio::sync::{mpsc, watch};

#[derive(Parser)]
#[command(
    name = "adc",
    version,
    about = "ad-connect agent: keeps the cloud directory in step with your LDAP or Active Directory"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Stay connected to the server and wait for commands (the default).
    Run,
    /// Check the configuration, the directory and the server, step by step.
    Check,
    /// Print the agent and protocol versions.
    Version,
}

#[tokio::main]
async fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let filter = std::env::var("AD_CONNECT_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command.unwrap_or(Cmd::Run) {
        Cmd::Version => {
            println!(
                "adc {} (protocol {})",
                adc_agent::VERSION,
                adc_shared::PROTOCOL_VERSION
            );
            Ok(())
        }
        Cmd::Check => adc_agent::check::check(&env::config_path(), &mut std::io::stdout()).await,
        Cmd::Run => run().await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("adc: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let access = ServerAccess::from_env()?;
    let (status, _) = watch::channel(Status::default());
    let agent = Agent::new(access, &env::config_path(), status)?;
    let (tx, rx) = mpsc::channel(8);
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        loop {
            let c = tokio::select! {
                _ = hup.recv() => Control::Reload,
                _ = term.recv() => Control::Shutdown,
                _ = tokio::signal::ctrl_c() => Control::Shutdown,
            };
            if tx.send(c).await.is_err() {
                return;
            }
        }
    });
    agent.run(rx).await
}
