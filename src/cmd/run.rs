//! `rolesync run`: the operator.

use std::net::SocketAddr;
use std::time::Duration;

use rolesync::controller::{self, LeaseSettings, SecretPolicy, Settings};
use rolesync::telemetry::{self, LogFormat};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Where /metrics, /healthz and /readyz are served (port 0 picks a free port).
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Watch RoleAssignments and ProviderConfigs in this namespace only (default: all).
    #[arg(long)]
    pub namespace: Option<String>,
    /// How many RoleAssignments are reconciled at once. Each holds a Kubernetes and a
    /// provider connection: 50 saturates several providers' published rate limits.
    #[arg(long, default_value_t = 50)]
    pub concurrency: u16,
    /// Default resync interval, e.g. 10m; per object: annotation rolesync.dev/poll-interval.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,
    /// Elect a leader on a Lease so several replicas can run (only the leader reconciles).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Namespace of the leader Lease (default: the pod's namespace, else rolesync-system).
    #[arg(long)]
    pub lease_namespace: Option<String>,
    #[arg(long, default_value = "rolesync-leader")]
    pub lease_name: String,
    /// How long a leader's lease lasts without renewal.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub lease_duration: Duration,
    /// Further namespaces a ClusterProviderConfig may read Secrets from (besides rolesync's own).
    #[arg(long = "allow-secret-namespace")]
    pub allow_secret_namespaces: Vec<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// rolesync's own namespace: the pod's (downward API or service account), else `rolesync-system`.
pub fn operator_namespace() -> String {
    std::env::var("POD_NAMESPACE")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace").ok()
        })
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "rolesync-system".to_owned())
}

fn identity() -> String {
    std::env::var("POD_NAME").unwrap_or_else(|_| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "rolesync".to_owned());
        format!("{host}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
    })
}

#[derive(Debug, thiserror::Error)]
pub enum RunCommandError {
    #[error("no Kubernetes configuration (in-cluster or KUBECONFIG): {0}")]
    Config(String),
    #[error("cannot create a Kubernetes client: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Run(#[from] controller::RunError),
}

/// Resolves when the process is asked to stop (SIGTERM or Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => futures::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = futures::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

pub async fn run(args: RunArgs) -> Result<(), RunCommandError> {
    telemetry::init(args.log_format);
    let mut config = kube::Config::infer()
        .await
        .map_err(|e| RunCommandError::Config(e.to_string()))?;
    // Names rolesync in API server audit logs (and lets the sandbox count its writes).
    config.headers.push((
        reqwest::header::USER_AGENT,
        reqwest::header::HeaderValue::from_static(concat!("rolesync/", env!("CARGO_PKG_VERSION"))),
    ));
    let client = kube::Client::try_from(config)?;
    let own_ns = operator_namespace();
    let instance = identity();
    let settings = Settings {
        namespace: args.namespace,
        concurrency: args.concurrency.max(1),
        poll_interval: args.poll_interval,
        metrics_addr: args.metrics_addr,
        leader: args.leader_election.then(|| LeaseSettings {
            namespace: args.lease_namespace.unwrap_or_else(|| own_ns.clone()),
            name: args.lease_name,
            identity: instance.clone(),
            duration: args.lease_duration,
        }),
        secret_policy: SecretPolicy {
            operator_namespace: own_ns,
            extra_namespaces: args.allow_secret_namespaces,
        },
        instance,
    };
    controller::run(client, settings, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}
