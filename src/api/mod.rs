//! The custom resources rolesync serves: RoleAssignment, ProviderConfig, ClusterProviderConfig
//! (group `rolesync.dev`, version `v1alpha1`), with their schemas and CEL rules.

mod condition;
mod gcore;
mod harness;
mod hyperstack;
mod provider_config;
mod role_assignment;
mod zenml;

pub use condition::{Condition, ConditionStatus};
pub use gcore::{GcoreAssignmentSpec, GcoreConfig};
pub use harness::{HarnessAssignmentSpec, HarnessConfig, HarnessPrincipalSpec};
pub use hyperstack::{HyperstackAssignmentSpec, HyperstackConfig};
pub use provider_config::{
    ClusterProviderConfig, ClusterProviderConfigSpec, ClusterSecretKeyRef, Guardrails,
    InventoryStatus, ProviderConfig, ProviderConfigSpec, ProviderConfigStatus, RateLimitSpec,
    RevocationLimitSpec, SecretKeyRef,
};
pub use role_assignment::{
    AtProvider, ConfigKind, DeletionPolicy, ManagementPolicy, ProviderConfigRef, RoleAssignment,
    RoleAssignmentSpec, RoleAssignmentStatus,
};
pub use zenml::{ZenmlAssignmentSpec, ZenmlConfig};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub const GROUP: &str = "rolesync.dev";

pub const FINALIZER: &str = "rolesync.dev/finalizer";
/// Per-object resync interval, a duration such as `30s` or `10m`.
pub const POLL_INTERVAL_ANNOTATION: &str = "rolesync.dev/poll-interval";
/// `"true"` stops all remote calls for the object until removed.
pub const PAUSED_ANNOTATION: &str = "rolesync.dev/paused";
/// Set by rolesync before it creates or changes a remote assignment: the spec (JSON) it is
/// applying. Should a crash lose the record of what that made and the spec then change,
/// the assignment can still be found and removed.
pub const APPLYING_ANNOTATION: &str = "rolesync.dev/applying";
/// On a provider config: revocations until this time (RFC 3339) are confirmed by an admin
/// and not held back by the config's `spec.revocationLimit`.
pub const ALLOW_REVOCATIONS_ANNOTATION: &str = "rolesync.dev/allow-revocations-until";

/// Every CRD rolesync serves, in a stable order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        RoleAssignment::crd(),
        ProviderConfig::crd(),
        ClusterProviderConfig::crd(),
    ]
}

/// All CRDs as one multi-document YAML stream, as `rolesync crd` prints it and `crds/` holds it.
pub fn crds_yaml() -> Result<String, serde_saphyr::ser::Error> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&crd)?);
    }
    Ok(out)
}
