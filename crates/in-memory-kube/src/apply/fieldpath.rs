//! Field paths and sets of field paths, ordered and printed the way structured-merge-diff
//! does, so that managedFields and conflict messages read like upstream's.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;

/// One step of a path: an object field, a list-map item by key, a set item by value, or a
/// list position.
#[derive(Debug, Clone)]
pub(crate) enum PathElement {
    Field(String),
    /// Key fields sorted by name.
    Key(Vec<(String, Value)>),
    Value(Value),
    Index(usize),
}

impl PathElement {
    fn rank(&self) -> u8 {
        match self {
            Self::Field(_) => 0,
            Self::Key(_) => 1,
            Self::Value(_) => 2,
            Self::Index(_) => 3,
        }
    }
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Field(a), Self::Field(b)) => a.cmp(b),
            (Self::Key(a), Self::Key(b)) => compare_key_fields(a, b),
            (Self::Value(a), Self::Value(b)) => compare_values(a, b),
            (Self::Index(a), Self::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PathElement {}

fn compare_key_fields(a: &[(String, Value)], b: &[(String, Value)]) -> Ordering {
    for ((an, av), (bn, bv)) in a.iter().zip(b) {
        let by_field = an.cmp(bn).then_with(|| compare_values(av, bv));
        if by_field != Ordering::Equal {
            return by_field;
        }
    }
    a.len().cmp(&b.len())
}

/// A total order over JSON values: numbers, strings, booleans, lists, maps, then null, as
/// upstream's `value.Compare`.
pub(crate) fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Number(_) => 0,
            Value::String(_) => 1,
            Value::Bool(_) => 2,
            Value::Array(_) => 3,
            Value::Object(_) => 4,
            Value::Null => 5,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => {
                let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
                x.total_cmp(&y)
            }
        },
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (xv, yv) in x.iter().zip(y) {
                let c = compare_values(xv, yv);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            for ((xk, xv), (yk, yv)) in x.iter().zip(y) {
                let c = xk.cmp(yk).then_with(|| compare_values(xv, yv));
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

/// A value as upstream's `value.ToString` prints it inside a path.
fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            for (k, item) in map {
                out.push_str(k);
                out.push('=');
                write_value(out, item);
            }
        }
        other => out.push_str(&other.to_string()),
    }
}

/// A path as upstream prints it: `.spec.conditions[type="Ready"].status`.
pub(crate) fn path_to_string(path: &[PathElement]) -> String {
    let mut out = String::new();
    for pe in path {
        match pe {
            PathElement::Field(name) => {
                out.push('.');
                out.push_str(name);
            }
            PathElement::Key(fields) => {
                out.push('[');
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(name);
                    out.push('=');
                    write_value(&mut out, value);
                }
                out.push(']');
            }
            PathElement::Value(value) => {
                out.push_str("[=");
                write_value(&mut out, value);
                out.push(']');
            }
            PathElement::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
        }
    }
    out
}

/// A set of paths as a tree: `members` are paths ending at this node, `children` hold the
/// longer ones. Children are never empty, so emptiness is a shallow check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldSet {
    pub(crate) members: BTreeSet<PathElement>,
    pub(crate) children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    pub(crate) fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    pub(crate) fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Adds a non-empty subtree under `pe`.
    pub(crate) fn insert_child(&mut self, pe: PathElement, child: FieldSet) {
        if child.is_empty() {
            return;
        }
        match self.children.get_mut(&pe) {
            Some(existing) => existing.union_with(&child),
            None => {
                self.children.insert(pe, child);
            }
        }
    }

    /// Whether `pe` is a member here or has members below it.
    pub(crate) fn touches(&self, pe: &PathElement) -> bool {
        self.members.contains(pe) || self.children.contains_key(pe)
    }

    pub(crate) fn union_with(&mut self, other: &FieldSet) {
        self.members.extend(other.members.iter().cloned());
        for (pe, child) in &other.children {
            self.insert_child(pe.clone(), child.clone());
        }
    }

    /// Removes every path of `other`; a member of `other` removes only that exact path.
    pub(crate) fn subtract(&mut self, other: &FieldSet) {
        if other.is_empty() {
            return;
        }
        self.members.retain(|pe| !other.members.contains(pe));
        self.children.retain(|pe, child| {
            if let Some(o) = other.children.get(pe) {
                child.subtract(o);
            }
            !child.is_empty()
        });
    }

    pub(crate) fn intersection(&self, other: &FieldSet) -> FieldSet {
        let members = self
            .members
            .iter()
            .filter(|pe| other.members.contains(pe))
            .cloned()
            .collect();
        let mut children = BTreeMap::new();
        for (pe, child) in &self.children {
            if let Some(o) = other.children.get(pe) {
                let common = child.intersection(o);
                if !common.is_empty() {
                    children.insert(pe.clone(), common);
                }
            }
        }
        FieldSet { members, children }
    }

    /// Every path in upstream's iteration order: members, then children's paths.
    pub(crate) fn paths(&self) -> Vec<Vec<PathElement>> {
        let mut out = Vec::new();
        let mut prefix = Vec::new();
        self.collect_paths(&mut prefix, &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
        for pe in &self.members {
            let mut path = prefix.clone();
            path.push(pe.clone());
            out.push(path);
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect_paths(prefix, out);
            prefix.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(name: &str) -> PathElement {
        PathElement::Field(name.to_owned())
    }

    #[test]
    fn elements_order_fields_before_keys_before_values_before_indexes() {
        let mut v = [
            PathElement::Index(0),
            PathElement::Value(json!("a")),
            PathElement::Key(vec![("name".into(), json!("a"))]),
            field("z"),
        ];
        v.sort();
        assert_eq!(v[0], field("z"));
        assert!(matches!(v[1], PathElement::Key(_)));
        assert!(matches!(v[2], PathElement::Value(_)));
        assert_eq!(v[3], PathElement::Index(0));
    }

    #[test]
    fn numeric_keys_compare_as_numbers() {
        let a = PathElement::Key(vec![("port".into(), json!(80))]);
        let b = PathElement::Key(vec![("port".into(), json!(8080))]);
        assert!(a < b);
    }

    #[test]
    fn paths_print_like_upstream() {
        let path = [
            field("status"),
            field("conditions"),
            PathElement::Key(vec![("type".into(), json!("Ready"))]),
            field("status"),
        ];
        assert_eq!(
            path_to_string(&path),
            r#".status.conditions[type="Ready"].status"#
        );
        let set_item = [
            field("metadata"),
            field("finalizers"),
            PathElement::Value(json!("x")),
        ];
        assert_eq!(path_to_string(&set_item), r#".metadata.finalizers[="x"]"#);
        let ports = [
            field("ports"),
            PathElement::Key(vec![
                ("port".into(), json!(80)),
                ("protocol".into(), json!("TCP")),
            ]),
        ];
        assert_eq!(path_to_string(&ports), r#".ports[port=80,protocol="TCP"]"#);
    }

    #[test]
    fn subtract_removes_exact_paths_only() {
        let mut a = FieldSet::default();
        a.insert(&[field("spec"), field("a")]);
        a.insert(&[field("spec"), field("b")]);
        a.insert(&[field("labels")]);
        let mut b = FieldSet::default();
        b.insert(&[field("spec"), field("a")]);
        b.insert(&[field("spec")]);
        a.subtract(&b);
        assert_eq!(
            a.paths(),
            vec![vec![field("labels")], vec![field("spec"), field("b")]]
        );
        let mut only = FieldSet::default();
        only.insert(&[field("spec"), field("b")]);
        a.subtract(&only);
        assert_eq!(a.paths(), vec![vec![field("labels")]]);
        assert!(a.children.is_empty(), "emptied children are dropped");
    }

    #[test]
    fn intersection_keeps_common_paths() {
        let mut a = FieldSet::default();
        a.insert(&[field("spec"), field("a")]);
        a.insert(&[field("spec"), field("b")]);
        let mut b = FieldSet::default();
        b.insert(&[field("spec"), field("b")]);
        b.insert(&[field("x")]);
        assert_eq!(
            a.intersection(&b).paths(),
            vec![vec![field("spec"), field("b")]]
        );
    }
}
