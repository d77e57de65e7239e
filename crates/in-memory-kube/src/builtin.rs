//! The built-in kinds the server serves, with minimal schemas for kubectl.

use serde_json::{Value, json};

use super::resource::{ResourceInfo, storage_version_hash};

const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

struct Kind {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    status: bool,
    properties: Value,
}

fn info(k: Kind) -> ResourceInfo {
    let mut properties = k.properties;
    if let Some(props) = properties.as_object_mut() {
        props.insert("apiVersion".into(), json!({"type": "string"}));
        props.insert("kind".into(), json!({"type": "string"}));
        props.insert(
            "metadata".into(),
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        );
    }
    ResourceInfo {
        group: k.group.into(),
        version: k.version.into(),
        kind: k.kind.into(),
        list_kind: format!("{}List", k.kind),
        plural: k.plural.into(),
        singular: k.kind.to_lowercase(),
        namespaced: k.namespaced,
        short_names: k.short_names.iter().map(|s| (*s).to_owned()).collect(),
        categories: Vec::new(),
        verbs: VERBS.iter().map(|s| (*s).to_owned()).collect(),
        status_subresource: k.status,
        printer_columns: Vec::new(),
        schema: Some(json!({"type": "object", "properties": properties})),
        custom: false,
        storage_version_hash: storage_version_hash(k.group, k.version, k.kind),
    }
}

fn free_object() -> Value {
    json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

fn string_map() -> Value {
    json!({"type": "object", "additionalProperties": {"type": "string"}})
}

/// Every built-in resource.
pub fn resources() -> Vec<ResourceInfo> {
    let event_shared = json!({
        "related": free_object(), "series": free_object(),
        "reason": {"type": "string"}, "type": {"type": "string"}, "action": {"type": "string"},
        "eventTime": {"type": "string"}, "reportingInstance": {"type": "string"},
    });
    let with_shared = |own: Value| {
        let mut fields = event_shared.clone();
        if let (Some(fields), Value::Object(own)) = (fields.as_object_mut(), own) {
            fields.extend(own);
        }
        fields
    };
    // One stored object, two shapes: see `events`.
    let core_event_fields = with_shared(json!({
        "involvedObject": free_object(), "message": {"type": "string"},
        "reportingComponent": {"type": "string"}, "source": free_object(),
        "count": {"type": "integer"},
        "firstTimestamp": {"type": "string"}, "lastTimestamp": {"type": "string"},
    }));
    let events_v1_fields = with_shared(json!({
        "regarding": free_object(), "note": {"type": "string"},
        "reportingController": {"type": "string"}, "deprecatedSource": free_object(),
        "deprecatedCount": {"type": "integer"},
        "deprecatedFirstTimestamp": {"type": "string"},
        "deprecatedLastTimestamp": {"type": "string"},
    }));
    let mut crd = info(Kind {
        group: "apiextensions.k8s.io",
        version: "v1",
        kind: "CustomResourceDefinition",
        plural: "customresourcedefinitions",
        namespaced: false,
        short_names: &["crd", "crds"],
        status: true,
        properties: json!({"spec": free_object(), "status": free_object()}),
    });
    crd.categories = vec!["api-extensions".into()];
    // kube-apiserver still stores CRDs in their first version.
    crd.storage_version_hash = storage_version_hash(
        "apiextensions.k8s.io",
        "v1beta1",
        "CustomResourceDefinition",
    );
    let mut events_v1 = info(Kind {
        group: "events.k8s.io",
        version: "v1",
        kind: "Event",
        plural: "events",
        namespaced: true,
        short_names: &["ev"],
        status: false,
        properties: events_v1_fields,
    });
    // Both Event APIs read and write one stored object, a core/v1 Event.
    events_v1.storage_version_hash = storage_version_hash("", "v1", "Event");
    vec![
        info(Kind {
            group: "",
            version: "v1",
            kind: "Namespace",
            plural: "namespaces",
            namespaced: false,
            short_names: &["ns"],
            status: true,
            properties: json!({"spec": free_object(), "status": free_object()}),
        }),
        info(Kind {
            group: "",
            version: "v1",
            kind: "Secret",
            plural: "secrets",
            namespaced: true,
            short_names: &[],
            status: false,
            properties: json!({
                "data": string_map(), "stringData": string_map(),
                "type": {"type": "string"}, "immutable": {"type": "boolean"},
            }),
        }),
        info(Kind {
            group: "",
            version: "v1",
            kind: "ConfigMap",
            plural: "configmaps",
            namespaced: true,
            short_names: &["cm"],
            status: false,
            properties: json!({
                "data": string_map(), "binaryData": string_map(), "immutable": {"type": "boolean"},
            }),
        }),
        info(Kind {
            group: "",
            version: "v1",
            kind: "ServiceAccount",
            plural: "serviceaccounts",
            namespaced: true,
            short_names: &["sa"],
            status: false,
            properties: json!({
                "secrets": {"type": "array", "items": free_object()},
                "imagePullSecrets": {"type": "array", "items": free_object()},
                "automountServiceAccountToken": {"type": "boolean"},
            }),
        }),
        info(Kind {
            group: "",
            version: "v1",
            kind: "Event",
            plural: "events",
            namespaced: true,
            short_names: &["ev"],
            status: false,
            properties: core_event_fields,
        }),
        events_v1,
        info(Kind {
            group: "coordination.k8s.io",
            version: "v1",
            kind: "Lease",
            plural: "leases",
            namespaced: true,
            short_names: &[],
            status: false,
            properties: json!({"spec": {"type": "object", "properties": {
                "holderIdentity": {"type": "string"},
                "leaseDurationSeconds": {"type": "integer"},
                "acquireTime": {"type": "string", "format": "date-time"},
                "renewTime": {"type": "string", "format": "date-time"},
                "leaseTransitions": {"type": "integer"},
                "strategy": {"type": "string"},
                "preferredHolder": {"type": "string"},
            }}}),
        }),
        crd,
    ]
}

/// Namespaces that exist from the start, as in a fresh cluster.
pub const INITIAL_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

#[cfg(test)]
mod tests {
    use super::resources;

    /// Discovery's storage version hashes as kube-apiserver 1.37 serves them, where the
    /// stored form is not the served one.
    #[test]
    fn storage_version_hashes_are_upstreams() {
        let hash = |group: &str, plural: &str| {
            resources()
                .into_iter()
                .find(|r| r.group == group && r.plural == plural)
                .map(|r| r.storage_version_hash)
        };
        assert_eq!(hash("", "events").as_deref(), Some("r2yiGXH7wu8="));
        assert_eq!(hash("events.k8s.io", "events"), hash("", "events"));
        assert_eq!(
            hash("apiextensions.k8s.io", "customresourcedefinitions").as_deref(),
            Some("jfWCUB31mvA=")
        );
    }
}
