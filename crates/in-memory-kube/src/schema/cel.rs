//! `x-kubernetes-validations`: compiling CEL rules once per schema and evaluating them
//! against values typed by the schema (integer vs double, timestamps, durations), with
//! `oldSelf` bound for transition rules when the field existed before.

use std::collections::HashMap;
use std::sync::Arc;

use cel::{Context, Program};
use kube_cel::KubeCelExt;
use serde_json::Value;

use super::node::{ListType, Node, Type};
use super::{FieldError, FieldErrorKind, path};

/// One compiled rule.
#[derive(Debug)]
pub(crate) struct Rule {
    source: String,
    program: Program,
    message: Option<String>,
    message_program: Option<Program>,
    field_path: Option<String>,
    reason: Reason,
    /// Uses `oldSelf`: evaluated only on updates where the field existed before.
    transition: bool,
}

/// The `reason` a failing rule reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    Invalid,
    Forbidden,
    Required,
    Duplicate,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRule {
    rule: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    message_expression: Option<String>,
    #[serde(default)]
    field_path: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

fn compile_error(at: &str, value: &Value, detail: String) -> FieldError {
    FieldError {
        kind: FieldErrorKind::Invalid,
        field: at.to_owned(),
        bad_value: Some(value.clone()),
        detail,
    }
}

/// Compiles the rules of one schema node; `at` is the schema path of the rule list.
pub(crate) fn compile_rules(raw: &Value, at: &str, errors: &mut Vec<FieldError>) -> Vec<Rule> {
    let Some(list) = raw.as_array() else {
        errors.push(compile_error(at, raw, "must be a list of rules".to_owned()));
        return Vec::new();
    };
    let mut rules = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let item_at = path::index(at, i);
        let parsed: RawRule = match serde_json::from_value(item.clone()) {
            Ok(r) => r,
            Err(e) => {
                errors.push(compile_error(&item_at, item, format!("invalid rule: {e}")));
                continue;
            }
        };
        if let Some(rule) = compile_rule(parsed, &item_at, errors) {
            rules.push(rule);
        }
    }
    rules
}

fn compile_rule(raw: RawRule, at: &str, errors: &mut Vec<FieldError>) -> Option<Rule> {
    let rule_at = path::child(at, "rule");
    if raw.rule.trim().is_empty() {
        errors.push(FieldError {
            kind: FieldErrorKind::Required,
            field: rule_at,
            bad_value: None,
            detail: String::new(),
        });
        return None;
    }
    let program = match Program::compile(&raw.rule) {
        Ok(p) => p,
        Err(e) => {
            errors.push(compile_error(
                &rule_at,
                &Value::from(raw.rule.as_str()),
                format!("compilation failed: {e}"),
            ));
            return None;
        }
    };
    let message_program = match raw.message_expression.as_deref() {
        Some(expr) => match Program::compile(expr) {
            Ok(p) => Some(p),
            Err(e) => {
                errors.push(compile_error(
                    &path::child(at, "messageExpression"),
                    &Value::from(expr),
                    format!("messageExpression compilation failed: {e}"),
                ));
                return None;
            }
        },
        None => None,
    };
    let reason = match raw.reason.as_deref() {
        None | Some("FieldValueInvalid") => Reason::Invalid,
        Some("FieldValueForbidden") => Reason::Forbidden,
        Some("FieldValueRequired") => Reason::Required,
        Some("FieldValueDuplicate") => Reason::Duplicate,
        Some(other) => {
            errors.push(FieldError {
                kind: FieldErrorKind::NotSupported,
                field: path::child(at, "reason"),
                bad_value: Some(Value::from(other)),
                detail: r#"supported values: "FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired""#.to_owned(),
            });
            return None;
        }
    };
    if let Some(fp) = raw.field_path.as_deref()
        && !(fp.starts_with('.') || fp.starts_with('['))
    {
        errors.push(compile_error(
            &path::child(at, "fieldPath"),
            &Value::from(fp),
            "must be a valid path starting with '.' or '['".to_owned(),
        ));
        return None;
    }
    let transition = program.references().has_variable("oldSelf");
    Some(Rule {
        source: raw.rule,
        program,
        message: raw.message.filter(|m| !m.trim().is_empty()),
        message_program,
        field_path: raw.field_path,
        reason,
        transition,
    })
}

thread_local! {
    /// The standard library plus the Kubernetes extension functions, built once per thread.
    static BASE: Context<'static> = Context::default().with_all();
}

/// Evaluates every rule of the tree under `node` against `value` (at field path `at`).
pub(crate) fn evaluate(
    node: &Node,
    value: &Value,
    old: Option<&Value>,
    errors: &mut Vec<FieldError>,
) {
    BASE.with(|base| walk(base, node, value, old, "", errors));
}

fn walk(
    base: &Context<'_>,
    node: &Node,
    value: &Value,
    old: Option<&Value>,
    at: &str,
    errors: &mut Vec<FieldError>,
) {
    if !node.has_rules {
        return;
    }
    // Ratcheting: an unchanged value keeps passing whatever the rules say now.
    if old == Some(value) {
        return;
    }
    if !node.rules.is_empty() {
        evaluate_rules(base, node, value, old, at, errors);
    }
    match value {
        Value::Object(map) => {
            let is_map = node.properties.is_empty() && node.additional_properties.is_some();
            for (key, v) in map {
                if node.embedded_resource
                    && matches!(key.as_str(), "apiVersion" | "kind" | "metadata")
                {
                    continue;
                }
                let Some(child) = node.child(key) else {
                    continue;
                };
                let child_at = if is_map {
                    path::key(at, key)
                } else {
                    path::child(at, key)
                };
                let child_old = old.and_then(|o| o.get(key));
                walk(base, child, v, child_old, &child_at, errors);
            }
        }
        Value::Array(items) => {
            let Some(item_node) = node.items.as_deref() else {
                return;
            };
            let old_items = old.and_then(Value::as_array);
            for (i, item) in items.iter().enumerate() {
                let item_old = old_items.and_then(|o| correlate(node.list_type.as_ref(), item, o));
                walk(base, item_node, item, item_old, &path::index(at, i), errors);
            }
        }
        _ => {}
    }
}

/// The old list element an element corresponds to: by key for map lists, by value for
/// sets; elements of atomic lists have no old counterpart.
fn correlate<'a>(
    list_type: Option<&ListType>,
    item: &Value,
    old: &'a [Value],
) -> Option<&'a Value> {
    match list_type? {
        ListType::Atomic => None,
        ListType::Set => old.iter().find(|o| *o == item),
        ListType::Map(keys) => old
            .iter()
            .find(|o| keys.iter().all(|k| o.get(k) == item.get(k))),
    }
}

fn evaluate_rules(
    base: &Context<'_>,
    node: &Node,
    value: &Value,
    old: Option<&Value>,
    at: &str,
    errors: &mut Vec<FieldError>,
) {
    let is_root = at.is_empty();
    let mut scope = base.new_inner_scope();
    scope.add_variable_from_value("self", to_cel(Some(node), value, is_root));
    if let Some(old) = old {
        scope.add_variable_from_value("oldSelf", to_cel(Some(node), old, is_root));
    }
    // Upstream shows a scalar's value and leaves composites out.
    let shown = match value {
        Value::Object(_) | Value::Array(_) => None,
        scalar => Some(scalar.clone()),
    };
    for rule in &node.rules {
        if rule.transition && old.is_none() {
            continue;
        }
        let detail = match rule.program.execute(&scope) {
            Ok(cel::Value::Bool(true)) => continue,
            Ok(cel::Value::Bool(false)) => rule_message(rule, &scope),
            Ok(_) => format!(
                "rule did not evaluate to a bool evaluating rule: {}",
                rule.source.trim()
            ),
            Err(e) => format!("{e} evaluating rule: {}", rule.source.trim()),
        };
        let field = match rule.field_path.as_deref() {
            Some(fp) if fp.starts_with('.') => path::child(at, &fp[1..]),
            Some(fp) => format!("{at}{fp}"),
            None => at.to_owned(),
        };
        errors.push(match rule.reason {
            Reason::Invalid => FieldError {
                kind: FieldErrorKind::Invalid,
                field,
                bad_value: shown.clone(),
                detail,
            },
            Reason::Forbidden => FieldError {
                kind: FieldErrorKind::Forbidden,
                field,
                bad_value: None,
                detail,
            },
            Reason::Required => FieldError {
                kind: FieldErrorKind::Required,
                field,
                bad_value: None,
                detail,
            },
            Reason::Duplicate => FieldError {
                kind: FieldErrorKind::Duplicate,
                field,
                bad_value: shown.clone(),
                detail: String::new(),
            },
        });
    }
}

/// `messageExpression` when it yields a non-empty string, else `message`, else the rule.
fn rule_message(rule: &Rule, scope: &Context<'_>) -> String {
    if let Some(program) = &rule.message_program
        && let Ok(cel::Value::String(s)) = program.execute(scope)
        && !s.trim().is_empty()
    {
        return s.trim().to_owned();
    }
    match &rule.message {
        Some(m) => m.clone(),
        None => format!("failed rule: {}", rule.source.trim()),
    }
}

/// Converts JSON to a CEL value of the type the schema declares; without a schema
/// (preserved unknown fields) the JSON's own shape decides.
fn to_cel(node: Option<&Node>, value: &Value, is_root: bool) -> cel::Value {
    let Some(node) = node else {
        return dynamic(value);
    };
    match value {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => match node.ty {
            Some(Type::Number) => n.as_f64().map_or(cel::Value::Null, cel::Value::Float),
            _ => match n.as_i64() {
                Some(i) => cel::Value::Int(i),
                // A whole number sent as `5.0` is still an integer field.
                None => n
                    .as_f64()
                    .filter(|f| f.fract() == 0.0 && node.ty == Some(Type::Integer))
                    .map_or_else(|| dynamic(value), |f| cel::Value::Int(f as i64)),
            },
        },
        Value::String(s) => typed_string(node.format.as_deref(), s),
        Value::Array(items) => cel::Value::List(Arc::new(
            items
                .iter()
                .map(|v| to_cel(node.items.as_deref(), v, false))
                .collect(),
        )),
        Value::Object(map) => {
            let mut out: HashMap<cel::objects::Key, cel::Value> = HashMap::with_capacity(map.len());
            for (key, v) in map {
                let embedded_meta = node.embedded_resource
                    && matches!(key.as_str(), "apiVersion" | "kind" | "metadata");
                let converted = if is_root && key == "metadata" {
                    root_metadata(v)
                } else if embedded_meta {
                    dynamic(v)
                } else if let Some(prop) = node.properties.get(key) {
                    out.insert(escape_property(key).into(), to_cel(Some(prop), v, false));
                    continue;
                } else if let Some(ap) = node.additional_properties.as_deref() {
                    to_cel(Some(ap), v, false)
                } else {
                    dynamic(v)
                };
                out.insert(key.clone().into(), converted);
            }
            cel::Value::Map(cel::objects::Map { map: Arc::new(out) })
        }
    }
}

/// At the root, rules see only `metadata.name` and `metadata.generateName`.
fn root_metadata(meta: &Value) -> cel::Value {
    let mut out: HashMap<cel::objects::Key, cel::Value> = HashMap::new();
    for key in ["name", "generateName"] {
        if let Some(Value::String(s)) = meta.get(key) {
            out.insert(key.into(), cel::Value::String(Arc::new(s.clone())));
        }
    }
    cel::Value::Map(cel::objects::Map { map: Arc::new(out) })
}

fn dynamic(value: &Value) -> cel::Value {
    match value {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => cel::Value::Int(i),
            (None, Some(u)) => cel::Value::UInt(u),
            (None, None) => n.as_f64().map_or(cel::Value::Null, cel::Value::Float),
        },
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Array(items) => cel::Value::List(Arc::new(items.iter().map(dynamic).collect())),
        Value::Object(map) => {
            let out: HashMap<cel::objects::Key, cel::Value> = map
                .iter()
                .map(|(k, v)| (k.clone().into(), dynamic(v)))
                .collect();
            cel::Value::Map(cel::objects::Map { map: Arc::new(out) })
        }
    }
}

thread_local! {
    /// Parses `date-time` and `duration` strings with CEL's own conversions.
    static CONVERSIONS: Option<(Program, Program)> =
        Program::compile("timestamp(s)").ok().zip(Program::compile("duration(s)").ok());
}

/// Strings with a time format are timestamps/durations in CEL, as upstream types them;
/// a string that does not parse stays a string (the format check reports it).
fn typed_string(format: Option<&str>, s: &str) -> cel::Value {
    let plain = || cel::Value::String(Arc::new(s.to_owned()));
    let which = match format {
        Some("date-time" | "datetime") => 0,
        Some("duration") => 1,
        _ => return plain(),
    };
    let parsed = CONVERSIONS.with(|conv| {
        let (timestamp, duration) = conv.as_ref()?;
        let program = if which == 0 { timestamp } else { duration };
        BASE.with(|base| {
            let mut scope = base.new_inner_scope();
            scope.add_variable_from_value("s", s.to_owned());
            program.execute(&scope).ok()
        })
    });
    parsed.unwrap_or_else(plain)
}

const RESERVED: [&str; 21] = [
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// Property names as CEL rules spell them (`foo-bar` → `foo__dash__bar`).
pub(crate) fn escape_property(name: &str) -> String {
    if RESERVED.contains(&name) {
        return format!("__{name}__");
    }
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(c) = rest.chars().next() {
        if let Some(r) = rest.strip_prefix("__") {
            out.push_str("__underscores__");
            rest = r;
            continue;
        }
        match c {
            '.' => out.push_str("__dot__"),
            '-' => out.push_str("__dash__"),
            '/' => out.push_str("__slash__"),
            c => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}
