//! Time-bound grants through the operator as users run it, for every provider: a grant made
//! at `spec.notBefore` and revoked at `spec.expiresAt`, each within a second of its instant
//! by the simulator's own request log, although the operator is killed (SIGKILL) and
//! restarted before the first instant and again between the two; the expired resource then
//! stays as a record that holds nothing.

use std::time::{Duration, SystemTime};

use jiff::Timestamp;
use serde_json::json;

use crate::fleet::{self, Fleet, Kind, expected, per_provider, slot_key};
use crate::support::{condition, is_ready};

const NS: &str = "default";
/// A principal and scope the simulators' fixtures leave unassigned.
const SLOT: usize = 1;
/// How late a grant or revocation may reach the provider; it may never be early.
const ON_TIME: Duration = Duration::from_secs(1);

fn ready_reason(reason: &'static str) -> impl Fn(&rolesync::api::RoleAssignment) -> bool {
    move |ra| condition(ra, "Ready").is_some_and(|(_, r)| r == reason)
}

fn assert_on_time(kind: Kind, what: &str, at: SystemTime, instant: Timestamp) {
    let instant = SystemTime::from(instant);
    let late = at.duration_since(instant).unwrap_or_else(|early| {
        panic!(
            "{}: the {what} reached the provider {:?} before its instant",
            kind.name(),
            early.duration()
        )
    });
    eprintln!(
        "{}: the {what} reached the provider {late:?} after its instant",
        kind.name()
    );
    assert!(
        late < ON_TIME,
        "{}: the {what} reached the provider {late:?} after its instant",
        kind.name()
    );
}

async fn granted_and_revoked_on_time(kind: Kind) {
    let fleet = Fleet::start().await;
    let env = &fleet.env;
    let op = env.operator(&[]);
    // Whole seconds, a few ahead: time enough to see it scheduled and to restart before it.
    let now = Timestamp::now().as_second();
    let not_before = Timestamp::from_second(now + 6).expect("a time");
    let expires_at = Timestamp::from_second(now + 12).expect("a time");
    let mut spec = fleet::spec(kind, SLOT, 0);
    spec["notBefore"] = json!(not_before.to_string());
    spec["expiresAt"] = json!(expires_at.to_string());
    env.create_ra(NS, "timed", spec, json!({})).await;

    let ra = env
        .wait_ra(NS, "timed", "Scheduled", ready_reason("Scheduled"))
        .await;
    let message = &ra
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .expect("Ready")
        .message;
    assert!(
        message.contains(&not_before.to_string()),
        "Scheduled says when: {message}"
    );
    assert_eq!(fleet.writes(kind), [], "nothing granted before notBefore");
    // A new process finds the instant in the spec.
    drop(op.kill().await);
    let op = env.operator(&[]);

    env.wait_ra(NS, "timed", "granted", is_ready).await;
    let grant = fleet
        .writes(kind)
        .first()
        .cloned()
        .expect("a grant was sent");
    assert_on_time(kind, "grant", grant.at, not_before);
    drop(op.kill().await);
    let op = env.operator(&[]);

    env.wait_ra(NS, "timed", "Expired", ready_reason("Expired"))
        .await;
    let revocation = fleet
        .writes(kind)
        .into_iter()
        .find(|r| r.method == "DELETE")
        .expect("a revocation was sent");
    assert_on_time(kind, "revocation", revocation.at, expires_at);
    env.wait_event(NS, "timed", "Expired").await;
    let slot = format!("{}|", slot_key(kind, SLOT));
    assert!(
        !fleet.remote(kind).iter().any(|r| r.starts_with(&slot)),
        "{}: revoked: {:?}",
        kind.name(),
        fleet.remote(kind)
    );

    // The expired resource is the record: it claims nothing, so a new grant for the same
    // principal and scope goes ahead, and deleting the record afterwards sends nothing.
    env.create_ra(NS, "renewed", fleet::spec(kind, SLOT, 0), json!({}))
        .await;
    env.wait_ra(NS, "renewed", "granted", is_ready).await;
    let sent = fleet.writes(kind);
    env.ras(NS)
        .delete("timed", &Default::default())
        .await
        .expect("deleted");
    env.wait_gone(NS, "timed").await;
    assert_eq!(fleet.writes(kind), sent);
    assert!(
        fleet.remote(kind).contains(&expected(kind, SLOT, 0)),
        "{}: the renewed grant stays",
        kind.name()
    );
    drop(op);
    fleet.shutdown().await;
}

per_provider! {
    [
        gcore => Kind::Gcore,
        harness => Kind::Harness,
        zenml => Kind::Zenml,
        hyperstack => Kind::Hyperstack,
    ],
    {
        granted_at_not_before_and_revoked_at_expires_at_across_restarts =>
            granted_and_revoked_on_time();
    }
}
