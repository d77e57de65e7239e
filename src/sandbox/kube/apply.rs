//! Server-side apply: merging applied configurations and tracking field ownership in
//! `metadata.managedFields` (FieldsV1).

use serde_json::Value;

/// How a list merges, from `x-kubernetes-list-type` / `x-kubernetes-list-map-keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListKind {
    Atomic,
    Set,
    Map(Vec<String>),
}

/// Merge semantics of an object's fields. `path` names object fields from the root;
/// stepping into a list element adds nothing to it (`["status", "conditions", "type"]`).
pub trait FieldTypes {
    fn list_kind(&self, path: &[&str]) -> ListKind;
    /// Whether a map is replaced as a whole (`x-kubernetes-map-type: atomic`).
    fn map_is_atomic(&self, _path: &[&str]) -> bool {
        false
    }
}

/// Field types for kinds without a schema: every list is atomic.
pub struct AtomicLists;

impl FieldTypes for AtomicLists {
    fn list_kind(&self, _path: &[&str]) -> ListKind {
        ListKind::Atomic
    }
}

/// A field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    /// As upstream prints it, e.g. `.spec.replicas` or `.data.key`.
    pub field: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    #[error("Apply failed with {} conflict(s)", .0.len())]
    Conflicts(Vec<Conflict>),
    #[error("{0}")]
    Invalid(String),
}

/// One apply request.
pub struct ApplyRequest<'a> {
    /// The object as stored, `None` when the apply creates it.
    pub live: Option<&'a Value>,
    /// The applied configuration sent by the client.
    pub applied: &'a Value,
    pub manager: &'a str,
    pub force: bool,
    /// `Some("status")` for an apply to the status subresource.
    pub subresource: Option<&'a str>,
    /// RFC 3339 time recorded in the managedFields entry.
    pub now: &'a str,
}

/// Merges an applied configuration into the live object and updates `managedFields`.
pub fn apply(req: &ApplyRequest<'_>, _types: &dyn FieldTypes) -> Result<Value, ApplyError> {
    Ok(req.applied.clone())
}

/// Records a non-apply write (create, update, patch) by `manager` in `new`'s managedFields,
/// taking ownership of the fields it changed relative to `old`.
pub fn record_update(
    _old: Option<&Value>,
    _new: &mut Value,
    _manager: &str,
    _subresource: Option<&str>,
    _now: &str,
    _types: &dyn FieldTypes,
) {
}
