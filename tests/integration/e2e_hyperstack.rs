//! Hyperstack RBAC roles end to end: RoleAssignments in the in-memory Kubernetes API, the
//! operator as its own process, and the Hyperstack simulator.

use crate::support;

use std::time::Duration;

use kube::api::{DeleteParams, Patch, PatchParams};
use provider_sims::hyperstack::{
    AssignMode, FixtureRole, HyperstackFixtures, HyperstackSim, HyperstackSimConfig, IpLimit,
    RoleList,
};
use rolesync::api::RoleAssignment;
use serde_json::{Value, json};
use support::{Env, WAIT, condition, external_id, is_ready};
use testbed::connect_provider;

const KEY: &str = "hyperstack-e2e-key-41d7b2c9";
const CONFIG: &str = "hyperstack";
const NS: &str = "default";

/// The test environment plus a Hyperstack simulator and its ClusterProviderConfig.
async fn start(config: HyperstackSimConfig, rate_limit: Option<Value>) -> (Env, HyperstackSim) {
    let env = Env::start().await;
    let sim = HyperstackSim::start(HyperstackSimConfig {
        api_key: KEY.to_owned(),
        ..config
    })
    .await
    .expect("simulator starts");
    let mut block = json!({"hyperstack": {"endpoint": sim.endpoint()}});
    if let Some(rl) = rate_limit {
        block["rateLimit"] = rl;
    }
    connect_provider(&env.client, CONFIG, KEY, block)
        .await
        .expect("provider config");
    (env, sim)
}

/// A Hyperstack RoleAssignment spec; `role` is `{"roleId": n}` or `{"roleName": s}`.
fn spec(user: u64, role: Value) -> Value {
    let mut h = json!({"userId": user});
    if let (Some(h), Some(role)) = (h.as_object_mut(), role.as_object()) {
        h.extend(role.clone());
    }
    json!({"providerConfigRef": {"kind": "ClusterProviderConfig", "name": CONFIG}, "hyperstack": h})
}

fn at_provider(ra: &RoleAssignment, field: &str) -> Value {
    support::at_provider(ra).map_or(Value::Null, |a| a[field].clone())
}

fn failed_with(reason: &'static str) -> impl Fn(&RoleAssignment) -> bool {
    move |ra| condition(ra, "Synced") == Some(("False".into(), reason.into()))
}

/// Polls `check` until it holds (the simulator and events have no watch here).
async fn wait_until(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} never happened"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn puts_for(sim: &HyperstackSim, user: u64) -> usize {
    let path = format!("/v1/auth/users/{user}/assign-roles");
    sim.requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path == path)
        .count()
}

fn deletes(sim: &HyperstackSim) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .count()
}

/// Whether assign-roles replaces or adds is undocumented: the tests it can change run under
/// both, replacing (the sandbox's default) with `{name}` objects, adding with role ids.
fn reading(assign: AssignMode) -> HyperstackSimConfig {
    HyperstackSimConfig {
        assign,
        role_list: match assign {
            AssignMode::Replace => RoleList::Objects,
            AssignMode::Add => RoleList::Ids,
        },
        ..HyperstackSimConfig::default()
    }
}

macro_rules! under_each_reading {
    ($($test:ident),* $(,)?) => {
        under_each_reading!(@reading replacing => AssignMode::Replace; $($test),*);
        under_each_reading!(@reading adding => AssignMode::Add; $($test),*);
    };
    (@reading $module:ident => $assign:expr; $($test:ident),*) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($assign).await;
                }
            )*
        }
    };
}

under_each_reading!(
    assigns_by_id_and_by_name_and_changes_a_role,
    drift_is_repaired_and_a_foreign_role_is_left_alone_on_deletion,
    a_role_change_never_strips_a_foreign_role,
);

async fn delete_ra(env: &Env, name: &str) {
    env.ras(NS)
        .delete(name, &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("deleting {name}: {e}"));
}

async fn assigns_by_id_and_by_name_and_changes_a_role(assign: AssignMode) {
    let (env, sim) = start(reading(assign), None).await;
    let _operator = env.operator(&[]);
    env.create_ra(NS, "by-id", spec(201, json!({"roleId": 2})), json!({}))
        .await;
    env.create_ra(
        NS,
        "by-name",
        spec(202, json!({"roleName": "viewer"})),
        json!({}),
    )
    .await;

    let by_id = env.wait_ra(NS, "by-id", "Ready", is_ready).await;
    assert_eq!(external_id(&by_id).as_deref(), Some("201/role=2"));
    assert_eq!(at_provider(&by_id, "roleName"), "developer");
    let by_name = env.wait_ra(NS, "by-name", "Ready", is_ready).await;
    assert_eq!(external_id(&by_name).as_deref(), Some("202/role=3"));
    assert_eq!(
        at_provider(&by_name, "roleId"),
        3,
        "the name is reported as its id"
    );
    let status = by_name.status.clone().unwrap_or_default();
    assert_eq!(
        (
            status.provider.as_deref(),
            status.role.as_deref(),
            status.principal.as_deref()
        ),
        (Some("hyperstack"), Some("viewer"), Some("user:202"))
    );
    assert_eq!(sim.role_of(201).as_deref(), Some("developer"));
    assert_eq!(sim.role_of(202).as_deref(), Some("viewer"));

    env.ras(NS)
        .patch(
            "by-name",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"hyperstack": {"roleName": "admin"}}})),
        )
        .await
        .expect("role changed");
    let changed = env
        .wait_ra(NS, "by-name", "Ready as admin", |ra| {
            is_ready(ra) && at_provider(ra, "roleName") == "admin"
        })
        .await;
    assert_eq!(at_provider(&changed, "roleId"), 1);
    assert_eq!(external_id(&changed).as_deref(), Some("202/role=1"));
    assert_eq!(sim.roles_of(202), ["admin"], "the earlier role is gone");
    // Where assigning replaces, one PUT changes the role and nothing is removed first;
    // where it adds, the earlier role goes after the PUT, and with it the new one, which
    // is assigned again.
    let (puts, removes) = match assign {
        AssignMode::Replace => (2, 0),
        AssignMode::Add => (3, 1),
    };
    assert_eq!(puts_for(&sim, 202), puts);
    assert_eq!(deletes(&sim), removes);
    sim.shutdown().await;
}

#[tokio::test]
async fn deleting_removes_the_role_unless_orphaned() {
    let (env, sim) = start(HyperstackSimConfig::default(), None).await;
    let _operator = env.operator(&[]);
    env.create_ra(
        NS,
        "removed",
        spec(203, json!({"roleName": "developer"})),
        json!({}),
    )
    .await;
    let mut orphan = spec(204, json!({"roleName": "developer"}));
    orphan["deletionPolicy"] = json!("Orphan");
    env.create_ra(NS, "orphaned", orphan, json!({})).await;
    env.wait_ra(NS, "removed", "Ready", is_ready).await;
    env.wait_ra(NS, "orphaned", "Ready", is_ready).await;

    delete_ra(&env, "removed").await;
    delete_ra(&env, "orphaned").await;
    env.wait_gone(NS, "removed").await;
    env.wait_gone(NS, "orphaned").await;
    assert_eq!(sim.role_of(203), None);
    assert_eq!(sim.role_of(204).as_deref(), Some("developer"));
    assert_eq!(deletes(&sim), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_unknown_user_or_role_is_terminal() {
    let (env, sim) = start(HyperstackSimConfig::default(), None).await;
    let _operator = env.operator(&[]);
    env.create_ra(NS, "no-user", spec(9999, json!({"roleId": 1})), json!({}))
        .await;
    env.create_ra(
        NS,
        "no-role",
        spec(205, json!({"roleName": "owner"})),
        json!({}),
    )
    .await;

    let no_user = env
        .wait_ra(NS, "no-user", "failed", failed_with("NotFound"))
        .await;
    let no_role = env
        .wait_ra(NS, "no-role", "failed", failed_with("NotFound"))
        .await;
    for ra in [&no_user, &no_role] {
        assert_eq!(
            condition(ra, "Ready"),
            Some(("False".into(), "Creating".into()))
        );
    }
    let message = |ra: &RoleAssignment| {
        ra.status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Synced"))
            .map(|c| c.message.clone())
            .unwrap_or_default()
    };
    assert!(message(&no_user).contains("9999"), "{}", message(&no_user));
    assert!(message(&no_role).contains("owner"), "{}", message(&no_role));
    // Terminal: the controller publishes a Warning only for failures no retry can fix.
    env.wait_event(NS, "no-user", "NotFound").await;
    env.wait_event(NS, "no-role", "NotFound").await;
    assert_eq!(
        puts_for(&sim, 205),
        0,
        "an unknown role is refused before any write"
    );
    assert!(sim.assigned().is_empty());
    sim.shutdown().await;
}

async fn drift_is_repaired_and_a_foreign_role_is_left_alone_on_deletion(assign: AssignMode) {
    let (env, sim) = start(reading(assign), None).await;
    let _operator = env.operator(&[]);
    env.create_ra(
        NS,
        "repaired",
        spec(206, json!({"roleName": "developer"})),
        json!({"rolesync.dev/poll-interval": "1s"}),
    )
    .await;
    env.create_ra(
        NS,
        "left",
        spec(207, json!({"roleName": "developer"})),
        json!({}),
    )
    .await;
    env.wait_ra(NS, "repaired", "Ready", is_ready).await;
    env.wait_ra(NS, "left", "Ready", is_ready).await;

    // Someone replaces the role: rolesync assigns it again (beside theirs, where
    // assigning adds).
    assert!(sim.set_roles(206, &["admin"]));
    wait_until("the drifted role repaired", || {
        sim.roles_of(206).contains(&"developer".to_owned())
    })
    .await;
    let repaired = match assign {
        AssignMode::Replace => vec!["developer"],
        AssignMode::Add => vec!["admin", "developer"],
    };
    assert_eq!(sim.roles_of(206), repaired);

    // Someone else gives user 207 another role; deleting the RoleAssignment must not strip it.
    assert!(sim.assign_role(207, "admin"));
    let held = sim.roles_of(207);
    delete_ra(&env, "left").await;
    env.wait_gone(NS, "left").await;
    assert_eq!(sim.roles_of(207), held);
    assert_eq!(deletes(&sim), 0);

    let found = match assign {
        AssignMode::Replace => "user 207 now holds role admin",
        AssignMode::Add => {
            "user 207 also holds admin, which rolesync did not grant, and Hyperstack removes all of a member's roles at once"
        }
    };
    let event = env.wait_event(NS, "left", "LeftInPlace").await;
    assert_eq!(
        event.note.as_deref(),
        Some(format!("left 207/role=2 in place: {found}").as_str())
    );
    sim.shutdown().await;
}

/// A role change where assigning adds must remove the earlier role, which takes every
/// role of the member: with a role rolesync did not grant beside it, the earlier one is
/// left in place, and status and a Warning Event say so.
async fn a_role_change_never_strips_a_foreign_role(assign: AssignMode) {
    let (env, sim) = start(reading(assign), None).await;
    let _operator = env.operator(&[]);
    env.create_ra(
        NS,
        "changed",
        spec(209, json!({"roleName": "developer"})),
        json!({}),
    )
    .await;
    env.wait_ra(NS, "changed", "Ready", is_ready).await;
    assert!(sim.assign_role(209, "admin"), "someone else assigns admin");
    env.ras(NS)
        .patch(
            "changed",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"hyperstack": {"roleName": "viewer"}}})),
        )
        .await
        .expect("role changed");
    match assign {
        AssignMode::Replace => {
            env.wait_ra(NS, "changed", "Ready as viewer", is_ready)
                .await;
            assert_eq!(sim.roles_of(209), ["viewer"]);
        }
        AssignMode::Add => {
            let ra = env
                .wait_ra(NS, "changed", "left in place", failed_with("LeftInPlace"))
                .await;
            let message = ra
                .status
                .as_ref()
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Synced"))
                .map(|c| c.message.clone())
                .unwrap_or_default();
            assert!(
                message.contains("still holds developer") && message.contains("admin"),
                "{message}"
            );
            env.wait_event(NS, "changed", "LeftInPlace").await;
            assert_eq!(sim.roles_of(209), ["developer", "admin", "viewer"]);
            assert_eq!(deletes(&sim), 0);
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_second_assignment_for_the_same_user_is_a_conflict() {
    let (env, sim) = start(HyperstackSimConfig::default(), None).await;
    let _operator = env.operator(&[]);
    env.create_ra(
        NS,
        "first",
        spec(208, json!({"roleName": "developer"})),
        json!({}),
    )
    .await;
    env.wait_ra(NS, "first", "Ready", is_ready).await;
    env.create_ra(NS, "second", spec(208, json!({"roleId": 1})), json!({}))
        .await;
    env.wait_ra(NS, "second", "Conflict", |ra| {
        condition(ra, "Ready") == Some(("False".into(), "Conflict".into()))
    })
    .await;
    assert_eq!(sim.role_of(208).as_deref(), Some("developer"));

    // The loser never touches the remote role, not even when it is deleted.
    delete_ra(&env, "second").await;
    env.wait_gone(NS, "second").await;
    assert_eq!(sim.role_of(208).as_deref(), Some("developer"));
    assert_eq!(puts_for(&sim, 208), 1);
    assert_eq!(deletes(&sim), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_burst_of_300_new_assignments_never_trips_the_ip_block() {
    // Scaled so the test is short yet the burst alone would trip the block: the simulator
    // allows 50 requests per second (Hyperstack: 500 per minute) and the config 30/s with a
    // burst of 10, the same 60% of the limit as the default 300/min, so at most 40 requests
    // go out in any second. Unthrottled, 300 assignments go out within a second. The block
    // stays a full minute: tripping it once would stall the test past its deadline.
    let users: Vec<u64> = (1000..1300).collect();
    let (env, sim) = start(
        HyperstackSimConfig {
            fixtures: HyperstackFixtures {
                user_ids: users.clone(),
                roles: vec![FixtureRole {
                    id: 7,
                    name: "developer".into(),
                }],
                ..HyperstackFixtures::default()
            },
            limit: IpLimit {
                requests: 50,
                per: Duration::from_secs(1),
                block: Duration::from_secs(60),
            },
            ..HyperstackSimConfig::default()
        },
        Some(json!({"requestsPerMinute": 1800, "burst": 10})),
    )
    .await;
    let _operator = env.operator(&[]);
    for user in &users {
        env.create_ra(
            NS,
            &format!("member-{user}"),
            spec(*user, json!({"roleName": "developer"})),
            json!({}),
        )
        .await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    while sim.assigned().len() < users.len() {
        assert_eq!(sim.blocks(), 0, "the simulator blocked rolesync");
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {} roles assigned",
            sim.assigned().len(),
            users.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sim.blocks(), 0);
    assert!(sim.requests().iter().all(|r| r.status != 429));
    let puts = sim.requests().iter().filter(|r| r.method == "PUT").count();
    assert_eq!(puts, users.len(), "one PUT per member, no retries");
    sim.shutdown().await;
}
