//! rolesync end to end with Gcore: the operator process against the in-memory Kubernetes
//! API and the Gcore simulator, driven through the Kubernetes API as users drive it.

use crate::support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use provider_sims::gcore::{GcoreSimConfig, RolesPerProject};
use rolesync::api::{ClusterProviderConfig, ProviderConfig, RoleAssignment};
use serde_json::json;
use support::{Env, GCORE_KEY, at_provider, condition, external_id, gcore_spec, is_ready};

fn no_annotations() -> serde_json::Value {
    json!({})
}

fn fast_poll() -> serde_json::Value {
    json!({"rolesync.dev/poll-interval": "1s"})
}

/// Waits until the `gcore` ClusterProviderConfig's Ready condition has this status and reason.
async fn wait_config_ready(env: &Env, status: &str, reason: &str) {
    let configs: Api<ClusterProviderConfig> = Api::all(env.client.clone());
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        let ready = configs.get("gcore").await.ok().and_then(|c| {
            let cond = c
                .status?
                .conditions
                .into_iter()
                .find(|c| c.type_ == "Ready")?;
            Some((format!("{:?}", cond.status), cond.reason))
        });
        if ready
            .as_ref()
            .is_some_and(|(s, r)| s == status && r == reason)
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "config Ready never {status}/{reason}: {ready:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn create_update_and_delete_follow_the_resource() {
    let env = Env::start().await;
    let _op = env.operator(&[]);
    env.create_ra(
        "default",
        "alice",
        gcore_spec(777, "Observer", Some(123)),
        no_annotations(),
    )
    .await;

    let ra = env.wait_ra("default", "alice", "Ready", is_ready).await;
    let remote = env.gcore.assignments();
    assert_eq!(remote.len(), 1);
    let id = remote[0]["id"].to_string();
    assert_eq!(
        external_id(&ra).as_deref(),
        Some(id.as_str()),
        "status.externalID is the simulator's id"
    );
    assert_eq!(remote[0]["role"], "Observer");
    assert_eq!(remote[0]["project_id"], 123);
    assert!(
        ra.finalizers()
            .contains(&"rolesync.dev/finalizer".to_string())
    );
    assert_eq!(
        condition(&ra, "Synced"),
        Some(("True".into(), "ReconcileSuccess".into()))
    );
    let status = ra.status.clone().unwrap_or_default();
    assert_eq!(
        at_provider(&ra).map(|a| &a["role"]),
        Some(&json!("Observer"))
    );
    assert_eq!(
        (status.provider.as_deref(), status.principal.as_deref()),
        (Some("gcore"), Some("user:777"))
    );
    assert!(
        env.wait_event("default", "alice", "Created")
            .await
            .note
            .unwrap_or_default()
            .contains(&id)
    );

    // A role change is a PATCH of the same assignment, not a new one.
    let posts = env.requests("POST");
    env.ras("default")
        .patch(
            "alice",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"gcore": {"role": "User"}}})),
        )
        .await
        .expect("role change accepted");
    let ra = env
        .wait_ra("default", "alice", "updated", |ra| {
            is_ready(ra) && ra.metadata.generation == Some(2)
        })
        .await;
    let remote = env
        .wait_remote("role User", |r| r.len() == 1 && r[0]["role"] == "User")
        .await;
    assert_eq!(remote[0]["id"].to_string(), id, "same id after update");
    assert_eq!(external_id(&ra).as_deref(), Some(id.as_str()));
    assert_eq!(
        at_provider(&ra).map(|a| &a["role"]),
        Some(&json!("User")),
        "the new report replaces the old one the operator kept only a digest of"
    );
    assert_eq!(env.requests("PATCH"), 1);
    assert_eq!(env.requests("POST"), posts, "no second create");

    // Deleting the resource deletes the remote assignment, then releases the finalizer.
    env.ras("default")
        .delete("alice", &DeleteParams::default())
        .await
        .expect("delete");
    env.wait_gone("default", "alice").await;
    assert!(
        env.gcore.assignments().is_empty(),
        "remote assignment deleted"
    );
}

#[tokio::test]
async fn drift_is_repaired_on_resync() {
    let env = Env::start().await;
    let _op = env.operator(&[]);
    env.create_ra(
        "default",
        "drift",
        gcore_spec(779, "Observer", Some(124)),
        fast_poll(),
    )
    .await;
    let ra = env.wait_ra("default", "drift", "Ready", is_ready).await;
    let first: u64 = external_id(&ra)
        .and_then(|s| s.parse().ok())
        .expect("numeric id");

    // Someone changes the role remotely: the next resync puts it back.
    assert!(env.gcore.set_role(first, "ProjectAdministrator"));
    env.wait_remote("Observer again", |r| {
        r.len() == 1 && r[0]["role"] == "Observer"
    })
    .await;

    // Someone deletes it remotely: the next resync recreates it and records the new id.
    assert!(env.gcore.remove_assignment(first));
    let remote = env.wait_remote("recreated", |r| r.len() == 1).await;
    let second = remote[0]["id"].to_string();
    assert_ne!(second, first.to_string());
    env.wait_ra("default", "drift", "pointing at the new id", |ra| {
        external_id(ra).as_deref() == Some(second.as_str()) && is_ready(ra)
    })
    .await;
}

#[tokio::test]
async fn orphan_and_observe_only_leave_the_remote_alone() {
    let env = Env::start().await;
    let _op = env.operator(&[]);

    let mut orphan = gcore_spec(780, "User", None);
    orphan["deletionPolicy"] = json!("Orphan");
    env.create_ra("default", "orphan", orphan, no_annotations())
        .await;
    let ra = env.wait_ra("default", "orphan", "Ready", is_ready).await;
    assert!(
        !ra.finalizers()
            .contains(&"rolesync.dev/finalizer".to_string()),
        "Orphan needs no finalizer"
    );
    env.ras("default")
        .delete("orphan", &DeleteParams::default())
        .await
        .expect("delete");
    env.wait_gone("default", "orphan").await;
    assert_eq!(env.gcore.assignments().len(), 1, "orphaned assignment kept");

    // Observe-only: an existing assignment it is told to adopt is reported, a missing one
    // is not created.
    let existing = env
        .gcore
        .insert_assignment(781, "Observer", Some(8), Some(125));
    let writes_before = env.requests("POST") + env.requests("PATCH") + env.requests("DELETE");
    let mut observe = gcore_spec(781, "User", Some(125));
    observe["managementPolicies"] = json!(["Observe"]);
    observe["externalID"] = json!(existing.to_string());
    env.create_ra("default", "watcher", observe.clone(), no_annotations())
        .await;
    let ra = env.wait_ra("default", "watcher", "Ready", is_ready).await;
    assert_eq!(external_id(&ra), Some(existing.to_string()));
    let seen = at_provider(&ra).expect("atProvider");
    assert_eq!(
        seen["role"], "Observer",
        "reports what it sees, does not fix it"
    );

    let mut missing = gcore_spec(782, "User", Some(126));
    missing["managementPolicies"] = json!(["Observe"]);
    env.create_ra("default", "nothing", missing, no_annotations())
        .await;
    let ra = env
        .wait_ra("default", "nothing", "Unavailable", |ra| {
            condition(ra, "Ready").is_some_and(|c| c.1 == "Unavailable")
        })
        .await;
    assert_eq!(condition(&ra, "Synced").map(|c| c.0), Some("True".into()));
    env.ras("default")
        .delete("watcher", &DeleteParams::default())
        .await
        .expect("delete");
    env.wait_gone("default", "watcher").await;
    assert_eq!(
        env.requests("POST") + env.requests("PATCH") + env.requests("DELETE"),
        writes_before,
        "Observe-only never writes remotely"
    );
    assert_eq!(env.gcore.assignments()[1]["role"], "Observer");
}

#[tokio::test]
async fn an_existing_assignment_is_adopted_not_duplicated() {
    let env = Env::start().await;
    let existing = env
        .gcore
        .insert_assignment(783, "Observer", Some(8), Some(127));
    let _op = env.operator(&[]);
    env.create_ra(
        "default",
        "adopt",
        gcore_spec(783, "Observer", Some(127)),
        no_annotations(),
    )
    .await;
    let ra = env.wait_ra("default", "adopt", "Ready", is_ready).await;
    assert_eq!(external_id(&ra), Some(existing.to_string()));
    assert_eq!(env.gcore.assignments().len(), 1);
    assert_eq!(env.requests("POST"), 0);
    assert!(
        env.wait_event("default", "adopt", "Adopted")
            .await
            .note
            .unwrap_or_default()
            .contains(&existing.to_string())
    );
}

#[tokio::test]
async fn a_crash_between_remote_create_and_status_write_does_not_duplicate() {
    let env = Env::start().await;
    // Slow provider calls leave time to cut Kubernetes writes off after the finalizer is
    // in place and before the remote create returns.
    env.gcore.faults().set_latency(Duration::from_secs(2));
    let op = env.operator(&[]);
    env.create_ra(
        "default",
        "crashy",
        gcore_spec(784, "User", Some(128)),
        no_annotations(),
    )
    .await;
    env.wait_ra("default", "crashy", "finalized", |ra| {
        !ra.finalizers().is_empty()
    })
    .await;
    env.api().faults().fail_writes(1000, 500);
    env.wait_remote("created", |r| r.len() == 1).await;
    drop(op.kill().await);
    let ra = env.ras("default").get("crashy").await.expect("get");
    assert_eq!(external_id(&ra), None, "the status write was lost");

    env.api().faults().fail_writes(0, 500);
    env.gcore.faults().set_latency(Duration::ZERO);
    let _op = env.operator(&[]);
    let ra = env.wait_ra("default", "crashy", "Ready", is_ready).await;
    let remote = env.gcore.assignments();
    assert_eq!(remote.len(), 1, "no duplicate after the crash: {remote:#?}");
    assert_eq!(external_id(&ra), Some(remote[0]["id"].to_string()));
}

#[tokio::test]
async fn the_older_of_two_claimants_owns_the_assignment() {
    let env = Env::start().await;
    let _op = env.operator(&[]);
    env.create_ra(
        "default",
        "first",
        gcore_spec(785, "Observer", Some(129)),
        no_annotations(),
    )
    .await;
    env.wait_ra("default", "first", "Ready", is_ready).await;
    env.create_ra(
        "default",
        "second",
        gcore_spec(785, "User", Some(129)),
        no_annotations(),
    )
    .await;
    let ra = env
        .wait_ra("default", "second", "Conflict", |ra| {
            condition(ra, "Ready").is_some_and(|c| c.1 == "Conflict")
        })
        .await;
    assert_eq!(condition(&ra, "Synced").map(|c| c.0), Some("False".into()));
    let remote = env.gcore.assignments();
    assert_eq!(remote.len(), 1);
    assert_eq!(
        remote[0]["role"], "Observer",
        "the newer one changed nothing remotely"
    );
    env.wait_event("default", "second", "Conflict").await;

    // Deleting the conflicting one leaves the owner's assignment alone.
    env.ras("default")
        .delete("second", &DeleteParams::default())
        .await
        .expect("delete");
    env.wait_gone("default", "second").await;
    assert_eq!(env.gcore.assignments().len(), 1);

    // When the owner goes, a waiting claimant takes over.
    env.create_ra(
        "default",
        "third",
        gcore_spec(785, "User", Some(129)),
        no_annotations(),
    )
    .await;
    env.wait_ra("default", "third", "Conflict", |ra| {
        condition(ra, "Ready").is_some_and(|c| c.1 == "Conflict")
    })
    .await;
    env.ras("default")
        .delete("first", &DeleteParams::default())
        .await
        .expect("delete");
    env.wait_ra("default", "third", "Ready", is_ready).await;
    env.wait_remote("owned by third", |r| r.len() == 1 && r[0]["role"] == "User")
        .await;
}

#[tokio::test]
async fn a_wrong_key_is_reported_without_a_request_storm_and_rotation_fixes_it() {
    let env = Env::start().await;
    env.gcore.set_api_key("a-key-rolesync-does-not-have");
    let op = env.operator(&[]);
    env.create_ra(
        "default",
        "locked",
        gcore_spec(786, "Observer", Some(130)),
        no_annotations(),
    )
    .await;
    let ra = env
        .wait_ra("default", "locked", "Unauthorized", |ra| {
            condition(ra, "Synced").is_some_and(|c| c.1 == "Unauthorized")
        })
        .await;
    let message = ra
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Synced"))
        .map(|c| c.message.clone());
    assert!(
        message
            .as_deref()
            .is_some_and(|m| m.contains("credentials rejected")),
        "{message:?}"
    );
    assert_eq!(condition(&ra, "Ready").map(|c| c.0), Some("False".into()));
    env.wait_event("default", "locked", "Unauthorized").await;
    wait_config_ready(&env, "False", "CredentialsRejected").await;

    // Rotate: the provider gets a new key and so does the Secret; no restart needed.
    env.gcore.set_api_key("rotated-key-7e1c");
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), "rolesync-system");
    secrets
        .patch(
            "gcore",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"apiKey": "rotated-key-7e1c"}})),
        )
        .await
        .expect("secret rotated");
    env.wait_ra("default", "locked", "Ready", is_ready).await;
    wait_config_ready(&env, "True", "CredentialsAccepted").await;
    // A 401 is terminal: a slow requeue, not a hot loop while the key was wrong.
    let total = env.gcore.requests().len();
    assert!(
        total <= 8,
        "{total} requests for one assignment across a key rotation"
    );
    drop(op);
}

#[tokio::test]
async fn a_failure_after_ready_leaves_the_provider_report_in_status() {
    let env = Env::start().await;
    let _op = env.operator(&[]);
    env.create_ra(
        "default",
        "kept",
        gcore_spec(777, "Observer", Some(123)),
        no_annotations(),
    )
    .await;
    let ra = env.wait_ra("default", "kept", "Ready", is_ready).await;
    let report = at_provider(&ra).cloned().expect("atProvider");

    // The key stops working and a short poll interval makes the next reconcile list again.
    // Its status write starts from the operator's cache, which holds only a digest of the
    // report: the report must stay as it was, neither dropped nor replaced by the digest.
    env.gcore.set_api_key("a-key-rolesync-does-not-have");
    env.ras("default")
        .patch(
            "kept",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"rolesync.dev/poll-interval": "1s"}}}),
            ),
        )
        .await
        .expect("annotated");
    let ra = env
        .wait_ra("default", "kept", "Unauthorized", |ra| {
            condition(ra, "Synced").is_some_and(|c| c.1 == "Unauthorized")
        })
        .await;
    assert_eq!(at_provider(&ra), Some(&report));
    assert_eq!(condition(&ra, "Ready").map(|c| c.0), Some("True".into()));
}

#[tokio::test]
async fn provider_faults_end_in_success_without_a_storm() {
    let env = Env::start().await;
    env.gcore.faults().fail_next(4, 503);
    let _op = env.operator(&[]);
    env.create_ra(
        "default",
        "flaky",
        gcore_spec(787, "Observer", Some(123)),
        no_annotations(),
    )
    .await;
    env.wait_ra("default", "flaky", "Ready", is_ready).await;
    assert_eq!(env.gcore.assignments().len(), 1);

    env.gcore.faults().fail_next(3, 429);
    env.create_ra(
        "default",
        "limited",
        gcore_spec(788, "Observer", Some(123)),
        no_annotations(),
    )
    .await;
    env.wait_ra("default", "limited", "Ready", is_ready).await;
    assert_eq!(env.gcore.assignments().len(), 2);
    let total = env.gcore.requests().len();
    assert!(
        total < 30,
        "{total} requests for two assignments through 7 faults"
    );
}

#[tokio::test]
async fn invalid_specs_are_rejected_naming_the_field() {
    let env = Env::start().await;
    let bad = |spec: serde_json::Value| {
        serde_json::from_value::<RoleAssignment>(json!({
            "apiVersion": "rolesync.dev/v1alpha1", "kind": "RoleAssignment",
            "metadata": {"name": "bad", "namespace": "default"}, "spec": spec,
        }))
        .expect("deserializes")
    };
    let api = env.ras("default");
    let mut project_only = gcore_spec(777, "Observer", Some(123));
    project_only["gcore"]
        .as_object_mut()
        .map(|g| g.remove("clientId"));
    for (spec, field) in [
        (project_only, "spec.gcore.clientId"),
        (json!({"providerConfigRef": {"name": "x"}}), "spec"),
    ] {
        match api.create(&PostParams::default(), &bad(spec)).await {
            Err(kube::Error::Api(s)) => {
                assert_eq!(s.code, 422, "{s:?}");
                assert!(
                    s.message.contains(field),
                    "{} does not name {field}",
                    s.message
                );
            }
            other => panic!("accepted an invalid spec: {other:?}"),
        }
    }
    // Principal and scope are immutable.
    env.create_ra(
        "default",
        "fixed",
        gcore_spec(777, "Observer", Some(123)),
        no_annotations(),
    )
    .await;
    let err = api
        .patch(
            "fixed",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"gcore": {"userId": 778}}})),
        )
        .await
        .expect_err("userId is immutable");
    assert!(err.to_string().contains("immutable"), "{err}");
}

#[tokio::test]
async fn a_namespaced_config_serves_only_its_own_namespace() {
    let env = Env::start().await;
    testbed::ensure_namespace(&env.client, "team-a")
        .await
        .expect("ns");
    testbed::ensure_namespace(&env.client, "team-b")
        .await
        .expect("ns");
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), "team-a");
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "gcore-key"}, "stringData": {"apiKey": GCORE_KEY}
    }))
    .expect("secret");
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret created");
    let pc: ProviderConfig = serde_json::from_value(json!({
        "apiVersion": "rolesync.dev/v1alpha1", "kind": "ProviderConfig",
        "metadata": {"name": "gcore", "namespace": "team-a"},
        "spec": {"gcore": {"endpoint": env.gcore.endpoint()}, "credentials": {"secretRef": {"name": "gcore-key", "key": "apiKey"}}}
    }))
    .expect("config");
    Api::<ProviderConfig>::namespaced(env.client.clone(), "team-a")
        .create(&PostParams::default(), &pc)
        .await
        .expect("config created");
    let _op = env.operator(&[]);

    let spec = |user| json!({"providerConfigRef": {"name": "gcore"}, "gcore": {"userId": user, "role": "User", "clientId": 8}});
    env.create_ra("team-a", "mine", spec(789), no_annotations())
        .await;
    env.wait_ra("team-a", "mine", "Ready", is_ready).await;

    env.create_ra("team-b", "theirs", spec(790), no_annotations())
        .await;
    let ra = env
        .wait_ra("team-b", "theirs", "refused", |ra| {
            condition(ra, "Synced").is_some_and(|c| c.1 == "ProviderConfigNotFound")
        })
        .await;
    assert_eq!(condition(&ra, "Ready").map(|c| c.0), Some("False".into()));
    assert_eq!(
        env.gcore.assignments().len(),
        1,
        "nothing created through another namespace's config"
    );
}

#[tokio::test]
async fn the_api_key_never_reaches_logs_events_or_status() {
    let env = Env::start().await;
    env.gcore.faults().fail_next(2, 500);
    let op = env.operator(&[]);
    env.create_ra(
        "default",
        "a",
        gcore_spec(791, "Observer", Some(123)),
        no_annotations(),
    )
    .await;
    env.wait_ra("default", "a", "Ready", is_ready).await;
    env.gcore.set_api_key("something-else");
    env.create_ra(
        "default",
        "b",
        gcore_spec(792, "Observer", Some(123)),
        no_annotations(),
    )
    .await;
    env.wait_ra("default", "b", "Unauthorized", |ra| {
        condition(ra, "Synced").is_some_and(|c| c.1 == "Unauthorized")
    })
    .await;
    env.ras("default")
        .delete("a", &DeleteParams::default())
        .await
        .expect("delete");

    let (_, logs) = op.stop().await;
    assert!(
        logs.contains("created remote assignment"),
        "the log is captured"
    );
    assert!(!logs.contains(GCORE_KEY), "API key in the operator log");
    let events: Api<Event> = Api::all(env.client.clone());
    let events = serde_json::to_string(
        &events
            .list(&ListParams::default())
            .await
            .expect("events")
            .items,
    )
    .expect("json");
    assert!(!events.contains(GCORE_KEY), "API key in an Event");
    let ras = serde_json::to_string(
        &env.ras("default")
            .list(&ListParams::default())
            .await
            .expect("list")
            .items,
    )
    .expect("json");
    assert!(!ras.contains(GCORE_KEY), "API key in a status");
}

#[tokio::test]
async fn sigterm_stops_the_operator_cleanly() {
    let env = Env::start().await;
    let op = env.operator(&[]);
    env.create_ra(
        "default",
        "x",
        gcore_spec(793, "Observer", Some(123)),
        no_annotations(),
    )
    .await;
    env.wait_ra("default", "x", "Ready", is_ready).await;
    let (code, logs) = op.stop().await;
    assert_eq!(code, Some(0), "exit code after SIGTERM; logs:\n{logs}");
}

/// Whether one Gcore user may hold several roles in a project is undocumented; under
/// either reading an assignment someone else made for another role is never rewritten.
async fn another_roles_assignment_is_left_to_whoever_made_it(reading: RolesPerProject) {
    let env = Env::start_with(GcoreSimConfig {
        roles_per_project: reading,
        ..GcoreSimConfig::default()
    })
    .await;
    let theirs = env
        .gcore
        .insert_assignment(795, "ProjectAdministrator", Some(8), Some(128));
    let _op = env.operator(&[]);
    env.create_ra(
        "default",
        "mine",
        gcore_spec(795, "Observer", Some(128)),
        no_annotations(),
    )
    .await;
    let role_of = |env: &Env, id: u64| {
        env.gcore
            .assignments()
            .iter()
            .find(|a| a["id"] == id)
            .map(|a| a["role"].clone())
    };
    match reading {
        RolesPerProject::Several => {
            let ra = env.wait_ra("default", "mine", "Ready", is_ready).await;
            assert_ne!(external_id(&ra), Some(theirs.to_string()));
            assert_eq!(env.gcore.assignments().len(), 2);
        }
        RolesPerProject::One => {
            // Gcore refuses a second role: the error says how to adopt theirs.
            let ra = env
                .wait_ra("default", "mine", "refused", |ra| {
                    condition(ra, "Synced").is_some_and(|c| c.1 == "Rejected")
                })
                .await;
            let message = ra
                .status
                .as_ref()
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Synced"))
                .map(|c| c.message.clone())
                .unwrap_or_default();
            assert!(message.contains("spec.externalID"), "{message}");
            assert_eq!(env.requests("PATCH"), 0);
            env.ras("default")
                .patch(
                    "mine",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"externalID": theirs.to_string()}})),
                )
                .await
                .expect("adopted by id");
            let ra = env
                .wait_ra("default", "mine", "Ready", |ra| {
                    is_ready(ra) && ra.metadata.generation == Some(2)
                })
                .await;
            assert_eq!(external_id(&ra), Some(theirs.to_string()));
            assert_eq!(env.gcore.assignments().len(), 1);
        }
    }
    let left = match reading {
        RolesPerProject::Several => json!("ProjectAdministrator"),
        RolesPerProject::One => json!("Observer"),
    };
    assert_eq!(role_of(&env, theirs), Some(left));

    // Deleting removes only what the resource manages.
    env.ras("default")
        .delete("mine", &DeleteParams::default())
        .await
        .expect("delete");
    env.wait_gone("default", "mine").await;
    let remaining: Vec<u64> = env
        .gcore
        .assignments()
        .iter()
        .filter_map(|a| a["id"].as_u64())
        .collect();
    match reading {
        RolesPerProject::Several => assert_eq!(remaining, [theirs]),
        RolesPerProject::One => assert!(remaining.is_empty()),
    }
}

mod one_role_per_project {
    #[tokio::test]
    async fn another_roles_assignment_is_left_to_whoever_made_it() {
        super::another_roles_assignment_is_left_to_whoever_made_it(super::RolesPerProject::One)
            .await;
    }
}

mod several_roles_per_project {
    #[tokio::test]
    async fn another_roles_assignment_is_left_to_whoever_made_it() {
        super::another_roles_assignment_is_left_to_whoever_made_it(super::RolesPerProject::Several)
            .await;
    }
}
