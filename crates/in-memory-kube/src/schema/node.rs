//! Compiling an `openAPIV3Schema` into a tree of typed nodes, rejecting schemas that
//! are not structural the way apiextensions-apiserver does.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::Value;

use super::cel::Rule;
use super::{FieldError, FieldErrorKind};

/// The `type` of a structural schema node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Type {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
}

impl Type {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "object" => Self::Object,
            "array" => Self::Array,
            "string" => Self::String,
            "integer" => Self::Integer,
            "number" => Self::Number,
            "boolean" => Self::Boolean,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Object => "object",
            Self::Array => "array",
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
        }
    }
}

/// `x-kubernetes-list-type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListType {
    Atomic,
    Set,
    Map(Vec<String>),
}

#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    pub source: String,
    pub regex: Regex,
}

/// One compiled schema node. Value validations nested in `allOf`/`anyOf`/`oneOf`/`not`
/// are nodes too; they never carry structure of their own.
#[derive(Debug, Default)]
pub(crate) struct Node {
    pub ty: Option<Type>,
    pub format: Option<String>,
    pub nullable: bool,
    pub int_or_string: bool,
    pub preserve_unknown: bool,
    pub embedded_resource: bool,
    pub properties: BTreeMap<String, Node>,
    pub additional_properties: Option<Box<Node>>,
    pub items: Option<Box<Node>>,
    pub required: Vec<String>,
    pub enum_values: Option<Vec<Value>>,
    pub maximum: Option<f64>,
    pub exclusive_maximum: bool,
    pub minimum: Option<f64>,
    pub exclusive_minimum: bool,
    pub multiple_of: Option<f64>,
    pub max_length: Option<u64>,
    pub min_length: Option<u64>,
    pub pattern: Option<Pattern>,
    pub max_items: Option<u64>,
    pub min_items: Option<u64>,
    pub max_properties: Option<u64>,
    pub min_properties: Option<u64>,
    pub all_of: Vec<Node>,
    pub any_of: Vec<Node>,
    pub one_of: Vec<Node>,
    pub not: Option<Box<Node>>,
    pub default: Option<Value>,
    pub list_type: Option<ListType>,
    pub map_atomic: bool,
    pub rules: Vec<Rule>,
    /// Whether this node or one below it carries CEL rules, so evaluation skips the rest.
    pub has_rules: bool,
}

impl Node {
    /// The schema of the value stored under `key` of an object this node describes.
    pub(crate) fn child(&self, key: &str) -> Option<&Node> {
        self.properties
            .get(key)
            .or(self.additional_properties.as_deref())
    }
}

/// Where in the schema a node sits, for compile errors (`openAPIV3Schema.properties[spec]`).
struct SchemaPath(String);

impl SchemaPath {
    fn child(&self, name: &str) -> Self {
        Self(format!("{}.{name}", self.0))
    }

    fn key(&self, name: &str) -> Self {
        Self(format!("{}[{name}]", self.0))
    }

    fn index(&self, i: usize) -> Self {
        Self(format!("{}[{i}]", self.0))
    }
}

/// Which position a node has, since the structural rules differ between them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Position {
    Root,
    Structural,
    /// Inside `allOf`/`anyOf`/`oneOf`/`not`: value validations only.
    ValueValidation,
}

/// Compiles the root schema.
pub(crate) fn compile_root(schema: &Value) -> Result<Node, Vec<FieldError>> {
    let mut errors = Vec::new();
    let path = SchemaPath("openAPIV3Schema".to_owned());
    let node = compile(schema, &path, Position::Root, &mut errors);
    if node.ty != Some(Type::Object) && errors.is_empty() {
        errors.push(FieldError {
            kind: FieldErrorKind::Invalid,
            field: path.child("type").0,
            bad_value: Some(schema.get("type").cloned().unwrap_or(Value::from(""))),
            detail: "must be object at the root".to_owned(),
        });
    }
    if errors.is_empty() {
        Ok(node)
    } else {
        Err(errors)
    }
}

fn forbidden(path: &SchemaPath, detail: &str) -> FieldError {
    FieldError {
        kind: FieldErrorKind::Forbidden,
        field: path.0.clone(),
        bad_value: None,
        detail: detail.to_owned(),
    }
}

fn invalid(path: &SchemaPath, value: &Value, detail: impl Into<String>) -> FieldError {
    FieldError {
        kind: FieldErrorKind::Invalid,
        field: path.0.clone(),
        bad_value: Some(value.clone()),
        detail: detail.into(),
    }
}

fn number(
    obj: &serde_json::Map<String, Value>,
    key: &str,
    path: &SchemaPath,
    errors: &mut Vec<FieldError>,
) -> Option<f64> {
    let v = obj.get(key)?;
    let n = v.as_f64();
    if n.is_none() {
        errors.push(invalid(&path.child(key), v, "must be a number"));
    }
    n
}

fn count(
    obj: &serde_json::Map<String, Value>,
    key: &str,
    path: &SchemaPath,
    errors: &mut Vec<FieldError>,
) -> Option<u64> {
    let v = obj.get(key)?;
    let n = v.as_u64();
    if n.is_none() {
        errors.push(invalid(
            &path.child(key),
            v,
            "must be a non-negative integer",
        ));
    }
    n
}

fn flag(obj: &serde_json::Map<String, Value>, key: &str) -> bool {
    obj.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn compile(
    schema: &Value,
    path: &SchemaPath,
    position: Position,
    errors: &mut Vec<FieldError>,
) -> Node {
    let Some(obj) = schema.as_object() else {
        errors.push(invalid(path, schema, "must be a schema object"));
        return Node::default();
    };
    let mut node = Node {
        nullable: flag(obj, "nullable"),
        int_or_string: flag(obj, "x-kubernetes-int-or-string"),
        preserve_unknown: flag(obj, "x-kubernetes-preserve-unknown-fields"),
        embedded_resource: flag(obj, "x-kubernetes-embedded-resource"),
        map_atomic: obj.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic"),
        default: obj.get("default").cloned(),
        format: obj.get("format").and_then(Value::as_str).map(str::to_owned),
        ..Node::default()
    };

    match obj.get("type") {
        Some(Value::String(t)) => match Type::parse(t) {
            Some(ty) => node.ty = Some(ty),
            None => errors.push(FieldError {
                kind: FieldErrorKind::NotSupported,
                field: path.child("type").0,
                bad_value: Some(Value::from(t.as_str())),
                detail: r#"supported values: "array", "boolean", "integer", "number", "object", "string""#.to_owned(),
            }),
        },
        Some(other) => errors.push(invalid(&path.child("type"), other, "must be a string")),
        None => {}
    }

    if position == Position::ValueValidation {
        for key in [
            "type",
            "nullable",
            "default",
            "additionalProperties",
            "x-kubernetes-preserve-unknown-fields",
            "x-kubernetes-embedded-resource",
            "x-kubernetes-int-or-string",
            "x-kubernetes-validations",
            "x-kubernetes-list-type",
            "x-kubernetes-map-type",
        ] {
            if obj.contains_key(key) {
                errors.push(forbidden(
                    &path.child(key),
                    "must be empty to be structural",
                ));
            }
        }
    } else if node.ty.is_none() && !node.int_or_string && !node.preserve_unknown {
        errors.push(FieldError {
            kind: FieldErrorKind::Required,
            field: path.child("type").0,
            bad_value: None,
            detail: "must not be empty for specified object fields".to_owned(),
        });
    }

    if node.int_or_string && node.ty.is_some() {
        errors.push(forbidden(
            &path.child("type"),
            "must be empty if x-kubernetes-int-or-string is true",
        ));
    }
    if node.embedded_resource && node.ty != Some(Type::Object) {
        errors.push(FieldError {
            kind: FieldErrorKind::Required,
            field: path.child("type").0,
            bad_value: None,
            detail: "must be object if x-kubernetes-embedded-resource is true".to_owned(),
        });
    }
    if flag(obj, "uniqueItems") {
        errors.push(forbidden(
            &path.child("uniqueItems"),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }
    for key in [
        "$ref",
        "additionalItems",
        "patternProperties",
        "dependencies",
        "definitions",
        "id",
    ] {
        if obj.contains_key(key) {
            errors.push(forbidden(
                &path.child(key),
                &format!("{key} is not supported"),
            ));
        }
    }

    if let Some(props) = obj.get("properties") {
        match props.as_object() {
            Some(props) => {
                for (name, prop) in props {
                    let child = compile(
                        prop,
                        &path.child("properties").key(name),
                        position.nested(),
                        errors,
                    );
                    node.properties.insert(name.clone(), child);
                }
            }
            None => errors.push(invalid(
                &path.child("properties"),
                props,
                "must be an object",
            )),
        }
    }
    match obj.get("additionalProperties") {
        Some(Value::Object(_)) if !node.properties.is_empty() => errors.push(forbidden(
            &path.child("additionalProperties"),
            "additionalProperties and properties are mutual exclusive",
        )),
        Some(ap @ Value::Object(_)) => {
            let child = compile(
                ap,
                &path.child("additionalProperties"),
                position.nested(),
                errors,
            );
            node.additional_properties = Some(Box::new(child));
        }
        // `true` keeps every unknown field, like x-kubernetes-preserve-unknown-fields.
        Some(Value::Bool(true)) => node.preserve_unknown = true,
        Some(Value::Bool(false)) | None => {}
        Some(other) => errors.push(invalid(
            &path.child("additionalProperties"),
            other,
            "must be a schema or a boolean",
        )),
    }
    if let Some(items) = obj.get("items") {
        if items.is_array() {
            errors.push(forbidden(
                &path.child("items"),
                "items must be a schema object and not an array",
            ));
        } else {
            node.items = Some(Box::new(compile(
                items,
                &path.child("items"),
                position.nested(),
                errors,
            )));
        }
    } else if node.ty == Some(Type::Array) && position != Position::ValueValidation {
        errors.push(FieldError {
            kind: FieldErrorKind::Required,
            field: path.child("items").0,
            bad_value: None,
            detail: "must be specified".to_owned(),
        });
    }

    if let Some(req) = obj.get("required") {
        match req
            .as_array()
            .map(|r| r.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
        {
            Some(Some(names)) => node.required = names.into_iter().map(str::to_owned).collect(),
            _ => errors.push(invalid(
                &path.child("required"),
                req,
                "must be a list of strings",
            )),
        }
    }
    if let Some(values) = obj.get("enum") {
        match values.as_array() {
            Some(values) => node.enum_values = Some(values.clone()),
            None => errors.push(invalid(&path.child("enum"), values, "must be a list")),
        }
    }
    node.maximum = number(obj, "maximum", path, errors);
    node.minimum = number(obj, "minimum", path, errors);
    node.multiple_of = number(obj, "multipleOf", path, errors);
    node.exclusive_maximum = flag(obj, "exclusiveMaximum");
    node.exclusive_minimum = flag(obj, "exclusiveMinimum");
    node.max_length = count(obj, "maxLength", path, errors);
    node.min_length = count(obj, "minLength", path, errors);
    node.max_items = count(obj, "maxItems", path, errors);
    node.min_items = count(obj, "minItems", path, errors);
    node.max_properties = count(obj, "maxProperties", path, errors);
    node.min_properties = count(obj, "minProperties", path, errors);
    if let Some(p) = obj.get("pattern") {
        match p.as_str().map(|s| (s, Regex::new(s))) {
            Some((s, Ok(regex))) => {
                node.pattern = Some(Pattern {
                    source: s.to_owned(),
                    regex,
                })
            }
            Some((_, Err(e))) => errors.push(invalid(
                &path.child("pattern"),
                p,
                format!("must be a valid regular expression, but isn't: {e}"),
            )),
            None => errors.push(invalid(&path.child("pattern"), p, "must be a string")),
        }
    }

    for (key, target) in [
        ("allOf", &mut node.all_of),
        ("anyOf", &mut node.any_of),
        ("oneOf", &mut node.one_of),
    ] {
        if let Some(list) = obj.get(key) {
            match list.as_array() {
                Some(list) => {
                    for (i, s) in list.iter().enumerate() {
                        target.push(compile(
                            s,
                            &path.child(key).index(i),
                            Position::ValueValidation,
                            errors,
                        ));
                    }
                }
                None => errors.push(invalid(&path.child(key), list, "must be a list of schemas")),
            }
        }
    }
    if let Some(not) = obj.get("not") {
        node.not = Some(Box::new(compile(
            not,
            &path.child("not"),
            Position::ValueValidation,
            errors,
        )));
    }

    node.list_type = list_type(obj, &node, path, errors);
    if let Some(rules) = obj.get("x-kubernetes-validations") {
        node.rules =
            super::cel::compile_rules(rules, &path.child("x-kubernetes-validations").0, errors);
    }
    if let Some(default) = &node.default {
        check_default(&node, default, path, position, errors);
    }
    node.has_rules = !node.rules.is_empty()
        || node.properties.values().any(|p| p.has_rules)
        || node
            .additional_properties
            .as_ref()
            .is_some_and(|n| n.has_rules)
        || node.items.as_ref().is_some_and(|n| n.has_rules);
    node
}

impl Position {
    fn nested(self) -> Self {
        match self {
            Self::ValueValidation => Self::ValueValidation,
            Self::Root | Self::Structural => Self::Structural,
        }
    }
}

fn list_type(
    obj: &serde_json::Map<String, Value>,
    node: &Node,
    path: &SchemaPath,
    errors: &mut Vec<FieldError>,
) -> Option<ListType> {
    let raw = obj.get("x-kubernetes-list-type")?;
    let field = path.child("x-kubernetes-list-type");
    if node.ty != Some(Type::Array) {
        errors.push(invalid(&field, raw, "must only be used if type is array"));
        return None;
    }
    match raw.as_str() {
        Some("atomic") => Some(ListType::Atomic),
        Some("set") => Some(ListType::Set),
        Some("map") => {
            let keys: Vec<String> = obj
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|k| {
                    k.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            if keys.is_empty() {
                errors.push(FieldError {
                    kind: FieldErrorKind::Required,
                    field: path.child("x-kubernetes-list-map-keys").0,
                    bad_value: None,
                    detail: "must not be empty if x-kubernetes-list-type is map".to_owned(),
                });
            }
            Some(ListType::Map(keys))
        }
        _ => {
            errors.push(FieldError {
                kind: FieldErrorKind::NotSupported,
                field: field.0,
                bad_value: Some(raw.clone()),
                detail: r#"supported values: "atomic", "set", "map""#.to_owned(),
            });
            None
        }
    }
}

/// Upstream rejects a `default` that has unknown fields or does not validate against its schema.
fn check_default(
    node: &Node,
    default: &Value,
    path: &SchemaPath,
    position: Position,
    errors: &mut Vec<FieldError>,
) {
    let default_path = path.child("default");
    if position == Position::Root {
        errors.push(forbidden(&default_path, "must not be set at the root"));
        return;
    }
    let mut value = default.clone();
    let mut unknown = Vec::new();
    super::prune::prune_value(node, &mut value, &default_path.0, &mut unknown);
    if !unknown.is_empty() {
        errors.push(invalid(
            &default_path,
            default,
            format!("must not have unknown fields: {}", unknown.join(", ")),
        ));
        return;
    }
    super::defaults::default_value(node, &mut value);
    super::openapi::validate_value(node, &value, &default_path.0, errors);
}
