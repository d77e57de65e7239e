//! Server-side apply: merging applied configurations and tracking field ownership in
//! `metadata.managedFields` (FieldsV1), following upstream's structured-merge-diff and
//! apiserver field manager.

mod fieldpath;
mod fields_v1;
mod managed;
mod walk;

use std::fmt::Write as _;

use serde_json::{Map, Value};

use fieldpath::{FieldSet, PathElement, path_to_string};
pub use managed::Operation;
use managed::{Entry, ManagedFields, ManagerId};
use walk::ObjectTypes;

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
    /// The object a create is compared with: upstream's typed object before anything is set,
    /// which has the structs Go always serialises, so a creator owns their fields but not
    /// those maps themselves. Unstructured kinds start empty.
    fn empty_object(&self) -> Value {
        Value::Object(Map::new())
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
    pub operation: Operation,
    /// The API version of the owning entry.
    pub api_version: String,
    pub subresource: Option<String>,
}

impl Conflict {
    /// The owner as upstream names it: `"kubectl-edit" using v1`, `"ctl" with subresource
    /// "status"`, or just `"ctl"` for an applier.
    pub fn owner(&self) -> String {
        let mut out = quote(&self.manager);
        if let Some(sub) = &self.subresource {
            let _ = write!(out, " with subresource {}", quote(sub));
        }
        if self.operation == Operation::Update {
            let _ = write!(out, " using {}", self.api_version);
        }
        out
    }

    /// The message of this conflict's `StatusCause` (type `FieldManagerConflict`).
    pub fn cause_message(&self) -> String {
        format!("conflict with {}", self.owner())
    }
}

fn quote(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// The `message` of upstream's 409 Status for these conflicts.
fn conflicts_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            only.owner(),
            only.field
        );
    }
    let mut parts: Vec<String> = Vec::new();
    let mut last_owner: Option<String> = None;
    for c in conflicts {
        let owner = c.owner();
        if last_owner.as_ref() != Some(&owner) {
            parts.push(format!("conflicts with {owner}:"));
            last_owner = Some(owner);
        }
        parts.push(format!("- {}", c.field));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        parts.join("\n")
    )
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// Grouped by owner (sorted), each owner's fields in upstream's path order.
    #[error("{}", conflicts_message(.0))]
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

/// The manager recorded for writes that name none, as upstream.
const UNKNOWN_MANAGER: &str = "unknown";
/// The Update manager that takes over the fields of an object with no managedFields on
/// its first apply.
const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// Metadata fields the server sets: never owned by anyone, and apply keeps their live
/// values.
const SERVER_METADATA: [&str; 7] = [
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "selfLink",
    "clusterName",
    "managedFields",
];

fn manager_name(manager: &str) -> String {
    if manager.is_empty() {
        UNKNOWN_MANAGER.to_owned()
    } else {
        manager.to_owned()
    }
}

fn field(name: &str) -> PathElement {
    PathElement::Field(name.to_owned())
}

/// Drops the paths no manager may own: `apiVersion`, `kind`, `metadata` itself and the
/// identity and server-set fields of `metadata`, as upstream's strip-meta manager.
fn strip_unowned(set: &mut FieldSet) {
    let mut unowned = FieldSet::default();
    for top in ["apiVersion", "kind", "metadata"] {
        unowned.insert(&[field(top)]);
    }
    for name in SERVER_METADATA.iter().chain(&["name", "namespace"]) {
        unowned.insert(&[field("metadata"), field(name)]);
    }
    set.subtract(&unowned);
}

fn api_version(obj: &Value) -> Option<&str> {
    obj.get("apiVersion").and_then(Value::as_str)
}

/// A copy of `obj` without `metadata.managedFields`.
fn without_managed_fields(obj: &Value) -> Value {
    let mut out = obj.clone();
    if let Some(Value::Object(meta)) = out.get_mut("metadata") {
        meta.remove("managedFields");
    }
    out
}

fn metadata_str<'v>(obj: &'v Value, name: &str) -> Option<&'v str> {
    obj.get("metadata")?.get(name)?.as_str()
}

/// Gives `merged` the live values of the server-set metadata fields.
fn keep_server_metadata(merged: &mut Value, live: &Value) {
    let live_meta = live.get("metadata").and_then(Value::as_object);
    let Some(Value::Object(meta)) = merged.get_mut("metadata") else {
        return;
    };
    for name in SERVER_METADATA {
        match live_meta.and_then(|m| m.get(name)) {
            Some(v) => {
                meta.insert(name.to_owned(), v.clone());
            }
            None => {
                meta.remove(name);
            }
        }
    }
}

fn check_applied(req: &ApplyRequest<'_>) -> Result<(), ApplyError> {
    if !req.applied.is_object() {
        return Err(ApplyError::Invalid(
            "the applied configuration must be a JSON object".to_owned(),
        ));
    }
    if req
        .applied
        .pointer("/metadata/managedFields")
        .is_some_and(|v| !v.is_null())
    {
        return Err(ApplyError::Invalid(
            "metadata.managedFields must be nil".to_owned(),
        ));
    }
    if let Some(live) = req.live {
        for name in ["name", "namespace"] {
            let (a, l) = (metadata_str(req.applied, name), metadata_str(live, name));
            if let Some(a) = a
                && a != l.unwrap_or_default()
            {
                return Err(ApplyError::Invalid(format!(
                    "metadata.{name}: the applied value {a:?} does not match the object's {:?}",
                    l.unwrap_or_default()
                )));
            }
        }
    }
    Ok(())
}

/// The fields a write changed or added: they become the writer's.
fn changed_fields(cmp: &walk::Comparison) -> FieldSet {
    let mut changed = cmp.added.clone();
    changed.union_with(&cmp.modified);
    changed
}

/// Merges an applied configuration into the live object and updates `managedFields`.
pub fn apply(req: &ApplyRequest<'_>, types: &dyn FieldTypes) -> Result<Value, ApplyError> {
    let types = ObjectTypes(types);
    check_applied(req)?;
    let (live, mut managed) = match req.live {
        Some(live) => (
            without_managed_fields(live),
            ManagedFields::of(live).map_err(|e| ApplyError::Invalid(e.to_string()))?,
        ),
        None => (Value::Object(Map::new()), ManagedFields::default()),
    };
    let subresource = req.subresource.map(str::to_owned);

    if req.live.is_some() && managed.is_empty() {
        let before = walk::compare(&Value::Object(Map::new()), &live, &types);
        let mut set = changed_fields(&before);
        strip_unowned(&mut set);
        managed.entries.push(Entry {
            id: ManagerId {
                manager: BEFORE_FIRST_APPLY.to_owned(),
                operation: Operation::Update,
                api_version: api_version(&live).unwrap_or_default().to_owned(),
                subresource: subresource.clone(),
            },
            time: Some(req.now.to_owned()),
            set,
        });
    }

    let mut merged = walk::merge(&live, req.applied, &types).map_err(ApplyError::Invalid)?;
    if req.live.is_some() {
        keep_server_metadata(&mut merged, &live);
    }
    // Upstream prunes before stripping metadata, so the identity fields an applier always
    // sends keep `metadata` itself from being pruned.
    let applied_full = walk::field_set(req.applied, &types).map_err(ApplyError::Invalid)?;
    let mut applied_set = applied_full.clone();
    strip_unowned(&mut applied_set);

    let id = ManagerId {
        manager: manager_name(req.manager),
        operation: Operation::Apply,
        api_version: api_version(req.applied)
            .or_else(|| api_version(&live))
            .unwrap_or_default()
            .to_owned(),
        subresource,
    };
    let (entry, created) = managed.entry(&id);
    entry.id.api_version.clone_from(&id.api_version);
    let last = std::mem::replace(&mut entry.set, applied_set);
    if !last.is_empty() {
        let mut owned = managed.union();
        owned.union_with(&applied_full);
        walk::prune(&mut merged, &last, &owned, &types);
    }

    let cmp = walk::compare(&live, &merged, &types);
    let changed = changed_fields(&cmp);
    let mut conflicts = Vec::new();
    for other in managed.entries.iter().filter(|e| e.id != id) {
        for path in other.set.intersection(&changed).paths() {
            conflicts.push(Conflict {
                manager: other.id.manager.clone(),
                field: path_to_string(&path),
                operation: other.id.operation,
                api_version: other.id.api_version.clone(),
                subresource: other.id.subresource.clone(),
            });
        }
    }
    if !conflicts.is_empty() && !req.force {
        conflicts.sort_by(|a, b| {
            (&a.manager, a.operation, &a.api_version, &a.subresource).cmp(&(
                &b.manager,
                b.operation,
                &b.api_version,
                &b.subresource,
            ))
        });
        return Err(ApplyError::Conflicts(conflicts));
    }
    for entry in &mut managed.entries {
        if entry.id != id {
            entry.set.subtract(&changed);
            entry.set.subtract(&cmp.removed);
        } else if created || merged != live {
            entry.time = Some(req.now.to_owned());
        }
    }
    managed.write_to(&mut merged);
    Ok(merged)
}

/// Records a non-apply write (create, update, patch) by `manager` in `new`'s managedFields,
/// taking ownership of the fields it changed relative to `old`.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
    now: &str,
    types: &dyn FieldTypes,
) {
    let empty = || types.empty_object();
    let types = ObjectTypes(types);
    let old_managed = || {
        old.and_then(|o| ManagedFields::of(o).ok())
            .unwrap_or_default()
    };
    // A subresource write cannot change managedFields; a main-resource write may reset or
    // replace them, and keeps the stored ones when it sends none or garbage.
    let mut managed = if subresource.is_some() {
        old_managed()
    } else if ManagedFields::is_reset_request(new) {
        ManagedFields::default()
    } else {
        match ManagedFields::of(new) {
            Ok(m) if !m.is_empty() => m,
            _ => old_managed(),
        }
    };
    if let Some(Value::Object(meta)) = new.get_mut("metadata") {
        meta.remove("managedFields");
    }
    // Upstream stops tracking an existing object whose managedFields are empty, until an
    // apply starts it again.
    if old.is_some() && managed.is_empty() {
        return;
    }
    let old = old.map_or_else(empty, without_managed_fields);
    let cmp = walk::compare(&old, new, &types);
    let mut taken = changed_fields(&cmp);
    for entry in &mut managed.entries {
        entry.set.subtract(&taken);
        entry.set.subtract(&cmp.removed);
    }
    strip_unowned(&mut taken);
    if !taken.is_empty() {
        let id = ManagerId {
            manager: manager_name(manager),
            operation: Operation::Update,
            api_version: api_version(new).unwrap_or_default().to_owned(),
            subresource: subresource.map(str::to_owned),
        };
        let (entry, _) = managed.entry(&id);
        entry.set.union_with(&taken);
        entry.time = Some(now.to_owned());
    }
    managed.write_to(new);
}

#[cfg(test)]
mod tests;
