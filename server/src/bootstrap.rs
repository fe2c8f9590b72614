//! First start on an empty database (architecture §3).

use crate::audit::{Action, Actor, Event, Origin, Target};
use crate::config::Config;
use crate::db::{Db, principals, tenants};
use crate::role::Role;
use crate::secrets;

pub const DEFAULT_TENANT: &str = "default";
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@localhost";

/// Creates tenant `default` and its system-admin when there is no tenant yet. The
/// password comes from the configuration or, when unset, is random and printed once.
pub async fn ensure_first_tenant(db: &Db, config: &Config) -> anyhow::Result<()> {
    if tenants::count(db).await? > 0 {
        return Ok(());
    }
    let email = config
        .bootstrap_admin_email
        .clone()
        .unwrap_or_else(|| DEFAULT_ADMIN_EMAIL.to_owned());
    let (password, generated) = match &config.bootstrap_admin_password {
        Some(p) => (p.clone(), false),
        None => (secrets::new_password(), true),
    };
    let hash = secrets::hash(password.clone()).await?;
    let tenant = tenants::insert(db, DEFAULT_TENANT).await?;
    let admin_id = principals::insert_admin(
        db,
        tenant.id,
        &email,
        &hash,
        Role::SystemAdmin.as_str(),
        false,
    )
    .await?;
    let audit = |action| Event::new(tenant.id, Actor::first_start(), Origin::default(), action);
    audit(Action::TenantCreated)
        .target(Target::tenant(tenant.id, &tenant.name))
        .record(db)
        .await;
    audit(Action::AdminCreated)
        .target(Target::admin(admin_id, &email))
        .details(serde_json::json!({ "role": Role::SystemAdmin }))
        .record(db)
        .await;
    if generated {
        // The one place a credential is printed, as architecture §3 asks: once, at first start.
        tracing::warn!(
            "created tenant `{DEFAULT_TENANT}` with system-admin {email}, password: {} (shown once; change it with `adc-server admin reset-password`)",
            password.expose()
        );
    } else {
        tracing::info!(
            email,
            "created tenant `{DEFAULT_TENANT}` with the configured system-admin"
        );
    }
    Ok(())
}
