//! Resolves a RoleAssignment's provider config into a ready client: applies the namespace
//! rules, reads the credentials Secret, and caches one client (and so one rate limiter and
//! one list cache) per config until the config or its Secret changes.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, ResourceExt};
use secrecy::SecretString;

use super::config_status::{ConfigHealth, Verdict};
use super::guardrails::{Guard, namespace_refused};
use super::revocations::{Reservation, RevocationLimit, RevocationWindows};
use crate::api::{
    ALLOW_REVOCATIONS_ANNOTATION, ClusterProviderConfig, ConfigKind, Guardrails, ProviderConfig,
    ProviderConfigRef, RateLimitSpec,
};
use crate::providers::http::{RateLimit, RequestObserver};
use crate::providers::{ConfigBlocks, Connection, ProviderError, ProviderKind};

/// Identifies one provider config: `ProviderConfig/ns/name` or `ClusterProviderConfig/name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConfigKey(String);

impl ConfigKey {
    pub fn of(ra_namespace: &str, r: &ProviderConfigRef) -> Self {
        match r.kind {
            ConfigKind::ProviderConfig => Self(format!("ProviderConfig/{ra_namespace}/{}", r.name)),
            ConfigKind::ClusterProviderConfig => Self(format!("ClusterProviderConfig/{}", r.name)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a config cannot be turned into a client.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("Secret {namespace}/{name} not found")]
    SecretNotFound { namespace: String, name: String },
    #[error("Secret {namespace}/{name} has no key {key:?}")]
    SecretKeyMissing {
        namespace: String,
        name: String,
        key: String,
    },
    #[error(
        "Secret namespace {namespace:?} is not allowed for ClusterProviderConfig {config}: rolesync reads Secrets only from {allowed}"
    )]
    SecretNamespaceNotAllowed {
        config: String,
        namespace: String,
        allowed: String,
    },
    #[error("{config} is for provider {config_provider}, but the RoleAssignment sets {wanted}")]
    ProviderMismatch {
        config: String,
        config_provider: &'static str,
        wanted: ProviderKind,
    },
    #[error("{config}: {source}")]
    Invalid {
        config: String,
        source: ProviderError,
    },
    #[error("reading Secret: {0}")]
    Kube(#[source] kube::Error),
}

impl ConfigError {
    /// Missing objects may appear later (and their watch triggers a reconcile); a wrong
    /// namespace or a mismatched provider needs a human.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::NotFound(_)
                | Self::SecretNotFound { .. }
                | Self::SecretKeyMissing { .. }
                | Self::Kube(_)
        )
    }

    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "ProviderConfigNotFound",
            Self::SecretNotFound { .. } => "SecretNotFound",
            Self::SecretKeyMissing { .. } => "SecretKeyMissing",
            Self::SecretNamespaceNotAllowed { .. } => "SecretNamespaceNotAllowed",
            Self::ProviderMismatch { .. } => "ProviderMismatch",
            Self::Invalid { .. } => "InvalidProviderConfig",
            Self::Kube(_) => "KubernetesError",
        }
    }
}

/// The parts of either config kind that matter for building a client and its guard.
struct ConfigView<'a> {
    provider: &'a ConfigBlocks,
    secret_namespace: String,
    secret_name: &'a str,
    secret_key: &'a str,
    rate_limit: Option<RateLimitSpec>,
    generation: Option<i64>,
    guardrails: &'a Guardrails,
    allowed_namespaces: Option<&'a LabelSelector>,
    annotations: &'a std::collections::BTreeMap<String, String>,
}

struct Cached {
    generation: Option<i64>,
    secret: (String, String),
    client: Arc<dyn Connection>,
}

/// Which namespaces a ClusterProviderConfig may read Secrets from.
#[derive(Clone, Debug)]
pub struct SecretPolicy {
    /// rolesync's own namespace: the default for ClusterProviderConfig Secrets.
    pub operator_namespace: String,
    /// Further namespaces the admin allowed.
    pub extra_namespaces: Vec<String>,
}

impl SecretPolicy {
    fn allows(&self, ns: &str) -> bool {
        ns == self.operator_namespace || self.extra_namespaces.iter().any(|n| n == ns)
    }

    fn describe(&self) -> String {
        std::iter::once(&self.operator_namespace)
            .chain(&self.extra_namespaces)
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A config resolved for a RoleAssignment: which one it is, its client, and what it
/// allows the RoleAssignment.
#[derive(Clone)]
pub struct Resolved {
    pub config: ConfigKey,
    pub client: Arc<dyn Connection>,
    pub guard: Guard,
}

pub struct ConfigResolver {
    kube: kube::Client,
    configs: Store<ProviderConfig>,
    cluster_configs: Store<ClusterProviderConfig>,
    /// For ClusterProviderConfigs' `allowedNamespaces`: the namespaces' labels.
    namespaces: Store<PartialObjectMeta<Namespace>>,
    policy: SecretPolicy,
    observer: Arc<dyn RequestObserver>,
    cache: Mutex<HashMap<ConfigKey, Cached>>,
    /// Serialises client construction so a burst of reconciles builds one client per
    /// config (one Secret read, one rate limiter), not one each.
    building: tokio::sync::Mutex<()>,
}

impl ConfigResolver {
    pub fn new(
        kube: kube::Client,
        (configs, cluster_configs): (Store<ProviderConfig>, Store<ClusterProviderConfig>),
        namespaces: Store<PartialObjectMeta<Namespace>>,
        policy: SecretPolicy,
        observer: Arc<dyn RequestObserver>,
    ) -> Self {
        Self {
            kube,
            configs,
            cluster_configs,
            namespaces,
            policy,
            observer,
            cache: Mutex::default(),
            building: tokio::sync::Mutex::new(()),
        }
    }

    /// The client for `r` as seen from a RoleAssignment in `ra_namespace`. A namespaced
    /// ProviderConfig is looked up only in that namespace, so it cannot be used from another.
    pub async fn resolve(
        &self,
        ra_namespace: &str,
        r: &ProviderConfigRef,
        wanted: ProviderKind,
    ) -> Result<Resolved, ConfigError> {
        let key = ConfigKey::of(ra_namespace, r);
        let pc;
        let cpc;
        let view = match r.kind {
            ConfigKind::ProviderConfig => {
                pc = self
                    .configs
                    .get(&ObjectRef::new(&r.name).within(ra_namespace))
                    .ok_or_else(|| {
                        ConfigError::NotFound(format!("ProviderConfig {ra_namespace}/{}", r.name))
                    })?;
                ConfigView {
                    provider: &pc.spec.provider,
                    secret_namespace: ra_namespace.to_owned(),
                    secret_name: &pc.spec.credentials.secret_ref.name,
                    secret_key: &pc.spec.credentials.secret_ref.key,
                    rate_limit: pc.spec.rate_limit,
                    generation: pc.metadata.generation,
                    guardrails: &pc.spec.guardrails,
                    // A ProviderConfig serves its own namespace only.
                    allowed_namespaces: None,
                    annotations: pc.annotations(),
                }
            }
            ConfigKind::ClusterProviderConfig => {
                cpc = self
                    .cluster_configs
                    .get(&ObjectRef::new(&r.name))
                    .ok_or_else(|| {
                        ConfigError::NotFound(format!("ClusterProviderConfig {}", r.name))
                    })?;
                let sr = &cpc.spec.credentials.secret_ref;
                let ns = sr
                    .namespace
                    .clone()
                    .unwrap_or_else(|| self.policy.operator_namespace.clone());
                if !self.policy.allows(&ns) {
                    return Err(ConfigError::SecretNamespaceNotAllowed {
                        config: r.name.clone(),
                        namespace: ns,
                        allowed: self.policy.describe(),
                    });
                }
                ConfigView {
                    provider: &cpc.spec.provider,
                    secret_namespace: ns,
                    secret_name: &sr.name,
                    secret_key: &sr.key,
                    rate_limit: cpc.spec.rate_limit,
                    generation: cpc.metadata.generation,
                    guardrails: &cpc.spec.guardrails,
                    allowed_namespaces: cpc.spec.allowed_namespaces.as_ref(),
                    annotations: cpc.annotations(),
                }
            }
        };
        let Some(config_provider) = view.provider.kind() else {
            return Err(ConfigError::Invalid {
                config: key.as_str().to_owned(),
                source: ProviderError::Config("no provider block is set".to_owned()),
            });
        };
        if config_provider != wanted {
            return Err(ConfigError::ProviderMismatch {
                config: key.as_str().to_owned(),
                config_provider: config_provider.as_str(),
                wanted,
            });
        }
        let guard = self.guard(&key, &view, ra_namespace);
        if let Some(client) = self.cached(&key, view.generation) {
            return Ok(Resolved {
                config: key,
                client,
                guard,
            });
        }
        let _building = self.building.lock().await;
        if let Some(client) = self.cached(&key, view.generation) {
            return Ok(Resolved {
                config: key,
                client,
                guard,
            });
        }
        let client = self.build(&key, &view).await?;
        self.lock().insert(
            key.clone(),
            Cached {
                generation: view.generation,
                secret: (view.secret_namespace.clone(), view.secret_name.to_owned()),
                client: client.clone(),
            },
        );
        Ok(Resolved {
            config: key,
            client,
            guard,
        })
    }

    /// What the config allows a RoleAssignment in `ra_namespace`, as the config and the
    /// namespace's labels stand now.
    fn guard(&self, key: &ConfigKey, view: &ConfigView<'_>, ra_namespace: &str) -> Guard {
        let labels = view.allowed_namespaces.and_then(|_| {
            self.namespaces
                .get(&ObjectRef::new(ra_namespace))
                .map(|ns| ns.labels().clone())
        });
        let refused = namespace_refused(
            key.as_str(),
            view.allowed_namespaces,
            ra_namespace,
            labels.as_ref(),
        );
        let revocations = view.guardrails.revocation_limit.map(|l| RevocationLimit {
            max_per_hour: u32::try_from(l.max_per_hour).unwrap_or(1),
            // Anything but an RFC 3339 time confirms nothing.
            confirmed_until: view
                .annotations
                .get(ALLOW_REVOCATIONS_ANNOTATION)
                .and_then(|v| v.parse().ok()),
        });
        Guard::new(
            key.as_str().to_owned(),
            view.guardrails,
            refused,
            revocations,
        )
    }

    /// Forgets clients built from Secret `namespace/name`, so the next reconcile reads the
    /// rotated credentials.
    pub fn secret_changed(&self, namespace: &str, name: &str) {
        self.lock()
            .retain(|_, c| !(c.secret.0 == namespace && c.secret.1 == name));
    }

    /// The client built for this generation of the config's spec; status writes don't
    /// bump the generation, so they keep the client (and its rate limiter).
    fn cached(&self, key: &ConfigKey, generation: Option<i64>) -> Option<Arc<dyn Connection>> {
        self.lock()
            .get(key)
            .filter(|c| c.generation == generation)
            .map(|c| c.client.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ConfigKey, Cached>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn build(
        &self,
        key: &ConfigKey,
        view: &ConfigView<'_>,
    ) -> Result<Arc<dyn Connection>, ConfigError> {
        let api_key = read_api_key(
            &self.kube,
            &view.secret_namespace,
            view.secret_name,
            view.secret_key,
        )
        .await?;
        let invalid = |source| ConfigError::Invalid {
            config: key.as_str().to_owned(),
            source,
        };
        let rate_limit = view
            .rate_limit
            .map(rate_limit)
            .transpose()
            .map_err(invalid)?;
        view.provider
            .connect(api_key, rate_limit, Some(self.observer.clone()))
            .map_err(invalid)
    }
}

/// The API key under `key` in Secret `namespace/name`, trimmed: what a provider config's
/// `credentials.secretRef` names.
pub async fn read_api_key(
    kube: &kube::Client,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<SecretString, ConfigError> {
    let secrets: Api<Secret> = Api::namespaced(kube.clone(), namespace);
    let secret = secrets
        .get_opt(name)
        .await
        .map_err(ConfigError::Kube)?
        .ok_or_else(|| ConfigError::SecretNotFound {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })?;
    let value = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| String::from_utf8_lossy(&b.0).trim().to_owned())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|s| s.trim().to_owned())
        })
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ConfigError::SecretKeyMissing {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            key: key.to_owned(),
        })?;
    Ok(SecretString::from(value))
}

/// A config's `rateLimit` as the client's limiter takes it.
pub fn rate_limit(spec: RateLimitSpec) -> Result<RateLimit, ProviderError> {
    let per_minute = u32::try_from(spec.requests_per_minute)
        .ok()
        .and_then(NonZeroU32::new)
        .ok_or_else(|| {
            ProviderError::Config("rateLimit.requestsPerMinute must be positive".into())
        })?;
    let burst = match spec.burst {
        // About one second's worth, so a configured rate is not exceeded in bursts.
        None => NonZeroU32::new(per_minute.get() / 60).unwrap_or(NonZeroU32::MIN),
        Some(b) => u32::try_from(b)
            .ok()
            .and_then(NonZeroU32::new)
            .ok_or_else(|| ProviderError::Config("rateLimit.burst must be positive".into()))?,
    };
    Ok(RateLimit {
        requests_per_minute: per_minute,
        burst,
    })
}

/// Where a reconcile gets the client for a RoleAssignment's provider config, and where it
/// tells what it learnt of the config's credentials: the cluster in the operator, a fake in
/// the reconcile's unit tests.
pub trait Configs: Send + Sync {
    /// The client for `r` as seen from a RoleAssignment in `ra_namespace`.
    fn resolve<'a>(
        &'a self,
        ra_namespace: &'a str,
        r: &'a ProviderConfigRef,
        wanted: ProviderKind,
    ) -> BoxFuture<'a, Result<Resolved, ConfigError>>;

    /// What a reconcile learnt about the config's credentials.
    fn report<'a>(
        &'a self,
        ra_namespace: &'a str,
        r: &'a ProviderConfigRef,
        verdict: Verdict,
    ) -> BoxFuture<'a, ()>;

    /// Takes a slot of the config's revocation limit for one revocation now, recording it
    /// before the revocation is sent, or says when the next slot frees.
    fn reserve_revocation<'a>(
        &'a self,
        ra_namespace: &'a str,
        r: &'a ProviderConfigRef,
        limit: RevocationLimit,
    ) -> BoxFuture<'a, Result<Reservation, kube::Error>>;
}

/// [`Configs`] from the cluster: the configs in the operator's cache, their Secrets, and
/// their status.
pub struct ClusterConfigs {
    pub resolver: Arc<ConfigResolver>,
    pub health: ConfigHealth,
    pub revocations: RevocationWindows,
}

impl Configs for ClusterConfigs {
    fn resolve<'a>(
        &'a self,
        ra_namespace: &'a str,
        r: &'a ProviderConfigRef,
        wanted: ProviderKind,
    ) -> BoxFuture<'a, Result<Resolved, ConfigError>> {
        Box::pin(self.resolver.resolve(ra_namespace, r, wanted))
    }

    fn report<'a>(
        &'a self,
        ra_namespace: &'a str,
        r: &'a ProviderConfigRef,
        verdict: Verdict,
    ) -> BoxFuture<'a, ()> {
        Box::pin(self.health.report(ra_namespace, r, verdict))
    }

    fn reserve_revocation<'a>(
        &'a self,
        ra_namespace: &'a str,
        r: &'a ProviderConfigRef,
        limit: RevocationLimit,
    ) -> BoxFuture<'a, Result<Reservation, kube::Error>> {
        Box::pin(self.revocations.reserve(ra_namespace, r, limit))
    }
}
