//! Running rolesync: leader election between replicas, metrics and health endpoints.

use crate::support;

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use serde_json::json;
use support::{Env, gcore_spec, is_ready};

const LEADER_ARGS: &[&str] = &["--leader-election", "true", "--lease-duration", "2s"];

async fn holder(env: &Env) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(env.client.clone(), "rolesync-system");
    leases
        .get_opt("rolesync-leader")
        .await
        .ok()
        .flatten()?
        .spec?
        .holder_identity
}

async fn wait_holder(env: &Env, what: &str, pred: impl Fn(Option<&str>) -> bool) -> Option<String> {
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        let h = holder(env).await;
        if pred(h.as_deref()) {
            return h;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "leader never became {what}; holder {h:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_standby_takes_over_when_the_leader_dies_without_repeating_writes() {
    let env = Env::start().await;
    let a = env.operator_as("rolesync-a", LEADER_ARGS);
    let leader = wait_holder(&env, "rolesync-a", |h| h == Some("rolesync-a")).await;
    let b = env.operator_as("rolesync-b", LEADER_ARGS);
    assert_eq!(leader.as_deref(), Some("rolesync-a"));

    env.create_ra(
        "default",
        "one",
        gcore_spec(777, "Observer", Some(123)),
        json!({}),
    )
    .await;
    env.wait_ra("default", "one", "Ready", is_ready).await;
    assert!(
        !b.logs().contains("created remote assignment"),
        "the standby wrote while not leading"
    );

    // The leader dies without releasing its lease; the standby waits it out and takes over.
    let killed_at = tokio::time::Instant::now();
    drop(a.kill().await);
    wait_holder(&env, "rolesync-b", |h| h == Some("rolesync-b")).await;
    assert!(
        killed_at.elapsed() < Duration::from_secs(10),
        "takeover took {:?}",
        killed_at.elapsed()
    );

    env.create_ra(
        "default",
        "two",
        gcore_spec(778, "Observer", Some(123)),
        json!({}),
    )
    .await;
    env.wait_ra("default", "two", "Ready", is_ready).await;
    assert_eq!(env.gcore.assignments().len(), 2);
    assert_eq!(
        env.requests("POST"),
        2,
        "every remote create made exactly once"
    );
    assert_eq!(env.requests("PATCH") + env.requests("DELETE"), 0);

    // A clean stop hands the lease back at once.
    let (code, logs) = b.stop().await;
    assert_eq!(code, Some(0), "{logs}");
    wait_holder(&env, "released", |h| h.is_none_or(str::is_empty)).await;
}

#[tokio::test]
async fn metrics_and_health_are_served() {
    let env = Env::start().await;
    let op = env.operator(&[]);
    env.create_ra(
        "default",
        "m",
        gcore_spec(777, "Observer", Some(123)),
        json!({}),
    )
    .await;
    env.wait_ra("default", "m", "Ready", is_ready).await;
    let addr = op.metrics_addr().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let get = |path: &'static str| {
        let http = http.clone();
        async move {
            let r = http
                .get(format!("http://{addr}{path}"))
                .send()
                .await
                .expect("reachable");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    assert_eq!(get("/healthz").await.0, 200);
    assert_eq!(get("/readyz").await.0, 200);
    // The readiness gauge counts the operator's cache, which sees the Ready status
    // moments after this test's own watch may.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (code, text) = loop {
        let (code, text) = get("/metrics").await;
        if text.contains("rolesync_assignments{ready=\"true\"} 1")
            || std::time::Instant::now() > deadline
        {
            break (code, text);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(code, 200);
    for needle in [
        "rolesync_reconciles_total{result=\"success\"}",
        "rolesync_provider_requests_total{provider=\"gcore\",operation=\"create\",status=\"200\"} 1",
        "rolesync_provider_request_duration_seconds_bucket{",
        "rolesync_assignments{ready=\"true\"} 1",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    assert!(!text.contains(support::GCORE_KEY));
}

#[tokio::test]
async fn ready_before_any_role_assignment_exists() {
    let env = Env::start().await;
    let op = env.operator(&[]);
    let addr = op.metrics_addr().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        let code = http
            .get(format!("http://{addr}/readyz"))
            .send()
            .await
            .map(|r| r.status().as_u16());
        if code.as_ref().is_ok_and(|c| *c == 200) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never ready with no RoleAssignments: {code:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
