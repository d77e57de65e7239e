//! The Gcore parts of the CRDs: `spec.gcore` of a RoleAssignment and the `gcore` block
//! of a (Cluster)ProviderConfig.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use crate::providers::gcore;

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

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcoreConfig {
    /// Defaults to `https://api.gcore.com`. Must be https unless it is a loopback address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub endpoint: Option<String>,
}
