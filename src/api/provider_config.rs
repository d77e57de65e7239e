//! `ProviderConfig` (namespaced) and `ClusterProviderConfig` (cluster-scoped): where a provider's
//! API is and which Secret holds its credentials.

// Each `printcolumn(...)` repeats `type_ = ...`, which clippy mistakes for a duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::Condition;
use crate::providers::{ConfigBlocks, EXACTLY_ONE_PROVIDER, EXACTLY_ONE_PROVIDER_MESSAGE};

/// A provider account usable by RoleAssignments in the same namespace.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "rolesync.dev",
    version = "v1alpha1",
    kind = "ProviderConfig",
    namespaced,
    status = "ProviderConfigStatus",
    derive = "PartialEq",
    category = "rolesync",
    doc = "A provider account (endpoint and credentials) usable by RoleAssignments in its namespace.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(
    validation = Rule::new(EXACTLY_ONE_PROVIDER).message(EXACTLY_ONE_PROVIDER_MESSAGE)
)]
#[serde(rename_all = "camelCase")]
pub struct ProviderConfigSpec {
    /// The provider blocks (one per provider in `connectors!`): exactly one is set.
    #[serde(flatten)]
    pub provider: ConfigBlocks,
    pub credentials: Credentials,
    /// Requests per minute rolesync may send with these credentials; defaults to the provider's published limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSpec>,
    #[serde(flatten)]
    pub guardrails: Guardrails,
}

/// A provider account usable by RoleAssignments in every namespace.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "rolesync.dev",
    version = "v1alpha1",
    kind = "ClusterProviderConfig",
    status = "ProviderConfigStatus",
    derive = "PartialEq",
    category = "rolesync",
    doc = "A provider account (endpoint and credentials) usable by RoleAssignments in every namespace.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(
    validation = Rule::new(EXACTLY_ONE_PROVIDER).message(EXACTLY_ONE_PROVIDER_MESSAGE)
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterProviderConfigSpec {
    /// The provider blocks (one per provider in `connectors!`): exactly one is set.
    #[serde(flatten)]
    pub provider: ConfigBlocks,
    pub credentials: ClusterCredentials,
    /// Requests per minute rolesync may send with these credentials; defaults to the provider's published limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSpec>,
    /// Namespaces whose RoleAssignments may use this config, by their labels (e.g.
    /// `matchLabels: {rolesync.dev/tenant: "true"}`). Unset: every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_namespaces: Option<LabelSelector>,
    #[serde(flatten)]
    pub guardrails: Guardrails,
}

/// What RoleAssignments using a config may grant, and how fast rolesync may revoke with it.
/// A RoleAssignment outside them is never sent to the provider; unset fields allow all.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Guardrails {
    /// Roles RoleAssignments may grant, as the provider's role field names them (Gcore
    /// `role`, Harness `role`, ZenML `roleId`, Hyperstack `roleId` or `roleName`); `*`
    /// matches any characters, e.g. `_project_*`. Unset: any role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub allowed_roles: Option<Vec<String>>,
    /// Where RoleAssignments may grant, as a path per provider: Gcore `client=8` or
    /// `client=8/project=123`, Harness `account`, `org=default` or
    /// `org=default/project=payments`, ZenML `organization`, `workspace=<uuid>` or
    /// `workspace=<uuid>/project=<uuid>`, Hyperstack `organization`; `*` matches any
    /// characters, e.g. `org=default/*`. Unset: any scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub allowed_scopes: Option<Vec<String>>,
    /// At most this many remote revocations in any sliding hour; more wait until the hour
    /// allows or the config is annotated `rolesync.dev/allow-revocations-until: <RFC 3339>`.
    /// Expiries are never held back. Unset: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_limit: Option<RevocationLimitSpec>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevocationLimitSpec {
    #[schemars(range(min = 1))]
    pub max_per_hour: i32,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    pub secret_ref: SecretKeyRef,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterCredentials {
    pub secret_ref: ClusterSecretKeyRef,
}

/// A key of a Secret in the ProviderConfig's own namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// A key of a Secret; `namespace` defaults to rolesync's own and must be one the operator allows.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSecretKeyRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitSpec {
    #[schemars(range(min = 1))]
    pub requests_per_minute: i32,
    /// Requests that may go out at once before the rate applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub burst: Option<i32>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderConfigStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// When rolesync last revoked with this config (RFC 3339, oldest first): the sliding
    /// hour of `spec.revocationLimit`, at most `maxPerHour` entries. Recorded before each
    /// revocation, so the limit holds across restarts and leader changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_revocations: Vec<String>,
    /// What the credentials can see at the provider as of rolesync's last inventory (at
    /// most once per poll interval): `rolesync export` prints the unmanaged ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<InventoryStatus>,
}

/// Remote assignments a config's credentials can see, and whether a RoleAssignment
/// accounts for them.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct InventoryStatus {
    /// Every assignment listed.
    pub remote: i64,
    /// Those a RoleAssignment of this config claims (same principal and scope, or its id).
    pub managed: i64,
    /// Those no RoleAssignment accounts for.
    pub unmanaged: i64,
}
