//! The reconcile against a fake provider and fake Kubernetes writes: what it does remotely
//! and what it reports, case by case. Each case says why it exists.

use kube::ResourceExt;
use serde_json::{Value, json};

use super::events::Reason;
use super::fakes::{FakeProvider, Op, World, Write, role_assignment};
use super::revocations::RevocationLimit;
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
async fn status_shows_the_role_by_the_name_the_provider_reports() {
    let provider = gcore_provider();
    provider.set_names_roles(true);
    let world = World::new(role_assignment("a", gcore("Observer")), provider);
    world.settle().await;
    let role = |world: &World| world.object().status.and_then(|s| s.role);
    assert_eq!(role(&world).as_deref(), Some("Observer (named)"));

    world.provider.fail(
        Op::Observe,
        ProviderError::Server {
            status: 502,
            message: "bad gateway".into(),
        },
    );
    world.settle().await;
    assert_eq!(
        role(&world).as_deref(),
        Some("Observer (named)"),
        "a failed pass keeps the name of a role the spec still asks for"
    );

    world.edit(|o| o.spec = serde_json::from_value(gcore("User")).unwrap());
    world.settle().await;
    assert_eq!(
        role(&world).as_deref(),
        Some("User"),
        "a changed role is shown as the spec names it until the provider names it"
    );
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

/// An RFC 3339 time `seconds` from now.
fn in_seconds(seconds: i64) -> Value {
    json!((jiff::Timestamp::now() + jiff::SignedDuration::from_secs(seconds)).to_string())
}

fn window(spec: Value, not_before: Option<i64>, expires_at: Option<i64>) -> Value {
    let mut spec = spec;
    if let Some(s) = not_before {
        spec["notBefore"] = in_seconds(s);
    }
    if let Some(s) = expires_at {
        spec["expiresAt"] = in_seconds(s);
    }
    spec
}

struct WindowCase {
    why: &'static str,
    spec: Value,
    /// Granted and recorded in status before the window applies (the spec was without it).
    granted_before: bool,
    /// Someone else granted the same assignment; status never named it.
    foreign_grant: bool,
    /// The config's revocation limit (one an hour), already used up.
    limit_used_up: bool,
    calls: &'static [Op],
    roles_after: &'static [&'static str],
    ready: (&'static str, &'static str),
    events: &'static [&'static str],
}

fn window_case(why: &'static str, spec: Value) -> WindowCase {
    WindowCase {
        why,
        spec,
        granted_before: false,
        foreign_grant: false,
        limit_used_up: false,
        calls: &[],
        roles_after: &[],
        ready: ("False", "Scheduled"),
        events: &[],
    }
}

/// Gives the config a limit of one revocation an hour, and uses it up.
fn used_up(world: &World) {
    world.guard(|g| {
        g.revocations = Some(RevocationLimit {
            max_per_hour: 1,
            confirmed_until: None,
        })
    });
    let taken = world.configs.revocations.lock().unwrap().reserve(
        jiff::Timestamp::now(),
        RevocationLimit {
            max_per_hour: 1,
            confirmed_until: None,
        },
    );
    assert_eq!(taken, super::revocations::Reservation::Granted);
}

fn window_cases() -> Vec<WindowCase> {
    vec![
        window_case(
            "before notBefore nothing is granted and nothing is even looked up",
            window(gcore("Observer"), Some(3600), Some(7200)),
        ),
        WindowCase {
            foreign_grant: true,
            roles_after: &["Observer"],
            ..window_case(
                "before notBefore a grant rolesync never recorded is not its to revoke",
                window(gcore("Observer"), Some(3600), None),
            )
        },
        WindowCase {
            granted_before: true,
            calls: &[Op::Delete, Op::ObserveFresh],
            events: &["Scheduled"],
            ..window_case(
                "notBefore moved later after the grant: what status recorded is revoked",
                window(gcore("Observer"), Some(3600), None),
            )
        },
        WindowCase {
            granted_before: true,
            roles_after: &["Observer"],
            ..window_case(
                "notBefore moved later without the Delete policy: the grant stays",
                window(
                    with(
                        gcore("Observer"),
                        "managementPolicies",
                        json!(["Observe", "Create"]),
                    ),
                    Some(3600),
                    None,
                ),
            )
        },
        WindowCase {
            granted_before: true,
            limit_used_up: true,
            calls: &[],
            roles_after: &["Observer"],
            ready: ("True", "Available"),
            events: &["RevocationThrottled"],
            ..window_case(
                "a revocation because notBefore moved later counts against the revocation limit",
                window(gcore("Observer"), Some(3600), None),
            )
        },
        WindowCase {
            calls: &[Op::Observe, Op::ObserveFresh, Op::Create, Op::Observe],
            roles_after: &["Observer"],
            ready: ("True", "Available"),
            events: &["Created"],
            ..window_case(
                "inside the window the grant is made as without one",
                window(gcore("Observer"), Some(-60), Some(3600)),
            )
        },
        WindowCase {
            granted_before: true,
            calls: &[Op::Delete, Op::ObserveFresh],
            ready: ("False", "Expired"),
            events: &["Expired"],
            ..window_case(
                "at expiresAt the grant is revoked once; afterwards nothing remote happens",
                window(gcore("Observer"), None, Some(-1)),
            )
        },
        WindowCase {
            foreign_grant: true,
            calls: &[Op::ObserveFresh, Op::Delete, Op::ObserveFresh],
            ready: ("False", "Expired"),
            events: &["Expired"],
            ..window_case(
                "expired with nothing recorded (a crash lost the write): found by its key and revoked",
                window(gcore("Observer"), None, Some(-1)),
            )
        },
        WindowCase {
            granted_before: true,
            calls: &[Op::Delete, Op::ObserveFresh],
            ready: ("False", "Expired"),
            events: &["Expired"],
            ..window_case(
                "Orphan governs deleting the resource only: an expiry still revokes",
                window(
                    with(gcore("Observer"), "deletionPolicy", json!("Orphan")),
                    None,
                    Some(-1),
                ),
            )
        },
        WindowCase {
            foreign_grant: true,
            granted_before: true,
            roles_after: &["Observer"],
            ready: ("False", "Expired"),
            events: &["Expired"],
            ..window_case(
                "expired but observe-only: reported Expired, the grant it observed stays",
                window(
                    with(gcore("Observer"), "managementPolicies", json!(["Observe"])),
                    None,
                    Some(-1),
                ),
            )
        },
        WindowCase {
            granted_before: true,
            limit_used_up: true,
            calls: &[Op::Delete, Op::ObserveFresh],
            ready: ("False", "Expired"),
            events: &["Expired"],
            ..window_case(
                "an expiry was asked for: the revocation limit never holds it back",
                window(gcore("Observer"), None, Some(-1)),
            )
        },
    ]
}

#[tokio::test]
async fn the_time_window_decides_whether_the_grant_exists() {
    for c in window_cases() {
        let why = c.why;
        let mut plain = c.spec.clone();
        if let Some(o) = plain.as_object_mut() {
            o.remove("notBefore");
            o.remove("expiresAt");
        }
        let world = World::new(role_assignment("a", plain.clone()), gcore_provider());
        world.claim("team-a/a", &world.object(), 0);
        if c.foreign_grant {
            world.provider.grant(desired(&plain));
        }
        if c.granted_before {
            world.settle().await;
            assert_eq!(roles(&world), ["Observer"], "{why}: granted first");
        }
        if c.limit_used_up {
            used_up(&world);
        }
        world.forget();
        world.edit(|o| o.spec = role_assignment("a", c.spec.clone()).spec);
        world.settle().await;
        assert_eq!(world.provider.calls(), c.calls, "{why}");
        assert_eq!(roles(&world), c.roles_after, "{why}");
        let pair = |(a, b): (&str, &str)| Some((a.to_owned(), b.to_owned()));
        assert_eq!(world.condition("Ready"), pair(c.ready), "{why}");
        assert_eq!(event_reasons(&world), c.events, "{why}");

        // Another pass (a resync, a restart) changes nothing and repeats nothing.
        world.forget();
        world.settle().await;
        assert_eq!(world.writes(), [], "{why}: settled");
        let revoked = c.calls.contains(&Op::Delete);
        assert!(
            !revoked || !world.provider.calls().contains(&Op::Delete),
            "{why}: revoked once"
        );
    }
}

#[tokio::test]
async fn extending_expires_at_grants_again() {
    let world = World::new(
        role_assignment("a", window(gcore("Observer"), None, Some(-1))),
        gcore_provider(),
    );
    world.provider.grant(desired(&gcore("Observer")));
    world.settle().await;
    assert_eq!(roles(&world), Vec::<String>::new());
    assert_eq!(
        world.condition("Ready"),
        Some(("False".into(), "Expired".into()))
    );
    world.edit(|o| o.spec.expires_at = in_seconds(3600).as_str().map(str::to_owned));
    world.settle().await;
    assert_eq!(roles(&world), ["Observer"]);
    assert_eq!(
        world.condition("Ready"),
        Some(("True".into(), "Available".into()))
    );
    assert!(event_reasons(&world).ends_with(&["Created"]));
}

#[tokio::test]
async fn deleting_a_resource_outside_its_window_removes_nothing_more() {
    for (why, spec) in [
        (
            "expired: the resource is the record; a grant someone made since is not its",
            window(gcore("Observer"), None, Some(-1)),
        ),
        (
            "scheduled: nothing was granted, and a grant someone else made is not its",
            window(gcore("Observer"), Some(3600), None),
        ),
    ] {
        let world = World::new(role_assignment("a", spec), gcore_provider());
        world.settle().await;
        world.provider.grant(desired(&gcore("Observer")));
        world.forget();
        world.delete();
        world.settle().await;
        assert_eq!(world.provider.calls(), [], "{why}");
        assert_eq!(roles(&world), ["Observer"], "{why}");
        assert!(
            world
                .object()
                .metadata
                .finalizers
                .unwrap_or_default()
                .is_empty(),
            "{why}: released"
        );
    }
}

#[tokio::test]
async fn outside_the_config_s_guardrails_nothing_is_sent_to_the_provider() {
    let world = World::new(role_assignment("a", gcore("Observer")), gcore_provider());
    world.guard(|g| g.roles = Some(vec!["User".into()]));
    world.settle().await;
    assert_eq!(world.provider.calls(), [], "not one provider call");
    assert_eq!(
        world.condition("Synced"),
        Some(("False".into(), "NotPermitted".into()))
    );
    assert_eq!(event_reasons(&world), ["NotPermitted"], "one Warning");
    let warning = &world.events()[0];
    assert_eq!(warning.reason.type_(), super::events::EventType::Warning);
    assert!(
        warning.note.contains("spec.allowedRoles: User"),
        "{}",
        warning.note
    );

    world.forget();
    world.guard(|g| g.roles = Some(vec!["Obs*".into()]));
    world.settle().await;
    assert_eq!(
        roles(&world),
        ["Observer"],
        "allowed once the config is widened"
    );

    world.forget();
    world.guard(|g| g.namespace_refused = Some("namespace team-a is not served".into()));
    world.settle().await;
    assert_eq!(
        world.provider.calls(),
        [],
        "a narrowed config revokes nothing"
    );
    assert_eq!(roles(&world), ["Observer"]);
    assert_eq!(
        world.condition("Ready"),
        Some(("True".into(), "Available".into())),
        "what exists is reported, not revoked"
    );
    assert_eq!(
        world.condition("Synced"),
        Some(("False".into(), "NotPermitted".into()))
    );

    // Nor is it revoked when the resource goes: it is left, and the Event says so.
    world.forget();
    world.delete();
    world.settle().await;
    assert_eq!(world.provider.calls(), []);
    assert_eq!(roles(&world), ["Observer"]);
    assert!(
        world
            .object()
            .metadata
            .finalizers
            .unwrap_or_default()
            .is_empty()
    );
    assert_eq!(event_reasons(&world), ["LeftInPlace"]);
}

#[tokio::test]
async fn an_expiry_outside_the_guardrails_is_not_sent_either() {
    let world = World::new(
        role_assignment("a", window(gcore("Observer"), None, Some(-1))),
        gcore_provider(),
    );
    world.provider.grant(desired(&gcore("Observer")));
    world.guard(|g| g.scopes = Some(vec!["client=9".into()]));
    world.settle().await;
    assert_eq!(world.provider.calls(), []);
    assert_eq!(roles(&world), ["Observer"]);
}

#[tokio::test]
async fn a_deletion_beyond_the_revocation_limit_waits_and_keeps_the_access() {
    let world = World::new(role_assignment("a", gcore("Observer")), gcore_provider());
    world.claim("team-a/a", &world.object(), 0);
    world.settle().await;
    used_up(&world);
    world.forget();
    world.delete();
    world.settle().await;
    assert_eq!(roles(&world), ["Observer"], "held: the grant stays");
    assert!(!world.provider.calls().contains(&Op::Delete));
    assert!(
        !world
            .object()
            .metadata
            .finalizers
            .unwrap_or_default()
            .is_empty(),
        "the finalizer waits with it"
    );
    assert_eq!(
        world.condition("Ready"),
        Some(("True".into(), "Available".into())),
        "Ready stays: the access is still there"
    );
    assert_eq!(
        world.condition("Synced"),
        Some(("False".into(), "RevocationThrottled".into()))
    );
    assert_eq!(event_reasons(&world), ["RevocationThrottled"]);
    let metrics = world.ctx.metrics.encode();
    assert!(
        metrics.contains("rolesync_revocations_held_total{config=\"ClusterProviderConfig/cfg\"} 1"),
        "{metrics}"
    );

    // Held again on the next try: no second Event, no second count.
    world.forget();
    world.settle().await;
    assert_eq!(event_reasons(&world), Vec::<&str>::new());
    assert!(
        world
            .ctx
            .metrics
            .encode()
            .contains("rolesync_revocations_held_total{config=\"ClusterProviderConfig/cfg\"} 1")
    );

    // An admin confirms: it goes through.
    world.guard(|g| {
        g.revocations = Some(RevocationLimit {
            max_per_hour: 1,
            confirmed_until: Some(jiff::Timestamp::now() + jiff::SignedDuration::from_mins(5)),
        })
    });
    world.settle().await;
    assert_eq!(roles(&world), Vec::<String>::new());
    assert!(
        world
            .object()
            .metadata
            .finalizers
            .unwrap_or_default()
            .is_empty()
    );
    assert_eq!(event_reasons(&world), ["Deleted"]);
}

#[tokio::test]
async fn a_replacement_is_not_a_revocation() {
    // The principal keeps a grant throughout, and providers that update in place would
    // not be counted either: a role change never waits for the revocation limit.
    let world = World::new(
        role_assignment("a", harness("_project_viewer")),
        harness_provider(),
    );
    world.settle().await;
    used_up(&world);
    world.edit(|o| o.spec = role_assignment("a", harness("_project_admin")).spec);
    world.settle().await;
    assert_eq!(roles(&world), ["_project_admin"]);
    assert_eq!(
        world.condition("Ready"),
        Some(("True".into(), "Available".into()))
    );
}

/// What someone other than rolesync does to the remote assignment once it is in place.
#[derive(Clone, Copy)]
enum Meddling {
    /// The grant now gives this role (same id).
    Regrant(&'static str),
    Remove,
    /// The spec asks for this role instead: a user's change, not drift.
    EditSpec(&'static str),
}

struct DriftCase {
    why: &'static str,
    provider: fn() -> FakeProvider,
    spec: fn(&str) -> Value,
    /// The role the spec asks for.
    wanted: &'static str,
    /// `spec.managementPolicies`; `None`: all.
    policies: Option<Value>,
    meddling: Meddling,
    failing: Option<(Op, ProviderError)>,
    /// Events of every pass after the meddling, up to one that writes nothing.
    events: &'static [&'static str],
    /// The DriftDetected Event's note.
    note: Option<&'static str>,
    /// Drifted's status and message at the end; `None`: no such condition.
    drifted: Option<(&'static str, &'static str)>,
    roles_after: &'static [&'static str],
}

fn drift_cases() -> Vec<DriftCase> {
    let observe_only = Some(json!(["Observe"]));
    let unavailable = ProviderError::Server {
        status: 503,
        message: "down".into(),
    };
    vec![
        DriftCase {
            why: "a role changed behind rolesync's back is reported, then updated back",
            provider: gcore_provider,
            spec: gcore,
            wanted: "Observer",
            policies: None,
            meddling: Meddling::Regrant("ClientAdministrator"),
            failing: None,
            events: &["DriftDetected", "Updated"],
            note: Some("role Observer -> ClientAdministrator; repaired"),
            drifted: Some(("False", "")),
            roles_after: &["Observer"],
        },
        DriftCase {
            why: "a provider that cannot update in place: reported, then replaced",
            provider: harness_provider,
            spec: harness,
            wanted: "_project_viewer",
            policies: None,
            meddling: Meddling::Regrant("_project_admin"),
            failing: None,
            events: &["DriftDetected", "Replaced"],
            note: Some("role _project_viewer -> _project_admin; repaired"),
            drifted: Some(("False", "")),
            roles_after: &["_project_viewer"],
        },
        DriftCase {
            why: "a deleted assignment is reported, then created again",
            provider: gcore_provider,
            spec: gcore,
            wanted: "Observer",
            policies: None,
            meddling: Meddling::Remove,
            failing: None,
            events: &["DriftDetected", "Created"],
            note: Some("assignment deleted; repaired"),
            drifted: Some(("False", "")),
            roles_after: &["Observer"],
        },
        DriftCase {
            why: "observe-only: the change stays reported in Drifted, published once, never written back",
            provider: gcore_provider,
            spec: gcore,
            wanted: "Observer",
            policies: observe_only.clone(),
            meddling: Meddling::Regrant("ClientAdministrator"),
            failing: None,
            events: &["DriftDetected"],
            note: Some(
                "role Observer -> ClientAdministrator; not repaired: managementPolicies do not allow it",
            ),
            drifted: Some(("True", "role Observer -> ClientAdministrator")),
            roles_after: &["ClientAdministrator"],
        },
        DriftCase {
            why: "observe-only and deleted: Drifted stays True while Ready turns False",
            provider: harness_provider,
            spec: harness,
            wanted: "_project_viewer",
            policies: observe_only,
            meddling: Meddling::Remove,
            failing: None,
            events: &["DriftDetected"],
            note: Some("assignment deleted; not repaired: managementPolicies do not allow it"),
            drifted: Some(("True", "assignment deleted")),
            roles_after: &[],
        },
        DriftCase {
            why: "a repair that keeps failing is retried without publishing the drift again",
            provider: gcore_provider,
            spec: gcore,
            wanted: "Observer",
            policies: None,
            meddling: Meddling::Regrant("ClientAdministrator"),
            failing: Some((Op::Update, unavailable)),
            events: &["DriftDetected"],
            note: Some(
                "role Observer -> ClientAdministrator; not repaired yet: the repair failed and is retried",
            ),
            drifted: Some(("True", "role Observer -> ClientAdministrator")),
            roles_after: &["ClientAdministrator"],
        },
        DriftCase {
            why: "a spec change is the user's, not drift",
            provider: gcore_provider,
            spec: gcore,
            wanted: "Observer",
            policies: None,
            meddling: Meddling::EditSpec("ClientAdministrator"),
            failing: None,
            events: &["Updated"],
            note: None,
            drifted: None,
            roles_after: &["ClientAdministrator"],
        },
    ]
}

#[tokio::test]
async fn drift_is_reported_once_and_repaired_as_the_policies_allow() {
    for c in drift_cases() {
        let why = c.why;
        let spec = |role| match &c.policies {
            Some(p) => with((c.spec)(role), "managementPolicies", p.clone()),
            None => (c.spec)(role),
        };
        let wanted = c.wanted;
        let world = World::new(role_assignment("a", spec(wanted)), (c.provider)());
        if c.policies.is_some() {
            // Observe-only adopts what someone granted.
            world.provider.grant(desired(&(c.spec)(wanted)));
        }
        world.settle().await;
        assert!(
            crate::controller::reconcile::is_ready(&world.object()),
            "{why}"
        );
        world.forget();
        match c.meddling {
            Meddling::Regrant(other) => world.provider.regrant_all(desired(&(c.spec)(other))),
            Meddling::Remove => world.provider.remove_all(),
            Meddling::EditSpec(other) => {
                world.edit(|o| o.spec = role_assignment("a", spec(other)).spec)
            }
        }
        if let Some((op, error)) = c.failing.clone() {
            world.provider.fail(op, error);
        }
        // Several resyncs: the drift must be told once however often it is seen again.
        for _ in 0..3 {
            let _ = world.reconcile().await;
        }
        world.settle().await;
        assert_eq!(event_reasons(&world), c.events, "{why}");
        let note = world
            .events()
            .into_iter()
            .find(|e| e.reason == Reason::DriftDetected)
            .map(|e| e.note);
        assert_eq!(note.as_deref(), c.note, "{why}");
        let pair = |(a, b): (&str, &str)| (a.to_owned(), b.to_owned());
        assert_eq!(
            world.condition_message("Drifted"),
            c.drifted.map(pair),
            "{why}"
        );
        assert_eq!(roles(&world), c.roles_after, "{why}");
        let status = world.object().status.unwrap_or_default();
        assert_eq!(status.last_drift_time.is_some(), c.note.is_some(), "{why}");
        let kind = world.provider.kind.as_str();
        let counted = format!("rolesync_drift_total{{provider=\"{kind}\"}} 1");
        assert_eq!(
            world.ctx.metrics.encode().contains(&counted),
            c.note.is_some(),
            "{why}"
        );
        // Steady state afterwards: a resync writes nothing (unless it keeps retrying).
        if c.failing.is_none() {
            world.forget();
            let _ = world.reconcile().await;
            assert_eq!(world.writes(), [], "{why}");
        }
    }
}
