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
        "Expires",
        "Drift",
    ] {
        assert!(columns.contains(&wanted), "missing column {wanted}");
    }
}

/// The compiled schema of CRD `index` of `rolesync::api::crds()` (0: RoleAssignment,
/// 1: ProviderConfig, 2: ClusterProviderConfig), as the sandbox's API server uses it.
fn schema(index: usize) -> in_memory_kube::schema::Schema {
    let crd = serde_json::to_value(&rolesync::api::crds()[index]).expect("CRD to JSON");
    in_memory_kube::schema::Schema::compile(
        &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
    )
    .unwrap_or_else(|e| panic!("schema compiles: {e:?}"))
}

/// Validation errors for `obj` (and `old`, for transition rules), both defaulted as the
/// API server stores them.
fn errors(
    schema: &in_memory_kube::schema::Schema,
    obj: &serde_json::Value,
    old: Option<&serde_json::Value>,
) -> Vec<String> {
    let defaulted = |v: &serde_json::Value| {
        let mut v = v.clone();
        schema.apply_defaults(&mut v);
        v
    };
    let old = old.map(defaulted);
    schema
        .validate(&defaulted(obj), old.as_ref())
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// A RoleAssignment whose spec holds only `provider: block`.
fn ra_with(provider: &str, block: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"apiVersion": "rolesync.dev/v1alpha1", "kind": "RoleAssignment",
           "metadata": {"name": "x", "namespace": "default"},
           "spec": {"providerConfigRef": {"name": "p"}, provider: block}})
}

mod schema_rules {
    use super::errors;
    use in_memory_kube::schema::Schema;
    use serde_json::{Value, json};

    fn ra_schema() -> Schema {
        super::schema(0)
    }

    fn ra(spec: Value) -> Value {
        json!({"apiVersion": "rolesync.dev/v1alpha1", "kind": "RoleAssignment",
               "metadata": {"name": "x", "namespace": "default"}, "spec": spec})
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
    fn expires_at_must_come_after_not_before_whatever_the_offsets() {
        let schema = ra_schema();
        let timed = |not_before: &str, expires_at: &str| {
            ra(json!({"providerConfigRef": {"name": "p"},
                      "gcore": {"userId": 1, "role": "User", "clientId": 8},
                      "notBefore": not_before, "expiresAt": expires_at}))
        };
        assert_eq!(
            errors(
                &schema,
                &timed("2026-05-01T09:00:00Z", "2026-05-01T17:00:00.5+02:00"),
                None
            ),
            Vec::<String>::new(),
            "15:00:00.5Z is after 09:00Z"
        );
        for (not_before, expires_at) in [
            ("2026-05-01T09:00:00Z", "2026-05-01T09:00:00Z"),
            ("2026-05-01T09:00:00Z", "2026-05-01T10:00:00+02:00"),
        ] {
            let errs = errors(&schema, &timed(not_before, expires_at), None);
            assert!(
                errs.iter().any(|e| e.starts_with("spec.expiresAt")
                    && e.contains("expiresAt must be after notBefore")),
                "{not_before} .. {expires_at}: {errs:?}"
            );
        }
        let one_side = ra(json!({"providerConfigRef": {"name": "p"},
                                 "gcore": {"userId": 1, "role": "User", "clientId": 8},
                                 "expiresAt": "2026-05-01T09:00:00Z"}));
        assert_eq!(errors(&schema, &one_side, None), Vec::<String>::new());
        let not_a_time = timed("tomorrow", "2026-05-01T09:00:00Z");
        let errs = errors(&schema, &not_a_time, None);
        assert!(
            errs.iter().any(|e| e.starts_with("spec.notBefore")),
            "{errs:?}"
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

mod harness_rules {
    use super::{errors, schema};
    use in_memory_kube::schema::Schema;
    use serde_json::{Value, json};

    fn ra(harness: Value) -> Value {
        super::ra_with("harness", harness)
    }

    fn project_viewer() -> Value {
        json!({"org": "default", "project": "payments", "role": "_project_viewer",
               "resourceGroup": "_all_project_level_resources",
               "principal": {"type": "USER_GROUP", "identifier": "devs", "scopeLevel": "account"}})
    }

    fn defaulted(schema: &Schema, obj: &Value) -> Value {
        let mut obj = obj.clone();
        schema.apply_defaults(&mut obj);
        obj
    }

    #[test]
    fn every_scope_validates_and_disabled_defaults_to_false() {
        let schema = schema(0);
        let mut account = project_viewer();
        account
            .as_object_mut()
            .map(|o| (o.remove("org"), o.remove("project")));
        let mut org = project_viewer();
        org.as_object_mut().map(|o| o.remove("project"));
        for h in [account, org, project_viewer()] {
            let obj = defaulted(&schema, &ra(h));
            assert_eq!(schema.validate(&obj, None), vec![]);
            assert_eq!(obj["spec"]["harness"]["disabled"], false);
        }
    }

    #[test]
    fn invalid_harness_specs_name_the_field() {
        let schema = schema(0);
        let mut no_org = project_viewer();
        no_org.as_object_mut().map(|o| o.remove("org"));
        let errs = errors(&schema, &ra(no_org), None);
        assert!(
            errs.iter()
                .any(|e| e.starts_with("spec.harness.org") && e.contains("org is required")),
            "{errs:?}"
        );

        let mut bad_id = project_viewer();
        bad_id["identifier"] = json!("has-dash");
        let errs = errors(&schema, &ra(bad_id), None);
        assert!(
            errs.iter()
                .any(|e| e.starts_with("spec.harness.identifier")),
            "{errs:?}"
        );

        let mut bad_type = project_viewer();
        bad_type["principal"]["type"] = json!("ROBOT");
        let errs = errors(&schema, &ra(bad_type), None);
        assert!(
            errs.iter()
                .any(|e| e.starts_with("spec.harness.principal.type")),
            "{errs:?}"
        );

        let both = json!({"apiVersion": "rolesync.dev/v1alpha1", "kind": "RoleAssignment",
            "metadata": {"name": "x", "namespace": "default"},
            "spec": {"providerConfigRef": {"name": "p"}, "harness": project_viewer(),
                     "gcore": {"userId": 1, "role": "User"}}});
        let errs = errors(&schema, &both, None);
        assert!(
            errs.iter()
                .any(|e| e.contains("exactly one provider block (")),
            "{errs:?}"
        );
    }

    #[test]
    fn scope_principal_and_identifier_are_immutable_but_role_is_not() {
        let schema = schema(0);
        let old = defaulted(&schema, &ra(project_viewer()));
        let mut new_role = project_viewer();
        new_role["role"] = json!("_project_admin");
        new_role["resourceGroup"] = json!("_all_resources_including_child_scopes");
        new_role["disabled"] = json!(true);
        assert_eq!(
            errors(&schema, &ra(new_role), Some(&old)),
            Vec::<String>::new()
        );

        let mut other_project = project_viewer();
        other_project["project"] = json!("checkout");
        let errs = errors(&schema, &ra(other_project), Some(&old));
        assert!(
            errs.iter()
                .any(|e| e.contains("org and project are immutable")),
            "{errs:?}"
        );

        let mut other_principal = project_viewer();
        other_principal["principal"]["identifier"] = json!("ops");
        let errs = errors(&schema, &ra(other_principal), Some(&old));
        assert!(
            errs.iter()
                .any(|e| e.starts_with("spec.harness.principal") && e.contains("immutable")),
            "{errs:?}"
        );

        let mut named = project_viewer();
        named["identifier"] = json!("mine");
        let errs = errors(&schema, &ra(named), Some(&old));
        assert!(
            errs.iter().any(|e| e.contains("identifier is immutable")),
            "{errs:?}"
        );

        let gcore_now = json!({"apiVersion": "rolesync.dev/v1alpha1", "kind": "RoleAssignment",
            "metadata": {"name": "x", "namespace": "default"},
            "spec": {"providerConfigRef": {"name": "p"}, "gcore": {"userId": 1, "role": "User"}}});
        let errs = errors(&schema, &gcore_now, Some(&old));
        assert!(
            errs.iter()
                .any(|e| e.contains("provider of a RoleAssignment cannot change")),
            "{errs:?}"
        );
    }

    /// Harness refuses a principal defined below the assignment's scope, whichever way it
    /// stores levels: the API server does too, naming the field.
    #[test]
    fn a_principal_level_below_the_scope_is_refused() {
        let schema = schema(0);
        let at = |org: Option<&str>, project: Option<&str>, level: &str| {
            let mut h = project_viewer();
            let o = h.as_object_mut().expect("object");
            o.remove("org");
            o.remove("project");
            if let Some(org) = org {
                h["org"] = json!(org);
            }
            if let Some(project) = project {
                h["project"] = json!(project);
            }
            h["principal"]["scopeLevel"] = json!(level);
            errors(&schema, &ra(h), None)
        };
        for (org, project, level) in [
            (None, None, "organization"),
            (None, None, "project"),
            (Some("default"), None, "project"),
        ] {
            let errs = at(org, project, level);
            assert!(
                errs.iter()
                    .any(|e| e.starts_with("spec.harness.principal.scopeLevel")
                        && e.contains("cannot be below the assignment's scope")),
                "{org:?} {project:?} {level}: {errs:?}"
            );
        }
        for (org, project, level) in [
            (None, None, "account"),
            (Some("default"), None, "account"),
            (Some("default"), None, "organization"),
            (Some("default"), Some("payments"), "account"),
            (Some("default"), Some("payments"), "organization"),
            (Some("default"), Some("payments"), "project"),
        ] {
            assert_eq!(
                at(org, project, level),
                Vec::<String>::new(),
                "{org:?} {project:?} {level}"
            );
        }
    }

    #[test]
    fn provider_configs_take_a_harness_block_with_an_optional_account() {
        for index in [1, 2] {
            let schema = schema(index);
            let credentials = json!({"secretRef": {"name": "s", "key": "apiKey"}});
            let config = |block: Value| {
                json!({"apiVersion": "rolesync.dev/v1alpha1", "kind": "ProviderConfig",
                       "metadata": {"name": "h", "namespace": "default"},
                       "spec": {"harness": block, "credentials": credentials}})
            };
            for valid in [
                json!({"accountId": "acct_1"}),
                json!({"endpoint": "https://h.example"}),
                json!({}),
            ] {
                assert_eq!(
                    errors(&schema, &config(valid.clone()), None),
                    Vec::<String>::new(),
                    "{valid}"
                );
            }
            let errs = errors(&schema, &config(json!({"accountId": ""})), None);
            assert!(errs.iter().any(|e| e.contains("accountId")), "{errs:?}");
        }
    }
}

mod hyperstack_rules {
    use super::{errors, schema};
    use serde_json::{Value, json};

    fn ra(hyperstack: Value) -> Value {
        super::ra_with("hyperstack", hyperstack)
    }

    #[test]
    fn a_role_by_id_or_by_name_passes() {
        let schema = schema(0);
        assert_eq!(
            errors(&schema, &ra(json!({"userId": 201, "roleId": 2})), None),
            Vec::<String>::new()
        );
        assert_eq!(
            errors(
                &schema,
                &ra(json!({"userId": 201, "roleName": "developer"})),
                None
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    fn exactly_one_of_role_id_and_role_name() {
        let schema = schema(0);
        for hyperstack in [
            json!({"userId": 201}),
            json!({"userId": 201, "roleId": 2, "roleName": "developer"}),
        ] {
            let errs = errors(&schema, &ra(hyperstack), None);
            assert!(
                errs.iter().any(|e| e.starts_with("spec.hyperstack")
                    && e.contains("exactly one of roleId and roleName")),
                "{errs:?}"
            );
        }
        let errs = errors(&schema, &ra(json!({"userId": 0, "roleName": ""})), None);
        assert!(
            errs.iter().any(|e| e.starts_with("spec.hyperstack.userId")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("spec.hyperstack.roleName")),
            "{errs:?}"
        );
    }

    #[test]
    fn two_provider_blocks_are_refused() {
        let schema = schema(0);
        let mut both = ra(json!({"userId": 201, "roleId": 2}));
        both["spec"]["gcore"] = json!({"userId": 777, "role": "Observer", "clientId": 8});
        let errs = errors(&schema, &both, None);
        assert!(
            errs.iter()
                .any(|e| e.starts_with("spec:") && e.contains("exactly one provider block")),
            "{errs:?}"
        );
    }

    #[test]
    fn the_role_may_change_but_not_the_user_or_provider() {
        let schema = schema(0);
        let old = ra(json!({"userId": 201, "roleId": 2}));
        let renamed = ra(json!({"userId": 201, "roleName": "viewer"}));
        assert_eq!(errors(&schema, &renamed, Some(&old)), Vec::<String>::new());

        let other_user = ra(json!({"userId": 202, "roleId": 2}));
        let errs = errors(&schema, &other_user, Some(&old));
        assert!(
            errs.iter()
                .any(|e| e.starts_with("spec.hyperstack") && e.contains("userId is immutable")),
            "{errs:?}"
        );

        let mut to_gcore = old.clone();
        to_gcore["spec"] = json!({"providerConfigRef": {"name": "p"},
                                  "gcore": {"userId": 777, "role": "Observer", "clientId": 8}});
        let errs = errors(&schema, &to_gcore, Some(&old));
        assert!(
            errs.iter()
                .any(|e| e.contains("provider of a RoleAssignment cannot change")),
            "{errs:?}"
        );
    }

    #[test]
    fn provider_configs_take_a_hyperstack_block() {
        for index in [1, 2] {
            let schema = schema(index);
            let secret = if index == 1 {
                json!({"name": "s", "key": "apiKey"})
            } else {
                json!({"name": "s", "key": "apiKey", "namespace": "rolesync-system"})
            };
            let kind = ["RoleAssignment", "ProviderConfig", "ClusterProviderConfig"][index];
            let config = |spec: Value| {
                json!({"apiVersion": "rolesync.dev/v1alpha1", "kind": kind,
                       "metadata": {"name": "x", "namespace": "default"}, "spec": spec})
            };
            let ok = config(
                json!({"hyperstack": {"endpoint": "https://infrahub-api.nexgencloud.com/v1"},
                                   "credentials": {"secretRef": secret}}),
            );
            assert_eq!(errors(&schema, &ok, None), Vec::<String>::new());
            let both = config(
                json!({"hyperstack": {}, "gcore": {}, "credentials": {"secretRef": secret}}),
            );
            let errs = errors(&schema, &both, None);
            assert!(
                errs.iter()
                    .any(|e| e.contains("exactly one provider block (")),
                "{errs:?}"
            );
        }
    }
}

mod zenml_rules {
    use super::{errors, schema};
    use serde_json::{Value, json};

    const ROLE: &str = "10000000-0000-4000-8000-000000000002";
    const USER: &str = "20000000-0000-4000-8000-000000000002";
    const TEAM: &str = "30000000-0000-4000-8000-000000000001";
    const WS: &str = "40000000-0000-4000-8000-000000000001";
    const PROJECT: &str = "50000000-0000-4000-8000-000000000001";

    fn ra(zenml: Value) -> Value {
        super::ra_with("zenml", zenml)
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
                .any(|e| e.contains("exactly one provider block (")),
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

/// An unset provider block must be absent on the wire, not `null`: CEL's `has()` counts a
/// null field as set, so a null block would break the exactly-one rule.
#[test]
fn unset_blocks_are_not_serialized_as_null() {
    fn nulls(path: &str, v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Null => out.push(path.to_owned()),
            serde_json::Value::Object(m) => m
                .iter()
                .for_each(|(k, v)| nulls(&format!("{path}.{k}"), v, out)),
            serde_json::Value::Array(a) => {
                a.iter().for_each(|v| nulls(&format!("{path}[]"), v, out))
            }
            _ => {}
        }
    }
    let ra: rolesync::api::RoleAssignment = serde_json::from_value(serde_json::json!({
        "apiVersion": "rolesync.dev/v1alpha1", "kind": "RoleAssignment", "metadata": {"name": "x"},
        "spec": {"providerConfigRef": {"name": "p"}, "gcore": {"userId": 1, "role": "User"}}
    }))
    .expect("RoleAssignment");
    let pc: rolesync::api::ClusterProviderConfig = serde_json::from_value(serde_json::json!({
        "apiVersion": "rolesync.dev/v1alpha1", "kind": "ClusterProviderConfig", "metadata": {"name": "x"},
        "spec": {"gcore": {}, "credentials": {"secretRef": {"name": "s", "key": "k"}}}
    }))
    .expect("ClusterProviderConfig");
    let pcn: rolesync::api::ProviderConfig = serde_json::from_value(serde_json::json!({
        "apiVersion": "rolesync.dev/v1alpha1", "kind": "ProviderConfig", "metadata": {"name": "x"},
        "spec": {"gcore": {}, "credentials": {"secretRef": {"name": "s", "key": "k"}}}
    }))
    .expect("ProviderConfig");
    let mut found = Vec::new();
    nulls(
        "ra.spec",
        &serde_json::to_value(&ra.spec).expect("json"),
        &mut found,
    );
    nulls(
        "cpc.spec",
        &serde_json::to_value(&pc.spec).expect("json"),
        &mut found,
    );
    nulls(
        "pc.spec",
        &serde_json::to_value(&pcn.spec).expect("json"),
        &mut found,
    );
    assert!(found.is_empty(), "serialized as null: {found:?}");
}

#[test]
fn provider_configs_take_guardrails_and_a_cluster_config_also_namespaces() {
    let guarded = |kind: &str, extra: serde_json::Value| {
        let mut spec = serde_json::json!({
            "gcore": {}, "credentials": {"secretRef": {"name": "s", "key": "k"}},
            "allowedRoles": ["Observer", "_project_*"],
            "allowedScopes": ["client=8/*"],
            "revocationLimit": {"maxPerHour": 10},
        });
        if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        serde_json::json!({"apiVersion": "rolesync.dev/v1alpha1", "kind": kind,
                           "metadata": {"name": "g", "namespace": "default"}, "spec": spec})
    };
    for (index, kind) in [(1, "ProviderConfig"), (2, "ClusterProviderConfig")] {
        let schema = schema(index);
        let valid = guarded(kind, serde_json::json!({}));
        assert_eq!(
            errors(&schema, &valid, None),
            Vec::<String>::new(),
            "{kind}"
        );
        let errs = errors(
            &schema,
            &guarded(
                kind,
                serde_json::json!({"revocationLimit": {"maxPerHour": 0}}),
            ),
            None,
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("spec.revocationLimit.maxPerHour")),
            "{kind}: {errs:?}"
        );
    }
    let cluster = guarded(
        "ClusterProviderConfig",
        serde_json::json!({"allowedNamespaces": {
            "matchLabels": {"rolesync.dev/tenant": "yes"},
            "matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}],
        }}),
    );
    assert_eq!(errors(&schema(2), &cluster, None), Vec::<String>::new());
    let parsed: rolesync::api::ClusterProviderConfig =
        serde_json::from_value(cluster).expect("parses");
    assert_eq!(
        parsed.spec.guardrails.allowed_roles.as_deref(),
        Some(&["Observer".to_owned(), "_project_*".to_owned()][..])
    );
    assert!(parsed.spec.allowed_namespaces.is_some());
    // A namespaced ProviderConfig serves its own namespace only: it has no such field.
    let pc = serde_json::to_value(&rolesync::api::crds()[1]).expect("CRD to JSON");
    let properties =
        &pc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    assert!(properties.get("allowedNamespaces").is_none());
    assert!(properties.get("allowedRoles").is_some());
}
