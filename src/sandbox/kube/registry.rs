//! Which resources are served at which URLs: the built-ins plus those CRDs define.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::resource::ResourceInfo;
use super::schema::Schema;
use super::status::GroupResource;

/// A served resource and, for custom resources, its compiled schema.
#[derive(Debug)]
pub struct Served {
    pub info: ResourceInfo,
    pub schema: Option<Schema>,
}

impl Served {
    pub fn group_resource(&self) -> GroupResource {
        GroupResource::new(&self.info.group, &self.info.plural)
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
    (info.group.clone(), info.version.clone(), info.plural.clone())
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
        self.by_gvr.keys().any(|(g, _, p)| g == group && p == plural)
            && !self
                .by_crd
                .get(crd_name)
                .is_some_and(|keys| keys.iter().any(|(g, _, p)| g == group && p == plural))
    }
}
