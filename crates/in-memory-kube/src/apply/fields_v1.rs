//! The FieldsV1 encoding of a field set: `f:<name>`, `k:<json key>`, `v:<json value>`,
//! `i:<index>`, with `.` marking a node that is itself a member and `{}` for leaves.

use serde_json::{Map, Value};

use super::fieldpath::{FieldSet, PathElement};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FieldsV1Error {
    #[error("FieldsV1 must be a JSON object")]
    NotAnObject,
    #[error("invalid FieldsV1 path element {0:?}")]
    BadElement(String),
}

fn encode_element(pe: &PathElement) -> String {
    match pe {
        PathElement::Field(name) => format!("f:{name}"),
        PathElement::Key(fields) => {
            let key: Map<String, Value> = fields.iter().cloned().collect();
            format!("k:{}", Value::Object(key))
        }
        PathElement::Value(value) => format!("v:{value}"),
        PathElement::Index(i) => format!("i:{i}"),
    }
}

fn decode_element(s: &str) -> Result<PathElement, FieldsV1Error> {
    let bad = || FieldsV1Error::BadElement(s.to_owned());
    let (prefix, rest) = s.split_once(':').ok_or_else(bad)?;
    match prefix {
        "f" => Ok(PathElement::Field(rest.to_owned())),
        "k" => match serde_json::from_str::<Value>(rest) {
            Ok(Value::Object(fields)) => Ok(PathElement::Key(fields.into_iter().collect())),
            _ => Err(bad()),
        },
        "v" => serde_json::from_str(rest)
            .map(PathElement::Value)
            .map_err(|_| bad()),
        "i" => rest.parse().map(PathElement::Index).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// Encodes a set as the JSON object stored in `fieldsV1`.
pub(crate) fn encode(set: &FieldSet) -> Value {
    let mut out = Map::new();
    for pe in &set.members {
        if !set.children.contains_key(pe) {
            out.insert(encode_element(pe), Value::Object(Map::new()));
        }
    }
    for (pe, child) in &set.children {
        let mut node = match encode(child) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        if set.members.contains(pe) {
            node.insert(".".to_owned(), Value::Object(Map::new()));
        }
        out.insert(encode_element(pe), Value::Object(node));
    }
    Value::Object(out)
}

/// Decodes a `fieldsV1` object.
pub(crate) fn decode(value: &Value) -> Result<FieldSet, FieldsV1Error> {
    let Value::Object(map) = value else {
        return Err(FieldsV1Error::NotAnObject);
    };
    let mut set = FieldSet::default();
    for (key, node) in map {
        if key == "." {
            continue;
        }
        let pe = decode_element(key)?;
        let Value::Object(inner) = node else {
            return Err(FieldsV1Error::NotAnObject);
        };
        if inner.is_empty() || inner.contains_key(".") {
            set.members.insert(pe.clone());
        }
        set.insert_child(pe, decode(node)?);
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A Deployment's entry as kubectl 1.32 shows it after `kubectl apply --server-side`.
    fn upstream_deployment_apply() -> Value {
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                        ".": {},
                        "f:image": {},
                        "f:name": {},
                        "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                            ".": {},
                            "f:containerPort": {},
                            "f:protocol": {}
                        }}
                    }}}
                }
            }
        })
    }

    #[test]
    fn round_trips_upstream_example() {
        let v = upstream_deployment_apply();
        let set = decode(&v).unwrap();
        assert_eq!(encode(&set), v);
    }

    #[test]
    fn decodes_members_and_children() {
        let v = json!({
            "f:metadata": {"f:finalizers": {".": {}, "v:\"a\"": {}}},
            "f:list": {"i:3": {}}
        });
        let set = decode(&v).unwrap();
        let paths: Vec<String> = set
            .paths()
            .iter()
            .map(|p| super::super::fieldpath::path_to_string(p))
            .collect();
        assert_eq!(
            paths,
            vec![
                ".list[3]",
                ".metadata.finalizers",
                r#".metadata.finalizers[="a"]"#
            ]
        );
    }

    #[test]
    fn rejects_unknown_prefixes() {
        assert_eq!(
            decode(&json!({"x:y": {}})),
            Err(FieldsV1Error::BadElement("x:y".into()))
        );
        assert_eq!(decode(&json!([])), Err(FieldsV1Error::NotAnObject));
    }
}
