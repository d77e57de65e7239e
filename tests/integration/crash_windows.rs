//! The operator killed (SIGKILL) at the three moments where a crash could cost access or
//! leave a grant behind, for every provider:
//! - after the remote create and before the status records it: no duplicate on restart,
//!   and nothing left behind when the spec changes or the resource goes before rolesync
//!   runs again;
//! - during deletion: the finalizer is released only after the remote delete;
//! - during a role change: the principal never loses access and nothing is left behind,
//!   also when the spec changes again before rolesync runs again.
//!
//! Each window is opened deterministically: the simulator answers slowly and the
//! Kubernetes API refuses every write, so the remote step lands while its record cannot.
//! Where a provider's docs leave open how it behaves, every window runs under each reading
//! the simulator plays (`fleet::readings`).

use crate::fleet;
use crate::support;

use std::time::Duration;

use fleet::{Fleet, Kind, expected, readings, slot_key, spec};
use kube::ResourceExt;
use kube::api::{DeleteParams, Patch, PatchParams};
use provider_sims::gcore::RolesPerProject;
use provider_sims::hyperstack::AssignMode;
use provider_sims::zenml::Duplicates;
use rolesync::api::{APPLYING_ANNOTATION, RoleAssignment};
use serde_json::{Value, json};
use support::{WAIT, condition, external_id, is_ready};
use testbed::SimOptions;

const NS: &str = "default";
const SLOW: Duration = Duration::from_secs(2);
/// Slot 1 of each provider: a principal and scope the fixtures leave unassigned.
const SLOT: usize = 1;

/// Whether rolesync recorded `spec(kind, SLOT, variant)` as the spec it is applying.
fn applying(ra: &RoleAssignment, kind: Kind, variant: usize) -> bool {
    let Some(recorded) = ra
        .annotations()
        .get(APPLYING_ANNOTATION)
        .and_then(|a| serde_json::from_str::<Value>(a).ok())
    else {
        return false;
    };
    let want = spec(kind, SLOT, variant);
    let block = kind.name();
    want[block]
        .as_object()
        .is_some_and(|fields| fields.iter().all(|(k, v)| &recorded[block][k] == v))
}

/// The remote assignments of `kind` for the principal and scope of `SLOT`.
fn slot_remote(fleet: &Fleet, kind: Kind) -> Vec<String> {
    let key = format!("{}|", slot_key(kind, SLOT));
    fleet
        .remote(kind)
        .into_iter()
        .filter(|r| r.starts_with(&key))
        .collect()
}

async fn wait_slot(fleet: &Fleet, kind: Kind, what: &str, pred: impl Fn(&[String]) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = slot_remote(fleet, kind);
        if pred(&now) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}: remote never became {what}: {now:#?}",
            kind.name()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A fleet with an operator running and `name` Ready with role variant 0.
async fn ready(kind: Kind, options: SimOptions, name: &str) -> (Fleet, support::Operator) {
    let fleet = Fleet::start_with(options).await;
    let op = fleet.env.operator(&[]);
    fleet
        .env
        .create_ra(NS, name, spec(kind, SLOT, 0), json!({}))
        .await;
    fleet.env.wait_ra(NS, name, "Ready", is_ready).await;
    assert_eq!(slot_remote(&fleet, kind), [expected(kind, SLOT, 0)]);
    (fleet, op)
}

/// What happens after the crash, before rolesync runs again.
#[derive(Clone, Copy, PartialEq)]
enum Then {
    Nothing,
    RoleChanged,
    Deleted,
    RoleChangedThenDeleted,
}

async fn change_role(env: &support::Env, kind: Kind) {
    let patch = Patch::Merge(json!({"spec": spec(kind, SLOT, 1)}));
    env.ras(NS)
        .patch("crash", &PatchParams::default(), &patch)
        .await
        .expect("role change accepted");
}

async fn killed_after_create_before_status(kind: Kind, options: SimOptions, then: Then) {
    let fleet = Fleet::start_with(options).await;
    let env = &fleet.env;
    fleet.faults(kind).set_latency(SLOW);
    let op = env.operator(&[]);
    env.create_ra(NS, "crash", spec(kind, SLOT, 0), json!({}))
        .await;
    // The finalizer comes with the record of the spec, before anything remote.
    env.wait_ra(NS, "crash", "finalized", |ra| {
        !ra.finalizers().is_empty() && applying(ra, kind, 0)
    })
    .await;
    env.api().faults().fail_writes(u32::MAX, 500);
    wait_slot(&fleet, kind, "created", |r| !r.is_empty()).await;
    drop(op.kill().await);
    env.api().faults().fail_writes(0, 500);
    let ra = env.ras(NS).get("crash").await.expect("get");
    assert_eq!(external_id(&ra), None, "the status write was lost");
    let posts = fleet.requests(kind, "POST") + fleet.requests(kind, "PUT");

    fleet.faults(kind).clear();
    match then {
        Then::Nothing => {
            let _op = env.operator(&[]);
            env.wait_ra(NS, "crash", "Ready", is_ready).await;
            assert_eq!(
                slot_remote(&fleet, kind),
                [expected(kind, SLOT, 0)],
                "{}: exactly one remote assignment after the crash",
                kind.name()
            );
            assert_eq!(
                fleet.requests(kind, "POST") + fleet.requests(kind, "PUT"),
                posts,
                "{}: the restarted operator wrote nothing: it adopted what it had made",
                kind.name()
            );
        }
        Then::RoleChanged => {
            change_role(env, kind).await;
            let _op = env.operator(&[]);
            env.wait_ra(NS, "crash", "Ready", |ra| {
                is_ready(ra) && ra.metadata.generation == Some(2)
            })
            .await;
            let new = expected(kind, SLOT, 1);
            wait_slot(&fleet, kind, "only the new role", |r| r == [new.clone()]).await;
        }
        Then::Deleted | Then::RoleChangedThenDeleted => {
            if then == Then::RoleChangedThenDeleted {
                change_role(env, kind).await;
            }
            env.ras(NS)
                .delete("crash", &DeleteParams::default())
                .await
                .expect("delete accepted");
            let _op = env.operator(&[]);
            env.wait_gone(NS, "crash").await;
            assert_eq!(
                slot_remote(&fleet, kind),
                Vec::<String>::new(),
                "{}: what the crashed operator created went with the resource",
                kind.name()
            );
        }
    }
    fleet.shutdown().await;
}

async fn killed_during_deletion(kind: Kind, options: SimOptions) {
    let (fleet, op) = ready(kind, options, "leaving").await;
    let env = &fleet.env;

    // The remote delete keeps failing: the resource must stay, finalizer and all.
    fleet.faults(kind).fail_next(100_000, 503);
    env.ras(NS)
        .delete("leaving", &DeleteParams::default())
        .await
        .expect("delete accepted");
    let ra = env
        .wait_ra(NS, "leaving", "Deleting", |ra| {
            condition(ra, "Ready").is_some_and(|(_, reason)| reason == "Deleting")
        })
        .await;
    assert!(
        ra.finalizers()
            .iter()
            .any(|f| f == "rolesync.dev/finalizer")
    );
    assert_eq!(slot_remote(&fleet, kind), [expected(kind, SLOT, 0)]);
    drop(op.kill().await);

    // Now the remote delete lands but releasing the finalizer cannot.
    fleet.faults(kind).clear();
    fleet.faults(kind).set_latency(SLOW);
    env.api().faults().fail_writes(u32::MAX, 500);
    let op = env.operator(&[]);
    wait_slot(&fleet, kind, "deleted", <[String]>::is_empty).await;
    drop(op.kill().await);
    env.api().faults().fail_writes(0, 500);
    let ra = env.ras(NS).get_opt("leaving").await.expect("get");
    assert!(
        ra.is_some_and(|ra| ra
            .finalizers()
            .iter()
            .any(|f| f == "rolesync.dev/finalizer")),
        "{}: the finalizer outlives a crash after the remote delete",
        kind.name()
    );

    fleet.faults(kind).clear();
    let _op = env.operator(&[]);
    env.wait_gone(NS, "leaving").await;
    assert!(slot_remote(&fleet, kind).is_empty());
    fleet.shutdown().await;
}

async fn killed_during_replacement(kind: Kind, options: SimOptions) {
    let (fleet, op) = ready(kind, options, "promote").await;
    let env = &fleet.env;
    let (old, new) = (expected(kind, SLOT, 0), expected(kind, SLOT, 1));

    fleet.faults(kind).set_latency(SLOW);
    env.ras(NS)
        .patch(
            "promote",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": spec(kind, SLOT, 1)})),
        )
        .await
        .expect("role change accepted");
    // rolesync records the new spec before it changes anything.
    env.wait_ra(NS, "promote", "recorded the new spec", |ra| {
        applying(ra, kind, 1)
    })
    .await;
    let replaces = matches!(kind, Kind::Harness | Kind::Zenml);
    env.api().faults().fail_writes(u32::MAX, 500);
    // Watch the remote state closely from the change on: access must never lapse.
    let mut lapsed = false;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = slot_remote(&fleet, kind);
        if now.is_empty() {
            lapsed = true;
        }
        if now.contains(&new) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}: the new role never arrived: {now:#?}",
            kind.name()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Killed as soon as the new role exists: for providers that replace, before the old
    // one is deleted (that takes another slow request).
    drop(op.kill().await);
    env.api().faults().fail_writes(0, 500);
    let at_kill = slot_remote(&fleet, kind);
    if replaces {
        assert_eq!(
            at_kill,
            {
                let mut both = vec![old.clone(), new.clone()];
                both.sort();
                both
            },
            "the old assignment stays until the new one exists"
        );
    }

    fleet.faults(kind).clear();
    let _op = env.operator(&[]);
    env.wait_ra(NS, "promote", "Ready", |ra| {
        is_ready(ra) && ra.metadata.generation == Some(2)
    })
    .await;
    wait_slot(&fleet, kind, "only the new role", |r| r == [new.clone()]).await;
    assert!(
        !lapsed,
        "{}: the principal had no role for a moment",
        kind.name()
    );
    fleet.shutdown().await;
}

/// A role change cut short by a crash, then overtaken by another change (`then` = 0: back
/// to the first role) before rolesync runs again: whatever the cut-short change made must
/// not outlive it.
async fn killed_during_a_role_change_then_changed_again(
    kind: Kind,
    options: SimOptions,
    then: usize,
) {
    let (fleet, op) = ready(kind, options, "flip").await;
    let env = &fleet.env;
    fleet.faults(kind).set_latency(SLOW);
    let patch = |variant| Patch::Merge(json!({"spec": spec(kind, SLOT, variant)}));
    env.ras(NS)
        .patch("flip", &PatchParams::default(), &patch(1))
        .await
        .expect("role change accepted");
    env.wait_ra(NS, "flip", "recorded the new spec", |ra| {
        applying(ra, kind, 1)
    })
    .await;
    env.api().faults().fail_writes(u32::MAX, 500);
    let second = expected(kind, SLOT, 1);
    wait_slot(&fleet, kind, "the second role", |r| r.contains(&second)).await;
    drop(op.kill().await);
    env.api().faults().fail_writes(0, 500);
    fleet.faults(kind).clear();

    env.ras(NS)
        .patch("flip", &PatchParams::default(), &patch(then))
        .await
        .expect("second change accepted");
    let _op = env.operator(&[]);
    env.wait_ra(NS, "flip", "Ready", |ra| {
        is_ready(ra) && ra.metadata.generation == Some(3)
    })
    .await;
    let last = expected(kind, SLOT, then);
    wait_slot(&fleet, kind, "only the last role", |r| r == [last.clone()]).await;
    fleet.shutdown().await;
}

/// Every window for every provider and reading: a module per provider and reading, a
/// test per window.
macro_rules! per_provider {
    ([$($module:ident => $kind:expr, $options:expr;)*], $windows:tt) => {
        $(per_provider!(@module $module, $kind, $options, $windows);)*
    };
    (@module $module:ident, $kind:expr, $options:expr, {$($test:ident => $run:ident($($arg:expr),*);)*}) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test]
                async fn $test() {
                    super::$run($kind, $options $(, $arg)*).await;
                }
            )*
        }
    };
}

per_provider! {
    [
        gcore_one_role => Kind::Gcore, readings::gcore(RolesPerProject::One);
        gcore_several_roles => Kind::Gcore, readings::gcore(RolesPerProject::Several);
        harness => Kind::Harness, SimOptions::default();
        zenml_conflict409 => Kind::Zenml, readings::zenml(Duplicates::Conflict409);
        zenml_rejected400 => Kind::Zenml, readings::zenml(Duplicates::Rejected400);
        zenml_rejected422 => Kind::Zenml, readings::zenml(Duplicates::Rejected422);
        zenml_stored => Kind::Zenml, readings::zenml(Duplicates::Stored);
        hyperstack_replace => Kind::Hyperstack, readings::hyperstack(AssignMode::Replace);
        hyperstack_add => Kind::Hyperstack, readings::hyperstack(AssignMode::Add);
    ],
    {
        killed_after_the_remote_create_before_the_status_write =>
            killed_after_create_before_status(Then::Nothing);
        killed_after_the_remote_create_then_the_role_changed =>
            killed_after_create_before_status(Then::RoleChanged);
        killed_after_the_remote_create_then_deleted =>
            killed_after_create_before_status(Then::Deleted);
        killed_after_the_remote_create_then_re_roled_and_deleted =>
            killed_after_create_before_status(Then::RoleChangedThenDeleted);
        killed_during_deletion => killed_during_deletion();
        killed_during_a_role_change => killed_during_replacement();
        killed_during_a_role_change_then_changed_back =>
            killed_during_a_role_change_then_changed_again(0);
        killed_during_a_role_change_then_changed_again =>
            killed_during_a_role_change_then_changed_again(2);
    }
}
