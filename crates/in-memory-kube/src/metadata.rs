//! `meta.k8s.io/v1` PartialObjectMetadata: objects reduced to their metadata, served when a
//! client asks for them in `Accept` (`as=PartialObjectMetadata` for get and watch,
//! `as=PartialObjectMetadataList` for list), as controllers do that must not hold the data
//! of what they watch (e.g. Secrets).

use serde_json::{Value, json};

use super::discovery::{media_types, param};

const API_VERSION: &str = "meta.k8s.io/v1";

/// Whether `Accept` asks for `kind` (`PartialObjectMetadata` or `PartialObjectMetadataList`).
pub fn wants(accept_header: &str, kind: &str) -> bool {
    media_types(accept_header).any(|params| {
        param(&params, "as") == Some(kind)
            && param(&params, "g") == Some("meta.k8s.io")
            && param(&params, "v") == Some("v1")
    })
}

/// The object reduced to its metadata.
pub fn partial(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": API_VERSION,
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A list of objects reduced to their metadata.
pub fn partial_list(objects: &[&Value], list_meta: Value) -> Value {
    json!({
        "kind": "PartialObjectMetadataList",
        "apiVersion": API_VERSION,
        "metadata": list_meta,
        "items": objects.iter().map(|o| partial(o)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_metadata_is_kept() {
        let secret = json!({"kind": "Secret", "apiVersion": "v1",
            "metadata": {"name": "s", "resourceVersion": "7"}, "data": {"k": "c2VjcmV0"}});
        assert_eq!(
            partial(&secret),
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                "metadata": {"name": "s", "resourceVersion": "7"}})
        );
        let list = partial_list(&[&secret], json!({"resourceVersion": "9"}));
        assert_eq!(list["kind"], "PartialObjectMetadataList");
        assert_eq!(list["items"][0]["metadata"]["name"], "s");
        assert!(list["items"][0].get("data").is_none());
    }

    #[test]
    fn the_accept_header_decides() {
        // What kube-rs sends for a metadata list and a metadata watch.
        assert!(wants(
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
            "PartialObjectMetadataList"
        ));
        assert!(wants(
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
            "PartialObjectMetadata"
        ));
        assert!(!wants("application/json", "PartialObjectMetadata"));
        assert!(!wants(
            "application/json;as=Table;v=v1;g=meta.k8s.io",
            "PartialObjectMetadata"
        ));
    }
}
