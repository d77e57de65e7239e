//! The mass-revocation guard through the operator as users run it: a provider config's
//! `revocationLimit` lets through at most `maxPerHour` revocations in a sliding hour and holds
//! the rest (Ready stays, Synced=False RevocationThrottled, an Event, a metric), across a
//! restart, until an admin confirms with the config's annotation. The limit counts the same
//! for every provider (it is the controller's, not a client's), so Gcore alone is used.

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use rolesync::api::{ALLOW_REVOCATIONS_ANNOTATION, ClusterProviderConfig, RoleAssignment};
use serde_json::{Value, json};

use crate::fleet::{self, Kind};
use crate::support::{Env, GCORE_CONFIG, Operator, WAIT, condition, is_ready};

/// Gcore slot `slot` of the fleet, through the environment's own Gcore config.
fn spec(slot: usize) -> Value {
    let mut spec = fleet::spec(Kind::Gcore, slot, 0);
    spec["providerConfigRef"] = json!({"kind": "ClusterProviderConfig", "name": GCORE_CONFIG});
    spec
}

async fn patch_config(env: &Env, patch: Value) {
    Api::<ClusterProviderConfig>::all(env.client.clone())
        .patch(GCORE_CONFIG, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .expect("config patched");
}

/// An admin confirms every revocation for the next ten minutes.
async fn confirm(env: &Env) {
    let until = jiff::Timestamp::now() + jiff::SignedDuration::from_mins(10);
    patch_config(
        env,
        json!({"metadata": {"annotations": {ALLOW_REVOCATIONS_ANNOTATION: until.to_string()}}}),
    )
    .await;
}

/// Ready=True for any generation (a deletion moves the generation on).
fn ready(ra: &RoleAssignment) -> bool {
    condition(ra, "Ready").is_some_and(|(s, _)| s == "True")
}

fn throttled(ra: &RoleAssignment) -> bool {
    condition(ra, "Synced").is_some_and(|(s, r)| s == "False" && r == "RevocationThrottled")
}

/// Polls `what` (with a deadline) until `pred` holds of it.
async fn eventually<T: std::fmt::Debug>(
    what: &str,
    mut get: impl AsyncFnMut() -> T,
    pred: impl Fn(&T) -> bool,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = get().await;
        if pred(&now) {
            return now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {what}: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of a metric line starting with `series`, from `/metrics`.
async fn metric(op: &Operator, series: &str) -> u64 {
    op.metrics()
        .await
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn deleting_a_namespace_of_50_under_a_limit_of_10_revokes_10_until_confirmed() {
    let env = Env::start().await;
    patch_config(
        &env,
        json!({"spec": {"revocationLimit": {"maxPerHour": 10}}}),
    )
    .await;
    testbed::ensure_namespace(&env.client, "bulk")
        .await
        .expect("namespace");
    let op = env.operator(&[]);
    for slot in 0..50 {
        env.create_ra("bulk", &format!("ra-{slot}"), spec(slot), json!({}))
            .await;
    }
    for slot in 0..50 {
        env.wait_ra("bulk", &format!("ra-{slot}"), "Ready", is_ready)
            .await;
    }
    Api::<Namespace>::all(env.client.clone())
        .delete("bulk", &DeleteParams::default())
        .await
        .expect("namespace deleted");

    let ras = env.ras("bulk");
    let held = eventually(
        "10 revoked and 40 held",
        async || ras.list(&Default::default()).await.expect("list").items,
        |items| items.len() == 40 && items.iter().all(throttled),
    )
    .await;
    assert_eq!(env.requests("DELETE"), 10, "exactly the limit was revoked");
    for ra in &held {
        assert!(ready(ra), "Ready stays while the access does: {ra:?}");
    }
    let config = Api::<ClusterProviderConfig>::all(env.client.clone())
        .get(GCORE_CONFIG)
        .await
        .expect("config");
    assert_eq!(
        config.status.expect("status").recent_revocations.len(),
        10,
        "the window is in the config's status"
    );
    let series = format!(
        "rolesync_revocations_held_total{{config=\"ClusterProviderConfig/{GCORE_CONFIG}\"}}"
    );
    assert_eq!(metric(&op, &series).await, 40);

    confirm(&env).await;
    eventually(
        "all revoked once confirmed",
        async || env.requests("DELETE"),
        |n| *n == 50,
    )
    .await;
    let namespaces = Api::<Namespace>::all(env.client.clone());
    eventually(
        "the namespace gone",
        async || namespaces.get_opt("bulk").await.expect("get").is_some(),
        |exists| !exists,
    )
    .await;
    let left: Vec<Value> = env
        .gcore
        .assignments()
        .into_iter()
        .filter(|a| {
            (0..50).any(|slot| {
                let g = &spec(slot)["gcore"];
                a["user_id"] == g["userId"] && a["project_id"] == g["projectId"]
            })
        })
        .collect();
    assert_eq!(
        left,
        Vec::<Value>::new(),
        "every grant of the namespace is revoked"
    );
}

#[tokio::test]
async fn a_held_revocation_says_so_and_still_waits_after_a_restart() {
    let env = Env::start().await;
    patch_config(
        &env,
        json!({"spec": {"revocationLimit": {"maxPerHour": 1}}}),
    )
    .await;
    let op = env.operator(&[]);
    for (name, slot) in [("first", 1), ("second", 2)] {
        env.create_ra("default", name, spec(slot), json!({})).await;
        env.wait_ra("default", name, "Ready", is_ready).await;
    }
    let api = env.ras("default");
    api.delete("first", &DeleteParams::default())
        .await
        .expect("deleted");
    env.wait_gone("default", "first").await;
    api.delete("second", &DeleteParams::default())
        .await
        .expect("deleted");
    let ra = env
        .wait_ra("default", "second", "RevocationThrottled", throttled)
        .await;
    assert!(ready(&ra), "Ready stays: the access is still there");
    let event = env
        .wait_event("default", "second", "RevocationThrottled")
        .await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(env.requests("DELETE"), 1);

    // A new process seeds the window from the config's status: still held.
    drop(op.kill().await);
    let op = env.operator(&[]);
    let errors = "rolesync_reconcile_errors_total{reason=\"RevocationThrottled\"}";
    eventually(
        "the held revocation tried again",
        async || metric(&op, errors).await,
        |n| *n >= 1,
    )
    .await;
    assert_eq!(
        env.requests("DELETE"),
        1,
        "the restart did not reset the hour"
    );

    // An expiry was asked for: the used-up hour does not hold it back.
    let mut expiring = spec(3);
    expiring["expiresAt"] =
        json!((jiff::Timestamp::now() + jiff::SignedDuration::from_secs(4)).to_string());
    env.create_ra("default", "expiring", expiring, json!({}))
        .await;
    env.wait_ra("default", "expiring", "Ready", is_ready).await;
    env.wait_ra("default", "expiring", "Expired", |ra| {
        condition(ra, "Ready").is_some_and(|(_, r)| r == "Expired")
    })
    .await;
    assert_eq!(env.requests("DELETE"), 2);

    confirm(&env).await;
    env.wait_gone("default", "second").await;
    assert_eq!(env.requests("DELETE"), 3);
    drop(op);
}
