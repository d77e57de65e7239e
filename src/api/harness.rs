//! The Harness parts of the CRDs: `spec.harness` of a RoleAssignment and the `harness`
//! block of a (Cluster)ProviderConfig.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use crate::providers::harness::{PrincipalType, ScopeLevel};

/// A Harness role assignment: `role` on `resourceGroup` for `principal`, at account scope,
/// in organization `org`, or in project `project` of `org`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(
    validation = Rule::new("!has(self.project) || has(self.org)")
        .message("org is required when project is set")
        .field_path(".org")
        .reason(Reason::FieldValueRequired),
    validation = Rule::new(
        "has(self.org) == has(oldSelf.org) && (!has(self.org) || self.org == oldSelf.org) && has(self.project) == has(oldSelf.project) && (!has(self.project) || self.project == oldSelf.project)"
    )
    .message("org and project are immutable: create a new RoleAssignment instead"),
    validation = Rule::new(
        "has(self.identifier) == has(oldSelf.identifier) && (!has(self.identifier) || self.identifier == oldSelf.identifier)"
    )
    .message("identifier is immutable")
    .field_path(".identifier"),
    // Harness refuses a principal defined below the assignment's scope, whichever way it
    // stores levels otherwise.
    validation = Rule::new(
        "!has(self.principal.scopeLevel) || self.principal.scopeLevel == 'account' || (has(self.org) && (has(self.project) || self.principal.scopeLevel == 'organization'))"
    )
    .message("principal.scopeLevel cannot be below the assignment's scope: account only at account scope, account or organization at organization scope")
    .field_path(".principal.scopeLevel")
    .reason(Reason::FieldValueInvalid)
)]
#[serde(rename_all = "camelCase")]
pub struct HarnessAssignmentSpec {
    /// The organization; unset means account scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-zA-Z_][0-9a-zA-Z_]{0,127}$"))]
    pub org: Option<String>,
    /// The project inside `org`; unset means organization (or account) scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-zA-Z_][0-9a-zA-Z_]{0,127}$"))]
    pub project: Option<String>,
    /// The role's identifier, e.g. `_project_viewer`. Changing it replaces the assignment.
    #[schemars(regex(pattern = r"^[a-zA-Z_][0-9a-zA-Z_]{0,127}$"))]
    pub role: String,
    /// The resource group's identifier, e.g. `_all_project_level_resources`.
    #[schemars(regex(pattern = r"^[a-zA-Z_][0-9a-zA-Z_]{0,127}$"))]
    pub resource_group: String,
    #[x_kube(validation = Rule::new("self == oldSelf").message("principal is immutable: create a new RoleAssignment instead"))]
    pub principal: HarnessPrincipalSpec,
    /// Keep the assignment but make it grant nothing.
    #[serde(default)]
    pub disabled: bool,
    /// The remote assignment's identifier; defaults to `rolesync_` and a hash of what is assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-zA-Z_][0-9a-zA-Z_]{0,127}$"))]
    pub identifier: Option<String>,
}

/// Who gets the role.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct HarnessPrincipalSpec {
    #[serde(rename = "type")]
    pub type_: PrincipalType,
    /// The user's, user group's or service account's identifier.
    #[schemars(length(min = 1, max = 256))]
    pub identifier: String,
    /// Where the principal is defined: at or above the assignment's scope. Harness stores
    /// none for a USER, and for a USER_GROUP left unset the assignment's own scope; for a
    /// SERVICE_ACCOUNT left unset, where the service account lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_level: Option<ScopeLevel>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct HarnessConfig {
    /// Defaults to `https://app.harness.io`. Must be https unless it is a loopback address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub endpoint: Option<String>,
    /// The Harness account the API key belongs to (sent as `Harness-Account`). Defaults to
    /// the account a `pat.<accountId>.…` or `sat.<accountId>.…` key names; must match it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub account_id: Option<String>,
}
