//! Label and field selectors as `?labelSelector=` and `?fieldSelector=` spell them.

use std::collections::BTreeSet;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error("unable to parse requirement: {0:?}")]
    Requirement(String),
    #[error("invalid field selector term: {0:?}")]
    FieldTerm(String),
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
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
    if valid_key(&requirement.key) {
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
    /// Dotted path, e.g. `metadata.name`.
    path: String,
    value: String,
    negated: bool,
}

/// A parsed field selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(Vec<FieldTerm>);

impl FieldSelector {
    /// Custom resources support only `metadata.name` and `metadata.namespace`, as upstream;
    /// built-in kinds may select on any scalar field (`type`, `involvedObject.name`, ...).
    pub fn parse(s: &str, any_field: bool) -> Result<Self, SelectorError> {
        split_terms(s)
            .into_iter()
            .map(|term| {
                let (path, value, negated) = if let Some((p, v)) = term.split_once("!=") {
                    (p, v, true)
                } else if let Some((p, v)) = term.split_once("==").or_else(|| term.split_once('='))
                {
                    (p, v, false)
                } else {
                    return Err(SelectorError::FieldTerm(term.to_owned()));
                };
                let path = path.trim();
                if !any_field && path != "metadata.name" && path != "metadata.namespace" {
                    return Err(SelectorError::UnsupportedField(path.to_owned()));
                }
                Ok(FieldTerm {
                    path: path.to_owned(),
                    value: value.trim().to_owned(),
                    negated,
                })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|t| {
            let field = t
                .path
                .split('.')
                .try_fold(object, |v, segment| v.get(segment));
            let actual = match field {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (actual == t.value) != t.negated
        })
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
        assert!(LabelSelector::parse("app==web,tier=front").unwrap().matches(&o));
        assert!(!LabelSelector::parse("app=db").unwrap().matches(&o));
        assert!(LabelSelector::parse("app!=db").unwrap().matches(&o));
        assert!(!LabelSelector::parse("app!=web").unwrap().matches(&o));
        assert!(LabelSelector::parse("missing!=x").unwrap().matches(&o));
    }

    #[test]
    fn set_based_requirements() {
        let o = obj(json!({"app": "web"}));
        assert!(LabelSelector::parse("app in (db, web)").unwrap().matches(&o));
        assert!(!LabelSelector::parse("app notin (db,web)").unwrap().matches(&o));
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
    }

    #[test]
    fn field_selectors() {
        let o = obj(json!({}));
        assert!(FieldSelector::parse("metadata.name=a", false).unwrap().matches(&o));
        assert!(
            FieldSelector::parse("metadata.name!=a", false)
                .unwrap()
                .matches(&o)
                .eq(&false)
        );
        assert!(
            FieldSelector::parse("metadata.namespace==ns,metadata.name=a", false)
                .unwrap()
                .matches(&o)
        );
        assert_eq!(
            FieldSelector::parse("spec.x=1", false),
            Err(SelectorError::UnsupportedField("spec.x".into()))
        );
        assert!(FieldSelector::parse("type=Opaque", true).unwrap().matches(&o));
        assert!(FieldSelector::parse("nonsense", true).is_err());
    }
}
