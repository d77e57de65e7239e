//! Label and field selectors as `?labelSelector=` and `?fieldSelector=` spell them.

use std::collections::BTreeSet;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// Upstream's lexer names the offending token; this says which requirement failed.
    #[error("unable to parse requirement: {0:?}")]
    Requirement(String),
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    FieldTerm { selector: String, term: String },
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
    /// Upstream's message for resources selectable by their name and namespace only.
    #[error("{0:?} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"")]
    UnknownField(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelOp {
    Equals(String),
    NotEquals(String),
    In(BTreeSet<String>),
    NotIn(BTreeSet<String>),
    Exists,
    NotExists,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: LabelOp,
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<Requirement>);

/// Splits at commas outside parentheses: `a in (x,y),b` has two terms.
fn split_terms(s: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&s[start..]);
    terms
        .into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

/// A label value: empty, or at most 63 alphanumerics, `-`, `_` and `.` that start and end
/// alphanumeric.
fn valid_value(value: &str) -> bool {
    let edge_ok = |c: Option<char>| c.is_none_or(|c| c.is_ascii_alphanumeric());
    value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && edge_ok(value.chars().next())
        && edge_ok(value.chars().last())
}

fn parse_requirement(term: &str) -> Result<Requirement, SelectorError> {
    let fail = || SelectorError::Requirement(term.to_owned());
    let requirement = if let Some(key) = term.strip_prefix('!') {
        Requirement {
            key: key.trim().to_owned(),
            op: LabelOp::NotExists,
        }
    } else if let Some(open) = term.find('(') {
        let close = term.rfind(')').filter(|c| *c > open).ok_or_else(fail)?;
        let (key, op) = term[..open]
            .trim()
            .rsplit_once(char::is_whitespace)
            .ok_or_else(fail)?;
        let values: BTreeSet<String> = term[open + 1..close]
            .split(',')
            .map(|v| v.trim().to_owned())
            .collect();
        let op = match op {
            "in" => LabelOp::In(values),
            "notin" => LabelOp::NotIn(values),
            _ => return Err(fail()),
        };
        Requirement {
            key: key.trim().to_owned(),
            op,
        }
    } else if let Some((key, value)) = term.split_once("!=") {
        Requirement {
            key: key.trim().to_owned(),
            op: LabelOp::NotEquals(value.trim().to_owned()),
        }
    } else if let Some((key, value)) = term.split_once("==").or_else(|| term.split_once('=')) {
        Requirement {
            key: key.trim().to_owned(),
            op: LabelOp::Equals(value.trim().to_owned()),
        }
    } else {
        Requirement {
            key: term.to_owned(),
            op: LabelOp::Exists,
        }
    };
    let values_ok = match &requirement.op {
        LabelOp::Equals(v) | LabelOp::NotEquals(v) => valid_value(v),
        LabelOp::In(vs) | LabelOp::NotIn(vs) => vs.iter().all(|v| valid_value(v)),
        LabelOp::Exists | LabelOp::NotExists => true,
    };
    if valid_key(&requirement.key) && values_ok {
        Ok(requirement)
    } else {
        Err(fail())
    }
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        split_terms(s)
            .into_iter()
            .map(parse_requirement)
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether an object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        self.0.iter().all(|r| {
            let value = labels.and_then(|l| l.get(&r.key)).and_then(Value::as_str);
            match (&r.op, value) {
                (LabelOp::Exists, v) => v.is_some(),
                (LabelOp::NotExists, v) => v.is_none(),
                (LabelOp::Equals(want), Some(v)) => v == want,
                (LabelOp::Equals(_), None) => false,
                (LabelOp::NotEquals(want), v) => v != Some(want.as_str()),
                (LabelOp::In(set), Some(v)) => set.contains(v),
                (LabelOp::In(_), None) => false,
                (LabelOp::NotIn(set), v) => v.is_none_or(|v| !set.contains(v)),
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldTerm {
    /// The label as the stored object is read by, e.g. `metadata.name`.
    label: String,
    value: String,
    negated: bool,
}

/// Reads a field label's value from a stored object.
pub type FieldReader = fn(&Value, &str) -> String;

/// Which field labels a resource can be selected by.
#[derive(Debug, Clone, Copy)]
pub enum FieldLabels {
    /// `metadata.name` and `metadata.namespace` only, as upstream serves custom resources
    /// and most built-in kinds.
    Metadata,
    /// These fields by their dotted paths (a Secret's `type`, a Namespace's `status.phase`).
    Listed(&'static [&'static str]),
    /// A fixed set: `translate` names the stored label a requested one selects (or refuses
    /// it) and `read` gives its value.
    Fixed {
        translate: fn(&str) -> Option<&'static str>,
        read: FieldReader,
    },
}

/// A parsed field selector; the empty selector matches everything.
#[derive(Debug, Clone)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
    read: FieldReader,
}

/// A scalar at a dotted path, as text; missing and null read as empty.
fn read_path(object: &Value, label: &str) -> String {
    match label
        .split('.')
        .try_fold(object, |v, segment| v.get(segment))
    {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

impl FieldSelector {
    pub fn parse(s: &str, labels: FieldLabels) -> Result<Self, SelectorError> {
        let selector = s;
        let terms = split_terms(s)
            .into_iter()
            .map(|term| {
                let (label, value, negated) = if let Some((p, v)) = term.split_once("!=") {
                    (p, v, true)
                } else if let Some((p, v)) = term.split_once("==").or_else(|| term.split_once('='))
                {
                    (p, v, false)
                } else {
                    return Err(SelectorError::FieldTerm {
                        selector: selector.to_owned(),
                        term: term.to_owned(),
                    });
                };
                let label = label.trim();
                let unsupported = || SelectorError::UnsupportedField(label.to_owned());
                let label = match labels {
                    FieldLabels::Metadata
                        if label != "metadata.name" && label != "metadata.namespace" =>
                    {
                        return Err(SelectorError::UnknownField(label.to_owned()));
                    }
                    FieldLabels::Listed(known) if !known.contains(&label) => {
                        return Err(unsupported());
                    }
                    FieldLabels::Metadata | FieldLabels::Listed(_) => label,
                    FieldLabels::Fixed { translate, .. } => {
                        translate(label).ok_or_else(unsupported)?
                    }
                };
                Ok(FieldTerm {
                    label: label.to_owned(),
                    value: value.trim().to_owned(),
                    negated,
                })
            })
            .collect::<Result<_, _>>()?;
        let read = match labels {
            FieldLabels::Fixed { read, .. } => read,
            FieldLabels::Metadata | FieldLabels::Listed(_) => read_path,
        };
        Ok(Self { terms, read })
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.terms
            .iter()
            .all(|t| ((self.read)(object, &t.label) == t.value) != t.negated)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": labels}, "type": "Opaque"})
    }

    #[test]
    fn equality_and_inequality() {
        let o = obj(json!({"app": "web", "tier": "front"}));
        assert!(LabelSelector::parse("app=web").unwrap().matches(&o));
        assert!(
            LabelSelector::parse("app==web,tier=front")
                .unwrap()
                .matches(&o)
        );
        assert!(!LabelSelector::parse("app=db").unwrap().matches(&o));
        assert!(LabelSelector::parse("app!=db").unwrap().matches(&o));
        assert!(!LabelSelector::parse("app!=web").unwrap().matches(&o));
        assert!(LabelSelector::parse("missing!=x").unwrap().matches(&o));
    }

    #[test]
    fn set_based_requirements() {
        let o = obj(json!({"app": "web"}));
        assert!(
            LabelSelector::parse("app in (db, web)")
                .unwrap()
                .matches(&o)
        );
        assert!(
            !LabelSelector::parse("app notin (db,web)")
                .unwrap()
                .matches(&o)
        );
        assert!(LabelSelector::parse("tier notin (x)").unwrap().matches(&o));
        assert!(!LabelSelector::parse("tier in (x)").unwrap().matches(&o));
        assert!(LabelSelector::parse("app,!tier").unwrap().matches(&o));
        assert!(!LabelSelector::parse("tier").unwrap().matches(&o));
        assert!(!LabelSelector::parse("!app").unwrap().matches(&o));
        assert!(
            LabelSelector::parse("app in (web),rolesync.io/x notin (a,b)")
                .unwrap()
                .matches(&o)
        );
    }

    #[test]
    fn empty_selector_matches_objects_without_labels() {
        let o = json!({"metadata": {"name": "a"}});
        assert!(LabelSelector::parse("").unwrap().matches(&o));
        assert!(!LabelSelector::parse("a=b").unwrap().matches(&o));
    }

    #[test]
    fn malformed_selectors_are_rejected() {
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("app maybe (x)").is_err());
        assert!(LabelSelector::parse("=x").is_err());
        assert!(LabelSelector::parse("app===x").is_err());
        assert!(LabelSelector::parse("app in (-x)").is_err());
        assert!(LabelSelector::parse("app=").is_ok());
    }

    #[test]
    fn field_selectors() {
        let o = obj(json!({}));
        let parse = |s: &str, labels| FieldSelector::parse(s, labels).unwrap();
        assert!(parse("metadata.name=a", FieldLabels::Metadata).matches(&o));
        assert!(!parse("metadata.name!=a", FieldLabels::Metadata).matches(&o));
        assert!(
            parse(
                "metadata.namespace==ns,metadata.name=a",
                FieldLabels::Metadata
            )
            .matches(&o)
        );
        let unknown = FieldSelector::parse("spec.x=1", FieldLabels::Metadata).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            r#""spec.x" is not a known field selector: only "metadata.name", "metadata.namespace""#
        );
        let secret = FieldLabels::Listed(&["metadata.name", "type"]);
        assert!(parse("type=Opaque", secret).matches(&o));
        assert_eq!(
            FieldSelector::parse("data=x", secret).unwrap_err(),
            SelectorError::UnsupportedField("data".into())
        );
        assert_eq!(
            FieldSelector::parse("nonsense", secret)
                .unwrap_err()
                .to_string(),
            "invalid selector: 'nonsense'; can't understand 'nonsense'"
        );
    }

    #[test]
    fn fixed_field_labels_translate_and_refuse_the_rest() {
        let labels = FieldLabels::Fixed {
            translate: |label| (label == "kind").then_some("spec.kind"),
            read: |object, label| read_path(object, label).to_uppercase(),
        };
        let o = json!({"spec": {"kind": "widget"}});
        assert!(
            FieldSelector::parse("kind=WIDGET", labels)
                .unwrap()
                .matches(&o)
        );
        assert!(
            !FieldSelector::parse("kind!=WIDGET", labels)
                .unwrap()
                .matches(&o)
        );
        assert_eq!(
            FieldSelector::parse("spec.kind=widget", labels).unwrap_err(),
            SelectorError::UnsupportedField("spec.kind".into())
        );
    }
}
