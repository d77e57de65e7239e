//! Pruning: dropping fields a structural schema does not declare, as the apiserver does
//! while decoding a custom resource.

use serde_json::Value;

use super::node::Node;
use super::path;

/// Prunes `value` in place. Unknown fields are recorded in `pruned` by path; non-nullable
/// `null`s without a default are dropped silently, as upstream does before defaulting.
pub(crate) fn prune_value(node: &Node, value: &mut Value, at: &str, pruned: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            map.retain(|key, v| {
                if node.embedded_resource && is_embedded_meta(key, v) {
                    return true;
                }
                if let Some(prop) = node.properties.get(key) {
                    return !(v.is_null() && !prop.nullable && prop.default.is_none());
                }
                if node.additional_properties.is_some() || node.preserve_unknown {
                    return true;
                }
                pruned.push(path::child(at, key));
                false
            });
            for (key, v) in map.iter_mut() {
                if node.embedded_resource && is_embedded_meta(key, v) {
                    continue;
                }
                if let Some(child) = node.child(key) {
                    prune_value(child, v, &path::child(at, key), pruned);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_node) = node.items.as_deref() {
                for (i, v) in items.iter_mut().enumerate() {
                    prune_value(item_node, v, &path::index(at, i), pruned);
                }
            }
        }
        _ => {}
    }
}

/// An embedded resource keeps its type and object metadata whatever its schema says.
fn is_embedded_meta(key: &str, value: &Value) -> bool {
    match key {
        "apiVersion" | "kind" => value.is_string(),
        "metadata" => value.is_object(),
        _ => false,
    }
}
