//! Turns a RoleAssignment's spec into the typed assignment a provider works with, plus
//! the identity used to find other RoleAssignments that claim the same remote assignment.

use crate::api::RoleAssignmentSpec;
use crate::api::ZenmlAssignmentSpec;
use crate::providers::{Desired, ProviderKind, gcore, zenml};

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
    #[error("no provider block is set (expected gcore or zenml)")]
    NoProvider,
    #[error("{field} must be a positive integer, got {value}")]
    NotPositive { field: &'static str, value: i64 },
    #[error("clientId is required when projectId is set")]
    ProjectWithoutClient,
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
            s.gcore = Some(GcoreAssignmentSpec {
                user_id: user,
                role: gcore::Role::Observer,
                client_id: client,
                project_id: project,
            });
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
