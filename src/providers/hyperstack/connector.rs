//! Hyperstack's place in rolesync's CRDs: `spec.hyperstack` becomes an [`Assignment`], a
//! config's `hyperstack` block and its API key a [`HyperstackClient`].

use secrecy::SecretString;

use super::{Assignment, DEFAULT_ENDPOINT, HyperstackClient, RoleId, RoleRef, UserId};
use crate::api::{HyperstackAssignmentSpec, HyperstackConfig};
use crate::providers::http::{HttpSettings, RateLimit};
use crate::providers::{Connector, Freshness, Grant, Listed, ProviderError, SpecError, positive};

impl Connector for HyperstackClient {
    type Spec = HyperstackAssignmentSpec;
    type Config = HyperstackConfig;

    fn assignment(h: &HyperstackAssignmentSpec) -> Result<Assignment, SpecError> {
        let user = UserId(positive("spec.hyperstack.userId", h.user_id)?);
        let role = match (h.role_id, &h.role_name) {
            (Some(id), None) => RoleRef::Id(RoleId(positive("spec.hyperstack.roleId", id)?)),
            (None, Some(name)) if !name.is_empty() => RoleRef::Name(name.clone()),
            _ => {
                return Err(SpecError::ExactlyOne(
                    "spec.hyperstack.roleId and spec.hyperstack.roleName",
                ));
            }
        };
        Ok(Assignment { user, role })
    }

    fn connect(
        config: &HyperstackConfig,
        api_key: SecretString,
        settings: HttpSettings,
    ) -> Result<Self, ProviderError> {
        let endpoint = config.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT);
        HyperstackClient::new(endpoint, api_key, settings)
    }

    fn default_rate_limit() -> RateLimit {
        super::default_rate_limit()
    }

    async fn inventory(
        &self,
        freshness: Freshness,
    ) -> Result<Vec<Listed<HyperstackAssignmentSpec>>, ProviderError> {
        HyperstackClient::inventory(self, freshness).await
    }
}

/// rolesync manages one RBAC role per member, so the user alone is the key: two
/// RoleAssignments for one user conflict whatever roles they name (where assigning
/// replaces, they would undo each other's role at every resync).
impl Grant for Assignment {
    fn natural_key(&self) -> String {
        format!("user={}", self.user)
    }

    fn role(&self) -> String {
        match &self.role {
            RoleRef::Id(id) => format!("id:{id}"),
            RoleRef::Name(name) => name.clone(),
        }
    }

    fn principal(&self) -> String {
        format!("user:{}", self.user)
    }

    fn role_field(&self) -> String {
        match &self.role {
            RoleRef::Id(id) => id.to_string(),
            RoleRef::Name(name) => name.clone(),
        }
    }

    /// A member's RBAC role holds across the whole organization.
    fn scope(&self) -> String {
        "organization".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{AssignmentBlocks, ProviderKind};

    fn spec(role_id: Option<i64>, role_name: Option<&str>) -> AssignmentBlocks {
        serde_json::from_value(serde_json::json!({
            "hyperstack": {"userId": 201, "roleId": role_id, "roleName": role_name},
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn natural_key_is_the_user() {
        let by_id = spec(Some(3), None).target().unwrap();
        let by_name = spec(None, Some("developer")).target().unwrap();
        assert_eq!(by_id.natural_key, "hyperstack:user=201");
        assert_eq!(by_id.natural_key, by_name.natural_key);
        assert_eq!(by_id.kind(), ProviderKind::Hyperstack);
        assert_eq!(
            (by_id.role.as_str(), by_name.role.as_str()),
            ("id:3", "developer")
        );
        assert_eq!(by_name.principal, "user:201");
    }

    #[test]
    fn rejects_what_the_schema_should_have() {
        let exactly_one = Some(SpecError::ExactlyOne(
            "spec.hyperstack.roleId and spec.hyperstack.roleName",
        ));
        assert_eq!(spec(Some(3), Some("developer")).target().err(), exactly_one);
        assert_eq!(spec(None, Some("")).target().err(), exactly_one);
        assert_eq!(
            spec(Some(0), None).target().err(),
            Some(SpecError::NotPositive {
                field: "spec.hyperstack.roleId",
                value: 0
            })
        );
    }
}
