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
    for wanted in ["Provider", "Role", "Principal", "External-ID", "Ready", "Synced", "Age"] {
        assert!(columns.contains(&wanted), "missing column {wanted}");
    }
}
