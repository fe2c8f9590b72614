//! Turning library errors into what an administrator reads: what failed, the value
//! involved, and what to check — each cause said once (ldap3, tungstenite and std repeat
//! their source's text in their own).

use ldap3::LdapError;
use std::error::Error;

/// An error and its causes on one line, skipping a cause whose text is already said.
pub fn chain(e: &(dyn Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// [`chain`] for an `anyhow` error with its contexts.
pub fn anyhow_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for c in e.chain() {
        let text = c.to_string();
        if !text.is_empty() && !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

/// What an LDAP result code means, and what to check in adc.yaml.
pub fn result_code(rc: u32) -> (&'static str, &'static str) {
    match rc {
        3 => (
            "time limit exceeded",
            "the directory's time limit for this account",
        ),
        4 => (
            "size limit exceeded",
            "the directory's size limits for bind_dn (sizelimit, limits)",
        ),
        7 | 12 => (
            "paged search not supported",
            "page_size, or a directory that supports paging",
        ),
        8 | 13 => (
            "the directory requires a secure connection",
            "use an ldaps:// addr or starttls: true",
        ),
        11 => (
            "administrative limit exceeded",
            "the directory's limits for bind_dn",
        ),
        32 => (
            "no such object",
            "base_dn: it does not exist in the directory",
        ),
        34 => ("invalid DN syntax", "the DN in bind_dn or base_dn"),
        48 => (
            "inappropriate authentication",
            "bind_dn and bind_password (an anonymous bind may be refused)",
        ),
        49 => (
            "the directory refused bind_dn's password (invalid credentials)",
            "bind_dn and bind_password",
        ),
        50 => (
            "insufficient access rights",
            "that bind_dn may read base_dn",
        ),
        51 => (
            "the directory is busy",
            "the directory's load; the next run retries",
        ),
        52 => ("the directory is unavailable", "the directory's state"),
        53 => (
            "the directory is unwilling to perform it",
            "the account's state (disabled, expired) and whether the directory wants TLS",
        ),
        _ => (
            "the directory refused it",
            "the directory's log for this result code",
        ),
    }
}

/// An LDAP operation's failure in one line: `what` failed (naming its value), why, and
/// what to check. `limit` is the time the operation was given.
pub fn ldap(what: &str, limit: std::time::Duration, e: &LdapError) -> String {
    match e {
        LdapError::LdapResult { result } => {
            let (meaning, check) = result_code(result.rc);
            let text = if result.text.is_empty() {
                String::new()
            } else {
                format!(" ({})", result.text.trim())
            };
            format!(
                "{what}: {meaning}{text}, result code {}; check {check}",
                result.rc
            )
        }
        LdapError::Timeout { .. } => format!(
            "{what}: no answer within {} s; check that addr is an LDAP server (ldap:// or ldaps:// as it expects), that it is not overloaded, or raise timeout in adc.yaml",
            limit.as_secs()
        ),
        // Every directory connection is to adc.yaml's `addr`.
        LdapError::Io { source } => io(what, "addr in adc.yaml", source),
        other => format!("{what}: {}", chain(other)),
    }
}

/// A network failure towards the address `setting` names, with the likely fix.
pub fn io(what: &str, setting: &str, e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    let text = chain(e);
    let check = match e.kind() {
        ConnectionRefused => {
            format!("check {setting}: the address and port, and that the service runs there")
        }
        TimedOut => format!("check {setting}: the address, and any firewall on the way"),
        NotFound => format!("check the host name in {setting}"),
        ConnectionReset | UnexpectedEof | BrokenPipe => format!(
            "the other side closed the connection; check that {setting} names a service speaking this protocol (TLS or not)"
        ),
        _ if text.contains("certificate") => "check which CA signed its certificate".to_owned(),
        _ => format!("check {setting} and the network"),
    };
    format!("{what}: {text}; {check}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_said_is_not_said_again() {
        let io = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        );
        let e = LdapError::Io { source: io };
        assert_eq!(chain(&e), "I/O error: Connection refused (os error 111)");
        let a = anyhow::Error::new(LdapError::Io {
            source: std::io::Error::other("boom"),
        })
        .context("cannot connect");
        assert_eq!(anyhow_chain(&a), "cannot connect: I/O error: boom");
    }

    #[test]
    fn result_codes_say_what_to_check() {
        let r = |rc, text: &str| LdapError::LdapResult {
            result: ldap3::LdapResult {
                rc,
                matched: String::new(),
                text: text.into(),
                refs: vec![],
                ctrls: vec![],
            },
        };
        let bind = ldap(
            "bind as `cn=reader,dc=x`",
            std::time::Duration::from_secs(60),
            &r(49, ""),
        );
        assert_eq!(
            bind,
            "bind as `cn=reader,dc=x`: the directory refused bind_dn's password (invalid credentials), result code 49; check bind_dn and bind_password"
        );
        let search = ldap(
            "search under `dc=nope`",
            std::time::Duration::from_secs(60),
            &r(32, ""),
        );
        assert!(
            search.contains("no such object") && search.contains("check base_dn"),
            "{search}"
        );
        let tls = ldap(
            "bind",
            std::time::Duration::from_secs(60),
            &r(8, "confidentiality required"),
        );
        assert!(
            tls.contains("(confidentiality required)") && tls.contains("starttls"),
            "{tls}"
        );
    }
}
