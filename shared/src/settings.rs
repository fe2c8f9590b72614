//! The seven synchronization settings (architecture §4) and how the server's, the agent's
//! and the default values combine into the effective value of a run.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One of the seven settings. The names are the seed product's kebab-case names,
/// identical in adc.yaml, JSON and the UI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Setting {
    DryRun,
    NoUpdate,
    NoCreate,
    NoDelete,
    DeleteDisables,
    NoUpdateProviderMismatch,
    CreateAsDisabled,
}

impl Setting {
    pub const ALL: [Setting; 7] = [
        Setting::DryRun,
        Setting::NoUpdate,
        Setting::NoCreate,
        Setting::NoDelete,
        Setting::DeleteDisables,
        Setting::NoUpdateProviderMismatch,
        Setting::CreateAsDisabled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Setting::DryRun => "dry-run",
            Setting::NoUpdate => "no-update",
            Setting::NoCreate => "no-create",
            Setting::NoDelete => "no-delete",
            Setting::DeleteDisables => "delete-disables",
            Setting::NoUpdateProviderMismatch => "no-update-provider-mismatch",
            Setting::CreateAsDisabled => "create-as-disabled",
        }
    }

    pub fn from_name(name: &str) -> Option<Setting> {
        Setting::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The value used when neither the server nor the agent sets it.
    pub fn default_value(self) -> bool {
        matches!(
            self,
            Setting::DeleteDisables | Setting::NoUpdateProviderMismatch
        )
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of tri-state settings: `Some(true)`, `Some(false)` or unset (`None`).
/// Used for the server-side settings of a synchronization and for the agent's adc.yaml.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub dry_run: Option<bool>,
    #[serde(default)]
    pub no_update: Option<bool>,
    #[serde(default)]
    pub no_create: Option<bool>,
    #[serde(default)]
    pub no_delete: Option<bool>,
    #[serde(default)]
    pub delete_disables: Option<bool>,
    #[serde(default)]
    pub no_update_provider_mismatch: Option<bool>,
    #[serde(default)]
    pub create_as_disabled: Option<bool>,
}

impl Settings {
    pub fn get(&self, s: Setting) -> Option<bool> {
        *self.slot(s)
    }

    pub fn set(&mut self, s: Setting, value: Option<bool>) {
        *self.slot_mut(s) = value;
    }

    fn slot(&self, s: Setting) -> &Option<bool> {
        match s {
            Setting::DryRun => &self.dry_run,
            Setting::NoUpdate => &self.no_update,
            Setting::NoCreate => &self.no_create,
            Setting::NoDelete => &self.no_delete,
            Setting::DeleteDisables => &self.delete_disables,
            Setting::NoUpdateProviderMismatch => &self.no_update_provider_mismatch,
            Setting::CreateAsDisabled => &self.create_as_disabled,
        }
    }

    fn slot_mut(&mut self, s: Setting) -> &mut Option<bool> {
        match s {
            Setting::DryRun => &mut self.dry_run,
            Setting::NoUpdate => &mut self.no_update,
            Setting::NoCreate => &mut self.no_create,
            Setting::NoDelete => &mut self.no_delete,
            Setting::DeleteDisables => &mut self.delete_disables,
            Setting::NoUpdateProviderMismatch => &mut self.no_update_provider_mismatch,
            Setting::CreateAsDisabled => &mut self.create_as_disabled,
        }
    }

    /// Applies a partial change as sent in a PATCH: every key present is set (`null`
    /// clears it, leaving the choice to the agent); absent keys keep their value.
    /// Unknown keys and non-boolean values are refused, naming the key, so a
    /// misspelt `no-delete` is never silently ignored.
    pub fn apply_patch(
        &mut self,
        patch: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), String> {
        let mut next = *self;
        for (key, value) in patch {
            let setting = Setting::from_name(key).ok_or_else(|| {
                let known: Vec<_> = Setting::ALL.iter().map(|s| s.name()).collect();
                format!("unknown setting `{key}` (known: {})", known.join(", "))
            })?;
            let value = match value {
                serde_json::Value::Bool(b) => Some(*b),
                serde_json::Value::Null => None,
                other => {
                    return Err(format!(
                        "setting `{key}` must be true, false or null, not {other}"
                    ));
                }
            };
            next.set(setting, value);
        }
        *self = next;
        Ok(())
    }

    /// The effective settings of a run: the server's value where set, else the
    /// agent's, else the default (architecture §4). The one implementation both halves use.
    pub fn effective(server: &Settings, agent: &Settings) -> EffectiveSettings {
        let mut out = EffectiveSettings::default();
        for s in Setting::ALL {
            let e = match (server.get(s), agent.get(s)) {
                (Some(v), _) => Effective::new(v, Source::Server),
                (None, Some(v)) => Effective::new(v, Source::Agent),
                (None, None) => Effective::new(s.default_value(), Source::Default),
            };
            out.set(s, e);
        }
        out
    }
}

/// Where an effective value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Server,
    Agent,
    Default,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Effective {
    pub value: bool,
    pub source: Source,
}

impl Effective {
    pub fn new(value: bool, source: Source) -> Self {
        Effective { value, source }
    }
}

impl Default for Effective {
    fn default() -> Self {
        Effective::new(false, Source::Default)
    }
}

/// The settings a run applies, each with its source; recorded on the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub struct EffectiveSettings {
    pub dry_run: Effective,
    pub no_update: Effective,
    pub no_create: Effective,
    pub no_delete: Effective,
    pub delete_disables: Effective,
    pub no_update_provider_mismatch: Effective,
    pub create_as_disabled: Effective,
}

impl EffectiveSettings {
    pub fn get(&self, s: Setting) -> Effective {
        match s {
            Setting::DryRun => self.dry_run,
            Setting::NoUpdate => self.no_update,
            Setting::NoCreate => self.no_create,
            Setting::NoDelete => self.no_delete,
            Setting::DeleteDisables => self.delete_disables,
            Setting::NoUpdateProviderMismatch => self.no_update_provider_mismatch,
            Setting::CreateAsDisabled => self.create_as_disabled,
        }
    }

    fn set(&mut self, s: Setting, e: Effective) {
        let slot = match s {
            Setting::DryRun => &mut self.dry_run,
            Setting::NoUpdate => &mut self.no_update,
            Setting::NoCreate => &mut self.no_create,
            Setting::NoDelete => &mut self.no_delete,
            Setting::DeleteDisables => &mut self.delete_disables,
            Setting::NoUpdateProviderMismatch => &mut self.no_update_provider_mismatch,
            Setting::CreateAsDisabled => &mut self.create_as_disabled,
        };
        *slot = e;
    }

    /// The value of a setting, for policy decisions.
    pub fn on(&self, s: Setting) -> bool {
        self.get(s).value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRI: [Option<bool>; 3] = [None, Some(false), Some(true)];

    #[test]
    fn every_setting_merges_server_over_agent_over_default_in_all_nine_combinations() {
        for s in Setting::ALL {
            for server_v in TRI {
                for agent_v in TRI {
                    let mut server = Settings::default();
                    let mut agent = Settings::default();
                    server.set(s, server_v);
                    agent.set(s, agent_v);
                    let e = Settings::effective(&server, &agent).get(s);
                    let expected = match (server_v, agent_v) {
                        (Some(v), _) => Effective::new(v, Source::Server),
                        (None, Some(v)) => Effective::new(v, Source::Agent),
                        (None, None) => Effective::new(s.default_value(), Source::Default),
                    };
                    assert_eq!(e, expected, "{s}: server={server_v:?} agent={agent_v:?}");
                    // The other six settings are untouched by this one.
                    for other in Setting::ALL.into_iter().filter(|o| *o != s) {
                        let o = Settings::effective(&server, &agent).get(other);
                        assert_eq!(o, Effective::new(other.default_value(), Source::Default));
                    }
                }
            }
        }
    }

    #[test]
    fn defaults_are_those_of_the_design() {
        let e = Settings::effective(&Settings::default(), &Settings::default());
        let on: Vec<_> = Setting::ALL.into_iter().filter(|s| e.on(*s)).collect();
        assert_eq!(
            on,
            vec![Setting::DeleteDisables, Setting::NoUpdateProviderMismatch]
        );
    }

    #[test]
    fn names_round_trip_and_match_the_serialized_keys() {
        let mut all = Settings::default();
        for s in Setting::ALL {
            assert_eq!(Setting::from_name(s.name()), Some(s));
            all.set(s, Some(true));
        }
        let json = serde_json::to_value(all).unwrap();
        for s in Setting::ALL {
            assert_eq!(json[s.name()], serde_json::Value::Bool(true), "{s}");
        }
    }

    #[test]
    fn patch_sets_clears_and_keeps() {
        let mut s = Settings {
            no_delete: Some(true),
            dry_run: Some(true),
            ..Default::default()
        };
        let patch = serde_json::json!({"no-create": false, "dry-run": null});
        s.apply_patch(patch.as_object().unwrap()).unwrap();
        assert_eq!(s.no_create, Some(false));
        assert_eq!(s.dry_run, None);
        assert_eq!(s.no_delete, Some(true), "absent key keeps its value");
    }

    #[test]
    fn patch_with_a_misspelt_key_is_refused_and_changes_nothing() {
        let mut s = Settings::default();
        let patch = serde_json::json!({"no-create": true, "no-delet": true});
        let err = s.apply_patch(patch.as_object().unwrap()).unwrap_err();
        assert!(err.contains("no-delet"), "{err}");
        assert_eq!(s, Settings::default());
        let patch = serde_json::json!({"no-delete": "yes"});
        assert!(s.apply_patch(patch.as_object().unwrap()).is_err());
    }

    #[test]
    fn deserializing_refuses_unknown_keys() {
        let err = serde_json::from_str::<Settings>(r#"{"no-delet": true}"#).unwrap_err();
        assert!(err.to_string().contains("no-delet"));
    }
}
