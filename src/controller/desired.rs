//! Turns a RoleAssignment's spec into the typed assignment a provider works with, plus
//! the identity used to find other RoleAssignments that claim the same remote assignment.

use crate::api::{
    HarnessAssignmentSpec, HyperstackAssignmentSpec, RoleAssignmentSpec, ZenmlAssignmentSpec,
};
use crate::providers::{Desired, ProviderKind, gcore, harness, hyperstack, zenml};

/// What one RoleAssignment wants, parsed once at the edge.
pub struct Target {
    pub desired: Desired,
    /// The natural key of the remote assignment within one provider account.
    pub natural_key: String,
    pub role: String,
    pub principal: String,
}

impl Target {
    pub fn kind(&self) -> ProviderKind {
        self.desired.kind()
    }
}

/// A spec the API server accepted but rolesync cannot act on. Retrying cannot help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    #[error("no provider block is set (expected gcore, harness, zenml or hyperstack)")]
    NoProvider,
    #[error("{field} must be a positive integer, got {value}")]
    NotPositive { field: &'static str, value: i64 },
    #[error("clientId is required when projectId is set")]
    ProjectWithoutClient,
    #[error("{field}: {source}")]
    NotAnIdentifier {
        field: &'static str,
        source: harness::InvalidIdentifier,
    },
    #[error("spec.harness.org is required when project is set")]
    ProjectWithoutOrg,
    #[error("exactly one of spec.hyperstack.roleId and spec.hyperstack.roleName must be set")]
    HyperstackRole,
    #[error("{field} must be a UUID, got {value:?}")]
    NotUuid { field: &'static str, value: String },
    #[error("exactly one of spec.zenml.userId and spec.zenml.teamId must be set")]
    PrincipalNotExactlyOne,
    #[error("workspaceId is required when projectId is set")]
    ProjectWithoutWorkspace,
}

fn positive(field: &'static str, value: i64) -> Result<u64, SpecError> {
    u64::try_from(value)
        .ok()
        .filter(|v| *v > 0)
        .ok_or(SpecError::NotPositive { field, value })
}

pub fn target(spec: &RoleAssignmentSpec) -> Result<Target, SpecError> {
    if let Some(h) = &spec.harness {
        return harness_target(h);
    }
    if let Some(h) = &spec.hyperstack {
        return hyperstack_target(h);
    }
    if let Some(z) = &spec.zenml {
        return zenml_target(z);
    }
    let Some(g) = &spec.gcore else {
        return Err(SpecError::NoProvider);
    };
    let user = gcore::UserId(positive("spec.gcore.userId", g.user_id)?);
    let client = g
        .client_id
        .map(|v| positive("spec.gcore.clientId", v).map(gcore::ClientId))
        .transpose()?;
    let project = g
        .project_id
        .map(|v| positive("spec.gcore.projectId", v).map(gcore::ProjectId))
        .transpose()?;
    if project.is_some() && client.is_none() {
        return Err(SpecError::ProjectWithoutClient);
    }
    let scope = match (client, project) {
        (Some(c), Some(p)) => format!("client={},project={}", c.0, p.0),
        (Some(c), None) => format!("client={}", c.0),
        (None, _) => "global".to_owned(),
    };
    Ok(Target {
        natural_key: format!("gcore:user={},{scope}", user.0),
        role: serde_json::to_value(g.role)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        principal: format!("user:{}", user.0),
        desired: Desired::Gcore(gcore::Assignment {
            user,
            role: g.role,
            client,
            project,
        }),
    })
}

fn identifier(field: &'static str, value: &str) -> Result<harness::Identifier, SpecError> {
    harness::Identifier::parse(value).map_err(|source| SpecError::NotAnIdentifier { field, source })
}

fn harness_target(h: &HarnessAssignmentSpec) -> Result<Target, SpecError> {
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
        (None, None) => harness::Scope::Account,
        (Some(org), None) => harness::Scope::Org(org),
        (Some(org), Some(project)) => harness::Scope::Project { org, project },
        (None, Some(_)) => return Err(SpecError::ProjectWithoutOrg),
    };
    let principal = harness::Principal {
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
    let level = principal
        .scope_level
        .map(|l| format!("@{}", l.as_str()))
        .unwrap_or_default();
    let who = format!(
        "{}:{}",
        principal.kind.as_str().to_ascii_lowercase(),
        principal.identifier
    );
    Ok(Target {
        natural_key: format!(
            "harness:{scope},resourceGroup={resource_group},role={role},principal={who}{level}"
        ),
        role: role.to_string(),
        principal: who,
        desired: Desired::Harness(harness::Assignment::new(
            scope,
            role,
            resource_group,
            principal,
            h.disabled,
            chosen,
        )),
    })
}

/// A Hyperstack member holds one RBAC role, so the user alone is the natural key: two
/// RoleAssignments for one user conflict whatever roles they name.
fn hyperstack_target(h: &HyperstackAssignmentSpec) -> Result<Target, SpecError> {
    let user = hyperstack::UserId(positive("spec.hyperstack.userId", h.user_id)?);
    let (role, display) = match (h.role_id, &h.role_name) {
        (Some(id), None) => {
            let id = positive("spec.hyperstack.roleId", id)?;
            (
                hyperstack::RoleRef::Id(hyperstack::RoleId(id)),
                format!("id:{id}"),
            )
        }
        (None, Some(name)) if !name.is_empty() => {
            (hyperstack::RoleRef::Name(name.clone()), name.clone())
        }
        _ => return Err(SpecError::HyperstackRole),
    };
    Ok(Target {
        natural_key: format!("hyperstack:user={user}"),
        role: display,
        principal: format!("user:{user}"),
        desired: Desired::Hyperstack(hyperstack::Assignment { user, role }),
    })
}

fn uuid<T: std::str::FromStr>(field: &'static str, value: &str) -> Result<T, SpecError> {
    value.parse().map_err(|_| SpecError::NotUuid {
        field,
        value: value.to_owned(),
    })
}

/// ZenML assignments have no id: the natural key is the whole assignment, role included,
/// so two RoleAssignments granting different roles to one principal do not conflict.
fn zenml_target(z: &ZenmlAssignmentSpec) -> Result<Target, SpecError> {
    let principal = match (&z.user_id, &z.team_id) {
        (Some(u), None) => zenml::Principal::User(uuid("spec.zenml.userId", u)?),
        (None, Some(t)) => zenml::Principal::Team(uuid("spec.zenml.teamId", t)?),
        _ => return Err(SpecError::PrincipalNotExactlyOne),
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
    let assignment = zenml::Assignment {
        role: uuid("spec.zenml.roleId", &z.role_id)?,
        principal,
        scope: zenml::Scope::of(workspace, project)
            .map_err(|_| SpecError::ProjectWithoutWorkspace)?,
    };
    Ok(Target {
        natural_key: format!("zenml:{assignment}"),
        role: assignment.role.to_string(),
        principal: match principal {
            zenml::Principal::User(u) => format!("user:{u}"),
            zenml::Principal::Team(t) => format!("team:{t}"),
        },
        desired: Desired::Zenml(assignment),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{GcoreAssignmentSpec, RoleAssignmentSpec};

    fn spec(user: i64, client: Option<i64>, project: Option<i64>) -> RoleAssignmentSpec {
        serde_json::from_value(serde_json::json!({
            "providerConfigRef": {"name": "p"},
        }))
        .map(|mut s: RoleAssignmentSpec| {
            s.gcore = Some(Box::new(GcoreAssignmentSpec {
                user_id: user,
                role: gcore::Role::Observer,
                client_id: client,
                project_id: project,
            }));
            s
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn natural_key_ignores_role_but_not_scope() {
        let a = target(&spec(777, Some(8), Some(123))).unwrap();
        let mut other_role = spec(777, Some(8), Some(123));
        if let Some(g) = other_role.gcore.as_mut() {
            g.role = gcore::Role::User;
        }
        let b = target(&other_role).unwrap();
        let c = target(&spec(777, Some(8), None)).unwrap();
        assert_eq!(a.natural_key, b.natural_key);
        assert_ne!(a.natural_key, c.natural_key);
        assert_eq!(a.principal, "user:777");
        assert_eq!(a.role, "Observer");
    }

    #[test]
    fn rejects_what_the_schema_should_have() {
        assert_eq!(
            target(&spec(0, Some(8), None)).err(),
            Some(SpecError::NotPositive {
                field: "spec.gcore.userId",
                value: 0
            })
        );
        assert_eq!(
            target(&spec(1, None, Some(3))).err(),
            Some(SpecError::ProjectWithoutClient)
        );
        let mut none = spec(1, None, None);
        none.gcore = None;
        assert_eq!(target(&none).err(), Some(SpecError::NoProvider));
    }

    fn harness_spec(h: serde_json::Value) -> RoleAssignmentSpec {
        serde_json::from_value(
            serde_json::json!({"providerConfigRef": {"name": "p"}, "harness": h}),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn harness_natural_key_covers_scope_grant_and_principal() {
        let base = serde_json::json!({"org": "default", "project": "payments", "role": "_project_viewer",
            "resourceGroup": "_all_project_level_resources", "principal": {"type": "USER_GROUP", "identifier": "devs"}});
        let a = target(&harness_spec(base.clone())).unwrap();
        assert_eq!(
            a.natural_key,
            "harness:org=default,project=payments,resourceGroup=_all_project_level_resources,role=_project_viewer,principal=user_group:devs"
        );
        assert_eq!(a.principal, "user_group:devs");
        assert_eq!(a.role, "_project_viewer");
        assert_eq!(a.kind(), ProviderKind::Harness);
        let mut other_role = base.clone();
        other_role["role"] = "_project_admin".into();
        assert_ne!(
            target(&harness_spec(other_role)).unwrap().natural_key,
            a.natural_key
        );
        let mut disabled = base.clone();
        disabled["disabled"] = true.into();
        assert_eq!(
            target(&harness_spec(disabled)).unwrap().natural_key,
            a.natural_key
        );
        let mut account = base;
        account
            .as_object_mut()
            .map(|o| (o.remove("org"), o.remove("project")));
        let account = target(&harness_spec(account)).unwrap();
        assert!(
            account.natural_key.starts_with("harness:account,"),
            "{}",
            account.natural_key
        );
    }

    #[test]
    fn harness_rejects_what_the_schema_should_have() {
        let no_org = harness_spec(
            serde_json::json!({"project": "p", "role": "r", "resourceGroup": "g",
            "principal": {"type": "USER", "identifier": "u"}}),
        );
        assert_eq!(target(&no_org).err(), Some(SpecError::ProjectWithoutOrg));
        let bad_role = harness_spec(serde_json::json!({"role": "bad-role", "resourceGroup": "g",
            "principal": {"type": "USER", "identifier": "u"}}));
        assert!(matches!(
            target(&bad_role).err(),
            Some(SpecError::NotAnIdentifier {
                field: "spec.harness.role",
                ..
            })
        ));
    }
    #[test]
    fn hyperstack_natural_key_is_the_user() {
        let spec = |role_id: Option<i64>, role_name: Option<&str>| -> RoleAssignmentSpec {
            serde_json::from_value(serde_json::json!({
                "providerConfigRef": {"name": "p"},
                "hyperstack": {"userId": 201, "roleId": role_id, "roleName": role_name},
            }))
            .unwrap_or_else(|e| panic!("{e}"))
        };
        let by_id = target(&spec(Some(3), None)).unwrap();
        let by_name = target(&spec(None, Some("developer"))).unwrap();
        assert_eq!(by_id.natural_key, by_name.natural_key);
        assert_eq!(by_id.kind(), ProviderKind::Hyperstack);
        assert_eq!(
            (by_id.role.as_str(), by_name.role.as_str()),
            ("id:3", "developer")
        );
        assert_eq!(by_name.principal, "user:201");
        assert_eq!(
            target(&spec(Some(3), Some("developer"))).err(),
            Some(SpecError::HyperstackRole)
        );
        assert_eq!(
            target(&spec(None, Some(""))).err(),
            Some(SpecError::HyperstackRole)
        );
        assert_eq!(
            target(&spec(Some(0), None)).err(),
            Some(SpecError::NotPositive {
                field: "spec.hyperstack.roleId",
                value: 0
            })
        );
    }

    fn zenml_spec(z: serde_json::Value) -> RoleAssignmentSpec {
        serde_json::from_value(serde_json::json!({"providerConfigRef": {"name": "p"}, "zenml": z}))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    const ROLE: &str = "0b3e7a4e-9c1a-4f7e-8a55-0d1c2b3a4f01";
    const USER: &str = "5f0c6f7a-1b2c-4d3e-9f40-a1b2c3d4e5f6";
    const WS: &str = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

    #[test]
    fn zenml_natural_key_is_the_whole_assignment() {
        let t = target(&zenml_spec(
            serde_json::json!({"roleId": ROLE, "userId": USER, "workspaceId": WS}),
        ))
        .unwrap();
        assert_eq!(
            t.natural_key,
            format!("zenml:role={ROLE}/user={USER}/workspace={WS}")
        );
        assert_eq!(t.principal, format!("user:{USER}"));
        assert_eq!(t.role, ROLE);
        assert_eq!(t.kind(), ProviderKind::Zenml);
        let team = target(&zenml_spec(
            serde_json::json!({"roleId": ROLE, "teamId": USER, "workspaceId": WS}),
        ))
        .unwrap();
        let org = target(&zenml_spec(
            serde_json::json!({"roleId": ROLE, "userId": USER}),
        ))
        .unwrap();
        let other_role = target(&zenml_spec(
            serde_json::json!({"roleId": WS, "userId": USER, "workspaceId": WS}),
        ))
        .unwrap();
        for other in [&team, &org, &other_role] {
            assert_ne!(t.natural_key, other.natural_key);
        }
        assert_eq!(team.principal, format!("team:{USER}"));
    }

    #[test]
    fn zenml_rejects_what_the_schema_should_have() {
        let err = |z| target(&zenml_spec(z)).err();
        assert_eq!(
            err(serde_json::json!({"roleId": ROLE, "userId": USER, "teamId": USER})),
            Some(SpecError::PrincipalNotExactlyOne)
        );
        assert_eq!(
            err(serde_json::json!({"roleId": ROLE})),
            Some(SpecError::PrincipalNotExactlyOne)
        );
        assert_eq!(
            err(serde_json::json!({"roleId": ROLE, "userId": USER, "projectId": WS})),
            Some(SpecError::ProjectWithoutWorkspace)
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
