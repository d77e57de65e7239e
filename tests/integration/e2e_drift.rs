//! Drift made visible, at every provider: someone changes or deletes a remote assignment
//! at the simulator, as they would in the vendor's console, and the operator (its own
//! process) publishes one DriftDetected Event, counts it, records the time in status and
//! repairs it; where the management policies forbid repairing, the drift stays reported in
//! the Drifted condition, once, with no write at either end on later resyncs.

use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};
use provider_sims::zenml::SimAssignment;
use rolesync::api::RoleAssignment;
use serde_json::{Value, json};

use crate::fleet::{Fleet, Kind, expected, harness_slot, per_provider, role_name, slot_key, spec};
use crate::support::{Operator, WAIT, condition, external_id, is_ready};

const NS: &str = "default";
const NAME: &str = "drift";

/// What someone else does at the provider.
#[derive(Clone, Copy, Debug)]
enum Meddling {
    /// Grants the second role instead of the first: in place where the provider changes
    /// roles so (Gcore, Hyperstack); where an assignment is its role (Harness, ZenML), by
    /// revoking rolesync's and granting another.
    ChangeRole,
    Delete,
}

/// A slot every provider accepts both of the first two roles in.
fn slot(kind: Kind) -> usize {
    match kind {
        Kind::Harness => harness_slot(("USER", "alice"), (Some("default"), Some("payments"))),
        _ => 0,
    }
}

fn meddle(fleet: &Fleet, kind: Kind, ra: &RoleAssignment, meddling: Meddling) {
    let sims = &fleet.sims;
    let id = external_id(ra).expect("status names the assignment");
    let block = spec(kind, slot(kind), 0)[kind.name()].clone();
    let other = role_name(kind, 1);
    match kind {
        Kind::Gcore => {
            let id: u64 = id.parse().expect("numeric id");
            let done = match meddling {
                Meddling::ChangeRole => sims.gcore.0.set_role(id, &other),
                Meddling::Delete => sims.gcore.0.remove_assignment(id),
            };
            assert!(done, "gcore assignment {id} changed");
        }
        Kind::Harness => {
            let (org, project) = (block["org"].as_str(), block["project"].as_str());
            assert!(sims.harness.0.remove_assignment(org, project, &id));
            if let Meddling::ChangeRole = meddling {
                // Harness updates nothing of an assignment but `disabled`: a new role is a
                // new assignment.
                sims.harness
                    .0
                    .insert_assignment(
                        org,
                        project,
                        json!({"identifier": "changed_by_hand", "role": other,
                               "resource_group": block["resourceGroup"],
                               "principal": block["principal"]}),
                    )
                    .expect("assignment stored");
            }
        }
        Kind::Zenml => {
            let wanted = crate::fleet::zenml_row(&block);
            let rows = sims.zenml.0.assignments();
            let row = rows
                .iter()
                .find(|r| **r == wanted)
                .expect("rolesync's ZenML assignment");
            assert!(sims.zenml.0.remove_assignment(row));
            if let Meddling::ChangeRole = meddling {
                let role_id = other.parse().expect("role uuid");
                assert!(
                    sims.zenml
                        .0
                        .insert_assignment(SimAssignment { role_id, ..*row })
                );
            }
        }
        Kind::Hyperstack => {
            let user = block["userId"].as_u64().expect("user id");
            let roles: &[&str] = match meddling {
                Meddling::ChangeRole => &[&other],
                Meddling::Delete => &[],
            };
            assert!(sims.hyperstack.0.set_roles(user, roles));
        }
    }
}

/// The remote assignments of the test's slot (the simulators hold others from the start).
fn ours(fleet: &Fleet, kind: Kind) -> Vec<String> {
    let key = format!("{}|", slot_key(kind, slot(kind)));
    fleet
        .remote(kind)
        .into_iter()
        .filter(|line| line.starts_with(&key))
        .collect()
}

/// The DriftDetected Events about the RoleAssignment.
async fn drift_events(fleet: &Fleet) -> Vec<Event> {
    let events: Api<Event> = Api::namespaced(fleet.env.client.clone(), NS);
    events
        .list(&ListParams::default())
        .await
        .expect("events list")
        .items
        .into_iter()
        .filter(|e| {
            e.reason.as_deref() == Some("DriftDetected")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(NAME)
        })
        .collect()
}

/// `(status, message)` of the Drifted condition.
fn drifted(ra: &RoleAssignment) -> Option<(String, String)> {
    let c = ra
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Drifted")?;
    Some((format!("{:?}", c.status), c.message.clone()))
}

/// Waits (with a deadline) until the operator has read from the provider `more` more times.
async fn reads(fleet: &Fleet, kind: Kind, more: usize) {
    let target = fleet.requests(kind, "GET") + more;
    let deadline = tokio::time::Instant::now() + WAIT;
    while fleet.requests(kind, "GET") < target {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the operator stopped resyncing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// rolesync's writes to RoleAssignments. The provider config's inventory, which counts
/// the grants someone else made, writes the config's status and Events of its own.
fn role_assignment_writes(fleet: &Fleet) -> usize {
    fleet
        .env
        .api()
        .audit()
        .iter()
        .filter(|r| {
            r.user_agent.starts_with("rolesync/")
                && r.resource == "roleassignments"
                && matches!(r.verb.as_str(), "create" | "update" | "patch" | "delete")
        })
        .count()
}

/// Lets the operator resync a few more times (it reads the provider on each), then checks
/// that it wrote nothing to its RoleAssignments nor to the provider meanwhile, and told
/// nothing new.
async fn steady(fleet: &Fleet, kind: Kind, events: usize) {
    // The pass that wrote the status last may still be publishing its Events: the next
    // read is the next pass, which starts only once that one is done.
    reads(fleet, kind, 1).await;
    let writes = role_assignment_writes(fleet);
    let provider_writes = fleet.writes(kind).len();
    // Polled at 1s: three more resyncs read the provider at least three more times.
    reads(fleet, kind, 3).await;
    assert_eq!(role_assignment_writes(fleet), writes, "Kubernetes writes");
    assert_eq!(fleet.writes(kind).len(), provider_writes, "provider writes");
    assert_eq!(
        drift_events(fleet).await.len(),
        events,
        "DriftDetected Events"
    );
}

async fn start(kind: Kind, policies: Option<Value>) -> (Fleet, Operator, RoleAssignment) {
    let fleet = Fleet::start().await;
    let operator = fleet.env.operator(&[]);
    let mut wanted = spec(kind, slot(kind), 0);
    if let Some(policies) = policies {
        // Observe-only adopts what exists: grant it as someone else would.
        fleet.grant_directly(kind, slot(kind), 0);
        wanted["managementPolicies"] = policies;
    }
    fleet
        .env
        .create_ra(
            NS,
            NAME,
            wanted,
            json!({"rolesync.dev/poll-interval": "1s"}),
        )
        .await;
    let ra = fleet.env.wait_ra(NS, NAME, "Ready", is_ready).await;
    assert_eq!(
        ours(&fleet, kind),
        [expected(kind, slot(kind), 0)],
        "granted as the spec asks"
    );
    (fleet, operator, ra)
}

/// Drift is reported once (Event, metric, status), then repaired, and the steady state after
/// it writes nothing.
async fn repaired(kind: Kind, meddling: Meddling) {
    let (fleet, operator, ra) = start(kind, None).await;
    meddle(&fleet, kind, &ra, meddling);
    let ra = fleet
        .env
        .wait_ra(NS, NAME, "repaired after drift", |ra| {
            ra.status
                .as_ref()
                .is_some_and(|s| s.last_drift_time.is_some())
                && drifted(ra) == Some(("False".to_owned(), String::new()))
                && is_ready(ra)
        })
        .await;
    // What someone else granted instead is theirs: rolesync grants its own beside it.
    let mut remote = vec![expected(kind, slot(kind), 0)];
    if let (Meddling::ChangeRole, Kind::Harness | Kind::Zenml) = (meddling, kind) {
        remote.push(expected(kind, slot(kind), 1));
        remote.sort();
    }
    assert_eq!(ours(&fleet, kind), remote, "repaired at the provider");
    // Published right after the status write that records it.
    fleet.env.wait_event(NS, NAME, "DriftDetected").await;
    let events = drift_events(&fleet).await;
    let [event] = events.as_slice() else {
        panic!("one DriftDetected Event, not {events:#?}")
    };
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    let note = event.note.clone().unwrap_or_default();
    assert!(note.ends_with("; repaired"), "{note}");
    match (meddling, kind) {
        (Meddling::ChangeRole, Kind::Gcore | Kind::Hyperstack) => assert_eq!(
            note,
            format!(
                "role {} -> {}; repaired",
                role_name(kind, 0),
                role_name(kind, 1)
            )
        ),
        _ => assert_eq!(note, "assignment deleted; repaired"),
    }
    let counted = format!("rolesync_drift_total{{provider=\"{}\"}} 1", kind.name());
    let metrics = operator.metrics().await;
    assert!(metrics.contains(&counted), "{metrics}");
    assert!(!external_id(&ra).unwrap_or_default().is_empty());
    steady(&fleet, kind, 1).await;
    drop(operator);
    fleet.shutdown().await;
}

/// Where the management policies forbid repairing, the drift stays reported in Drifted,
/// published once, and rolesync writes nothing at either end however often it looks.
async fn reported_until_gone(kind: Kind, meddling: Meddling) {
    let (fleet, operator, ra) = start(kind, Some(json!(["Observe"]))).await;
    meddle(&fleet, kind, &ra, meddling);
    let ra = fleet
        .env
        .wait_ra(NS, NAME, "Drifted", |ra| {
            drifted(ra).is_some_and(|(s, _)| s == "True")
        })
        .await;
    assert!(
        ra.status
            .as_ref()
            .is_some_and(|s| s.last_drift_time.is_some())
    );
    let (_, message) = drifted(&ra).unwrap_or_default();
    if let (Meddling::ChangeRole, Kind::Gcore | Kind::Hyperstack) = (meddling, kind) {
        // The grant is still there, only not as the spec says: Ready stays.
        assert_eq!(
            message,
            format!("role {} -> {}", role_name(kind, 0), role_name(kind, 1))
        );
        assert_eq!(
            condition(&ra, "Ready"),
            Some(("True".to_owned(), "Available".to_owned()))
        );
    }
    // Published right after the status write that records it.
    fleet.env.wait_event(NS, NAME, "DriftDetected").await;
    let events = drift_events(&fleet).await;
    let [event] = events.as_slice() else {
        panic!("one DriftDetected Event, not {events:#?}")
    };
    assert_eq!(
        event.note.clone().unwrap_or_default(),
        format!("{message}; not repaired: managementPolicies do not allow it")
    );
    steady(&fleet, kind, 1).await;
    let counted = format!("rolesync_drift_total{{provider=\"{}\"}} 1", kind.name());
    let metrics = operator.metrics().await;
    assert!(metrics.contains(&counted), "{metrics}");

    // Put back by hand: Drifted turns False and nothing more is told.
    if let Meddling::Delete = meddling {
        fleet.grant_directly(kind, slot(kind), 0);
        fleet
            .env
            .wait_ra(NS, NAME, "no longer Drifted", |ra| {
                drifted(ra).is_some_and(|(s, _)| s == "False")
            })
            .await;
        assert_eq!(drift_events(&fleet).await.len(), 1);
    }
    drop(operator);
    fleet.shutdown().await;
}

per_provider!(
    [gcore => Kind::Gcore, harness => Kind::Harness, zenml => Kind::Zenml, hyperstack => Kind::Hyperstack],
    {
        a_changed_role_is_reported_once_then_repaired => repaired(Meddling::ChangeRole);
        a_deleted_assignment_is_reported_once_then_recreated => repaired(Meddling::Delete);
        observe_only_reports_a_change_until_it_is_gone => reported_until_gone(Meddling::ChangeRole);
        observe_only_reports_a_deletion_until_it_is_put_back => reported_until_gone(Meddling::Delete);
    }
);
