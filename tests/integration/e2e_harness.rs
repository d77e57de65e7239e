//! Harness RoleAssignments end to end: the in-memory Kubernetes API, the Harness simulator
//! and `rolesync run` as its own process. Every test runs under each reading of Harness's
//! behaviour the simulator plays (`HarnessReading`).

use crate::fleet::HarnessReading;
use crate::support;

use kube::api::{DeleteParams, Patch, PatchParams};
use provider_sims::harness::{self as sim_harness, HarnessSim, HarnessSimConfig};
use rolesync::providers::harness::{
    Identifier, Principal, PrincipalType, Scope, default_identifier,
};
use serde_json::{Value, json};
use support::{Env, condition, external_id, is_ready};
use testbed::connect_provider;

/// Shaped as Harness issues keys: the config takes its account from it.
const KEY: &str = "pat.acct_e2e.t0k3n3b7e90c1.e2eHarnessSecret0001";
const CONFIG: &str = "harness";
const ACCOUNT: &str = "acct_e2e";
const COLLECTION: &str = "/v1/orgs/default/projects/payments/role-assignments";

/// The Harness simulator playing `config`, connected as ClusterProviderConfig `harness`
/// with `block` as its `harness` block and `key` in its Secret.
async fn connected(env: &Env, key: &str, config: HarnessSimConfig, block: Value) -> HarnessSim {
    let sim = HarnessSim::start(HarnessSimConfig {
        api_key: KEY.to_owned(),
        account_id: ACCOUNT.to_owned(),
        ..config
    })
    .await
    .expect("simulator starts");
    let mut block = block;
    block["endpoint"] = json!(sim.endpoint());
    connect_provider(&env.client, CONFIG, key, json!({"harness": block}))
        .await
        .expect("provider config");
    sim
}

/// The Harness simulator under `reading`, connected with no accountId: it comes from the key.
async fn harness(env: &Env, key: &str, reading: HarnessReading) -> HarnessSim {
    connected(env, key, reading.config(), json!({})).await
}

fn spec(org: Option<&str>, project: Option<&str>, role: &str, principal: (&str, &str)) -> Value {
    let mut h = json!({
        "role": role,
        "resourceGroup": "_all_resources_including_child_scopes",
        "principal": {"type": principal.0, "identifier": principal.1},
    });
    if let Some(o) = org {
        h["org"] = json!(o);
    }
    if let Some(p) = project {
        h["project"] = json!(p);
    }
    json!({"providerConfigRef": {"kind": "ClusterProviderConfig", "name": CONFIG}, "harness": h})
}

fn in_project(role: &str, principal: (&str, &str)) -> Value {
    spec(Some("default"), Some("payments"), role, principal)
}

fn no_annotations() -> Value {
    json!({})
}

/// Waits until the simulator's assignments satisfy `pred` (it has no watch).
async fn wait_remote(sim: &HarnessSim, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        let now = sim.assignments();
        if pred(&now) {
            return now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "remote state never became {what}: {now:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn ids(remote: &[Value]) -> Vec<String> {
    remote
        .iter()
        .filter_map(|a| {
            a["role-assignment"]["identifier"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

fn posts(sim: &HarnessSim) -> usize {
    sim.requests().iter().filter(|r| r.method == "POST").count()
}

async fn every_scope_and_principal_type_becomes_ready(reading: HarnessReading) {
    let env = Env::start().await;
    let sim = harness(&env, KEY, reading).await;
    let _operator = env.operator(&[]);
    // Where Harness decides the level: a service account in a project is stored at the
    // account where it lives, or (forced) at the project.
    let service_account_level = match reading.service_account_levels {
        sim_harness::ServiceAccountLevels::Kept => json!("account"),
        sim_harness::ServiceAccountLevels::Forced => json!("project"),
    };
    let cases = [
        (
            "account-user",
            spec(None, None, "_account_viewer", ("USER", "alice")),
            None,
            None,
            "USER",
            Value::Null,
        ),
        (
            "org-group",
            spec(
                Some("platform"),
                None,
                "_organization_admin",
                ("USER_GROUP", "sre"),
            ),
            Some("platform"),
            None,
            "USER_GROUP",
            json!("organization"),
        ),
        (
            "project-sa",
            in_project("_pipeline_executor", ("SERVICE_ACCOUNT", "ci_bot")),
            Some("default"),
            Some("payments"),
            "SERVICE_ACCOUNT",
            service_account_level,
        ),
    ];
    for (name, spec, ..) in &cases {
        env.create_ra("default", name, spec.clone(), no_annotations())
            .await;
    }
    for (name, _, org, project, kind, level) in &cases {
        let ra = env.wait_ra("default", name, "Ready", is_ready).await;
        let id = external_id(&ra).expect("external id recorded");
        let remote = sim
            .assignments()
            .into_iter()
            .find(|a| a["role-assignment"]["identifier"] == id.as_str())
            .unwrap_or_else(|| panic!("{name}: {id} not found remotely"));
        assert_eq!(remote["org"].as_str(), *org, "{name}");
        assert_eq!(remote["project"].as_str(), *project, "{name}");
        assert_eq!(remote["role-assignment"]["principal"]["type"], *kind);
        assert_eq!(
            &remote["role-assignment"]["principal"]["scope_level"], level,
            "{name}"
        );
        let status = ra.status.clone().unwrap_or_default();
        assert_eq!(status.provider.as_deref(), Some("harness"));
        assert_eq!(
            support::at_provider(&ra).map(|a| &a["role-assignment"]["identifier"]),
            Some(&json!(id))
        );
    }
    assert_eq!(sim.assignments().len(), 3);
    sim.shutdown().await;
}

async fn a_role_change_creates_the_new_assignment_before_deleting_the_old(reading: HarnessReading) {
    let env = Env::start().await;
    let sim = harness(&env, KEY, reading).await;
    let _operator = env.operator(&[]);
    env.create_ra(
        "default",
        "dev",
        in_project("_project_viewer", ("USER", "bob")),
        no_annotations(),
    )
    .await;
    let ra = env.wait_ra("default", "dev", "Ready", is_ready).await;
    let old = external_id(&ra).expect("old id");

    let patch = json!({"spec": {"harness": {"role": "_project_admin"}}});
    env.ras("default")
        .patch("dev", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("role changed");
    let ra = env
        .wait_ra("default", "dev", "replaced", |ra| {
            is_ready(ra) && external_id(ra).is_some_and(|id| id != old)
        })
        .await;
    let new = external_id(&ra).expect("new id");
    let remote = wait_remote(&sim, "only the new assignment", |r| ids(r) == [new.clone()]).await;
    assert_eq!(remote[0]["role-assignment"]["role"], "_project_admin");

    let log = sim.requests();
    let create_new = log
        .iter()
        .rposition(|r| r.method == "POST" && r.path == COLLECTION && r.status == 201)
        .expect("the new assignment was created");
    let delete_old = log
        .iter()
        .position(|r| r.method == "DELETE" && r.path == format!("{COLLECTION}/{old}"))
        .expect("the old assignment was deleted");
    assert!(
        create_new < delete_old,
        "the old assignment was deleted before its replacement existed: {log:#?}"
    );
    assert_eq!(
        log.iter().filter(|r| r.method == "POST").count(),
        2,
        "{log:#?}"
    );
    sim.shutdown().await;
}

async fn an_existing_equal_assignment_is_adopted(reading: HarnessReading) {
    let env = Env::start().await;
    let sim = harness(&env, KEY, reading).await;
    sim.insert_assignment(
        Some("default"),
        Some("payments"),
        json!({"identifier": "granted_by_hand", "role": "_project_viewer",
               "resource_group": "_all_resources_including_child_scopes",
               "principal": {"identifier": "carol", "type": "USER"}}),
    )
    .expect("existing assignment");
    let _operator = env.operator(&[]);
    env.create_ra(
        "default",
        "carol",
        in_project("_project_viewer", ("USER", "carol")),
        no_annotations(),
    )
    .await;
    let ra = env.wait_ra("default", "carol", "Ready", is_ready).await;
    assert_eq!(external_id(&ra).as_deref(), Some("granted_by_hand"));
    assert_eq!(posts(&sim), 0, "nothing was created");
    assert_eq!(sim.assignments().len(), 1);
    sim.shutdown().await;
}

async fn deletion_removes_the_assignment_and_orphan_leaves_it(reading: HarnessReading) {
    let env = Env::start().await;
    let sim = harness(&env, KEY, reading).await;
    let _operator = env.operator(&[]);
    env.create_ra(
        "default",
        "gone",
        in_project("_project_viewer", ("USER", "alice")),
        no_annotations(),
    )
    .await;
    let mut orphan = in_project("_project_viewer", ("USER_GROUP", "auditors"));
    orphan["deletionPolicy"] = json!("Orphan");
    env.create_ra("default", "kept", orphan, no_annotations())
        .await;
    let gone = external_id(&env.wait_ra("default", "gone", "Ready", is_ready).await).expect("id");
    let kept = external_id(&env.wait_ra("default", "kept", "Ready", is_ready).await).expect("id");

    for name in ["gone", "kept"] {
        env.ras("default")
            .delete(name, &DeleteParams::default())
            .await
            .expect("deleted");
        env.wait_gone("default", name).await;
    }
    let remote = wait_remote(&sim, "only the orphan", |r| ids(r) == [kept.clone()]).await;
    assert!(!ids(&remote).contains(&gone));
    assert!(
        sim.requests()
            .iter()
            .any(|r| r.method == "DELETE" && r.path == format!("{COLLECTION}/{gone}"))
    );
    sim.shutdown().await;
}

async fn an_unknown_role_or_resource_group_is_a_terminal_readable_status(reading: HarnessReading) {
    let env = Env::start().await;
    let sim = harness(&env, KEY, reading).await;
    let _operator = env.operator(&[]);
    env.create_ra(
        "default",
        "bad-role",
        in_project("_no_such_role", ("USER", "alice")),
        no_annotations(),
    )
    .await;
    let mut bad_group = in_project("_project_viewer", ("USER", "alice"));
    bad_group["harness"]["resourceGroup"] = json!("missing_group");
    env.create_ra("default", "bad-group", bad_group, no_annotations())
        .await;
    let scope = "/ACCOUNT/acct_e2e/ORGANIZATION/default/PROJECT/payments";
    for (name, text) in [
        (
            "bad-role",
            format!("INVALID_REQUEST: Did not find role in {scope}"),
        ),
        (
            "bad-group",
            format!("INVALID_REQUEST: Did not find resource group identifier in {scope}"),
        ),
    ] {
        // Harness answers 400, not 404, for what a create refers to.
        let ra = env
            .wait_ra("default", name, "terminally failed", |ra| {
                condition(ra, "Synced").is_some_and(|(s, r)| s == "False" && r == "Rejected")
            })
            .await;
        let synced = ra
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Synced"))
            .expect("Synced condition");
        assert!(synced.message.contains(&text), "{}", synced.message);
        assert_eq!(
            condition(&ra, "Ready").map(|(s, _)| s).as_deref(),
            Some("False")
        );
    }
    assert!(sim.assignments().is_empty());
    sim.shutdown().await;
}

async fn a_rejected_key_is_reported_and_never_leaks(reading: HarnessReading) {
    let env = Env::start().await;
    let wrong = "pat.acct_e2e.wr0ngt0k3n.harnessWrongKey77aa01";
    let sim = harness(&env, wrong, reading).await;
    let operator = env.operator(&[]);
    env.create_ra(
        "default",
        "denied",
        in_project("_project_viewer", ("USER", "alice")),
        no_annotations(),
    )
    .await;
    let ra = env
        .wait_ra("default", "denied", "Unauthorized", |ra| {
            condition(ra, "Synced").is_some_and(|(s, r)| s == "False" && r == "Unauthorized")
        })
        .await;
    let status = serde_json::to_string(&ra.status).expect("status serializes");
    assert!(!status.contains(wrong), "{status}");
    assert!(sim.assignments().is_empty());
    let logs = operator.kill().await;
    assert!(
        !logs.contains(wrong),
        "the key leaked into the operator's logs"
    );
    sim.shutdown().await;
}

async fn a_rate_limited_provider_is_waited_for_not_hammered(reading: HarnessReading) {
    let env = Env::start().await;
    let sim = harness(&env, KEY, reading).await;
    sim.faults().set_rate_limit(Some(3));
    // What is measured is the reconciles' traffic: the config's first inventory, a tenth of
    // the poll interval after the start, stays out of the window.
    let _operator = env.operator(&["--poll-interval", "10m"]);
    let names: Vec<String> = (0..6).map(|i| format!("limited-{i}")).collect();
    let users = ["alice", "bob", "carol", "dave", "alice", "bob"];
    let roles = [
        "_project_viewer",
        "_project_viewer",
        "_project_viewer",
        "_project_viewer",
        "_project_admin",
        "_project_admin",
    ];
    for (i, name) in names.iter().enumerate() {
        env.create_ra(
            "default",
            name,
            in_project(roles[i], ("USER", users[i])),
            no_annotations(),
        )
        .await;
    }
    for name in &names {
        env.wait_ra("default", name, "Ready", is_ready).await;
    }
    assert_eq!(sim.assignments().len(), names.len());
    let log = sim.requests();
    let limited = log.iter().filter(|r| r.status == 429).count();
    let served = log.len() - limited;
    assert!(
        limited > 0,
        "the simulator never refused a request: nothing was tested"
    );
    assert!(
        limited <= 2 * served,
        "{limited} requests were refused with 429 for {served} served: a retry storm"
    );
    sim.shutdown().await;
}

async fn the_identifier_survives_an_operator_restart_and_a_lost_status(reading: HarnessReading) {
    let env = Env::start().await;
    let sim = harness(&env, KEY, reading).await;
    let operator = env.operator(&[]);
    env.create_ra(
        "default",
        "stable",
        in_project("_project_viewer", ("USER_GROUP", "developers")),
        no_annotations(),
    )
    .await;
    let first =
        external_id(&env.wait_ra("default", "stable", "Ready", is_ready).await).expect("id");
    let id = |s: &str| Identifier::parse(s).expect("identifier");
    let expected = default_identifier(
        &Scope::Project {
            org: id("default"),
            project: id("payments"),
        },
        &id("_all_resources_including_child_scopes"),
        &id("_project_viewer"),
        &Principal {
            kind: PrincipalType::UserGroup,
            identifier: "developers".to_owned(),
            scope_level: None,
        },
        false,
    );
    assert_eq!(
        first,
        expected.as_str(),
        "derived from the spec alone, in any process"
    );
    operator.kill().await;

    // As if the operator had crashed between the remote create and the status write.
    let lost = json!({"status": {"externalID": null, "atProvider": null}});
    let cleared = env
        .ras("default")
        .patch_status("stable", &PatchParams::default(), &Patch::Merge(&lost))
        .await
        .expect("status cleared");
    assert_eq!(external_id(&cleared), None);
    let _restarted = env.operator(&[]);
    let ra = env
        .wait_ra("default", "stable", "Ready again", |ra| {
            is_ready(ra) && external_id(ra).is_some()
        })
        .await;
    assert_eq!(external_id(&ra), Some(first.clone()));
    assert_eq!(ids(&sim.assignments()), [first]);
    assert_eq!(posts(&sim), 1, "the restarted operator created nothing");
    sim.shutdown().await;
}

/// Each test above under each reading of Harness's behaviour.
macro_rules! under_every_reading {
    ($($test:ident),* $(,)?) => {
        mod current {
            use super::*;
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(HarnessReading::CURRENT).await;
                }
            )*
        }
        mod early_2023 {
            use super::*;
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(HarnessReading::EARLY_2023).await;
                }
            )*
        }
    };
}

under_every_reading!(
    every_scope_and_principal_type_becomes_ready,
    a_role_change_creates_the_new_assignment_before_deleting_the_old,
    an_existing_equal_assignment_is_adopted,
    deletion_removes_the_assignment_and_orphan_leaves_it,
    an_unknown_role_or_resource_group_is_a_terminal_readable_status,
    a_rejected_key_is_reported_and_never_leaks,
    a_rate_limited_provider_is_waited_for_not_hammered,
    the_identifier_survives_an_operator_restart_and_a_lost_status,
);

/// The message of a RoleAssignment's Synced condition once its reason is `reason`.
async fn synced_failure(env: &Env, name: &str, reason: &str) -> String {
    let ra = env
        .wait_ra("default", name, reason, |ra| {
            condition(ra, "Synced").is_some_and(|(s, r)| s == "False" && r == reason)
        })
        .await;
    ra.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Synced"))
        .map(|c| c.message.clone())
        .expect("Synced condition")
}

#[tokio::test]
async fn an_account_id_the_key_does_not_belong_to_is_an_invalid_config() {
    let env = Env::start().await;
    let sim = connected(
        &env,
        KEY,
        HarnessReading::CURRENT.config(),
        json!({"accountId": "acct_other"}),
    )
    .await;
    let operator = env.operator(&[]);
    env.create_ra(
        "default",
        "mismatch",
        in_project("_project_viewer", ("USER", "alice")),
        no_annotations(),
    )
    .await;
    let message = synced_failure(&env, "mismatch", "InvalidProviderConfig").await;
    assert!(
        message.contains("\"acct_other\"") && message.contains("\"acct_e2e\""),
        "{message}"
    );
    assert!(!message.contains("e2eHarnessSecret0001"), "{message}");
    assert!(sim.requests().is_empty(), "nothing was sent");
    let logs = operator.kill().await;
    assert!(!logs.contains("e2eHarnessSecret0001"));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_duplicate_the_key_may_not_view_is_reported_with_the_permission_it_needs() {
    let env = Env::start().await;
    let sim = connected(
        &env,
        KEY,
        HarnessSimConfig {
            hidden_principal_types: [sim_harness::PrincipalType::ServiceAccount].into(),
            ..HarnessReading::CURRENT.config()
        },
        json!({}),
    )
    .await;
    sim.insert_assignment(
        Some("default"),
        Some("payments"),
        json!({"identifier": "made_elsewhere", "role": "_pipeline_executor",
               "resource_group": "_all_resources_including_child_scopes",
               "principal": {"identifier": "deployer", "type": "SERVICE_ACCOUNT"}}),
    )
    .expect("assignment the key may not view");
    let _operator = env.operator(&[]);
    env.create_ra(
        "default",
        "hidden",
        in_project("_pipeline_executor", ("SERVICE_ACCOUNT", "deployer")),
        no_annotations(),
    )
    .await;
    let message = synced_failure(&env, "hidden", "Rejected").await;
    assert!(
        message.contains(
            "the API key needs view permission on users, user groups and service accounts"
        ),
        "{message}"
    );
    assert_eq!(sim.assignments().len(), 1);
    sim.shutdown().await;
}
