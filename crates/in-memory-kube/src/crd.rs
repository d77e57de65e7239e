//! CustomResourceDefinitions: what a CRD serves, and the status the server gives it.

use serde_json::{Value, json};

use super::apply::{FieldTypes, ListKind};
use super::registry::Served;
use super::resource::{PrinterColumn, ResourceInfo, storage_version_hash};
use super::schema::{FieldError, FieldErrorKind, Schema};

fn required(field: &str) -> FieldError {
    FieldError {
        kind: FieldErrorKind::Required,
        field: field.to_owned(),
        bad_value: None,
        detail: "Required value".into(),
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn strings_at(v: &Value, pointer: &str) -> Vec<String> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn printer_columns(version: &Value) -> Vec<PrinterColumn> {
    version
        .get("additionalPrinterColumns")
        .and_then(Value::as_array)
        .map(|columns| {
            columns
                .iter()
                .map(|c| PrinterColumn {
                    name: str_at(c, "/name").to_owned(),
                    type_: str_at(c, "/type").to_owned(),
                    format: c.get("format").and_then(Value::as_str).map(str::to_owned),
                    description: c
                        .get("description")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    priority: c
                        .get("priority")
                        .and_then(Value::as_i64)
                        .and_then(|p| i32::try_from(p).ok())
                        .unwrap_or(0),
                    json_path: str_at(c, "/jsonPath").to_owned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The resources a CRD serves (one per served version), or why the CRD is invalid.
pub fn served_resources(crd: &Value) -> Result<Vec<Served>, Vec<FieldError>> {
    let name = str_at(crd, "/metadata/name");
    let group = str_at(crd, "/spec/group");
    let plural = str_at(crd, "/spec/names/plural");
    let kind = str_at(crd, "/spec/names/kind");
    let scope = str_at(crd, "/spec/scope");
    let mut errors = Vec::new();
    for (value, field) in [
        (group, "spec.group"),
        (plural, "spec.names.plural"),
        (kind, "spec.names.kind"),
        (scope, "spec.scope"),
    ] {
        if value.is_empty() {
            errors.push(required(field));
        }
    }
    if !scope.is_empty() && scope != "Namespaced" && scope != "Cluster" {
        errors.push(FieldError {
            kind: FieldErrorKind::NotSupported,
            field: "spec.scope".into(),
            bad_value: Some(Value::String(scope.to_owned())),
            detail: "supported values: \"Cluster\", \"Namespaced\"".into(),
        });
    }
    if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
        errors.push(FieldError {
            kind: FieldErrorKind::Invalid,
            field: "metadata.name".into(),
            bad_value: Some(Value::String(name.to_owned())),
            detail: "must be spec.names.plural+\".\"+spec.group".into(),
        });
    }
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        errors.push(required("spec.versions"));
    }
    if versions
        .iter()
        .filter(|v| v.get("storage") == Some(&Value::Bool(true)))
        .count()
        != 1
        && !versions.is_empty()
    {
        errors.push(FieldError {
            kind: FieldErrorKind::Invalid,
            field: "spec.versions".into(),
            bad_value: None,
            detail: "must have exactly one version marked as storage version".into(),
        });
    }
    // Every served version is stored as the storage version.
    let storage_version = versions
        .iter()
        .find(|v| v.get("storage") == Some(&Value::Bool(true)))
        .map_or("", |v| str_at(v, "/name"));
    let mut served = Vec::new();
    for (i, version) in versions.iter().enumerate() {
        if version.get("served") != Some(&Value::Bool(true)) {
            continue;
        }
        let schema = match version.pointer("/schema/openAPIV3Schema") {
            Some(s) => match Schema::compile(s) {
                Ok(compiled) => compiled,
                Err(errs) => {
                    errors.extend(errs.into_iter().map(|mut e| {
                        e.field = format!("spec.versions[{i}].schema.openAPIV3Schema{}", {
                            if e.field.is_empty() {
                                String::new()
                            } else {
                                format!(".{}", e.field)
                            }
                        });
                        e
                    }));
                    continue;
                }
            },
            None => {
                errors.push(required(&format!(
                    "spec.versions[{i}].schema.openAPIV3Schema"
                )));
                continue;
            }
        };
        let singular = match str_at(crd, "/spec/names/singular") {
            "" => kind.to_lowercase(),
            s => s.to_owned(),
        };
        let list_kind = match str_at(crd, "/spec/names/listKind") {
            "" => format!("{kind}List"),
            s => s.to_owned(),
        };
        served.push(Served {
            info: ResourceInfo {
                group: group.to_owned(),
                version: str_at(version, "/name").to_owned(),
                kind: kind.to_owned(),
                list_kind,
                plural: plural.to_owned(),
                singular,
                namespaced: scope == "Namespaced",
                short_names: strings_at(crd, "/spec/names/shortNames"),
                categories: strings_at(crd, "/spec/names/categories"),
                verbs: [
                    "delete",
                    "deletecollection",
                    "get",
                    "list",
                    "patch",
                    "create",
                    "update",
                    "watch",
                ]
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
                status_subresource: version.pointer("/subresources/status").is_some(),
                printer_columns: printer_columns(version),
                schema: version.pointer("/schema/openAPIV3Schema").cloned(),
                custom: true,
                storage_version_hash: storage_version_hash(group, storage_version, kind),
            },
            schema: Some(schema),
        });
    }
    if errors.is_empty() {
        Ok(served)
    } else {
        Err(errors)
    }
}

/// The manager kube-apiserver's managedFields name for the status its own controllers give
/// a CRD.
pub const STATUS_MANAGER: &str = "kube-apiserver";

/// How a CRD's fields merge, as upstream's Go types declare them.
pub struct CrdFields;

impl FieldTypes for CrdFields {
    fn list_kind(&self, path: &[&str]) -> ListKind {
        match path {
            ["status", "conditions"] => ListKind::Map(vec!["type".to_owned()]),
            _ => ListKind::Atomic,
        }
    }

    fn empty_object(&self) -> Value {
        // `spec` and `spec.names` are structs upstream, never absent; a client's write never
        // owns `status`.
        json!({"spec": {"names": {}}})
    }
}

/// The status upstream's strategy stores with a new CRD, before its controllers accept the
/// names: the stored versions of `accepted` (an [`accepted_status`]), no names yet, and
/// conditions null, as Go writes a nil slice that is not `omitempty`.
pub fn initial_status(accepted: &Value) -> Value {
    json!({
        "acceptedNames": {},
        "conditions": null,
        "storedVersions": accepted.get("storedVersions").cloned().unwrap_or_else(|| json!([])),
    })
}

/// The status the API server reports for an accepted CRD: names accepted, established.
pub fn accepted_status(crd: &Value, now: &str) -> Value {
    let mut names = crd
        .pointer("/spec/names")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let kind = str_at(crd, "/spec/names/kind");
    if names.get("singular").is_none() {
        names["singular"] = Value::String(kind.to_lowercase());
    }
    if names.get("listKind").is_none() {
        names["listKind"] = Value::String(format!("{kind}List"));
    }
    let stored: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("storage") == Some(&Value::Bool(true)))
        .filter_map(|v| v.get("name").cloned())
        .collect();
    let mut stored_versions: Vec<Value> = crd
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for v in stored {
        if !stored_versions.contains(&v) {
            stored_versions.push(v);
        }
    }
    json!({
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now,
             "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": now,
             "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"},
        ],
        "acceptedNames": names,
        "storedVersions": stored_versions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]},
                "versions": [
                    {"name": "v1", "served": true, "storage": true,
                     "schema": {"openAPIV3Schema": {"type": "object"}},
                     "subresources": {"status": {}},
                     "additionalPrinterColumns": [{"name": "Role", "type": "string", "jsonPath": ".spec.role", "priority": 1}]},
                    {"name": "v1beta1", "served": true, "storage": false,
                     "schema": {"openAPIV3Schema": {"type": "object"}}},
                    {"name": "v1alpha1", "served": false, "storage": false,
                     "schema": {"openAPIV3Schema": {"type": "object"}}},
                ]
            }
        })
    }

    #[test]
    fn serves_every_served_version() {
        let served = served_resources(&crd()).unwrap();
        let versions: Vec<_> = served.iter().map(|s| s.info.version.as_str()).collect();
        assert_eq!(versions, vec!["v1", "v1beta1"]);
        let v1 = &served[0].info;
        assert_eq!(v1.list_kind, "WidgetList");
        assert_eq!(v1.singular, "widget");
        assert_eq!(v1.short_names, vec!["wd"]);
        assert!(v1.namespaced && v1.status_subresource && v1.custom);
        assert_eq!(v1.printer_columns[0].json_path, ".spec.role");
        assert_eq!(v1.printer_columns[0].priority, 1);
        assert!(!served[1].info.status_subresource);
    }

    #[test]
    fn name_must_match_plural_and_group() {
        let mut bad = crd();
        bad["metadata"]["name"] = json!("gadgets.example.com");
        let errors = served_resources(&bad).unwrap_err();
        assert_eq!(errors[0].field, "metadata.name");
    }

    #[test]
    fn missing_fields_are_required() {
        let errors = served_resources(&json!({"metadata": {"name": "x"}, "spec": {}})).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"spec.group"));
        assert!(fields.contains(&"spec.versions"));
    }

    #[test]
    fn accepted_status_sets_conditions_and_names() {
        let status = accepted_status(&crd(), "2026-01-01T00:00:00Z");
        assert_eq!(status["conditions"][1]["type"], "Established");
        assert_eq!(status["conditions"][1]["status"], "True");
        assert_eq!(status["acceptedNames"]["listKind"], "WidgetList");
        assert_eq!(status["storedVersions"], json!(["v1"]));
    }
}
