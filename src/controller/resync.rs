//! Which watch events need a reconcile, and in what order. When the operator starts (or a
//! new leader takes over) every object arrives in one listing; reconciling them all at once
//! would queue a RoleAssignment applied at that moment behind thousands of objects that
//! only need a routine resync. So every reconcile the RoleAssignment watch or a timer asks
//! for waits in a [`Pacer`]: a RoleAssignment that status shows settled in its routine lane,
//! which fills at most half of the workers; new, changed and unsettled ones in its urgent
//! lane, which goes ahead. The first listing of provider configs, Secrets and namespaces
//! wakes nothing: each RoleAssignment arrives for itself then.

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
use crate::api::{APPLYING_ANNOTATION, ConditionStatus, RoleAssignment};

/// A paced resync that has not finished by then (its object vanished from the cache, say)
/// no longer holds a worker's share.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(60);

/// What, besides a new generation, should wake a reconcile: annotations (poll interval,
/// pause), finalizers and deletion. Status changes, mostly rolesync's own writes, do not;
/// nor does rolesync's record of the spec it is applying, written mid-reconcile by the
/// very pass it would wake again (and that pass's status write may not be cached yet).
fn wakes_reconcile(ra: &RoleAssignment) -> u64 {
    let mut h = DefaultHasher::new();
    ra.metadata.generation.hash(&mut h);
    for annotation in ra
        .metadata
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| *k != APPLYING_ANNOTATION)
    {
        annotation.hash(&mut h);
    }
    ra.metadata.finalizers.hash(&mut h);
    ra.metadata
        .deletion_timestamp
        .as_ref()
        .map(|t| t.0)
        .hash(&mut h);
    h.finish()
}

fn seen_key<K: Resource>(k: &K) -> Box<str> {
    let meta = k.meta();
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default()
    )
    .into_boxed_str()
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
    /// By `namespace/name`: an `ObjectRef` key would be several times the size.
    seen: HashMap<Box<str>, u64>,
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
                match self.seen.insert(seen_key(k), digest) {
                    Some(before) if before == digest => Change::Nothing,
                    None if !self.listed && matches!(event, watcher::Event::InitApply(_)) => {
                        Change::FirstListed(k)
                    }
                    _ => Change::Changed(k),
                }
            }
            watcher::Event::Delete(k) => {
                self.seen.remove(&seen_key(k));
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

/// Sorts the RoleAssignment watch's events: in which of the [`Pacer`]'s lanes an object
/// waits, and what changed nothing a reconcile acts on. An event is told from the object
/// as the cache held it before the event, so nothing is kept per object here.
#[derive(Default)]
pub struct Triage {
    /// The first listing is complete: an object first seen in a later relist was made
    /// while the watch was down, a change like any other.
    listed: bool,
}

impl Triage {
    /// The lane an event's object waits in for a reconcile, if the event asks for one.
    /// `cached`: the object as the cache holds it before this event is applied (during a
    /// relist the cache still shows the state before it).
    pub fn route<'a>(
        &mut self,
        event: &'a watcher::Event<RoleAssignment>,
        cached: Option<&RoleAssignment>,
    ) -> Option<(&'a RoleAssignment, Lane)> {
        match event {
            watcher::Event::InitApply(ra) | watcher::Event::Apply(ra) => match cached {
                Some(before) if wakes_reconcile(before) == wakes_reconcile(ra) => None,
                // Only the first listing's objects are routine: the cache shows a relist's
                // new ones only once it completes, too late for the pacer to find them.
                None if !self.listed && matches!(event, watcher::Event::InitApply(_)) => {
                    Some((ra, Lane::of(ra)))
                }
                _ => Some((ra, Lane::Urgent)),
            },
            watcher::Event::InitDone => {
                self.listed = true;
                None
            }
            watcher::Event::Init | watcher::Event::Delete(_) => None,
        }
    }
}

/// The queue in front of the controller for what the RoleAssignment watch wakes. New and
/// changed objects are released while fewer than `workers` of them are under way, settled
/// objects' resyncs while fewer than `share` (half the workers) are: a new object never
/// waits behind a resync wave. What waits is held here, one shared name per object, rather
/// than in kube-runtime's scheduler, whose entry per object is several times the size and
/// whose table keeps its largest size for good: after 10,000 objects arrived at once,
/// megabytes.
pub struct Pacer {
    workers: usize,
    share: usize,
    state: Mutex<PacerState>,
    changed: Notify,
}

/// Which lane an object waits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// New or changed: as soon as a worker is free.
    Urgent,
    /// A settled object's routine resync: within the share.
    Routine,
}

impl Lane {
    /// Where a reconcile of `ra` that nothing changed waits: routine if status shows it
    /// settled (its current generation applied and both conditions True, nothing being
    /// deleted, no instant such as notBefore or expiresAt to keep); anything else (a
    /// failure's retry, a window's instant) is urgent.
    pub fn of(ra: &RoleAssignment) -> Self {
        let Some(status) = ra.status.as_ref() else {
            return Self::Urgent;
        };
        let holds = |type_| {
            conditions::find(&status.conditions, type_).is_some_and(|c| {
                c.status == ConditionStatus::True && c.observed_generation == ra.metadata.generation
            })
        };
        let settled = ra.metadata.deletion_timestamp.is_none()
            && ra.spec.not_before.is_none()
            && ra.spec.expires_at.is_none()
            && status.observed_generation == ra.metadata.generation
            && holds(READY)
            && holds(SYNCED);
        if settled { Self::Routine } else { Self::Urgent }
    }
}

/// Objects waiting in one lane, oldest first.
#[derive(Default)]
struct Waiting {
    order: VecDeque<Arc<str>>,
    /// What `order` holds; an entry of `order` not in here was moved to the urgent lane.
    queued: HashSet<Arc<str>>,
}

impl Waiting {
    fn pop(&mut self) -> Option<Arc<str>> {
        let mut found = None;
        while let Some(object) = self.order.pop_front() {
            if self.queued.remove(&object) {
                found = Some(object);
                break;
            }
        }
        if self.order.is_empty() {
            // Emptied after a wave: give the memory back rather than keep the wave's size.
            self.order.shrink_to_fit();
            self.queued.shrink_to_fit();
        }
        found
    }
}

#[derive(Default)]
struct PacerState {
    urgent: Waiting,
    routine: Waiting,
    released: HashMap<Arc<str>, (Lane, Instant)>,
}

impl PacerState {
    fn waiting(&mut self, lane: Lane) -> &mut Waiting {
        match lane {
            Lane::Urgent => &mut self.urgent,
            Lane::Routine => &mut self.routine,
        }
    }

    fn under_way(&self, lane: Lane) -> usize {
        self.released.values().filter(|(l, _)| *l == lane).count()
    }
}

impl Pacer {
    /// `workers`: how many reconciles run at once. Routine resyncs take at most half of
    /// them, so new and changed objects always find a free one.
    pub fn new(workers: usize) -> Arc<Self> {
        Arc::new(Self {
            workers: workers.max(1),
            share: (workers / 2).max(1),
            state: Mutex::default(),
            changed: Notify::new(),
        })
    }

    fn state(&self) -> MutexGuard<'_, PacerState> {
        // Queues and sets: still consistent after a panic elsewhere.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `object` (`namespace/name`) in `lane`. An object waiting for a routine
    /// resync that changes moves to the urgent lane.
    pub fn defer(&self, object: &str, lane: Lane) {
        let mut state = self.state();
        if state.urgent.queued.contains(object)
            || (lane == Lane::Routine && state.routine.queued.contains(object))
        {
            return;
        }
        let object: Arc<str> = match state.routine.queued.take(object) {
            Some(shared) => shared,
            None => Arc::from(object),
        };
        let waiting = state.waiting(lane);
        waiting.queued.insert(object.clone());
        waiting.order.push_back(object);
        drop(state);
        self.changed.notify_one();
    }

    /// A reconcile of `object` ended (or the controller found it gone); if it was released
    /// here, its worker counts as free again.
    pub fn finished(&self, object: &str) {
        if self.state().released.remove(object).is_some() {
            self.changed.notify_one();
        }
    }

    /// The next object to release, if one waits in a lane with a worker free; a release
    /// that has not finished after [`RELEASE_TIMEOUT`] counts as finished.
    fn next(&self, now: Instant, exists: impl Fn(&str) -> bool) -> Option<Arc<str>> {
        let mut state = self.state();
        state
            .released
            .retain(|_, (_, at)| now.duration_since(*at) < RELEASE_TIMEOUT);
        for (lane, limit) in [(Lane::Urgent, self.workers), (Lane::Routine, self.share)] {
            while state.under_way(lane) < limit {
                let Some(object) = state.waiting(lane).pop() else {
                    break;
                };
                if exists(&object) {
                    state.released.insert(object.clone(), (lane, now));
                    return Some(object);
                }
            }
        }
        None
    }

    /// Feeds objects still in `store` to `to` until it closes, once `synced` says the
    /// caches are filled.
    pub async fn run(
        self: Arc<Self>,
        store: Store<RoleAssignment>,
        mut synced: tokio::sync::watch::Receiver<bool>,
        to: mpsc::UnboundedSender<ObjectRef<RoleAssignment>>,
    ) {
        // The cache shows the first listing only once it is complete (`synced`); the
        // controller skips an object its cache does not show.
        if synced.wait_for(|s| *s).await.is_err() {
            return;
        }
        loop {
            let notified = self.changed.notified();
            while let Some(object) =
                self.next(Instant::now(), |o| store.get(&object_ref(o)).is_some())
            {
                if to.unbounded_send(object_ref(&object)).is_err() {
                    return;
                }
            }
            // Woken by a new object or a finished reconcile; the timeout frees stuck workers.
            let _ = tokio::time::timeout(RELEASE_TIMEOUT, notified).await;
        }
    }
}

/// The reference to `namespace/name`.
pub fn object_ref(object: &str) -> ObjectRef<RoleAssignment> {
    let (namespace, name) = object.split_once('/').unwrap_or(("", object));
    ObjectRef::new(name).within(namespace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Condition, RoleAssignmentStatus};
    use crate::controller::fakes::role_assignment;
    use kube::ResourceExt;

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

    /// Why, what makes the resource so, and the lane its unchanged reconcile waits in.
    type SettledCase = (&'static str, fn(&mut RoleAssignment), Lane);

    #[test]
    fn only_a_settled_resource_waits_for_a_routine_resync() {
        let cases: Vec<SettledCase> = vec![
            ("applied and both conditions True", |_| {}, Lane::Routine),
            (
                "a new generation is not applied yet",
                |ra| ra.metadata.generation = Some(2),
                Lane::Urgent,
            ),
            ("never reconciled", |ra| ra.status = None, Lane::Urgent),
            (
                "the last reconcile failed",
                |ra| {
                    if let Some(s) = ra.status.as_mut() {
                        s.conditions[1] = condition(SYNCED, ConditionStatus::False, 1);
                    }
                },
                Lane::Urgent,
            ),
            (
                "being deleted",
                |ra| {
                    ra.metadata.deletion_timestamp =
                        serde_json::from_value(serde_json::json!("2026-05-01T09:00:00Z")).ok();
                },
                Lane::Urgent,
            ),
            (
                "an expiry must be kept on time",
                |ra| ra.spec.expires_at = Some("2030-01-01T00:00:00Z".into()),
                Lane::Urgent,
            ),
            (
                "a start must be kept on time",
                |ra| ra.spec.not_before = Some("2030-01-01T00:00:00Z".into()),
                Lane::Urgent,
            ),
        ];
        for (why, change, want) in cases {
            let mut ra = settled("a");
            change(&mut ra);
            assert_eq!(Lane::of(&ra), want, "{why}");
        }
    }

    #[test]
    fn listed_settled_objects_are_routine_and_everything_else_urgent() {
        use watcher::Event::{Apply, Delete, Init, InitApply, InitDone};
        let mut triage = Triage::default();
        let (store, mut writer) = kube::runtime::reflector::store::<RoleAssignment>();
        // As the controller does: route by the cache before the event, then apply it.
        let cached = |event: &watcher::Event<RoleAssignment>| match event {
            Apply(ra) | InitApply(ra) | Delete(ra) => store.get(&ObjectRef::from_obj(ra)),
            Init | InitDone => None,
        };
        let mut route = |event: watcher::Event<RoleAssignment>| {
            let lane = triage
                .route(&event, cached(&event).as_deref())
                .map(|(ra, lane)| (ra.metadata.name.clone().unwrap_or_default(), lane));
            writer.apply_watcher_event(&event);
            lane
        };
        let settled_one = settled("old");
        let mut unsettled = settled("failing");
        unsettled.status = None;
        let old = |lane| Some(("old".to_owned(), lane));

        route(Init);
        assert_eq!(route(InitApply(settled_one.clone())), old(Lane::Routine));
        assert_eq!(
            route(InitApply(unsettled)),
            Some(("failing".to_owned(), Lane::Urgent))
        );
        route(InitDone);
        assert_eq!(
            route(Apply(settled_one.clone())),
            None,
            "a status write by rolesync wakes nothing"
        );
        route(Init);
        assert_eq!(
            route(InitApply(settled_one.clone())),
            None,
            "a relist of what is known wakes nothing"
        );
        route(InitDone);
        let mut recorded = settled_one.clone();
        recorded
            .annotations_mut()
            .insert(APPLYING_ANNOTATION.into(), "{}".into());
        assert_eq!(
            route(Apply(recorded)),
            None,
            "rolesync's record of the spec it applies wakes nothing: the pass that wrote it is under way"
        );
        let mut paused = settled_one.clone();
        paused
            .annotations_mut()
            .insert(crate::api::PAUSED_ANNOTATION.into(), "true".into());
        assert_eq!(route(Apply(paused)), old(Lane::Urgent), "a pause wakes it");
        assert_eq!(
            route(Apply(settled_one.clone())),
            old(Lane::Urgent),
            "and so does its removal"
        );
        let mut changed = settled_one.clone();
        changed.metadata.generation = Some(2);
        assert_eq!(route(Apply(changed.clone())), old(Lane::Urgent));
        assert_eq!(
            route(Apply(settled("new"))),
            Some(("new".to_owned(), Lane::Urgent)),
            "an object created while the operator runs is urgent, settled or not"
        );
        assert_eq!(route(Delete(changed)), None);
        route(Init);
        assert_eq!(
            route(InitApply(settled_one)),
            old(Lane::Urgent),
            "an object first seen in a relist is urgent: the pacer could not find it yet"
        );
    }

    #[tokio::test]
    async fn the_pacer_releases_what_the_cache_shows_once_it_is_synced() {
        use futures::StreamExt;
        let (store, mut writer) = kube::runtime::reflector::store::<RoleAssignment>();
        let pacer = Pacer::new(4);
        let (tx, mut rx) = mpsc::unbounded();
        let ra = settled("a");
        pacer.defer("team-a/a", Lane::Routine);
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
    fn routine_resyncs_take_at_most_half_the_workers_and_urgent_ones_go_first() {
        let pacer = Pacer::new(4);
        let objects: Vec<String> = (0..6).map(|i| format!("default/ra-{i}")).collect();
        for o in &objects[..5] {
            pacer.defer(o, Lane::Routine);
        }
        pacer.defer(&objects[0], Lane::Routine);
        let now = Instant::now();
        let all = |_: &str| true;
        let next =
            |exists: &dyn Fn(&str) -> bool, at| pacer.next(at, exists).map(|o| o.to_string());
        assert_eq!(next(&all, now), Some(objects[0].clone()));
        assert_eq!(next(&all, now), Some(objects[1].clone()));
        assert_eq!(next(&all, now), None, "two of four workers resync");
        pacer.defer(&objects[5], Lane::Urgent);
        pacer.defer(&objects[2], Lane::Urgent);
        assert_eq!(
            next(&all, now),
            Some(objects[5].clone()),
            "an urgent object goes while the routine share is used up"
        );
        assert_eq!(
            next(&all, now),
            Some(objects[2].clone()),
            "a waiting routine resync that changed moves to the urgent lane"
        );
        pacer.finished(&objects[0]);
        let gone = |o: &str| o != objects[3];
        assert_eq!(
            next(&gone, now),
            Some(objects[4].clone()),
            "an object deleted meanwhile is skipped, one moved away is not released twice"
        );
        assert_eq!(
            next(&all, now + RELEASE_TIMEOUT),
            None,
            "nothing left, duplicates included"
        );
        pacer.defer(&objects[1], Lane::Routine);
        pacer.defer(&objects[2], Lane::Routine);
        pacer.defer(&objects[3], Lane::Routine);
        assert_eq!(
            next(&all, now + RELEASE_TIMEOUT),
            Some(objects[1].clone()),
            "a release that never finished frees its worker after the timeout"
        );
    }

    #[test]
    fn urgent_objects_take_every_worker_but_no_more() {
        let pacer = Pacer::new(2);
        for i in 0..3 {
            pacer.defer(&format!("default/ra-{i}"), Lane::Urgent);
        }
        let now = Instant::now();
        let all = |_: &str| true;
        assert!(pacer.next(now, all).is_some());
        assert!(pacer.next(now, all).is_some());
        assert_eq!(pacer.next(now, all), None, "both workers are busy");
        pacer.finished("default/ra-0");
        assert_eq!(pacer.next(now, all).as_deref(), Some("default/ra-2"));
        let state = pacer.state();
        assert!(
            state.urgent.order.capacity() == 0 && state.urgent.queued.capacity() == 0,
            "an emptied lane gives its memory back"
        );
    }
}
