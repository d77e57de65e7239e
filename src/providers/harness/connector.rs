//! Harness's place in rolesync's CRDs: `spec.harness` becomes an [`Assignment`], a
//! config's `harness` block and its API key a [`HarnessClient`].

use secrecy::SecretString;

use super::{
    Assignment, DEFAULT_ENDPOINT, HarnessClient, Identifier, Principal, PrincipalType, Scope,
    ScopeLevel,
};
use crate::api::{HarnessAssignmentSpec, HarnessConfig};
use crate::providers::http::{HttpSettings, RateLimit};
use crate::providers::{Connector, Grant, ProviderError, SpecError};

fn identifier(field: &'static str, value: &str) -> Result<Identifier, SpecError> {
    Identifier::parse(value).map_err(|e| SpecError::Invalid {
        field,
        message: e.to_string(),
    })
}

impl Connector for HarnessClient {
    type Spec = HarnessAssignmentSpec;
    type Config = HarnessConfig;

    fn assignment(h: &HarnessAssignmentSpec) -> Result<Assignment, SpecError> {
        let org = h
            .org
            .as_deref()
            .map(|o| identifier("spec.harness.org", o))
            .transpose()?;
        let project = h
            .project
            .as_deref()
            .map(|p| identifier("spec.harness.project", p))
            .transpose()?;
        let scope = match (org, project) {
            (None, None) => Scope::Account,
            (Some(org), None) => Scope::Org(org),
            (Some(org), Some(project)) => Scope::Project { org, project },
            (None, Some(_)) => {
                return Err(SpecError::RequiredWith {
                    field: "spec.harness.org",
                    when: "spec.harness.project",
                });
            }
        };
        let principal = Principal {
            kind: h.principal.type_,
            identifier: h.principal.identifier.clone(),
            scope_level: h.principal.scope_level,
        };
        let role = identifier("spec.harness.role", &h.role)?;
        let resource_group = identifier("spec.harness.resourceGroup", &h.resource_group)?;
        let chosen = h
            .identifier
            .as_deref()
            .map(|i| identifier("spec.harness.identifier", i))
            .transpose()?;
        Ok(Assignment::new(
            scope,
            role,
            resource_group,
            principal,
            h.disabled,
            chosen,
        ))
    }

    fn connect(
        config: &HarnessConfig,
        api_key: SecretString,
        settings: HttpSettings,
    ) -> Result<Self, ProviderError> {
        let endpoint = config.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT);
        HarnessClient::new(endpoint, &config.account_id, api_key, settings)
    }

    fn default_rate_limit() -> RateLimit {
        super::default_rate_limit()
    }
}

/// Harness keeps one assignment per grant: scope, resource group, role and principal all
/// belong to the key; `disabled` does not (it toggles by replacement of the same grant).
impl Grant for Assignment {
    fn natural_key(&self) -> String {
        let level = self
            .principal
            .scope_level
            .map(|l| format!("@{}", ScopeLevel::as_str(l)))
            .unwrap_or_default();
        format!(
            "{},resourceGroup={},role={},principal={}:{}{level}",
            self.scope,
            self.resource_group,
            self.role,
            self.principal.kind.as_str().to_ascii_lowercase(),
            self.principal.identifier
        )
    }

    fn role(&self) -> String {
        self.role.to_string()
    }

    /// `user:`, `group:` or `sa:` (as kubectl abbreviates ServiceAccount) and the identifier:
    /// short enough for a table.
    fn principal(&self) -> String {
        let kind = match self.principal.kind {
            PrincipalType::User => "user",
            PrincipalType::UserGroup => "group",
            PrincipalType::ServiceAccount => "sa",
        };
        format!("{kind}:{}", self.principal.identifier)
    }

    fn role_field(&self) -> String {
        self.role.to_string()
    }

    fn scope(&self) -> String {
        match &self.scope {
            Scope::Account => "account".to_owned(),
            Scope::Org(org) => format!("org={org}"),
            Scope::Project { org, project } => format!("org={org}/project={project}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{AssignmentBlocks, ProviderKind};

    fn spec(h: serde_json::Value) -> AssignmentBlocks {
        serde_json::from_value(serde_json::json!({ "harness": h }))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn natural_key_covers_scope_grant_and_principal() {
        let base = serde_json::json!({"org": "default", "project": "payments", "role": "_project_viewer",
            "resourceGroup": "_all_project_level_resources", "principal": {"type": "USER_GROUP", "identifier": "devs"}});
        let a = spec(base.clone()).target().unwrap();
        assert_eq!(
            a.natural_key,
            "harness:org=default,project=payments,resourceGroup=_all_project_level_resources,role=_project_viewer,principal=user_group:devs"
        );
        assert_eq!(a.principal, "group:devs");
        assert_eq!(a.role, "_project_viewer");
        assert_eq!(a.kind(), ProviderKind::Harness);
        let mut other_role = base.clone();
        other_role["role"] = "_project_admin".into();
        assert_ne!(
            spec(other_role).target().unwrap().natural_key,
            a.natural_key
        );
        let mut disabled = base.clone();
        disabled["disabled"] = true.into();
        assert_eq!(spec(disabled).target().unwrap().natural_key, a.natural_key);
        let mut account = base;
        account
            .as_object_mut()
            .map(|o| (o.remove("org"), o.remove("project")));
        let account = spec(account).target().unwrap();
        assert!(
            account.natural_key.starts_with("harness:account,"),
            "{}",
            account.natural_key
        );
    }

    #[test]
    fn rejects_what_the_schema_should_have() {
        let no_org = spec(
            serde_json::json!({"project": "p", "role": "r", "resourceGroup": "g",
            "principal": {"type": "USER", "identifier": "u"}}),
        );
        assert_eq!(
            no_org.target().err(),
            Some(SpecError::RequiredWith {
                field: "spec.harness.org",
                when: "spec.harness.project"
            })
        );
        let bad_role = spec(serde_json::json!({"role": "bad-role", "resourceGroup": "g",
            "principal": {"type": "USER", "identifier": "u"}}));
        assert!(matches!(
            bad_role.target().err(),
            Some(SpecError::Invalid {
                field: "spec.harness.role",
                ..
            })
        ));
    }
}
