//! The reconcile against a fake provider and fake Kubernetes writes: what it does remotely
//! and what it reports, case by case. Each case says why it exists.

use kube::ResourceExt;
use serde_json::{Value, json};

use super::events::Reason;
use super::fakes::{FakeProvider, Op, World, Write, role_assignment};
use crate::api::APPLYING_ANNOTATION;
use crate::providers::{Desired, ProviderError, ProviderKind};

/// Gcore: one assignment per user and scope, the role changed in place; a duplicate create
/// is accepted, so an absence is confirmed with fresh data first.
fn gcore_provider() -> FakeProvider {
    FakeProvider::new(ProviderKind::Gcore, true, false)
}

/// Harness: one assignment per role, no update (replaced instead); a duplicate create is
/// refused and the client adopts what exists.
fn harness_provider() -> FakeProvider {
    FakeProvider::new(ProviderKind::Harness, false, true)
}

fn config_ref() -> Value {
    json!({"kind": "ClusterProviderConfig", "name": "cfg"})
}

fn gcore(role: &str) -> Value {
    json!({"providerConfigRef": config_ref(), "gcore": {"userId": 7, "role": role, "clientId": 8}})
}

fn harness(role: &str) -> Value {
    json!({"providerConfigRef": config_ref(), "harness": {
        "org": "default", "project": "payments", "role": role,
        "resourceGroup": "_all_project_level_resources",
        "principal": {"type": "USER_GROUP", "identifier": "sre"}}})
}

fn with(mut spec: Value, field: &str, value: Value) -> Value {
    spec[field] = value;
    spec
}

fn desired(spec: &Value) -> Desired {
    role_assignment("seed", spec.clone())
        .spec
        .provider
        .target()
        .unwrap_or_else(|e| panic!("{e}"))
        .desired
}

fn roles(world: &World) -> Vec<String> {
    world
        .provider
        .remote()
        .iter()
        .map(|r| r.grant.grant().role())
        .collect()
}

fn event_reasons(world: &World) -> Vec<&'static str> {
    world.events().iter().map(|e| e.reason.as_str()).collect()
}

struct SyncCase {
    why: &'static str,
    provider: fn() -> FakeProvider,
    spec: Value,
    annotations: Value,
    /// Specs granted remotely before the RoleAssignment exists.
    remote: Vec<Value>,
    /// Whether status names the first of them (it was Ready before).
    recorded: bool,
    /// Whether the provider's cached list predates the remote grants (someone just made them).
    stale_cache: bool,
    /// A provider operation that keeps failing, and how.
    failing: Option<(Op, ProviderError)>,
    /// Every provider call until nothing changes, ending with the resync that finds so.
    calls: &'static [Op],
    roles_after: &'static [&'static str],
    /// Ready's status and reason; `None`: no Ready condition at all.
    ready: Option<(&'static str, &'static str)>,
    synced: (&'static str, &'static str),
    events: &'static [&'static str],
}

fn case(why: &'static str, provider: fn() -> FakeProvider, spec: Value) -> SyncCase {
    SyncCase {
        why,
        provider,
        spec,
        annotations: json!({}),
        remote: Vec::new(),
        recorded: false,
        stale_cache: false,
        failing: None,
        calls: &[],
        roles_after: &[],
        ready: Some(("True", "Available")),
        synced: ("True", "ReconcileSuccess"),
        events: &[],
    }
}

fn sync_cases() -> Vec<SyncCase> {
    let unavailable = ProviderError::Server {
        status: 503,
        message: "down".into(),
    };
    let refused = ProviderError::Unauthorized {
        status: 401,
        message: "bad key".into(),
    };
    vec![
        SyncCase {
            calls: &[Op::Observe, Op::ObserveFresh, Op::Create, Op::Observe],
            roles_after: &["Observer"],
            events: &["Created"],
            ..case(
                "absent and allowed: created once; a provider that accepts duplicates is asked afresh first",
                gcore_provider,
                gcore("Observer"),
            )
        },
        SyncCase {
            calls: &[Op::Observe, Op::Create, Op::Observe],
            roles_after: &["_project_viewer"],
            events: &["Created"],
            ..case(
                "a provider that refuses duplicates needs no fresh look before a create",
                harness_provider,
                harness("_project_viewer"),
            )
        },
        SyncCase {
            calls: &[Op::Observe, Op::ObserveFresh, Op::Observe, Op::ObserveFresh],
            ready: Some(("False", "Unavailable")),
            ..case(
                "observe-only and absent: reported missing (after a fresh look), nothing created",
                gcore_provider,
                with(gcore("Observer"), "managementPolicies", json!(["Observe"])),
            )
        },
        SyncCase {
            remote: vec![gcore("Observer")],
            calls: &[Op::Observe, Op::Observe],
            roles_after: &["Observer"],
            events: &["Adopted"],
            ..case(
                "the grant exists but status never named it (a crash lost the write): adopted, not duplicated",
                gcore_provider,
                gcore("Observer"),
            )
        },
        SyncCase {
            remote: vec![harness("_project_viewer")],
            recorded: true,
            stale_cache: true,
            calls: &[Op::Observe, Op::ObserveFresh, Op::Observe],
            roles_after: &["_project_viewer"],
            ..case(
                "the named assignment is missing from a cached list: looked up afresh and kept, never created again",
                harness_provider,
                harness("_project_viewer"),
            )
        },
        SyncCase {
            remote: vec![gcore("Observer")],
            recorded: true,
            calls: &[Op::Observe, Op::Observe],
            roles_after: &["Observer"],
            ..case(
                "recorded and matching: a resync writes nothing and tells nothing",
                gcore_provider,
                gcore("Observer"),
            )
        },
        SyncCase {
            remote: vec![gcore("User")],
            recorded: true,
            calls: &[Op::Observe, Op::Update, Op::Observe],
            roles_after: &["Observer"],
            events: &["Updated"],
            ..case(
                "the role differs and the provider updates in place: updated",
                gcore_provider,
                gcore("Observer"),
            )
        },
        SyncCase {
            remote: vec![harness("_project_admin")],
            recorded: true,
            calls: &[
                Op::Observe,
                Op::Observe,
                Op::Create,
                Op::Delete,
                Op::Observe,
            ],
            roles_after: &["_project_viewer"],
            events: &["Replaced"],
            ..case(
                "the role differs and the provider cannot update: the new grant is made before the old one goes",
                harness_provider,
                harness("_project_viewer"),
            )
        },
        SyncCase {
            remote: vec![gcore("User")],
            recorded: true,
            calls: &[Op::Observe, Op::Observe],
            roles_after: &["User"],
            ..case(
                "without the Update policy a differing grant is left as it is",
                gcore_provider,
                with(
                    gcore("Observer"),
                    "managementPolicies",
                    json!(["Observe", "Create", "Delete"]),
                ),
            )
        },
        SyncCase {
            remote: vec![harness("_project_admin")],
            recorded: true,
            calls: &[Op::Observe, Op::Observe],
            roles_after: &["_project_admin"],
            ..case(
                "replacing deletes the old grant, so without the Delete policy it is kept",
                harness_provider,
                with(
                    harness("_project_viewer"),
                    "managementPolicies",
                    json!(["Observe", "Create", "Update"]),
                ),
            )
        },
        SyncCase {
            annotations: json!({"rolesync.dev/paused": "true"}),
            ready: None,
            synced: ("False", "ReconcilePaused"),
            ..case(
                "paused: not one provider call",
                gcore_provider,
                gcore("Observer"),
            )
        },
        SyncCase {
            failing: Some((Op::Observe, refused)),
            calls: &[Op::Observe, Op::Observe],
            ready: Some(("False", "Creating")),
            synced: ("False", "Unauthorized"),
            events: &["Unauthorized"],
            ..case(
                "refused credentials cannot be fixed by retrying: reported once, as a Warning",
                gcore_provider,
                gcore("Observer"),
            )
        },
        SyncCase {
            failing: Some((Op::Observe, unavailable)),
            calls: &[Op::Observe, Op::Observe],
            ready: Some(("False", "Creating")),
            synced: ("False", "ProviderUnavailable"),
            ..case(
                "an unavailable provider is retried with backoff, without an Event",
                gcore_provider,
                gcore("Observer"),
            )
        },
    ]
}

#[tokio::test]
async fn sync_does_what_the_spec_policies_and_remote_state_call_for() {
    for c in sync_cases() {
        let mut ra = role_assignment("a", c.spec.clone());
        ra.metadata.annotations = serde_json::from_value(c.annotations.clone()).ok();
        let world = World::new(ra, (c.provider)());
        let ids: Vec<String> = c
            .remote
            .iter()
            .map(|spec| world.provider.grant(desired(spec)))
            .collect();
        if c.recorded {
            world.edit(|o| {
                o.status = Some(crate::api::RoleAssignmentStatus {
                    external_id: ids.first().cloned(),
                    ..Default::default()
                });
            });
        }
        if let Some((op, error)) = c.failing.clone() {
            world.provider.fail(op, error);
        }
        world.provider.set_stale_cache(c.stale_cache);
        world.settle().await;
        let why = c.why;
        assert_eq!(world.provider.calls(), c.calls, "{why}");
        assert_eq!(roles(&world), c.roles_after, "{why}");
        let pair = |(a, b): (&str, &str)| Some((a.to_owned(), b.to_owned()));
        assert_eq!(world.condition("Ready"), c.ready.and_then(pair), "{why}");
        assert_eq!(world.condition("Synced"), pair(c.synced), "{why}");
        assert_eq!(event_reasons(&world), c.events, "{why}");
    }
}

#[tokio::test]
async fn an_older_claimant_owns_the_grant_and_the_newer_one_touches_nothing() {
    let ra = role_assignment("newer", gcore("Observer"));
    let world = World::new(ra.clone(), gcore_provider());
    world.claim("team-a/older", &ra, 0);
    world.claim("team-a/newer", &ra, 10);
    world.settle().await;
    assert_eq!(world.provider.calls(), [], "nothing remote");
    assert_eq!(
        world.condition("Ready"),
        Some(("False".into(), "Conflict".into()))
    );
    assert_eq!(event_reasons(&world), ["Conflict"]);
    let note = &world.events()[0].note;
    assert!(note.contains("team-a/older"), "names the owner: {note}");
}

struct DeleteCase {
    why: &'static str,
    spec: Value,
    /// What happens between Ready and the deletion.
    meanwhile: fn(&World),
    roles_after: &'static [&'static str],
    finalizer_left: bool,
    ready: Option<(&'static str, &'static str)>,
    events: &'static [&'static str],
}

fn nothing(_: &World) {}

fn delete_cases() -> Vec<DeleteCase> {
    vec![
        DeleteCase {
            why: "deletionPolicy Delete: the remote grant goes first, then the finalizer",
            spec: gcore("Observer"),
            meanwhile: nothing,
            roles_after: &[],
            finalizer_left: false,
            ready: None,
            events: &["Deleted"],
        },
        DeleteCase {
            why: "Orphan: no finalizer is ever added and the remote grant stays",
            spec: with(gcore("Observer"), "deletionPolicy", json!("Orphan")),
            meanwhile: nothing,
            roles_after: &["Observer"],
            finalizer_left: false,
            ready: None,
            events: &[],
        },
        DeleteCase {
            why: "already deleted remotely: the finalizer goes without a Deleted event",
            spec: gcore("Observer"),
            meanwhile: |w| {
                let id = w.provider.remote()[0].id.clone();
                let want = desired(&gcore("Observer"));
                let _ = futures::executor::block_on(crate::providers::Connection::delete(
                    w.provider.as_ref(),
                    &crate::providers::ExternalId::new(id),
                    &want,
                ));
            },
            roles_after: &[],
            finalizer_left: false,
            ready: None,
            events: &[],
        },
        DeleteCase {
            why: "a failing delete keeps the finalizer (the cleanup is delayed, never skipped) and says Deleting",
            spec: gcore("Observer"),
            meanwhile: |w| {
                w.provider.fail(
                    Op::Delete,
                    ProviderError::Server {
                        status: 500,
                        message: "boom".into(),
                    },
                )
            },
            roles_after: &["Observer"],
            finalizer_left: true,
            ready: Some(("False", "Deleting")),
            events: &[],
        },
        DeleteCase {
            why: "another RoleAssignment owns the grant by now: this one lets go without deleting it",
            spec: gcore("Observer"),
            meanwhile: |w| {
                let ra = w.object();
                w.claim("team-a/older", &ra, -10);
            },
            roles_after: &["Observer"],
            finalizer_left: false,
            ready: None,
            events: &[],
        },
    ]
}

#[tokio::test]
async fn deletion_removes_what_the_resource_granted_and_only_that() {
    for c in delete_cases() {
        let world = World::new(role_assignment("a", c.spec.clone()), gcore_provider());
        world.claim("team-a/a", &world.object(), 0);
        world.settle().await;
        assert_eq!(roles(&world), ["Observer"], "{}: granted first", c.why);
        (c.meanwhile)(&world);
        world.forget();
        world.delete();
        world.settle().await;
        let why = c.why;
        assert_eq!(roles(&world), c.roles_after, "{why}");
        let has_finalizer = !world
            .object()
            .metadata
            .finalizers
            .unwrap_or_default()
            .is_empty();
        assert_eq!(has_finalizer, c.finalizer_left, "{why}");
        if let Some((status, reason)) = c.ready {
            assert_eq!(
                world.condition("Ready"),
                Some((status.into(), reason.into())),
                "{why}"
            );
        }
        assert_eq!(event_reasons(&world), c.events, "{why}");
    }
}

#[tokio::test]
async fn a_deletion_with_nothing_recorded_finds_the_grant_by_its_key() {
    // A crash hit between the remote create and the status write, then the resource was
    // deleted: the grant is found by its natural key in fresh data and removed.
    let mut ra = role_assignment("a", gcore("Observer"));
    ra.metadata.finalizers = Some(vec![crate::api::FINALIZER.to_owned()]);
    let world = World::new(ra, gcore_provider());
    world.provider.grant(desired(&gcore("Observer")));
    world.delete();
    world.settle().await;
    assert_eq!(roles(&world), Vec::<String>::new());
    assert!(world.provider.calls().contains(&Op::ObserveFresh));
}

#[tokio::test]
async fn the_spec_being_applied_is_recorded_before_anything_remote_changes() {
    let world = World::new(role_assignment("a", gcore("Observer")), gcore_provider());
    world.reconcile().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        world.writes(),
        [Write::Finalizer {
            present: true,
            record: true
        }],
        "the finalizer and the record go in one write, before any provider call"
    );
    assert_eq!(world.provider.calls(), []);
    assert!(
        world
            .object()
            .annotations()
            .contains_key(APPLYING_ANNOTATION)
    );

    let observe_only = World::new(
        role_assignment(
            "b",
            with(gcore("Observer"), "managementPolicies", json!(["Observe"])),
        ),
        gcore_provider(),
    );
    observe_only.settle().await;
    assert!(
        !observe_only
            .writes()
            .iter()
            .any(|w| matches!(w, Write::Applying | Write::Finalizer { .. })),
        "observe-only changes nothing remote, so records nothing: {:?}",
        observe_only.writes()
    );
}

struct EarlierCase {
    why: &'static str,
    /// Another RoleAssignment claims the earlier spec's grant.
    claimed_elsewhere: bool,
    /// The policies forbid deleting.
    no_delete: bool,
    roles_after: &'static [&'static str],
}

#[tokio::test]
async fn what_an_earlier_spec_made_is_found_through_the_record_and_removed() {
    let cases = [
        EarlierCase {
            why: "a crash lost the status write, then the role changed: the earlier grant is removed",
            claimed_elsewhere: false,
            no_delete: false,
            roles_after: &["_project_admin"],
        },
        EarlierCase {
            why: "the earlier grant is now claimed by another RoleAssignment: left alone",
            claimed_elsewhere: true,
            no_delete: false,
            roles_after: &["_project_viewer", "_project_admin"],
        },
        EarlierCase {
            why: "the policies forbid deleting: left alone",
            claimed_elsewhere: false,
            no_delete: true,
            roles_after: &["_project_viewer", "_project_admin"],
        },
    ];
    for c in cases {
        let earlier = harness("_project_viewer");
        let mut spec = harness("_project_admin");
        if c.no_delete {
            spec["managementPolicies"] = json!(["Observe", "Create", "Update"]);
        }
        let mut ra = role_assignment("a", spec);
        let record = serde_json::to_string(&role_assignment("a", earlier.clone()).spec)
            .unwrap_or_else(|e| panic!("{e}"));
        ra.annotations_mut()
            .insert(APPLYING_ANNOTATION.to_owned(), record);
        ra.metadata.finalizers = Some(vec![crate::api::FINALIZER.to_owned()]);
        let world = World::new(ra, harness_provider());
        world.provider.grant(desired(&earlier));
        if c.claimed_elsewhere {
            world.claim("team-a/other", &role_assignment("other", earlier), -10);
        }
        world.settle().await;
        assert_eq!(roles(&world), c.roles_after, "{}", c.why);
        assert_eq!(
            world.condition("Ready"),
            Some(("True".into(), "Available".into())),
            "{}",
            c.why
        );
    }
}

#[tokio::test]
async fn a_first_pass_failure_says_creating_and_a_later_one_keeps_ready() {
    let world = World::new(role_assignment("a", gcore("Observer")), gcore_provider());
    world.settle().await;
    world.provider.fail(
        Op::Observe,
        ProviderError::Server {
            status: 502,
            message: "bad gateway".into(),
        },
    );
    world.settle().await;
    assert_eq!(
        world.condition("Ready"),
        Some(("True".into(), "Available".into())),
        "a transient failure after Ready keeps what was last known"
    );
    assert_eq!(
        world.condition("Synced"),
        Some(("False".into(), "ProviderUnavailable".into()))
    );
    assert!(
        !world
            .events()
            .iter()
            .any(|e| matches!(e.reason, Reason::Failed(_)))
    );
}
