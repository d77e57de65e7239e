//! The Hyperstack parts of the CRDs: `spec.hyperstack` of a RoleAssignment and the
//! `hyperstack` block of a (Cluster)ProviderConfig.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// An RBAC role of a Hyperstack organization member, named by `roleId` or by `roleName`.
/// rolesync manages one RBAC role per member (whether assigning replaces a member's role
/// or adds one is undocumented), so one RoleAssignment per user.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(
    validation = Rule::new("[has(self.roleId), has(self.roleName)].exists_one(x, x)")
        .message("exactly one of roleId and roleName must be set"),
    validation = Rule::new("self.userId == oldSelf.userId")
        .message("userId is immutable: create a new RoleAssignment instead")
)]
#[serde(rename_all = "camelCase")]
pub struct HyperstackAssignmentSpec {
    /// The organization member who gets the role.
    #[schemars(range(min = 1))]
    pub user_id: i64,
    /// The RBAC role's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub role_id: Option<i64>,
    /// The RBAC role's name, resolved to its id (reported in `status.atProvider.roleId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub role_name: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct HyperstackConfig {
    /// Defaults to `https://infrahub-api.nexgencloud.com/v1` (the API's base, including `/v1`).
    /// Must be https unless it is a loopback address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub endpoint: Option<String>,
}
