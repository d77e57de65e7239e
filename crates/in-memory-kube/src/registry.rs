//! Which resources are served at which URLs: the built-ins plus those CRDs define.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;

use super::cluster::at_version;
use super::events;
use super::resource::ResourceInfo;
use super::schema::Schema;
use super::selector::FieldLabels;
use super::status::GroupResource;

/// A served resource and, for custom resources, its compiled schema.
#[derive(Debug)]
pub struct Served {
    pub info: ResourceInfo,
    pub schema: Option<Schema>,
}

/// How a served resource relates to the objects stored for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// Stored as served (apart from `apiVersion` for multi-version resources).
    Own,
    /// core/v1 Events: stored as served, selectable by upstream's event field labels.
    CoreEvent,
    /// events.k8s.io/v1 Events: served from, and written to, the core/v1 Events.
    EventsV1,
}

impl Served {
    /// How clients name the resource, in messages and errors.
    pub fn group_resource(&self) -> GroupResource {
        GroupResource::new(&self.info.group, &self.info.plural)
    }

    fn form(&self) -> Form {
        match (self.info.group.as_str(), self.info.kind.as_str()) {
            ("", "Event") => Form::CoreEvent,
            ("events.k8s.io", "Event") => Form::EventsV1,
            _ => Form::Own,
        }
    }

    /// The stored form of an object a client wrote.
    pub fn to_stored(&self, object: Value) -> Value {
        match self.form() {
            Form::EventsV1 => events::to_core_v1(&object),
            Form::Own | Form::CoreEvent => object,
        }
    }

    /// A stored object as this resource serves it.
    pub fn present<'a>(&self, stored: &'a Value) -> Cow<'a, Value> {
        match self.form() {
            Form::EventsV1 => Cow::Owned(events::to_events_v1(stored)),
            Form::Own | Form::CoreEvent => at_version(stored, &self.info.api_version()),
        }
    }

    /// The field labels a list or watch may select by; they apply to stored objects.
    pub fn field_labels(&self) -> FieldLabels {
        match self.form() {
            Form::Own if self.info.custom => FieldLabels::Metadata,
            // Upstream's field label conversions for the built-in kinds served here.
            Form::Own => match (self.info.group.as_str(), self.info.kind.as_str()) {
                ("", "Secret") => {
                    FieldLabels::Listed(&["metadata.name", "metadata.namespace", "type"])
                }
                ("", "Namespace") => FieldLabels::Listed(&["metadata.name", "status.phase"]),
                _ => FieldLabels::Metadata,
            },
            Form::CoreEvent => FieldLabels::Fixed {
                translate: events::core_field_label,
                read: events::field_value,
            },
            Form::EventsV1 => FieldLabels::Fixed {
                translate: events::events_v1_field_label,
                read: events::field_value,
            },
        }
    }
}

type Gvr = (String, String, String);

#[derive(Debug, Default)]
pub struct Registry {
    by_gvr: BTreeMap<Gvr, Arc<Served>>,
    /// The resources each CRD (by name) defines.
    by_crd: HashMap<String, Vec<Gvr>>,
}

fn gvr(info: &ResourceInfo) -> Gvr {
    (
        info.group.clone(),
        info.version.clone(),
        info.plural.clone(),
    )
}

impl Registry {
    pub fn with_builtins(builtins: Vec<ResourceInfo>) -> Self {
        let mut registry = Self::default();
        for info in builtins {
            registry
                .by_gvr
                .insert(gvr(&info), Arc::new(Served { info, schema: None }));
        }
        registry
    }

    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<Arc<Served>> {
        self.by_gvr
            .get(&(group.to_owned(), version.to_owned(), plural.to_owned()))
            .cloned()
    }

    /// The resource whose stored objects `served` reads and writes: itself, or for
    /// events.k8s.io/v1 Events the core/v1 Events.
    pub fn storage_of(&self, served: &Arc<Served>) -> Arc<Served> {
        match served.form() {
            Form::EventsV1 => self.lookup("", "v1", "events"),
            Form::Own | Form::CoreEvent => None,
        }
        .unwrap_or_else(|| served.clone())
    }

    pub fn infos(&self) -> Vec<ResourceInfo> {
        self.by_gvr.values().map(|s| s.info.clone()).collect()
    }

    /// Replaces what the CRD `name` serves.
    pub fn set_crd(&mut self, name: &str, served: Vec<Served>) {
        self.remove_crd(name);
        let keys = served
            .into_iter()
            .map(|s| {
                let key = gvr(&s.info);
                self.by_gvr.insert(key.clone(), Arc::new(s));
                key
            })
            .collect();
        self.by_crd.insert(name.to_owned(), keys);
    }

    pub fn remove_crd(&mut self, name: &str) {
        for key in self.by_crd.remove(name).unwrap_or_default() {
            self.by_gvr.remove(&key);
        }
    }

    /// Whether another CRD than `crd_name` already serves this group and plural.
    pub fn claimed_by_other(&self, crd_name: &str, group: &str, plural: &str) -> bool {
        self.by_gvr
            .keys()
            .any(|(g, _, p)| g == group && p == plural)
            && !self
                .by_crd
                .get(crd_name)
                .is_some_and(|keys| keys.iter().any(|(g, _, p)| g == group && p == plural))
    }
}
