//! Each provider config's inventory in the cluster, the operator as its own process:
//! `status.inventory` and `rolesync_remote_assignments` count what the simulator holds,
//! managed or not, before and after someone grants more at the provider, and grants no
//! RoleAssignment accounts for are named in an Event on the config.

use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;
use kube::runtime::wait::await_condition;
use provider_sims::zenml::SimAssignment;
use rolesync::api::{ClusterProviderConfig, InventoryStatus};
use serde_json::json;

use crate::export::{grant_directly, grants};
use crate::fleet::{self, Fleet, Kind, per_provider};
use crate::support::{Operator, WAIT, is_ready};

/// Someone grants one more role at the provider, to a principal nothing else uses.
fn grant_one_more(fleet: &Fleet, kind: Kind) {
    match kind {
        Kind::Gcore => {
            fleet
                .sims
                .gcore
                .0
                .insert_assignment(790, "User", Some(8), None);
        }
        Kind::Harness => fleet
            .sims
            .harness
            .0
            .insert_assignment(
                None,
                None,
                json!({"identifier": "bob_viewer", "role": "_account_viewer",
                    "resource_group": "_all_account_level_resources",
                    "principal": {"type": "USER", "identifier": "bob"}}),
            )
            .expect("granted"),
        Kind::Zenml => {
            let sim = &fleet.sims.zenml.0;
            let f = sim.fixtures().clone();
            sim.insert_assignment(SimAssignment {
                role_id: f.roles[3].0,
                team_id: Some(f.team_ids[1]),
                ..SimAssignment::default()
            });
        }
        Kind::Hyperstack => assert!(fleet.sims.hyperstack.0.set_roles(207, &["viewer"])),
    }
}

/// Waits (watching, with a deadline) until the config's `status.inventory` is `want`.
async fn wait_inventory(fleet: &Fleet, config: &str, want: InventoryStatus) {
    let api: Api<ClusterProviderConfig> = Api::all(fleet.env.client.clone());
    let cond = move |c: Option<&ClusterProviderConfig>| {
        c.and_then(|c| c.status.as_ref()?.inventory) == Some(want)
    };
    if tokio::time::timeout(WAIT, await_condition(api.clone(), config, cond))
        .await
        .is_err()
    {
        let now = api.get_status(config).await.ok().and_then(|c| c.status);
        panic!("{config}'s inventory never became {want:?}; last seen {now:?}");
    }
}

/// Waits (polling `/metrics`, with a deadline) until it reports `want` for the config.
async fn wait_metric(operator: &Operator, config: &str, want: InventoryStatus) {
    let lines = [
        format!(
            "rolesync_remote_assignments{{config=\"ClusterProviderConfig/{config}\",managed=\"true\"}} {}",
            want.managed
        ),
        format!(
            "rolesync_remote_assignments{{config=\"ClusterProviderConfig/{config}\",managed=\"false\"}} {}",
            want.unmanaged
        ),
    ];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = operator.metrics().await;
        if lines.iter().all(|l| text.lines().any(|t| t == l)) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "metrics never showed {lines:?}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn expected(fleet: &Fleet, kind: Kind, managed: i64) -> InventoryStatus {
    let remote = i64::try_from(grants(fleet, kind)).expect("small");
    InventoryStatus {
        remote,
        managed,
        unmanaged: remote - managed,
    }
}

async fn counts_follow_the_provider(kind: Kind) {
    let fleet = Fleet::start().await;
    let config = format!("{}-sandbox", kind.name());
    grant_directly(&fleet, kind);
    fleet
        .env
        .create_ra("default", "managed", fleet::spec(kind, 0, 0), json!({}))
        .await;
    let operator = fleet.env.operator(&["--poll-interval", "1s"]);
    fleet
        .env
        .wait_ra("default", "managed", "Ready", is_ready)
        .await;

    let before = expected(&fleet, kind, 1);
    assert!(before.unmanaged >= 2, "{before:?}");
    wait_inventory(&fleet, &config, before).await;
    wait_metric(&operator, &config, before).await;
    let event = fleet.env.wait_event("default", &config, "Unmanaged").await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    let note = event.note.unwrap_or_default();
    assert!(
        note.contains("no RoleAssignment accounts for") && note.contains("rolesync export"),
        "{note}"
    );

    grant_one_more(&fleet, kind);
    let after = expected(&fleet, kind, 1);
    assert_eq!(after.remote, before.remote + 1);
    wait_inventory(&fleet, &config, after).await;
    wait_metric(&operator, &config, after).await;
    let notes = wait_unmanaged_events(&fleet, &config, 2).await;
    assert!(
        notes[1].starts_with("1 assignment(s)"),
        "only the new grant: {notes:?}"
    );

    // A restarted operator counts again but does not announce what was announced.
    drop(operator);
    let operator = fleet.env.operator(&["--poll-interval", "1s"]);
    wait_metric(&operator, &config, after).await;
    assert_eq!(unmanaged_events(&fleet, &config).await.len(), 2);
    drop(operator);
    fleet.shutdown().await;
}

/// The notes of the `Unmanaged` Events about the config, oldest first.
async fn unmanaged_events(fleet: &Fleet, config: &str) -> Vec<String> {
    let events: Api<Event> = Api::namespaced(fleet.env.client.clone(), "default");
    let mut found: Vec<Event> = events
        .list(&ListParams::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter(|e| {
            e.reason.as_deref() == Some("Unmanaged")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(config)
        })
        .collect();
    found.sort_by_key(|e| e.event_time.as_ref().map(|t| t.0));
    found.into_iter().filter_map(|e| e.note).collect()
}

/// Waits (polling, with a deadline) until `n` `Unmanaged` Events about the config exist.
async fn wait_unmanaged_events(fleet: &Fleet, config: &str, n: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let notes = unmanaged_events(fleet, config).await;
        if notes.len() >= n {
            return notes;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {n} Unmanaged Events about {config}: {notes:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

per_provider!([gcore => Kind::Gcore, harness => Kind::Harness, zenml => Kind::Zenml, hyperstack => Kind::Hyperstack], {
    status_and_metric_count_the_providers_grants_before_and_after_a_change => counts_follow_the_provider();
});
