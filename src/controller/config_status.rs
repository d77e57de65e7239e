//! ProviderConfig and ClusterProviderConfig status: Ready when the provider accepted the
//! credentials, False with a reason when it refused them or the Secret is unusable. The
//! verdict comes from RoleAssignment reconciles and is written only when it changes, so
//! thousands of reconciles cost no extra writes.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, ResourceExt};
use serde_json::json;
use tracing::warn;

use super::conditions::{self, READY, Wanted};
use crate::api::{
    ClusterProviderConfig, ConditionStatus, ConfigKind, ProviderConfig, ProviderConfigRef,
    ProviderConfigStatus,
};

/// What the last use of a config said about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    Refused {
        reason: &'static str,
        message: String,
    },
}

impl Verdict {
    fn condition(&self) -> Wanted {
        match self {
            Self::Accepted => Wanted::new(READY, ConditionStatus::True, "CredentialsAccepted", ""),
            Self::Refused { reason, message } => {
                Wanted::new(READY, ConditionStatus::False, reason, message.clone())
            }
        }
    }
}

type Key = (ConfigKind, String, String);

pub struct ConfigHealth {
    kube: kube::Client,
    configs: Store<ProviderConfig>,
    cluster_configs: Store<ClusterProviderConfig>,
    last: Mutex<HashMap<Key, Verdict>>,
}

impl ConfigHealth {
    pub fn new(
        kube: kube::Client,
        configs: Store<ProviderConfig>,
        cluster_configs: Store<ClusterProviderConfig>,
    ) -> Self {
        Self {
            kube,
            configs,
            cluster_configs,
            last: Mutex::default(),
        }
    }

    /// Records what a reconcile learnt about the config `r` (as seen from `ra_namespace`)
    /// and writes its status when that differs from what was last recorded.
    pub async fn report(&self, ra_namespace: &str, r: &ProviderConfigRef, verdict: Verdict) {
        let ns = match r.kind {
            ConfigKind::ProviderConfig => ra_namespace.to_owned(),
            ConfigKind::ClusterProviderConfig => String::new(),
        };
        let key = (r.kind, ns, r.name.clone());
        {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if last.get(&key) == Some(&verdict) {
                return;
            }
            last.insert(key.clone(), verdict.clone());
        }
        if let Err(e) = self.write(&key, &verdict).await {
            // Forget the verdict so the next reconcile tries again.
            self.last
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
            warn!(config = %r.name, error = %e, "could not update provider config status");
        }
    }

    async fn write(&self, (kind, ns, name): &Key, verdict: &Verdict) -> Result<(), kube::Error> {
        let now = jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_else(|_| jiff::Timestamp::now());
        // Only the fields this writes: `recentRevocations` is the revocation window's,
        // written by it alone (this cache may lag its writes).
        let status = |current: Option<&ProviderConfigStatus>, generation| {
            let old = current.map(|s| s.conditions.as_slice()).unwrap_or_default();
            ProviderConfigStatus {
                observed_generation: generation,
                conditions: conditions::merge(
                    old,
                    &[verdict.condition()],
                    generation,
                    &now.to_string(),
                ),
                ..Default::default()
            }
        };
        let unchanged = |current: Option<&ProviderConfigStatus>, new: &ProviderConfigStatus| {
            current.is_some_and(|c| {
                c.observed_generation == new.observed_generation && c.conditions == new.conditions
            })
        };
        let params = PatchParams::default();
        match kind {
            ConfigKind::ProviderConfig => {
                let Some(pc) = self.configs.get(&ObjectRef::new(name).within(ns)) else {
                    return Ok(());
                };
                let new = status(pc.status.as_ref(), pc.metadata.generation);
                if unchanged(pc.status.as_ref(), &new) {
                    return Ok(());
                }
                Api::<ProviderConfig>::namespaced(self.kube.clone(), ns)
                    .patch_status(
                        &pc.name_any(),
                        &params,
                        &Patch::Merge(json!({"status": new})),
                    )
                    .await?;
            }
            ConfigKind::ClusterProviderConfig => {
                let Some(cpc) = self.cluster_configs.get(&ObjectRef::new(name)) else {
                    return Ok(());
                };
                let new = status(cpc.status.as_ref(), cpc.metadata.generation);
                if unchanged(cpc.status.as_ref(), &new) {
                    return Ok(());
                }
                Api::<ClusterProviderConfig>::all(self.kube.clone())
                    .patch_status(
                        &cpc.name_any(),
                        &params,
                        &Patch::Merge(json!({"status": new})),
                    )
                    .await?;
            }
        }
        Ok(())
    }
}
