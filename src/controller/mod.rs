//! The reconcile loop: watch -> reconcile -> provider -> status. This module wires the
//! watches, the claims index, leader election and the health server around [`reconcile`].

mod applying;
mod backoff;
mod claims;
mod conditions;
mod config_inventory;
mod config_status;
mod configs;
mod events;
#[cfg(test)]
mod fakes;
mod guardrails;
mod health;
mod leader;
pub mod plan;
mod reconcile;
#[cfg(test)]
mod reconcile_tests;
mod resync;
mod revocations;
mod status_patch;
mod timers;
mod window;
mod writes;

pub use backoff::Backoff;
pub use configs::{ConfigError, ConfigKey, SecretPolicy, rate_limit, read_api_key};
pub use leader::LeaseSettings;

use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, StreamExt, channel::mpsc};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use tracing::{error, info};

use crate::api::{
    ALLOW_REVOCATIONS_ANNOTATION, ClusterProviderConfig, ConfigKind, ProviderConfig, RoleAssignment,
};
use crate::metrics::Metrics;
use claims::{Claim, Claims};
use configs::{ClusterConfigs, ConfigResolver};
use reconcile::{Context, claim_key, object_key};
use resync::{Change, Changes};

/// kubectl's copy of the last applied object, which rolesync never reads.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// How `rolesync run` behaves.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Watch RoleAssignments and ProviderConfigs in this namespace only (all when `None`).
    pub namespace: Option<String>,
    pub concurrency: u16,
    pub poll_interval: Duration,
    pub metrics_addr: SocketAddr,
    /// `None` runs without leader election (a single replica).
    pub leader: Option<LeaseSettings>,
    pub secret_policy: SecretPolicy,
    /// Names this replica in Events.
    pub instance: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot serve metrics on {addr}: {source}")]
    Metrics {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("lost the leader lease; exiting so a standby can take over")]
    LostLeadership,
}

/// Runs the operator until `shutdown` resolves (then returns `Ok`) or leadership is lost.
pub async fn run(
    client: kube::Client,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let metrics = Arc::new(Metrics::default());
    let ready = Arc::new(AtomicBool::new(false));
    let (addr, _server) = health::serve(
        settings.metrics_addr,
        health::Health {
            metrics: metrics.clone(),
            ready: ready.clone(),
        },
    )
    .await
    .map_err(|source| RunError::Metrics {
        addr: settings.metrics_addr,
        source,
    })?;
    info!(%addr, "serving /metrics, /healthz and /readyz");

    let shutdown = futures::future::FutureExt::shared(Box::pin(shutdown));
    let leadership = match settings.leader.clone() {
        Some(lease) => {
            // A standby is healthy and ready: it serves probes while it waits.
            ready.store(true, Ordering::Relaxed);
            tokio::select! {
                l = leader::acquire(client.clone(), lease) => Some(l),
                () = shutdown.clone() => return Ok(()),
            }
        }
        None => None,
    };
    let mut lost = leadership.as_ref().map(|l| l.lost.clone());
    let lost_leadership = async move {
        match lost.as_mut() {
            Some(rx) => {
                let _ = rx.wait_for(|lost| *lost).await;
            }
            None => futures::future::pending::<()>().await,
        }
    };

    let outcome = tokio::select! {
        () = controller(client, &settings, metrics, ready, shutdown.clone()) => Ok(()),
        () = lost_leadership => Err(RunError::LostLeadership),
    };
    if let Some(l) = leadership {
        l.release().await;
    }
    outcome
}

fn api_for<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// RoleAssignments whose spec points at a config for which `matches` holds.
fn referencing(
    store: &Store<RoleAssignment>,
    matches: impl Fn(&ConfigKey) -> bool,
) -> Vec<ObjectRef<RoleAssignment>> {
    store
        .state()
        .iter()
        .filter(|ra| {
            matches(&ConfigKey::of(
                &ra.namespace().unwrap_or_default(),
                &ra.spec.provider_config_ref,
            ))
        })
        .map(|ra| ObjectRef::from_obj(ra.as_ref()))
        .collect()
}

/// What should wake the RoleAssignments a provider config serves: a new generation of its
/// spec, or an admin confirming revocations beyond its limit (an annotation).
fn wakes_users<K: kube::Resource>(config: &K) -> u64 {
    let mut h = DefaultHasher::new();
    config.meta().generation.hash(&mut h);
    config
        .annotations()
        .get(ALLOW_REVOCATIONS_ANNOTATION)
        .hash(&mut h);
    h.finish()
}

/// A namespace's labels decide whether ClusterProviderConfigs serve it
/// (`allowedNamespaces`); nothing else about it concerns rolesync.
fn namespace_labels(ns: &PartialObjectMeta<Namespace>) -> u64 {
    let mut h = DefaultHasher::new();
    ns.labels().hash(&mut h);
    h.finish()
}

/// A Secret's content changes with its resourceVersion: a rotation.
fn secret_version(secret: &PartialObjectMeta<Secret>) -> u64 {
    let mut h = DefaultHasher::new();
    secret.resource_version().hash(&mut h);
    h.finish()
}

type WatchItem<K> = Result<K, watcher::Error>;

/// Of a watch's events, the objects whose change should wake the RoleAssignments they
/// concern: not those of the first listing (every RoleAssignment is reconciled for itself
/// then), deletions only where `deletions` says.
fn wakers<K>(
    mut changes: Changes<K>,
    deletions: bool,
) -> impl FnMut(Result<watcher::Event<K>, watcher::Error>) -> futures::future::Ready<Option<WatchItem<K>>>
where
    K: kube::Resource + Clone,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    move |event| {
        futures::future::ready(match event {
            Ok(event) => match changes.observe(&event) {
                Change::Changed(k) => Some(Ok(k.clone())),
                Change::Deleted(k) if deletions => Some(Ok(k.clone())),
                Change::FirstListed(_) | Change::Deleted(_) | Change::Nothing => None,
            },
            Err(e) => Some(Err(e)),
        })
    }
}

/// The claim a RoleAssignment makes, if its spec names a remote assignment at all. Two
/// kinds claim nothing, so as not to keep another from managing the assignment: one its
/// provider config does not allow (it is never sent to the provider; an older resource in a
/// namespace the config does not serve would otherwise block an allowed one), and one whose
/// grant expired and was revoked (the record of an expiry holds nothing; a new grant for
/// the same principal and scope would otherwise be a Conflict for as long as it is kept).
fn claim_of(ra: &RoleAssignment) -> Option<Claim> {
    if reconcile::not_permitted(ra) || reconcile::expired(ra) {
        return None;
    }
    let target = ra.spec.provider.target().ok()?;
    let config = ConfigKey::of(
        &ra.namespace().unwrap_or_default(),
        &ra.spec.provider_config_ref,
    );
    Some(Claim {
        key: claim_key(&config, &target.natural_key),
        created: ra
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(0, |t| t.0.as_second()),
    })
}

/// Keeps the claims index in step with the watch, double-buffering relists so ownership
/// never looks free while a relist is under way.
struct ClaimsTracker {
    claims: Arc<Mutex<Claims>>,
    relisting: Option<Claims>,
    affected: mpsc::UnboundedSender<ObjectRef<RoleAssignment>>,
}

impl ClaimsTracker {
    /// `cached`: the event's object as the cache held it before the event.
    fn observe(&mut self, event: &watcher::Event<RoleAssignment>, cached: Option<&RoleAssignment>) {
        let key = object_key;
        // Only an update or a deletion replaces a claim the index holds.
        let before = || cached.and_then(claim_of);
        let affected = match event {
            watcher::Event::Init => {
                self.relisting = Some(Claims::default());
                Vec::new()
            }
            watcher::Event::InitApply(ra) => {
                // A fresh index, in which the object claims nothing yet.
                if let Some(pending) = self.relisting.as_mut() {
                    pending.set(&key(ra), None, claim_of(ra));
                }
                Vec::new()
            }
            watcher::Event::InitDone => {
                if let Some(pending) = self.relisting.take() {
                    *self.claims.lock().unwrap_or_else(|e| e.into_inner()) = pending;
                }
                Vec::new()
            }
            watcher::Event::Apply(ra) => self.claims.lock().unwrap_or_else(|e| e.into_inner()).set(
                &key(ra),
                before().as_ref(),
                claim_of(ra),
            ),
            watcher::Event::Delete(ra) => self
                .claims
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .set(&key(ra), before().as_ref(), None),
        };
        for object in affected {
            if let Some((ns, name)) = object.split_once('/') {
                let _ = self
                    .affected
                    .unbounded_send(ObjectRef::new(name).within(ns));
            }
        }
    }
}

async fn controller(
    client: kube::Client,
    settings: &Settings,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let ns = settings.namespace.as_deref();
    let watch_config = watcher::Config::default().any_semantic();

    let (pc_store, pc_writer) = reflector::store::<ProviderConfig>();
    let (cpc_store, cpc_writer) = reflector::store::<ClusterProviderConfig>();
    let (ns_store, ns_writer) = reflector::store::<PartialObjectMeta<Namespace>>();
    let (ra_store, mut ra_writer) = reflector::store::<RoleAssignment>();
    metrics.count_readiness_with({
        let store = ra_store.clone();
        move || {
            let all = store.state();
            let ready = all.iter().filter(|ra| reconcile::is_ready(ra)).count();
            (ready, all.len() - ready)
        }
    });

    let claims = Arc::new(Mutex::new(Claims::default()));
    let (affected_tx, affected_rx) = mpsc::unbounded();
    let pacer = resync::Pacer::new(usize::from(settings.concurrency));
    let (paced_tx, paced_rx) = mpsc::unbounded();
    let mut triage = resync::Triage::default();
    let deferring = pacer.clone();
    let gone = pacer.clone();
    let timers = Arc::new(timers::Timers::default());
    let forget = timers.clone();
    let cached = ra_store.clone();
    let mut tracker = ClaimsTracker {
        claims: claims.clone(),
        relisting: None,
        affected: affected_tx,
    };
    let ra_stream = watcher(api_for::<RoleAssignment>(&client, ns), watch_config.clone())
        .default_backoff()
        // managedFields are most of an object's size and rolesync never reads them: the
        // cache of 10,000 RoleAssignments shrinks several times over without them. Nor does
        // it read kubectl's copy of the last applied object, which doubles an object's size.
        // Of the provider's report in status it needs only a digest, of the record of the
        // spec being applied only whether it names the current spec's assignment.
        .modify(|ra| {
            ra.managed_fields_mut().clear();
            ra.annotations_mut().remove(LAST_APPLIED);
            applying::compact(ra);
            if let Some(report) = ra.status.as_mut().and_then(|s| s.at_provider.as_mut()) {
                report.compact();
            }
        })
        // The cache, the claims index and the pacer follow each event in one step: what an
        // event changed is told from the object as the cache held it before, and a
        // reconcile is queued only once the cache shows what it is for. Every reconcile
        // the watch asks for waits in the pacer (see there), none in kube-runtime's queue.
        .filter_map(move |ev| {
            futures::future::ready(match ev {
                Ok(ev) => {
                    let before = match &ev {
                        watcher::Event::Apply(ra)
                        | watcher::Event::InitApply(ra)
                        | watcher::Event::Delete(ra) => cached.get(&ObjectRef::from_obj(ra)),
                        watcher::Event::Init | watcher::Event::InitDone => None,
                    };
                    let lane = triage.route(&ev, before.as_deref());
                    tracker.observe(&ev, before.as_deref());
                    ra_writer.apply_watcher_event(&ev);
                    match (lane, &ev) {
                        (Some((ra, lane)), _) => deferring.defer(&object_key(ra), lane),
                        (None, watcher::Event::Delete(ra)) => forget.set(&object_key(ra), None),
                        (None, _) => {}
                    }
                    None
                }
                Err(e) => Some(Err(e)),
            })
        });

    let resolver = Arc::new(ConfigResolver::new(
        client.clone(),
        (pc_store.clone(), cpc_store.clone()),
        ns_store.clone(),
        settings.secret_policy.clone(),
        metrics.clone(),
    ));
    let ctx = Arc::new(Context {
        writes: Arc::new(writes::ApiWrites {
            client: client.clone(),
            events: events::Publisher::new(client.clone(), "rolesync", &settings.instance),
        }),
        configs: Arc::new(ClusterConfigs {
            resolver: resolver.clone(),
            health: config_status::ConfigHealth::new(
                client.clone(),
                pc_store.clone(),
                cpc_store.clone(),
            ),
            revocations: revocations::RevocationWindows::new(
                client.clone(),
                pc_store.clone(),
                cpc_store.clone(),
            ),
        }),
        claims,
        failures: Default::default(),
        backoff: Backoff::default(),
        default_poll: settings.poll_interval,
        metrics,
    });

    let pc_stream = watcher(api_for::<ProviderConfig>(&client, ns), watch_config.clone())
        .default_backoff()
        .reflect(pc_writer)
        .filter_map(wakers(Changes::new(wakes_users), false));
    let cpc_stream = watcher(
        Api::<ClusterProviderConfig>::all(client.clone()),
        watch_config.clone(),
    )
    .default_backoff()
    .reflect(cpc_writer)
    .filter_map(wakers(Changes::new(wakes_users), false));
    // Namespaces for their labels only (ClusterProviderConfigs' `allowedNamespaces`): their
    // metadata, and with `--namespace` only that one.
    let ns_config = match ns {
        Some(ns) => watch_config.clone().fields(&format!("metadata.name={ns}")),
        None => watch_config.clone(),
    };
    let ns_stream = watcher(
        Api::<PartialObjectMeta<Namespace>>::all(client.clone()),
        ns_config,
    )
    .default_backoff()
    .reflect(ns_writer)
    .filter_map(wakers(Changes::new(namespace_labels), false));
    // Only to notice rotation: metadata (its resourceVersion changes with the data) is
    // enough, and the operator then holds no Secret data it does not use. A config's own
    // Secret is read when its client is built.
    let secret_stream = watcher(
        Api::<PartialObjectMeta<Secret>>::all(client.clone()),
        watch_config.clone(),
    )
    .default_backoff()
    .filter_map(wakers(Changes::new(secret_version), true));

    let by_pc = ra_store.clone();
    let by_cpc = ra_store.clone();
    let by_secret = ra_store.clone();
    let by_namespace = ra_store.clone();
    let secret_resolver = resolver.clone();
    let (pc_for_secret, cpc_for_secret) = (pc_store.clone(), cpc_store.clone());
    let operator_ns = settings.secret_policy.operator_namespace.clone();

    // One watcher of the caches serves both /readyz and the reconciles, which must
    // not resolve provider configs before their caches are filled. It checks on its own
    // rather than waiting on the stores' futures, so readiness never depends on a first
    // RoleAssignment arriving to drive the controller.
    let (synced_tx, synced) = tokio::sync::watch::channel(false);
    let _readiness = {
        let (ras, pcs, cpcs, namespaces) = (
            ra_store.clone(),
            pc_store.clone(),
            cpc_store.clone(),
            ns_store.clone(),
        );
        let ready = ready.clone();
        tokio::spawn(async move {
            let filled = || {
                ras.wait_until_ready().now_or_never().is_some()
                    && pcs.wait_until_ready().now_or_never().is_some()
                    && cpcs.wait_until_ready().now_or_never().is_some()
                    && namespaces.wait_until_ready().now_or_never().is_some()
            };
            while !filled() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            ready.store(true, Ordering::Relaxed);
            let _ = synced_tx.send(true);
            info!("caches synced; reconciling");
        })
    };

    let pacing = tokio::spawn(
        pacer
            .clone()
            .run(ra_store.clone(), synced.clone(), paced_tx),
    );
    let waking = tokio::spawn(timers.clone().run(ra_store.clone(), pacer.clone()));
    let config_inventory = config_inventory::ConfigInventory {
        kube: client.clone(),
        resolver: resolver.clone(),
        configs: pc_store.clone(),
        cluster_configs: cpc_store.clone(),
        role_assignments: ra_store.clone(),
        metrics: ctx.metrics.clone(),
        events: events::Publisher::new(client.clone(), "rolesync", &settings.instance),
        cluster_events_namespace: ns.unwrap_or("default").to_owned(),
        poll_interval: settings.poll_interval,
    };
    let mut inventory_synced = synced.clone();
    let inventories = async move {
        let _ = inventory_synced.wait_for(|s| *s).await;
        config_inventory.run().await;
    };

    let reconciles = Controller::for_stream(ra_stream, ra_store)
        .with_config(ControllerConfig::default().concurrency(settings.concurrency))
        .watches_stream(pc_stream, move |pc: ProviderConfig| {
            let ns = pc.namespace().unwrap_or_default();
            let r = crate::api::ProviderConfigRef {
                kind: ConfigKind::ProviderConfig,
                name: pc.name_any(),
            };
            let key = ConfigKey::of(&ns, &r);
            referencing(&by_pc, |k| *k == key)
        })
        .watches_stream(cpc_stream, move |cpc: ClusterProviderConfig| {
            let r = crate::api::ProviderConfigRef {
                kind: ConfigKind::ClusterProviderConfig,
                name: cpc.name_any(),
            };
            let key = ConfigKey::of("", &r);
            referencing(&by_cpc, |k| *k == key)
        })
        .watches_stream(secret_stream, move |secret: PartialObjectMeta<Secret>| {
            let (sns, sname) = (secret.namespace().unwrap_or_default(), secret.name_any());
            secret_resolver.secret_changed(&sns, &sname);
            let mut keys = Vec::new();
            for pc in pc_for_secret.state() {
                if pc.namespace().as_deref() == Some(sns.as_str())
                    && pc.spec.credentials.secret_ref.name == sname
                {
                    let r = crate::api::ProviderConfigRef {
                        kind: ConfigKind::ProviderConfig,
                        name: pc.name_any(),
                    };
                    keys.push(ConfigKey::of(&sns, &r));
                }
            }
            for cpc in cpc_for_secret.state() {
                let sr = &cpc.spec.credentials.secret_ref;
                if sr.namespace.as_deref().unwrap_or(&operator_ns) == sns && sr.name == sname {
                    let r = crate::api::ProviderConfigRef {
                        kind: ConfigKind::ClusterProviderConfig,
                        name: cpc.name_any(),
                    };
                    keys.push(ConfigKey::of("", &r));
                }
            }
            if keys.is_empty() {
                return Vec::new();
            }
            referencing(&by_secret, |k| keys.contains(k))
        })
        .watches_stream(ns_stream, move |ns: PartialObjectMeta<Namespace>| {
            let name = ns.name_any();
            by_namespace
                .state()
                .iter()
                .filter(|ra| ra.namespace().as_deref() == Some(name.as_str()))
                .map(|ra| ObjectRef::from_obj(ra.as_ref()))
                .collect::<Vec<_>>()
        })
        .reconcile_on(affected_rx)
        .reconcile_on(paced_rx)
        .graceful_shutdown_on(shutdown)
        .run(
            move |ra, ctx: Arc<Context>| {
                let mut synced = synced.clone();
                let pacer = pacer.clone();
                let timers = timers.clone();
                async move {
                    // The sender lives as long as the readiness task, which ends only synced.
                    let _ = synced.wait_for(|s| *s).await;
                    let key = object_key(&ra);
                    let result = reconcile::reconcile(ra, ctx).await;
                    pacer.finished(&key);
                    // The next look without a change is kept by `timers`, not by
                    // kube-runtime's scheduler (see there); a failure's retry still is.
                    result.map(|next| {
                        timers.set_after(&key, next);
                        Action::await_change()
                    })
                }
            },
            |ra, err: &reconcile::Error, ctx: Arc<Context>| {
                let key = object_key(&ra);
                error!(object = %key, error = %err, "reconcile failed");
                ctx.metrics.reconcile_failed(err.reason());
                Action::requeue(ctx.backoff.delay(ctx.failures.fail(&key), rand::random()))
            },
            ctx,
        )
        .for_each(move |result| {
            // A release whose object was deleted meanwhile reaches no reconcile.
            if let Err(kube::runtime::controller::Error::ObjectNotFound(object)) = result {
                let namespace = object.namespace.as_deref().unwrap_or_default();
                gone.finished(&format!("{namespace}/{}", object.name));
            }
            futures::future::ready(())
        });
    // The inventory runs as long as the reconciles (it never ends by itself): on this
    // replica only while it leads, and not past shutdown.
    tokio::select! {
        () = reconciles => {}
        () = inventories => {}
    }
    pacing.abort();
    waking.abort();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Condition, ConditionStatus, RoleAssignmentStatus};

    #[test]
    fn a_resource_outside_its_config_s_guardrails_claims_nothing() {
        let mut ra = fakes::role_assignment(
            "a",
            serde_json::json!({"providerConfigRef": {"name": "p"},
                "gcore": {"userId": 7, "role": "Observer", "clientId": 8}}),
        );
        assert!(claim_of(&ra).is_some());
        let synced = |reason: &str| Condition {
            type_: "Synced".into(),
            status: ConditionStatus::False,
            reason: reason.into(),
            message: String::new(),
            last_transition_time: "2026-05-01T09:00:00Z".into(),
            observed_generation: Some(1),
        };
        ra.status = Some(RoleAssignmentStatus {
            conditions: vec![synced("ProviderUnavailable")],
            ..Default::default()
        });
        assert!(claim_of(&ra).is_some(), "a failing resource still claims");
        ra.status = Some(RoleAssignmentStatus {
            conditions: vec![synced("NotPermitted")],
            ..Default::default()
        });
        assert_eq!(claim_of(&ra), None);
    }

    #[test]
    fn the_record_of_an_expiry_claims_nothing() {
        let mut ra = fakes::role_assignment(
            "a",
            serde_json::json!({"providerConfigRef": {"name": "p"},
                "expiresAt": "2026-05-01T09:00:00Z",
                "gcore": {"userId": 7, "role": "Observer", "clientId": 8}}),
        );
        let ready = |reason: &str, external_id: Option<&str>| RoleAssignmentStatus {
            external_id: external_id.map(str::to_owned),
            conditions: vec![Condition {
                type_: "Ready".into(),
                status: ConditionStatus::False,
                reason: reason.into(),
                message: String::new(),
                last_transition_time: "2026-05-01T09:00:00Z".into(),
                observed_generation: Some(1),
            }],
            ..Default::default()
        };
        ra.status = Some(ready("Creating", None));
        assert!(
            claim_of(&ra).is_some(),
            "not expired yet as far as status says"
        );
        ra.status = Some(ready("Expired", Some("7")));
        assert!(
            claim_of(&ra).is_some(),
            "expired but kept (no Delete policy): it still holds the assignment"
        );
        ra.status = Some(ready("Expired", None));
        assert_eq!(claim_of(&ra), None);
    }
}
