//! What the server knows about one served resource type (built-in or from a CRD).

use base64::Engine as _;
use serde_json::Value;

/// One column of `kubectl get` output (`additionalPrinterColumns`).
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterColumn {
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    pub format: Option<String>,
    pub description: Option<String>,
    pub priority: i32,
    /// A simple JSONPath such as `.spec.role` or `.status.conditions[?(@.type=="Ready")].status`.
    pub json_path: String,
}

/// A resource the server serves at one group/version.
#[derive(Debug, Clone)]
pub struct ResourceInfo {
    /// Empty for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    pub list_kind: String,
    /// Plural, lower-case: the URL segment (`roleassignments`).
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub verbs: Vec<String>,
    /// Whether `/status` is served.
    pub status_subresource: bool,
    pub printer_columns: Vec<PrinterColumn>,
    /// The version's `openAPIV3Schema` (custom resources) or a hand-written one (built-ins).
    pub schema: Option<Value>,
    /// Whether this is a custom resource (validated against `schema`, no strategic merge patch).
    pub custom: bool,
    /// Discovery's `storageVersionHash`: which group, version and kind objects are stored
    /// as, so clients can tell when a migration is due. See [`storage_version_hash`].
    pub storage_version_hash: String,
}

impl ResourceInfo {
    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// Upstream's storage version hash: the first eight bytes of the SHA-256 of
/// `group/version/kind`, base64-encoded. Clients compare it, never decode it, so only
/// equality with kube-apiserver's matters.
pub fn storage_version_hash(group: &str, version: &str, kind: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{group}/{version}/{kind}").as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(&digest.as_ref()[..8])
}

#[cfg(test)]
mod tests {
    use super::storage_version_hash;

    /// Values kube-apiserver 1.37 serves in discovery.
    #[test]
    fn storage_version_hash_is_upstreams() {
        assert_eq!(storage_version_hash("", "v1", "ConfigMap"), "qFsyl6wFWjQ=");
        assert_eq!(
            storage_version_hash("coordination.k8s.io", "v1", "Lease"),
            "gqkMMb/YqFM="
        );
    }
}
