//! Pass-through authentication on the agent's side (architecture §6): find exactly one entry
//! with the template, the username RFC 4515-escaped, then bind as it with the password
//! on a connection of its own, never the service account's. The password is never
//! logged or kept.
//!
//! Connections are kept between authentications ([`Pool`]): service-account
//! connections for the search, and connections for users' binds, each rebound by the
//! next bind (a failed bind leaves it anonymous, RFC 4513). A kept connection the
//! directory has closed meanwhile fails its first operation; the request then goes
//! once more on a new connection, so a restarted directory costs no failed sign-in.

use crate::config::AgentConfig;
use crate::ldap;
use adc_shared::Secret;
use adc_shared::protocol::AuthOutcome;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope};
use std::sync::Mutex;
use std::time::Duration;

/// Idle connections kept per kind: enough for the server's concurrent callers.
const KEEP: usize = 8;

/// Directory connections kept for authentications made with one configuration; a
/// reloaded adc.yaml gets a new pool.
#[derive(Default)]
pub struct Pool {
    search: Mutex<Vec<Ldap>>,
    bind: Mutex<Vec<Ldap>>,
}

impl Pool {
    fn take(list: &Mutex<Vec<Ldap>>) -> Option<Ldap> {
        list.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    fn give(list: &Mutex<Vec<Ldap>>, conn: Ldap) {
        let mut l = list.lock().unwrap_or_else(|e| e.into_inner());
        if l.len() < KEEP {
            l.push(conn);
        }
    }
}

/// The search filter for `username`: every character that means something in a filter
/// is escaped, so no username can widen the search.
pub fn filter(template: &str, username: &str) -> String {
    template.replace("%s", &ldap3::ldap_escape(username))
}

pub async fn authenticate(
    cfg: &AgentConfig,
    pool: &Pool,
    username: &str,
    password: &Secret,
) -> AuthOutcome {
    let Some(auth) = cfg.backend.ldap.authentication.as_ref() else {
        return AuthOutcome::Unavailable {
            reason: "authentication is not configured in adc.yaml".into(),
        };
    };
    // An LDAP bind with an empty password is an anonymous bind, which "succeeds".
    if password.expose().is_empty() {
        return AuthOutcome::Invalid;
    }
    let limit = Duration::from_secs(u64::from(auth.timeout.get()));
    match tokio::time::timeout(
        limit,
        check(
            cfg,
            pool,
            auth.username_filter_template.as_str(),
            username,
            password,
            limit,
        ),
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(_) => AuthOutcome::TimedOut,
    }
}

async fn check(
    cfg: &AgentConfig,
    pool: &Pool,
    template: &str,
    username: &str,
    password: &Secret,
    limit: Duration,
) -> AuthOutcome {
    let dn = match find(cfg, pool, template, username, limit).await {
        Ok(Some(dn)) => dn,
        Ok(None) => return AuthOutcome::Invalid,
        Err(outcome) => return outcome,
    };
    // A kept connection first; a new one when there is none, or the kept one failed.
    for kept in [true, false] {
        let mut conn = match kept.then(|| Pool::take(&pool.bind)).flatten() {
            Some(c) => c,
            None if kept => continue,
            None => match user_connection(cfg, limit).await {
                Ok(c) => c,
                Err(outcome) => return outcome,
            },
        };
        let outcome = match conn
            .with_timeout(limit)
            .simple_bind(&dn, password.expose())
            .await
        {
            Ok(r) if r.rc == 0 => AuthOutcome::Ok { dn: dn.clone() },
            Ok(r) if r.rc == 49 => AuthOutcome::Invalid, // invalidCredentials
            Ok(r) => AuthOutcome::Unavailable {
                reason: format!(
                    "the user's bind: {}, result code {}",
                    crate::explain::result_code(r.rc).0,
                    r.rc
                ),
            },
            Err(_) if kept => continue,
            Err(e) => {
                return AuthOutcome::Unavailable {
                    reason: crate::explain::ldap("the user's bind", limit, &e),
                };
            }
        };
        if matches!(outcome, AuthOutcome::Ok { .. } | AuthOutcome::Invalid) {
            Pool::give(&pool.bind, conn);
        }
        return outcome;
    }
    unreachable!("the second pass uses a new connection and returns")
}

/// The DN of the one entry the template finds for `username`; `None` for none or
/// several (either way not one person).
async fn find(
    cfg: &AgentConfig,
    pool: &Pool,
    template: &str,
    username: &str,
    limit: Duration,
) -> Result<Option<String>, AuthOutcome> {
    let l = &cfg.backend.ldap;
    let filter = filter(template, username);
    for kept in [true, false] {
        let mut conn = match kept.then(|| Pool::take(&pool.search)).flatten() {
            Some(c) => c,
            None if kept => continue,
            None => ldap::connect(cfg)
                .await
                .map_err(|e| AuthOutcome::Unavailable {
                    reason: crate::explain::anyhow_chain(&e),
                })?,
        };
        let found = conn
            .with_timeout(limit)
            .search(&l.base_dn, Scope::from(l.scope), &filter, vec!["1.1"])
            .await
            .and_then(|r| r.success());
        match found {
            Ok((entries, _)) => {
                Pool::give(&pool.search, conn);
                if entries.len() != 1 {
                    return Ok(None);
                }
                let entry = entries.into_iter().next().expect("one entry");
                // A malformed entry is not one person either.
                return Ok(ldap::entry(entry).map(|e| e.dn));
            }
            Err(_) if kept => continue,
            Err(e) => {
                return Err(AuthOutcome::Unavailable {
                    reason: crate::explain::ldap(
                        &format!("the search for the user under `{}`", l.base_dn),
                        limit,
                        &e,
                    ),
                });
            }
        }
    }
    unreachable!("the second pass uses a new connection and returns")
}

/// A new connection for users' binds: the directory's address and TLS settings, no
/// service-account bind.
async fn user_connection(cfg: &AgentConfig, limit: Duration) -> Result<Ldap, AuthOutcome> {
    let l = &cfg.backend.ldap;
    let mut settings = LdapConnSettings::new()
        .set_conn_timeout(limit)
        .set_starttls(l.starttls);
    if l.addr.is_ldaps() || l.starttls {
        settings = if l.tls_insecure_skip_verify {
            settings.set_no_tls_verify(true)
        } else {
            match crate::tls::client_config(l.tls_ca_file.as_deref()) {
                Ok(c) => settings.set_config(c),
                Err(e) => {
                    return Err(AuthOutcome::Unavailable {
                        reason: crate::explain::anyhow_chain(&e),
                    });
                }
            }
        };
    }
    match LdapConnAsync::with_settings(settings, l.addr.as_str()).await {
        Ok((conn, user)) => {
            ldap3::drive!(conn);
            Ok(user)
        }
        Err(e) => Err(AuthOutcome::Unavailable {
            reason: crate::explain::ldap(
                &format!("cannot connect to the directory at {}", l.addr.as_str()),
                limit,
                &e,
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_cannot_widen_the_filter() {
        let t = "(&(objectClass=inetOrgPerson)(mail=%s))";
        assert_eq!(
            filter(t, "a@b.c"),
            "(&(objectClass=inetOrgPerson)(mail=a@b.c))"
        );
        assert_eq!(filter(t, "*"), "(&(objectClass=inetOrgPerson)(mail=\\2a))");
        assert_eq!(
            filter(t, "*)(uid=*"),
            "(&(objectClass=inetOrgPerson)(mail=\\2a\\29\\28uid=\\2a))"
        );
        assert_eq!(
            filter(t, "a\\b\0"),
            "(&(objectClass=inetOrgPerson)(mail=a\\5cb\\00))"
        );
    }
}
