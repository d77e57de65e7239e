//! ZenML Pro's place in rolesync's CRDs: `spec.zenml` becomes an [`Assignment`], a
//! config's `zenml` block and its API key a [`ZenmlClient`].

use secrecy::SecretString;

use super::{Assignment, DEFAULT_ENDPOINT, Principal, Scope, ZenmlClient};
use crate::api::{ZenmlAssignmentSpec, ZenmlConfig};
use crate::providers::http::{HttpSettings, RateLimit};
use crate::providers::{Connector, Freshness, Grant, Listed, ProviderError, SpecError, uuid};

impl Connector for ZenmlClient {
    type Spec = ZenmlAssignmentSpec;
    type Config = ZenmlConfig;

    fn assignment(z: &ZenmlAssignmentSpec) -> Result<Assignment, SpecError> {
        let principal = match (&z.user_id, &z.team_id) {
            (Some(u), None) => Principal::User(uuid("spec.zenml.userId", u)?),
            (None, Some(t)) => Principal::Team(uuid("spec.zenml.teamId", t)?),
            _ => {
                return Err(SpecError::ExactlyOne(
                    "spec.zenml.userId and spec.zenml.teamId",
                ));
            }
        };
        let workspace = z
            .workspace_id
            .as_deref()
            .map(|w| uuid("spec.zenml.workspaceId", w))
            .transpose()?;
        let project = z
            .project_id
            .as_deref()
            .map(|p| uuid("spec.zenml.projectId", p))
            .transpose()?;
        Ok(Assignment {
            role: uuid("spec.zenml.roleId", &z.role_id)?,
            principal,
            scope: Scope::of(workspace, project).map_err(|_| SpecError::RequiredWith {
                field: "spec.zenml.workspaceId",
                when: "spec.zenml.projectId",
            })?,
        })
    }

    fn connect(
        config: &ZenmlConfig,
        api_key: SecretString,
        settings: HttpSettings,
    ) -> Result<Self, ProviderError> {
        let endpoint = config.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT);
        ZenmlClient::new(endpoint, api_key, settings)
    }

    fn default_rate_limit() -> RateLimit {
        super::default_rate_limit()
    }

    async fn inventory(
        &self,
        freshness: Freshness,
    ) -> Result<Vec<Listed<ZenmlAssignmentSpec>>, ProviderError> {
        ZenmlClient::inventory(self, freshness).await
    }
}

/// ZenML assignments have no id: the key is the whole assignment, role included, so two
/// RoleAssignments granting different roles to one principal do not conflict.
impl Grant for Assignment {
    fn natural_key(&self) -> String {
        self.to_string()
    }

    fn role(&self) -> String {
        short(&self.role)
    }

    fn principal(&self) -> String {
        match self.principal {
            Principal::User(u) => format!("user:{}", short(&u)),
            Principal::Team(t) => format!("team:{}", short(&t)),
        }
    }

    fn role_field(&self) -> String {
        self.role.to_string()
    }

    fn scope(&self) -> String {
        match self.scope {
            Scope::Organization => "organization".to_owned(),
            Scope::Workspace(w) => format!("workspace={w}"),
            Scope::Project(w, p) => format!("workspace={w}/project={p}"),
        }
    }
}

/// A UUID's first eight characters, for display: as unique among one organization's users,
/// teams and roles as a short commit hash among commits, and a table stays readable.
fn short(id: &impl std::fmt::Display) -> String {
    id.to_string().chars().take(8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{AssignmentBlocks, ProviderKind};

    fn spec(z: serde_json::Value) -> AssignmentBlocks {
        serde_json::from_value(serde_json::json!({ "zenml": z })).unwrap_or_else(|e| panic!("{e}"))
    }

    const ROLE: &str = "0b3e7a4e-9c1a-4f7e-8a55-0d1c2b3a4f01";
    const USER: &str = "5f0c6f7a-1b2c-4d3e-9f40-a1b2c3d4e5f6";
    const WS: &str = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

    #[test]
    fn natural_key_is_the_whole_assignment() {
        let t = spec(serde_json::json!({"roleId": ROLE, "userId": USER, "workspaceId": WS}))
            .target()
            .unwrap();
        assert_eq!(
            t.natural_key,
            format!("zenml:role={ROLE}/user={USER}/workspace={WS}")
        );
        assert_eq!(t.principal, "user:5f0c6f7a", "shortened for display");
        assert_eq!(t.role, "0b3e7a4e");
        assert_eq!(t.kind(), ProviderKind::Zenml);
        let team = spec(serde_json::json!({"roleId": ROLE, "teamId": USER, "workspaceId": WS}))
            .target()
            .unwrap();
        let org = spec(serde_json::json!({"roleId": ROLE, "userId": USER}))
            .target()
            .unwrap();
        let other_role = spec(serde_json::json!({"roleId": WS, "userId": USER, "workspaceId": WS}))
            .target()
            .unwrap();
        for other in [&team, &org, &other_role] {
            assert_ne!(t.natural_key, other.natural_key);
        }
        assert_eq!(team.principal, "team:5f0c6f7a");
    }

    #[test]
    fn rejects_what_the_schema_should_have() {
        let err = |z| spec(z).target().err();
        let one_principal = Some(SpecError::ExactlyOne(
            "spec.zenml.userId and spec.zenml.teamId",
        ));
        assert_eq!(
            err(serde_json::json!({"roleId": ROLE, "userId": USER, "teamId": USER})),
            one_principal
        );
        assert_eq!(err(serde_json::json!({"roleId": ROLE})), one_principal);
        assert_eq!(
            err(serde_json::json!({"roleId": ROLE, "userId": USER, "projectId": WS})),
            Some(SpecError::RequiredWith {
                field: "spec.zenml.workspaceId",
                when: "spec.zenml.projectId"
            })
        );
        assert_eq!(
            err(serde_json::json!({"roleId": "admin", "userId": USER})),
            Some(SpecError::NotUuid {
                field: "spec.zenml.roleId",
                value: "admin".into()
            })
        );
    }
}
