//! Which watch events need a reconcile at once, and pacing for the rest. When the operator
//! starts (or a new leader takes over) every object arrives in one listing; reconciling
//! them all at once would queue a RoleAssignment applied at that moment behind thousands of
//! objects that only need a routine resync. So a RoleAssignment that status shows settled
//! is resynced by a [`Pacer`], which lets such resyncs fill at most half of the workers;
//! new, changed and unsettled ones go ahead. The first listing of provider configs,
//! Secrets and namespaces wakes nothing: each RoleAssignment arrives for itself then.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::channel::mpsc;
use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::conditions::{self, READY, SYNCED};
use crate::api::{ConditionStatus, RoleAssignment};

/// A paced resync that has not finished by then (its object vanished from the cache, say)
/// no longer holds a worker's share.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether status shows `ra` settled: its current generation applied and both conditions
/// True, nothing being deleted, and no instant (notBefore, expiresAt) to keep.
pub fn is_settled(ra: &RoleAssignment) -> bool {
    let Some(status) = ra.status.as_ref() else {
        return false;
    };
    let holds = |type_| {
        conditions::find(&status.conditions, type_).is_some_and(|c| {
            c.status == ConditionStatus::True && c.observed_generation == ra.metadata.generation
        })
    };
    ra.metadata.deletion_timestamp.is_none()
        && ra.spec.not_before.is_none()
        && ra.spec.expires_at.is_none()
        && status.observed_generation == ra.metadata.generation
        && holds(READY)
        && holds(SYNCED)
}

/// What, besides a new generation, should wake a reconcile: annotations (poll interval,
/// pause), finalizers and deletion. Status changes, mostly rolesync's own writes, do not.
fn wakes_reconcile(ra: &RoleAssignment) -> u64 {
    let mut h = DefaultHasher::new();
    ra.metadata.generation.hash(&mut h);
    ra.metadata.annotations.hash(&mut h);
    ra.metadata.finalizers.hash(&mut h);
    ra.metadata
        .deletion_timestamp
        .as_ref()
        .map(|t| t.0)
        .hash(&mut h);
    h.finish()
}

/// What one watch event changed of what wakes a reconcile (a digest of it per object).
#[derive(Debug, PartialEq)]
pub enum Change<'a, K> {
    /// First seen in the operator's first listing: everything arrives so at start, and
    /// each RoleAssignment is reconciled (or paced) for itself then.
    FirstListed(&'a K),
    /// New, or changed where it matters.
    Changed(&'a K),
    Deleted(&'a K),
    Nothing,
}

/// Tells the changes in a watch's events from the repeats: a relist, or an update of
/// something no reconcile reads (status, mostly rolesync's own writes).
pub struct Changes<K: Resource> {
    digest: fn(&K) -> u64,
    seen: HashMap<ObjectRef<K>, u64>,
    /// The first listing is complete: an object first seen in a later relist was made
    /// while the watch was down, a change like any other.
    listed: bool,
}

impl<K> Changes<K>
where
    K: Resource,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    pub fn new(digest: fn(&K) -> u64) -> Self {
        Self {
            digest,
            seen: HashMap::new(),
            listed: false,
        }
    }

    pub fn observe<'a>(&mut self, event: &'a watcher::Event<K>) -> Change<'a, K> {
        match event {
            watcher::Event::InitApply(k) | watcher::Event::Apply(k) => {
                let digest = (self.digest)(k);
                match self.seen.insert(ObjectRef::from_obj(k), digest) {
                    Some(before) if before == digest => Change::Nothing,
                    None if !self.listed && matches!(event, watcher::Event::InitApply(_)) => {
                        Change::FirstListed(k)
                    }
                    _ => Change::Changed(k),
                }
            }
            watcher::Event::Delete(k) => {
                self.seen.remove(&ObjectRef::from_obj(k));
                Change::Deleted(k)
            }
            watcher::Event::InitDone => {
                self.listed = true;
                Change::Nothing
            }
            watcher::Event::Init => Change::Nothing,
        }
    }
}

/// Sorts the RoleAssignment watch's events: what to reconcile now, what to leave to the
/// [`Pacer`], and what changed nothing a reconcile acts on.
pub struct Triage(Changes<RoleAssignment>);

impl Default for Triage {
    fn default() -> Self {
        Self(Changes::new(wakes_reconcile))
    }
}

/// Where one watch event goes.
#[derive(Debug, PartialEq)]
pub enum Route {
    Now(ObjectRef<RoleAssignment>),
    Paced(ObjectRef<RoleAssignment>),
    Nothing,
}

impl Triage {
    pub fn route(&mut self, event: &watcher::Event<RoleAssignment>) -> Route {
        match self.0.observe(event) {
            // Only the first listing's objects are paced: the cache shows a relist's new
            // ones only once it completes, too late for the pacer to find them.
            Change::FirstListed(ra) if is_settled(ra) => Route::Paced(ObjectRef::from_obj(ra)),
            Change::FirstListed(ra) | Change::Changed(ra) => Route::Now(ObjectRef::from_obj(ra)),
            Change::Deleted(_) | Change::Nothing => Route::Nothing,
        }
    }
}

/// Releases paced resyncs to the controller while fewer than `share` of them are under
/// way, oldest first.
pub struct Pacer {
    share: usize,
    state: Mutex<PacerState>,
    changed: Notify,
}

#[derive(Default)]
struct PacerState {
    waiting: VecDeque<ObjectRef<RoleAssignment>>,
    queued: HashSet<ObjectRef<RoleAssignment>>,
    released: HashMap<ObjectRef<RoleAssignment>, Instant>,
}

impl Pacer {
    /// `workers`: how many reconciles run at once. Paced resyncs take at most half of
    /// them, so new and changed objects always find a free one.
    pub fn new(workers: usize) -> Arc<Self> {
        Arc::new(Self {
            share: (workers / 2).max(1),
            state: Mutex::default(),
            changed: Notify::new(),
        })
    }

    fn state(&self) -> MutexGuard<'_, PacerState> {
        // The state is a queue and a set: still consistent after a panic elsewhere.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn defer(&self, object: ObjectRef<RoleAssignment>) {
        let mut state = self.state();
        if state.queued.insert(object.clone()) {
            state.waiting.push_back(object);
        }
        drop(state);
        self.changed.notify_one();
    }

    /// A reconcile of `object` finished; if it was a paced one, its share is free again.
    pub fn finished(&self, object: &ObjectRef<RoleAssignment>) {
        if self.state().released.remove(object).is_some() {
            self.changed.notify_one();
        }
    }

    /// The next object to resync, if one waits and a share is free; `None` also says how
    /// long until a share frees by timeout, so the caller knows when to look again.
    fn next(
        &self,
        now: Instant,
        exists: impl Fn(&ObjectRef<RoleAssignment>) -> bool,
    ) -> Option<ObjectRef<RoleAssignment>> {
        let mut state = self.state();
        state
            .released
            .retain(|_, at| now.duration_since(*at) < RELEASE_TIMEOUT);
        while state.released.len() < self.share {
            let object = state.waiting.pop_front()?;
            state.queued.remove(&object);
            if exists(&object) {
                state.released.insert(object.clone(), now);
                return Some(object);
            }
        }
        None
    }

    /// Feeds paced resyncs of objects still in `store` to `to` until it closes, once
    /// `synced` says the caches are filled.
    pub async fn run(
        self: Arc<Self>,
        store: Store<RoleAssignment>,
        mut synced: tokio::sync::watch::Receiver<bool>,
        to: mpsc::UnboundedSender<ObjectRef<RoleAssignment>>,
    ) {
        // The cache shows the first listing only once it is complete (`synced`); the
        // controller skips a resync of an object its cache does not show.
        if synced.wait_for(|s| *s).await.is_err() {
            return;
        }
        loop {
            let notified = self.changed.notified();
            while let Some(object) = self.next(Instant::now(), |o| store.get(o).is_some()) {
                if to.unbounded_send(object).is_err() {
                    return;
                }
            }
            // Woken by a new object or a finished resync; the timeout frees stuck shares.
            let _ = tokio::time::timeout(RELEASE_TIMEOUT, notified).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Condition, RoleAssignmentStatus};
    use crate::controller::fakes::role_assignment;

    fn condition(type_: &str, status: ConditionStatus, generation: i64) -> Condition {
        Condition {
            type_: type_.into(),
            status,
            reason: "Available".into(),
            message: String::new(),
            last_transition_time: "2026-05-01T09:00:00Z".into(),
            observed_generation: Some(generation),
        }
    }

    fn settled(name: &str) -> RoleAssignment {
        let mut ra = role_assignment(
            name,
            serde_json::json!({"providerConfigRef": {"name": "p"},
                "gcore": {"userId": 7, "role": "Observer", "clientId": 8}}),
        );
        ra.metadata.generation = Some(1);
        ra.status = Some(RoleAssignmentStatus {
            observed_generation: Some(1),
            conditions: vec![
                condition(READY, ConditionStatus::True, 1),
                condition(SYNCED, ConditionStatus::True, 1),
            ],
            ..Default::default()
        });
        ra
    }

    /// Why, what makes the resource so, and whether it is then settled.
    type SettledCase = (&'static str, fn(&mut RoleAssignment), bool);

    #[test]
    fn only_a_settled_resource_waits_for_a_routine_resync() {
        let cases: Vec<SettledCase> = vec![
            ("applied and both conditions True", |_| {}, true),
            (
                "a new generation is not applied yet",
                |ra| ra.metadata.generation = Some(2),
                false,
            ),
            ("never reconciled", |ra| ra.status = None, false),
            (
                "the last reconcile failed",
                |ra| {
                    if let Some(s) = ra.status.as_mut() {
                        s.conditions[1] = condition(SYNCED, ConditionStatus::False, 1);
                    }
                },
                false,
            ),
            (
                "being deleted",
                |ra| {
                    ra.metadata.deletion_timestamp =
                        serde_json::from_value(serde_json::json!("2026-05-01T09:00:00Z")).ok();
                },
                false,
            ),
            (
                "an expiry must be kept on time",
                |ra| ra.spec.expires_at = Some("2030-01-01T00:00:00Z".into()),
                false,
            ),
            (
                "a start must be kept on time",
                |ra| ra.spec.not_before = Some("2030-01-01T00:00:00Z".into()),
                false,
            ),
        ];
        for (why, change, want) in cases {
            let mut ra = settled("a");
            change(&mut ra);
            assert_eq!(is_settled(&ra), want, "{why}");
        }
    }

    #[test]
    fn listed_settled_objects_are_paced_and_everything_else_goes_now() {
        let mut triage = Triage::default();
        let settled_one = settled("old");
        let mut unsettled = settled("failing");
        unsettled.status = None;
        let a = ObjectRef::from_obj(&settled_one);
        let b = ObjectRef::from_obj(&unsettled);
        assert_eq!(
            triage.route(&watcher::Event::InitApply(settled_one.clone())),
            Route::Paced(a.clone())
        );
        assert_eq!(
            triage.route(&watcher::Event::InitApply(unsettled)),
            Route::Now(b)
        );
        assert_eq!(
            triage.route(&watcher::Event::Apply(settled_one.clone())),
            Route::Nothing,
            "a status write by rolesync wakes nothing"
        );
        assert_eq!(
            triage.route(&watcher::Event::InitApply(settled_one.clone())),
            Route::Nothing,
            "a relist of what is known wakes nothing"
        );
        let mut changed = settled_one.clone();
        changed.metadata.generation = Some(2);
        assert_eq!(
            triage.route(&watcher::Event::Apply(changed)),
            Route::Now(a.clone())
        );
        let new = settled("new");
        assert_eq!(
            triage.route(&watcher::Event::Apply(new.clone())),
            Route::Now(ObjectRef::from_obj(&new)),
            "an object created while the operator runs goes now, settled or not"
        );
        triage.route(&watcher::Event::Delete(settled_one.clone()));
        assert_eq!(
            triage.route(&watcher::Event::InitApply(settled_one.clone())),
            Route::Paced(a.clone()),
            "a deleted object is forgotten"
        );
        triage.route(&watcher::Event::InitDone);
        triage.route(&watcher::Event::Delete(settled_one.clone()));
        triage.route(&watcher::Event::Init);
        assert_eq!(
            triage.route(&watcher::Event::InitApply(settled_one)),
            Route::Now(a),
            "an object first seen in a relist goes now: the pacer could not find it yet"
        );
    }

    #[tokio::test]
    async fn the_pacer_releases_what_the_cache_shows_once_it_is_synced() {
        use futures::StreamExt;
        let (store, mut writer) = kube::runtime::reflector::store::<RoleAssignment>();
        let pacer = Pacer::new(4);
        let (tx, mut rx) = mpsc::unbounded();
        let ra = settled("a");
        pacer.defer(ObjectRef::from_obj(&ra));
        let (synced_tx, synced) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(pacer.clone().run(store, synced, tx));
        tokio::task::yield_now().await;
        writer.apply_watcher_event(&watcher::Event::Init);
        writer.apply_watcher_event(&watcher::Event::InitApply(ra.clone()));
        writer.apply_watcher_event(&watcher::Event::InitDone);
        synced_tx.send_replace(true);
        let released = tokio::time::timeout(Duration::from_secs(10), rx.next()).await;
        task.abort();
        assert_eq!(released.ok().flatten(), Some(ObjectRef::from_obj(&ra)));
    }

    #[test]
    fn paced_resyncs_take_at_most_half_the_workers() {
        let pacer = Pacer::new(4);
        let objects: Vec<_> = (0..5)
            .map(|i| ObjectRef::new(&format!("ra-{i}")).within("default"))
            .collect();
        for o in &objects {
            pacer.defer(o.clone());
        }
        pacer.defer(objects[0].clone());
        let now = Instant::now();
        let all = |_: &ObjectRef<RoleAssignment>| true;
        assert_eq!(pacer.next(now, all), Some(objects[0].clone()));
        assert_eq!(pacer.next(now, all), Some(objects[1].clone()));
        assert_eq!(pacer.next(now, all), None, "two of four workers are busy");
        pacer.finished(&objects[0]);
        assert_eq!(pacer.next(now, all), Some(objects[2].clone()));
        let gone = |o: &ObjectRef<RoleAssignment>| *o != objects[3];
        pacer.finished(&objects[1]);
        assert_eq!(
            pacer.next(now, gone),
            Some(objects[4].clone()),
            "an object deleted meanwhile is skipped"
        );
        assert_eq!(
            pacer.next(now + RELEASE_TIMEOUT, all),
            None,
            "nothing left, duplicates included"
        );
        pacer.defer(objects[1].clone());
        pacer.defer(objects[2].clone());
        pacer.defer(objects[3].clone());
        assert_eq!(
            pacer.next(now + RELEASE_TIMEOUT, all),
            Some(objects[1].clone()),
            "a resync that never finished frees its share after the timeout"
        );
    }
}
