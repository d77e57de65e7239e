use serde_json::{Value, json};

use super::*;

const T0: &str = "2026-01-01T00:00:00Z";
const T1: &str = "2026-01-01T00:01:00Z";
const T2: &str = "2026-01-01T00:02:00Z";

/// Field types of a custom resource with every kind of list.
struct Widget;

impl FieldTypes for Widget {
    fn list_kind(&self, path: &[&str]) -> ListKind {
        match path {
            ["status", "conditions"] => ListKind::Map(vec!["type".into()]),
            ["spec", "ports"] => ListKind::Map(vec!["port".into(), "protocol".into()]),
            ["spec", "tags"] => ListKind::Set,
            _ => ListKind::Atomic,
        }
    }

    fn map_is_atomic(&self, path: &[&str]) -> bool {
        path == ["spec", "selector"]
    }
}

fn apply_as(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, ApplyError> {
    apply_with(live, applied, manager, force, None, now, &Widget)
}

fn apply_with(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    subresource: Option<&str>,
    now: &str,
    types: &dyn FieldTypes,
) -> Result<Value, ApplyError> {
    apply(
        &ApplyRequest {
            live,
            applied,
            manager,
            force,
            subresource,
            now,
        },
        types,
    )
}

fn managed_fields(obj: &Value) -> Vec<Value> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn entry(obj: &Value, manager: &str, operation: &str) -> Value {
    managed_fields(obj)
        .into_iter()
        .find(|e| e["manager"] == manager && e["operation"] == operation)
        .unwrap_or_else(|| panic!("no {operation} entry for {manager} in {obj:#}"))
}

fn fields(obj: &Value, manager: &str, operation: &str) -> Value {
    entry(obj, manager, operation)["fieldsV1"].clone()
}

fn without_managed(obj: &Value) -> Value {
    without_managed_fields(obj)
}

fn cm(data: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "test-cm", "namespace": "default"},
        "data": data,
    })
}

fn conflicts(err: ApplyError) -> Vec<(String, String)> {
    match err {
        ApplyError::Conflicts(c) => c.into_iter().map(|c| (c.manager, c.field)).collect(),
        other => panic!("expected conflicts, got {other:?}"),
    }
}

#[test]
fn create_by_apply_records_the_upstream_documentation_example() {
    // The ConfigMap of the Kubernetes "Server-Side Apply" documentation.
    let applied = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "test-cm", "namespace": "default", "labels": {"test-label": "test"}},
        "data": {"key": "some value"},
    });
    let obj = apply_as(None, &applied, "kubectl", false, T0).unwrap();
    assert_eq!(without_managed(&obj), applied);
    assert_eq!(
        managed_fields(&obj),
        vec![json!({
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {"f:test-label": {}}},
                "f:data": {"f:key": {}}
            }
        })]
    );
}

#[test]
fn create_records_update_entry_like_kubectl_create() {
    let mut obj = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "test-cm", "labels": {"app": "x"}, "uid": "u1", "resourceVersion": "1"},
        "data": {"key": "v"},
    });
    record_update(None, &mut obj, "kubectl-create", None, T0, &AtomicLists);
    assert_eq!(
        managed_fields(&obj),
        vec![json!({
            "manager": "kubectl-create",
            "operation": "Update",
            "apiVersion": "v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:data": {".": {}, "f:key": {}},
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}}
            }
        })]
    );
}

#[test]
fn applying_without_a_field_removes_it() {
    let first = apply_as(None, &cm(json!({"a": "1", "b": "2"})), "kubectl", false, T0).unwrap();
    let second = apply_as(Some(&first), &cm(json!({"a": "1"})), "kubectl", false, T1).unwrap();
    assert_eq!(second["data"], json!({"a": "1"}));
    assert_eq!(
        fields(&second, "kubectl", "Apply"),
        json!({"f:data": {"f:a": {}}})
    );
}

#[test]
fn dropping_the_only_labels_keeps_the_rest_of_metadata() {
    let mut labelled = cm(json!({"a": "1"}));
    labelled["metadata"]["labels"] = json!({"app": "x"});
    let first = apply_as(None, &labelled, "kubectl", false, T0).unwrap();
    let second = apply_as(Some(&first), &cm(json!({"a": "1"})), "kubectl", false, T1).unwrap();
    assert_eq!(
        second["metadata"]["name"], "test-cm",
        "metadata must survive: {second:#}"
    );
    assert!(second["metadata"].get("labels").is_none());
}

#[test]
fn applying_without_a_whole_map_removes_the_map() {
    let first = apply_as(None, &cm(json!({"a": "1"})), "kubectl", false, T0).unwrap();
    let mut bare = cm(json!({}));
    bare.as_object_mut().unwrap().remove("data");
    let second = apply_as(Some(&first), &bare, "kubectl", false, T1).unwrap();
    assert!(second.get("data").is_none(), "{second:#}");
    assert!(managed_fields(&second).is_empty(), "no field left to own");
}

#[test]
fn field_someone_else_owns_survives_when_dropped_from_the_config() {
    let a = apply_as(None, &cm(json!({"x": "1", "y": "2"})), "a", false, T0).unwrap();
    let b = apply_as(Some(&a), &cm(json!({"x": "1"})), "b", false, T1).unwrap();
    let a2 = apply_as(Some(&b), &cm(json!({"y": "2"})), "a", false, T2).unwrap();
    assert_eq!(a2["data"], json!({"x": "1", "y": "2"}));
    assert_eq!(fields(&a2, "a", "Apply"), json!({"f:data": {"f:y": {}}}));
    assert_eq!(fields(&a2, "b", "Apply"), json!({"f:data": {"f:x": {}}}));
}

#[test]
fn equal_values_are_shared_without_conflict() {
    let a = apply_as(None, &cm(json!({"key": "v"})), "a", false, T0).unwrap();
    let b = apply_as(Some(&a), &cm(json!({"key": "v"})), "b", false, T1).unwrap();
    let owned = json!({"f:data": {"f:key": {}}});
    assert_eq!(fields(&b, "a", "Apply"), owned);
    assert_eq!(fields(&b, "b", "Apply"), owned);
    assert_eq!(without_managed(&b), without_managed(&a));
}

#[test]
fn different_value_conflicts_with_the_owner() {
    let a = apply_as(None, &cm(json!({"key": "v", "other": "o"})), "a", false, T0).unwrap();
    let err = apply_as(Some(&a), &cm(json!({"key": "w"})), "b", false, T1).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "a": .data.key"#
    );
    assert_eq!(conflicts(err), vec![("a".into(), ".data.key".into())]);
}

#[test]
fn conflicts_with_several_managers_are_listed_per_manager() {
    let a = apply_as(None, &cm(json!({"x": "1", "y": "1"})), "a", false, T0).unwrap();
    let b = apply_as(Some(&a), &cm(json!({"z": "1"})), "b", false, T1).unwrap();
    let err = apply_as(
        Some(&b),
        &cm(json!({"x": "2", "y": "2", "z": "2"})),
        "c",
        false,
        T2,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 3 conflicts: conflicts with \"a\":\n- .data.x\n- .data.y\nconflicts with \"b\":\n- .data.z"
    );
}

#[test]
fn force_takes_ownership() {
    let a = apply_as(None, &cm(json!({"key": "v", "other": "o"})), "a", false, T0).unwrap();
    let b = apply_as(Some(&a), &cm(json!({"key": "w"})), "b", true, T1).unwrap();
    assert_eq!(b["data"], json!({"key": "w", "other": "o"}));
    assert_eq!(fields(&b, "a", "Apply"), json!({"f:data": {"f:other": {}}}));
    assert_eq!(fields(&b, "b", "Apply"), json!({"f:data": {"f:key": {}}}));
    // The former owner re-applying its old value now conflicts with the new owner.
    let err = apply_as(
        Some(&b),
        &cm(json!({"key": "v", "other": "o"})),
        "a",
        false,
        T2,
    )
    .unwrap_err();
    assert_eq!(conflicts(err), vec![("b".into(), ".data.key".into())]);
}

#[test]
fn edit_after_apply_takes_the_field_and_the_next_apply_conflicts() {
    let applied = cm(json!({"key": "v", "other": "o"}));
    let live = apply_as(None, &applied, "kubectl", false, T0).unwrap();
    let mut edited = live.clone();
    edited["data"]["key"] = json!("edited");
    record_update(Some(&live), &mut edited, "kubectl-edit", None, T1, &Widget);
    assert_eq!(
        fields(&edited, "kubectl-edit", "Update"),
        json!({"f:data": {"f:key": {}}})
    );
    assert_eq!(
        fields(&edited, "kubectl", "Apply"),
        json!({"f:data": {"f:other": {}}})
    );
    let err = apply_as(Some(&edited), &applied, "kubectl", false, T2).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "kubectl-edit" using v1: .data.key"#
    );
    let ApplyError::Conflicts(c) = err else {
        unreachable!()
    };
    assert_eq!(
        c[0].cause_message(),
        r#"conflict with "kubectl-edit" using v1"#
    );
}

#[test]
fn update_entries_order_after_apply_entries() {
    let live = apply_as(None, &cm(json!({"a": "1"})), "z-applier", false, T1).unwrap();
    let mut edited = live.clone();
    edited["data"]["b"] = json!("2");
    record_update(Some(&live), &mut edited, "a-editor", None, T0, &Widget);
    let order: Vec<(Value, Value)> = managed_fields(&edited)
        .into_iter()
        .map(|e| (e["manager"].clone(), e["operation"].clone()))
        .collect();
    assert_eq!(
        order,
        vec![
            (json!("z-applier"), json!("Apply")),
            (json!("a-editor"), json!("Update"))
        ]
    );
}

#[test]
fn update_removing_a_field_removes_it_from_every_set() {
    let live = apply_as(None, &cm(json!({"a": "1", "b": "2"})), "kubectl", false, T0).unwrap();
    let mut edited = live.clone();
    edited["data"].as_object_mut().unwrap().remove("a");
    record_update(Some(&live), &mut edited, "editor", None, T1, &Widget);
    assert_eq!(
        fields(&edited, "kubectl", "Apply"),
        json!({"f:data": {"f:b": {}}})
    );
    assert!(
        managed_fields(&edited)
            .iter()
            .all(|e| e["manager"] != "editor"),
        "a removal alone owns nothing"
    );
}

#[test]
fn unchanged_update_leaves_entries_untouched() {
    let live = apply_as(None, &cm(json!({"a": "1"})), "kubectl", false, T0).unwrap();
    let mut same = live.clone();
    record_update(Some(&live), &mut same, "editor", None, T1, &Widget);
    assert_eq!(same, live);
}

#[test]
fn repeated_updates_accumulate_in_one_entry() {
    let mut obj = cm(json!({"a": "1"}));
    record_update(None, &mut obj, "ctl", None, T0, &Widget);
    let mut next = obj.clone();
    next["data"]["b"] = json!("2");
    record_update(Some(&obj), &mut next, "ctl", None, T1, &Widget);
    let entries = managed_fields(&next);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["time"], T1);
    assert_eq!(
        entries[0]["fieldsV1"],
        json!({"f:data": {".": {}, "f:a": {}, "f:b": {}}})
    );
}

/// A widget; an empty `status` is left out, since applying `status: {}` would own it.
fn widget(spec: Value, status: Value) -> Value {
    let mut w = json!({
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": spec,
    });
    if status != json!({}) {
        w["status"] = status;
    }
    w
}

fn status_only(status: Value) -> Value {
    json!({
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "status": status,
    })
}

#[test]
fn conditions_merge_by_type() {
    let live = apply_as(
        None,
        &status_only(json!({"conditions": [{"type": "Ready", "status": "True"}]})),
        "ready-controller",
        false,
        T0,
    )
    .unwrap();
    let merged = apply_as(
        Some(&live),
        &status_only(json!({"conditions": [{"type": "Synced", "status": "False"}]})),
        "sync-controller",
        false,
        T1,
    )
    .unwrap();
    assert_eq!(
        merged["status"]["conditions"],
        json!([
            {"type": "Ready", "status": "True"},
            {"type": "Synced", "status": "False"}
        ])
    );
    assert_eq!(
        fields(&merged, "sync-controller", "Apply"),
        json!({"f:status": {"f:conditions": {"k:{\"type\":\"Synced\"}": {
            ".": {}, "f:status": {}, "f:type": {}
        }}}})
    );
    let err = apply_as(
        Some(&merged),
        &status_only(json!({"conditions": [{"type": "Ready", "status": "False"}]})),
        "sync-controller",
        false,
        T2,
    )
    .unwrap_err();
    assert_eq!(
        conflicts(err),
        vec![(
            "ready-controller".into(),
            r#".status.conditions[type="Ready"].status"#.into()
        )]
    );
}

#[test]
fn dropping_a_keyed_item_removes_only_that_item() {
    let live = apply_as(
        None,
        &widget(
            json!({"ports": [{"port": 80, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]}),
            json!({}),
        ),
        "a",
        false,
        T0,
    )
    .unwrap();
    assert_eq!(
        fields(&live, "a", "Apply")["f:spec"]["f:ports"]["k:{\"port\":443,\"protocol\":\"TCP\"}"],
        json!({".": {}, "f:port": {}, "f:protocol": {}})
    );
    let next = apply_as(
        Some(&live),
        &widget(
            json!({"ports": [{"port": 443, "protocol": "TCP"}]}),
            json!({}),
        ),
        "a",
        false,
        T1,
    )
    .unwrap();
    assert_eq!(
        next["spec"]["ports"],
        json!([{"port": 443, "protocol": "TCP"}])
    );
}

#[test]
fn set_lists_union_by_value() {
    let live = apply_as(
        None,
        &widget(json!({"tags": ["x"]}), json!({})),
        "a",
        false,
        T0,
    )
    .unwrap();
    let both = apply_as(
        Some(&live),
        &widget(json!({"tags": ["y", "x"]}), json!({})),
        "b",
        false,
        T1,
    )
    .unwrap();
    assert_eq!(both["spec"]["tags"], json!(["y", "x"]));
    assert_eq!(
        fields(&both, "b", "Apply")["f:spec"],
        json!({"f:tags": {"v:\"x\"": {}, "v:\"y\"": {}}})
    );
    let a_drops = apply_as(Some(&both), &widget(json!({}), json!({})), "a", false, T2).unwrap();
    assert_eq!(a_drops["spec"]["tags"], json!(["y", "x"]), "b still owns x");
}

#[test]
fn atomic_lists_and_maps_are_replaced_whole() {
    let live = apply_as(
        None,
        &widget(
            json!({"items": [1, 2], "selector": {"a": "1", "b": "2"}}),
            json!({}),
        ),
        "a",
        false,
        T0,
    )
    .unwrap();
    assert_eq!(
        fields(&live, "a", "Apply")["f:spec"],
        json!({"f:items": {}, "f:selector": {}})
    );
    let replaced = apply_as(
        Some(&live),
        &widget(json!({"items": [3], "selector": {"c": "3"}}), json!({})),
        "b",
        true,
        T1,
    )
    .unwrap();
    assert_eq!(replaced["spec"]["items"], json!([3]));
    assert_eq!(replaced["spec"]["selector"], json!({"c": "3"}));
    assert!(
        managed_fields(&replaced)
            .iter()
            .all(|e| e["manager"] != "a"),
        "a lost everything it owned"
    );
}

#[test]
fn status_subresource_has_its_own_entry() {
    let live = apply_as(
        None,
        &widget(json!({"size": 1}), json!({})),
        "ctl",
        false,
        T0,
    )
    .unwrap();
    let with_status = apply_with(
        Some(&live),
        &status_only(json!({"phase": "Ready"})),
        "ctl",
        false,
        Some("status"),
        T1,
        &Widget,
    )
    .unwrap();
    let entries = managed_fields(&with_status);
    assert_eq!(entries.len(), 2, "{entries:#?}");
    assert_eq!(entries[0]["fieldsV1"], json!({"f:spec": {"f:size": {}}}));
    assert!(entries[0].get("subresource").is_none());
    assert_eq!(entries[1]["subresource"], "status");
    assert_eq!(entries[1]["fieldsV1"], json!({"f:status": {"f:phase": {}}}));
    // The status apply must not prune the spec the main-resource entry owns.
    assert_eq!(with_status["spec"], json!({"size": 1}));
}

#[test]
fn status_update_records_subresource_and_keeps_stored_entries() {
    let live = apply_as(
        None,
        &widget(json!({"size": 1}), json!({})),
        "ctl",
        false,
        T0,
    )
    .unwrap();
    let mut updated = live.clone();
    updated["status"] = json!({"phase": "Ready"});
    // A status write cannot replace managedFields.
    updated["metadata"]["managedFields"] = json!([]);
    record_update(
        Some(&live),
        &mut updated,
        "ctl",
        Some("status"),
        T1,
        &Widget,
    );
    let status_entry = entry(&updated, "ctl", "Update");
    assert_eq!(status_entry["subresource"], "status");
    // The object had no status: the writer added the map too.
    assert_eq!(
        status_entry["fieldsV1"],
        json!({"f:status": {".": {}, "f:phase": {}}})
    );
    assert_eq!(
        fields(&updated, "ctl", "Apply"),
        json!({"f:spec": {"f:size": {}}})
    );
}

#[test]
fn first_apply_to_an_untracked_object_gives_existing_fields_to_before_first_apply() {
    let live = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "test-cm", "namespace": "default", "uid": "u", "resourceVersion": "7"},
        "data": {"a": "1", "b": "2"},
    });
    let err = apply_as(
        Some(&live),
        &cm(json!({"a": "changed"})),
        "kubectl",
        false,
        T1,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "before-first-apply" using v1: .data.a"#
    );
    let obj = apply_as(Some(&live), &cm(json!({"a": "1"})), "kubectl", false, T1).unwrap();
    assert_eq!(
        fields(&obj, "before-first-apply", "Update"),
        json!({"f:data": {".": {}, "f:a": {}, "f:b": {}}})
    );
    assert_eq!(
        fields(&obj, "kubectl", "Apply"),
        json!({"f:data": {"f:a": {}}})
    );
    assert_eq!(obj["metadata"]["resourceVersion"], "7");
    assert_eq!(obj["metadata"]["uid"], "u");
}

#[test]
fn reset_managed_fields_stops_tracking_until_the_next_apply() {
    let live = apply_as(None, &cm(json!({"a": "1"})), "kubectl", false, T0).unwrap();
    let mut reset = live.clone();
    reset["metadata"]["managedFields"] = json!([{}]);
    record_update(Some(&live), &mut reset, "editor", None, T1, &Widget);
    assert!(reset["metadata"].get("managedFields").is_none());
    let mut edited = reset.clone();
    edited["data"]["a"] = json!("2");
    record_update(Some(&reset), &mut edited, "editor", None, T2, &Widget);
    assert!(edited["metadata"].get("managedFields").is_none());
}

#[test]
fn update_may_replace_managed_fields() {
    let live = apply_as(None, &cm(json!({"a": "1"})), "kubectl", false, T0).unwrap();
    let mut replaced = live.clone();
    replaced["metadata"]["managedFields"] = json!([{
        "manager": "someone", "operation": "Update", "apiVersion": "v1",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}
    }]);
    record_update(Some(&live), &mut replaced, "editor", None, T1, &Widget);
    let managers: Vec<Value> = managed_fields(&replaced)
        .into_iter()
        .map(|e| e["manager"].clone())
        .collect();
    assert_eq!(managers, vec![json!("someone")]);
}

#[test]
fn metadata_lists_have_upstream_types() {
    let mut applied = cm(json!({}));
    applied["metadata"]["finalizers"] = json!(["a/f"]);
    applied["metadata"]["ownerReferences"] = json!([
        {"apiVersion": "v1", "kind": "X", "name": "o", "uid": "1"}
    ]);
    let live = apply_as(None, &applied, "a", false, T0).unwrap();
    let mut other = cm(json!({}));
    other["metadata"]["finalizers"] = json!(["b/f"]);
    other["metadata"]["ownerReferences"] = json!([
        {"apiVersion": "v1", "kind": "Y", "name": "p", "uid": "2"}
    ]);
    let both = apply_as(Some(&live), &other, "b", false, T1).unwrap();
    assert_eq!(both["metadata"]["finalizers"], json!(["a/f", "b/f"]));
    assert_eq!(
        both["metadata"]["ownerReferences"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(
        fields(&both, "b", "Apply")["f:metadata"],
        json!({
            "f:finalizers": {"v:\"b/f\"": {}},
            "f:ownerReferences": {"k:{\"uid\":\"2\"}": {
                ".": {}, "f:apiVersion": {}, "f:kind": {}, "f:name": {}, "f:uid": {}
            }}
        })
    );
}

#[test]
fn invalid_applied_configurations_are_rejected() {
    let mut with_managed = cm(json!({}));
    with_managed["metadata"]["managedFields"] = json!([]);
    assert_eq!(
        apply_as(None, &with_managed, "a", false, T0),
        Err(ApplyError::Invalid(
            "metadata.managedFields must be nil".into()
        ))
    );
    let live = apply_as(None, &cm(json!({"a": "1"})), "a", false, T0).unwrap();
    let mut renamed = cm(json!({}));
    renamed["metadata"]["name"] = json!("other");
    assert!(matches!(
        apply_as(Some(&live), &renamed, "a", false, T1),
        Err(ApplyError::Invalid(_))
    ));
    let dup = status_only(json!({"conditions": [{"type": "A"}, {"type": "A"}]}));
    assert_eq!(
        apply_as(None, &dup, "a", false, T0),
        Err(ApplyError::Invalid(
            r#".status.conditions: duplicate entries for key [type="A"]"#.into()
        ))
    );
}

#[test]
fn no_op_apply_keeps_the_entry_time() {
    let live = apply_as(None, &cm(json!({"a": "1"})), "kubectl", false, T0).unwrap();
    let again = apply_as(Some(&live), &cm(json!({"a": "1"})), "kubectl", false, T1).unwrap();
    assert_eq!(again, live);
}

#[test]
fn apply_never_owns_identity_or_server_metadata() {
    let mut applied = cm(json!({"a": "1"}));
    applied["metadata"]["uid"] = json!("forged");
    applied["metadata"]["resourceVersion"] = json!("99");
    let live = apply_as(None, &cm(json!({"a": "1"})), "x", false, T0).unwrap();
    let mut stored = live.clone();
    stored["metadata"]["uid"] = json!("real");
    stored["metadata"]["resourceVersion"] = json!("3");
    let obj = apply_as(Some(&stored), &applied, "kubectl", false, T1).unwrap();
    assert_eq!(obj["metadata"]["uid"], "real");
    assert_eq!(obj["metadata"]["resourceVersion"], "3");
    assert_eq!(
        fields(&obj, "kubectl", "Apply"),
        json!({"f:data": {"f:a": {}}})
    );
}

#[test]
fn many_objects_apply_quickly() {
    // Guards against per-object blowups: 10,000 create-then-reapply cycles of a small
    // object must stay well under the time a quadratic walk would take.
    let start = std::time::Instant::now();
    for i in 0..10_000 {
        let applied = widget(
            json!({"size": i, "tags": ["a", "b"], "ports": [{"port": 80, "protocol": "TCP"}]}),
            json!({}),
        );
        let live = apply_as(None, &applied, "kubectl", false, T0).unwrap();
        apply_as(Some(&live), &applied, "kubectl", false, T1).unwrap();
    }
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
}

/// Upstream compares a null value as whatever the other side is: a list replacing a null
/// one owns its items, not the list itself, unlike a list that was absent.
#[test]
fn a_list_replacing_null_owns_its_items_only() {
    let condition = json!([{"type": "Ready", "status": "True"}]);
    let item = json!({".": {}, "f:status": {}, "f:type": {}});
    let mut absent = cm(json!({}));
    record_update(None, &mut absent, "ctl", None, T0, &Widget);
    let mut from_null = absent.clone();
    from_null["status"] = json!({"conditions": null});
    let mut filled = from_null.clone();
    filled["status"]["conditions"] = condition.clone();
    record_update(Some(&from_null), &mut filled, "other", None, T1, &Widget);
    assert_eq!(
        fields(&filled, "other", "Update"),
        json!({"f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": item}}})
    );
    let mut added = absent.clone();
    added["status"] = json!({"conditions": condition});
    record_update(Some(&absent), &mut added, "other", None, T1, &Widget);
    assert_eq!(
        fields(&added, "other", "Update"),
        json!({"f:status": {".": {}, "f:conditions": {".": {}, "k:{\"type\":\"Ready\"}": item}}})
    );
}
