//! What a provider config's credentials can see, set against the RoleAssignments that
//! claim it: which remote assignments are managed (some RoleAssignment accounts for them)
//! and which are not, and the RoleAssignment manifest that would adopt each.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Value, json};

use crate::api::{ConfigKind, RoleAssignment};
use crate::controller::ConfigKey;
use crate::providers::RemoteGrant;

/// The longest name the API server takes (a DNS subdomain).
const MAX_NAME: usize = 253;

/// One remote assignment and the RoleAssignment that accounts for it, if any.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub grant: RemoteGrant,
    /// `namespace/name` of a RoleAssignment claiming it.
    pub managed_by: Option<String>,
}

/// How many remote assignments a config sees, and how many of them are managed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub remote: u64,
    pub managed: u64,
    pub unmanaged: u64,
}

/// Sets each listed grant against the RoleAssignments of `config`: a RoleAssignment
/// accounts for a grant when it claims the same remote assignment (the same natural key,
/// as two RoleAssignments conflict over), or names or records the grant's id.
pub fn account<'a>(
    config: &ConfigKey,
    grants: Vec<RemoteGrant>,
    ras: impl IntoIterator<Item = &'a RoleAssignment>,
) -> Vec<Entry> {
    let mut by_key: HashMap<String, String> = HashMap::new();
    let mut by_id: HashMap<String, String> = HashMap::new();
    for ra in ras {
        let namespace = ra.metadata.namespace.as_deref().unwrap_or_default();
        if ConfigKey::of(namespace, &ra.spec.provider_config_ref) != *config {
            continue;
        }
        let name = format!(
            "{namespace}/{}",
            ra.metadata.name.as_deref().unwrap_or_default()
        );
        if let Ok(target) = ra.spec.provider.target() {
            by_key.entry(target.natural_key).or_insert(name.clone());
        }
        let recorded = ra.status.as_ref().and_then(|s| s.external_id.clone());
        for id in ra.spec.external_id.iter().chain(recorded.iter()) {
            by_id.entry(id.clone()).or_insert(name.clone());
        }
    }
    grants
        .into_iter()
        .map(|grant| {
            let managed_by = by_key.get(&grant.target.natural_key).cloned().or_else(|| {
                grant
                    .external_id
                    .as_ref()
                    .and_then(|id| by_id.get(id.as_str()).cloned())
            });
            Entry { grant, managed_by }
        })
        .collect()
}

/// The counts of `entries`.
pub fn counts(entries: &[Entry]) -> Counts {
    let managed = entries.iter().filter(|e| e.managed_by.is_some()).count() as u64;
    Counts {
        remote: entries.len() as u64,
        managed,
        unmanaged: entries.len() as u64 - managed,
    }
}

/// `provider-principal-role-scope`, lowercased with every other character a `-`: readable,
/// and the same for the same grant at every export.
fn readable_name(grant: &RemoteGrant) -> String {
    let g = grant.target.desired.grant();
    let raw = format!(
        "{}-{}-{}-{}",
        grant.target.kind(),
        g.principal(),
        g.role(),
        g.scope()
    );
    let mut name = String::with_capacity(raw.len());
    for c in raw.chars().map(|c| c.to_ascii_lowercase()) {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && (name.is_empty() || name.ends_with('-'))) {
            name.push(c);
        }
    }
    name.trim_end_matches('-').to_owned()
}

/// A short hash of what the grant is, for names that would otherwise collide or be too long.
fn suffix(grant: &RemoteGrant) -> String {
    let what = format!("{}\u{1f}{}", grant.target.natural_key, grant.target.role);
    format!(
        "{:08x}",
        crate::providers::harness::fnv1a(what.as_bytes()) as u32
    )
}

/// A stable, readable RoleAssignment name per grant (same order as `grants`): its
/// [`readable_name`], with a short hash of the grant appended where two grants would get
/// the same name or the name would be too long.
pub fn names(grants: &[&RemoteGrant]) -> Vec<String> {
    let readable: Vec<String> = grants.iter().map(|g| readable_name(g)).collect();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for name in &readable {
        *seen.entry(name).or_default() += 1;
    }
    let shared: HashSet<&str> = seen
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(name, _)| name)
        .collect();
    grants
        .iter()
        .zip(&readable)
        .map(|(grant, name)| {
            if shared.contains(name.as_str()) || name.len() > MAX_NAME {
                let suffix = suffix(grant);
                let keep = name.len().min(MAX_NAME - suffix.len() - 1);
                format!("{}-{suffix}", name[..keep].trim_end_matches('-'))
            } else {
                name.clone()
            }
        })
        .collect()
}

/// How the manifests refer to the config and where they go.
#[derive(Clone, Debug)]
pub struct ManifestOptions {
    pub config_kind: ConfigKind,
    pub config_name: String,
    pub namespace: String,
    /// `managementPolicies: ["Observe"]`: report, never write.
    pub observe_only: bool,
}

/// The RoleAssignment that adopts `grant` under `name`: the config reference, the provider
/// block, and `externalID` where the provider has ids.
pub fn manifest(grant: &RemoteGrant, name: &str, options: &ManifestOptions) -> Value {
    let mut spec = json!({
        "providerConfigRef": {"kind": options.config_kind, "name": options.config_name},
    });
    if let Some(id) = &grant.external_id {
        spec["externalID"] = json!(id);
    }
    if options.observe_only {
        spec["managementPolicies"] = json!(["Observe"]);
    }
    if let (Some(spec), Ok(Value::Object(block))) =
        (spec.as_object_mut(), serde_json::to_value(&grant.blocks))
    {
        spec.extend(block);
    }
    json!({
        "apiVersion": "rolesync.dev/v1alpha1",
        "kind": "RoleAssignment",
        "metadata": {"name": name, "namespace": options.namespace},
        "spec": spec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::RoleAssignmentSpec;
    use crate::providers::{AssignmentBlocks, ExternalId};

    fn grant(block: Value, id: Option<&str>) -> RemoteGrant {
        let blocks: AssignmentBlocks = serde_json::from_value(block).unwrap();
        RemoteGrant::new(blocks, id.map(ExternalId::new)).unwrap()
    }

    fn gcore(user: u64, role: &str, project: Option<u64>) -> RemoteGrant {
        let mut g = json!({"userId": user, "role": role, "clientId": 8});
        if let Some(p) = project {
            g["projectId"] = json!(p);
        }
        grant(
            json!({"gcore": g}),
            Some(&format!("{user}{}", project.unwrap_or(0))),
        )
    }

    fn ra(ns: &str, name: &str, spec: Value, recorded: Option<&str>) -> RoleAssignment {
        let spec: RoleAssignmentSpec = serde_json::from_value(spec).unwrap();
        let mut ra = RoleAssignment::new(name, spec);
        ra.metadata.namespace = Some(ns.to_owned());
        ra.status = recorded.map(|id| crate::api::RoleAssignmentStatus {
            external_id: Some(id.to_owned()),
            ..Default::default()
        });
        ra
    }

    fn config() -> ConfigKey {
        ConfigKey::of(
            "any",
            &crate::api::ProviderConfigRef {
                kind: ConfigKind::ClusterProviderConfig,
                name: "gcore".into(),
            },
        )
    }

    /// A grant is managed when a RoleAssignment of the same config claims its natural key
    /// or names its id; one of another config accounts for nothing.
    #[test]
    fn grants_are_managed_by_key_or_id_of_the_same_config() {
        let cpc = json!({"kind": "ClusterProviderConfig", "name": "gcore"});
        let other = json!({"kind": "ClusterProviderConfig", "name": "gcore-other"});
        let ras = [
            ra(
                "a",
                "by-key",
                json!({"providerConfigRef": cpc, "gcore": {"userId": 1, "role": "User", "clientId": 8}}),
                None,
            ),
            ra(
                "b",
                "by-id",
                json!({"providerConfigRef": cpc, "gcore": {"userId": 9, "role": "User", "clientId": 8}}),
                Some("20"),
            ),
            ra(
                "c",
                "elsewhere",
                json!({"providerConfigRef": other, "gcore": {"userId": 3, "role": "User", "clientId": 8}}),
                None,
            ),
        ];
        let entries = account(
            &config(),
            vec![
                gcore(1, "Observer", None),
                gcore(2, "User", None),
                gcore(3, "User", None),
            ],
            &ras,
        );
        let managed: Vec<Option<&str>> = entries.iter().map(|e| e.managed_by.as_deref()).collect();
        assert_eq!(managed, [Some("a/by-key"), Some("b/by-id"), None]);
        assert_eq!(
            counts(&entries),
            Counts {
                remote: 3,
                managed: 2,
                unmanaged: 1
            }
        );
    }

    /// Names read as what is granted, stay the same, and only grants that would share a
    /// name (or overlong ones) get a hash of the grant appended.
    #[test]
    fn names_are_readable_stable_and_unique() {
        let a = gcore(777, "Observer", Some(123));
        let b = gcore(778, "ClientAdministrator", None);
        let c = gcore(779, "Observer", None);
        let d = gcore(779, "User", None);
        let names = names(&[&a, &b, &c, &d]);
        assert_eq!(names[0], "gcore-user-777-observer-client-8-project-123");
        assert_eq!(names[1], "gcore-user-778-clientadministrator-client-8");
        assert_eq!(names[2], "gcore-user-779-observer-client-8");
        let long = grant(
            json!({"harness": {"role": "r".repeat(120), "resourceGroup": "g".repeat(120),
                "principal": {"type": "USER", "identifier": "u".repeat(120)}, "org": "o".repeat(100)}}),
            None,
        );
        let twice = grant(
            json!({"harness": {"role": "a_b", "resourceGroup": "g", "principal": {"type": "USER", "identifier": "x"}}}),
            None,
        );
        let collides = grant(
            json!({"harness": {"role": "a__b", "resourceGroup": "g", "principal": {"type": "USER", "identifier": "x"}}}),
            None,
        );
        let named = super::names(&[&long, &twice, &collides]);
        assert!(named[0].len() <= MAX_NAME, "{}", named[0]);
        assert_ne!(named[1], named[2]);
        assert!(named[1].starts_with("harness-user-x-a-b-account-"));
        assert_eq!(super::names(&[&twice, &collides]), named[1..]);
        let valid = |n: &str| {
            n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !n.starts_with('-')
                && !n.ends_with('-')
        };
        assert!(
            names.iter().chain(&named).all(|n| valid(n)),
            "{names:?} {named:?}"
        );
    }

    #[test]
    fn manifests_reference_the_config_and_adopt_by_id() {
        let options = ManifestOptions {
            config_kind: ConfigKind::ClusterProviderConfig,
            config_name: "gcore".into(),
            namespace: "team-a".into(),
            observe_only: true,
        };
        let m = manifest(&gcore(777, "Observer", Some(123)), "n", &options);
        assert_eq!(
            m,
            json!({"apiVersion": "rolesync.dev/v1alpha1", "kind": "RoleAssignment",
                "metadata": {"name": "n", "namespace": "team-a"},
                "spec": {"providerConfigRef": {"kind": "ClusterProviderConfig", "name": "gcore"},
                    "externalID": "777123", "managementPolicies": ["Observe"],
                    "gcore": {"userId": 777, "role": "Observer", "clientId": 8, "projectId": 123}}})
        );
        let m: RoleAssignment = serde_json::from_value(m).unwrap();
        assert_eq!(m.spec.external_id.as_deref(), Some("777123"));
    }
}
