//! adc.yaml (architecture §7.1). The seed's example parses as written; an unknown key, a
//! wrong type, a bad value or a missing required key is an error naming the file, the
//! line and the column, so a misspelt `no-delete` is never silently ignored.

use crate::secret::Secret;
use adc_shared::Settings;
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The agent's settings (architecture §4); the server's win where set.
    #[serde(default)]
    pub settings: Settings,
    pub backend: Backend,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backend {
    pub ldap: LdapConfig,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldap://host[:port]` or `ldaps://host[:port]`.
    pub addr: LdapUrl,
    #[serde(default)]
    pub bind_dn: Option<String>,
    #[serde(default)]
    pub bind_password: Option<Secret>,
    /// A file holding the bind password, instead of `bind_password`.
    #[serde(default)]
    pub bind_password_file: Option<PathBuf>,
    pub base_dn: String,
    #[serde(default)]
    pub scope: Scope,
    #[serde(default)]
    pub starttls: bool,
    /// PEM file of CAs to trust for ldaps:// and StartTLS, besides the system's.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    #[serde(default)]
    pub tls_insecure_skip_verify: bool,
    /// Seconds to wait for the directory to answer one operation (a bind, a page of
    /// a search); default 60.
    #[serde(default)]
    pub timeout: Option<std::num::NonZeroU32>,
    #[serde(default)]
    pub flavour: Flavour,
    #[serde(default)]
    pub sync: SyncConfig,
    /// Groups and memberships (architecture §5.5); without this section only users
    /// are synchronized.
    #[serde(default)]
    pub groups: Option<GroupsConfig>,
    #[serde(default)]
    pub authentication: Option<AuthConfig>,
}

/// Where groups are and how their entries read; every key optional, defaults by
/// flavour (see [`GroupsConfig::resolve`]).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupsConfig {
    /// Default: `backend.ldap.base_dn`.
    #[serde(default)]
    pub base_dn: Option<String>,
    #[serde(default)]
    pub scope: Option<Scope>,
    /// Default: groupOfNames, groupOfUniqueNames and posixGroup (OpenLDAP); group
    /// (Active Directory).
    #[serde(default)]
    pub filter: Option<LdapFilter>,
    /// Attributes whose values are member DNs. Default: member and uniqueMember
    /// (OpenLDAP); member (Active Directory, read in ranges past 1500 values).
    #[serde(default)]
    pub member_attributes: Option<Vec<String>>,
    /// An attribute whose values name member users by `uid_attribute` (posixGroup's
    /// memberUid). Default: memberUid (OpenLDAP); none (Active Directory). An empty
    /// string turns it off.
    #[serde(default)]
    pub member_uid_attribute: Option<String>,
    /// The users' attribute that `member_uid_attribute` values name. Default: uid.
    #[serde(default)]
    pub uid_attribute: Option<String>,
    /// Overrides of the group mapping (name, description, email, or extra fields) to
    /// directory attributes. Default: name ← cn, description ← description, email ← mail.
    #[serde(default)]
    pub attributes: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Base,
    One,
    #[default]
    Sub,
}

impl LdapConfig {
    /// How long one directory operation may take (`timeout`, default 60 s).
    pub fn operation_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout.map_or(60, |t| u64::from(t.get())))
    }
}

impl From<Scope> for ldap3::Scope {
    fn from(s: Scope) -> Self {
        match s {
            Scope::Base => ldap3::Scope::Base,
            Scope::One => ldap3::Scope::OneLevel,
            Scope::Sub => ldap3::Scope::Subtree,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flavour {
    #[default]
    Openldap,
    ActiveDirectory,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    #[serde(default = "default_page_size")]
    pub page_size: NonZeroU32,
    #[serde(default = "default_filter")]
    pub filter: String,
    /// The attribute holding each entry's stable ID; default by flavour.
    #[serde(default)]
    pub id_attribute: Option<String>,
    /// Overrides of the attribute mapping (canonical field → directory attribute).
    #[serde(default)]
    pub attributes: Option<std::collections::BTreeMap<String, String>>,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            page_size: default_page_size(),
            filter: default_filter(),
            id_attribute: None,
            attributes: None,
        }
    }
}

fn default_page_size() -> NonZeroU32 {
    NonZeroU32::new(500).expect("non-zero")
}

fn default_filter() -> String {
    "(objectClass=inetOrgPerson)".to_owned()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(default)]
    pub username_attribute: Option<String>,
    pub username_filter_template: FilterTemplate,
    /// Seconds.
    #[serde(default = "default_auth_timeout")]
    pub timeout: NonZeroU32,
}

fn default_auth_timeout() -> NonZeroU32 {
    NonZeroU32::new(5).expect("non-zero")
}

/// An `ldap://` or `ldaps://` URL, checked when the file is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LdapUrl(String);

impl LdapUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn is_ldaps(&self) -> bool {
        self.0.starts_with("ldaps://")
    }
}

impl<'de> Deserialize<'de> for LdapUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let valid = |s: &str| {
            let host = s
                .strip_prefix("ldap://")
                .or_else(|| s.strip_prefix("ldaps://"));
            host.is_some_and(|h| !h.is_empty() && !h.contains(char::is_whitespace))
        };
        checked_string(d, valid, "ldap://host[:port] or ldaps://host[:port]").map(LdapUrl)
    }
}

/// Deserializes a string that must pass `valid`. The check runs inside the visitor,
/// so the error carries the value's own line and column.
fn checked_string<'de, D: Deserializer<'de>>(
    d: D,
    valid: fn(&str) -> bool,
    expected: &'static str,
) -> Result<String, D::Error> {
    struct V(fn(&str) -> bool, &'static str);
    impl serde::de::Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.1)
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<String, E> {
            if (self.0)(s) {
                Ok(s.to_owned())
            } else {
                Err(E::invalid_value(serde::de::Unexpected::Str(s), &self))
            }
        }
    }
    d.deserialize_str(V(valid, expected))
}

/// A search filter with exactly one `%s`, where the escaped username goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterTemplate(String);

impl FilterTemplate {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for FilterTemplate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let valid =
            |s: &str| s.matches("%s").count() == 1 && s.starts_with('(') && s.ends_with(')');
        checked_string(d, valid, "a parenthesised filter with exactly one %s").map(FilterTemplate)
    }
}

/// A search filter: parenthesised, checked when the file is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LdapFilter(String);

impl LdapFilter {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for LdapFilter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let valid = |s: &str| s.starts_with('(') && s.ends_with(')') && !s.contains('\0');
        checked_string(d, valid, "a parenthesised LDAP filter").map(LdapFilter)
    }
}

/// Why adc.yaml could not be used, naming the file and, where known, line and column.
#[derive(Debug)]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, ":{l}:{c}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl AgentConfig {
    /// Reads and checks adc.yaml.
    pub fn load(path: &Path) -> Result<AgentConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_owned(),
            line: None,
            column: None,
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<AgentConfig, ConfigError> {
        let cfg: AgentConfig = serde_yaml::from_str(text).map_err(|e| {
            let loc = e.location();
            ConfigError {
                path: path.to_owned(),
                line: loc.as_ref().map(|l| l.line()),
                column: loc.as_ref().map(|l| l.column()),
                message: strip_location(&e.to_string()),
            }
        })?;
        cfg.check(path)?;
        Ok(cfg)
    }

    fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let err = |message: String| ConfigError {
            path: path.to_owned(),
            line: None,
            column: None,
            message,
        };
        let l = &self.backend.ldap;
        if l.bind_password.is_some() && l.bind_password_file.is_some() {
            return Err(err(
                "backend.ldap: set bind_password or bind_password_file, not both".into(),
            ));
        }
        if let Some(g) = &l.groups
            && g.member_attributes
                .as_ref()
                .is_some_and(|a| a.iter().any(|v| v.trim().is_empty()))
        {
            return Err(err(
                "backend.ldap.groups.member_attributes: an attribute name is empty".into(),
            ));
        }
        if l.starttls && l.addr.is_ldaps() {
            return Err(err(
                "backend.ldap: starttls is for ldap:// URLs; ldaps:// is TLS already".into(),
            ));
        }
        Ok(())
    }

    /// The bind password, from the file when one is named.
    pub fn bind_password(&self) -> anyhow::Result<Option<Secret>> {
        let l = &self.backend.ldap;
        match &l.bind_password_file {
            Some(p) => {
                let s = std::fs::read_to_string(p).map_err(|e| {
                    anyhow::anyhow!("cannot read bind_password_file {}: {e}", p.display())
                })?;
                Ok(Some(Secret::new(s.trim_end_matches(['\r', '\n']))))
            }
            None => Ok(l.bind_password.clone()),
        }
    }
}

/// serde_yaml appends " at line L column C"; the location is printed in front instead.
fn strip_location(s: &str) -> String {
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of architecture §7.1, exactly as printed.
    pub const SEED_EXAMPLE: &str = r#"settings:            # the agent's settings (§4); the server's win where set
  dry-run: true
  no-update: false
  no-create: false
  no-delete: false
  delete-disables: true
  no-update-provider-mismatch: true
  create-as-disabled: false
backend:
  ldap:
    addr: ldap://your-ldap-server.local      # ldap:// or ldaps://
    bind_dn: cn=readonly,dc=lg,dc=local
    bind_password: readonly
    base_dn: dc=lg,dc=local
    scope: sub                               # base | one | sub
    sync:
      page_size: 20
      filter: (objectClass=inetOrgPerson)
    authentication:
      username_attribute: mail
      username_filter_template: (&(objectClass=inetOrgPerson)(mail=%s))
      timeout: 5                             # seconds
"#;

    fn parse(text: &str) -> Result<AgentConfig, ConfigError> {
        AgentConfig::parse(text, Path::new("/etc/adc/adc.yaml"))
    }

    #[test]
    fn the_seed_example_parses_as_written() {
        let c = parse(SEED_EXAMPLE).unwrap();
        assert_eq!(c.settings.dry_run, Some(true));
        assert_eq!(c.settings.no_update_provider_mismatch, Some(true));
        let l = &c.backend.ldap;
        assert_eq!(l.addr.as_str(), "ldap://your-ldap-server.local");
        assert_eq!(l.bind_password.as_ref().unwrap().expose(), "readonly");
        assert_eq!(l.scope, Scope::Sub);
        assert_eq!(l.sync.page_size.get(), 20);
        assert_eq!(l.sync.filter, "(objectClass=inetOrgPerson)");
        let a = l.authentication.as_ref().unwrap();
        assert_eq!(a.username_attribute.as_deref(), Some("mail"));
        assert_eq!(a.timeout.get(), 5);
    }

    #[test]
    fn the_seed_example_has_no_groups_and_a_groups_section_is_checked_key_by_key() {
        assert!(parse(SEED_EXAMPLE).unwrap().backend.ldap.groups.is_none());
        let with = SEED_EXAMPLE.replace(
            "    authentication:\n",
            "    groups:\n      base_dn: ou=groups,dc=lg,dc=local\n      filter: (objectClass=groupOfNames)\n      member_attributes: [member]\n    authentication:\n",
        );
        let g = parse(&with).unwrap().backend.ldap.groups.unwrap();
        assert_eq!(g.base_dn.as_deref(), Some("ou=groups,dc=lg,dc=local"));
        assert_eq!(g.member_attributes.unwrap(), vec!["member".to_owned()]);
        // A misspelt key, and a filter without parentheses: file, line and column.
        let typo = with.replace("      member_attributes:", "      member_atributes:");
        let e = parse(&typo).unwrap_err();
        assert_eq!((e.line, e.column), (Some(22), Some(7)), "{e}");
        assert!(e.to_string().contains("member_atributes"), "{e}");
        let bad = with.replace("(objectClass=groupOfNames)", "objectClass=groupOfNames");
        let e = parse(&bad).unwrap_err();
        assert_eq!(e.line, Some(21), "{e}");
        assert!(e.to_string().contains("parenthesised LDAP filter"), "{e}");
        // An empty section turns groups on with every default.
        let empty = SEED_EXAMPLE.replace(
            "    authentication:\n",
            "    groups: {}\n    authentication:\n",
        );
        assert!(parse(&empty).unwrap().backend.ldap.groups.is_some());
    }

    #[test]
    fn a_misspelt_setting_names_file_line_and_column() {
        let text = SEED_EXAMPLE.replace("  no-delete: false", "  no-delet: false");
        let e = parse(&text).unwrap_err();
        assert_eq!((e.line, e.column), (Some(5), Some(3)), "{e}");
        let shown = e.to_string();
        assert!(shown.starts_with("/etc/adc/adc.yaml:5:3: "), "{shown}");
        assert!(shown.contains("no-delet"), "{shown}");
    }

    #[test]
    fn an_unknown_backend_key_is_refused() {
        let text = SEED_EXAMPLE.replace("    base_dn:", "    basedn:");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.line, Some(14), "{e}");
        assert!(e.to_string().contains("basedn"), "{e}");
    }

    #[test]
    fn a_wrong_type_names_its_place() {
        let text = SEED_EXAMPLE.replace("  dry-run: true", "  dry-run: maybe");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        let text = SEED_EXAMPLE.replace("page_size: 20", "page_size: twenty");
        assert_eq!(parse(&text).unwrap_err().line, Some(17));
        let text = SEED_EXAMPLE.replace("page_size: 20", "page_size: 0");
        assert_eq!(parse(&text).unwrap_err().line, Some(17));
    }

    #[test]
    fn a_bad_scope_lists_the_allowed_values() {
        let text = SEED_EXAMPLE.replace("scope: sub ", "scope: subtree ");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.line, Some(15), "{e}");
        assert!(
            e.message.contains("base") && e.message.contains("one"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_required_key_is_named() {
        let text = SEED_EXAMPLE.replace("    base_dn: dc=lg,dc=local\n", "");
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("base_dn"), "{e}");
        assert!(e.line.is_some(), "{e}");
    }

    #[test]
    fn bad_urls_and_templates_are_refused_where_they_stand() {
        let text = SEED_EXAMPLE.replace("addr: ldap://your-ldap-server.local", "addr: http://x");
        assert_eq!(parse(&text).unwrap_err().line, Some(11));
        let text = SEED_EXAMPLE.replace("(mail=%s))", "(mail=x))");
        assert_eq!(parse(&text).unwrap_err().line, Some(21));
    }

    #[test]
    fn the_bind_password_never_shows_in_debug_output() {
        let c = parse(SEED_EXAMPLE).unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("readonly\""), "{dbg}");
        assert!(dbg.contains("***"));
    }

    #[test]
    fn extensions_parse() {
        let text = SEED_EXAMPLE.replace(
            "    scope: sub",
            "    starttls: true\n    tls_ca_file: /etc/ssl/ca.pem\n    flavour: active-directory\n    scope: sub",
        );
        let c = parse(&text).unwrap();
        assert!(c.backend.ldap.starttls);
        assert_eq!(c.backend.ldap.flavour, Flavour::ActiveDirectory);
    }
}
