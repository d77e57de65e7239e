//! In-memory stand-ins for what a reconcile talks to — a provider, the provider configs and
//! the Kubernetes writes — so the reconcile logic runs in unit tests without a server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::future::BoxFuture;
use kube::ResourceExt;
use serde_json::json;

use super::backoff::Backoff;
use super::claims::Claim;
use super::config_status::Verdict;
use super::configs::{ConfigError, ConfigKey, Configs, Resolved};
use super::events::Event;
use super::guardrails::Guard;
use super::reconcile::{Context, claim_key};
use super::revocations::{Reservation, RevocationLimit, Window};
use super::writes::Writes;
use crate::api::{APPLYING_ANNOTATION, FINALIZER, ProviderConfigRef, RoleAssignment};
use crate::api::{RoleAssignmentSpec, RoleAssignmentStatus};
use crate::metrics::Metrics;
use crate::providers::{
    Connection, Deletion, Desired, Difference, ExternalId, Freshness, Observed, ProviderError,
    ProviderKind, RemoteGrant,
};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One remote assignment of the fake provider.
#[derive(Clone, Debug, PartialEq)]
pub struct Remote {
    pub id: String,
    /// The natural key of what it grants ([`crate::providers::Grant::natural_key`]).
    pub key: String,
    /// The whole grant: an assignment is up to date when this equals the wanted one.
    pub grant: Desired,
}

/// A provider operation, as the fake saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Observe,
    ObserveFresh,
    Create,
    Update,
    Delete,
}

/// A provider in memory that behaves as the [`Desired`] it is given would at its provider:
/// one assignment per natural key, updated in place or not, refusing duplicates or not.
pub struct FakeProvider {
    pub kind: ProviderKind,
    pub in_place: bool,
    pub idempotent_create: bool,
    remote: Mutex<Vec<Remote>>,
    calls: Mutex<Vec<Op>>,
    failures: Mutex<Vec<(Op, ProviderError)>>,
    next_id: AtomicU64,
    /// Cached observations miss everything granted so far (the list predates them); fresh
    /// ones see it, and the first fresh one refreshes the cache.
    stale_cache: Mutex<bool>,
    /// Observations name the role (`<role> (named)`), as ZenML's do.
    names_roles: Mutex<bool>,
}

fn key_of(want: &Desired) -> String {
    want.grant().natural_key()
}

impl FakeProvider {
    pub fn new(kind: ProviderKind, in_place: bool, idempotent_create: bool) -> Self {
        Self {
            kind,
            in_place,
            idempotent_create,
            remote: Mutex::default(),
            calls: Mutex::default(),
            failures: Mutex::default(),
            next_id: AtomicU64::new(1),
            stale_cache: Mutex::default(),
            names_roles: Mutex::default(),
        }
    }

    pub fn set_names_roles(&self, names: bool) {
        *lock(&self.names_roles) = names;
    }

    pub fn set_stale_cache(&self, stale: bool) {
        *lock(&self.stale_cache) = stale;
    }

    /// Makes an assignment exist remotely (someone granted it); returns its id.
    pub fn grant(&self, grant: Desired) -> String {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst).to_string();
        lock(&self.remote).push(Remote {
            id: id.clone(),
            key: key_of(&grant),
            grant,
        });
        id
    }

    /// Someone else changes what every assignment grants to `grant`, keeping their ids.
    pub fn regrant_all(&self, grant: Desired) {
        for remote in lock(&self.remote).iter_mut() {
            remote.grant = grant.clone();
        }
    }

    /// Someone else removes every assignment.
    pub fn remove_all(&self) {
        lock(&self.remote).clear();
    }

    pub fn remote(&self) -> Vec<Remote> {
        lock(&self.remote).clone()
    }

    pub fn calls(&self) -> Vec<Op> {
        lock(&self.calls).clone()
    }

    /// Every call of `op` fails with `error` from now on.
    pub fn fail(&self, op: Op, error: ProviderError) {
        lock(&self.failures).push((op, error));
    }

    pub fn forget_calls(&self) {
        lock(&self.calls).clear();
    }

    fn call(&self, op: Op) -> Result<(), ProviderError> {
        lock(&self.calls).push(op);
        match lock(&self.failures).iter().find(|(o, _)| *o == op) {
            Some((_, e)) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn observed(&self, remote: &Remote, want: &Desired) -> Observed {
        let role = remote.grant.grant().role();
        Observed {
            external_id: ExternalId::new(remote.id.clone()),
            at_provider: json!({"id": remote.id, "role": role}),
            differences: if remote.grant == *want {
                Vec::new()
            } else {
                vec![Difference::new("role", &role, want.grant().role())]
            },
            role_name: lock(&self.names_roles).then(|| format!("{role} (named)")),
        }
    }
}

fn ready<T: Send + 'static>(
    result: Result<T, ProviderError>,
) -> BoxFuture<'static, Result<T, ProviderError>> {
    Box::pin(async move { result })
}

impl Connection for FakeProvider {
    fn kind(&self) -> ProviderKind {
        self.kind
    }

    fn updates_in_place(&self) -> bool {
        self.in_place
    }

    fn create_is_idempotent(&self) -> bool {
        self.idempotent_create
    }

    fn observe<'a>(
        &'a self,
        want: &'a Desired,
        known: Option<&'a ExternalId>,
        freshness: Freshness,
    ) -> BoxFuture<'a, Result<Option<Observed>, ProviderError>> {
        let op = if freshness.max_age == Duration::ZERO {
            Op::ObserveFresh
        } else {
            Op::Observe
        };
        let mut stale = lock(&self.stale_cache);
        if op == Op::ObserveFresh {
            *stale = false;
        }
        let blind = *stale;
        drop(stale);
        let result = self.call(op).map(|()| {
            if blind {
                return None;
            }
            let remote = lock(&self.remote);
            let key = key_of(want);
            known
                .and_then(|id| remote.iter().find(|r| r.id == id.as_str()))
                .or_else(|| {
                    // A full match first: others may have made look-alikes.
                    let same_key = || remote.iter().filter(|r| r.key == key);
                    same_key()
                        .find(|r| r.grant == *want)
                        .or_else(|| same_key().next())
                })
                .map(|r| self.observed(r, want))
        });
        ready(result)
    }

    fn create<'a>(&'a self, want: &'a Desired) -> BoxFuture<'a, Result<Observed, ProviderError>> {
        let result = self.call(Op::Create).map(|()| {
            let existing = lock(&self.remote)
                .iter()
                .find(|r| self.idempotent_create && r.grant == *want)
                .cloned();
            let remote = existing.unwrap_or_else(|| {
                let id = self.grant(want.clone());
                Remote {
                    id,
                    key: key_of(want),
                    grant: want.clone(),
                }
            });
            self.observed(&remote, want)
        });
        ready(result)
    }

    fn update<'a>(
        &'a self,
        have: &'a ExternalId,
        want: &'a Desired,
    ) -> BoxFuture<'a, Result<Observed, ProviderError>> {
        let result = self.call(Op::Update).and_then(|()| {
            let mut remote = lock(&self.remote);
            let found = remote
                .iter_mut()
                .find(|r| r.id == have.as_str())
                .ok_or_else(|| ProviderError::NotFound {
                    status: 404,
                    message: format!("no assignment {have}"),
                })?;
            found.grant = want.clone();
            Ok(self.observed(found, want))
        });
        ready(result)
    }

    fn delete<'a>(
        &'a self,
        have: &'a ExternalId,
        _want: &'a Desired,
    ) -> BoxFuture<'a, Result<Deletion, ProviderError>> {
        let result = self.call(Op::Delete).map(|()| {
            let mut remote = lock(&self.remote);
            match remote.iter().position(|r| r.id == have.as_str()) {
                Some(i) => {
                    remote.remove(i);
                    Deletion::Deleted
                }
                None => Deletion::AlreadyGone,
            }
        });
        ready(result)
    }

    /// A reconcile never lists the inventory: the fake lists nothing.
    fn inventory(
        &self,
        _freshness: Freshness,
    ) -> BoxFuture<'_, Result<Vec<RemoteGrant>, ProviderError>> {
        ready(Ok(Vec::new()))
    }
}

/// The provider configs: every reference resolves to one fake provider with `guard`, unless
/// told to fail; revocations under a limit share one window on the real clock.
pub struct FakeConfigs {
    pub provider: Arc<FakeProvider>,
    pub refuse: Mutex<Option<ConfigError>>,
    pub verdicts: Mutex<Vec<Verdict>>,
    pub guard: Mutex<Guard>,
    pub revocations: Mutex<Window>,
}

impl Configs for FakeConfigs {
    fn resolve<'a>(
        &'a self,
        ra_namespace: &'a str,
        r: &'a ProviderConfigRef,
        _wanted: ProviderKind,
    ) -> BoxFuture<'a, Result<Resolved, ConfigError>> {
        let result = match lock(&self.refuse).take() {
            Some(e) => Err(e),
            None => Ok(Resolved {
                config: ConfigKey::of(ra_namespace, r),
                client: self.provider.clone(),
                guard: lock(&self.guard).clone(),
            }),
        };
        Box::pin(async move { result })
    }

    fn report<'a>(
        &'a self,
        _ra_namespace: &'a str,
        _r: &'a ProviderConfigRef,
        verdict: Verdict,
    ) -> BoxFuture<'a, ()> {
        lock(&self.verdicts).push(verdict);
        Box::pin(async {})
    }

    fn reserve_revocation<'a>(
        &'a self,
        _ra_namespace: &'a str,
        _r: &'a ProviderConfigRef,
        limit: RevocationLimit,
    ) -> BoxFuture<'a, Result<Reservation, kube::Error>> {
        let reservation = lock(&self.revocations).reserve(jiff::Timestamp::now(), limit);
        Box::pin(async move { Ok(reservation) })
    }
}

/// A write a reconcile made, as the fake API server saw it.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    Finalizer { present: bool, record: bool },
    Applying,
    Status,
    Event(Event),
}

/// Records every write and applies it to the object, as the API server and the watch that
/// hands the object to the next reconcile would.
pub struct FakeWrites {
    pub object: Mutex<RoleAssignment>,
    pub log: Mutex<Vec<Write>>,
}

impl FakeWrites {
    fn write(
        &self,
        write: Write,
        change: impl FnOnce(&mut RoleAssignment),
    ) -> Result<(), kube::Error> {
        lock(&self.log).push(write);
        let mut object = lock(&self.object);
        change(&mut object);
        let version = object
            .resource_version()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        object.metadata.resource_version = Some((version + 1).to_string());
        Ok(())
    }

    fn record(object: &mut RoleAssignment, spec: &RoleAssignmentSpec) {
        if let Ok(value) = serde_json::to_string(spec) {
            object
                .annotations_mut()
                .insert(APPLYING_ANNOTATION.to_owned(), value);
        }
    }
}

impl Writes for FakeWrites {
    fn set_finalizer<'a>(
        &'a self,
        ra: &'a RoleAssignment,
        present: bool,
        record: bool,
    ) -> BoxFuture<'a, Result<(), kube::Error>> {
        let result = self.write(Write::Finalizer { present, record }, |o| {
            o.finalizers_mut().retain(|f| f != FINALIZER);
            if present {
                o.finalizers_mut().push(FINALIZER.to_owned());
            }
            if record {
                Self::record(o, &ra.spec);
            }
        });
        Box::pin(async move { result })
    }

    fn record_applying<'a>(
        &'a self,
        ra: &'a RoleAssignment,
    ) -> BoxFuture<'a, Result<(), kube::Error>> {
        let result = self.write(Write::Applying, |o| Self::record(o, &ra.spec));
        Box::pin(async move { result })
    }

    fn write_status<'a>(
        &'a self,
        _ra: &'a RoleAssignment,
        status: &'a RoleAssignmentStatus,
    ) -> BoxFuture<'a, Result<(), kube::Error>> {
        let result = self.write(Write::Status, |o| o.status = Some(status.clone()));
        Box::pin(async move { result })
    }

    fn publish<'a>(
        &'a self,
        _ra: &'a RoleAssignment,
        event: Event,
    ) -> BoxFuture<'a, Result<(), kube::Error>> {
        lock(&self.log).push(Write::Event(event));
        Box::pin(async { Ok(()) })
    }
}

/// A reconcile's whole world: one RoleAssignment, its writes, the provider and the claims.
pub struct World {
    pub provider: Arc<FakeProvider>,
    pub configs: Arc<FakeConfigs>,
    pub writes: Arc<FakeWrites>,
    pub ctx: Arc<Context>,
}

impl World {
    pub fn new(ra: RoleAssignment, provider: FakeProvider) -> Self {
        let provider = Arc::new(provider);
        let configs = Arc::new(FakeConfigs {
            provider: provider.clone(),
            refuse: Mutex::default(),
            verdicts: Mutex::default(),
            guard: Mutex::new(Guard {
                config: "ClusterProviderConfig/cfg".to_owned(),
                ..Guard::default()
            }),
            revocations: Mutex::default(),
        });
        let writes = Arc::new(FakeWrites {
            object: Mutex::new(ra),
            log: Mutex::default(),
        });
        let ctx = Arc::new(Context {
            writes: writes.clone(),
            configs: configs.clone(),
            claims: Arc::default(),
            failures: Default::default(),
            backoff: Backoff::default(),
            default_poll: Duration::from_secs(600),
            metrics: Arc::new(Metrics::default()),
        });
        Self {
            provider,
            configs,
            writes,
            ctx,
        }
    }

    /// Sets what the provider config allows (and its revocation limit).
    pub fn guard(&self, change: impl FnOnce(&mut Guard)) {
        change(&mut lock(&self.configs.guard));
    }

    pub fn object(&self) -> RoleAssignment {
        lock(&self.writes.object).clone()
    }

    /// Changes the object as a user would (a new generation when the spec changes).
    pub fn edit(&self, change: impl FnOnce(&mut RoleAssignment)) {
        let mut object = lock(&self.writes.object);
        let before = object.spec.clone();
        change(&mut object);
        if object.spec != before {
            object.metadata.generation = Some(object.metadata.generation.unwrap_or(1) + 1);
        }
    }

    /// Records that `claimant` (namespace/name) claims what `ra` asks for, created at `created`.
    pub fn claim(&self, claimant: &str, ra: &RoleAssignment, created: i64) {
        let Ok(target) = ra.spec.provider.target() else {
            return;
        };
        let config = ConfigKey::of(
            &ra.namespace().unwrap_or_default(),
            &ra.spec.provider_config_ref,
        );
        lock(&self.ctx.claims).set(
            claimant,
            None,
            Some(Claim {
                key: claim_key(&config, &target.natural_key),
                created,
            }),
        );
    }

    /// One reconcile of the object as it is now.
    pub async fn reconcile(&self) -> Result<Option<std::time::Duration>, super::reconcile::Error> {
        super::reconcile::reconcile(Arc::new(self.object()), self.ctx.clone()).await
    }

    /// Reconciles until a pass writes nothing (as the watch would re-trigger on each write).
    pub async fn settle(&self) {
        for _ in 0..10 {
            let before = lock(&self.writes.log).len();
            let _ = self.reconcile().await;
            if lock(&self.writes.log).len() == before {
                return;
            }
        }
        panic!("never settled: {:#?}", lock(&self.writes.log));
    }

    /// Marks the object deleted, as `kubectl delete` does while finalizers remain.
    pub fn delete(&self) {
        lock(&self.writes.object).metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()),
        );
    }

    pub fn writes(&self) -> Vec<Write> {
        lock(&self.writes.log).clone()
    }

    pub fn events(&self) -> Vec<Event> {
        self.writes()
            .into_iter()
            .filter_map(|w| match w {
                Write::Event(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    /// Forgets what was logged so far (provider calls and writes).
    pub fn forget(&self) {
        lock(&self.writes.log).clear();
        self.provider.forget_calls();
    }

    /// `(status, message)` of condition `type_`.
    pub fn condition_message(&self, type_: &str) -> Option<(String, String)> {
        self.object()
            .status?
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .map(|c| (format!("{:?}", c.status), c.message.clone()))
    }

    /// `(status, reason)` of condition `type_`.
    pub fn condition(&self, type_: &str) -> Option<(String, String)> {
        self.object()
            .status?
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .map(|c| (format!("{:?}", c.status), c.reason.clone()))
    }
}

/// A RoleAssignment `ns/name` with this spec (JSON), generation 1, created now.
pub fn role_assignment(name: &str, spec: serde_json::Value) -> RoleAssignment {
    let mut ra: RoleAssignment = serde_json::from_value(json!({
        "apiVersion": "rolesync.dev/v1alpha1",
        "kind": "RoleAssignment",
        "metadata": {"name": name, "namespace": "team-a", "generation": 1, "resourceVersion": "1"},
        "spec": spec,
    }))
    .unwrap_or_else(|e| panic!("a valid RoleAssignment: {e}"));
    ra.metadata.uid = Some(format!("uid-{name}"));
    ra
}
