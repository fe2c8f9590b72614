//! Pass-through authentication on the agent's side (architecture §6): find exactly one entry
//! with the template, the username RFC 4515-escaped, then bind as it with the password
//! on a connection of its own. The password is never logged or kept.

use crate::config::AgentConfig;
use crate::ldap;
use adc_shared::Secret;
use adc_shared::protocol::AuthOutcome;
use ldap3::{LdapConnAsync, LdapConnSettings, Scope};
use std::time::Duration;

/// The search filter for `username`: every character that means something in a filter
/// is escaped, so no username can widen the search.
pub fn filter(template: &str, username: &str) -> String {
    template.replace("%s", &ldap3::ldap_escape(username))
}

pub async fn authenticate(cfg: &AgentConfig, username: &str, password: &Secret) -> AuthOutcome {
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
    template: &str,
    username: &str,
    password: &Secret,
    limit: Duration,
) -> AuthOutcome {
    let l = &cfg.backend.ldap;
    let mut search = match ldap::connect(cfg).await {
        Ok(c) => c,
        Err(e) => {
            return AuthOutcome::Unavailable {
                reason: crate::explain::anyhow_chain(&e),
            };
        }
    };
    let found = search
        .with_timeout(limit)
        .search(
            &l.base_dn,
            Scope::from(l.scope),
            &filter(template, username),
            vec!["1.1"],
        )
        .await
        .and_then(|r| r.success());
    let _ = search.unbind().await;
    let entries = match found {
        Ok((entries, _)) => entries,
        Err(e) => {
            return AuthOutcome::Unavailable {
                reason: crate::explain::ldap(
                    &format!("the search for the user under `{}`", l.base_dn),
                    limit,
                    &e,
                ),
            };
        }
    };
    if entries.len() != 1 {
        // None, or several: either way not one person.
        return AuthOutcome::Invalid;
    }
    let dn = ldap3::SearchEntry::construct(entries.into_iter().next().expect("one entry")).dn;
    // A connection of its own, never the service account's.
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
                    return AuthOutcome::Unavailable {
                        reason: crate::explain::anyhow_chain(&e),
                    };
                }
            }
        };
    }
    let (conn, mut user) = match LdapConnAsync::with_settings(settings, l.addr.as_str()).await {
        Ok(c) => c,
        Err(e) => {
            return AuthOutcome::Unavailable {
                reason: crate::explain::ldap(
                    &format!("cannot connect to the directory at {}", l.addr.as_str()),
                    limit,
                    &e,
                ),
            };
        }
    };
    ldap3::drive!(conn);
    let outcome = match user
        .with_timeout(limit)
        .simple_bind(&dn, password.expose())
        .await
    {
        Ok(r) if r.rc == 0 => AuthOutcome::Ok { dn },
        Ok(r) if r.rc == 49 => AuthOutcome::Invalid, // invalidCredentials
        Ok(r) => AuthOutcome::Unavailable {
            reason: format!(
                "the user's bind: {}, result code {}",
                crate::explain::result_code(r.rc).0,
                r.rc
            ),
        },
        Err(e) => AuthOutcome::Unavailable {
            reason: crate::explain::ldap("the user's bind", limit, &e),
        },
    };
    let _ = user.unbind().await;
    outcome
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
