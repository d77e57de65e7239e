//! `rolesync export`: every assignment a provider config's credentials can see that no
//! RoleAssignment accounts for, as RoleAssignment manifests ready to commit. It reads the
//! config, its Secret and the RoleAssignments, lists the provider, and writes nothing.

use std::fmt::Write as _;
use std::str::FromStr;
use std::time::Duration;

use kube::api::ListParams;
use kube::config::KubeConfigOptions;
use kube::{Api, Client};
use rolesync::api::{ClusterProviderConfig, ConfigKind, ProviderConfig, RoleAssignment};
use rolesync::controller::{ConfigError, ConfigKey, rate_limit, read_api_key};
use rolesync::inventory::{self, Entry, ManifestOptions};
use rolesync::providers::{ConfigBlocks, Freshness, ProviderError};
use rolesync::telemetry::{self, LogFormat};
use serde_json::{Value, json};

/// The provider config to list with, as `--config` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigArg {
    Cluster(String),
    Namespaced { namespace: String, name: String },
}

impl FromStr for ConfigArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            ["ClusterProviderConfig", name] if !name.is_empty() => {
                Ok(Self::Cluster((*name).to_owned()))
            }
            ["ProviderConfig", namespace, name] if !namespace.is_empty() && !name.is_empty() => {
                Ok(Self::Namespaced {
                    namespace: (*namespace).to_owned(),
                    name: (*name).to_owned(),
                })
            }
            _ => Err(format!(
                "{s:?} names no provider config: expected ClusterProviderConfig/NAME or ProviderConfig/NAMESPACE/NAME"
            )),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Yaml,
    Json,
    Table,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The provider config whose credentials list the provider:
    /// ClusterProviderConfig/NAME or ProviderConfig/NAMESPACE/NAME.
    #[arg(long)]
    pub config: ConfigArg,
    /// The kubeconfig context to use (default: the current one; KUBECONFIG is honoured).
    #[arg(long)]
    pub context: Option<String>,
    /// Namespace of the printed RoleAssignments (default: the ProviderConfig's own, or
    /// `default` for a ClusterProviderConfig).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Print RoleAssignments with managementPolicies ["Observe"]: they report and never write.
    #[arg(long)]
    pub observe_only: bool,
    /// Include the assignments RoleAssignments already account for.
    #[arg(long)]
    pub all: bool,
    #[arg(short = 'o', long, value_enum, default_value = "yaml")]
    pub output: Output,
    /// Where a ClusterProviderConfig's Secret is when its secretRef names no namespace:
    /// rolesync's own namespace.
    #[arg(long, env = "POD_NAMESPACE", default_value = "rolesync-system")]
    pub operator_namespace: String,
}

/// Why an export failed, and whether running it again may help.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no Kubernetes configuration: {0}")]
    KubeConfig(String),
    #[error("reading {what} from Kubernetes failed (retrying may help): {source}")]
    Kube {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("{0} not found")]
    ConfigNotFound(String),
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error(
        "a ProviderConfig serves its own namespace only: its RoleAssignments go in {config_namespace:?}, not {namespace:?}"
    )]
    Namespace {
        config_namespace: String,
        namespace: String,
    },
    #[error("listing {config} failed ({retry}): {source}")]
    Provider {
        config: String,
        retry: &'static str,
        #[source]
        source: ProviderError,
    },
    #[error("writing the output failed: {0}")]
    Output(String),
}

/// What the export needs of either config kind.
struct Resolved {
    key: ConfigKey,
    kind: ConfigKind,
    name: String,
    blocks: ConfigBlocks,
    secret: (String, String, String),
    rate_limit: Option<rolesync::api::RateLimitSpec>,
    /// Where its RoleAssignments live: one namespace, or all.
    namespace: Option<String>,
}

async fn client(context: Option<String>) -> Result<Client, ExportError> {
    let mut config = match context {
        Some(context) => kube::Config::from_kubeconfig(&KubeConfigOptions {
            context: Some(context),
            ..KubeConfigOptions::default()
        })
        .await
        .map_err(|e| ExportError::KubeConfig(e.to_string()))?,
        None => kube::Config::infer()
            .await
            .map_err(|e| ExportError::KubeConfig(e.to_string()))?,
    };
    // Names the export in API server audit logs, apart from the operator.
    config.headers.push((
        reqwest::header::USER_AGENT,
        reqwest::header::HeaderValue::from_static(concat!(
            "rolesync-export/",
            env!("CARGO_PKG_VERSION")
        )),
    ));
    Client::try_from(config).map_err(|e| ExportError::KubeConfig(e.to_string()))
}

fn kube_error(what: String) -> impl FnOnce(kube::Error) -> ExportError {
    move |source| ExportError::Kube { what, source }
}

async fn resolve(
    client: &Client,
    config: &ConfigArg,
    operator_namespace: &str,
) -> Result<Resolved, ExportError> {
    match config {
        ConfigArg::Cluster(name) => {
            let what = format!("ClusterProviderConfig {name}");
            let cpc = Api::<ClusterProviderConfig>::all(client.clone())
                .get_opt(name)
                .await
                .map_err(kube_error(what.clone()))?
                .ok_or(ExportError::ConfigNotFound(what))?;
            let r = &cpc.spec.credentials.secret_ref;
            let secret_namespace = r
                .namespace
                .clone()
                .unwrap_or_else(|| operator_namespace.to_owned());
            let reference = rolesync::api::ProviderConfigRef {
                kind: ConfigKind::ClusterProviderConfig,
                name: name.clone(),
            };
            Ok(Resolved {
                key: ConfigKey::of("", &reference),
                kind: ConfigKind::ClusterProviderConfig,
                name: name.clone(),
                secret: (secret_namespace, r.name.clone(), r.key.clone()),
                blocks: cpc.spec.provider,
                rate_limit: cpc.spec.rate_limit,
                namespace: None,
            })
        }
        ConfigArg::Namespaced { namespace, name } => {
            let what = format!("ProviderConfig {namespace}/{name}");
            let pc = Api::<ProviderConfig>::namespaced(client.clone(), namespace)
                .get_opt(name)
                .await
                .map_err(kube_error(what.clone()))?
                .ok_or(ExportError::ConfigNotFound(what))?;
            let r = &pc.spec.credentials.secret_ref;
            let reference = rolesync::api::ProviderConfigRef {
                kind: ConfigKind::ProviderConfig,
                name: name.clone(),
            };
            Ok(Resolved {
                key: ConfigKey::of(namespace, &reference),
                kind: ConfigKind::ProviderConfig,
                name: name.clone(),
                secret: (namespace.clone(), r.name.clone(), r.key.clone()),
                blocks: pc.spec.provider,
                rate_limit: pc.spec.rate_limit,
                namespace: Some(namespace.clone()),
            })
        }
    }
}

pub async fn run(args: ExportArgs) -> Result<(), ExportError> {
    telemetry::init(LogFormat::Text);
    let client = client(args.context.clone()).await?;
    let config = resolve(&client, &args.config, &args.operator_namespace).await?;
    let namespace = match (&config.namespace, &args.namespace) {
        (Some(own), Some(asked)) if own != asked => {
            return Err(ExportError::Namespace {
                config_namespace: own.clone(),
                namespace: asked.clone(),
            });
        }
        (Some(own), _) => own.clone(),
        (None, asked) => asked.clone().unwrap_or_else(|| "default".to_owned()),
    };
    let invalid = |source| ConfigError::Invalid {
        config: config.key.as_str().to_owned(),
        source,
    };
    let (secret_namespace, secret_name, secret_key) = &config.secret;
    let api_key = read_api_key(&client, secret_namespace, secret_name, secret_key).await?;
    let limit = config
        .rate_limit
        .map(rate_limit)
        .transpose()
        .map_err(invalid)?;
    let provider = config
        .blocks
        .connect(api_key, limit, None)
        .map_err(invalid)?;
    tracing::info!(config = config.key.as_str(), provider = %provider.kind(), "listing every assignment the config's credentials can see");
    let grants = provider
        .inventory(Freshness {
            max_age: Duration::ZERO,
        })
        .await
        .map_err(|source| ExportError::Provider {
            config: config.key.as_str().to_owned(),
            retry: if source.is_retryable() {
                "retrying may help"
            } else {
                "retrying will not help until the cause is fixed"
            },
            source,
        })?;
    let ras = match &config.namespace {
        Some(ns) => Api::<RoleAssignment>::namespaced(client.clone(), ns),
        None => Api::<RoleAssignment>::all(client.clone()),
    };
    let ras = ras
        .list(&ListParams::default())
        .await
        .map_err(kube_error("RoleAssignments".to_owned()))?
        .items;
    let entries = inventory::account(&config.key, grants, &ras);
    let counts = inventory::counts(&entries);
    tracing::info!(
        config = config.key.as_str(),
        remote = counts.remote,
        managed = counts.managed,
        unmanaged = counts.unmanaged,
        "listed"
    );
    let shown: Vec<&Entry> = entries
        .iter()
        .filter(|e| args.all || e.managed_by.is_none())
        .collect();
    let options = ManifestOptions {
        config_kind: config.kind,
        config_name: config.name.clone(),
        namespace,
        observe_only: args.observe_only,
    };
    let text = render(&shown, &options, args.output)?;
    print!("{text}");
    Ok(())
}

fn render(
    entries: &[&Entry],
    options: &ManifestOptions,
    output: Output,
) -> Result<String, ExportError> {
    let grants: Vec<_> = entries.iter().map(|e| &e.grant).collect();
    let names = inventory::names(&grants);
    let manifests = || -> Vec<Value> {
        grants
            .iter()
            .zip(&names)
            .map(|(grant, name)| inventory::manifest(grant, name, options))
            .collect()
    };
    match output {
        Output::Yaml => {
            let mut out = String::new();
            for manifest in manifests() {
                out.push_str("---\n");
                out.push_str(
                    &serde_saphyr::to_string(&manifest)
                        .map_err(|e| ExportError::Output(e.to_string()))?,
                );
            }
            Ok(out)
        }
        Output::Json => {
            let list = json!({"apiVersion": "v1", "kind": "List", "items": manifests()});
            serde_json::to_string_pretty(&list)
                .map(|text| text + "\n")
                .map_err(|e| ExportError::Output(e.to_string()))
        }
        Output::Table => Ok(table(entries, &names)),
    }
}

/// kubectl's style: a header and left-aligned columns three spaces apart.
fn table(entries: &[&Entry], names: &[String]) -> String {
    let mut rows = vec![
        [
            "NAME",
            "PROVIDER",
            "ROLE",
            "PRINCIPAL",
            "SCOPE",
            "EXTERNAL-ID",
            "MANAGED-BY",
        ]
        .map(str::to_owned),
    ];
    for (entry, name) in entries.iter().zip(names) {
        let target = &entry.grant.target;
        let grant = target.desired.grant();
        rows.push([
            name.clone(),
            target.kind().to_string(),
            target.role.clone(),
            target.principal.clone(),
            grant.scope(),
            entry
                .grant
                .external_id
                .as_ref()
                .map_or_else(|| "<none>".to_owned(), ToString::to_string),
            entry
                .managed_by
                .clone()
                .unwrap_or_else(|| "<none>".to_owned()),
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}   ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_references_parse_both_kinds_and_nothing_else() {
        assert_eq!(
            "ClusterProviderConfig/gcore".parse(),
            Ok(ConfigArg::Cluster("gcore".into()))
        );
        assert_eq!(
            "ProviderConfig/team-a/harness".parse(),
            Ok(ConfigArg::Namespaced {
                namespace: "team-a".into(),
                name: "harness".into()
            })
        );
        for bad in [
            "gcore",
            "ProviderConfig/harness",
            "ClusterProviderConfig/",
            "Secret/a/b",
        ] {
            assert!(bad.parse::<ConfigArg>().is_err(), "{bad}");
        }
    }
}
