//! rolesync end to end with ZenML Pro: the operator process against the in-memory
//! Kubernetes API and the ZenML simulator, driven through the Kubernetes API.

use crate::fleet;
use crate::support;

use std::time::Duration;

use kube::api::{DeleteParams, Patch, PatchParams};
use provider_sims::zenml::{Duplicates, SimAssignment, ZenmlFixtures, ZenmlSim, ZenmlSimConfig};
use rolesync::api::RoleAssignment;
use serde_json::{Value, json};
use support::{Env, condition, external_id, is_ready};
use testbed::connect_provider;
use uuid::Uuid;

/// The ZenML API key of every test; tests check it never leaks.
const KEY: &str = "ZENPROKEY_e2e_4c8d1e9f27";
const CONFIG: &str = "zenml";

async fn start(config: ZenmlSimConfig) -> (Env, ZenmlSim) {
    let env = Env::start().await;
    let zenml = ZenmlSim::start(ZenmlSimConfig {
        api_key: KEY.to_owned(),
        ..config
    })
    .await
    .expect("simulator starts");
    connect_provider(
        &env.client,
        CONFIG,
        KEY,
        json!({"zenml": {"endpoint": zenml.endpoint()}, "rateLimit": {"requestsPerMinute": 60000, "burst": 100}}),
    )
    .await
    .expect("provider config");
    (env, zenml)
}

fn f() -> ZenmlFixtures {
    ZenmlFixtures::default()
}

fn spec(
    role: Uuid,
    principal: (&str, Uuid),
    workspace: Option<Uuid>,
    project: Option<Uuid>,
) -> Value {
    let mut z = json!({"roleId": role.to_string(), principal.0: principal.1.to_string()});
    if let Some(w) = workspace {
        z["workspaceId"] = json!(w.to_string());
    }
    if let Some(p) = project {
        z["projectId"] = json!(p.to_string());
    }
    json!({"providerConfigRef": {"kind": "ClusterProviderConfig", "name": CONFIG}, "zenml": z})
}

fn remote(
    role: Uuid,
    principal: (&str, Uuid),
    workspace: Option<Uuid>,
    project: Option<Uuid>,
) -> SimAssignment {
    SimAssignment {
        role_id: role,
        user_id: (principal.0 == "userId").then_some(principal.1),
        team_id: (principal.0 == "teamId").then_some(principal.1),
        invitation_id: None,
        workspace_id: workspace,
        project_id: project,
    }
}

/// What ZenML's docs leave open, as the simulator plays it: every answer to assigning
/// what exists, both answers to revoking what is gone, and list items with and without
/// `role`. The first is the sandbox's default, the most likely reading.
fn reading(duplicates: Duplicates) -> ZenmlSimConfig {
    let reading = fleet::zenml_reading(duplicates);
    ZenmlSimConfig {
        duplicates,
        revoke_missing: reading.revoke_missing,
        list_role: reading.list_role,
        workspace_lists_projects: reading.workspace_lists_projects,
        ..ZenmlSimConfig::default()
    }
}

/// The tests a reading can change, once per reading.
macro_rules! under_each_reading {
    ($($test:ident),* $(,)?) => {
        under_each_reading!(@reading documented => Duplicates::Conflict409; $($test),*);
        under_each_reading!(@reading rejected400 => Duplicates::Rejected400; $($test),*);
        under_each_reading!(@reading rejected422 => Duplicates::Rejected422; $($test),*);
        under_each_reading!(@reading stored => Duplicates::Stored; $($test),*);
    };
    (@reading $module:ident => $duplicates:expr; $($test:ident),*) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(reading($duplicates)).await;
                }
            )*
        }
    };
}

under_each_reading!(
    users_and_teams_at_every_scope_are_assigned_replaced_and_revoked,
    an_assignment_made_while_the_list_was_cached_is_adopted_not_assigned_again,
    what_someone_else_did_never_blocks_a_deletion,
);

fn fast_poll() -> Value {
    json!({"rolesync.dev/poll-interval": "1s"})
}

/// Polls the simulator (it has no watch) until `pred` holds.
async fn wait_remote(zenml: &ZenmlSim, what: &str, pred: impl Fn(&[SimAssignment]) -> bool) {
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        let now = zenml.assignments();
        if pred(&now) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "remote state never became {what}: {now:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn logins(zenml: &ZenmlSim) -> usize {
    zenml
        .requests()
        .iter()
        .filter(|r| r.path == "/auth/login")
        .count()
}

fn count(zenml: &ZenmlSim, method: &str) -> usize {
    zenml
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path != "/auth/login")
        .count()
}

fn synced_message(ra: &RoleAssignment) -> String {
    ra.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Synced"))
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

async fn users_and_teams_at_every_scope_are_assigned_replaced_and_revoked(config: ZenmlSimConfig) {
    let (env, zenml) = start(config).await;
    let _op = env.operator(&[]);
    let fx = f();
    let (ws, project) = fx.projects[0];
    let viewer = fx.roles[3].0;
    let cases = [
        ("org-user", ("userId", fx.user_ids[1]), None, None),
        ("org-team", ("teamId", fx.team_ids[0]), None, None),
        ("ws-user", ("userId", fx.user_ids[2]), Some(ws), None),
        ("ws-team", ("teamId", fx.team_ids[1]), Some(ws), None),
        (
            "project-user",
            ("userId", fx.user_ids[3]),
            Some(ws),
            Some(project),
        ),
        (
            "project-team",
            ("teamId", fx.team_ids[0]),
            Some(ws),
            Some(project),
        ),
    ];
    for (name, principal, w, p) in cases {
        env.create_ra("default", name, spec(viewer, principal, w, p), json!({}))
            .await;
    }
    for (name, principal, w, p) in cases {
        let ra = env.wait_ra("default", name, "Ready", is_ready).await;
        let want = remote(viewer, principal, w, p);
        assert!(zenml.assignments().contains(&want), "{name} not assigned");
        let id = external_id(&ra).expect("externalID recorded");
        assert!(id.starts_with(&format!("role={viewer}/")), "{id}");
        assert!(id.contains(&principal.1.to_string()), "{id}");
        assert_eq!(id.contains("/workspace="), w.is_some(), "{id}");
        assert_eq!(id.contains("/project="), p.is_some(), "{id}");
        let status = ra.status.clone().unwrap_or_default();
        assert_eq!(status.provider.as_deref(), Some("zenml"));
        assert_eq!(
            status.role.as_deref(),
            Some(fx.roles[3].1.as_str()),
            "status names the role, as ZenML does"
        );
        assert_eq!(
            support::at_provider(&ra).map(|a| &a["role"]["id"]),
            Some(&json!(viewer.to_string()))
        );
    }

    // A new role is assigned first, then the old one revoked.
    let manager = fx.roles[1].0;
    let principal = ("userId", fx.user_ids[2]);
    env.ras("default")
        .patch(
            "ws-user",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"zenml": {"roleId": manager.to_string()}}})),
        )
        .await
        .expect("role change accepted");
    let ra = env
        .wait_ra("default", "ws-user", "replaced", |ra| {
            is_ready(ra) && ra.metadata.generation == Some(2)
        })
        .await;
    let now = zenml.assignments();
    assert!(now.contains(&remote(manager, principal, Some(ws), None)));
    assert!(!now.contains(&remote(viewer, principal, Some(ws), None)));
    assert!(external_id(&ra).is_some_and(|id| id.starts_with(&format!("role={manager}/"))));
    assert_eq!(
        ra.status.as_ref().and_then(|s| s.role.as_deref()),
        Some(fx.roles[1].1.as_str())
    );
    let log = zenml.requests();
    let assigned = log
        .iter()
        .rposition(|r| r.method == "POST" && r.path == format!("/roles/{manager}/assignments"));
    let revoked = log
        .iter()
        .rposition(|r| r.method == "DELETE" && r.path == format!("/roles/{viewer}/assignments"));
    assert!(
        assigned < revoked && assigned.is_some(),
        "assign before revoke: {log:?}"
    );
    assert!(
        env.wait_event("default", "ws-user", "Replaced")
            .await
            .note
            .unwrap_or_default()
            .contains(&manager.to_string())
    );

    for (name, ..) in cases {
        env.ras("default")
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }
    for (name, ..) in cases {
        env.wait_gone("default", name).await;
    }
    let mut seeded = fx.seeded();
    seeded.sort();
    assert_eq!(
        zenml.assignments(),
        seeded,
        "only the seeded roles are left"
    );
}

/// An assignment someone made while the operator's list of its role and scope was cached
/// (it said absent) is adopted, whatever ZenML answers to a duplicate assign: it is never
/// assigned a second time, nor does a refusal leave the resource failing.
async fn an_assignment_made_while_the_list_was_cached_is_adopted_not_assigned_again(
    config: ZenmlSimConfig,
) {
    let (env, zenml) = start(config).await;
    let _op = env.operator(&[]);
    let fx = f();
    let (manager, ws) = (fx.roles[1].0, fx.workspace_ids[0]);
    let (first, second) = (("userId", fx.user_ids[1]), ("userId", fx.user_ids[2]));
    env.create_ra(
        "default",
        "first",
        spec(manager, first, Some(ws), None),
        json!({}),
    )
    .await;
    env.wait_ra("default", "first", "Ready", is_ready).await;
    // The operator now holds the list of the manager role in that workspace (60s poll).
    let theirs = remote(manager, second, Some(ws), None);
    zenml.insert_assignment(theirs);
    env.create_ra(
        "default",
        "second",
        spec(manager, second, Some(ws), None),
        json!({}),
    )
    .await;
    env.wait_ra("default", "second", "Ready", is_ready).await;
    env.wait_event("default", "second", "Adopted").await;
    assert_eq!(count(&zenml, "POST"), 1, "only the first was assigned");
    let rows = zenml.assignments().iter().filter(|a| **a == theirs).count();
    assert_eq!(rows, 1);
}

/// A deletion goes through whatever someone else did to the assignment: revoked it
/// already (ZenML's answer to revoking again is 404 or 200), or, where ZenML stores
/// duplicates, made a second, identical row, which stays and is reported.
async fn what_someone_else_did_never_blocks_a_deletion(config: ZenmlSimConfig) {
    let stores_duplicates = config.duplicates == Duplicates::Stored;
    let (env, zenml) = start(config).await;
    let _op = env.operator(&[]);
    let fx = f();
    let viewer = fx.roles[3].0;
    let (revoked, doubled) = (("teamId", fx.team_ids[0]), ("teamId", fx.team_ids[1]));
    env.create_ra(
        "default",
        "revoked",
        spec(viewer, revoked, None, None),
        json!({}),
    )
    .await;
    env.create_ra(
        "default",
        "doubled",
        spec(viewer, doubled, None, None),
        json!({}),
    )
    .await;
    env.wait_ra("default", "revoked", "Ready", is_ready).await;
    env.wait_ra("default", "doubled", "Ready", is_ready).await;

    assert!(zenml.remove_assignment(&remote(viewer, revoked, None, None)));
    let second_row = remote(viewer, doubled, None, None);
    if stores_duplicates {
        zenml.insert_assignment(second_row);
    }
    for name in ["revoked", "doubled"] {
        env.ras("default")
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }
    env.wait_gone("default", "revoked").await;
    env.wait_gone("default", "doubled").await;
    let left = zenml.assignments();
    assert!(!left.contains(&remote(viewer, revoked, None, None)));
    if stores_duplicates {
        assert_eq!(left.iter().filter(|a| **a == second_row).count(), 1);
        let note = env
            .wait_event("default", "doubled", "LeftInPlace")
            .await
            .note
            .unwrap_or_default();
        assert!(note.contains("identical"), "{note}");
    } else {
        assert!(!left.contains(&second_row));
    }
}

#[tokio::test]
async fn token_expiry_is_invisible_and_a_revoked_key_is_a_terminal_status() {
    let (env, zenml) = start(ZenmlSimConfig::default()).await;
    let op = env.operator(&[]);
    let fx = f();
    let viewer = fx.roles[3].0;
    env.create_ra(
        "default",
        "steady",
        spec(viewer, ("userId", fx.user_ids[4]), None, None),
        fast_poll(),
    )
    .await;
    let ra = env.wait_ra("default", "steady", "Ready", is_ready).await;
    let synced_since = ra
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Synced"))
        .map(|c| c.last_transition_time.clone());

    // Mid-run expiry: the next resync gets a 401, logs in again and carries on.
    let before = logins(&zenml);
    zenml.expire_tokens();
    let deadline = tokio::time::Instant::now() + support::WAIT;
    while logins(&zenml) == before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the expired token was never renewed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lists = count(&zenml, "GET");
    let deadline = tokio::time::Instant::now() + support::WAIT;
    while count(&zenml, "GET") <= lists + 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no resync after the renewal"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ra = env.ras("default").get("steady").await.expect("get");
    assert!(is_ready(&ra));
    let synced_now = ra
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Synced"))
        .map(|c| c.last_transition_time.clone());
    assert_eq!(synced_now, synced_since, "Synced never dropped");
    assert!(!op.logs().contains("reconcile failed"), "{}", op.logs());

    // A revoked key: a readable terminal status, and no storm of logins.
    zenml.set_api_key("ZENPROKEY_rotated");
    let ra = env
        .wait_ra("default", "steady", "Unauthorized", |ra| {
            condition(ra, "Synced").is_some_and(|(s, r)| s == "False" && r == "Unauthorized")
        })
        .await;
    let message = synced_message(&ra);
    assert!(
        message.contains("credentials rejected (HTTP 401)"),
        "{message}"
    );
    assert!(!message.contains(KEY));
    let failed_logins = zenml
        .requests()
        .iter()
        .filter(|r| r.path == "/auth/login" && r.status == 401)
        .count();
    assert!(
        failed_logins <= 3,
        "{failed_logins} logins with a revoked key"
    );
    let logs = op.kill().await;
    assert!(!logs.contains(KEY), "the API key leaked into the logs");
    assert!(
        !logs.contains("zenpro-token-"),
        "a token leaked into the logs"
    );
}

#[tokio::test]
async fn adoption_orphan_and_the_last_role_refusal() {
    let (env, zenml) = start(ZenmlSimConfig::default()).await;
    let _op = env.operator(&[]);
    let fx = f();
    let member = fx.member_role_id;
    let carol = ("userId", fx.user_ids[2]);

    // Carol's seeded member role is adopted, not assigned again.
    env.create_ra(
        "default",
        "carol-member",
        spec(member, carol, None, None),
        json!({}),
    )
    .await;
    let ra = env
        .wait_ra("default", "carol-member", "Ready", is_ready)
        .await;
    assert_eq!(
        external_id(&ra),
        Some(format!("role={member}/user={}", carol.1))
    );
    assert_eq!(count(&zenml, "POST"), 0, "nothing assigned");
    assert!(
        env.wait_event("default", "carol-member", "Adopted")
            .await
            .note
            .unwrap_or_default()
            .contains(&member.to_string())
    );

    // It is her last role: deleting the resource is refused with a readable status, once.
    env.ras("default")
        .delete("carol-member", &DeleteParams::default())
        .await
        .expect("delete");
    let ra = env
        .wait_ra("default", "carol-member", "refused", |ra| {
            condition(ra, "Synced").is_some_and(|(s, r)| s == "False" && r == "Rejected")
        })
        .await;
    let message = synced_message(&ra);
    assert!(
        message.contains("Cannot revoke the last role of member"),
        "{message}"
    );
    assert!(
        zenml
            .assignments()
            .contains(&remote(member, carol, None, None))
    );
    let deletes = count(&zenml, "DELETE");
    assert!(deletes <= 2, "{deletes} revokes of a refused assignment");

    // Orphan lets the resource go and keeps her role.
    env.ras("default")
        .patch(
            "carol-member",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"deletionPolicy": "Orphan"}})),
        )
        .await
        .expect("switch to Orphan");
    env.wait_gone("default", "carol-member").await;
    assert!(
        zenml
            .assignments()
            .contains(&remote(member, carol, None, None))
    );

    // An Orphan assignment outlives its resource.
    let viewer = fx.roles[3].0;
    let mut orphan = spec(
        viewer,
        ("teamId", fx.team_ids[1]),
        Some(fx.workspace_ids[1]),
        None,
    );
    orphan["deletionPolicy"] = json!("Orphan");
    env.create_ra("default", "orphan", orphan, json!({})).await;
    env.wait_ra("default", "orphan", "Ready", is_ready).await;
    env.ras("default")
        .delete("orphan", &DeleteParams::default())
        .await
        .expect("delete");
    env.wait_gone("default", "orphan").await;
    let kept = remote(
        viewer,
        ("teamId", fx.team_ids[1]),
        Some(fx.workspace_ids[1]),
        None,
    );
    wait_remote(&zenml, "still holding the orphaned role", |a| {
        a.contains(&kept)
    })
    .await;
    assert_eq!(
        count(&zenml, "DELETE"),
        deletes,
        "nothing revoked for Orphan"
    );
}
