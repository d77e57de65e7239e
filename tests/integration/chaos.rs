//! Chaos soak: RoleAssignments over every provider are created, re-roled, switched to
//! Orphan and deleted at random while the simulators inject latency, 5xx, 429 bursts,
//! hangs and spoiled bodies, the Kubernetes API drops watches, compacts its history and
//! refuses writes, and the operator is killed with SIGKILL at random moments and restarted.
//! Then the faults stop and the real state of every simulator is checked:
//! - every live RoleAssignment is Ready with exactly one remote assignment matching its spec;
//! - every deleted one with policy Delete has nothing left;
//! - every orphaned one left its assignments alone: only roles it asked for, none twice
//!   (a role change cut short by a crash and then orphaned may leave the old role beside
//!   the new one: Orphan means rolesync no longer touches either);
//! - no remote assignment exists that no RoleAssignment (or the fixtures) accounts for;
//! - no API key appears in any log, Event, status or metric.
//!
//! The default is small enough for every test run. `ROLESYNC_CHAOS_ASSIGNMENTS` (e.g. 300)
//! and `ROLESYNC_CHAOS_CRASHES` make it bigger; `ROLESYNC_CHAOS_SEED` replays a run.

use crate::fleet;
use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use fleet::{Fleet, Kind, expected, slot_key, spec};
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use provider_sims::BodyFault;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rolesync::api::RoleAssignment;
use serde_json::json;
use support::is_ready;

const NS: &str = "default";

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One RoleAssignment of the run and everything it ever asked for.
#[derive(Debug)]
struct Tracked {
    kind: Kind,
    slot: usize,
    variant: usize,
    roles: BTreeSet<usize>,
    orphan: bool,
    deleted: bool,
}

impl Tracked {
    fn name(&self) -> String {
        format!("{}-{}", self.kind.name(), self.slot)
    }
}

/// Repeats a write the API refused on purpose (injected 409/500) until it goes through.
async fn persist<T, F, Fut>(what: &str, mut write: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    for _ in 0..200 {
        match write().await {
            Ok(v) => return v,
            Err(kube::Error::Api(s)) if s.code == 500 || s.code == 409 => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
    panic!("{what}: refused 200 times")
}

/// Turns on a random mix of faults everywhere.
fn inject(fleet: &Fleet, rng: &mut StdRng) {
    for kind in Kind::ALL {
        let faults = fleet.faults(kind);
        faults.clear();
        faults.set_latency(Duration::from_millis(rng.random_range(0..60)));
        faults.set_error_rate(rng.random_range(0.0..0.2));
        if rng.random_bool(0.5) {
            faults.fail_next(rng.random_range(1..6), 429);
        }
        if rng.random_bool(0.3) {
            faults.hang_next(1);
        }
        let spoil = [
            BodyFault::Malformed,
            BodyFault::Truncated,
            BodyFault::Html,
            BodyFault::Oversized,
        ];
        let n = rng.random_range(0..3);
        for fault in spoil.choose_multiple(rng, n) {
            faults.corrupt_next(1, *fault);
        }
    }
    let api = fleet.env.api().faults();
    match rng.random_range(0..3) {
        0 => api.drop_watches(),
        1 => api.compact_history(),
        _ => {}
    }
    api.fail_writes(
        rng.random_range(0..8),
        *[409, 500].choose(rng).unwrap_or(&500),
    );
}

fn stop_faults(fleet: &Fleet) {
    for kind in Kind::ALL {
        fleet.faults(kind).clear();
    }
    fleet.env.api().faults().fail_writes(0, 500);
}

/// One random change through the Kubernetes API, as users make them.
async fn act(
    fleet: &Fleet,
    rng: &mut StdRng,
    tracked: &mut Vec<Tracked>,
    free: &mut Vec<(Kind, usize)>,
) {
    let api = fleet.env.ras(NS);
    let live: Vec<usize> = (0..tracked.len())
        .filter(|i| !tracked[*i].deleted)
        .collect();
    let roll = rng.random_range(0..100);
    match (live.choose(rng).copied(), roll) {
        (_, 0..40) | (None, _) if !free.is_empty() => {
            let (kind, slot) = free.swap_remove(rng.random_range(0..free.len()));
            let variant = rng.random_range(0..kind.variants());
            let t = Tracked {
                kind,
                slot,
                variant,
                roles: [variant].into(),
                orphan: false,
                deleted: false,
            };
            let ra: RoleAssignment = serde_json::from_value(json!({
                "apiVersion": "rolesync.dev/v1alpha1",
                "kind": "RoleAssignment",
                "metadata": {"name": t.name(), "namespace": NS},
                "spec": spec(kind, slot, variant),
            }))
            .expect("valid RoleAssignment");
            let pp = kube::api::PostParams::default();
            persist("create", || api.create(&pp, &ra)).await;
            tracked.push(t);
        }
        (Some(i), 40..70) => {
            let t = &mut tracked[i];
            t.variant = (t.variant + rng.random_range(1..t.kind.variants())) % t.kind.variants();
            t.roles.insert(t.variant);
            let patch = Patch::Merge(json!({"spec": spec(t.kind, t.slot, t.variant)}));
            let (name, pp) = (t.name(), PatchParams::default());
            persist("role change", || api.patch(&name, &pp, &patch)).await;
        }
        (Some(i), 70..80) if !tracked[i].orphan => {
            let t = &mut tracked[i];
            t.orphan = true;
            let patch = Patch::Merge(json!({"spec": {"deletionPolicy": "Orphan"}}));
            let (name, pp) = (t.name(), PatchParams::default());
            persist("orphan", || api.patch(&name, &pp, &patch)).await;
        }
        (Some(i), _) => {
            let t = &mut tracked[i];
            t.deleted = true;
            let (name, dp) = (t.name(), DeleteParams::default());
            persist("delete", || async {
                match api.delete(&name, &dp).await {
                    Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                    other => other.map(|_| ()),
                }
            })
            .await;
        }
        (None, _) => {}
    }
}

/// What is wrong with the final state; empty when the invariant holds.
async fn violations(
    fleet: &Fleet,
    tracked: &[Tracked],
    initial: &BTreeMap<Kind, BTreeSet<String>>,
) -> Vec<String> {
    let mut wrong = Vec::new();
    let ras: BTreeMap<String, RoleAssignment> =
        match fleet.env.ras(NS).list(&ListParams::default()).await {
            Ok(list) => list
                .items
                .into_iter()
                .map(|ra| (ra.name_any(), ra))
                .collect(),
            Err(e) => return vec![format!("listing RoleAssignments: {e}")],
        };
    for kind in Kind::ALL {
        let mut remote: Vec<String> = fleet.remote(kind);
        remote.retain(|r| !initial[&kind].contains(r));
        for t in tracked.iter().filter(|t| t.kind == kind) {
            let key = format!("{}|", slot_key(kind, t.slot));
            let mine: Vec<String> = remote
                .iter()
                .filter(|r| r.starts_with(&key))
                .cloned()
                .collect();
            remote.retain(|r| !r.starts_with(&key));
            let name = t.name();
            match (t.deleted, t.orphan) {
                (false, _) => {
                    if mine != [expected(kind, t.slot, t.variant)] {
                        wrong.push(format!(
                            "{name}: remote {mine:?}, wants {}",
                            expected(kind, t.slot, t.variant)
                        ));
                    }
                    match ras.get(&name) {
                        Some(ra) if is_ready(ra) => {}
                        Some(ra) => wrong.push(format!("{name}: not Ready: {:?}", ra.status)),
                        None => wrong.push(format!("{name}: missing from Kubernetes")),
                    }
                }
                (true, false) => {
                    if !mine.is_empty() {
                        wrong.push(format!(
                            "{name}: deleted with policy Delete but {mine:?} remain"
                        ));
                    }
                }
                (true, true) => {
                    let allowed: Vec<String> =
                        t.roles.iter().map(|v| expected(kind, t.slot, *v)).collect();
                    let distinct: BTreeSet<&String> = mine.iter().collect();
                    if distinct.len() != mine.len() || mine.iter().any(|m| !allowed.contains(m)) {
                        wrong.push(format!(
                            "{name}: orphaned, remote {mine:?} is not one of {allowed:?}"
                        ));
                    }
                }
            }
            if t.deleted && ras.contains_key(&name) {
                wrong.push(format!("{name}: deleted but still in Kubernetes"));
            }
        }
        for stray in remote {
            wrong.push(format!(
                "{}: no RoleAssignment accounts for {stray}",
                kind.name()
            ));
        }
    }
    wrong
}

async fn scrape_metrics(op: &support::Operator) -> String {
    let addr = op.metrics_addr().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("metrics reachable")
        .text()
        .await
        .expect("metrics body")
}

#[tokio::test]
async fn the_invariant_holds_after_faults_crashes_and_random_changes() {
    let assignments = setting("ROLESYNC_CHAOS_ASSIGNMENTS", 120) as usize;
    let crashes = setting("ROLESYNC_CHAOS_CRASHES", 4);
    let seed = setting("ROLESYNC_CHAOS_SEED", rand::random::<u32>().into());
    println!("chaos: {assignments} assignments, {crashes} crashes, ROLESYNC_CHAOS_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);

    let fleet = Fleet::start().await;
    let initial: BTreeMap<Kind, BTreeSet<String>> = Kind::ALL
        .iter()
        .map(|k| (*k, fleet.remote_set(*k)))
        .collect();
    // Slots spread over the providers, each provider only as many as it can hold apart.
    let mut free: Vec<(Kind, usize)> = Vec::new();
    let mut next = BTreeMap::new();
    while free.len() < assignments {
        let before = free.len();
        for kind in Kind::ALL {
            let n: &mut usize = next.entry(kind).or_default();
            if *n < kind.slots() && free.len() < assignments {
                free.push((kind, *n));
                *n += 1;
            }
        }
        assert!(
            free.len() > before,
            "at most {} assignments fit the fixtures",
            free.len()
        );
    }
    let mut tracked = Vec::new();
    let mut logs = Vec::new();
    let ops_per_round = (assignments * 2 / crashes.max(1) as usize).max(10);

    let mut op = fleet.env.operator(&[]);
    for round in 0..crashes {
        inject(&fleet, &mut rng);
        for _ in 0..ops_per_round {
            act(&fleet, &mut rng, &mut tracked, &mut free).await;
            if rng.random_bool(0.2) {
                // Lets the operator get into the middle of its work before the next change.
                tokio::time::sleep(Duration::from_millis(rng.random_range(0..100))).await;
            }
        }
        // A random moment to die: mid-reconcile for some of the changes above.
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..1500))).await;
        logs.push(op.kill().await);
        println!(
            "chaos: round {round} done, {} tracked, operator killed",
            tracked.len()
        );
        op = fleet.env.operator(&[]);
    }
    // Whatever was never created gets created now, under no faults.
    stop_faults(&fleet);
    logs.push(op.kill().await);
    let op = fleet.env.operator(&[]);

    let converging = tokio::time::Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60 + assignments as u64);
    loop {
        let wrong = violations(&fleet, &tracked, &initial).await;
        if wrong.is_empty() {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "the invariant does not hold (ROLESYNC_CHAOS_SEED={seed}):\n{}\nlast operator log tail:\n{}",
                wrong.join("\n"),
                op.logs()
                    .lines()
                    .rev()
                    .take(40)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    println!(
        "chaos: converged {:?} after the faults stopped",
        converging.elapsed()
    );
    for kind in Kind::ALL {
        let of = |f: &dyn Fn(&Tracked) -> bool| {
            tracked.iter().filter(|t| t.kind == kind && f(t)).count()
        };
        println!(
            "chaos: {}: {} live, {} deleted, {} orphaned; {} remote assignments",
            kind.name(),
            of(&|t| !t.deleted),
            of(&|t| t.deleted),
            of(&|t| t.orphan),
            fleet.remote(kind).len()
        );
    }
    // No API key anywhere: logs of every operator run, Events, statuses and metrics.
    let metrics = scrape_metrics(&op).await;
    logs.push(op.kill().await);
    let events: Api<Event> = Api::all(fleet.env.client.clone());
    let events = serde_json::to_string(
        &events
            .list(&ListParams::default())
            .await
            .expect("events")
            .items,
    )
    .expect("json");
    let statuses = serde_json::to_string(
        &fleet
            .env
            .ras(NS)
            .list(&ListParams::default())
            .await
            .expect("list")
            .items,
    )
    .expect("json");
    assert!(
        logs.iter().any(|l| l.contains("created remote assignment")),
        "logs were captured"
    );
    assert!(
        metrics.contains("rolesync_reconciles_total"),
        "metrics were scraped"
    );
    for key in fleet.keys() {
        for (what, text) in logs.iter().map(|l| ("an operator log", l)).chain([
            ("an Event", &events),
            ("a status", &statuses),
            ("the metrics", &metrics),
        ]) {
            assert!(!text.contains(&key), "an API key appears in {what}");
        }
    }
    fleet.shutdown().await;
}
