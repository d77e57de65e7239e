//! Events are stored once, as core/v1 `Event`s, and served both there and as
//! events.k8s.io/v1 `Event`s, as upstream does: field conversion between the two shapes and
//! the field labels each API can be selected by.

use serde_json::{Map, Value, json};

/// The events.k8s.io/v1 field and the core/v1 field holding the same data, in that order.
const RENAMED: [(&str, &str); 7] = [
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedCount", "count"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
];

/// Fields both shapes spell the same way (besides the object metadata).
const SHARED: [&str; 8] = [
    "metadata",
    "eventTime",
    "series",
    "reportingInstance",
    "action",
    "reason",
    "related",
    "type",
];

fn present(value: &Value) -> bool {
    !value.is_null()
}

/// Copies the fields both shapes share, then each renamed field under its other name.
fn convert(
    from: &Value,
    api_version: &str,
    renames: impl Iterator<Item = (&'static str, &'static str)>,
) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("kind".into(), json!("Event"));
    out.insert("apiVersion".into(), json!(api_version));
    for field in SHARED {
        if let Some(v) = from.get(field).filter(|v| present(v)) {
            out.insert(field.into(), v.clone());
        }
    }
    for (source, target) in renames {
        if let Some(v) = from.get(source).filter(|v| present(v)) {
            out.insert(target.into(), v.clone());
        }
    }
    out
}

/// A stored core/v1 Event as events.k8s.io/v1 serves it.
pub fn to_events_v1(core: &Value) -> Value {
    Value::Object(convert(
        core,
        "events.k8s.io/v1",
        RENAMED.iter().map(|(events, core)| (*core, *events)),
    ))
}

/// An events.k8s.io/v1 Event as core/v1 stores it.
pub fn to_core_v1(events: &Value) -> Value {
    let mut out = convert(events, "v1", RENAMED.iter().copied());
    // core/v1 requires both references, even when empty.
    for required in ["involvedObject", "source"] {
        out.entry(required).or_insert_with(|| json!({}));
    }
    Value::Object(out)
}

/// The field labels core/v1 Events can be selected by (upstream's `ToSelectableFields`).
const CORE_LABELS: [&str; 13] = [
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
    "metadata.namespace",
    "metadata.name",
];

/// A core/v1 field label, checked against those upstream supports.
pub fn core_field_label(label: &str) -> Option<&'static str> {
    CORE_LABELS.iter().copied().find(|l| *l == label)
}

/// An events.k8s.io/v1 field label translated to the core/v1 label selecting the same
/// stored data, as upstream's field label conversion does.
pub fn events_v1_field_label(label: &str) -> Option<&'static str> {
    let core = match label {
        "regarding.kind" => "involvedObject.kind",
        "regarding.namespace" => "involvedObject.namespace",
        "regarding.name" => "involvedObject.name",
        "regarding.uid" => "involvedObject.uid",
        "regarding.apiVersion" => "involvedObject.apiVersion",
        "regarding.resourceVersion" => "involvedObject.resourceVersion",
        "regarding.fieldPath" => "involvedObject.fieldPath",
        "reportingController" => "reportingComponent",
        "reason" | "type" | "metadata.namespace" | "metadata.name" => label,
        _ => return None,
    };
    core_field_label(core)
}

/// The value of a core/v1 field label on a stored Event; `source` is the reporting
/// component of the old API, or else the reporting controller of the new one.
pub fn field_value(core: &Value, label: &str) -> String {
    let text = |path: &str| {
        path.split('.')
            .try_fold(core, |v, segment| v.get(segment))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match label {
        "source" => match text("source.component") {
            component if component.is_empty() => text("reportingComponent"),
            component => component,
        },
        other => text(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events_v1() -> Value {
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "ra.1", "namespace": "team"},
            "eventTime": "2025-01-01T00:00:00.000000Z",
            "series": {"count": 2, "lastObservedTime": "2025-01-01T00:01:00.000000Z"},
            "reportingController": "rolesync", "reportingInstance": "rolesync-0",
            "action": "Reconcile", "reason": "Granted", "type": "Normal",
            "regarding": {"kind": "RoleAssignment", "name": "ra", "namespace": "team", "uid": "u1"},
            "related": {"kind": "Secret", "name": "key"},
            "note": "granted admin",
            "deprecatedSource": {"component": "old", "host": "h"},
            "deprecatedCount": 3,
            "deprecatedFirstTimestamp": "2025-01-01T00:00:00Z",
            "deprecatedLastTimestamp": "2025-01-01T00:02:00Z",
        })
    }

    #[test]
    fn events_v1_fields_move_to_their_core_names() {
        let core = to_core_v1(&events_v1());
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["involvedObject"]["uid"], "u1");
        assert_eq!(core["message"], "granted admin");
        assert_eq!(core["reportingComponent"], "rolesync");
        assert_eq!(core["reportingInstance"], "rolesync-0");
        assert_eq!(core["source"]["host"], "h");
        assert_eq!(core["count"], 3);
        assert_eq!(core["firstTimestamp"], "2025-01-01T00:00:00Z");
        assert_eq!(core["lastTimestamp"], "2025-01-01T00:02:00Z");
        assert_eq!(core["series"]["count"], 2);
        assert_eq!(core["related"]["name"], "key");
        assert!(core.get("regarding").is_none() && core.get("note").is_none());
    }

    #[test]
    fn conversion_round_trips() {
        assert_eq!(to_events_v1(&to_core_v1(&events_v1())), events_v1());
    }

    #[test]
    fn core_requires_references_even_when_missing() {
        let core = to_core_v1(&json!({"metadata": {"name": "x"}}));
        assert_eq!(core["involvedObject"], json!({}));
        assert_eq!(core["source"], json!({}));
        let back = to_events_v1(&json!({"metadata": {"name": "x"}, "count": null}));
        assert!(back.get("deprecatedCount").is_none());
    }

    #[test]
    fn field_labels_follow_upstream() {
        assert_eq!(
            core_field_label("involvedObject.uid"),
            Some("involvedObject.uid")
        );
        assert_eq!(core_field_label("message"), None);
        assert_eq!(
            events_v1_field_label("regarding.uid"),
            Some("involvedObject.uid")
        );
        assert_eq!(
            events_v1_field_label("reportingController"),
            Some("reportingComponent")
        );
        assert_eq!(events_v1_field_label("involvedObject.uid"), None);
        assert_eq!(events_v1_field_label("note"), None);
    }

    #[test]
    fn source_falls_back_to_the_reporting_controller() {
        let core = to_core_v1(&events_v1());
        assert_eq!(field_value(&core, "source"), "old");
        assert_eq!(field_value(&core, "involvedObject.name"), "ra");
        let newer = to_core_v1(&json!({"reportingController": "rolesync"}));
        assert_eq!(field_value(&newer, "source"), "rolesync");
        assert_eq!(field_value(&newer, "type"), "");
    }
}
