//! Structural schemas of custom resources: pruning, defaulting, validation and CEL rules.

mod cel;
mod defaults;
mod formats;
mod node;
mod openapi;
mod path;
mod prune;

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use node::{ListType, Node};

/// One invalid field, reported the way upstream's `field.Error` is.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub kind: FieldErrorKind,
    /// Dotted path such as `spec.gcore.userId` or `spec.items[2].name`.
    pub field: String,
    pub bad_value: Option<Value>,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    Invalid,
    Required,
    NotSupported,
    TooLong,
    TooMany,
    Forbidden,
    Duplicate,
    TypeInvalid,
}

impl FieldErrorKind {
    /// The `reason` of a `StatusCause`, e.g. `FieldValueInvalid`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Invalid => "FieldValueInvalid",
            Self::Required => "FieldValueRequired",
            Self::NotSupported => "FieldValueNotSupported",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::Forbidden => "FieldValueForbidden",
            Self::Duplicate => "FieldValueDuplicate",
            Self::TypeInvalid => "FieldValueTypeInvalid",
        }
    }
}

impl FieldErrorKind {
    /// How upstream's `field.ErrorType` prints itself.
    fn label(self) -> &'static str {
        match self {
            Self::Invalid | Self::TypeInvalid => "Invalid value",
            Self::Required => "Required value",
            Self::NotSupported => "Unsupported value",
            Self::TooLong => "Too long",
            Self::TooMany => "Too many",
            Self::Forbidden => "Forbidden",
            Self::Duplicate => "Duplicate value",
        }
    }
}

impl FieldError {
    /// The message of a `StatusCause` (everything after `field: `), as upstream's
    /// `field.Error.ErrorBody()` builds it.
    pub fn message(&self) -> String {
        let mut body = self.kind.label().to_owned();
        let shows_value = !matches!(
            self.kind,
            FieldErrorKind::Required | FieldErrorKind::Forbidden | FieldErrorKind::TooLong
        );
        if shows_value && let Some(value) = &self.bad_value {
            body.push_str(": ");
            body.push_str(&format_go_value(value));
        }
        if !self.detail.is_empty() {
            body.push_str(": ");
            body.push_str(&self.detail);
        }
        body
    }
}

/// A bad value as upstream's `field.Error` prints it: `%v` for numbers and booleans, `%q`
/// for strings, JSON (keys sorted, as Go's encoder writes maps; nil is `null`) for anything
/// else.
fn format_go_value(value: &Value) -> String {
    match value {
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => n.as_f64().map_or_else(|| n.to_string(), format_go_float),
        },
        Value::Bool(_) | Value::String(_) | Value::Null => value.to_string(),
        Value::Array(_) | Value::Object(_) => sorted_json(value),
    }
}

fn sorted_json(value: &Value) -> String {
    match value {
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(sorted_json).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::from(k.as_str()), sorted_json(&map[k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        other => other.to_string(),
    }
}

/// A float as Go's `%v` prints it: shortest digits, exponent form from 1e+06 and below 1e-04.
pub(crate) fn format_go_float(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return f.to_string();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        f.to_string()
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message())
    }
}

/// A compiled `openAPIV3Schema` of one served version of a CRD.
#[derive(Debug, Clone)]
pub struct Schema {
    root: Arc<Node>,
}

impl Schema {
    /// Compiles the schema and its CEL rules; an error makes the CRD invalid. Error paths
    /// start at `openAPIV3Schema`, for the caller to put under the version's path.
    pub fn compile(open_api_v3_schema: &Value) -> Result<Self, Vec<FieldError>> {
        node::compile_root(open_api_v3_schema).map(|root| Self {
            root: Arc::new(root),
        })
    }

    /// Removes fields the schema does not declare (never `apiVersion`, `kind`, `metadata`
    /// at the root) and returns their paths, e.g. `spec.foo`, for field validation.
    pub fn prune(&self, obj: &mut Value) -> Vec<String> {
        let mut pruned = Vec::new();
        let Value::Object(map) = obj else {
            return pruned;
        };
        map.retain(|key, v| {
            if is_root_meta(key) {
                return true;
            }
            match self.root.properties.get(key) {
                Some(prop) => !(v.is_null() && !prop.nullable && prop.default.is_none()),
                None if self.root.preserve_unknown => true,
                None => {
                    pruned.push(key.clone());
                    false
                }
            }
        });
        for (key, v) in map.iter_mut() {
            if let Some(prop) = self.root.properties.get(key).filter(|_| !is_root_meta(key)) {
                prune::prune_value(prop, v, key, &mut pruned);
            }
        }
        pruned
    }

    /// Fills in `default`s where fields are absent.
    pub fn apply_defaults(&self, obj: &mut Value) {
        let Value::Object(map) = obj else {
            return;
        };
        let metadata = map.remove("metadata");
        defaults::default_value(&self.root, obj);
        if let (Some(meta), Value::Object(map)) = (metadata, obj) {
            map.insert("metadata".to_owned(), meta);
        }
    }

    /// Validates `obj`; with `old`, transition rules (`oldSelf`) are evaluated too.
    pub fn validate(&self, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let Some(map) = obj.as_object() else {
            errors.push(FieldError {
                kind: FieldErrorKind::TypeInvalid,
                field: String::new(),
                bad_value: Some(obj.clone()),
                detail: "must be an object".to_owned(),
            });
            return errors;
        };
        for name in &self.root.required {
            if !map.contains_key(name) {
                errors.push(FieldError {
                    kind: FieldErrorKind::Required,
                    field: name.clone(),
                    bad_value: None,
                    detail: String::new(),
                });
            }
        }
        for (key, v) in map {
            if is_root_meta(key) {
                continue;
            }
            if let Some(prop) = self.root.properties.get(key) {
                openapi::validate_value(prop, v, key, &mut errors);
            }
        }
        // As upstream's hasBlockingErr (apiextensions-apiserver, customresource strategy):
        // where the schema has rules, they are not evaluated on an object of the wrong
        // shape, and the caller is told.
        let blocking = self.root.has_rules
            && errors.iter().any(|e| {
                matches!(
                    e.kind,
                    FieldErrorKind::NotSupported
                        | FieldErrorKind::Required
                        | FieldErrorKind::TooLong
                        | FieldErrorKind::TooMany
                        | FieldErrorKind::TypeInvalid
                )
            });
        if blocking {
            errors.push(FieldError {
                kind: FieldErrorKind::Invalid,
                field: "<nil>".to_owned(),
                bad_value: Some(Value::Null),
                detail: "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation".to_owned(),
            });
        } else {
            cel::evaluate(&self.root, obj, old, &mut errors);
        }
        errors
    }

    /// The schema node at `path`, stepping through list items and map values silently.
    fn node_at(&self, path: &[&str]) -> Option<&Node> {
        let mut node = self.root.as_ref();
        for step in path {
            while let Some(items) = node.items.as_deref() {
                node = items;
            }
            node = node.child(step)?;
        }
        Some(node)
    }
}

/// `apiVersion`, `kind` and `metadata` of the resource itself are the apiserver's, not the schema's.
fn is_root_meta(key: &str) -> bool {
    matches!(key, "apiVersion" | "kind" | "metadata")
}

impl super::apply::FieldTypes for Schema {
    fn list_kind(&self, path: &[&str]) -> super::apply::ListKind {
        match self.node_at(path).and_then(|n| n.list_type.as_ref()) {
            Some(ListType::Set) => super::apply::ListKind::Set,
            Some(ListType::Map(keys)) => super::apply::ListKind::Map(keys.clone()),
            Some(ListType::Atomic) | None => super::apply::ListKind::Atomic,
        }
    }

    fn map_is_atomic(&self, path: &[&str]) -> bool {
        self.node_at(path).is_some_and(|n| n.map_atomic)
    }
}

#[cfg(test)]
mod tests;
