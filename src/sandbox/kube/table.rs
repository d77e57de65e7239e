//! `meta.k8s.io/v1` Tables, the server-side printing `kubectl get` asks for.

use serde_json::{Value, json};

use super::resource::ResourceInfo;

/// Whether the client asked for a Table rather than the objects.
pub fn wants_table(accept_header: &str) -> bool {
    accept_header.contains("as=Table")
}

/// The objects as a Table with a Name column.
pub fn to_table(info: &ResourceInfo, objects: &[&Value], list_meta: Value) -> Value {
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            json!({
                "cells": [o.pointer("/metadata/name").cloned().unwrap_or(Value::Null)],
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                           "metadata": o.get("metadata").cloned().unwrap_or(Value::Null)},
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": [{"name": "Name", "type": "string", "format": "name",
                               "description": format!("Name of the {}", info.kind), "priority": 0}],
        "rows": rows,
    })
}
