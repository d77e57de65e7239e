//! OpenAPI v3 documents: the `/openapi/v3` index and one document per group/version, shaped so
//! kubectl detects server-side field validation, `kubectl explain` finds each kind's schema and
//! client-side apply picks the right patch type.

use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Map, Value, json};

use super::resource::ResourceInfo;

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";

/// `GET /openapi/v3`: one entry per served group/version. The `hash` changes whenever the
/// document does, so clients caching by URL refetch after a CRD changes.
pub fn v3_index(resources: &[ResourceInfo]) -> Value {
    let mut paths = Map::new();
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for r in resources {
        let gv = (r.group.as_str(), r.version.as_str());
        if seen.contains(&gv) {
            continue;
        }
        seen.push(gv);
        let Some(doc) = v3_group_version(gv.0, gv.1, resources) else {
            continue;
        };
        let key = gv_path(gv.0, gv.1);
        let url = format!("/openapi/v3/{key}?hash={}", document_hash(&doc));
        paths.insert(key, json!({"serverRelativeURL": url}));
    }
    json!({"paths": paths})
}

/// `GET /openapi/v3/api/v1` (with `group` empty) or `GET /openapi/v3/apis/{group}/{version}`;
/// `None` when nothing is served at that group/version.
pub fn v3_group_version(group: &str, version: &str, resources: &[ResourceInfo]) -> Option<Value> {
    let served: Vec<&ResourceInfo> = resources
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut schemas = common_schemas();
    for r in served {
        resource_paths(r, &mut paths);
        schemas.insert(schema_name(r, &r.kind), kind_schema(r));
        schemas.insert(schema_name(r, &r.list_kind), list_schema(r));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn document_hash(doc: &Value) -> String {
    let mut hasher = DefaultHasher::new();
    doc.to_string().hash(&mut hasher);
    format!("{:016X}", hasher.finish())
}

/// Upstream's definition names: `io.k8s.api.core.v1.Secret` for built-ins, the reversed group
/// (`com.example.v1.Widget`) for custom resources.
fn schema_name(r: &ResourceInfo, kind: &str) -> String {
    let prefix = if r.custom {
        r.group.split('.').rev().collect::<Vec<_>>().join(".")
    } else {
        let short = r.group.split('.').next().filter(|s| !s.is_empty());
        format!("io.k8s.api.{}", short.unwrap_or("core"))
    };
    format!("{prefix}.{}.{kind}", r.version)
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn gvk(r: &ResourceInfo, kind: &str) -> Value {
    json!({"group": r.group, "version": r.version, "kind": kind})
}

fn query_param(name: &str, description: &str, type_: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": type_}})
}

fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description,
        "schema": {"type": "string"}})
}

fn dry_run() -> Value {
    query_param(
        "dryRun",
        "When present, indicates that modifications should not be persisted.",
        "string",
    )
}

fn field_manager() -> Value {
    query_param(
        "fieldManager",
        "A name associated with the actor or entity that is making these changes.",
        "string",
    )
}

/// kubectl sends `fieldValidation=Strict` only when a PATCH operation for the kind declares
/// this parameter; without it kubectl falls back to client-side validation.
fn field_validation() -> Value {
    query_param(
        "fieldValidation",
        "How the server handles unknown or duplicate fields: Ignore, Warn or Strict.",
        "string",
    )
}

fn json_response(schema: Value) -> Value {
    json!({"description": "OK", "content": {"application/json": {"schema": schema}}})
}

fn operation(r: &ResourceInfo, action: &str, summary: &str, parameters: Vec<Value>) -> Value {
    json!({
        "description": summary,
        "operationId": format!("{action}{}{}", r.kind, r.version),
        "parameters": parameters,
        "responses": {"200": json_response(schema_ref(&schema_name(r, &r.kind)))},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(r, &r.kind),
    })
}

fn with_body(mut op: Value, content_types: &[&str], schema: Value) -> Value {
    let content: Map<String, Value> = content_types
        .iter()
        .map(|t| ((*t).to_owned(), json!({"schema": schema})))
        .collect();
    op["requestBody"] = json!({"required": true, "content": content});
    op
}

fn patch_operation(r: &ResourceInfo, summary: &str) -> Value {
    // Strategic merge patch is left out even for built-ins: kubectl would then build it from
    // these schemas, which lack the patch-strategy metadata its compiled-in types carry.
    let op = operation(
        r,
        "patch",
        summary,
        vec![
            dry_run(),
            field_manager(),
            field_validation(),
            query_param(
                "force",
                "Force is going to \"force\" Apply requests.",
                "boolean",
            ),
        ],
    );
    with_body(
        op,
        &[
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        ],
        json!({"type": "object"}),
    )
}

fn write_operation(r: &ResourceInfo, action: &str, summary: &str) -> Value {
    let op = operation(
        r,
        action,
        summary,
        vec![dry_run(), field_manager(), field_validation()],
    );
    with_body(
        op,
        &["application/json"],
        schema_ref(&schema_name(r, &r.kind)),
    )
}

fn list_operation(r: &ResourceInfo) -> Value {
    let mut op = operation(
        r,
        "list",
        &format!("list or watch objects of kind {}", r.kind),
        [
            "labelSelector",
            "fieldSelector",
            "continue",
            "resourceVersion",
        ]
        .iter()
        .map(|p| query_param(p, p, "string"))
        .chain([
            query_param("limit", "limit", "integer"),
            query_param("watch", "watch", "boolean"),
        ])
        .collect(),
    );
    op["responses"]["200"] = json_response(schema_ref(&schema_name(r, &r.list_kind)));
    op
}

fn delete_operation(r: &ResourceInfo, action: &str, summary: &str) -> Value {
    let mut op = operation(r, action, summary, vec![dry_run()]);
    op["responses"]["200"] = json_response(schema_ref(STATUS));
    op
}

fn resource_paths(r: &ResourceInfo, paths: &mut Map<String, Value>) {
    let base = format!("/{}", gv_path(&r.group, &r.version));
    let namespace = path_param(
        "namespace",
        "object name and auth scope, such as for teams and projects",
    );
    let name = path_param("name", &format!("name of the {}", r.kind));
    let (collection, scope_params) = if r.namespaced {
        // Listing across all namespaces is served too.
        paths.insert(
            format!("{base}/{}", r.plural),
            json!({"get": list_operation(r)}),
        );
        (
            format!("{base}/namespaces/{{namespace}}/{}", r.plural),
            vec![namespace],
        )
    } else {
        (format!("{base}/{}", r.plural), vec![])
    };
    paths.insert(
        collection.clone(),
        json!({
            "get": list_operation(r),
            "post": write_operation(r, "post", &format!("create a {}", r.kind)),
            "delete": delete_operation(r, "deletecollection", &format!("delete collection of {}", r.kind)),
            "parameters": scope_params,
        }),
    );
    let mut item_params = vec![name];
    item_params.extend(scope_params);
    paths.insert(
        format!("{collection}/{{name}}"),
        json!({
            "get": operation(r, "get", &format!("read the specified {}", r.kind), vec![]),
            "put": write_operation(r, "put", &format!("replace the specified {}", r.kind)),
            "patch": patch_operation(r, &format!("partially update the specified {}", r.kind)),
            "delete": delete_operation(r, "delete", &format!("delete a {}", r.kind)),
            "parameters": item_params,
        }),
    );
    if r.status_subresource {
        paths.insert(
            format!("{collection}/{{name}}/status"),
            json!({
                "get": operation(r, "get", &format!("read status of the specified {}", r.kind), vec![]),
                "put": write_operation(r, "put", &format!("replace status of the specified {}", r.kind)),
                "patch": patch_operation(r, &format!("partially update status of the specified {}", r.kind)),
                "parameters": item_params,
            }),
        );
    }
}

/// The kind's schema with the fields every object has, tagged with its GVK so `kubectl explain`
/// can find it.
fn kind_schema(r: &ResourceInfo) -> Value {
    let mut schema = match &r.schema {
        Some(Value::Object(s)) => s.clone(),
        _ => Map::from_iter([("type".to_owned(), json!("object"))]),
    };
    let properties = schema.entry("properties").or_insert_with(|| json!({}));
    if let Value::Object(props) = properties {
        props.insert(
            "apiVersion".into(),
            json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}),
        );
        props.insert(
            "kind".into(),
            json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}),
        );
        props.insert(
            "metadata".into(),
            json!({"allOf": [schema_ref(OBJECT_META)], "description": "Standard object's metadata."}),
        );
    }
    schema.insert(
        "x-kubernetes-group-version-kind".into(),
        json!([gvk(r, &r.kind)]),
    );
    Value::Object(schema)
}

fn list_schema(r: &ResourceInfo) -> Value {
    json!({
        "type": "object",
        "description": format!("{} is a list of {}", r.list_kind, r.kind),
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"allOf": [schema_ref(LIST_META)]},
            "items": {"type": "array", "items": schema_ref(&schema_name(r, &r.kind))},
        },
        "x-kubernetes-group-version-kind": [gvk(r, &r.list_kind)],
    })
}

fn common_schemas() -> Map<String, Value> {
    let string = || json!({"type": "string"});
    let string_map = || json!({"type": "object", "additionalProperties": {"type": "string"}});
    let date = || json!({"type": "string", "format": "date-time"});
    let mut schemas = Map::new();
    schemas.insert(
        OBJECT_META.into(),
        json!({
            "type": "object",
            "description": "ObjectMeta is metadata that all persisted resources must have.",
            "properties": {
                "name": string(),
                "generateName": string(),
                "namespace": string(),
                "uid": string(),
                "resourceVersion": string(),
                "generation": {"type": "integer", "format": "int64"},
                "creationTimestamp": date(),
                "deletionTimestamp": date(),
                "deletionGracePeriodSeconds": {"type": "integer", "format": "int64"},
                "labels": string_map(),
                "annotations": string_map(),
                "finalizers": {"type": "array", "items": string(), "x-kubernetes-list-type": "set"},
                "ownerReferences": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["apiVersion", "kind", "name", "uid"],
                        "properties": {
                            "apiVersion": string(),
                            "kind": string(),
                            "name": string(),
                            "uid": string(),
                            "controller": {"type": "boolean"},
                            "blockOwnerDeletion": {"type": "boolean"},
                        },
                    },
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["uid"],
                },
                "managedFields": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "manager": string(),
                            "operation": string(),
                            "apiVersion": string(),
                            "time": date(),
                            "fieldsType": string(),
                            "fieldsV1": {"type": "object"},
                            "subresource": string(),
                        },
                    },
                    "x-kubernetes-list-type": "atomic",
                },
            },
        }),
    );
    schemas.insert(
        LIST_META.into(),
        json!({
            "type": "object",
            "properties": {
                "resourceVersion": string(),
                "continue": string(),
                "remainingItemCount": {"type": "integer", "format": "int64"},
            },
        }),
    );
    schemas.insert(
        STATUS.into(),
        json!({
            "type": "object",
            "properties": {
                "apiVersion": string(),
                "kind": string(),
                "status": string(),
                "message": string(),
                "reason": string(),
                "code": {"type": "integer", "format": "int32"},
                "details": {"type": "object"},
            },
            "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Status"}],
        }),
    );
    schemas
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::tests::info;

    fn widget() -> ResourceInfo {
        let mut r = info("example.com", "v1", "Widget", "widgets");
        r.custom = true;
        r.status_subresource = true;
        r.schema = Some(json!({
            "type": "object",
            "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}},
        }));
        r
    }

    fn namespace() -> ResourceInfo {
        let mut r = info("", "v1", "Namespace", "namespaces");
        r.namespaced = false;
        r
    }

    /// What kubectl's `QueryParamVerifierV3` does: the first PATCH operation tagged with the
    /// GVK decides whether `fieldValidation` is supported.
    fn supports_field_validation(doc: &Value, group: &str, version: &str, kind: &str) -> bool {
        let want = json!({"group": group, "version": version, "kind": kind});
        for (_, item) in doc["paths"].as_object().unwrap() {
            let Some(op) = item.get("patch") else {
                continue;
            };
            if op["x-kubernetes-group-version-kind"] != want {
                continue;
            }
            return op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation" && p["in"] == "query");
        }
        false
    }

    #[test]
    fn index_lists_each_group_version_with_a_hash() {
        let resources = vec![namespace(), widget()];
        let index = v3_index(&resources);
        let paths = index["paths"].as_object().unwrap();
        assert_eq!(paths.len(), 2);
        let core = paths["api/v1"]["serverRelativeURL"].as_str().unwrap();
        assert!(core.starts_with("/openapi/v3/api/v1?hash="), "{core}");
        let custom = paths["apis/example.com/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap();
        assert!(
            custom.starts_with("/openapi/v3/apis/example.com/v1?hash="),
            "{custom}"
        );
    }

    #[test]
    fn hash_changes_with_the_schema() {
        let before = v3_index(&[widget()]);
        let mut changed = widget();
        changed.schema = Some(json!({"type": "object"}));
        let after = v3_index(&[changed]);
        assert_ne!(before, after);
        assert_eq!(before, v3_index(&[widget()]));
    }

    #[test]
    fn field_validation_is_detected_for_every_kind() {
        let resources = vec![namespace(), widget()];
        let core = v3_group_version("", "v1", &resources).unwrap();
        assert!(supports_field_validation(&core, "", "v1", "Namespace"));
        let custom = v3_group_version("example.com", "v1", &resources).unwrap();
        assert!(supports_field_validation(
            &custom,
            "example.com",
            "v1",
            "Widget"
        ));
        assert!(!supports_field_validation(
            &custom,
            "example.com",
            "v1",
            "Gadget"
        ));
        assert!(v3_group_version("example.com", "v2", &resources).is_none());
    }

    #[test]
    fn paths_cover_collection_item_and_status() {
        let doc = v3_group_version("example.com", "v1", &[widget()]).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let ns = "/apis/example.com/v1/namespaces/{namespace}/widgets";
        assert!(paths[ns].get("post").is_some());
        assert_eq!(paths[ns]["get"]["x-kubernetes-action"], "list");
        let item = &paths[&format!("{ns}/{{name}}")];
        for verb in ["get", "put", "patch", "delete"] {
            assert!(item.get(verb).is_some(), "{verb}");
        }
        let status = &paths[&format!("{ns}/{{name}}/status")];
        assert_eq!(
            status["patch"]["x-kubernetes-group-version-kind"]["kind"],
            "Widget"
        );
        assert!(paths.contains_key("/apis/example.com/v1/widgets"));

        let cluster = v3_group_version("", "v1", &[namespace()]).unwrap();
        assert!(cluster["paths"].get("/api/v1/namespaces/{name}").is_some());
    }

    #[test]
    fn patch_never_offers_strategic_merge() {
        let doc = v3_group_version("example.com", "v1", &[widget()]).unwrap();
        let content = &doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
            ["requestBody"]["content"];
        assert!(content.get("application/merge-patch+json").is_some());
        assert!(content.get("application/apply-patch+yaml").is_some());
        assert!(
            content
                .get("application/strategic-merge-patch+json")
                .is_none()
        );
    }

    #[test]
    fn kind_schema_keeps_user_fields_and_carries_gvk() {
        let doc = v3_group_version("example.com", "v1", &[widget()]).unwrap();
        let schemas = &doc["components"]["schemas"];
        let s = &schemas["com.example.v1.Widget"];
        assert_eq!(
            s["properties"]["spec"]["properties"]["size"]["type"],
            "integer"
        );
        assert_eq!(
            s["properties"]["metadata"]["allOf"][0]["$ref"],
            format!("#/components/schemas/{OBJECT_META}")
        );
        assert_eq!(
            s["x-kubernetes-group-version-kind"],
            json!([{"group": "example.com", "version": "v1", "kind": "Widget"}])
        );
        assert_eq!(
            schemas["com.example.v1.WidgetList"]["properties"]["items"]["items"]["$ref"],
            "#/components/schemas/com.example.v1.Widget"
        );
        assert!(schemas.get(OBJECT_META).is_some());
        let core = v3_group_version("", "v1", &[namespace()]).unwrap();
        assert!(
            core["components"]["schemas"]
                .get("io.k8s.api.core.v1.Namespace")
                .is_some()
        );
    }

    #[test]
    fn every_ref_resolves() {
        let doc = v3_group_version("example.com", "v1", &[widget()]).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let name = r.strip_prefix("#/components/schemas/").unwrap();
            assert!(schemas.contains_key(name), "dangling {r}");
        }
    }

    fn collect_refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|v| collect_refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }
}
