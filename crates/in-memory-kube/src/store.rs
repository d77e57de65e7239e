//! Object storage: one ordered map per resource, one cluster-wide resourceVersion counter,
//! and a bounded history of changes that watches resume from.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde_json::{Value, json};

use super::status::GroupResource;

/// `(namespace, name)`; the namespace is empty for cluster-scoped objects. Ordered like
/// upstream's storage keys, so lists come back sorted by namespace then name.
pub type ObjectKey = (String, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One committed change.
#[derive(Debug)]
pub struct Event {
    pub rv: u64,
    pub kind: EventType,
    pub resource: GroupResource,
    pub namespace: String,
    pub object: Arc<Value>,
    /// The object before the change, so selector watches can see objects leave their set.
    pub previous: Option<Arc<Value>>,
    /// The serialized watch line, made once however many watchers send it.
    line: OnceLock<Bytes>,
}

impl Event {
    pub fn line(&self) -> Bytes {
        self.line
            .get_or_init(|| watch_line(self.kind.as_str(), &self.object))
            .clone()
    }
}

/// `{"type":..,"object":..}\n`, the framing of a JSON watch stream.
pub fn watch_line(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object}))
        .unwrap_or_else(|_| b"{}".to_vec());
    line.push(b'\n');
    Bytes::from(line)
}

/// Why a watch or continue token cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too old resource version: {requested} ({oldest})")]
pub struct Expired {
    pub requested: u64,
    pub oldest: u64,
}

#[derive(Debug)]
pub struct Store {
    rv: u64,
    objects: HashMap<GroupResource, BTreeMap<ObjectKey, Arc<Value>>>,
    history: VecDeque<Arc<Event>>,
    capacity: usize,
    /// Watches, continued lists and exact lists must start at or after this version:
    /// every change after it is retained.
    horizon: u64,
}

impl Store {
    pub fn new(capacity: usize) -> Self {
        Self {
            rv: 1,
            objects: HashMap::new(),
            history: VecDeque::new(),
            capacity: capacity.max(1),
            horizon: 0,
        }
    }

    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    pub fn get(&self, resource: &GroupResource, key: &ObjectKey) -> Option<&Arc<Value>> {
        self.objects.get(resource)?.get(key)
    }

    /// Objects of one resource in key order, optionally in one namespace, strictly after `after`.
    pub fn range<'a>(
        &'a self,
        resource: &GroupResource,
        namespace: Option<&'a str>,
        after: Option<&ObjectKey>,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Arc<Value>)> + 'a {
        use std::ops::Bound;
        let lower = match (after, namespace) {
            (Some(key), _) => Bound::Excluded(key.clone()),
            (None, Some(ns)) => Bound::Included((ns.to_owned(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        self.objects
            .get(resource)
            .into_iter()
            .flat_map(move |m| m.range((lower.clone(), Bound::Unbounded)))
            .take_while(move |(k, _)| namespace.is_none_or(|ns| k.0 == ns))
    }

    fn next_rv(&mut self, object: &mut Value) -> u64 {
        self.rv += 1;
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), Value::String(self.rv.to_string()));
        }
        self.rv
    }

    fn record(&mut self, event: Event) {
        if self.history.len() == self.capacity
            && let Some(evicted) = self.history.pop_front()
        {
            self.horizon = evicted.rv;
        }
        self.history.push_back(Arc::new(event));
    }

    /// Stores a created or changed object under a new resourceVersion.
    pub fn put(
        &mut self,
        resource: &GroupResource,
        key: ObjectKey,
        mut object: Value,
    ) -> Arc<Value> {
        let rv = self.next_rv(&mut object);
        let object = Arc::new(object);
        let previous = self
            .objects
            .entry(resource.clone())
            .or_default()
            .insert(key.clone(), object.clone());
        let kind = if previous.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(Event {
            rv,
            kind,
            resource: resource.clone(),
            namespace: key.0,
            object: object.clone(),
            previous,
            line: OnceLock::new(),
        });
        object
    }

    /// Removes an object; `last` is its final state, sent in the DELETED event.
    pub fn remove(
        &mut self,
        resource: &GroupResource,
        key: &ObjectKey,
        mut last: Value,
    ) -> Arc<Value> {
        let previous = self.objects.get_mut(resource).and_then(|m| m.remove(key));
        let rv = self.next_rv(&mut last);
        let object = Arc::new(last);
        self.record(Event {
            rv,
            kind: EventType::Deleted,
            resource: resource.clone(),
            namespace: key.0.clone(),
            object: object.clone(),
            previous,
            line: OnceLock::new(),
        });
        object
    }

    /// Forgets every object of a resource without events (its CRD is gone).
    pub fn drop_resource(&mut self, resource: &GroupResource) {
        self.objects.remove(resource);
    }

    /// Every change after `rv`, or `Expired` when some of them are no longer retained.
    pub fn events_after(&self, rv: u64) -> Result<Vec<Arc<Event>>, Expired> {
        self.check_watch_from(rv)?;
        let start = self.history.partition_point(|e| e.rv <= rv);
        Ok(self.history.range(start..).cloned().collect())
    }

    pub fn check_watch_from(&self, rv: u64) -> Result<(), Expired> {
        if rv < self.horizon {
            Err(Expired {
                requested: rv,
                oldest: self.horizon,
            })
        } else {
            Ok(())
        }
    }

    /// The objects of one resource (in one namespace) as they were at version `rv`: the
    /// current ones with every later change undone.
    pub fn snapshot_at(
        &self,
        resource: &GroupResource,
        namespace: Option<&str>,
        rv: u64,
    ) -> Result<BTreeMap<ObjectKey, Arc<Value>>, Expired> {
        let later = self.events_after(rv)?;
        let mut objects: BTreeMap<ObjectKey, Arc<Value>> = self
            .range(resource, namespace, None)
            .map(|(k, o)| (k.clone(), o.clone()))
            .collect();
        let relevant = later
            .iter()
            .rev()
            .filter(|e| e.resource == *resource && namespace.is_none_or(|ns| e.namespace == ns));
        for event in relevant {
            let name = event
                .object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let key = (event.namespace.clone(), name.to_owned());
            match &event.previous {
                Some(before) => objects.insert(key, before.clone()),
                None => objects.remove(&key),
            };
        }
        Ok(objects)
    }

    /// Drops all retained history, as an etcd compaction does, and moves to a new version
    /// so that every version handed out so far is expired: watchers and paginated lists
    /// must start over from a fresh list. Returns the new version.
    pub fn compact(&mut self) -> u64 {
        self.history.clear();
        self.rv += 1;
        self.horizon = self.rv;
        self.rv
    }
}

/// A list continuation: the list's resourceVersion and the last key returned.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContinueToken {
    /// `None` continues at the latest version (offered when the list's has expired).
    pub rv: Option<u64>,
    pub namespace: String,
    pub name: String,
}

impl ContinueToken {
    /// Opaque to clients, as upstream's tokens are.
    pub fn encode(&self) -> String {
        serde_json::to_vec(self)
            .unwrap_or_default()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn decode(token: &str) -> Option<Self> {
        if !token.len().is_multiple_of(2) || !token.is_ascii() {
            return None;
        }
        let bytes = (0..token.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&token[i..i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        serde_json::from_slice(&bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gr() -> GroupResource {
        GroupResource::new("", "configmaps")
    }

    fn cm(name: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "ns"}})
    }

    fn key(ns: &str, name: &str) -> ObjectKey {
        (ns.into(), name.into())
    }

    #[test]
    fn resource_versions_increase_across_resources() {
        let mut store = Store::new(10);
        let a = store.put(&gr(), key("ns", "a"), cm("a"));
        let b = store.put(&GroupResource::new("", "secrets"), key("ns", "b"), cm("b"));
        let rv = |o: &Value| {
            o["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        };
        assert!(rv(&b) > rv(&a));
        assert_eq!(rv(&b), store.current_rv());
    }

    #[test]
    fn events_after_returns_only_later_changes_in_order() {
        let mut store = Store::new(10);
        store.put(&gr(), key("ns", "a"), cm("a"));
        let start = store.current_rv();
        store.put(&gr(), key("ns", "a"), cm("a"));
        store.remove(&gr(), &key("ns", "a"), cm("a"));
        let events = store.events_after(start).unwrap();
        let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![EventType::Modified, EventType::Deleted]);
        assert!(events[1].previous.is_some());
    }

    #[test]
    fn evicted_history_expires_old_watches() {
        let mut store = Store::new(2);
        let start = store.current_rv();
        for i in 0..3 {
            store.put(&gr(), key("ns", &i.to_string()), cm("x"));
        }
        assert!(store.events_after(start).is_err());
        assert_eq!(store.events_after(store.current_rv() - 2).unwrap().len(), 2);
    }

    #[test]
    fn compaction_expires_watches_and_continue_tokens() {
        let mut store = Store::new(10);
        store.put(&gr(), key("ns", "a"), cm("a"));
        let before = store.current_rv();
        store.compact();
        let expired = store.events_after(before).map(|_| ()).unwrap_err();
        assert_eq!(
            expired,
            Expired {
                requested: before,
                oldest: store.current_rv()
            }
        );
        assert!(store.events_after(store.current_rv()).unwrap().is_empty());
        assert!(store.snapshot_at(&gr(), None, before).is_err());
    }

    #[test]
    fn snapshots_undo_later_changes() {
        let mut store = Store::new(10);
        let versioned = |v: &str| {
            let mut o = cm("a");
            o["data"] = json!({"v": v});
            o
        };
        store.put(&gr(), key("ns", "a"), versioned("1"));
        store.put(&gr(), key("ns", "gone"), cm("gone"));
        let at = store.current_rv();
        store.put(&gr(), key("ns", "a"), versioned("2"));
        store.put(&gr(), key("ns", "new"), cm("new"));
        store.remove(&gr(), &key("ns", "gone"), cm("gone"));
        store.put(&gr(), key("other", "x"), cm("x"));
        let then = store.snapshot_at(&gr(), Some("ns"), at).unwrap();
        let names: Vec<&str> = then.keys().map(|k| k.1.as_str()).collect();
        assert_eq!(names, ["a", "gone"]);
        assert_eq!(then[&key("ns", "a")]["data"]["v"], "1");
    }

    #[test]
    fn range_stays_within_namespace_and_resumes_after_key() {
        let mut store = Store::new(10);
        for (ns, name) in [("a", "1"), ("b", "1"), ("b", "2"), ("c", "1")] {
            store.put(&gr(), key(ns, name), cm(name));
        }
        let names: Vec<_> = store
            .range(&gr(), Some("b"), None)
            .map(|(k, _)| k.clone())
            .collect();
        assert_eq!(names, vec![key("b", "1"), key("b", "2")]);
        let rest: Vec<_> = store
            .range(&gr(), None, Some(&key("b", "1")))
            .map(|(k, _)| k.clone())
            .collect();
        assert_eq!(rest, vec![key("b", "2"), key("c", "1")]);
    }

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let token = ContinueToken {
            rv: Some(42),
            namespace: "ns".into(),
            name: "x".into(),
        };
        assert_eq!(ContinueToken::decode(&token.encode()), Some(token));
        assert_eq!(ContinueToken::decode("zz"), None);
        assert_eq!(ContinueToken::decode("abc"), None);
    }
}
