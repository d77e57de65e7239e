//! The JSON patch that turns a RoleAssignment's cached status into the one a reconcile
//! wants. The cache keeps only a digest of `status.atProvider`, so the patch carries the
//! provider's report only when its digest changed. Every other field is rewritten as
//! wanted and every removal succeeds whether or not the server still has the field, so a
//! write made from a cache that lags the server still lands; only a report that changed
//! and changed back within that lag is left for the next resync to correct.

use serde_json::{Map, Value, json};

use crate::api::RoleAssignmentStatus;

fn fields(status: &RoleAssignmentStatus) -> Result<Map<String, Value>, serde_json::Error> {
    let rest = RoleAssignmentStatus {
        at_provider: None,
        ..status.clone()
    };
    match serde_json::to_value(rest)? {
        Value::Object(map) => Ok(map),
        _ => Err(serde::ser::Error::custom(
            "a status serializes to an object",
        )),
    }
}

/// Removes `path` whether or not it exists: a bare "remove" of a missing member fails.
fn remove(ops: &mut Vec<Value>, path: &str) {
    ops.push(json!({"op": "add", "path": path, "value": {}}));
    ops.push(json!({"op": "remove", "path": path}));
}

/// The operations that replace `old` (what the cache holds, `None` when the object has no
/// status yet) with `new`.
pub fn status_patch(
    old: Option<&RoleAssignmentStatus>,
    new: &RoleAssignmentStatus,
) -> Result<json_patch::Patch, serde_json::Error> {
    let ops = match old {
        None => vec![json!({"op": "add", "path": "/status", "value": serde_json::to_value(new)?})],
        Some(old) => {
            let (before, after) = (fields(old)?, fields(new)?);
            let mut ops: Vec<Value> = after
                .iter()
                .map(|(k, v)| json!({"op": "add", "path": format!("/status/{k}"), "value": v}))
                .collect();
            for k in before.keys().filter(|k| !after.contains_key(*k)) {
                remove(&mut ops, &format!("/status/{k}"));
            }
            match &new.at_provider {
                // A report that differs from the cached one is always a new one, so it has
                // its value; serializing it says so if that ever stops being true.
                Some(report) if old.at_provider.as_ref() != Some(report) => {
                    let value = serde_json::to_value(report)?;
                    ops.push(json!({"op": "add", "path": "/status/atProvider", "value": value}));
                }
                Some(_) => {}
                None => remove(&mut ops, "/status/atProvider"),
            }
            ops
        }
    };
    serde_json::from_value(Value::Array(ops))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AtProvider, Condition, ConditionStatus};

    fn status(role: &str, report: Option<Value>) -> RoleAssignmentStatus {
        RoleAssignmentStatus {
            external_id: Some("7".into()),
            observed_generation: Some(1),
            at_provider: report.map(AtProvider::new),
            role: Some(role.into()),
            conditions: vec![Condition {
                type_: "Ready".into(),
                status: ConditionStatus::True,
                reason: "Available".into(),
                message: String::new(),
                last_transition_time: "2026-12-01T00:00:00Z".into(),
                observed_generation: Some(1),
            }],
            ..Default::default()
        }
    }

    fn cached(mut s: RoleAssignmentStatus) -> RoleAssignmentStatus {
        if let Some(a) = s.at_provider.as_mut() {
            a.compact();
        }
        s
    }

    fn apply(server: &Value, patch: &json_patch::Patch) -> Value {
        let mut doc = server.clone();
        json_patch::patch(&mut doc, patch).unwrap();
        doc
    }

    #[test]
    fn a_first_status_is_written_whole() {
        let new = status("Observer", Some(json!({"id": 7})));
        let patch = status_patch(None, &new).unwrap();
        let doc = apply(&json!({"metadata": {}}), &patch);
        assert_eq!(doc["status"], serde_json::to_value(&new).unwrap());
    }

    #[test]
    fn an_unchanged_report_is_left_as_the_server_has_it() {
        let report = json!({"id": 7, "role": "Observer"});
        let server = json!({"status": serde_json::to_value(status("Observer", Some(report.clone()))).unwrap()});
        let old = cached(status("Observer", Some(report.clone())));
        let mut new = old.clone();
        new.observed_generation = Some(2);
        // The error path keeps the cached digest: it must not be written.
        let patch = status_patch(Some(&old), &new).unwrap();
        let doc = apply(&server, &patch);
        assert_eq!(doc["status"]["atProvider"], report);
        assert_eq!(doc["status"]["observedGeneration"], 2);
    }

    #[test]
    fn a_changed_report_and_dropped_fields_are_written() {
        let server = json!({"status": serde_json::to_value(status("Observer", Some(json!({"id": 7, "old": true})))).unwrap()});
        let old = cached(status("Observer", Some(json!({"id": 7, "old": true}))));
        let mut new = status("User", Some(json!({"id": 7})));
        new.external_id = None;
        let doc = apply(&server, &status_patch(Some(&old), &new).unwrap());
        assert_eq!(
            doc["status"]["atProvider"],
            json!({"id": 7}),
            "replaced, not merged"
        );
        assert_eq!(doc["status"]["role"], "User");
        assert!(doc["status"].get("externalID").is_none());

        let gone = status("User", None);
        let doc = apply(&doc, &status_patch(Some(&cached(new)), &gone).unwrap());
        assert!(doc["status"].get("atProvider").is_none());
    }

    #[test]
    fn a_cache_that_lags_the_server_still_gets_the_wanted_status() {
        // The server already holds a report the cache has not seen, and has already
        // dropped a field the cache still shows.
        let mut on_server = status("User", Some(json!({"id": 8})));
        on_server.principal = None;
        let server = json!({"status": serde_json::to_value(on_server).unwrap()});
        let mut lagging = status("Observer", None);
        lagging.principal = Some("user:1".into());
        let wanted = status("User", None);
        let doc = apply(&server, &status_patch(Some(&lagging), &wanted).unwrap());
        assert!(
            doc["status"].get("atProvider").is_none(),
            "removed though the cache had none"
        );
        assert!(
            doc["status"].get("principal").is_none(),
            "removing what is gone succeeds"
        );
        assert_eq!(doc["status"]["role"], "User");
    }
}
