//! `crds/` is generated from the Rust types; this fails when they drift apart.

#[test]
fn checked_in_crds_match_the_types() {
    let generated = rolesync::api::crds_yaml().expect("CRDs serialize");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/rolesync.dev.yaml");
    let checked_in = std::fs::read_to_string(path).expect("crds/rolesync.dev.yaml exists");
    assert!(
        generated == checked_in,
        "crds/rolesync.dev.yaml is out of date: run `cargo run -- crd > crds/rolesync.dev.yaml`"
    );
}

#[test]
fn crds_parse_back_as_kubernetes_objects() {
    let yaml = rolesync::api::crds_yaml().expect("CRDs serialize");
    let docs: Vec<serde_json::Value> = yaml
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_saphyr::from_str(d).expect("valid YAML"))
        .collect();
    let names: Vec<&str> = docs
        .iter()
        .filter_map(|d| d["metadata"]["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "roleassignments.rolesync.dev",
            "providerconfigs.rolesync.dev",
            "clusterproviderconfigs.rolesync.dev"
        ]
    );
    let ra = &docs[0]["spec"]["versions"][0];
    assert_eq!(ra["subresources"]["status"], serde_json::json!({}));
    let columns: Vec<&str> = ra["additionalPrinterColumns"]
        .as_array()
        .expect("printer columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for wanted in [
        "Provider",
        "Role",
        "Principal",
        "External-ID",
        "Ready",
        "Synced",
        "Age",
    ] {
        assert!(columns.contains(&wanted), "missing column {wanted}");
    }
}

mod schema_rules {
    use rolesync::sandbox::kube::schema::Schema;
    use serde_json::{Value, json};

    fn ra_schema() -> Schema {
        let crd = serde_json::to_value(rolesync::api::crds().remove(0)).expect("CRD to JSON");
        Schema::compile(&crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
            .unwrap_or_else(|e| panic!("RoleAssignment schema compiles: {e:?}"))
    }

    fn ra(spec: Value) -> Value {
        json!({"apiVersion": "rolesync.dev/v1alpha1", "kind": "RoleAssignment",
               "metadata": {"name": "x", "namespace": "default"}, "spec": spec})
    }

    fn errors(schema: &Schema, obj: &Value, old: Option<&Value>) -> Vec<String> {
        let mut obj = obj.clone();
        schema.apply_defaults(&mut obj);
        schema
            .validate(&obj, old)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_valid_gcore_assignment_passes_and_gets_defaults() {
        let schema = ra_schema();
        let mut obj = ra(json!({"providerConfigRef": {"name": "p"},
                                "gcore": {"userId": 777, "role": "Observer", "clientId": 8, "projectId": 123}}));
        schema.apply_defaults(&mut obj);
        assert_eq!(schema.validate(&obj, None), vec![]);
        assert_eq!(obj["spec"]["deletionPolicy"], "Delete");
        assert_eq!(obj["spec"]["managementPolicies"], json!(["*"]));
        assert_eq!(obj["spec"]["providerConfigRef"]["kind"], "ProviderConfig");
    }

    #[test]
    fn invalid_specs_name_the_field() {
        let schema = ra_schema();
        let no_block = errors(
            &schema,
            &ra(json!({"providerConfigRef": {"name": "p"}})),
            None,
        );
        assert!(
            no_block
                .iter()
                .any(|e| e.starts_with("spec:") && e.contains("exactly one provider block")),
            "{no_block:?}"
        );

        let project_without_client = errors(
            &schema,
            &ra(
                json!({"providerConfigRef": {"name": "p"}, "gcore": {"userId": 1, "role": "User", "projectId": 5}}),
            ),
            None,
        );
        assert!(
            project_without_client.iter().any(|e| e.starts_with("spec.gcore.clientId") && e.contains("clientId is required")),
            "{project_without_client:?}"
        );

        let bad_role = errors(
            &schema,
            &ra(
                json!({"providerConfigRef": {"name": "p"}, "gcore": {"userId": 1, "role": "Boss", "clientId": 8}}),
            ),
            None,
        );
        assert!(
            bad_role
                .iter()
                .any(|e| e.starts_with("spec.gcore.role: Unsupported value: \"Boss\"")),
            "{bad_role:?}"
        );
    }

    #[test]
    fn principal_scope_and_config_are_immutable_but_role_is_not() {
        let schema = ra_schema();
        let old = ra(json!({"providerConfigRef": {"name": "p"},
                            "gcore": {"userId": 777, "role": "Observer", "clientId": 8, "projectId": 123}}));
        let mut old_defaulted = old.clone();
        schema.apply_defaults(&mut old_defaulted);

        let new_role = ra(json!({"providerConfigRef": {"name": "p"},
                                 "gcore": {"userId": 777, "role": "User", "clientId": 8, "projectId": 123}}));
        assert_eq!(
            errors(&schema, &new_role, Some(&old_defaulted)),
            Vec::<String>::new()
        );

        let new_user = ra(json!({"providerConfigRef": {"name": "p"},
                                 "gcore": {"userId": 778, "role": "Observer", "clientId": 8, "projectId": 123}}));
        let errs = errors(&schema, &new_user, Some(&old_defaulted));
        assert!(
            errs.iter()
                .any(|e| e.starts_with("spec.gcore") && e.contains("immutable")),
            "{errs:?}"
        );

        let dropped_project = ra(json!({"providerConfigRef": {"name": "p"},
                                        "gcore": {"userId": 777, "role": "Observer", "clientId": 8}}));
        assert!(!errors(&schema, &dropped_project, Some(&old_defaulted)).is_empty());

        let other_config = ra(json!({"providerConfigRef": {"name": "q"},
                                     "gcore": {"userId": 777, "role": "Observer", "clientId": 8, "projectId": 123}}));
        let errs = errors(&schema, &other_config, Some(&old_defaulted));
        assert!(
            errs.iter()
                .any(|e| e.starts_with("spec.providerConfigRef") && e.contains("immutable")),
            "{errs:?}"
        );
    }
}

mod zenml_rules {
    use rolesync::sandbox::kube::schema::Schema;
    use serde_json::{Value, json};

    const ROLE: &str = "10000000-0000-4000-8000-000000000002";
    const USER: &str = "20000000-0000-4000-8000-000000000002";
    const TEAM: &str = "30000000-0000-4000-8000-000000000001";
    const WS: &str = "40000000-0000-4000-8000-000000000001";
    const PROJECT: &str = "50000000-0000-4000-8000-000000000001";

    fn schema(index: usize) -> Schema {
        let crd = serde_json::to_value(rolesync::api::crds().remove(index)).expect("CRD to JSON");
        Schema::compile(&crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
            .unwrap_or_else(|e| panic!("schema compiles: {e:?}"))
    }

    fn ra(zenml: Value) -> Value {
        json!({"apiVersion": "rolesync.dev/v1alpha1", "kind": "RoleAssignment",
               "metadata": {"name": "x", "namespace": "default"},
               "spec": {"providerConfigRef": {"name": "p"}, "zenml": zenml}})
    }

    fn errors(schema: &Schema, obj: &Value, old: Option<&Value>) -> Vec<String> {
        let mut obj = obj.clone();
        schema.apply_defaults(&mut obj);
        let old = old.map(|o| {
            let mut o = o.clone();
            schema.apply_defaults(&mut o);
            o
        });
        schema
            .validate(&obj, old.as_ref())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn valid_zenml_assignments_pass_at_every_scope() {
        let schema = schema(0);
        for zenml in [
            json!({"roleId": ROLE, "userId": USER}),
            json!({"roleId": ROLE, "teamId": TEAM, "workspaceId": WS}),
            json!({"roleId": ROLE, "userId": USER, "workspaceId": WS, "projectId": PROJECT}),
        ] {
            assert_eq!(
                errors(&schema, &ra(zenml.clone()), None),
                Vec::<String>::new(),
                "{zenml}"
            );
        }
    }

    #[test]
    fn principal_scope_and_uuids_are_checked() {
        let schema = schema(0);
        let both = errors(
            &schema,
            &ra(json!({"roleId": ROLE, "userId": USER, "teamId": TEAM})),
            None,
        );
        assert!(
            both.iter()
                .any(|e| e.contains("exactly one of userId and teamId")),
            "{both:?}"
        );
        let neither = errors(&schema, &ra(json!({"roleId": ROLE})), None);
        assert!(
            neither
                .iter()
                .any(|e| e.contains("exactly one of userId and teamId")),
            "{neither:?}"
        );
        let orphan = errors(
            &schema,
            &ra(json!({"roleId": ROLE, "userId": USER, "projectId": PROJECT})),
            None,
        );
        assert!(
            orphan
                .iter()
                .any(|e| e.starts_with("spec.zenml.workspaceId")
                    && e.contains("workspaceId is required")),
            "{orphan:?}"
        );
        let not_uuid = errors(
            &schema,
            &ra(json!({"roleId": "Organization Admin", "userId": USER})),
            None,
        );
        assert!(
            not_uuid.iter().any(|e| e.starts_with("spec.zenml.roleId")),
            "{not_uuid:?}"
        );
        let two_blocks = errors(
            &schema,
            &json!({"apiVersion": "rolesync.dev/v1alpha1", "kind": "RoleAssignment",
                    "metadata": {"name": "x", "namespace": "default"},
                    "spec": {"providerConfigRef": {"name": "p"}, "zenml": {"roleId": ROLE, "userId": USER},
                             "gcore": {"userId": 1, "role": "User", "clientId": 8}}}),
            None,
        );
        assert!(
            two_blocks
                .iter()
                .any(|e| e.contains("exactly one provider block (gcore, zenml)")),
            "{two_blocks:?}"
        );
    }

    #[test]
    fn role_may_change_but_principal_and_scope_may_not() {
        let schema = schema(0);
        let old = ra(json!({"roleId": ROLE, "userId": USER, "workspaceId": WS}));
        let new_role = ra(
            json!({"roleId": "10000000-0000-4000-8000-000000000004", "userId": USER, "workspaceId": WS}),
        );
        assert_eq!(errors(&schema, &new_role, Some(&old)), Vec::<String>::new());
        for changed in [
            json!({"roleId": ROLE, "userId": TEAM, "workspaceId": WS}),
            json!({"roleId": ROLE, "teamId": TEAM, "workspaceId": WS}),
            json!({"roleId": ROLE, "userId": USER}),
            json!({"roleId": ROLE, "userId": USER, "workspaceId": WS, "projectId": PROJECT}),
        ] {
            let errs = errors(&schema, &ra(changed.clone()), Some(&old));
            assert!(
                errs.iter()
                    .any(|e| e.starts_with("spec.zenml") && e.contains("immutable")),
                "{changed}: {errs:?}"
            );
        }
        let gcore_now = json!({"apiVersion": "rolesync.dev/v1alpha1", "kind": "RoleAssignment",
                               "metadata": {"name": "x", "namespace": "default"},
                               "spec": {"providerConfigRef": {"name": "p"},
                                        "gcore": {"userId": 1, "role": "User", "clientId": 8}}});
        let errs = errors(&schema, &gcore_now, Some(&old));
        assert!(
            errs.iter()
                .any(|e| e.contains("provider of a RoleAssignment cannot change")),
            "{errs:?}"
        );
    }

    #[test]
    fn provider_configs_take_a_zenml_block() {
        for index in [1, 2] {
            let schema = schema(index);
            let kind = if index == 1 {
                "ProviderConfig"
            } else {
                "ClusterProviderConfig"
            };
            let config = |spec: Value| {
                json!({"apiVersion": "rolesync.dev/v1alpha1", "kind": kind,
                       "metadata": {"name": "z", "namespace": "default"}, "spec": spec})
            };
            let secret = json!({"secretRef": {"name": "s", "key": "apiKey"}});
            let ok = config(
                json!({"zenml": {"endpoint": "https://cloudapi.zenml.io"}, "credentials": secret}),
            );
            assert_eq!(errors(&schema, &ok, None), Vec::<String>::new(), "{kind}");
            let both = config(json!({"zenml": {}, "gcore": {}, "credentials": secret}));
            let errs = errors(&schema, &both, None);
            assert!(
                errs.iter()
                    .any(|e| e.contains("exactly one provider block")),
                "{kind}: {errs:?}"
            );
        }
    }
}
