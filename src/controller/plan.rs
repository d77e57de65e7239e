//! `rolesync plan`'s engine: what applying a set of RoleAssignment manifests would make the
//! controller do at the providers, found the way the controller finds it — the API server
//! validates each manifest (server-side dry run), the provider config and its Secret are
//! resolved by the controller's resolver, and the controller's own decision
//! ([`reconcile::preview`]) observes the provider. Nothing is written: no provider write
//! and no Kubernetes write.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use serde_json::Value;

use super::claim_of;
use super::claims::Tracked;
use super::configs::{ConfigKey, ConfigResolver, SecretPolicy};
pub use super::reconcile::Preview;
use super::reconcile::object_key;
use super::reconcile::{self, claim_key};
use crate::api::{ClusterProviderConfig, ProviderConfig, RoleAssignment};
use crate::metrics::Metrics;
use crate::providers::ExternalId;

/// The field manager of the dry runs, as the API server's audit log shows them.
const FIELD_MANAGER: &str = "rolesync-plan";

/// Why a plan could not be made at all (as opposed to one RoleAssignment's failure, which
/// is part of the plan).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Listing what the plan depends on failed; retrying may help once the cluster answers.
    #[error("reading {what} from the cluster (retrying may help): {source}")]
    Read {
        what: &'static str,
        #[source]
        source: kube::Error,
    },
    /// The dry run could not be sent or answered (not a refusal of the manifest).
    #[error(
        "validating RoleAssignment {object} with a server-side dry run (retrying may help): {source}"
    )]
    DryRun {
        object: String,
        #[source]
        source: kube::Error,
    },
    /// The API server answered the dry run with something that is not a RoleAssignment.
    #[error(
        "the dry run of RoleAssignment {object} returned no RoleAssignment (the API server does not serve rolesync's CRD version; retrying will not help): {reason}"
    )]
    Malformed { object: String, reason: String },
}

/// What happens to one RoleAssignment.
#[derive(Debug)]
pub struct Planned {
    pub namespace: String,
    pub name: String,
    pub provider: Option<&'static str>,
    pub action: Action,
}

#[derive(Debug, PartialEq)]
pub enum Action {
    /// What applying the manifest would make the controller do.
    Apply(Preview),
    /// The API server refused the manifest; its message.
    Invalid(String),
    /// In the cluster but not in the manifests: deleting it revokes this assignment.
    Revoke(ExternalId),
    /// In the cluster but not in the manifests: deleting it leaves the remote assignment in
    /// place, for this reason.
    LeftInPlace(String),
}

/// Which RoleAssignments in the cluster the manifests are the whole of: those absent from
/// the manifests are to be deleted.
#[derive(Clone, Debug, Default)]
pub struct Prune {
    /// A label selector (`-l`).
    pub selector: Option<String>,
    /// Namespaces; all when empty (then a selector is required by the command line).
    pub namespaces: Vec<String>,
}

/// The cluster as the plan needs it: the provider configs and namespaces (for the
/// resolver), and who claims which remote assignment.
pub struct Planner {
    client: kube::Client,
    resolver: ConfigResolver,
    existing: Vec<RoleAssignment>,
    poll: Duration,
}

fn store<K>(items: Vec<K>) -> Store<K>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (reader, mut writer) = reflector::store::<K>();
    for item in items {
        writer.apply_watcher_event(&watcher::Event::Apply(item));
    }
    reader
}

fn read(what: &'static str) -> impl FnOnce(kube::Error) -> PlanError {
    move |source| PlanError::Read { what, source }
}

impl Planner {
    /// Reads the provider configs, namespaces and RoleAssignments once. `poll` is how old a
    /// provider's cached list may be, as in the controller.
    pub async fn connect(
        client: kube::Client,
        policy: SecretPolicy,
        poll: Duration,
    ) -> Result<Self, PlanError> {
        let lp = ListParams::default();
        let configs = Api::<ProviderConfig>::all(client.clone())
            .list(&lp)
            .await
            .map_err(read("ProviderConfigs"))?;
        let cluster_configs = Api::<ClusterProviderConfig>::all(client.clone())
            .list(&lp)
            .await
            .map_err(read("ClusterProviderConfigs"))?;
        let namespaces = Api::<Namespace>::all(client.clone())
            .list_metadata(&lp)
            .await
            .map_err(read("Namespaces"))?;
        let existing = Api::<RoleAssignment>::all(client.clone())
            .list(&lp)
            .await
            .map_err(read("RoleAssignments"))?
            .items;
        let resolver = ConfigResolver::new(
            client.clone(),
            (store(configs.items), store(cluster_configs.items)),
            store(namespaces.items),
            policy,
            // Provider requests are counted nowhere: plan serves no metrics.
            Arc::new(Metrics::default()),
        );
        Ok(Self {
            client,
            resolver,
            existing,
            poll,
        })
    }

    /// The plan for `manifests` (RoleAssignments as JSON; those without a namespace go to
    /// `default_namespace`), in their order, then what `prune` deletes.
    pub async fn plan(
        &self,
        manifests: Vec<Value>,
        default_namespace: &str,
        prune: Option<&Prune>,
    ) -> Result<Vec<Planned>, PlanError> {
        let mut validated = Vec::new();
        for mut manifest in manifests {
            if manifest.pointer("/metadata/namespace").is_none()
                && let Some(meta) = manifest.get_mut("metadata").and_then(Value::as_object_mut)
            {
                meta.insert("namespace".into(), default_namespace.into());
            }
            validated.push(self.dry_run(manifest).await?);
        }
        let named: BTreeSet<String> = validated
            .iter()
            .map(|(ns, name, _)| format!("{ns}/{name}"))
            .collect();
        let pruned: Vec<&RoleAssignment> = match prune {
            Some(p) => self
                .existing
                .iter()
                .filter(|ra| !named.contains(&object_key(ra)) && p.selects(ra))
                .collect(),
            None => Vec::new(),
        };

        // Ownership as it will be once applied: the manifests' claims replace the cluster's,
        // and pruned resources claim nothing any more.
        let mut claims = Tracked::default();
        for ra in &self.existing {
            claims.set(&object_key(ra), claim_of(ra));
        }
        let exists: BTreeSet<String> = self.existing.iter().map(object_key).collect();
        for (_, _, ra) in &validated {
            if let Ok(ra) = ra {
                let key = object_key(ra);
                // One still to be created will be younger than any that exists, whatever
                // second the dry run stamped it with.
                let claim = claim_of(ra).map(|mut c| {
                    if !exists.contains(&key) {
                        c.created = i64::MAX;
                    }
                    c
                });
                claims.set(&key, claim);
            }
        }
        for ra in &pruned {
            claims.set(&object_key(ra), None);
        }

        let mut plan = Vec::new();
        for (namespace, name, ra) in validated {
            let (provider, action) = match ra {
                Err(message) => (None, Action::Invalid(message)),
                Ok(ra) => {
                    let owner = ra.spec.provider.target().ok().and_then(|t| {
                        let config = ConfigKey::of(&namespace, &ra.spec.provider_config_ref);
                        claims
                            .owner(&claim_key(&config, &t.natural_key))
                            .map(str::to_owned)
                    });
                    let preview = reconcile::preview(&ra, &self.resolver, owner, self.poll).await;
                    (provider_of(&ra), Action::Apply(preview))
                }
            };
            plan.push(Planned {
                namespace,
                name,
                provider,
                action,
            });
        }
        for ra in pruned {
            plan.push(Planned {
                namespace: ra.namespace().unwrap_or_default(),
                name: ra.name_any(),
                provider: provider_of(ra),
                action: removal(ra),
            });
        }
        Ok(plan)
    }

    /// The manifest as the API server would store it (defaults applied, merged with the
    /// object it would change), or the server's refusal.
    async fn dry_run(
        &self,
        manifest: Value,
    ) -> Result<(String, String, Result<RoleAssignment, String>), PlanError> {
        let str_at = |path| {
            manifest
                .pointer(path)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let (namespace, name) = (str_at("/metadata/namespace"), str_at("/metadata/name"));
        if name.is_empty() {
            let refused = Err("metadata.name is required".to_owned());
            return Ok((namespace, name, refused));
        }
        let ar = ApiResource::erase::<RoleAssignment>(&());
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), &namespace, &ar);
        let params = PatchParams::apply(FIELD_MANAGER).force().dry_run();
        let object = format!("{namespace}/{name}");
        let stored = match api.patch(&name, &params, &Patch::Apply(&manifest)).await {
            Ok(stored) => stored,
            Err(kube::Error::Api(status)) if status.code < 500 => {
                return Ok((namespace, name, Err(status.message)));
            }
            Err(source) => return Err(PlanError::DryRun { object, source }),
        };
        let ra = serde_json::to_value(stored)
            .and_then(serde_json::from_value::<RoleAssignment>)
            .map_err(|e| PlanError::Malformed {
                object,
                reason: e.to_string(),
            })?;
        Ok((namespace, name, Ok(ra)))
    }
}

impl Prune {
    fn selects(&self, ra: &RoleAssignment) -> bool {
        let in_namespace = self.namespaces.is_empty()
            || ra
                .namespace()
                .is_some_and(|ns| self.namespaces.contains(&ns));
        in_namespace
            && self
                .selector
                .as_deref()
                .is_none_or(|s| selector_matches(s, ra.labels()))
    }
}

/// Whether `labels` match an equality-based selector (`a=b,c!=d,e`, as `-l` takes).
fn selector_matches(selector: &str, labels: &std::collections::BTreeMap<String, String>) -> bool {
    selector
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .all(|term| {
            if let Some((k, v)) = term.split_once("!=") {
                labels.get(k.trim()).is_none_or(|have| have != v.trim())
            } else if let Some((k, v)) = term.split_once('=') {
                let v = v.trim_start_matches('=');
                labels.get(k.trim()).is_some_and(|have| have == v.trim())
            } else if let Some(k) = term.strip_prefix('!') {
                !labels.contains_key(k.trim())
            } else {
                labels.contains_key(term)
            }
        })
}

fn provider_of(ra: &RoleAssignment) -> Option<&'static str> {
    ra.spec.provider.kind().map(|k| k.as_str())
}

/// What deleting `ra` does remotely, as its finalizer would.
fn removal(ra: &RoleAssignment) -> Action {
    let held = ra
        .status
        .as_ref()
        .and_then(|s| s.external_id.clone())
        .or(ra.spec.external_id.clone())
        .map(ExternalId::new);
    match held {
        None => Action::LeftInPlace("nothing was granted".to_owned()),
        Some(_) if !reconcile::deletes_remote(&ra.spec) => Action::LeftInPlace(
            "deletionPolicy Orphan (or managementPolicies without Delete) keeps the remote assignment"
                .to_owned(),
        ),
        Some(_) if reconcile::expired(ra) => {
            Action::LeftInPlace("already revoked when it expired".to_owned())
        }
        Some(id) => Action::Revoke(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_selectors_match_as_kubectl_does() {
        let labels = [("team", "a"), ("env", "prod")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        for (selector, matches) in [
            ("team=a", true),
            ("team==a", true),
            ("team=b", false),
            ("team=a,env=prod", true),
            ("env!=prod", false),
            ("env!=dev", true),
            ("team", true),
            ("owner", false),
            ("!owner", true),
            ("!team", false),
        ] {
            assert_eq!(selector_matches(selector, &labels), matches, "{selector}");
        }
    }
}
