//! `adc check` (architecture §7.2): each step reported, stopping at the first failure.

use crate::config::AgentConfig;
use crate::env::ServerAccess;
use crate::{connection, ldap, tls};
use adc_shared::protocol::{Hello, PROTOCOL_VERSION};
use std::io::Write;
use std::path::Path;

/// Runs the checks, writing one line per step to `out`. `Err` carries the one-line
/// reason of the first failure.
pub async fn check(
    config_path: &Path,
    auth: Option<(String, adc_shared::Secret)>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let step = |out: &mut dyn Write, ok: bool, text: &str| {
        let _ = writeln!(out, "{} {text}", if ok { "[ok]  " } else { "[FAIL]" });
    };
    let cfg = match AgentConfig::load(config_path) {
        Ok(c) => {
            step(out, true, &format!("config {}", config_path.display()));
            c
        }
        Err(e) => {
            step(out, false, &format!("config {e}"));
            anyhow::bail!("{e}");
        }
    };
    let l = &cfg.backend.ldap;
    let mut conn = match ldap::connect(&cfg).await {
        Ok(c) => {
            step(
                out,
                true,
                &format!(
                    "directory {}: bound as `{}`",
                    l.addr.as_str(),
                    l.bind_dn.as_deref().unwrap_or("(anonymous)")
                ),
            );
            c
        }
        Err(e) => {
            // The step names the directory already.
            let addr = l.addr.as_str();
            let text = crate::explain::anyhow_chain(&e).replace(
                &format!("cannot connect to the directory at {addr}"),
                "cannot connect",
            );
            step(out, false, &format!("directory {addr}: {text}"));
            return Err(e);
        }
    };
    match ldap::count_entries(&mut conn, &cfg).await {
        Ok(n) => step(
            out,
            true,
            &format!("{n} entries match {} under {}", l.sync.filter, l.base_dn),
        ),
        Err(e) => {
            step(out, false, &crate::explain::anyhow_chain(&e));
            return Err(e);
        }
    }
    if l.groups.is_some() {
        let (base, scope, filter) = crate::sync::groups::GroupMapper::search(&cfg);
        match ldap::count_matching(&mut conn, &cfg, &base, scope, &filter).await {
            Ok(n) => step(
                out,
                true,
                &format!("{n} groups match {filter} under {base}"),
            ),
            Err(e) => {
                let text = format!(
                    "groups: {}; check backend.ldap.groups",
                    crate::explain::anyhow_chain(&e)
                );
                step(out, false, &text);
                anyhow::bail!(text);
            }
        }
    }
    let _ = conn.unbind().await;
    if let Some((user, password)) = auth {
        match crate::auth::authenticate(&cfg, &crate::auth::Pool::default(), &user, &password).await
        {
            adc_shared::protocol::AuthOutcome::Ok { dn } => step(
                out,
                true,
                &format!("authentication of {user}: the password is right (bound as `{dn}`)"),
            ),
            adc_shared::protocol::AuthOutcome::Invalid => {
                step(
                    out,
                    false,
                    &format!(
                        "authentication of {user}: wrong username or password, or not exactly one entry"
                    ),
                );
                anyhow::bail!(
                    "authentication of {user} failed: wrong username or password, or not exactly one entry"
                );
            }
            adc_shared::protocol::AuthOutcome::TimedOut => {
                step(
                    out,
                    false,
                    &format!("authentication of {user}: the directory did not answer in time"),
                );
                anyhow::bail!(
                    "authentication of {user} failed: the directory did not answer in time"
                );
            }
            adc_shared::protocol::AuthOutcome::Unavailable { reason } => {
                step(out, false, &format!("authentication of {user}: {reason}"));
                anyhow::bail!("authentication of {user} failed: {reason}");
            }
        }
    }
    let access = match ServerAccess::from_env() {
        Ok(a) => a,
        Err(e) => {
            step(
                out,
                false,
                &format!("server: {}", crate::explain::anyhow_chain(&e)),
            );
            return Err(e);
        }
    };
    let hello = Hello {
        protocol_version: PROTOCOL_VERSION,
        agent_version: crate::VERSION.to_owned(),
        hostname: crate::run::hostname(),
        settings: cfg.settings,
    };
    let tls = tls::client_config(access.extra_ca.as_deref())?;
    match connection::connect(&access, tls, hello).await {
        Ok(mut c) => {
            step(
                out,
                true,
                &format!(
                    "server {}: authenticated as synchronization \"{}\" ({}), protocol {}",
                    access.url,
                    c.welcome.synchronization_name,
                    c.welcome.synchronization_id,
                    c.welcome.protocol_version
                ),
            );
            let _ = c.socket.close(None).await;
            Ok(())
        }
        Err(e) => {
            step(out, false, &format!("server {}: {e}", access.url));
            Err(e.into())
        }
    }
}
