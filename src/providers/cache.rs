//! Per-scope caches of provider list results, shared by all reconciles of one provider config.
//!
//! Observing N assignments of one scope must cost one paged list, not N calls. A scope's
//! list is fetched by one caller at a time (the others wait for its result), served from
//! memory while younger than the caller's `Freshness::max_age`, and kept right by
//! write-through after rolesync's own writes, so 10,000 creates do not each re-list.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::time::Instant;

use super::Freshness;

/// What a provider caches for one scope: its assignments, indexed as the provider needs.
pub trait Collection: Send + 'static {
    type Item: Clone + Send + 'static;
    type Key: Clone + Send + 'static;

    /// Inserts the item or replaces the one with the same key.
    fn upsert(&mut self, item: Self::Item);
    fn remove(&mut self, key: &Self::Key);
}

/// A write rolesync made itself, applied to the cached list instead of re-listing.
pub enum Change<C: Collection> {
    Upsert(C::Item),
    Remove(C::Key),
}

impl<C: Collection> Clone for Change<C> {
    fn clone(&self) -> Self {
        match self {
            Self::Upsert(item) => Self::Upsert(item.clone()),
            Self::Remove(key) => Self::Remove(key.clone()),
        }
    }
}

impl<C: Collection> Change<C> {
    fn apply(self, collection: &mut C) {
        match self {
            Self::Upsert(item) => collection.upsert(item),
            Self::Remove(key) => collection.remove(&key),
        }
    }
}

struct Entry<C> {
    data: C,
    /// When the fetch that produced `data` started: the list is at least that fresh.
    fetched_at: Instant,
    /// Set by `invalidate`: the data may only serve callers whose fetch produced it.
    stale: bool,
}

struct State<C: Collection, E> {
    entry: Option<Entry<C>>,
    /// Our writes seen while a fetch was running; replayed onto its result, which may
    /// have been listed before they happened.
    pending: Option<Vec<Change<C>>>,
    invalidated_during_fetch: bool,
    /// The last failed fetch and when it started, shared with the callers that waited for it.
    last_error: Option<(E, Instant)>,
}

struct Slot<C: Collection, E> {
    state: Mutex<State<C, E>>,
    /// Held by the one caller fetching this scope.
    flight: tokio::sync::Mutex<()>,
}

/// Caches one list per scope `S`; `E` is the fetch error, shared with waiting callers.
pub struct ListCache<S, C: Collection, E> {
    slots: Mutex<HashMap<S, Arc<Slot<C, E>>>>,
}

impl<S, C: Collection, E> Default for ListCache<S, C, E> {
    fn default() -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<S, C, E> ListCache<S, C, E>
where
    S: Hash + Eq + Clone,
    C: Collection,
    E: Clone,
{
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(&self, scope: &S) -> Arc<Slot<C, E>> {
        lock(&self.slots)
            .entry(scope.clone())
            .or_insert_with(|| {
                Arc::new(Slot {
                    state: Mutex::new(State {
                        entry: None,
                        pending: None,
                        invalidated_during_fetch: false,
                        last_error: None,
                    }),
                    flight: tokio::sync::Mutex::new(()),
                })
            })
            .clone()
    }

    /// Answers `read` from the scope's list, fetching it first unless a list at most
    /// `freshness.max_age` old is cached or a fetch started after this call did.
    pub async fn read<R, F, Fut>(
        &self,
        scope: &S,
        freshness: Freshness,
        fetch: F,
        read: impl FnOnce(&C) -> R,
    ) -> Result<R, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<C, E>>,
    {
        let called = Instant::now();
        let slot = self.slot(scope);
        let usable = |entry: &Entry<C>| {
            entry.fetched_at >= called
                || (!entry.stale && called.duration_since(entry.fetched_at) <= freshness.max_age)
        };
        {
            let state = lock(&slot.state);
            if let Some(entry) = state.entry.as_ref().filter(|e| usable(e)) {
                return Ok(read(&entry.data));
            }
        }
        let _flight = slot.flight.lock().await;
        {
            let state = lock(&slot.state);
            if let Some(entry) = state.entry.as_ref().filter(|e| usable(e)) {
                return Ok(read(&entry.data));
            }
            if let Some((error, started)) = &state.last_error
                && *started >= called
            {
                return Err(error.clone());
            }
        }
        let started = Instant::now();
        {
            let mut state = lock(&slot.state);
            state.pending = Some(Vec::new());
            state.invalidated_during_fetch = false;
        }
        let fetched = fetch().await;
        let mut state = lock(&slot.state);
        let pending = state.pending.take().unwrap_or_default();
        match fetched {
            Ok(mut data) => {
                for change in pending {
                    change.apply(&mut data);
                }
                let result = read(&data);
                state.entry = Some(Entry {
                    data,
                    fetched_at: started,
                    stale: state.invalidated_during_fetch,
                });
                state.last_error = None;
                Ok(result)
            }
            Err(error) => {
                state.last_error = Some((error.clone(), started));
                Err(error)
            }
        }
    }

    /// Reads what is cached for the scope, however old, without fetching.
    pub fn peek<R>(&self, scope: &S, read: impl FnOnce(&C) -> R) -> Option<R> {
        let slot = self.slot(scope);
        let state = lock(&slot.state);
        state.entry.as_ref().map(|entry| read(&entry.data))
    }

    /// Applies one of our own writes to the cached list (and to a list being fetched).
    pub fn apply(&self, scope: &S, change: Change<C>) {
        let slot = self.slot(scope);
        let mut state = lock(&slot.state);
        if let Some(pending) = state.pending.as_mut() {
            pending.push(change.clone());
        }
        if let Some(entry) = state.entry.as_mut() {
            change.apply(&mut entry.data);
        }
    }

    /// Forgets what is known of the scope: the next read fetches again.
    pub fn invalidate(&self, scope: &S) {
        let slot = self.slot(scope);
        let mut state = lock(&slot.state);
        state.entry = None;
        if state.pending.is_some() {
            state.invalidated_during_fetch = true;
        }
    }

    pub fn invalidate_all(&self) {
        let scopes: Vec<S> = lock(&self.slots).keys().cloned().collect();
        for scope in scopes {
            self.invalidate(&scope);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[derive(Clone, Debug, Default, PartialEq)]
    struct Names(BTreeMap<u32, String>);

    impl Collection for Names {
        type Item = (u32, String);
        type Key = u32;
        fn upsert(&mut self, (k, v): (u32, String)) {
            self.0.insert(k, v);
        }
        fn remove(&mut self, key: &u32) {
            self.0.remove(key);
        }
    }

    type Cache = ListCache<&'static str, Names, String>;

    const FRESH: Freshness = Freshness {
        max_age: Duration::from_secs(600),
    };
    const ALWAYS: Freshness = Freshness {
        max_age: Duration::ZERO,
    };

    fn names(items: &[(u32, &str)]) -> Names {
        Names(items.iter().map(|(k, v)| (*k, v.to_string())).collect())
    }

    async fn read_counting(
        cache: &Cache,
        fetches: &AtomicUsize,
        freshness: Freshness,
        data: Names,
    ) -> Names {
        cache
            .read(
                &"scope",
                freshness,
                || async {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, String>(data)
                },
                Names::clone,
            )
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn fresh_entries_are_served_from_memory() {
        let cache = Cache::new();
        let fetches = AtomicUsize::new(0);
        read_counting(&cache, &fetches, FRESH, names(&[(1, "a")])).await;
        let second = read_counting(&cache, &fetches, FRESH, names(&[])).await;
        assert_eq!(second, names(&[(1, "a")]));
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        read_counting(&cache, &fetches, ALWAYS, names(&[(2, "b")])).await;
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn scopes_are_cached_separately() {
        let cache = Cache::new();
        let a = cache
            .read(
                &"a",
                FRESH,
                || async { Ok(names(&[(1, "a")])) },
                Names::clone,
            )
            .await
            .unwrap();
        let b = cache
            .read(
                &"b",
                FRESH,
                || async { Ok(names(&[(2, "b")])) },
                Names::clone,
            )
            .await
            .unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn concurrent_readers_share_one_fetch() {
        let cache = Arc::new(Cache::new());
        let fetches = Arc::new(AtomicUsize::new(0));
        let (release, released) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (cache, fetches, mut released) = (cache.clone(), fetches.clone(), released.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .read(
                        &"scope",
                        FRESH,
                        || async move {
                            fetches.fetch_add(1, Ordering::SeqCst);
                            let _ = released.wait_for(|r| *r).await;
                            Ok(names(&[(1, "a")]))
                        },
                        |n| n.0.len(),
                    )
                    .await
            }));
        }
        // Every task has either started the one fetch or queued behind it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while fetches.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        release.send(true).unwrap();
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ok(1));
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn writes_go_through_without_refetching() {
        let cache = Cache::new();
        let fetches = AtomicUsize::new(0);
        read_counting(&cache, &fetches, FRESH, names(&[(1, "a"), (2, "b")])).await;
        cache.apply(&"scope", Change::Upsert((3, "c".into())));
        cache.apply(&"scope", Change::Upsert((1, "A".into())));
        cache.apply(&"scope", Change::Remove(2));
        let now = read_counting(&cache, &fetches, FRESH, names(&[])).await;
        assert_eq!(now, names(&[(1, "A"), (3, "c")]));
        assert_eq!(cache.peek(&"scope", |n| n.0.len()), Some(2));
        assert_eq!(cache.peek(&"other", |n| n.0.len()), None);
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn writes_during_a_fetch_are_replayed_onto_its_result() {
        let cache = Cache::new();
        let got = cache
            .read(
                &"scope",
                FRESH,
                || async {
                    // The list was taken before this create finished.
                    cache.apply(&"scope", Change::Upsert((9, "new".into())));
                    Ok(names(&[(1, "a")]))
                },
                Names::clone,
            )
            .await
            .unwrap();
        assert_eq!(got, names(&[(1, "a"), (9, "new")]));
    }

    #[tokio::test]
    async fn invalidation_forces_a_fetch() {
        let cache = Cache::new();
        let fetches = AtomicUsize::new(0);
        read_counting(&cache, &fetches, FRESH, names(&[(1, "a")])).await;
        cache.invalidate(&"scope");
        let now = read_counting(&cache, &fetches, FRESH, names(&[(2, "b")])).await;
        assert_eq!(now, names(&[(2, "b")]));
        cache.invalidate_all();
        read_counting(&cache, &fetches, FRESH, names(&[])).await;
        assert_eq!(fetches.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn invalidation_during_a_fetch_leaves_its_result_stale() {
        let cache = Cache::new();
        let fetches = AtomicUsize::new(0);
        cache
            .read(
                &"scope",
                FRESH,
                || async {
                    cache.invalidate(&"scope");
                    Ok(names(&[(1, "a")]))
                },
                Names::clone,
            )
            .await
            .unwrap();
        read_counting(&cache, &fetches, FRESH, names(&[])).await;
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn failures_are_not_cached() {
        let cache = Cache::new();
        let err = cache
            .read(
                &"scope",
                FRESH,
                || async { Err::<Names, _>("down".to_owned()) },
                Names::clone,
            )
            .await;
        assert_eq!(err, Err("down".to_owned()));
        let fetches = AtomicUsize::new(0);
        let ok = read_counting(&cache, &fetches, FRESH, names(&[(1, "a")])).await;
        assert_eq!(ok, names(&[(1, "a")]));
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }
}
