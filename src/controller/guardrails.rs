//! A provider config's guardrails as seen from one RoleAssignment: whether its namespace,
//! role and scope are ones the config allows (`allowedNamespaces`, `allowedRoles`,
//! `allowedScopes`), and the config's revocation limit. A RoleAssignment outside them is
//! never sent to the provider.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::{Selector, SelectorExt};

use super::revocations::RevocationLimit;
use crate::api::Guardrails;
use crate::providers::Target;

/// What a config allows one RoleAssignment. The default allows everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Guard {
    /// The config, for messages: `ClusterProviderConfig/<name>` or `ProviderConfig/<ns>/<name>`.
    pub config: String,
    /// Why the RoleAssignment's namespace may not use the config, when it may not.
    pub namespace_refused: Option<String>,
    pub roles: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub revocations: Option<RevocationLimit>,
}

impl Guard {
    pub fn new(
        config: String,
        guardrails: &Guardrails,
        namespace_refused: Option<String>,
        revocations: Option<RevocationLimit>,
    ) -> Self {
        Self {
            config,
            namespace_refused,
            roles: guardrails.allowed_roles.clone(),
            scopes: guardrails.allowed_scopes.clone(),
            revocations,
        }
    }

    /// `Err` says why `target` is outside what the config allows.
    pub fn permits(&self, target: &Target) -> Result<(), String> {
        if let Some(why) = &self.namespace_refused {
            return Err(why.clone());
        }
        let grant = target.desired.grant();
        let check =
            |what: &str, field: &str, allowed: &Option<Vec<String>>, value: String| match allowed {
                Some(patterns) if !patterns.iter().any(|p| matches(p, &value)) => Err(format!(
                    "{} does not allow {what} {value:?} (spec.{field}: {})",
                    self.config,
                    if patterns.is_empty() {
                        "none".to_owned()
                    } else {
                        patterns.join(", ")
                    }
                )),
                _ => Ok(()),
            };
        check("role", "allowedRoles", &self.roles, grant.role_field())?;
        check("scope", "allowedScopes", &self.scopes, grant.scope())
    }
}

/// Why a ClusterProviderConfig with `selector` (its `allowedNamespaces`) may not serve
/// RoleAssignments in namespace `namespace` with `labels` (`None`: not seen yet).
pub fn namespace_refused(
    config: &str,
    selector: Option<&LabelSelector>,
    namespace: &str,
    labels: Option<&BTreeMap<String, String>>,
) -> Option<String> {
    let selector = selector?;
    let Some(labels) = labels else {
        return Some(format!(
            "namespace {namespace} is not known to rolesync yet, so {config}'s spec.allowedNamespaces cannot be checked"
        ));
    };
    match Selector::try_from(selector.clone()) {
        // Fail closed: a selector rolesync cannot read allows nothing.
        Err(e) => Some(format!(
            "{config} has an invalid spec.allowedNamespaces: {e}"
        )),
        Ok(s) if s.matches(labels) => None,
        Ok(_) => Some(format!(
            "{config} does not serve namespace {namespace}: its labels do not match spec.allowedNamespaces"
        )),
    }
}

/// Whether `value` matches `pattern`, where `*` stands for any characters (none included)
/// and everything else for itself.
pub fn matches(pattern: &str, value: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = value.strip_prefix(first) else {
        return false;
    };
    let middle: Vec<&str> = parts.collect();
    let Some((last, middle)) = middle.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_star_stands_for_any_characters_and_nothing_else_is_special() {
        for (pattern, value, want) in [
            ("Observer", "Observer", true),
            ("Observer", "ObserverX", false),
            ("Observer", "Observe", false),
            ("*", "", true),
            ("*", "anything/at=all", true),
            ("_project_*", "_project_viewer", true),
            ("_project_*", "_project_", true),
            ("_project_*", "_account_viewer", false),
            ("*_viewer", "_project_viewer", true),
            ("*_viewer", "_project_viewer2", false),
            ("org=default/*", "org=default/project=payments", true),
            ("org=default/*", "org=default", false),
            ("client=8/project=*", "client=8/project=123", true),
            ("client=8/project=*", "client=80/project=123", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXcYb", false),
            ("ab*ba", "aba", false),
            ("role.?", "role.x", false),
        ] {
            assert_eq!(matches(pattern, value), want, "{pattern:?} ~ {value:?}");
        }
    }

    /// `base` with the fields of `extra` added.
    fn merged(mut base: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        base
    }

    fn target(spec: serde_json::Value) -> Target {
        serde_json::from_value::<crate::providers::AssignmentBlocks>(spec)
            .unwrap()
            .target()
            .unwrap()
    }

    #[test]
    fn roles_and_scopes_are_checked_against_the_spec_s_own_fields() {
        let harness = target(json!({"harness": {"org": "default", "project": "payments",
            "role": "_project_admin", "resourceGroup": "_all_project_level_resources",
            "principal": {"type": "USER", "identifier": "alice"}}}));
        let guard = |roles: Option<Vec<&str>>, scopes: Option<Vec<&str>>| Guard {
            config: "ClusterProviderConfig/harness".into(),
            roles: roles.map(|r| r.into_iter().map(str::to_owned).collect()),
            scopes: scopes.map(|s| s.into_iter().map(str::to_owned).collect()),
            ..Guard::default()
        };
        assert_eq!(
            guard(None, None).permits(&harness),
            Ok(()),
            "unset allows all"
        );
        assert_eq!(
            guard(Some(vec!["_project_*"]), Some(vec!["org=default/*"])).permits(&harness),
            Ok(())
        );
        let refused = guard(Some(vec!["_project_viewer"]), None)
            .permits(&harness)
            .unwrap_err();
        assert!(
            refused.contains("ClusterProviderConfig/harness")
                && refused.contains("\"_project_admin\"")
                && refused.contains("spec.allowedRoles: _project_viewer"),
            "{refused}"
        );
        let refused = guard(None, Some(vec!["org=default"]))
            .permits(&harness)
            .unwrap_err();
        assert!(
            refused.contains("\"org=default/project=payments\""),
            "{refused}"
        );
        assert!(
            guard(Some(vec![]), None).permits(&harness).is_err(),
            "an empty list allows nothing"
        );

        // ZenML's role field is the whole UUID, not the shortened one shown in tables.
        let role = "10000000-0000-4000-8000-000000000002";
        let zenml = target(json!({"zenml": {"roleId": role,
            "userId": "20000000-0000-4000-8000-000000000002"}}));
        assert_eq!(
            guard(Some(vec![role]), Some(vec!["organization"])).permits(&zenml),
            Ok(())
        );
        // Hyperstack names a role by id or by name, and is matched as the spec names it.
        let by_id = target(json!({"hyperstack": {"userId": 201, "roleId": 3}}));
        let by_name = target(json!({"hyperstack": {"userId": 201, "roleName": "developer"}}));
        assert_eq!(guard(Some(vec!["3"]), None).permits(&by_id), Ok(()));
        assert!(guard(Some(vec!["3"]), None).permits(&by_name).is_err());
        let gcore = target(
            json!({"gcore": {"userId": 7, "role": "Observer", "clientId": 8, "projectId": 123}}),
        );
        assert_eq!(
            guard(Some(vec!["Observer"]), Some(vec!["client=8/project=*"])).permits(&gcore),
            Ok(())
        );
        assert!(guard(None, Some(vec!["client=8"])).permits(&gcore).is_err());
    }

    #[test]
    fn every_provider_names_its_scopes_as_paths() {
        let scope = |spec| target(spec).desired.grant().scope();
        let harness = |extra| {
            let base = json!({"role": "r", "resourceGroup": "g",
                "principal": {"type": "USER", "identifier": "u"}});
            json!({ "harness": merged(base, extra) })
        };
        assert_eq!(scope(harness(json!({}))), "account");
        assert_eq!(scope(harness(json!({"org": "default"}))), "org=default");
        assert_eq!(
            scope(harness(json!({"org": "default", "project": "payments"}))),
            "org=default/project=payments"
        );
        assert_eq!(
            scope(json!({"gcore": {"userId": 7, "role": "User"}})),
            "global"
        );
        assert_eq!(
            scope(json!({"gcore": {"userId": 7, "role": "User", "clientId": 8}})),
            "client=8"
        );
        let (ws, project) = (
            "40000000-0000-4000-8000-000000000001",
            "50000000-0000-4000-8000-000000000001",
        );
        let zenml = |extra| {
            let base = json!({"roleId": "10000000-0000-4000-8000-000000000002",
                "teamId": "30000000-0000-4000-8000-000000000001"});
            json!({ "zenml": merged(base, extra) })
        };
        assert_eq!(scope(zenml(json!({}))), "organization");
        assert_eq!(
            scope(zenml(json!({"workspaceId": ws}))),
            format!("workspace={ws}")
        );
        assert_eq!(
            scope(zenml(json!({"workspaceId": ws, "projectId": project}))),
            format!("workspace={ws}/project={project}")
        );
        assert_eq!(
            scope(json!({"hyperstack": {"userId": 201, "roleId": 3}})),
            "organization"
        );
    }

    #[test]
    fn a_namespace_is_served_when_its_labels_match_and_refused_otherwise() {
        let selector: LabelSelector = serde_json::from_value(json!({
            "matchLabels": {"team": "a"},
            "matchExpressions": [{"key": "env", "operator": "In", "values": ["dev", "prod"]}]
        }))
        .unwrap();
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let cfg = "ClusterProviderConfig/gcore";
        assert_eq!(
            namespace_refused(cfg, None, "x", None),
            None,
            "unset serves all"
        );
        assert_eq!(
            namespace_refused(
                cfg,
                Some(&selector),
                "a",
                Some(&labels(&[("team", "a"), ("env", "dev")]))
            ),
            None
        );
        let refused =
            namespace_refused(cfg, Some(&selector), "b", Some(&labels(&[("team", "b")]))).unwrap();
        assert!(refused.contains("namespace b"), "{refused}");
        assert!(
            namespace_refused(cfg, Some(&selector), "new", None).is_some(),
            "an unknown namespace is refused until it is seen"
        );
        let invalid: LabelSelector = serde_json::from_value(json!({
            "matchExpressions": [{"key": "env", "operator": "Near"}]
        }))
        .unwrap();
        assert!(
            namespace_refused(cfg, Some(&invalid), "a", Some(&labels(&[("env", "x")]))).is_some(),
            "an unreadable selector allows nothing"
        );
        assert_eq!(
            namespace_refused(
                cfg,
                Some(&LabelSelector::default()),
                "a",
                Some(&labels(&[]))
            ),
            None,
            "an empty selector serves every namespace, as in Kubernetes"
        );
    }
}
