use serde_json::{Value, json};

use super::{FieldError, FieldErrorKind, Schema};
use crate::apply::{FieldTypes, ListKind};

fn schema(spec: Value) -> Schema {
    match Schema::compile(&json!({
        "type": "object",
        "properties": {"spec": spec, "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
    })) {
        Ok(s) => s,
        Err(errors) => panic!("schema should compile: {errors:?}"),
    }
}

fn object(spec: Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "a"}, "spec": spec})
}

/// Every error as kubectl prints it.
fn printed(errors: &[FieldError]) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

fn check(spec_schema: Value, spec: Value) -> Vec<String> {
    printed(&schema(spec_schema).validate(&object(spec), None))
}

fn props(properties: Value) -> Value {
    json!({"type": "object", "properties": properties})
}

#[test]
fn type_mismatch_reads_like_upstream() {
    let errors = check(
        props(json!({"count": {"type": "integer"}})),
        json!({"count": "5"}),
    );
    assert_eq!(
        errors,
        [
            r#"spec.count: Invalid value: "string": spec.count in body must be of type integer: "string""#
        ]
    );
    let errs = schema(props(json!({"count": {"type": "integer"}})))
        .validate(&object(json!({"count": "5"})), None);
    assert_eq!(errs[0].kind.reason(), "FieldValueTypeInvalid");
}

/// What the real kube-apiserver answers (checked against it in rolesync's real-server suite):
/// rules are skipped on an object of the wrong shape, with a cause saying so. Its bad value is
/// Go's nil, which upstream prints as JSON.
#[test]
fn rules_are_not_checked_on_an_object_of_the_wrong_shape() {
    let with_rule = json!({"type": "object", "properties": {"count": {"type": "integer"}},
        "x-kubernetes-validations": [{"rule": "self.count > 1", "message": "count must exceed 1"}]});
    assert_eq!(
        check(with_rule.clone(), json!({"count": "5"})),
        [
            r#"spec.count: Invalid value: "string": spec.count in body must be of type integer: "string""#,
            r#"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"#,
        ]
    );
    assert_eq!(
        check(with_rule, json!({"count": 1})),
        ["spec: Invalid value: count must exceed 1"],
        "a well-formed object gets its rules checked"
    );
    assert_eq!(
        check(
            props(json!({"count": {"type": "integer"}})),
            json!({"count": "5"})
        )
        .len(),
        1,
        "without rules nothing is said of them"
    );
}

#[test]
fn integers_accept_whole_floats_and_numbers_accept_integers() {
    let s = props(json!({"i": {"type": "integer"}, "n": {"type": "number"}}));
    assert!(check(s.clone(), json!({"i": 5.0, "n": 3})).is_empty());
    assert_eq!(
        check(s, json!({"i": 5.5})),
        [r#"spec.i: Invalid value: "number": spec.i in body must be of type integer: "number""#]
    );
}

#[test]
fn null_is_rejected_unless_nullable() {
    let s = props(json!({"a": {"type": "string"}, "b": {"type": "string", "nullable": true}}));
    assert_eq!(
        check(s.clone(), json!({"a": null})),
        [r#"spec.a: Invalid value: "null": spec.a in body must be of type string: "null""#]
    );
    assert!(check(s, json!({"b": null})).is_empty());
}

#[test]
fn required_fields() {
    let s =
        json!({"type": "object", "required": ["foo"], "properties": {"foo": {"type": "string"}}});
    let errors = schema(s).validate(&object(json!({})), None);
    assert_eq!(printed(&errors), ["spec.foo: Required value"]);
    assert_eq!(errors[0].kind, FieldErrorKind::Required);
}

#[test]
fn enum_lists_supported_values() {
    let s = props(
        json!({"mode": {"type": "string", "enum": ["a", "b"]}, "n": {"type": "integer", "enum": [1, 2]}}),
    );
    assert_eq!(
        check(s, json!({"mode": "x", "n": 3})),
        [
            r#"spec.mode: Unsupported value: "x": supported values: "a", "b""#,
            r#"spec.n: Unsupported value: 3: supported values: "1", "2""#,
        ]
    );
}

#[test]
fn numeric_bounds() {
    let s = props(json!({
        "max": {"type": "integer", "maximum": 3},
        "xmax": {"type": "integer", "maximum": 3, "exclusiveMaximum": true},
        "min": {"type": "number", "minimum": 1.5},
        "xmin": {"type": "integer", "minimum": 1, "exclusiveMinimum": true},
        "mult": {"type": "integer", "multipleOf": 4},
        "big": {"type": "integer", "maximum": 1000000},
    }));
    assert!(
        check(
            s.clone(),
            json!({"max": 3, "xmax": 2, "min": 1.5, "xmin": 2, "mult": 8})
        )
        .is_empty()
    );
    assert_eq!(
        check(
            s,
            json!({"max": 5, "xmax": 3, "min": 1, "xmin": 1, "mult": 6, "big": 1000001})
        ),
        [
            "spec.big: Invalid value: 1000001: spec.big in body should be less than or equal to 1e+06",
            "spec.max: Invalid value: 5: spec.max in body should be less than or equal to 3",
            "spec.min: Invalid value: 1: spec.min in body should be greater than or equal to 1.5",
            "spec.mult: Invalid value: 6: spec.mult in body should be a multiple of 4",
            "spec.xmax: Invalid value: 3: spec.xmax in body should be less than 3",
            "spec.xmin: Invalid value: 1: spec.xmin in body should be greater than 1",
        ]
    );
}

#[test]
fn integer_formats_bound_the_range() {
    let s = props(json!({"small": {"type": "integer", "format": "int32"}}));
    assert!(check(s.clone(), json!({"small": 2147483647})).is_empty());
    assert_eq!(
        check(s, json!({"small": 2147483648_i64})),
        ["spec.small: Invalid value: 2147483648: spec.small in body must be of type int32"]
    );
}

#[test]
fn string_length_pattern_and_format() {
    let s = props(json!({
        "long": {"type": "string", "maxLength": 3},
        "short": {"type": "string", "minLength": 2},
        "id": {"type": "string", "pattern": "^[a-z]+$"},
        "at": {"type": "string", "format": "date-time"},
    }));
    assert!(
        check(
            s.clone(),
            json!({"long": "abc", "short": "ab", "id": "abc", "at": "2024-05-06T07:08:09Z"})
        )
        .is_empty()
    );
    let errors = check(
        s,
        json!({"long": "abcd", "short": "a", "id": "A1", "at": "yesterday"}),
    );
    assert_eq!(
        errors,
        [
            r#"spec.at: Invalid value: "yesterday": spec.at in body must be of type date-time: "yesterday""#,
            r#"spec.id: Invalid value: "A1": spec.id in body should match '^[a-z]+$'"#,
            "spec.long: Too long: may not be more than 3 bytes",
            r#"spec.short: Invalid value: "a": spec.short in body should be at least 2 chars long"#,
        ]
    );
}

#[test]
fn item_and_property_counts() {
    let s = props(json!({
        "few": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "many": {"type": "array", "items": {"type": "string"}, "maxItems": 1},
        "sparse": {"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 1},
        "dense": {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 1},
    }));
    assert_eq!(
        check(
            s,
            json!({"few": ["a"], "many": ["a", "b"], "sparse": {}, "dense": {"a": "1", "b": "2"}})
        ),
        [
            "spec.dense: Too many: 2: must have at most 1 item",
            "spec.few: Invalid value: 1: spec.few in body should have at least 2 items",
            "spec.many: Too many: 2: must have at most 1 item",
            "spec.sparse: Invalid value: {}: spec.sparse in body should have at least 1 properties",
        ]
    );
}

#[test]
fn nested_paths_name_list_indexes() {
    let s = props(
        json!({"items": {"type": "array", "items": props(json!({"name": {"type": "string"}}))}}),
    );
    assert_eq!(
        check(
            s,
            json!({"items": [{"name": "a"}, {"name": "b"}, {"name": 3}]})
        ),
        [
            r#"spec.items[2].name: Invalid value: "integer": spec.items[2].name in body must be of type string: "integer""#
        ]
    );
}

#[test]
fn embedded_resources_need_api_version_and_kind() {
    let s = props(
        json!({"template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}}),
    );
    assert!(
        check(
            s.clone(),
            json!({"template": {"apiVersion": "v1", "kind": "Pod", "spec": {}}})
        )
        .is_empty()
    );
    assert_eq!(
        check(s, json!({"template": {"kind": ""}})),
        [
            "spec.template.apiVersion: Required value: must not be empty",
            "spec.template.kind: Required value: must not be empty",
        ]
    );
}

#[test]
fn int_or_string_accepts_both() {
    let s = props(json!({"port": {"x-kubernetes-int-or-string": true}}));
    assert!(check(s.clone(), json!({"port": 80})).is_empty());
    assert!(check(s.clone(), json!({"port": "http"})).is_empty());
    assert_eq!(
        check(s, json!({"port": true})),
        [
            r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#
        ]
    );
}

#[test]
fn junctors() {
    let s = props(json!({
        "one": {"type": "integer", "oneOf": [{"minimum": 5}, {"maximum": 0}]},
        "any": {"type": "string", "anyOf": [{"enum": ["a"]}, {"maxLength": 1}]},
        "all": {"type": "integer", "allOf": [{"minimum": 1}, {"maximum": 9}]},
        "not": {"type": "string", "not": {"enum": ["forbidden"]}},
    }));
    assert!(
        check(
            s.clone(),
            json!({"one": 7, "any": "z", "all": 5, "not": "ok"})
        )
        .is_empty()
    );
    let errors = check(
        s,
        json!({"one": 3, "any": "zz", "all": 10, "not": "forbidden"}),
    );
    assert!(
        errors.contains(
            &r#"spec.all: Invalid value: "": "spec.all" must validate all the schemas (allOf)"#
                .to_owned()
        )
    );
    assert!(
        errors.contains(
            &"spec.all: Invalid value: 10: spec.all in body should be less than or equal to 9"
                .to_owned()
        )
    );
    assert!(
        errors.contains(
            &r#"spec.any: Invalid value: "": "spec.any" must validate at least one schema (anyOf)"#
                .to_owned()
        )
    );
    assert!(errors.contains(
        &r#"spec.one: Invalid value: "": "spec.one" must validate one and only one schema (oneOf). Found none valid"#.to_owned()
    ));
    assert!(errors.contains(
        &r#"spec.not: Invalid value: "": "spec.not" must not validate the schema (not)"#.to_owned()
    ));
}

#[test]
fn defaults_fill_absent_fields_nested_and_in_list_items() {
    let s = schema(props(json!({
        "replicas": {"type": "integer", "default": 1},
        "present": {"type": "string", "default": "x"},
        "nulled": {"type": "string", "default": "was-null"},
        "keepNull": {"type": "string", "nullable": true, "default": "unused"},
        "tls": {"type": "object", "default": {}, "properties": {"enabled": {"type": "boolean", "default": true}}},
        "ports": {"type": "array", "items": props(json!({"protocol": {"type": "string", "default": "TCP"}, "port": {"type": "integer"}}))},
    })));
    let mut obj = object(
        json!({"present": "y", "nulled": null, "keepNull": null, "ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}),
    );
    s.apply_defaults(&mut obj);
    assert_eq!(
        obj["spec"],
        json!({
            "replicas": 1, "present": "y", "nulled": "was-null", "keepNull": null, "tls": {"enabled": true},
            "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
        })
    );
    assert_eq!(obj["metadata"], json!({"name": "a"}));
}

#[test]
fn pruning_drops_unknown_fields_and_reports_them() {
    let s = schema(props(json!({
        "known": {"type": "string"},
        "nested": props(json!({"a": {"type": "string"}})),
        "list": {"type": "array", "items": props(json!({"a": {"type": "string"}}))},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        "gone": {"type": "string"},
        "embedded": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"spec": {"type": "object"}}},
    })));
    let mut obj = object(json!({
        "known": "k", "extra": 1, "nested": {"a": "x", "b": "y"}, "list": [{"a": "1", "z": 2}],
        "labels": {"any": "thing"}, "free": {"whatever": {"deep": true}}, "gone": null,
        "embedded": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}, "junk": 1},
    }));
    obj["topLevel"] = json!(true);
    let mut pruned = s.prune(&mut obj);
    pruned.sort();
    assert_eq!(
        pruned,
        [
            "spec.embedded.junk",
            "spec.extra",
            "spec.list[0].z",
            "spec.nested.b",
            "topLevel"
        ]
    );
    assert_eq!(
        obj,
        json!({
            "apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "a"},
            "spec": {
                "known": "k", "nested": {"a": "x"}, "list": [{"a": "1"}], "labels": {"any": "thing"},
                "free": {"whatever": {"deep": true}},
                "embedded": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}},
            },
        })
    );
}

#[test]
fn compile_rejects_non_structural_schemas() {
    let errors = Schema::compile(&json!({
        "type": "object",
        "properties": {
            "untyped": {"description": "no type"},
            "unique": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
            "both": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "string"}},
            "badPattern": {"type": "string", "pattern": "("},
            "badDefault": {"type": "integer", "default": "one"},
            "typedJunctor": {"type": "string", "anyOf": [{"type": "integer"}]},
        },
    }))
    .err()
    .unwrap_or_default();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    for expected in [
        "openAPIV3Schema.properties[untyped].type",
        "openAPIV3Schema.properties[unique].uniqueItems",
        "openAPIV3Schema.properties[both].additionalProperties",
        "openAPIV3Schema.properties[badPattern].pattern",
        "openAPIV3Schema.properties[badDefault].default",
        "openAPIV3Schema.properties[typedJunctor].anyOf[0].type",
    ] {
        assert!(
            fields.contains(&expected),
            "missing {expected} in {errors:?}"
        );
    }
}

#[test]
fn compile_rejects_rules_that_do_not_parse() {
    let errors = Schema::compile(&json!({
        "type": "object",
        "x-kubernetes-validations": [{"rule": "self.a ==="}],
    }))
    .err()
    .unwrap_or_default();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].field,
        "openAPIV3Schema.x-kubernetes-validations[0].rule"
    );
    assert!(
        errors[0].detail.starts_with("compilation failed"),
        "{}",
        errors[0].detail
    );
}

#[test]
fn cel_rule_failure_uses_message_or_rule() {
    let s = json!({
        "type": "object",
        "x-kubernetes-validations": [
            {"rule": "self.min <= self.max", "message": "min must not exceed max"},
            {"rule": "self.max < 100"},
        ],
        "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
    });
    assert!(check(s.clone(), json!({"min": 1, "max": 2})).is_empty());
    assert_eq!(
        check(s, json!({"min": 300, "max": 200})),
        [
            r#"spec: Invalid value: min must not exceed max"#,
            r#"spec: Invalid value: failed rule: self.max < 100"#,
        ]
    );
}

#[test]
fn cel_exactly_one_of_two_fields() {
    let s = json!({
        "type": "object",
        "x-kubernetes-validations": [{"rule": "has(self.gcore) != has(self.harness)", "message": "exactly one provider block must be set"}],
        "properties": {"gcore": {"type": "object"}, "harness": {"type": "object"}},
    });
    assert!(check(s.clone(), json!({"gcore": {}})).is_empty());
    let expected = [r#"spec: Invalid value: exactly one provider block must be set"#];
    assert_eq!(check(s.clone(), json!({})), expected);
    assert_eq!(check(s, json!({"gcore": {}, "harness": {}})), expected);
}

#[test]
fn cel_transition_rule_only_runs_on_update_of_an_existing_field() {
    let s = schema(props(json!({
        "userId": {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "userId is immutable"}]},
    })));
    assert!(s.validate(&object(json!({"userId": "a"})), None).is_empty());
    let old = object(json!({"userId": "a"}));
    assert!(
        s.validate(&object(json!({"userId": "a"})), Some(&old))
            .is_empty()
    );
    assert!(
        s.validate(&object(json!({"userId": "b"})), Some(&object(json!({}))))
            .is_empty()
    );
    assert_eq!(
        printed(&s.validate(&object(json!({"userId": "b"})), Some(&old))),
        [r#"spec.userId: Invalid value: "b": userId is immutable"#]
    );
}

#[test]
fn cel_values_are_typed_by_the_schema() {
    let s = json!({
        "type": "object",
        "x-kubernetes-validations": [
            {"rule": "self.ratio > 0.5", "message": "number is a double"},
            {"rule": "self.count + 1 == 3", "message": "integer is an int"},
            {"rule": "self.at < timestamp('2030-01-01T00:00:00Z')", "message": "date-time is a timestamp"},
            {"rule": "self.every > duration('1m')", "message": "duration is a duration"},
            {"rule": "self.dash__dash__field == 'x'", "message": "names are escaped"},
            {"rule": "self.labels['a.b/c'] == 'v'", "message": "map keys are raw"},
        ],
        "properties": {
            "ratio": {"type": "number"},
            "count": {"type": "integer"},
            "at": {"type": "string", "format": "date-time"},
            "every": {"type": "string", "format": "duration"},
            "dash-field": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    });
    let good = json!({"ratio": 1, "count": 2, "at": "2024-01-01T00:00:00Z", "every": "5m", "dash-field": "x", "labels": {"a.b/c": "v"}});
    assert_eq!(check(s, good), Vec::<String>::new());
}

#[test]
fn cel_reason_field_path_and_message_expression() {
    let s = json!({
        "type": "object",
        "x-kubernetes-validations": [
            {"rule": "has(self.a)", "reason": "FieldValueRequired", "fieldPath": ".a", "message": "a is needed"},
            {"rule": "self.b != 'no'", "reason": "FieldValueForbidden", "messageExpression": "'b may not be ' + self.b"},
            {"rule": "self.b != 'no'", "reason": "FieldValueDuplicate"},
        ],
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
    });
    let errors = schema(s).validate(&object(json!({"b": "no"})), None);
    assert_eq!(
        printed(&errors),
        [
            "spec.a: Required value: a is needed",
            "spec: Forbidden: b may not be no",
            r#"spec: Duplicate value"#,
        ]
    );
    assert_eq!(errors[1].kind.reason(), "FieldValueForbidden");
}

#[test]
fn cel_rules_on_map_values_and_list_items_use_their_paths() {
    let s = props(json!({
        "labels": {"type": "object", "additionalProperties": {"type": "string", "x-kubernetes-validations": [{"rule": "self.size() < 3"}]}},
        "roles": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "level": {"type": "integer", "x-kubernetes-validations": [{"rule": "self >= oldSelf", "message": "may not decrease"}]}},
            },
        },
    }));
    let s = schema(s);
    let old = object(json!({"roles": [{"name": "b", "level": 2}, {"name": "a", "level": 5}]}));
    let new = object(
        json!({"labels": {"k": "long"}, "roles": [{"name": "a", "level": 4}, {"name": "b", "level": 3}]}),
    );
    assert_eq!(
        printed(&s.validate(&new, Some(&old))),
        [
            r#"spec.labels[k]: Invalid value: "long": failed rule: self.size() < 3"#,
            r#"spec.roles[0].level: Invalid value: 4: may not decrease"#,
        ]
    );
}

#[test]
fn cel_root_rules_see_only_name_in_metadata() {
    let s = Schema::compile(&json!({
        "type": "object",
        "x-kubernetes-validations": [{"rule": "self.metadata.name.startsWith('a') && !has(self.metadata.labels)"}],
        "properties": {"spec": {"type": "object"}},
    }))
    .ok();
    let s = s.as_ref().map(|s| {
        s.validate(
            &json!({"metadata": {"name": "abc", "labels": {"x": "y"}}, "spec": {}}),
            None,
        )
    });
    assert_eq!(s, Some(Vec::new()));
}

#[test]
fn evaluation_errors_are_reported_not_swallowed() {
    let s = json!({
        "type": "object",
        "x-kubernetes-validations": [{"rule": "self.missing == 'x'"}],
        "properties": {"missing": {"type": "string"}},
    });
    let errors = check(s, json!({}));
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with(r#"spec: Invalid value: "#),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].ends_with("evaluating rule: self.missing == 'x'"),
        "{}",
        errors[0]
    );
}

#[test]
fn field_types_follow_list_and_map_annotations() {
    let s = schema(props(json!({
        "conditions": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
            "items": props(json!({"type": {"type": "string"}, "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}))},
        "plain": {"type": "array", "items": {"type": "string"}},
        "selector": {"type": "object", "x-kubernetes-map-type": "atomic", "additionalProperties": {"type": "string"}},
    })));
    assert_eq!(
        s.list_kind(&["spec", "conditions"]),
        ListKind::Map(vec!["type".to_owned()])
    );
    assert_eq!(s.list_kind(&["spec", "conditions", "tags"]), ListKind::Set);
    assert_eq!(s.list_kind(&["spec", "plain"]), ListKind::Atomic);
    assert_eq!(s.list_kind(&["spec", "nothing"]), ListKind::Atomic);
    assert!(s.map_is_atomic(&["spec", "selector"]));
    assert!(!s.map_is_atomic(&["spec"]));
}

#[test]
fn unchanged_values_are_not_rechecked_by_rules() {
    let s = schema(json!({
        "type": "object",
        "x-kubernetes-validations": [{"rule": "self.n < 10"}],
        "properties": {"n": {"type": "integer"}},
    }));
    let old = object(json!({"n": 50}));
    assert!(s.validate(&old, Some(&old)).is_empty());
    assert_eq!(s.validate(&object(json!({"n": 51})), Some(&old)).len(), 1);
}

#[test]
fn validating_a_small_object_is_fast() {
    let s = schema(json!({
        "type": "object",
        "x-kubernetes-validations": [{"rule": "has(self.gcore) != has(self.harness)"}],
        "properties": {
            "gcore": props(json!({"userId": {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf"}]}, "role": {"type": "string", "enum": ["admin", "viewer"]}})),
            "harness": props(json!({"user": {"type": "string"}})),
        },
    }));
    let obj = object(json!({"gcore": {"userId": "u1", "role": "admin"}}));
    let started = std::time::Instant::now();
    for _ in 0..1000 {
        assert!(s.validate(&obj, None).is_empty());
    }
    // 10,000 creates must stay well within a test's patience even in a debug build.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn schemas_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Schema>();
}

mod generated {
    use kube::CustomResourceExt;
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    use super::super::Schema;

    #[derive(Clone, Copy, Debug, Serialize, Deserialize, schemars::JsonSchema)]
    enum Mode {
        Fast,
        Safe,
    }

    #[derive(kube::CustomResource, Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
    #[kube(group = "example.com", version = "v1", kind = "Widget", namespaced)]
    #[serde(rename_all = "camelCase")]
    struct WidgetSpec {
        replicas: Option<i32>,
        mode: Option<Mode>,
        #[serde(default)]
        tags: Vec<String>,
        labels: std::collections::BTreeMap<String, String>,
        owner: Owner,
    }

    #[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
    struct Owner {
        name: String,
    }

    /// The schemas kube-rs derives are the ones rolesync's CRDs use, so they must compile.
    #[test]
    fn kube_derived_schemas_compile_and_validate() {
        let crd = Widget::crd();
        let raw = crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .map(serde_json::to_value);
        let Some(Ok(raw)) = raw else {
            panic!("derived CRD has no schema");
        };
        let schema = Schema::compile(&raw)
            .unwrap_or_else(|e| panic!("derived schema should compile: {e:?}"));
        let good = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"replicas": 2, "mode": "Safe", "labels": {"a": "b"}, "owner": {"name": "o"}}});
        assert_eq!(schema.validate(&good, None), Vec::new());
        let bad = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"replicas": 3000000000_i64, "mode": "Slow", "labels": {}, "owner": {}}});
        let printed: Vec<String> = schema
            .validate(&bad, None)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            printed.contains(&"spec.owner.name: Required value".to_owned()),
            "{printed:?}"
        );
        assert!(
            printed.contains(
                &r#"spec.mode: Unsupported value: "Slow": supported values: "Fast", "Safe", "null""#
                    .to_owned()
            ),
            "{printed:?}"
        );
        assert!(
            printed
                .iter()
                .any(|p| p.starts_with("spec.replicas: Invalid value: 3000000000")),
            "{printed:?}"
        );
    }
}
