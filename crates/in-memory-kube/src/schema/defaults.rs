//! Defaulting: filling in `default`s of absent fields, as the apiserver does while decoding.

use serde_json::Value;

use super::node::Node;

/// Sets the default of every absent (or non-nullable `null`) property, then descends into
/// every field, so defaults nested in a freshly defaulted object apply too.
pub(crate) fn default_value(node: &Node, value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, prop) in &node.properties {
                let Some(default) = &prop.default else {
                    continue;
                };
                let absent = match map.get(key) {
                    None => true,
                    Some(Value::Null) => !prop.nullable,
                    Some(_) => false,
                };
                if absent {
                    map.insert(key.clone(), default.clone());
                }
            }
            for (key, v) in map.iter_mut() {
                if let Some(child) = node.child(key) {
                    default_value(child, v);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_node) = node.items.as_deref() {
                for v in items {
                    default_value(item_node, v);
                }
            }
        }
        _ => {}
    }
}
