//! `GET /api/v1/openapi.json`: the operations, written beside the routes
//! (`server/openapi-paths.json`: paths, parameters, status codes, security), and every
//! schema generated from the Rust types the handlers answer with (`utoipa`), so a field
//! added to a view is documented by the same change. A test checks that every
//! reference resolves and every path is routed; the contract test holds the answers to
//! the schemas.

use super::admins::WithPassword as AdminWithPassword;
use super::audit::{Page as AuditPage, Settings as AuditSettings};
use super::downloads::Offered;
use super::groups::{GroupDetail, GroupView, GroupsPage, MembersPage, UserGroups};
use super::notifications::{
    Settings as NotificationSettings, TestQueued, WithSecret as EndpointWithSecret,
};
use super::passthrough::Authenticated;
use super::runs::{ChangesPage, RunView};
use super::sign_in::{Me, SignedIn};
use super::syncs::{SyncView, WithSecret};
use super::tokens::Created;
use super::users::{Page, UserView};
use crate::audit::Action as AuditAction;
use crate::db::admins::AdminAccount;
use crate::db::agents::AgentConnection;
use crate::db::audit::AuditEntry;
use crate::db::groups::{Group, GroupRef, Member};
use crate::db::notifications::{Delivery, Endpoint};
use crate::db::principals::ApiToken;
use crate::db::runs::Change;
use crate::db::syncs::DeletionGuard;
use crate::db::tenants::Tenant;
use crate::error::ErrorBody;
use crate::role::Role;
use crate::vocabulary::NotificationEvent;
use adc_shared::Settings;
use serde_json::Value;
use std::sync::LazyLock;
use utoipa::OpenApi;

const PATHS: &str = include_str!("../../openapi-paths.json");

#[derive(OpenApi)]
#[openapi(components(schemas(
    ErrorBody,
    Role,
    Settings,
    DeletionGuard,
    SyncView,
    WithSecret,
    AgentConnection,
    ApiToken,
    Created,
    AdminAccount,
    AdminWithPassword,
    AuditAction,
    AuditEntry,
    AuditPage,
    AuditSettings,
    Endpoint,
    EndpointWithSecret,
    Delivery,
    NotificationEvent,
    NotificationSettings,
    TestQueued,
    RunView,
    Change,
    ChangesPage,
    UserView,
    Page,
    Group,
    GroupView,
    GroupsPage,
    GroupDetail,
    GroupRef,
    Member,
    MembersPage,
    UserGroups,
    Offered,
    Tenant,
    SignedIn,
    Me,
    Authenticated,
)))]
struct Schemas;

/// The whole document.
pub fn document() -> &'static Value {
    static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
        let mut doc: Value =
            serde_json::from_str(PATHS).expect("openapi-paths.json is JSON (a test reads it)");
        let schemas = Schemas::openapi()
            .components
            .map(|c| c.schemas)
            .unwrap_or_default();
        doc["components"]["schemas"] =
            serde_json::to_value(schemas).expect("generated schemas serialize");
        doc
    });
    &DOCUMENT
}

pub async fn serve() -> axum::Json<&'static Value> {
    axum::Json(document())
}
