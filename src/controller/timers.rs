//! When each RoleAssignment is looked at again without a change: its next resync, a retry,
//! or the next instant of its access window, as its last reconcile decided. kube-runtime's
//! scheduler would keep an entry per object holding two copies of its reference (uid and
//! resourceVersion included), about 700 bytes each: at 10,000 objects the largest cost
//! after the cache itself. This keeps an instant and one shared name per object and hands
//! due objects to the [`Pacer`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kube::runtime::reflector::Store;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::resync::{Lane, Pacer, object_ref};
use crate::api::RoleAssignment;

/// The next wake-up of every object that has one.
#[derive(Default)]
pub struct Timers {
    state: Mutex<State>,
    earlier: Notify,
}

#[derive(Default)]
struct State {
    /// Each object's one wake-up: `namespace/name` -> when.
    due: HashMap<Arc<str>, Instant>,
    /// The wake-ups by time: for each object in `due`, an entry at or before its time. A
    /// later wake-up (the usual next resync) leaves the entry where it is, and it is queued
    /// again at the new time when it comes up, so the queue holds about one entry per
    /// object. An entry for an object with no wake-up, or before another of its own, is
    /// skipped.
    queue: BinaryHeap<Reverse<(Instant, Arc<str>)>>,
}

impl State {
    /// Past twice the live wake-ups (many made earlier), the queue is rebuilt so skipped
    /// entries cannot pile up.
    fn compact(&mut self) {
        if self.queue.len() > 2 * self.due.len() + 64 {
            self.queue = self
                .due
                .iter()
                .map(|(object, at)| Reverse((*at, object.clone())))
                .collect();
        }
    }
}

impl Timers {
    fn state(&self) -> MutexGuard<'_, State> {
        // A map and a heap, each consistent after a panic elsewhere (stale entries are skipped).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes `object` (`namespace/name`) at `at`, replacing any earlier wake-up; `None`
    /// cancels it (the object waits for a change).
    pub fn set(&self, object: &str, at: Option<Instant>) {
        let mut state = self.state();
        let Some(at) = at else {
            state.due.remove(object);
            return;
        };
        let name = match state.due.get_mut(object) {
            Some(due) if at >= *due => {
                // Its entry stays at the earlier time and is queued again then.
                *due = at;
                return;
            }
            Some(due) => {
                *due = at;
                state
                    .due
                    .get_key_value(object)
                    .map(|(name, _)| name.clone())
            }
            None => None,
        };
        let name = name.unwrap_or_else(|| {
            let name: Arc<str> = Arc::from(object);
            state.due.insert(name.clone(), at);
            name
        });
        let sooner = state
            .queue
            .peek()
            .is_none_or(|Reverse((first, _))| at < *first);
        state.queue.push(Reverse((at, name)));
        state.compact();
        drop(state);
        if sooner {
            self.earlier.notify_one();
        }
    }

    /// Wakes `object` after `after`, or cancels its wake-up.
    pub fn set_after(&self, object: &str, after: Option<Duration>) {
        self.set(object, after.map(|d| Instant::now() + d));
    }

    /// Takes the wake-ups due by `now`; when none is left, says when the next one is.
    fn take_due(&self, now: Instant) -> (Vec<Arc<str>>, Option<Instant>) {
        let mut state = self.state();
        let mut due = Vec::new();
        while let Some(Reverse((at, object))) = state.queue.peek().cloned() {
            match state.due.get(&object).copied() {
                Some(wanted) if wanted == at => {
                    if at > now {
                        return (due, Some(at));
                    }
                    state.queue.pop();
                    state.due.remove(&object);
                    due.push(object);
                }
                Some(wanted) if wanted > at => {
                    state.queue.pop();
                    state.queue.push(Reverse((wanted, object)));
                }
                // Cancelled, or an entry of a replaced wake-up behind an earlier one.
                _ => {
                    state.queue.pop();
                }
            }
        }
        (due, None)
    }

    /// Queues each due object the cache still shows in `pacer`: a settled one's routine
    /// resync in the routine lane, anything else (a retry, a window's instant) urgent.
    pub async fn run(self: Arc<Self>, store: Store<RoleAssignment>, pacer: Arc<Pacer>) {
        loop {
            let earlier = self.earlier.notified();
            let (due, next) = self.take_due(Instant::now());
            for object in due {
                if let Some(ra) = store.get(&object_ref(&object)) {
                    pacer.defer(&object, Lane::of(&ra));
                }
            }
            match next {
                Some(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = earlier => {}
                    }
                }
                None => earlier.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use kube::runtime::watcher;

    #[test]
    fn each_object_wakes_once_at_its_latest_time() {
        let timers = Timers::default();
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        timers.set("ns/a", Some(t0 + 5 * s));
        timers.set("ns/b", Some(t0 + 2 * s));
        timers.set("ns/a", Some(t0 + 3 * s));
        timers.set("ns/c", Some(t0 + s));
        timers.set("ns/c", None);

        assert_eq!(timers.take_due(t0), (vec![], Some(t0 + 2 * s)));
        let (due, next) = timers.take_due(t0 + 4 * s);
        let due: Vec<&str> = due.iter().map(|o| &**o).collect();
        assert_eq!(
            due,
            ["ns/b", "ns/a"],
            "in time order; a's first time was replaced, c's cancelled"
        );
        assert_eq!(next, None, "a replaced wake-up does not come again");
        assert_eq!(timers.take_due(t0 + 10 * s), (vec![], None));
    }

    #[test]
    fn a_later_wake_up_is_kept_in_place_and_comes_at_its_time() {
        let timers = Timers::default();
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        for i in 1..=10_000u32 {
            timers.set("ns/a", Some(t0 + i * Duration::from_millis(1)));
        }
        assert_eq!(
            timers.state().queue.len(),
            1,
            "one entry, however often postponed"
        );
        assert_eq!(
            timers.take_due(t0 + Duration::from_millis(5)),
            (vec![], Some(t0 + 10 * s))
        );
        let (due, next) = timers.take_due(t0 + 10 * s);
        assert_eq!((due.len(), next), (1, None));
    }

    #[test]
    fn earlier_wake_ups_do_not_pile_up() {
        let timers = Timers::default();
        let t0 = Instant::now() + Duration::from_secs(100);
        for i in 0..10_000u64 {
            timers.set("ns/a", Some(t0 - Duration::from_millis(i)));
        }
        let state = timers.state();
        assert_eq!(state.due.len(), 1);
        assert!(state.queue.len() <= 66, "{} queued", state.queue.len());
    }

    #[tokio::test]
    async fn a_due_object_goes_through_the_pacer_if_the_cache_still_shows_it() {
        let (store, mut writer) = kube::runtime::reflector::store::<RoleAssignment>();
        let kept = crate::controller::fakes::role_assignment(
            "kept",
            serde_json::json!({"providerConfigRef": {"name": "p"},
                "gcore": {"userId": 7, "role": "Observer", "clientId": 8}}),
        );
        writer.apply_watcher_event(&watcher::Event::Apply(kept.clone()));
        let namespace = kept.metadata.namespace.clone().unwrap_or_default();
        let timers = Arc::new(Timers::default());
        let pacer = Pacer::new(4);
        let (tx, mut rx) = futures::channel::mpsc::unbounded();
        let (_synced_tx, synced) = tokio::sync::watch::channel(true);
        let waking = tokio::spawn(timers.clone().run(store.clone(), pacer.clone()));
        let pacing = tokio::spawn(pacer.run(store, synced, tx));
        timers.set_after(&format!("{namespace}/gone"), Some(Duration::ZERO));
        timers.set_after(
            &format!("{namespace}/kept"),
            Some(Duration::from_millis(10)),
        );
        let woken = tokio::time::timeout(Duration::from_secs(10), rx.next()).await;
        waking.abort();
        pacing.abort();
        assert_eq!(
            woken.ok().flatten(),
            Some(kube::runtime::reflector::ObjectRef::from_obj(&kept)),
            "the deleted object is skipped, the kept one comes"
        );
    }
}
