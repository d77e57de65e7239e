//! `RoleAssignment`: one role granted to one principal in one provider scope.

// Each `printcolumn(...)` repeats `type_ = ...`, which clippy mistakes for a duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    Condition, EXACTLY_ONE_PROVIDER, EXACTLY_ONE_PROVIDER_MESSAGE, HyperstackAssignmentSpec,
    SAME_PROVIDER, ZenmlAssignmentSpec,
};
use crate::providers::gcore;

/// A role assignment in an external provider, kept in step by rolesync.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "rolesync.dev",
    version = "v1alpha1",
    kind = "RoleAssignment",
    namespaced,
    status = "RoleAssignmentStatus",
    derive = "PartialEq",
    shortname = "ra",
    category = "rolesync",
    doc = "A role assignment in Gcore, Harness, ZenML Pro or Hyperstack, kept in step by rolesync.",
    printcolumn(name = "Provider", type_ = "string", json_path = ".status.provider"),
    printcolumn(name = "Role", type_ = "string", json_path = ".status.role"),
    printcolumn(name = "Principal", type_ = "string", json_path = ".status.principal"),
    printcolumn(
        name = "External-ID",
        type_ = "string",
        json_path = ".status.externalID"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Synced",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Synced\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        priority = 1,
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(
    validation = Rule::new(EXACTLY_ONE_PROVIDER).message(EXACTLY_ONE_PROVIDER_MESSAGE),
    validation = Rule::new(SAME_PROVIDER).message("the provider of a RoleAssignment cannot change")
)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentSpec {
    /// The ProviderConfig (same namespace) or ClusterProviderConfig holding the provider's endpoint and credentials.
    #[x_kube(validation = Rule::new("self == oldSelf").message("providerConfigRef is immutable"))]
    pub provider_config_ref: ProviderConfigRef,

    /// What happens to the remote assignment when this resource is deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Which remote operations rolesync may perform. `["*"]` (default) allows all;
    /// `["Observe"]` only reports what exists.
    #[serde(default = "ManagementPolicy::all")]
    #[schemars(length(min = 1))]
    pub management_policies: Vec<ManagementPolicy>,

    /// Adopt exactly this remote assignment instead of finding or creating one.
    #[serde(
        default,
        rename = "externalID",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(length(min = 1, max = 256))]
    pub external_id: Option<String>,

    /// A Gcore Cloud role assignment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcore: Option<GcoreAssignmentSpec>,

    /// A Harness role assignment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harness: Option<super::HarnessAssignmentSpec>,
    /// A Hyperstack organization member's RBAC role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hyperstack: Option<HyperstackAssignmentSpec>,
    /// A ZenML Pro role assignment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zenml: Option<ZenmlAssignmentSpec>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderConfigRef {
    #[serde(default)]
    pub kind: ConfigKind,
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum ConfigKind {
    #[default]
    ProviderConfig,
    ClusterProviderConfig,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the remote assignment with the resource.
    #[default]
    Delete,
    /// Leave the remote assignment in place.
    Orphan,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum ManagementPolicy {
    #[serde(rename = "*")]
    All,
    Observe,
    Create,
    Update,
    Delete,
}

impl ManagementPolicy {
    fn all() -> Vec<Self> {
        vec![Self::All]
    }
}

/// A Gcore Cloud role assignment: `role` for user `userId` on a client, or on one project of it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(
    validation = Rule::new("!has(self.projectId) || has(self.clientId)")
        .message("clientId is required when projectId is set")
        .field_path(".clientId")
        .reason(Reason::FieldValueRequired),
    validation = Rule::new(
        "self.userId == oldSelf.userId && has(self.clientId) == has(oldSelf.clientId) && (!has(self.clientId) || self.clientId == oldSelf.clientId) && has(self.projectId) == has(oldSelf.projectId) && (!has(self.projectId) || self.projectId == oldSelf.projectId)"
    )
    .message("userId, clientId and projectId are immutable: create a new RoleAssignment instead")
)]
#[serde(rename_all = "camelCase")]
pub struct GcoreAssignmentSpec {
    /// The Gcore user who gets the role.
    #[schemars(range(min = 1))]
    pub user_id: i64,
    pub role: gcore::Role,
    /// The Gcore client (account); required with `projectId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub client_id: Option<i64>,
    /// Limit the assignment to one project of the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub project_id: Option<i64>,
}

/// What rolesync last saw and did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentStatus {
    /// The remote assignment's id at the provider.
    #[serde(
        default,
        rename = "externalID",
        skip_serializing_if = "Option::is_none"
    )]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The assignment as the provider last reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
    pub at_provider: Option<serde_json::Value>,
    /// `gcore`, `harness`, `zenml` or `hyperstack` (for display).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The role, as the spec names it (for display).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Who holds the role, e.g. `user:777` (for display).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}
