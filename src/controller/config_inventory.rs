//! Each provider config's inventory in the cluster: at most once per poll interval, what its
//! credentials can see at the provider is set against the RoleAssignments that use it; the
//! counts go to the config's `status.inventory` and `rolesync_remote_assignments`, and
//! grants no RoleAssignment accounts for, newly seen, to a Warning Event on the config.
//!
//! The listing reads the same per-scope lists as the reconciles' observations, through the
//! config's one client (and rate limiter), with the poll interval as their freshness: where
//! the reconciles of a resync already listed a scope, the inventory costs no request.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::configs::{ConfigKey, ConfigResolver};
use super::events::{Event, Publisher, Reason};
use crate::api::{
    ClusterProviderConfig, ConfigKind, InventoryStatus, ProviderConfig, ProviderConfigRef,
    ProviderConfigStatus, RoleAssignment,
};
use crate::inventory::{self, Counts, Entry};
use crate::metrics::Metrics;
use crate::providers::{Freshness, ProviderKind};

/// How many newly seen grants an Event names; the rest it counts.
const NAMED_IN_EVENT: usize = 10;

/// One provider config as the inventory needs it.
struct Config {
    key: ConfigKey,
    reference: ProviderConfigRef,
    /// Where a ProviderConfig lives; `None` for a ClusterProviderConfig.
    namespace: Option<String>,
    provider: Option<ProviderKind>,
    status: Option<ProviderConfigStatus>,
    object: ObjectReference,
}

/// What the inventory remembers of a config between runs.
#[derive(Default)]
struct Seen {
    last_run: Option<Instant>,
    /// Unmanaged grants (natural key and role) the last run found: a grant not among them
    /// is newly seen. `None` until this replica's first inventory of the config.
    unmanaged: Option<BTreeSet<(String, String)>>,
}

pub struct ConfigInventory {
    pub kube: kube::Client,
    pub resolver: Arc<ConfigResolver>,
    pub configs: Store<ProviderConfig>,
    pub cluster_configs: Store<ClusterProviderConfig>,
    pub role_assignments: Store<RoleAssignment>,
    pub metrics: Arc<Metrics>,
    pub events: Publisher,
    /// Where Events about a ClusterProviderConfig go: the watched namespace, where rolesync
    /// may create Events, else `default`, as for other cluster-scoped objects.
    pub cluster_events_namespace: String,
    pub poll_interval: Duration,
}

impl ConfigInventory {
    /// Takes inventory of every config when it is due, until the controller stops: every
    /// config a tenth of the poll interval after the caches synced, a config created later
    /// at once, then each once per poll interval.
    pub async fn run(self) {
        // The reconciles' first pass over every RoleAssignment goes first: it is what the
        // provider's rate limit is for at start, and the lists it reads are then shared.
        tokio::time::sleep(first_delay(self.poll_interval)).await;
        let mut seen: HashMap<ConfigKey, Seen> = HashMap::new();
        // Checking every second (or poll interval, if shorter) lets a new config's first
        // inventory follow within a second without listing any config more often.
        let mut tick = tokio::time::interval(self.poll_interval.min(Duration::from_secs(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let configs = self.configs();
            let present: BTreeSet<&ConfigKey> = configs.iter().map(|c| &c.key).collect();
            seen.retain(|key, _| {
                let keep = present.contains(key);
                if !keep {
                    self.metrics.forget_remote_assignments(key.as_str());
                }
                keep
            });
            for config in &configs {
                let state = seen.entry(config.key.clone()).or_default();
                if state
                    .last_run
                    .is_some_and(|t| t.elapsed() < self.poll_interval)
                {
                    continue;
                }
                state.last_run = Some(Instant::now());
                self.take(config, state).await;
            }
        }
    }

    fn configs(&self) -> Vec<Config> {
        let namespaced = self.configs.state().into_iter().map(|pc| {
            let namespace = pc.namespace().unwrap_or_default();
            let reference = ProviderConfigRef {
                kind: ConfigKind::ProviderConfig,
                name: pc.name_any(),
            };
            Config {
                key: ConfigKey::of(&namespace, &reference),
                reference,
                namespace: Some(namespace),
                provider: pc.spec.provider.kind(),
                status: pc.status.clone(),
                object: pc.object_ref(&()),
            }
        });
        let cluster = self.cluster_configs.state().into_iter().map(|cpc| {
            let reference = ProviderConfigRef {
                kind: ConfigKind::ClusterProviderConfig,
                name: cpc.name_any(),
            };
            Config {
                key: ConfigKey::of("", &reference),
                reference,
                namespace: None,
                provider: cpc.spec.provider.kind(),
                status: cpc.status.clone(),
                object: cpc.object_ref(&()),
            }
        });
        namespaced.chain(cluster).collect()
    }

    /// One config's inventory. A config that cannot be used (no Secret, credentials
    /// refused, provider down) is skipped until its next turn: its RoleAssignments'
    /// reconciles report why on its Ready condition.
    async fn take(&self, config: &Config, seen: &mut Seen) {
        let Some(provider) = config.provider else {
            return;
        };
        let ra_namespace = config.namespace.as_deref().unwrap_or_default();
        let client = match self
            .resolver
            .resolve(ra_namespace, &config.reference, provider)
            .await
        {
            Ok(resolved) => resolved.client,
            Err(e) => {
                debug!(config = config.key.as_str(), error = %e, "no inventory: the config cannot be used");
                return;
            }
        };
        let freshness = Freshness {
            max_age: self.poll_interval,
        };
        let grants = match client.inventory(freshness).await {
            Ok(grants) => grants,
            Err(e) => {
                warn!(config = config.key.as_str(), error = %e, retryable = e.is_retryable(), "inventory failed; tried again at the next poll interval");
                return;
            }
        };
        let ras = self.role_assignments.state();
        let entries = inventory::account(&config.key, grants, ras.iter().map(AsRef::as_ref));
        let counts = inventory::counts(&entries);
        if let Err(e) = self.write_status(config, counts).await {
            warn!(config = config.key.as_str(), error = %e, "could not write the config's inventory");
        }
        let unmanaged: BTreeSet<(String, String)> = entries
            .iter()
            .filter(|e| e.managed_by.is_none())
            .map(|e| {
                (
                    e.grant.target.natural_key.clone(),
                    e.grant.target.role.clone(),
                )
            })
            .collect();
        // A replica's first inventory of a config that an inventory has counted before (a
        // restart, a new leader) takes what is unmanaged now as seen: it was announced when
        // it appeared, and announcing it at every restart would drown what is new.
        let known = match seen.unmanaged.take() {
            Some(known) => known,
            None if config.status.as_ref().and_then(|s| s.inventory).is_some() => unmanaged.clone(),
            None => BTreeSet::new(),
        };
        let new: Vec<&Entry> = entries
            .iter()
            .filter(|e| {
                e.managed_by.is_none()
                    && !known.contains(&(
                        e.grant.target.natural_key.clone(),
                        e.grant.target.role.clone(),
                    ))
            })
            .collect();
        seen.unmanaged = Some(unmanaged);
        if !new.is_empty() {
            let note = note(&config.key, &new);
            let ns = config
                .namespace
                .as_deref()
                .unwrap_or(&self.cluster_events_namespace);
            if let Err(e) = self
                .events
                .publish_in(ns, &config.object, Event::new(Reason::Unmanaged, note))
                .await
            {
                warn!(config = config.key.as_str(), error = %e, "could not publish the unmanaged grants Event");
            }
        }
        // Last, so that whoever reads the metric sees an inventory whose status and Event
        // are out too.
        self.metrics
            .remote_assignments(config.key.as_str(), counts.managed, counts.unmanaged);
    }

    /// `status.inventory`, written only when the counts changed.
    async fn write_status(&self, config: &Config, counts: Counts) -> Result<(), kube::Error> {
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let wanted = InventoryStatus {
            remote: as_i64(counts.remote),
            managed: as_i64(counts.managed),
            unmanaged: as_i64(counts.unmanaged),
        };
        if config.status.as_ref().and_then(|s| s.inventory) == Some(wanted) {
            return Ok(());
        }
        // A merge patch of this field alone: the Ready condition and the revocation window
        // are written by others.
        let patch = Patch::Merge(json!({"status": {"inventory": wanted}}));
        let params = PatchParams::default();
        let name = &config.reference.name;
        match &config.namespace {
            Some(ns) => {
                Api::<ProviderConfig>::namespaced(self.kube.clone(), ns)
                    .patch_status(name, &params, &patch)
                    .await?;
            }
            None => {
                Api::<ClusterProviderConfig>::all(self.kube.clone())
                    .patch_status(name, &params, &patch)
                    .await?;
            }
        }
        Ok(())
    }
}

/// How long after the caches synced the first inventories wait: a tenth of the poll
/// interval (a minute by default), at least a second.
fn first_delay(poll_interval: Duration) -> Duration {
    (poll_interval / 10).max(Duration::from_secs(1))
}

/// What an Event about newly seen unmanaged grants says: how many, which (the first few),
/// and how to adopt them.
fn note(config: &ConfigKey, new: &[&Entry]) -> String {
    let named: Vec<String> = new
        .iter()
        .take(NAMED_IN_EVENT)
        .map(|e| {
            let grant = e.grant.target.desired.grant();
            format!(
                "{} {} at {}",
                e.grant.target.principal,
                e.grant.target.role,
                grant.scope()
            )
        })
        .collect();
    let more = new.len().saturating_sub(NAMED_IN_EVENT);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!(
        "{} assignment(s) at the provider that no RoleAssignment accounts for: {}{more}; `rolesync export --config {}` prints RoleAssignments that adopt them",
        new.len(),
        named.join(", "),
        config.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{AssignmentBlocks, RemoteGrant};

    fn entry(user: u64) -> Entry {
        let blocks: AssignmentBlocks = serde_json::from_value(
            json!({"gcore": {"userId": user, "role": "Observer", "clientId": 8}}),
        )
        .unwrap();
        Entry {
            grant: RemoteGrant::new(blocks, None).unwrap(),
            managed_by: None,
        }
    }

    #[test]
    fn the_first_inventory_leaves_the_first_pass_a_tenth_of_the_poll_interval() {
        assert_eq!(
            first_delay(Duration::from_secs(600)),
            Duration::from_secs(60)
        );
        assert_eq!(first_delay(Duration::from_secs(2)), Duration::from_secs(1));
    }

    #[test]
    fn the_event_names_the_first_grants_and_counts_the_rest() {
        let config = ConfigKey::of(
            "",
            &ProviderConfigRef {
                kind: ConfigKind::ClusterProviderConfig,
                name: "gcore".into(),
            },
        );
        let one = entry(777);
        assert_eq!(
            note(&config, &[&one]),
            "1 assignment(s) at the provider that no RoleAssignment accounts for: user:777 Observer at client=8; `rolesync export --config ClusterProviderConfig/gcore` prints RoleAssignments that adopt them"
        );
        let many: Vec<Entry> = (1..=12).map(entry).collect();
        let text = note(&config, &many.iter().collect::<Vec<_>>());
        assert!(text.starts_with("12 assignment(s)"), "{text}");
        assert!(
            text.contains("user:10 Observer at client=8 and 2 more;"),
            "{text}"
        );
        assert!(!text.contains("user:11"), "{text}");
    }
}
