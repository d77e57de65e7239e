//! `meta.k8s.io/v1` Tables: the server-side rendering `kubectl get` asks for, with custom
//! resources' `additionalPrinterColumns` evaluated the way upstream does.

use serde_json::{Value, json};

use super::discovery::{media_types, param};
use super::resource::ResourceInfo;

// Column descriptions are upstream's (the API documentation of the fields shown).
const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. \
    Is required when creating resources, although some resources may allow a client to request \
    the generation of an appropriate name automatically. Name is primarily intended for \
    creation idempotence and configuration definition. Cannot be updated. More info: \
    https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const CREATED_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time \
    when this object was created. It is not guaranteed to be set in happens-before order across \
    separate operations. Clients may not set this value. It is represented in RFC3339 form and \
    is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: \
    https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const CONFIG_MAP_DATA_DESCRIPTION: &str = "Data contains the configuration data. Each key must \
    consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences \
    must use the BinaryData field. The keys stored in Data must not overlap with the keys in the \
    BinaryData field, this is enforced during validation process.";
const SECRET_TYPE_DESCRIPTION: &str = "Used to facilitate programmatic handling of secret data. \
    More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types";
const SECRET_DATA_DESCRIPTION: &str = "Data contains the secret data. Each key must consist of \
    alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 \
    encoded string, representing the arbitrary (possibly non-string) data value here. Described \
    in https://tools.ietf.org/html/rfc4648#section-4";
const LEASE_HOLDER_DESCRIPTION: &str = "holderIdentity contains the identity of the holder of a \
    current lease. If Coordinated Leader Election is used, the holder identity must be equal to \
    the elected LeaseCandidate.metadata.name field.";

/// What each row's `object` holds (`?includeObject=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    /// The default: a PartialObjectMetadata.
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(param: Option<&str>) -> Self {
        match param {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }

    fn render(self, obj: &Value) -> Value {
        match self {
            Self::None => Value::Null,
            Self::Metadata => json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
            }),
            Self::Object => obj.clone(),
        }
    }
}

/// Whether an `Accept` header asks for a `meta.k8s.io/v1` Table (kubectl get sends
/// `application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json`).
pub fn wants_table(accept_header: &str) -> bool {
    media_types(accept_header).any(|params| {
        param(&params, "as") == Some("Table")
            && param(&params, "g") == Some("meta.k8s.io")
            && param(&params, "v") == Some("v1")
    })
}

/// Renders objects of one resource as a Table; `list_meta` becomes the Table's `metadata`.
/// Ages and `date` printer columns are rendered here (`5m`), as upstream's printers do:
/// kubectl prints cells verbatim.
pub fn to_table(
    info: &ResourceInfo,
    objects: &[&Value],
    list_meta: Value,
    include: IncludeObject,
) -> Value {
    to_table_at(info, objects, list_meta, include, jiff::Timestamp::now())
}

/// [`to_table`] with ages measured at `now`.
pub fn to_table_at(
    info: &ResourceInfo,
    objects: &[&Value],
    list_meta: Value,
    include: IncludeObject,
    now: jiff::Timestamp,
) -> Value {
    let columns = columns(info);
    let definitions: Vec<Value> = columns.iter().map(|c| c.definition.clone()).collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let cells: Vec<Value> = columns.iter().map(|c| c.cell.render(obj, now)).collect();
            json!({"cells": cells, "object": include.render(obj)})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

struct Column {
    definition: Value,
    cell: Cell,
}

enum Cell {
    Name,
    /// Time since `metadata.creationTimestamp`, as built-in printers show it.
    Age,
    /// `metadata.creationTimestamp` verbatim, as upstream's default table shows it.
    CreatedAt,
    /// Number of keys in the listed maps (a Secret's or ConfigMap's data).
    KeyCount(&'static [&'static str]),
    /// A value computed from the object.
    Computed(fn(&Value) -> Value),
    /// A custom resource's printer column; `None` when the JSONPath does not parse.
    Path {
        path: Option<JsonPath>,
        type_: String,
    },
}

fn definition(name: &str, type_: &str, format: &str, description: &str, priority: i32) -> Value {
    json!({
        "name": name,
        "type": type_,
        "format": format,
        "description": description,
        "priority": priority,
    })
}

fn name_column() -> Column {
    Column {
        definition: definition("Name", "string", "name", NAME_DESCRIPTION, 0),
        cell: Cell::Name,
    }
}

fn age_column(type_: &str) -> Column {
    Column {
        definition: definition("Age", type_, "", CREATED_DESCRIPTION, 0),
        cell: Cell::Age,
    }
}

fn path_column(name: &str, path: &str, description: &str, priority: i32) -> Column {
    Column {
        definition: definition(name, "string", "", description, priority),
        cell: Cell::Path {
            path: JsonPath::parse(path).ok(),
            type_: "string".into(),
        },
    }
}

fn computed_column(
    name: &str,
    type_: &str,
    description: &str,
    cell: fn(&Value) -> Value,
) -> Column {
    Column {
        definition: definition(name, type_, "", description, 1),
        cell: Cell::Computed(cell),
    }
}

/// A CRD's served versions as upstream lists them: sorted, the storage version marked.
fn served_versions(crd: &Value) -> Value {
    let mut versions: Vec<String> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v["served"] == true)
        .map(|v| {
            let name = v["name"].as_str().unwrap_or_default();
            if v["storage"] == true {
                format!("{name}(storage)")
            } else {
                name.to_owned()
            }
        })
        .collect();
    versions.sort();
    json!(versions.join(","))
}

fn short_names(crd: &Value) -> Value {
    let names: Vec<&str> = crd
        .pointer("/spec/names/shortNames")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    json!(names.join(","))
}

fn established(crd: &Value) -> Value {
    let conditions = crd.pointer("/status/conditions").and_then(Value::as_array);
    json!(
        conditions
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
    )
}

fn columns(info: &ResourceInfo) -> Vec<Column> {
    let mut columns = vec![name_column()];
    if info.custom {
        if info.printer_columns.is_empty() {
            // Upstream defaults a CRD without printer columns to a single Age column.
            columns.push(age_column("date"));
        }
        columns.extend(info.printer_columns.iter().map(|c| {
            let default_description = format!(
                "Custom resource definition column (in JSONPath format): {}",
                c.json_path
            );
            let description = c
                .description
                .as_deref()
                .filter(|d| !d.is_empty())
                .unwrap_or(&default_description);
            let format = c.format.as_deref().unwrap_or_default();
            Column {
                definition: definition(&c.name, &c.type_, format, description, c.priority),
                cell: Cell::Path {
                    path: JsonPath::parse(&c.json_path).ok(),
                    type_: c.type_.clone(),
                },
            }
        }));
        return columns;
    }
    match (info.group.as_str(), info.kind.as_str()) {
        ("", "Secret") => {
            columns.push(path_column("Type", ".type", SECRET_TYPE_DESCRIPTION, 0));
            columns.push(Column {
                definition: definition("Data", "string", "", SECRET_DATA_DESCRIPTION, 0),
                cell: Cell::KeyCount(&["data"]),
            });
        }
        ("", "ConfigMap") => columns.push(Column {
            definition: definition("Data", "string", "", CONFIG_MAP_DATA_DESCRIPTION, 0),
            cell: Cell::KeyCount(&["data", "binaryData"]),
        }),
        ("", "Namespace") => columns.push(path_column(
            "Status",
            ".status.phase",
            "The status of the namespace",
            0,
        )),
        ("", "ServiceAccount") => {}
        ("coordination.k8s.io", "Lease") => columns.push(path_column(
            "Holder",
            ".spec.holderIdentity",
            LEASE_HOLDER_DESCRIPTION,
            0,
        )),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            columns.push(path_column("Scope", ".spec.scope", "Cluster/Namespaced", 0));
            columns.push(Column {
                definition: definition("Versions", "string", "", "Served versions", 0),
                cell: Cell::Computed(served_versions),
            });
            columns.push(Column {
                definition: definition("Created At", "date", "", CREATED_DESCRIPTION, 0),
                cell: Cell::CreatedAt,
            });
            columns.push(path_column("Group", ".spec.group", "API group", 1));
            columns.push(path_column(
                "Kind",
                ".spec.names.kind",
                "CustomResource kind",
                1,
            ));
            columns.push(computed_column(
                "ShortNames",
                "string",
                "Short names",
                short_names,
            ));
            columns.push(computed_column(
                "Established",
                "boolean",
                "Established status",
                established,
            ));
            return columns;
        }
        _ => {
            columns.push(Column {
                definition: definition("Created At", "date", "", CREATED_DESCRIPTION, 0),
                cell: Cell::CreatedAt,
            });
            return columns;
        }
    }
    columns.push(age_column("string"));
    columns
}

impl Cell {
    fn render(&self, obj: &Value, now: jiff::Timestamp) -> Value {
        match self {
            Self::Name => obj["metadata"]["name"].clone(),
            Self::Age => age_cell(&obj["metadata"]["creationTimestamp"], now),
            Self::CreatedAt => obj["metadata"]["creationTimestamp"].clone(),
            Self::Computed(cell) => cell(obj),
            Self::KeyCount(fields) => {
                let count: usize = fields
                    .iter()
                    .filter_map(|f| obj.get(*f).and_then(Value::as_object))
                    .map(|m| m.len())
                    .sum();
                json!(count)
            }
            Self::Path { path, type_ } => {
                let Some(path) = path else {
                    return Value::Null;
                };
                // Upstream only supports simple paths in printer columns and shows the first
                // match.
                match path.eval(obj).first() {
                    Some(value) => typed_cell(type_, value, now),
                    None => Value::Null,
                }
            }
        }
    }
}

/// Upstream's `cellForJSONValue`; kubectl prints a `null` cell blank.
fn typed_cell(type_: &str, value: &Value, now: jiff::Timestamp) -> Value {
    match (type_, value) {
        (_, Value::Null) => Value::Null,
        ("string", v) => json!(text(v)),
        ("integer", Value::Number(n)) => match n.as_i64() {
            Some(i) => json!(i),
            // Truncated like Go's int64(float64).
            None => n.as_f64().map_or(Value::Null, |f| json!(f.trunc() as i64)),
        },
        ("number", Value::Number(n)) => n.as_f64().map_or(Value::Null, |f| json!(f)),
        ("boolean", Value::Bool(b)) => json!(b),
        ("date", v @ Value::String(_)) => age_cell(v, now),
        _ => Value::Null,
    }
}

/// A value as kubectl's JSONPath printer writes it: strings bare, objects and lists as JSON.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

fn age_cell(timestamp: &Value, now: jiff::Timestamp) -> Value {
    match timestamp.as_str() {
        None => json!("<unknown>"),
        Some(s) => match s.parse::<jiff::Timestamp>() {
            Ok(created) => json!(human_duration(now.as_second() - created.as_second())),
            Err(_) => json!("<invalid>"),
        },
    }
}

/// Upstream's `duration.HumanDuration`: the coarse ages kubectl shows (`45s`, `3m20s`, `5h`, `2d3h`).
fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{h}h")
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        let d = days % 365;
        return if d == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{d}d")
        };
    }
    format!("{years}y")
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JsonPathError {
    #[error("unterminated {0} in JSONPath")]
    Unterminated(&'static str),
    #[error("unsupported JSONPath syntax at {0:?}")]
    Unsupported(String),
}

/// The JSONPath subset printer columns use: `.a.b`, `.a[0]`, `.a[*].b`, `['key']` and
/// filters `[?(@.type=="Ready")]`.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    Wildcard,
    Filter(Filter),
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    /// Fields below `@`.
    path: Vec<String>,
    /// `None` tests that the field exists.
    comparison: Option<(bool, Value)>,
}

impl JsonPath {
    pub fn parse(source: &str) -> Result<Self, JsonPathError> {
        let mut s = source.trim();
        if let Some(inner) = s.strip_prefix('{') {
            s = inner
                .strip_suffix('}')
                .ok_or(JsonPathError::Unterminated("{"))?
                .trim();
        }
        s = s.strip_prefix('$').unwrap_or(s);
        let mut steps = Vec::new();
        let mut rest = s;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('.') {
                if after.starts_with('.') {
                    return Err(JsonPathError::Unsupported(rest.into()));
                }
                if let Some(after) = after.strip_prefix('*') {
                    steps.push(Step::Wildcard);
                    rest = after;
                } else if after.starts_with('[') {
                    rest = after;
                } else {
                    let (name, after) = field_name(after);
                    if !valid_field_name(&name) {
                        return Err(JsonPathError::Unsupported(rest.into()));
                    }
                    steps.push(Step::Field(name));
                    rest = after;
                }
            } else if let Some(after) = rest.strip_prefix('[') {
                let end = closing_bracket(after).ok_or(JsonPathError::Unterminated("["))?;
                steps.push(bracket_step(after[..end].trim())?);
                rest = &after[end + 1..];
            } else {
                return Err(JsonPathError::Unsupported(rest.into()));
            }
        }
        Ok(Self { steps })
    }

    /// Every value the path selects in `root`, in document order.
    pub fn eval<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        let mut current = vec![root];
        for step in &self.steps {
            current = current.into_iter().flat_map(|v| step.select(v)).collect();
        }
        current
    }
}

/// A dotted field name up to the next unescaped `.` or `[`; `\.` stands for a literal dot
/// (annotation keys such as `example\.com/owner`).
fn field_name(s: &str) -> (String, &str) {
    let mut name = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    name.push(escaped);
                }
            }
            '.' | '[' => return (name, &s[i..]),
            c => name.push(c),
        }
    }
    (name, "")
}

/// Rejects operators and other syntax this subset does not parse, rather than looking them up
/// as field names.
fn valid_field_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || "=<>!~()'\",*&|".contains(c))
}

/// Index of the `]` closing a bracket whose contents start `s`, skipping quoted strings and
/// parentheses.
fn closing_bracket(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth = depth.saturating_sub(1),
            (None, ']') if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

fn bracket_step(inner: &str) -> Result<Step, JsonPathError> {
    if inner == "*" {
        return Ok(Step::Wildcard);
    }
    if let Some(name) = quoted(inner) {
        return Ok(Step::Field(name.into()));
    }
    if let Some(filter) = inner.strip_prefix('?') {
        let expr = filter
            .trim()
            .strip_prefix('(')
            .and_then(|f| f.strip_suffix(')'))
            .ok_or_else(|| JsonPathError::Unsupported(inner.into()))?;
        return parse_filter(expr.trim()).map(Step::Filter);
    }
    inner
        .parse()
        .map(Step::Index)
        .map_err(|_| JsonPathError::Unsupported(inner.into()))
}

fn quoted(s: &str) -> Option<&str> {
    s.strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| s.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
}

fn parse_filter(expr: &str) -> Result<Filter, JsonPathError> {
    let unsupported = || JsonPathError::Unsupported(expr.into());
    let (lhs, comparison) = match expr.find("==").or_else(|| expr.find("!=")) {
        Some(i) => {
            let equal = &expr[i..i + 2] == "==";
            let literal = expr[i + 2..].trim();
            let value = match quoted(literal) {
                Some(s) => json!(s),
                None => serde_json::from_str(literal).map_err(|_| unsupported())?,
            };
            (expr[..i].trim(), Some((equal, value)))
        }
        None => (expr, None),
    };
    let fields = lhs.strip_prefix('@').ok_or_else(unsupported)?;
    let mut path = Vec::new();
    let mut rest = fields;
    while let Some(after) = rest.strip_prefix('.') {
        let (name, after) = field_name(after);
        if !valid_field_name(&name) {
            return Err(unsupported());
        }
        path.push(name);
        rest = after;
    }
    if !rest.is_empty() || path.is_empty() {
        return Err(unsupported());
    }
    Ok(Filter { path, comparison })
}

impl Step {
    fn select<'a>(&self, value: &'a Value) -> Vec<&'a Value> {
        match (self, value) {
            (Self::Field(name), Value::Object(m)) => m.get(name).into_iter().collect(),
            (Self::Index(i), Value::Array(a)) => {
                let index = if *i < 0 { a.len() as i64 + i } else { *i };
                usize::try_from(index)
                    .ok()
                    .and_then(|i| a.get(i))
                    .into_iter()
                    .collect()
            }
            (Self::Wildcard, Value::Array(a)) => a.iter().collect(),
            (Self::Wildcard, Value::Object(m)) => m.values().collect(),
            (Self::Filter(f), Value::Array(a)) => a.iter().filter(|e| f.matches(e)).collect(),
            _ => Vec::new(),
        }
    }
}

impl Filter {
    fn matches(&self, element: &Value) -> bool {
        let found = self
            .path
            .iter()
            .try_fold(element, |v, field| v.get(field.as_str()));
        match (found, &self.comparison) {
            (None, _) => false,
            (Some(v), None) => !v.is_null(),
            (Some(v), Some((equal, want))) => same_value(v, want) == *equal,
        }
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::tests::info;
    use crate::resource::PrinterColumn;

    fn now() -> jiff::Timestamp {
        "2026-01-01T12:00:00Z".parse().unwrap()
    }

    fn column(name: &str, type_: &str, path: &str, priority: i32) -> PrinterColumn {
        PrinterColumn {
            name: name.into(),
            type_: type_.into(),
            format: None,
            description: Some(format!("the {name}")),
            priority,
            json_path: path.into(),
        }
    }

    fn widget_info() -> ResourceInfo {
        let mut r = info("example.com", "v1", "Widget", "widgets");
        r.custom = true;
        r.printer_columns = vec![
            column("Role", "string", ".spec.role", 0),
            column("Size", "integer", ".spec.size", 0),
            column(
                "Ready",
                "string",
                r#".status.conditions[?(@.type=="Ready")].status"#,
                0,
            ),
            column("Detail", "string", ".status.message", 1),
            column("Since", "date", ".status.since", 0),
        ];
        r
    }

    fn widget(name: &str) -> Value {
        json!({
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": name, "namespace": "default",
                "creationTimestamp": "2026-01-01T11:55:00Z", "labels": {"a": "b"}},
            "spec": {"role": "admin", "size": 3},
            "status": {
                "conditions": [
                    {"type": "Synced", "status": "False"},
                    {"type": "Ready", "status": "True"},
                ],
                "since": "2026-01-01T09:00:00Z",
            },
        })
    }

    #[test]
    fn recognises_kubectl_get_accept_header() {
        assert!(wants_table(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
        ));
        assert!(!wants_table("application/json"));
        assert!(!wants_table(
            "application/json;as=Table;v=v1beta1;g=meta.k8s.io"
        ));
        assert!(!wants_table(
            "application/json;as=APIGroupDiscoveryList;v=v1;g=meta.k8s.io"
        ));
    }

    #[test]
    fn custom_resource_table_has_printer_columns_with_priority() {
        let obj = widget("w1");
        let table = to_table_at(
            &widget_info(),
            &[&obj],
            json!({"resourceVersion": "7"}),
            IncludeObject::Metadata,
            now(),
        );
        assert_eq!(table["kind"], "Table");
        assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(table["metadata"], json!({"resourceVersion": "7"}));
        let defs = table["columnDefinitions"].as_array().unwrap();
        let names: Vec<&str> = defs.iter().map(|d| d["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Name", "Role", "Size", "Ready", "Detail", "Since"]);
        assert_eq!(defs[0]["format"], "name");
        assert_eq!(defs[4]["priority"], 1);
        assert_eq!(defs[5]["type"], "date");
        let row = &table["rows"][0];
        assert_eq!(row["cells"], json!(["w1", "admin", 3, "True", null, "3h"]));
        assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(row["object"]["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(row["object"]["metadata"]["labels"], json!({"a": "b"}));
    }

    #[test]
    fn custom_resource_without_columns_gets_age() {
        let mut r = widget_info();
        r.printer_columns.clear();
        let obj = widget("w1");
        let table = to_table_at(&r, &[&obj], json!({}), IncludeObject::Metadata, now());
        let names: Vec<&str> = table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Name", "Age"]);
        assert_eq!(table["rows"][0]["cells"], json!(["w1", "5m"]));
    }

    #[test]
    fn builtin_tables() {
        let secret = json!({"metadata": {"name": "s", "creationTimestamp": "2026-01-01T11:59:30Z"},
            "type": "Opaque", "data": {"a": "eA==", "b": "eQ=="}});
        let table = to_table_at(
            &info("", "v1", "Secret", "secrets"),
            &[&secret],
            json!({}),
            IncludeObject::Metadata,
            now(),
        );
        assert_eq!(table["rows"][0]["cells"], json!(["s", "Opaque", 2, "30s"]));

        let ns = json!({"metadata": {"name": "default", "creationTimestamp": "2026-01-01T11:00:00Z"},
            "status": {"phase": "Active"}});
        let table = to_table_at(
            &info("", "v1", "Namespace", "namespaces"),
            &[&ns],
            json!({}),
            IncludeObject::Metadata,
            now(),
        );
        assert_eq!(
            table["rows"][0]["cells"],
            json!(["default", "Active", "60m"])
        );

        let lease = json!({"metadata": {"name": "l", "creationTimestamp": "2026-01-01T11:59:00Z"},
            "spec": {"holderIdentity": "pod-1"}});
        let r = info("coordination.k8s.io", "v1", "Lease", "leases");
        let table = to_table_at(&r, &[&lease], json!({}), IncludeObject::Metadata, now());
        assert_eq!(table["rows"][0]["cells"], json!(["l", "pod-1", "60s"]));

        let crd = json!({"metadata": {"name": "widgets.example.com",
            "creationTimestamp": "2026-01-01T11:59:00Z"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"kind": "Widget", "shortNames": ["wd", "wds"]},
                     "versions": [{"name": "v2", "served": true, "storage": false},
                                  {"name": "v1", "served": true, "storage": true},
                                  {"name": "v0", "served": false, "storage": false}]},
            "status": {"conditions": [{"type": "Established", "status": "True"}]}});
        let r = info(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
        );
        let table = to_table_at(&r, &[&crd], json!({}), IncludeObject::None, now());
        let names: Vec<&str> = table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "Name",
                "Scope",
                "Versions",
                "Created At",
                "Group",
                "Kind",
                "ShortNames",
                "Established"
            ]
        );
        assert_eq!(
            table["rows"][0]["cells"],
            json!([
                "widgets.example.com",
                "Namespaced",
                "v1(storage),v2",
                "2026-01-01T11:59:00Z",
                "example.com",
                "Widget",
                "wd,wds",
                true
            ])
        );
        assert_eq!(table["rows"][0]["object"], Value::Null);
    }

    #[test]
    fn cells_follow_column_types() {
        let n = now();
        assert_eq!(typed_cell("integer", &json!(2.9), n), json!(2));
        assert_eq!(typed_cell("integer", &json!("2"), n), Value::Null);
        assert_eq!(typed_cell("number", &json!(2), n), json!(2.0));
        assert_eq!(typed_cell("boolean", &json!(true), n), json!(true));
        assert_eq!(typed_cell("boolean", &json!("true"), n), Value::Null);
        assert_eq!(typed_cell("string", &json!(7), n), json!("7"));
        assert_eq!(typed_cell("string", &json!(7.0), n), json!("7"));
        assert_eq!(typed_cell("string", &json!(false), n), json!("false"));
        assert_eq!(
            typed_cell("string", &json!(["a", "b"]), n),
            json!(r#"["a","b"]"#)
        );
        assert_eq!(typed_cell("string", &Value::Null, n), Value::Null);
        assert_eq!(
            typed_cell("date", &json!("yesterday"), n),
            json!("<invalid>")
        );
    }

    #[test]
    fn human_durations_match_upstream() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (150, "2m30s"),
            (600, "10m"),
            (179 * 60, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 25 * 60, "3h25m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (48 * 3600, "2d"),
            (50 * 3600, "2d2h"),
            (8 * 86400, "8d"),
            (729 * 86400, "729d"),
            (730 * 86400, "2y"),
            (731 * 86400, "2y1d"),
            (9 * 365 * 86400, "9y"),
        ];
        for (seconds, want) in cases {
            assert_eq!(human_duration(seconds), want, "{seconds}s");
        }
    }

    fn eval(path: &str, doc: &Value) -> Vec<Value> {
        JsonPath::parse(path)
            .unwrap()
            .eval(doc)
            .into_iter()
            .cloned()
            .collect()
    }

    #[test]
    fn jsonpath_subset() {
        let doc = json!({
            "metadata": {"annotations": {"example.com/owner": "team-a"}},
            "spec": {"items": [{"name": "a", "n": 1}, {"name": "b", "n": 2}]},
            "status": {"conditions": [{"type": "Ready", "status": "True", "count": 2}]},
        });
        assert_eq!(eval(".spec.items[0].name", &doc), [json!("a")]);
        assert_eq!(eval("{.spec.items[-1].name}", &doc), [json!("b")]);
        assert_eq!(eval("$.spec.items[*].name", &doc), [json!("a"), json!("b")]);
        assert_eq!(eval(".spec.items.*.n", &doc), [json!(1), json!(2)]);
        assert_eq!(eval(".spec['items'][1].n", &doc), [json!(2)]);
        assert_eq!(
            eval(r#".metadata.annotations.example\.com/owner"#, &doc),
            [json!("team-a")]
        );
        assert_eq!(
            eval(r#".status.conditions[?(@.type=="Ready")].status"#, &doc),
            [json!("True")]
        );
        assert_eq!(
            eval(".status.conditions[?(@.type == 'Ready')].status", &doc),
            [json!("True")]
        );
        assert_eq!(eval(".spec.items[?(@.n==2)].name", &doc), [json!("b")]);
        assert_eq!(eval(".spec.items[?(@.n!=2)].name", &doc), [json!("a")]);
        assert_eq!(
            eval(".status.conditions[?(@.count)].type", &doc),
            [json!("Ready")]
        );
        assert!(eval(".spec.missing.deeper", &doc).is_empty());
        assert!(eval(".spec.items[5]", &doc).is_empty());
        assert!(eval(r#".status.conditions[?(@.type=="Synced")].status"#, &doc).is_empty());
    }

    #[test]
    fn jsonpath_rejects_what_it_does_not_support() {
        assert!(JsonPath::parse("..name").is_err());
        assert!(JsonPath::parse(".a[0:2]").is_err());
        assert!(JsonPath::parse(".a[0").is_err());
        assert!(JsonPath::parse("{.a").is_err());
        assert!(JsonPath::parse("a.b").is_err());
        assert!(JsonPath::parse(".a[?(@.x=~bad)]").is_err());
    }

    #[test]
    fn unparsable_column_renders_none() {
        let mut r = widget_info();
        r.printer_columns = vec![column("Bad", "string", ".a[0:2]", 0)];
        let obj = widget("w1");
        let table = to_table_at(&r, &[&obj], json!({}), IncludeObject::Metadata, now());
        assert_eq!(table["rows"][0]["cells"], json!(["w1", null]));
    }
}
