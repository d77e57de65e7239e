//! The server's shared state: stored objects, served resources, change notification,
//! audit log and injected faults.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;

use super::builtin;
use super::registry::Registry;
use super::status::GroupResource;
use super::store::Store;

/// One request the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// get, list, watch, create, update, patch, delete or deletecollection.
    pub verb: String,
    pub api_group: String,
    /// Empty for non-resource URLs such as `/version`.
    pub resource: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    /// The object's name, for requests about one object.
    pub name: Option<String>,
    pub user_agent: String,
    /// What the client asked to be answered with (e.g. only metadata).
    pub accept: String,
    pub code: u16,
}

/// Everything guarded by one lock, so that a write and its event are atomic.
#[derive(Debug)]
pub struct Cluster {
    pub store: Store,
    pub registry: Registry,
}

/// How many audit records are kept; older ones are dropped.
const AUDIT_CAPACITY: usize = 100_000;

pub struct Shared {
    cluster: Mutex<Cluster>,
    /// The newest committed resourceVersion; watches wait on it.
    latest: watch::Sender<u64>,
    /// Bumped to end every open watch (shutdown or an injected fault).
    stop_watches: watch::Sender<u64>,
    audit: Mutex<VecDeque<RequestRecord>>,
    writes: Mutex<HashMap<String, u64>>,
    failing_writes: AtomicU32,
    failure_code: AtomicU16,
    pub bookmark_interval: Duration,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves consistent data (each write is one map insert).
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub fn new(history: usize, bookmark_interval: Duration) -> Self {
        let mut store = Store::new(history);
        let namespaces = GroupResource::new("", "namespaces");
        let now = super::meta::now();
        for ns in builtin::INITIAL_NAMESPACES {
            store.put(
                &namespaces,
                (String::new(), ns.to_owned()),
                json!({
                    "apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": ns, "uid": uuid::Uuid::new_v4().to_string(),
                                 "creationTimestamp": now,
                                 "labels": {"kubernetes.io/metadata.name": ns}},
                    "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"},
                }),
            );
        }
        let rv = store.current_rv();
        Self {
            cluster: Mutex::new(Cluster {
                store,
                registry: Registry::with_builtins(builtin::resources()),
            }),
            latest: watch::Sender::new(rv),
            stop_watches: watch::Sender::new(0),
            audit: Mutex::new(VecDeque::new()),
            writes: Mutex::new(HashMap::new()),
            failing_writes: AtomicU32::new(0),
            failure_code: AtomicU16::new(500),
            bookmark_interval,
        }
    }

    pub fn cluster(&self) -> MutexGuard<'_, Cluster> {
        lock(&self.cluster)
    }

    /// Wakes watches after a commit; call without holding the cluster lock.
    pub fn notify(&self, rv: u64) {
        self.latest.send_replace(rv);
    }

    pub fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
    }

    pub fn subscribe_stop(&self) -> watch::Receiver<u64> {
        self.stop_watches.subscribe()
    }

    pub fn stop_all_watches(&self) {
        self.stop_watches.send_modify(|epoch| *epoch += 1);
    }

    pub fn compact(&self) {
        let rv = self.cluster().store.compact();
        // Open watches wake up to find their version expired.
        self.notify(rv);
    }

    pub fn record(&self, record: RequestRecord, wrote: bool) {
        if wrote {
            *lock(&self.writes)
                .entry(record.user_agent.clone())
                .or_default() += 1;
        }
        let mut audit = lock(&self.audit);
        if audit.len() == AUDIT_CAPACITY {
            audit.pop_front();
        }
        audit.push_back(record);
    }

    pub fn audit(&self) -> Vec<RequestRecord> {
        lock(&self.audit).iter().cloned().collect()
    }

    pub fn writes_by(&self, user_agent_prefix: &str) -> u64 {
        lock(&self.writes)
            .iter()
            .filter(|(ua, _)| ua.starts_with(user_agent_prefix))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn fail_writes(&self, n: u32, code: u16) {
        self.failure_code.store(code, Ordering::SeqCst);
        self.failing_writes.store(n, Ordering::SeqCst);
    }

    /// The status code of an injected failure for the next write, if one is due.
    pub fn take_write_failure(&self) -> Option<u16> {
        self.failing_writes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .ok()
            .map(|_| self.failure_code.load(Ordering::SeqCst))
    }
}

/// Sets `apiVersion` for the version a client asked for (objects are stored once per
/// resource, whatever version wrote them).
pub fn at_version<'a>(object: &'a Value, api_version: &str) -> std::borrow::Cow<'a, Value> {
    if object.get("apiVersion").and_then(Value::as_str) == Some(api_version) {
        std::borrow::Cow::Borrowed(object)
    } else {
        let mut copy = object.clone();
        copy["apiVersion"] = Value::String(api_version.to_owned());
        std::borrow::Cow::Owned(copy)
    }
}
