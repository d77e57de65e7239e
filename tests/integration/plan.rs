//! `rolesync plan` run as a user runs it — the binary, against the in-memory API and every
//! provider's simulator — for every action it can show, checking its JSON and exit code,
//! and that it wrote nothing: not one write at a provider, not one in Kubernetes.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::fleet::{Fleet, Kind, harness_slot, per_provider, role_name, spec};
use crate::support::{WAIT, is_ready};

const NS: &str = "default";

/// Slots of one provider's RoleAssignments that do not share a remote assignment (and in
/// which both of the first two roles are valid).
fn slots(kind: Kind) -> [usize; 7] {
    match kind {
        Kind::Harness => [
            ("USER", "alice"),
            ("USER", "bob"),
            ("USER", "carol"),
            ("USER", "dave"),
            ("USER_GROUP", "developers"),
            ("USER_GROUP", "sre"),
            ("USER_GROUP", "auditors"),
        ]
        .map(|p| harness_slot(p, (Some("default"), Some("payments")))),
        _ => [0, 1, 2, 3, 4, 5, 6],
    }
}

fn manifest(name: &str, spec: Value, labels: Value) -> Value {
    json!({
        "apiVersion": "rolesync.dev/v1alpha1",
        "kind": "RoleAssignment",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": spec,
    })
}

/// Writes `manifests` as one YAML stream (JSON is YAML) into `dir`.
fn write_manifests(dir: &Path, manifests: &[Value]) {
    let stream = manifests
        .iter()
        .map(|m| serde_json::to_string_pretty(m).expect("JSON"))
        .collect::<Vec<_>>()
        .join("\n---\n");
    std::fs::create_dir_all(dir).expect("manifest dir");
    std::fs::write(dir.join("ras.yaml"), stream).expect("manifests written");
}

/// Runs `rolesync plan -o json ARGS` and returns its exit code and one object per line,
/// by RoleAssignment name.
pub(crate) async fn run_plan(
    fleet: &Fleet,
    args: &[&str],
) -> (i32, BTreeMap<String, Value>, String) {
    let output = tokio::time::timeout(
        WAIT,
        tokio::process::Command::new(env!("CARGO_BIN_EXE_rolesync"))
            .arg("plan")
            .args(["-o", "json"])
            .args(args)
            .env("KUBECONFIG", &fleet.env.kubeconfig)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("plan finishes")
    .expect("plan runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let lines = stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            (v["name"].as_str().unwrap_or_default().to_owned(), v)
        })
        .collect();
    (output.status.code().unwrap_or(-1), lines, stderr)
}

/// Every write so far: at the provider, and in Kubernetes by anyone.
fn writes(fleet: &Fleet, kind: Kind) -> (usize, u64) {
    (fleet.writes(kind).len(), fleet.env.api().writes_by(""))
}

async fn every_action(kind: Kind) {
    let [same, changed, new, adopted, forbidden, revoked, orphaned] = slots(kind);
    let fleet = Fleet::start().await;
    let labels = json!({"app": "plan"});
    // What the cluster holds before the plan, made by the operator.
    let operator = fleet.env.operator(&[]);
    let mut orphan = spec(kind, orphaned, 0);
    orphan["deletionPolicy"] = json!("Orphan");
    for (name, spec) in [
        ("same", spec(kind, same, 0)),
        ("changed", spec(kind, changed, 0)),
        ("revoked", spec(kind, revoked, 0)),
        ("orphaned", orphan),
    ] {
        fleet.env.create_ra(NS, name, spec, json!({})).await;
        let labelled = fleet.env.ras(NS);
        labelled
            .patch(
                name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(json!({"metadata": {"labels": labels}})),
            )
            .await
            .expect("labelled");
        fleet.env.wait_ra(NS, name, "Ready", is_ready).await;
    }
    // The plan runs while nothing else changes anything.
    let (code, _) = operator.stop().await;
    assert_eq!(code, Some(0));
    fleet.grant_directly(kind, adopted, 0);

    let mut observe_only = spec(kind, forbidden, 0);
    observe_only["managementPolicies"] = json!(["Observe"]);
    let dir = fleet.env.dir.path().join("manifests");
    write_manifests(
        &dir,
        &[
            manifest("same", spec(kind, same, 0), labels.clone()),
            manifest("changed", spec(kind, changed, 1), labels.clone()),
            manifest("new", spec(kind, new, 0), labels.clone()),
            manifest("adopted", spec(kind, adopted, 0), labels.clone()),
            manifest("forbidden", observe_only, labels.clone()),
        ],
    );
    let before = writes(&fleet, kind);
    assert!(before.1 > 0, "the count sees the operator's writes");
    let dir = dir.display().to_string();
    let (code, plan, stderr) = run_plan(&fleet, &["-f", &dir, "--prune", "-l", "app=plan"]).await;
    assert_eq!(writes(&fleet, kind), before, "plan wrote nothing anywhere");
    assert_eq!(code, 2, "changes at the provider: {plan:#?}\n{stderr}");
    let action = |name: &str| plan[name]["action"].as_str().unwrap_or_default().to_owned();
    assert_eq!(plan.len(), 7, "{plan:#?}");
    for entry in plan.values() {
        assert_eq!(entry["provider"], kind.name());
        assert_eq!(entry["namespace"], NS);
    }
    assert_eq!(action("same"), "nothing");
    assert_eq!(action("new"), "create");
    assert_eq!(action("adopted"), "adopt");
    assert!(plan["adopted"]["externalID"].is_string());
    assert_eq!(action("forbidden"), "policy-forbids", "{plan:#?}");
    assert_eq!(action("revoked"), "revoke");
    assert_eq!(plan["revoked"]["pruned"], true);
    assert_eq!(action("orphaned"), "left-in-place");
    // A role changes in place where the provider can; where an assignment is its role, a
    // new one is made and the old one revoked.
    let changed = &plan["changed"];
    let expected = match kind {
        Kind::Gcore | Kind::Hyperstack => "update",
        Kind::Harness | Kind::Zenml => "replace",
    };
    assert_eq!(changed["action"], expected, "{changed:#}");
    assert_eq!(
        changed["changes"],
        json!([{"field": "role", "from": role_name(kind, 0), "to": role_name(kind, 1)}]),
        "{changed:#}"
    );

    // Only what already matches: nothing to change.
    write_manifests(
        Path::new(&dir),
        &[manifest("same", spec(kind, same, 0), labels.clone())],
    );
    let (code, plan, stderr) = run_plan(&fleet, &["-f", &dir]).await;
    assert_eq!(code, 0, "{plan:#?}\n{stderr}");
    assert_eq!(plan["same"]["action"], "nothing");
    assert_eq!(writes(&fleet, kind), before, "plan wrote nothing anywhere");
    fleet.shutdown().await;
}

per_provider!(
    [gcore => Kind::Gcore, harness => Kind::Harness, zenml => Kind::Zenml, hyperstack => Kind::Hyperstack],
    {
        shows_every_action_and_writes_nothing => every_action();
    }
);

/// A manifest the API server refuses shows its message, and one that names what an older
/// RoleAssignment manages shows that owner; both are errors (exit 1). A table is readable
/// and plain when stdout is not a terminal.
#[tokio::test]
async fn invalid_and_conflicting_manifests_are_errors() {
    let fleet = Fleet::start().await;
    let operator = fleet.env.operator(&[]);
    fleet
        .env
        .create_ra(NS, "owner", spec(Kind::Gcore, 0, 0), json!({}))
        .await;
    fleet.env.wait_ra(NS, "owner", "Ready", is_ready).await;
    let (code, _) = operator.stop().await;
    assert_eq!(code, Some(0));

    let mut invalid = spec(Kind::Gcore, 1, 0);
    invalid["gcore"]["role"] = json!("Superuser");
    let dir = fleet.env.dir.path().join("manifests");
    write_manifests(
        &dir,
        &[
            manifest("newcomer", spec(Kind::Gcore, 0, 1), json!({})),
            manifest("invalid", invalid, json!({})),
        ],
    );
    let before = writes(&fleet, Kind::Gcore);
    let dir = dir.display().to_string();
    let (code, plan, stderr) = run_plan(&fleet, &["-f", &dir]).await;
    assert_eq!(code, 1, "{plan:#?}\n{stderr}");
    assert_eq!(plan["newcomer"]["action"], "conflict");
    assert_eq!(plan["newcomer"]["owner"], "default/owner");
    assert_eq!(plan["invalid"]["action"], "invalid");
    let message = plan["invalid"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("Superuser"), "{message}");

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_rolesync"))
        .args(["plan", "-f", &dir])
        .env("KUBECONFIG", &fleet.env.kubeconfig)
        .kill_on_drop(true)
        .output()
        .await
        .expect("plan runs");
    let table = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1));
    assert!(!table.contains('\x1b'), "no colour into a pipe:\n{table}");
    assert!(table.starts_with("ROLEASSIGNMENT"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("default/newcomer") && l.contains("owned by default/owner")),
        "{table}"
    );
    assert_eq!(
        writes(&fleet, Kind::Gcore),
        before,
        "plan wrote nothing anywhere"
    );
    fleet.shutdown().await;
}

/// Pruning without saying what the manifests own would revoke everything else: refused.
#[tokio::test]
async fn an_unbounded_prune_is_refused() {
    let fleet = Fleet::start().await;
    let dir = fleet.env.dir.path().join("manifests");
    write_manifests(&dir, &[manifest("a", spec(Kind::Gcore, 0, 0), json!({}))]);
    let dir = dir.display().to_string();
    let (code, plan, stderr) = run_plan(&fleet, &["-f", &dir, "--prune"]).await;
    assert_eq!(code, 1);
    assert!(plan.is_empty());
    assert!(stderr.contains("--prune needs -l SELECTOR"), "{stderr}");
    fleet.shutdown().await;
}

/// `-k DIR` plans what `kubectl kustomize DIR` renders: here a namespace and a label the
/// kustomization adds to a plain manifest.
#[tokio::test]
async fn a_kustomization_is_rendered_as_kubectl_renders_it() {
    if crate::sandbox::which_kubectl().is_none() {
        assert!(
            std::env::var_os("ROLESYNC_STRICT").is_none(),
            "kubectl is not on PATH"
        );
        return;
    }
    let fleet = Fleet::start().await;
    let dir = fleet.env.dir.path().join("overlay");
    let mut bare = manifest("kustomized", spec(Kind::Gcore, 0, 0), json!({}));
    if let Some(meta) = bare["metadata"].as_object_mut() {
        meta.remove("namespace");
    }
    write_manifests(&dir, &[bare]);
    std::fs::write(
        dir.join("kustomization.yaml"),
        "namespace: team-a\nresources: [ras.yaml]\n",
    )
    .expect("kustomization written");
    testbed::ensure_namespace(&fleet.env.client, "team-a")
        .await
        .expect("namespace");
    let dir = dir.display().to_string();
    let (code, plan, stderr) = run_plan(&fleet, &["-k", &dir]).await;
    assert_eq!(code, 2, "{plan:#?}\n{stderr}");
    assert_eq!(plan["kustomized"]["namespace"], "team-a");
    assert_eq!(plan["kustomized"]["action"], "create");
    fleet.shutdown().await;
}
