//! Turns a RoleAssignment's spec into the typed assignment a provider works with, plus
//! the identity used to find other RoleAssignments that claim the same remote assignment.

use crate::api::HyperstackAssignmentSpec;
use crate::api::RoleAssignmentSpec;
use crate::providers::{Desired, ProviderKind, gcore, hyperstack};

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
    #[error("no provider block is set (expected gcore or hyperstack)")]
    NoProvider,
    #[error("{field} must be a positive integer, got {value}")]
    NotPositive { field: &'static str, value: i64 },
    #[error("clientId is required when projectId is set")]
    ProjectWithoutClient,
    #[error("exactly one of spec.hyperstack.roleId and spec.hyperstack.roleName must be set")]
    HyperstackRole,
}

fn positive(field: &'static str, value: i64) -> Result<u64, SpecError> {
    u64::try_from(value)
        .ok()
        .filter(|v| *v > 0)
        .ok_or(SpecError::NotPositive { field, value })
}

pub fn target(spec: &RoleAssignmentSpec) -> Result<Target, SpecError> {
    if let Some(h) = &spec.hyperstack {
        return hyperstack_target(h);
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
}
