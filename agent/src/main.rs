use adc_agent::env::{self, ServerAccess};
use adc_agent::run::{Agent, Control, Status};
use clap::{CommandFactory, Parser, Subcommand};
use std::process::ExitCode;
use tokio::sync::{mpsc, watch};

// The reading task allocates what the run's task frees: with glibc a third of the
// agent's CPU was malloc and free and their arena lock. Measured in the groups
// benchmark: a no-change re-sync 1.8-1.95 s -> 1.3 s; peak memory within a few MiB of
// glibc's once mimalloc keeps off transparent huge pages (the workspace's `no_thp`).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ENVIRONMENT: &str = "\
Environment:
  AD_CONNECT_ADDR    the server: host:port (meaning wss://host:port), or a wss://, ws://,
                     https:// or http:// URL
  AD_CONNECT_AUTH    the synchronization's Application ID and Secret Token, as id:secret
  AD_CONNECT_CONFIG  the agent's configuration file (default ./adc.yaml)
  AD_CONNECT_CA      extra CA certificates (PEM) trusted for the connection to the server;
                     the directory's CA is adc.yaml's tls_ca_file
  AD_CONNECT_LOG     log filter (default info; warn for imp), e.g. debug";

#[derive(Parser)]
#[command(
    name = "adc",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("ADC_GIT_COMMIT"), ")"),
    about = "ad-connect agent: keeps the cloud directory in step with your LDAP or Active Directory",
    after_help = ENVIRONMENT
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Stay connected to the server and wait for commands (the default).
    Run,
    /// Import once: ask the server for a run, run it, print the summary, exit.
    Imp {
        /// Plan only: report every change, apply none.
        #[arg(long)]
        dry_run: bool,
        /// Re-send every user, whatever the server holds.
        #[arg(long)]
        full: bool,
    },
    /// Check the configuration, the directory and the server, step by step.
    Check {
        /// Also check pass-through authentication for this user; the password is asked
        /// for on the terminal (or read from standard input), never on the command line.
        #[arg(long, value_name = "NAME")]
        auth_user: Option<String>,
    },
    /// Print the agent and protocol versions.
    Version,
    /// Print a shell completion script.
    ///
    /// For bash, zsh, fish, powershell or elvish, e.g.
    /// `adc completions bash > /etc/bash_completion.d/adc`.
    Completions {
        /// The shell to complete in.
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Write the manual pages into a folder.
    ///
    /// adc.1 and one page per command, e.g. `adc man /usr/local/share/man/man1`.
    Man {
        /// The folder to write the pages into; it must exist.
        #[arg(value_name = "DIR")]
        dir: std::path::PathBuf,
    },
}

/// The command line as the manual pages and completions show it: the version without
/// the commit, so the shipped pages change only with the command line.
fn documented() -> clap::Command {
    Cli::command().version(adc_agent::VERSION)
}

#[tokio::main]
async fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    // `imp` prints its own progress, summary and one-line reason: besides, only
    // warnings about the set-up (a run's own failure is in the summary already).
    let quiet = matches!(cli.command, Some(Cmd::Imp { .. }));
    let filter = std::env::var("AD_CONNECT_LOG").unwrap_or_else(|_| {
        if quiet {
            "warn,adc_agent::sync=off,adc_agent::run=off"
        } else {
            "info"
        }
        .into()
    });
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only where a person reads them: not in a file, a pipe or journald.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command.unwrap_or(Cmd::Run) {
        Cmd::Completions { shell } => {
            clap_complete::generate(shell, &mut documented(), "adc", &mut std::io::stdout());
            Ok(())
        }
        Cmd::Man { dir } => clap_mangen::generate_to(documented(), &dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot write the manual pages into `{}`: {e}; check that the folder exists and is writable",
                dir.display()
            )
        }),
        Cmd::Version => {
            println!(
                "adc {} (commit {}, protocol {})",
                adc_agent::VERSION,
                adc_agent::COMMIT,
                adc_shared::PROTOCOL_VERSION
            );
            Ok(())
        }
        Cmd::Check { auth_user } => {
            let auth = match auth_user {
                Some(user) => match read_password(&user) {
                    Ok(pw) => Some((user, pw)),
                    Err(e) => {
                        eprintln!("adc: cannot read the password: {e}");
                        return ExitCode::FAILURE;
                    }
                },
                None => None,
            };
            adc_agent::check::check(&env::config_path(), auth, &mut std::io::stdout()).await
        }
        Cmd::Run => run().await,
        Cmd::Imp { dry_run, full } => imp(dry_run, full).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("adc: {}", adc_agent::explain::anyhow_chain(&e));
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

async fn imp(dry_run: bool, full: bool) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    use std::sync::atomic::Ordering;
    let access = ServerAccess::from_env()?;
    let (status, _) = watch::channel(Status::default());
    let agent = Agent::new(access, &env::config_path(), status)?;
    let (tx, rx) = mpsc::channel(8);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        let _ = tx.send(Control::Shutdown).await;
    });
    let read = agent.progress();
    let progress = std::io::stderr().is_terminal().then(|| {
        let read = read.clone();
        tokio::spawn(async move {
            loop {
                eprint!("\rread {} entries", read.load(Ordering::Relaxed));
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        })
    });
    let result = agent.imp(dry_run, full, rx).await;
    if let Some(p) = progress {
        p.abort();
        // The line ends on the final count, however short the read was.
        eprintln!("\rread {} entries", read.load(Ordering::Relaxed));
    }
    let finished = result?;
    print!("{}", adc_agent::report::table(&finished));
    let report = finished.report;
    match report.status.as_str() {
        "succeeded" => Ok(()),
        "held" => Err(anyhow::anyhow!(
            "{} deletions exceed the deletion guard and are held: approve or reject them on the admin page",
            report.counts.held
        )),
        _ => Err(anyhow::anyhow!(
            "the run {}: {}",
            report.status,
            report.error.unwrap_or_default()
        )),
    }
}

/// The password of `user`: asked on the terminal without echo, or the first line of
/// standard input when that is not a terminal (scripts, tests).
fn read_password(user: &str) -> std::io::Result<adc_shared::Secret> {
    use std::io::{BufRead, IsTerminal};
    let line = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("password of {user}: "))?
    } else {
        let mut l = String::new();
        std::io::stdin().lock().read_line(&mut l)?;
        l.trim_end_matches(['\r', '\n']).to_owned()
    };
    Ok(adc_shared::Secret::new(line))
}
