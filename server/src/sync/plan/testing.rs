//! Records and stored users for the planner's tests.

use crate::db::users::Stored;
use adc_shared::{EffectiveSettings, Settings, UserRecord};
use std::collections::BTreeMap;
use uuid::Uuid;

pub const SYNC: Uuid = Uuid::from_u128(1);

pub fn settings(f: impl FnOnce(&mut Settings)) -> EffectiveSettings {
    let mut s = Settings::default();
    f(&mut s);
    Settings::effective(&s, &Settings::default())
}

pub fn record(id: &str, name: &str, enabled: bool) -> UserRecord {
    UserRecord {
        external_id: id.into(),
        username: name.into(),
        email: None,
        display_name: None,
        given_name: None,
        surname: None,
        enabled,
        source_dn: format!("uid={name},dc=x"),
        extra: BTreeMap::new(),
    }
}

pub fn stored(r: &UserRecord, enabled: bool, removed: bool) -> Stored {
    Stored {
        id: Uuid::new_v4(),
        synchronization_id: Some(SYNC),
        external_id: Some(r.external_id.clone()),
        username: r.username.clone(),
        username_key: r.username.to_lowercase(),
        enabled,
        source_enabled: r.enabled,
        removed_from_source: removed,
        content_hash: Some(r.content_hash()),
        source_dn: Some(r.source_dn.clone()),
        email: r.email.clone(),
        display_name: r.display_name.clone(),
        given_name: r.given_name.clone(),
        surname: r.surname.clone(),
        extra: Some(sqlx::types::Json(r.extra.clone())),
    }
}
