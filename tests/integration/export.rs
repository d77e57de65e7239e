//! `rolesync export` as users run it, a process against the in-memory API and the
//! simulators: grants made directly at each provider come out as RoleAssignments that,
//! applied, are all Ready by adoption, without one write to the provider; the export itself
//! writes nothing anywhere, and `rolesync plan` of it shows no change at the provider.

use std::process::Stdio;

use kube::api::{Api, PostParams};
use provider_sims::zenml::SimAssignment;
use rolesync::api::RoleAssignment;
use serde_json::{Value, json};
use testbed::SYSTEM_NAMESPACE;

use crate::fleet::{Fleet, Kind, per_provider};
use crate::plan::run_plan;
use crate::support::{WAIT, is_ready};

/// Runs `rolesync export ARGS` against the fleet's cluster: (exit success, stdout, stderr).
async fn export(fleet: &Fleet, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rolesync"))
        .arg("export")
        .args(args)
        .env("KUBECONFIG", &fleet.env.kubeconfig)
        .env("POD_NAMESPACE", SYSTEM_NAMESPACE)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(WAIT, out)
        .await
        .expect("export finishes")
        .expect("export runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The RoleAssignments of a YAML stream, as `kubectl apply -f` reads it.
fn documents(yaml: &str) -> Vec<RoleAssignment> {
    yaml.split("---\n")
        .filter(|doc| !doc.trim().is_empty())
        .map(|doc| serde_saphyr::from_str(doc).unwrap_or_else(|e| panic!("{e}:\n{doc}")))
        .collect()
}

/// Grants someone made at the provider before rolesync ran: several principals and, where
/// the provider has them, several scopes.
pub(crate) fn grant_directly(fleet: &Fleet, kind: Kind) {
    match kind {
        Kind::Gcore => {
            let sim = &fleet.sims.gcore.0;
            sim.insert_assignment(777, "Observer", Some(8), Some(123));
            sim.insert_assignment(778, "ClientAdministrator", Some(8), None);
            sim.insert_assignment(779, "User", Some(8), Some(124));
        }
        Kind::Harness => {
            let sim = &fleet.sims.harness.0;
            let body = |id: &str, role: &str, group: &str, kind: &str, who: &str| {
                json!({"identifier": id, "role": role, "resource_group": group,
                    "principal": {"type": kind, "identifier": who}})
            };
            sim.insert_assignment(
                None,
                None,
                body(
                    "alice_viewer",
                    "_account_viewer",
                    "_all_account_level_resources",
                    "USER",
                    "alice",
                ),
            )
            .expect("account grant");
            sim.insert_assignment(
                Some("platform"),
                None,
                body(
                    "sre_admin",
                    "_organization_admin",
                    "_all_organization_level_resources",
                    "USER_GROUP",
                    "sre",
                ),
            )
            .expect("org grant");
            sim.insert_assignment(
                Some("default"),
                Some("payments"),
                body(
                    "ci_executor",
                    "_pipeline_executor",
                    "_all_project_level_resources",
                    "SERVICE_ACCOUNT",
                    "ci_bot",
                ),
            )
            .expect("project grant");
        }
        Kind::Zenml => {
            let sim = &fleet.sims.zenml.0;
            let f = sim.fixtures().clone();
            sim.insert_assignment(SimAssignment {
                role_id: f.roles[3].0,
                team_id: Some(f.team_ids[0]),
                ..SimAssignment::default()
            });
            sim.insert_assignment(SimAssignment {
                role_id: f.roles[1].0,
                user_id: Some(f.user_ids[2]),
                workspace_id: Some(f.workspace_ids[1]),
                ..SimAssignment::default()
            });
            let (workspace, project) = f.projects[0];
            sim.insert_assignment(SimAssignment {
                role_id: f.roles[1].0,
                user_id: Some(f.user_ids[4]),
                workspace_id: Some(workspace),
                project_id: Some(project),
                ..SimAssignment::default()
            });
        }
        Kind::Hyperstack => {
            let sim = &fleet.sims.hyperstack.0;
            assert!(sim.set_roles(205, &["developer"]));
            assert!(sim.set_roles(206, &["viewer"]));
        }
    }
}

/// What the provider holds, as the fleet describes it, but pending ZenML invitations.
pub(crate) fn grants(fleet: &Fleet, kind: Kind) -> usize {
    fleet
        .remote(kind)
        .iter()
        .filter(|line| !line.contains("invitation:"))
        .count()
}

async fn round_trip(kind: Kind) {
    let fleet = Fleet::start().await;
    grant_directly(&fleet, kind);
    let config = format!("ClusterProviderConfig/{}-sandbox", kind.name());
    let writes_before = fleet.writes(kind).len();

    let (ok, yaml, stderr) = export(&fleet, &["--config", &config, "--namespace", "adopted"]).await;

    assert!(ok, "export failed: {stderr}");
    assert!(stderr.contains("listed"), "no progress on stderr: {stderr}");
    let ras = documents(&yaml);
    assert_eq!(
        ras.len(),
        grants(&fleet, kind),
        "one RoleAssignment per grant:\n{yaml}"
    );
    assert!(
        ras.len() >= 2,
        "the grants made above are exported:\n{yaml}"
    );
    assert_eq!(fleet.env.api().writes_by("rolesync-export"), 0);
    assert!(
        fleet
            .env
            .api()
            .audit()
            .iter()
            .filter(|r| r.user_agent.starts_with("rolesync-export"))
            .all(|r| r.verb == "get" || r.verb == "list"),
        "the export only reads Kubernetes"
    );
    assert_eq!(
        fleet.writes(kind).len(),
        writes_before,
        "the export wrote to the provider"
    );

    testbed::ensure_namespace(&fleet.env.client, "adopted")
        .await
        .expect("namespace");
    // Planned before it is applied, the export changes nothing at the provider: every
    // grant is adopted as it is.
    let exported = fleet.env.dir.path().join("exported.yaml");
    std::fs::write(&exported, &yaml).expect("export saved");
    let exported = exported.display().to_string();
    let (code, plan, stderr) = run_plan(&fleet, &["-f", &exported]).await;
    assert_eq!(code, 0, "{plan:#?}\n{stderr}");
    assert_eq!(plan.len(), ras.len(), "{plan:#?}");
    assert!(plan.values().all(|p| p["action"] == "adopt"), "{plan:#?}");

    let api: Api<RoleAssignment> = Api::namespaced(fleet.env.client.clone(), "adopted");
    for ra in &ras {
        api.create(&PostParams::default(), ra)
            .await
            .unwrap_or_else(|e| panic!("applying {:?}: {e}", ra.metadata.name));
    }
    let _operator = fleet.env.operator(&[]);
    for ra in &ras {
        let name = ra.metadata.name.as_deref().expect("named");
        fleet.env.wait_ra("adopted", name, "Ready", is_ready).await;
    }
    assert_eq!(
        fleet.writes(kind).len(),
        writes_before,
        "adoption wrote to the provider: {:?}",
        fleet.writes(kind)
    );

    let (code, plan, stderr) = run_plan(&fleet, &["-f", &exported]).await;
    assert_eq!(code, 0, "{plan:#?}\n{stderr}");
    assert!(
        plan.values().all(|p| p["action"] == "nothing"),
        "applied, the export plans no change: {plan:#?}"
    );
    assert_eq!(
        fleet.writes(kind).len(),
        writes_before,
        "plan wrote to the provider"
    );

    let (ok, again, stderr) = export(&fleet, &["--config", &config]).await;
    assert!(ok, "{stderr}");
    assert_eq!(again.trim(), "", "every grant is managed now");
    let (ok, table, stderr) = export(&fleet, &["--config", &config, "--all", "-o", "table"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(table.lines().count(), ras.len() + 1, "{table}");
    assert!(
        table.lines().skip(1).all(|l| l.contains("adopted/")),
        "{table}"
    );
    fleet.shutdown().await;
}

per_provider!([gcore => Kind::Gcore, harness => Kind::Harness, zenml => Kind::Zenml, hyperstack => Kind::Hyperstack], {
    grants_made_at_the_provider_export_apply_and_are_adopted_without_a_write => round_trip();
});

/// `--observe-only` and `-o json`: a List kubectl applies, of RoleAssignments that only
/// observe; a ProviderConfig's RoleAssignments cannot go to another namespace.
#[tokio::test]
async fn observe_only_json_and_namespace_rules() {
    let fleet = Fleet::start().await;
    grant_directly(&fleet, Kind::Gcore);
    let (ok, json, stderr) = export(
        &fleet,
        &[
            "--config",
            "ClusterProviderConfig/gcore-sandbox",
            "--observe-only",
            "-o",
            "json",
        ],
    )
    .await;
    assert!(ok, "{stderr}");
    let list: Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(list["kind"], "List");
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), grants(&fleet, Kind::Gcore));
    for item in items {
        assert_eq!(item["metadata"]["namespace"], "default");
        assert_eq!(item["spec"]["managementPolicies"], json!(["Observe"]));
        assert!(item["spec"]["externalID"].is_string(), "{item}");
    }
    let (ok, _, stderr) = export(&fleet, &["--config", "ProviderConfig/default/none"]).await;
    assert!(
        !ok && stderr.contains("ProviderConfig default/none not found"),
        "{stderr}"
    );
    let (ok, _, stderr) = export(&fleet, &["--config", "gcore-sandbox"]).await;
    assert!(
        !ok && stderr.contains("ClusterProviderConfig/NAME"),
        "{stderr}"
    );
    fleet.shutdown().await;
}
