//! Harness's place in rolesync's CRDs: `spec.harness` becomes an [`Assignment`], a
//! config's `harness` block and its API key a [`HarnessClient`].

use secrecy::{ExposeSecret, SecretString};

use super::{
    Assignment, DEFAULT_ENDPOINT, HarnessClient, Identifier, Principal, PrincipalType, Scope,
    ScopeLevel,
};
use crate::api::{HarnessAssignmentSpec, HarnessConfig};
use crate::providers::http::{HttpSettings, RateLimit};
use crate::providers::{Connector, Freshness, Grant, Listed, ProviderError, SpecError};

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
        // Harness refuses a principal below the assignment's scope under every reading of
        // its source (`RoleAssignmentApiUtils.validatePrincipalScopeLevelConditions`).
        if let Some(level) = h.principal.scope_level
            && level > scope.level()
        {
            return Err(SpecError::Invalid {
                field: "spec.harness.principal.scopeLevel",
                message: format!(
                    "a principal at {} level cannot be assigned a role at {} scope",
                    level.as_str(),
                    scope.level().as_str()
                ),
            });
        }
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
        let account = account(config.account_id.as_deref(), &api_key)?;
        HarnessClient::new(endpoint, &account, api_key, settings)
    }

    fn default_rate_limit() -> RateLimit {
        super::default_rate_limit()
    }

    async fn inventory(
        &self,
        freshness: Freshness,
    ) -> Result<Vec<Listed<HarnessAssignmentSpec>>, ProviderError> {
        HarnessClient::inventory(self, freshness).await
    }
}

/// The account a Harness API key belongs to, from its second field: Harness issues keys as
/// `pat.<accountId>.<tokenId>.<secret>` (service accounts' as `sat.…`), and its official SDK
/// takes the account from there too. `None` for a key of another shape.
fn account_of_key(key: &SecretString) -> Option<String> {
    let mut fields = key.expose_secret().trim().splitn(4, '.');
    let kind = fields.next()?;
    let account = fields.next()?;
    let rest = [fields.next()?, fields.next()?];
    ((kind == "pat" || kind == "sat") && !account.is_empty() && rest.iter().all(|f| !f.is_empty()))
        .then(|| account.to_owned())
}

/// The account to name in `Harness-Account`: the config's `accountId`, else the key's. An
/// account id is no secret; the key's other fields never reach a message.
fn account(configured: Option<&str>, key: &SecretString) -> Result<String, ProviderError> {
    match (configured, account_of_key(key)) {
        (Some(configured), Some(of_key)) if configured.trim() != of_key => {
            Err(ProviderError::Config(format!(
                "accountId {configured:?} is not the account the API key belongs to ({of_key:?}); fix accountId or leave it out"
            )))
        }
        (Some(configured), _) => Ok(configured.to_owned()),
        (None, Some(of_key)) => Ok(of_key),
        (None, None) => Err(ProviderError::Config(
            "accountId is not set and the API key does not name its account (Harness keys look like pat.<accountId>.<tokenId>.<secret>); set accountId".to_owned(),
        )),
    }
}

/// Harness keeps one assignment per grant: scope, resource group, role and principal with
/// the scope level Harness stores for it ([`Principal::stored_level`]; none where Harness
/// decides, as for a service account without one) all belong to the key; `disabled` does
/// not (it toggles by replacement of the same grant).
impl Grant for Assignment {
    fn natural_key(&self) -> String {
        let level = self
            .principal
            .stored_level(&self.scope)
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
            "harness:org=default,project=payments,resourceGroup=_all_project_level_resources,role=_project_viewer,principal=user_group:devs@project"
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
    fn natural_keys_use_the_level_harness_stores() {
        let key = |principal: serde_json::Value| {
            spec(
                serde_json::json!({"org": "default", "role": "r", "resourceGroup": "g",
                "principal": principal}),
            )
            .target()
            .unwrap()
            .natural_key
        };
        let group = key(serde_json::json!({"type": "USER_GROUP", "identifier": "devs"}));
        assert_eq!(
            group,
            key(
                serde_json::json!({"type": "USER_GROUP", "identifier": "devs", "scopeLevel": "organization"})
            )
        );
        assert_ne!(
            group,
            key(
                serde_json::json!({"type": "USER_GROUP", "identifier": "devs", "scopeLevel": "account"})
            )
        );
        // A USER's level is no part of what Harness stores.
        assert_eq!(
            key(serde_json::json!({"type": "USER", "identifier": "u"})),
            key(serde_json::json!({"type": "USER", "identifier": "u", "scopeLevel": "account"}))
        );
        // An unset service account level is Harness's to decide: no level in the key.
        assert!(
            key(serde_json::json!({"type": "SERVICE_ACCOUNT", "identifier": "ci"}))
                .ends_with("principal=service_account:ci")
        );
    }

    #[test]
    fn a_principal_below_the_assignments_scope_is_refused() {
        let at = |org: Option<&str>, project: Option<&str>, level: &str| {
            let mut h = serde_json::json!({"role": "r", "resourceGroup": "g",
                "principal": {"type": "USER_GROUP", "identifier": "devs", "scopeLevel": level}});
            if let Some(o) = org {
                h["org"] = o.into();
            }
            if let Some(p) = project {
                h["project"] = p.into();
            }
            spec(h).target().err()
        };
        for (org, project, level) in [
            (None, None, "organization"),
            (None, None, "project"),
            (Some("o"), None, "project"),
        ] {
            assert!(
                matches!(
                    at(org, project, level),
                    Some(SpecError::Invalid {
                        field: "spec.harness.principal.scopeLevel",
                        ..
                    })
                ),
                "{org:?} {project:?} {level}"
            );
        }
        for (org, project, level) in [
            (None, None, "account"),
            (Some("o"), None, "organization"),
            (Some("o"), Some("p"), "project"),
            (Some("o"), Some("p"), "account"),
        ] {
            assert_eq!(at(org, project, level), None, "{org:?} {project:?} {level}");
        }
    }

    fn key(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    #[test]
    fn the_account_comes_from_the_config_or_the_key() {
        let pat = key("pat.acct_1.tok3n.s3cr3tS3cr3tS3cr3t00");
        assert_eq!(account(None, &pat), Ok("acct_1".to_owned()));
        assert_eq!(account(Some("acct_1"), &pat), Ok("acct_1".to_owned()));
        let sat = key("sat.acct_2.tok3n.s3cr3t");
        assert_eq!(account(None, &sat), Ok("acct_2".to_owned()));
        // Keys of another shape need the account named.
        let legacy = key("an-older-key-s3cr3t");
        assert_eq!(account(Some("acct_3"), &legacy), Ok("acct_3".to_owned()));
        for k in [&legacy, &key("pat.acct_1"), &key("pat..tok.s3cr3t")] {
            let Err(ProviderError::Config(message)) = account(None, k) else {
                panic!("accepted a key that names no account");
            };
            assert!(message.contains("set accountId"), "{message}");
            assert!(!message.contains("s3cr3t"), "{message}");
        }
    }

    #[test]
    fn an_account_the_key_does_not_belong_to_is_refused_without_the_secret() {
        let pat = key("pat.acct_1.tok3n.s3cr3tS3cr3tS3cr3t00");
        let err = account(Some("acct_other"), &pat).unwrap_err();
        assert_eq!(err.reason(), "InvalidProviderConfig");
        let message = err.to_string();
        assert!(
            message.contains("\"acct_other\"") && message.contains("\"acct_1\""),
            "{message}"
        );
        assert!(
            !message.contains("s3cr3t") && !message.contains("tok3n"),
            "{message}"
        );
        let config = HarnessConfig {
            endpoint: Some("https://app.harness.io".to_owned()),
            account_id: Some("acct_other".to_owned()),
        };
        let connected = HarnessClient::connect(&config, pat, HttpSettings::default());
        assert!(matches!(connected, Err(ProviderError::Config(_))));
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
