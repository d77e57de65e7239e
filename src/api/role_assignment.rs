//! `RoleAssignment`: one role granted to one principal in one provider scope.

// Each `printcolumn(...)` repeats `type_ = ...`, which clippy mistakes for a duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Condition;
use crate::providers::{
    AssignmentBlocks, EXACTLY_ONE_PROVIDER, EXACTLY_ONE_PROVIDER_MESSAGE, SAME_PROVIDER,
};

/// A role assignment in an external provider, kept in step by rolesync.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "rolesync.dev",
    version = "v1alpha1",
    kind = "RoleAssignment",
    namespaced,
    status = "RoleAssignmentStatus",
    derive = "PartialEq",
    shortname = "ra",
    category = "rolesync",
    doc = "A role assignment in Gcore, Harness, ZenML Pro or Hyperstack, kept in step by rolesync.",
    printcolumn(name = "Provider", type_ = "string", json_path = ".status.provider"),
    printcolumn(name = "Role", type_ = "string", json_path = ".status.role"),
    printcolumn(name = "Principal", type_ = "string", json_path = ".status.principal"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.reason"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Synced",
        type_ = "string",
        priority = 1,
        json_path = ".status.conditions[?(@.type==\"Synced\")].status"
    ),
    printcolumn(
        name = "External-ID",
        type_ = "string",
        priority = 1,
        json_path = ".status.externalID"
    ),
    // In `-o wide`: the default columns already fill a 120-column terminal. A string, not a
    // `date`: the API server renders a date in the future as `<invalid>`.
    printcolumn(
        name = "Expires",
        type_ = "string",
        priority = 1,
        json_path = ".spec.expiresAt"
    ),
    // What differs from the spec while rolesync may not repair it (managementPolicies) or
    // has not yet: `role Observer -> Admin`, `assignment deleted`.
    printcolumn(
        name = "Drift",
        type_ = "string",
        priority = 1,
        json_path = ".status.conditions[?(@.type==\"Drifted\")].message"
    )
)]
#[x_kube(
    validation = Rule::new(EXACTLY_ONE_PROVIDER).message(EXACTLY_ONE_PROVIDER_MESSAGE),
    validation = Rule::new(SAME_PROVIDER).message("the provider of a RoleAssignment cannot change"),
    // Both are `format: date-time`, which CEL types as timestamps (the API server and the
    // in-memory one alike), so they compare as instants whatever offset each is written in.
    validation = Rule::new("!has(self.notBefore) || !has(self.expiresAt) || self.expiresAt > self.notBefore")
        .message("expiresAt must be after notBefore")
        .field_path(".expiresAt")
)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentSpec {
    /// The ProviderConfig (same namespace) or ClusterProviderConfig holding the provider's endpoint and credentials.
    #[x_kube(validation = Rule::new("self == oldSelf").message("providerConfigRef is immutable"))]
    pub provider_config_ref: ProviderConfigRef,

    /// What happens to the remote assignment when this resource is deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Which remote operations rolesync may perform. `["*"]` (default) allows all;
    /// `["Observe"]` only reports what exists.
    #[serde(default = "ManagementPolicy::all")]
    #[schemars(length(min = 1))]
    pub management_policies: Vec<ManagementPolicy>,

    /// Adopt exactly this remote assignment instead of finding or creating one.
    #[serde(
        default,
        rename = "externalID",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(length(min = 1, max = 256))]
    pub external_id: Option<String>,

    /// Grant nothing before this time (RFC 3339, e.g. `2026-05-01T09:00:00Z`): until then
    /// the resource is `Ready=False, reason: Scheduled` and rolesync grants it at that instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub not_before: Option<String>,

    /// Revoke the remote assignment at this time (RFC 3339); the resource then stays as the
    /// record (`Ready=False, reason: Expired`). Moving it later grants again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub expires_at: Option<String>,

    /// The provider blocks (one per provider in `connectors!`): exactly one is set.
    #[serde(flatten)]
    pub provider: AssignmentBlocks,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderConfigRef {
    #[serde(default)]
    pub kind: ConfigKind,
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum ConfigKind {
    #[default]
    ProviderConfig,
    ClusterProviderConfig,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the remote assignment with the resource.
    #[default]
    Delete,
    /// Leave the remote assignment in place.
    Orphan,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum ManagementPolicy {
    #[serde(rename = "*")]
    All,
    Observe,
    Create,
    Update,
    Delete,
}

impl ManagementPolicy {
    fn all() -> Vec<Self> {
        vec![Self::All]
    }
}

/// What rolesync last saw and did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentStatus {
    /// The remote assignment's id at the provider.
    #[serde(
        default,
        rename = "externalID",
        skip_serializing_if = "Option::is_none"
    )]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The assignment as the provider last reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        with = "Option<serde_json::Value>",
        extend("x-kubernetes-preserve-unknown-fields" = true)
    )]
    pub at_provider: Option<AtProvider>,
    /// `gcore`, `harness`, `zenml` or `hyperstack` (for display).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The role for display: by the name the provider reports (ZenML, a Hyperstack role given by id), else as the spec names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Who holds the role, e.g. `user:777` (for display; long ids shortened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Why the resource is (not) Ready, for display: Synced's reason when Synced is False
    /// (the cause), else Ready's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When rolesync last found the remote assignment changed or deleted by someone else
    /// (RFC 3339); the Drifted condition says what differed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drift_time: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// `status.atProvider`: the assignment as the provider last reported it. rolesync's cache
/// of RoleAssignments keeps only a digest of it ([`AtProvider::compact`]): a reconcile
/// only needs to know whether a new report differs, and at 10,000 assignments the
/// reports would be a third of the cache.
#[derive(Clone, Debug)]
pub struct AtProvider(Report);

#[derive(Clone, Debug)]
enum Report {
    Value(serde_json::Value),
    Digest(u64),
}

impl AtProvider {
    pub fn new(value: serde_json::Value) -> Self {
        Self(Report::Value(value))
    }

    /// The report itself; `None` once only its digest is kept.
    pub fn value(&self) -> Option<&serde_json::Value> {
        match &self.0 {
            Report::Value(v) => Some(v),
            Report::Digest(_) => None,
        }
    }

    /// Drops the report and keeps what compares it: its digest.
    pub fn compact(&mut self) {
        if let Report::Value(v) = &self.0 {
            self.0 = Report::Digest(digest(v));
        }
    }

    fn digest(&self) -> u64 {
        match &self.0 {
            Report::Value(v) => digest(v),
            Report::Digest(d) => *d,
        }
    }
}

/// Stable for the life of the process, which is as long as any digest is kept.
fn digest(value: &serde_json::Value) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

impl PartialEq for AtProvider {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Report::Value(a), Report::Value(b)) => a == b,
            _ => self.digest() == other.digest(),
        }
    }
}

impl Serialize for AtProvider {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Report::Value(v) => v.serialize(s),
            Report::Digest(_) => Err(serde::ser::Error::custom(
                "status.atProvider: only a digest of the report is kept here",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for AtProvider {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(d).map(Self::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_compacted_report_still_compares_by_content() {
        let report = json!({"id": 7, "role": "Observer", "project_id": 123});
        let mut cached = AtProvider::new(report.clone());
        cached.compact();
        assert_eq!(cached.value(), None);
        assert_eq!(cached, AtProvider::new(report.clone()));
        assert_eq!(AtProvider::new(report), cached);
        let changed = AtProvider::new(json!({"id": 7, "role": "User", "project_id": 123}));
        assert_ne!(cached, changed);
        assert_ne!(changed, cached);
    }

    #[test]
    fn only_a_report_serializes() {
        let mut a = AtProvider::new(json!({"id": 7}));
        assert_eq!(serde_json::to_value(&a).unwrap(), json!({"id": 7}));
        let parsed: AtProvider = serde_json::from_value(json!({"id": 7})).unwrap();
        assert_eq!(parsed.value(), Some(&json!({"id": 7})));
        a.compact();
        assert!(
            serde_json::to_value(&a).is_err(),
            "a digest must never be written as the report"
        );
    }
}
