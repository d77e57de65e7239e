//! What the server knows about one served resource type (built-in or from a CRD).

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
