//! Roles (architecture §3), ordered by what they may do.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Reads everything, changes nothing.
    Viewer,
    /// Also triggers runs and decides on held deletions.
    Operator,
    /// Everything, and the only role that adds, changes or deletes a synchronization,
    /// sees a new secret, or manages API tokens.
    SystemAdmin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::SystemAdmin => "system-admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "system-admin" => Ok(Role::SystemAdmin),
            other => Err(format!(
                "unknown role `{other}` (system-admin, operator, viewer)"
            )),
        }
    }
}
