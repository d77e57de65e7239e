//! `metadata.managedFields`: decoding the entries of an object, finding a manager's entry,
//! and writing the entries back in upstream's order.

use std::cmp::Ordering;

use serde_json::{Map, Value, json};

use super::fieldpath::FieldSet;
use super::fields_v1::{self, FieldsV1Error};

/// Whether an entry was written by server-side apply or by any other write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Apply => "Apply",
            Self::Update => "Update",
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum ManagedFieldsError {
    #[error("metadata.managedFields must be a list of objects")]
    NotAList,
    #[error("managedFields entry {index}: unsupported operation {operation:?}")]
    Operation { index: usize, operation: String },
    #[error("managedFields entry {index}: unsupported fieldsType {fields_type:?}")]
    FieldsType { index: usize, fields_type: String },
    #[error("managedFields entry {index}: {source}")]
    Fields { index: usize, source: FieldsV1Error },
}

/// Who wrote a set of fields. Apply entries are one per manager and subresource; Update
/// entries also one per API version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ManagerId {
    pub(crate) manager: String,
    pub(crate) operation: Operation,
    pub(crate) api_version: String,
    pub(crate) subresource: Option<String>,
}

impl ManagerId {
    fn same_as(&self, other: &ManagerId) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.operation == Operation::Apply || self.api_version == other.api_version)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) id: ManagerId,
    pub(crate) time: Option<String>,
    pub(crate) set: FieldSet,
}

/// The entries of one object.
#[derive(Debug, Clone, Default)]
pub(crate) struct ManagedFields {
    pub(crate) entries: Vec<Entry>,
}

fn str_field<'v>(entry: &'v Map<String, Value>, name: &str) -> Option<&'v str> {
    entry.get(name).and_then(Value::as_str)
}

impl ManagedFields {
    /// The entries of `obj`, none when it has no `metadata.managedFields`.
    pub(crate) fn of(obj: &Value) -> Result<Self, ManagedFieldsError> {
        match obj.pointer("/metadata/managedFields") {
            None | Some(Value::Null) => Ok(Self::default()),
            Some(list) => Self::decode(list),
        }
    }

    /// Whether a write asks for the entries to be cleared: `[]` or `[{}]`, as upstream.
    pub(crate) fn is_reset_request(obj: &Value) -> bool {
        match obj.pointer("/metadata/managedFields") {
            Some(Value::Array(list)) => match list.as_slice() {
                [] => true,
                [Value::Object(only)] => only.is_empty(),
                _ => false,
            },
            _ => false,
        }
    }

    fn decode(list: &Value) -> Result<Self, ManagedFieldsError> {
        let Value::Array(items) = list else {
            return Err(ManagedFieldsError::NotAList);
        };
        let mut out = Self::default();
        for (index, item) in items.iter().enumerate() {
            let Value::Object(entry) = item else {
                return Err(ManagedFieldsError::NotAList);
            };
            let operation = match str_field(entry, "operation") {
                Some("Apply") => Operation::Apply,
                Some("Update") => Operation::Update,
                other => {
                    return Err(ManagedFieldsError::Operation {
                        index,
                        operation: other.unwrap_or_default().to_owned(),
                    });
                }
            };
            let set = match entry.get("fieldsV1") {
                None | Some(Value::Null) => FieldSet::default(),
                Some(fields) => {
                    match str_field(entry, "fieldsType") {
                        Some("FieldsV1") => {}
                        other => {
                            return Err(ManagedFieldsError::FieldsType {
                                index,
                                fields_type: other.unwrap_or_default().to_owned(),
                            });
                        }
                    }
                    fields_v1::decode(fields)
                        .map_err(|source| ManagedFieldsError::Fields { index, source })?
                }
            };
            let id = ManagerId {
                manager: str_field(entry, "manager").unwrap_or_default().to_owned(),
                operation,
                api_version: str_field(entry, "apiVersion")
                    .unwrap_or_default()
                    .to_owned(),
                subresource: str_field(entry, "subresource")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            };
            let time = str_field(entry, "time").map(str::to_owned);
            match out.find_mut(&id) {
                Some(existing) => existing.set.union_with(&set),
                None => out.entries.push(Entry { id, time, set }),
            }
        }
        Ok(out)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.iter().all(|e| e.set.is_empty())
    }

    pub(crate) fn find_mut(&mut self, id: &ManagerId) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.id.same_as(id))
    }

    /// The entry of `id`, created empty when missing; the flag tells whether it was.
    pub(crate) fn entry(&mut self, id: &ManagerId) -> (&mut Entry, bool) {
        let pos = self.entries.iter().position(|e| e.id.same_as(id));
        let created = pos.is_none();
        let index = pos.unwrap_or_else(|| {
            self.entries.push(Entry {
                id: id.clone(),
                time: None,
                set: FieldSet::default(),
            });
            self.entries.len() - 1
        });
        (&mut self.entries[index], created)
    }

    /// Every field some manager holds.
    pub(crate) fn union(&self) -> FieldSet {
        let mut all = FieldSet::default();
        for e in &self.entries {
            all.union_with(&e.set);
        }
        all
    }

    /// Writes the non-empty entries into `obj`'s metadata, sorted as upstream sorts them:
    /// by operation, then time, manager, API version and subresource.
    pub(crate) fn write_to(mut self, obj: &mut Value) {
        self.entries.retain(|e| !e.set.is_empty());
        self.entries.sort_by(compare_entries);
        let Value::Object(obj) = obj else {
            return;
        };
        let metadata = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(metadata) = metadata else {
            return;
        };
        if self.entries.is_empty() {
            metadata.remove("managedFields");
            return;
        }
        let list = self.entries.iter().map(encode_entry).collect();
        metadata.insert("managedFields".to_owned(), Value::Array(list));
    }
}

fn seconds(time: Option<&String>) -> i64 {
    time.and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map_or(0, |t| t.as_second())
}

fn compare_entries(a: &Entry, b: &Entry) -> Ordering {
    a.id.operation
        .cmp(&b.id.operation)
        .then_with(|| seconds(a.time.as_ref()).cmp(&seconds(b.time.as_ref())))
        .then_with(|| a.id.manager.cmp(&b.id.manager))
        .then_with(|| a.id.api_version.cmp(&b.id.api_version))
        .then_with(|| a.id.subresource.cmp(&b.id.subresource))
}

fn encode_entry(e: &Entry) -> Value {
    let mut out = json!({
        "manager": e.id.manager,
        "operation": e.id.operation.as_str(),
        "apiVersion": e.id.api_version,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields_v1::encode(&e.set),
    });
    if let Some(time) = &e.time {
        out["time"] = Value::String(time.clone());
    }
    if let Some(sub) = &e.id.subresource {
        out["subresource"] = Value::String(sub.clone());
    }
    out
}
