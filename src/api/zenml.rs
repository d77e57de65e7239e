//! The ZenML Pro parts of the CRDs: `spec.zenml` of a RoleAssignment and the `zenml`
//! block of a (Cluster)ProviderConfig.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// A ZenML Pro role assignment: role `roleId` for one user or team in the organization,
/// or only in one workspace, or only in one project of that workspace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(
    validation = Rule::new("has(self.userId) != has(self.teamId)")
        .message("exactly one of userId and teamId must be set"),
    validation = Rule::new("!has(self.projectId) || has(self.workspaceId)")
        .message("workspaceId is required when projectId is set")
        .field_path(".workspaceId")
        .reason(Reason::FieldValueRequired),
    validation = Rule::new(
        "has(self.userId) == has(oldSelf.userId) && (!has(self.userId) || self.userId == oldSelf.userId) && has(self.teamId) == has(oldSelf.teamId) && (!has(self.teamId) || self.teamId == oldSelf.teamId) && has(self.workspaceId) == has(oldSelf.workspaceId) && (!has(self.workspaceId) || self.workspaceId == oldSelf.workspaceId) && has(self.projectId) == has(oldSelf.projectId) && (!has(self.projectId) || self.projectId == oldSelf.projectId)"
    )
    .message("userId, teamId, workspaceId and projectId are immutable: create a new RoleAssignment instead")
)]
#[serde(rename_all = "camelCase")]
pub struct ZenmlAssignmentSpec {
    /// The role (UUID). Changing it replaces the assignment: the new role is granted
    /// before the old one is revoked.
    #[schemars(extend("format" = "uuid"))]
    pub role_id: String,
    /// The user (UUID) who gets the role; set this or `teamId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "uuid"))]
    pub user_id: Option<String>,
    /// The team (UUID) that gets the role; set this or `userId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "uuid"))]
    pub team_id: Option<String>,
    /// Limit the assignment to one workspace (UUID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "uuid"))]
    pub workspace_id: Option<String>,
    /// Limit the assignment to one project (UUID) of the workspace; requires `workspaceId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "uuid"))]
    pub project_id: Option<String>,
}

/// A ZenML Pro organization; the Secret holds one of its service-account API keys.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ZenmlConfig {
    /// Defaults to `https://cloudapi.zenml.io`. Must be https unless it is a loopback address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub endpoint: Option<String>,
}
