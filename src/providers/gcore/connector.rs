//! Gcore's place in rolesync's CRDs: `spec.gcore` becomes an [`Assignment`], a config's
//! `gcore` block and its API key a [`GcoreClient`].

use secrecy::SecretString;

use super::{Assignment, ClientId, DEFAULT_ENDPOINT, GcoreClient, ProjectId, UserId};
use crate::api::{GcoreAssignmentSpec, GcoreConfig};
use crate::providers::http::{HttpSettings, RateLimit};
use crate::providers::{Connector, Freshness, Grant, Listed, ProviderError, SpecError, positive};

impl Connector for GcoreClient {
    type Spec = GcoreAssignmentSpec;
    type Config = GcoreConfig;

    fn assignment(g: &GcoreAssignmentSpec) -> Result<Assignment, SpecError> {
        let user = UserId(positive("spec.gcore.userId", g.user_id)?);
        let client = g
            .client_id
            .map(|v| positive("spec.gcore.clientId", v).map(ClientId))
            .transpose()?;
        let project = g
            .project_id
            .map(|v| positive("spec.gcore.projectId", v).map(ProjectId))
            .transpose()?;
        if project.is_some() && client.is_none() {
            return Err(SpecError::RequiredWith {
                field: "spec.gcore.clientId",
                when: "spec.gcore.projectId",
            });
        }
        Ok(Assignment {
            user,
            role: g.role,
            client,
            project,
        })
    }

    fn connect(
        config: &GcoreConfig,
        api_key: SecretString,
        settings: HttpSettings,
    ) -> Result<Self, ProviderError> {
        let endpoint = config.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT);
        GcoreClient::new(endpoint, api_key, settings)
    }

    fn default_rate_limit() -> RateLimit {
        super::default_rate_limit()
    }

    async fn inventory(
        &self,
        freshness: Freshness,
    ) -> Result<Vec<Listed<GcoreAssignmentSpec>>, ProviderError> {
        GcoreClient::inventory(self, freshness).await
    }
}

/// A user's grant on a client or one of its projects; the role changes in place, so it is
/// not part of the key. Where Gcore lets a user hold several roles there, rolesync still
/// manages one of them per user and project: a second RoleAssignment reports Conflict,
/// which is right where Gcore keeps one role (the two would undo each other).
impl Grant for Assignment {
    fn natural_key(&self) -> String {
        let scope = match (self.client, self.project) {
            (Some(c), Some(p)) => format!("client={c},project={p}"),
            (Some(c), None) => format!("client={c}"),
            (None, _) => "global".to_owned(),
        };
        format!("user={},{scope}", self.user)
    }

    fn role(&self) -> String {
        self.role.as_str().to_owned()
    }

    fn principal(&self) -> String {
        format!("user:{}", self.user)
    }

    fn role_field(&self) -> String {
        self.role()
    }

    fn scope(&self) -> String {
        match (self.client, self.project) {
            (Some(c), Some(p)) => format!("client={c}/project={p}"),
            (Some(c), None) => format!("client={c}"),
            (None, _) => "global".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::gcore::Role;
    use crate::providers::{AssignmentBlocks, ProviderKind};

    fn spec(user: i64, client: Option<i64>, project: Option<i64>) -> AssignmentBlocks {
        AssignmentBlocks {
            gcore: Some(Box::new(GcoreAssignmentSpec {
                user_id: user,
                role: Role::Observer,
                client_id: client,
                project_id: project,
            })),
            ..AssignmentBlocks::default()
        }
    }

    #[test]
    fn natural_key_ignores_role_but_not_scope() {
        let a = spec(777, Some(8), Some(123)).target().unwrap();
        let mut other_role = spec(777, Some(8), Some(123));
        if let Some(g) = other_role.gcore.as_mut() {
            g.role = Role::User;
        }
        let b = other_role.target().unwrap();
        let c = spec(777, Some(8), None).target().unwrap();
        assert_eq!(a.natural_key, "gcore:user=777,client=8,project=123");
        assert_eq!(a.natural_key, b.natural_key);
        assert_ne!(a.natural_key, c.natural_key);
        assert_eq!(a.principal, "user:777");
        assert_eq!(a.role, "Observer");
        assert_eq!(a.kind(), ProviderKind::Gcore);
    }

    #[test]
    fn rejects_what_the_schema_should_have() {
        assert_eq!(
            spec(0, Some(8), None).target().err(),
            Some(SpecError::NotPositive {
                field: "spec.gcore.userId",
                value: 0
            })
        );
        assert_eq!(
            spec(1, None, Some(3)).target().err(),
            Some(SpecError::RequiredWith {
                field: "spec.gcore.clientId",
                when: "spec.gcore.projectId"
            })
        );
        assert_eq!(
            AssignmentBlocks::default().target().err(),
            Some(SpecError::NoProvider)
        );
    }
}
