//! OpenAPI value validation (types, formats, bounds, enums, junctors), reporting errors
//! with kube-openapi's wording as apiextensions-apiserver turns them into field errors.

use serde_json::Value;

use super::node::{Node, Type};
use super::{FieldError, FieldErrorKind, format_go_float, path};

/// Validates `value` against `node`; `at` is the field path of `value` (empty at the root).
pub(crate) fn validate_value(node: &Node, value: &Value, at: &str, errors: &mut Vec<FieldError>) {
    if let Some(err) = type_error(node, value, at) {
        errors.push(err);
        return;
    }
    if value.is_null() {
        return;
    }
    if let Some(allowed) = &node.enum_values
        && !allowed.contains(value)
    {
        errors.push(FieldError {
            kind: FieldErrorKind::NotSupported,
            field: at.to_owned(),
            bad_value: Some(value.clone()),
            detail: supported_values(allowed),
        });
    }
    match value {
        Value::String(s) => validate_string(node, s, value, at, errors),
        Value::Number(_) => validate_number(node, value, at, errors),
        Value::Array(items) => validate_array(node, items, at, errors),
        Value::Object(map) => validate_object(node, map, value, at, errors),
        Value::Bool(_) | Value::Null => {}
    }
    validate_junctors(node, value, at, errors);
}

fn invalid(at: &str, value: &Value, detail: String) -> FieldError {
    FieldError {
        kind: FieldErrorKind::Invalid,
        field: at.to_owned(),
        bad_value: Some(value.clone()),
        detail,
    }
}

/// The name kube-openapi gives a value's type in type errors.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_integral(value: &Value) -> bool {
    match value {
        Value::Number(n) if n.is_f64() => n.as_f64().is_some_and(|f| f.fract() == 0.0),
        Value::Number(_) => true,
        _ => false,
    }
}

fn type_error(node: &Node, value: &Value, at: &str) -> Option<FieldError> {
    let expected = if node.int_or_string {
        "integer,string"
    } else {
        node.ty?.name()
    };
    let ok = match value {
        Value::Null => node.nullable,
        _ if node.int_or_string => value.is_string() || is_integral(value),
        _ => match node.ty? {
            Type::Object => value.is_object(),
            Type::Array => value.is_array(),
            Type::String => value.is_string(),
            Type::Integer => is_integral(value),
            Type::Number => value.is_number(),
            Type::Boolean => value.is_boolean(),
        },
    };
    (!ok).then(|| {
        let actual = json_type(value);
        FieldError {
            kind: FieldErrorKind::TypeInvalid,
            field: at.to_owned(),
            bad_value: Some(Value::from(actual)),
            detail: format!("{at} in body must be of type {expected}: \"{actual}\""),
        }
    })
}

/// `supported values: "a", "b"`, non-strings as their JSON.
pub(crate) fn supported_values(allowed: &[Value]) -> String {
    let quoted: Vec<String> = allowed
        .iter()
        .map(|v| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Value::from(text).to_string()
        })
        .collect();
    format!("supported values: {}", quoted.join(", "))
}

fn validate_string(node: &Node, s: &str, value: &Value, at: &str, errors: &mut Vec<FieldError>) {
    let chars = s.chars().count() as u64;
    if let Some(max) = node.max_length
        && chars > max
    {
        let unit = if max == 1 { "byte" } else { "bytes" };
        errors.push(FieldError {
            kind: FieldErrorKind::TooLong,
            field: at.to_owned(),
            bad_value: None,
            detail: format!("may not be more than {max} {unit}"),
        });
    }
    if let Some(min) = node.min_length
        && chars < min
    {
        errors.push(invalid(
            at,
            value,
            format!("{at} in body should be at least {min} chars long"),
        ));
    }
    if let Some(p) = &node.pattern
        && !p.regex.is_match(s)
    {
        errors.push(invalid(
            at,
            value,
            format!("{at} in body should match '{}'", p.source),
        ));
    }
    if let Some(format) = node.format.as_deref()
        && !super::formats::string_matches(format, s)
    {
        errors.push(FieldError {
            kind: FieldErrorKind::TypeInvalid,
            field: at.to_owned(),
            bad_value: Some(value.clone()),
            detail: format!("{at} in body must be of type {format}: {}", value),
        });
    }
}

fn validate_number(node: &Node, value: &Value, at: &str, errors: &mut Vec<FieldError>) {
    let Some(n) = value.as_f64() else {
        return;
    };
    let out_of_format = match node.format.as_deref() {
        Some("int32") => value.as_i64().is_none_or(|i| i32::try_from(i).is_err()),
        Some("int64") => value.as_i64().is_none() && n.fract() != 0.0,
        _ => false,
    };
    if let Some(format) = node.format.as_deref()
        && out_of_format
    {
        errors.push(FieldError {
            kind: FieldErrorKind::TypeInvalid,
            field: at.to_owned(),
            bad_value: Some(value.clone()),
            detail: format!("{at} in body must be of type {format}"),
        });
    }
    if let Some(max) = node.maximum {
        if node.exclusive_maximum && n >= max {
            errors.push(invalid(
                at,
                value,
                format!("{at} in body should be less than {}", format_go_float(max)),
            ));
        } else if n > max {
            errors.push(invalid(
                at,
                value,
                format!(
                    "{at} in body should be less than or equal to {}",
                    format_go_float(max)
                ),
            ));
        }
    }
    if let Some(min) = node.minimum {
        if node.exclusive_minimum && n <= min {
            errors.push(invalid(
                at,
                value,
                format!(
                    "{at} in body should be greater than {}",
                    format_go_float(min)
                ),
            ));
        } else if n < min {
            errors.push(invalid(
                at,
                value,
                format!(
                    "{at} in body should be greater than or equal to {}",
                    format_go_float(min)
                ),
            ));
        }
    }
    if let Some(factor) = node.multiple_of
        && factor > 0.0
        && (n / factor).fract() != 0.0
    {
        errors.push(invalid(
            at,
            value,
            format!(
                "{at} in body should be a multiple of {}",
                format_go_float(factor)
            ),
        ));
    }
}

fn too_many(at: &str, actual: usize, max: u64) -> FieldError {
    let unit = if max == 1 { "item" } else { "items" };
    FieldError {
        kind: FieldErrorKind::TooMany,
        field: at.to_owned(),
        bad_value: Some(Value::from(actual)),
        detail: format!("must have at most {max} {unit}"),
    }
}

fn validate_array(node: &Node, items: &[Value], at: &str, errors: &mut Vec<FieldError>) {
    if let Some(max) = node.max_items
        && items.len() as u64 > max
    {
        errors.push(too_many(at, items.len(), max));
    }
    if let Some(min) = node.min_items
        && (items.len() as u64) < min
    {
        errors.push(invalid(
            at,
            &Value::from(items.len()),
            format!("{at} in body should have at least {min} items"),
        ));
    }
    if let Some(item_node) = node.items.as_deref() {
        for (i, item) in items.iter().enumerate() {
            validate_value(item_node, item, &path::index(at, i), errors);
        }
    }
}

fn validate_object(
    node: &Node,
    map: &serde_json::Map<String, Value>,
    value: &Value,
    at: &str,
    errors: &mut Vec<FieldError>,
) {
    if let Some(max) = node.max_properties
        && map.len() as u64 > max
    {
        errors.push(too_many(at, map.len(), max));
    }
    if let Some(min) = node.min_properties
        && (map.len() as u64) < min
    {
        errors.push(invalid(
            at,
            value,
            format!("{at} in body should have at least {min} properties"),
        ));
    }
    for name in &node.required {
        if !map.contains_key(name) {
            errors.push(FieldError {
                kind: FieldErrorKind::Required,
                field: path::child(at, name),
                bad_value: None,
                detail: String::new(),
            });
        }
    }
    if node.embedded_resource {
        for name in ["apiVersion", "kind"] {
            if map
                .get(name)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                errors.push(FieldError {
                    kind: FieldErrorKind::Required,
                    field: path::child(at, name),
                    bad_value: None,
                    detail: "must not be empty".to_owned(),
                });
            }
        }
    }
    for (key, v) in map {
        if node.embedded_resource && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        if let Some(child) = node.child(key) {
            validate_value(child, v, &path::child(at, key), errors);
        }
    }
}

fn validate_junctors(node: &Node, value: &Value, at: &str, errors: &mut Vec<FieldError>) {
    let quoted = Value::from(at).to_string();
    let composite = |detail: String| FieldError {
        kind: FieldErrorKind::Invalid,
        field: at.to_owned(),
        bad_value: Some(Value::from("")),
        detail,
    };
    let run = |branch: &Node| {
        let mut found = Vec::new();
        validate_value(branch, value, at, &mut found);
        found
    };

    let all_of: Vec<FieldError> = node.all_of.iter().flat_map(run).collect();
    if !all_of.is_empty() {
        errors.push(composite(format!(
            "{quoted} must validate all the schemas (allOf)"
        )));
        errors.extend(all_of);
    }
    if !node.any_of.is_empty() {
        let results: Vec<Vec<FieldError>> = node.any_of.iter().map(run).collect();
        if results.iter().all(|r| !r.is_empty()) {
            errors.push(composite(format!(
                "{quoted} must validate at least one schema (anyOf)"
            )));
            errors.extend(fewest(results));
        }
    }
    if !node.one_of.is_empty() {
        let results: Vec<Vec<FieldError>> = node.one_of.iter().map(run).collect();
        let valid = results.iter().filter(|r| r.is_empty()).count();
        if valid == 0 {
            errors.push(composite(format!(
                "{quoted} must validate one and only one schema (oneOf). Found none valid"
            )));
            errors.extend(fewest(results));
        } else if valid > 1 {
            errors.push(composite(format!(
                "{quoted} must validate one and only one schema (oneOf). Found {valid} valid alternatives"
            )));
        }
    }
    if let Some(not) = node.not.as_deref()
        && run(not).is_empty()
    {
        errors.push(composite(format!(
            "{quoted} must not validate the schema (not)"
        )));
    }
}

/// The failures of the branch that came closest to validating, to say what to fix.
fn fewest(results: Vec<Vec<FieldError>>) -> Vec<FieldError> {
    results.into_iter().min_by_key(Vec::len).unwrap_or_default()
}
