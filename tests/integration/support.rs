//! A whole rolesync environment for end-to-end tests: the in-memory Kubernetes API with
//! rolesync's CRDs, the Gcore simulator with a ClusterProviderConfig and Secret, and the
//! operator as its own process (`rolesync run`), exactly as users run it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use in_memory_kube::{ApiServer, ServerConfig};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::wait::await_condition;
use provider_sims::gcore::{GcoreSim, GcoreSimConfig};
use rolesync::api::RoleAssignment;
use serde_json::{Value, json};
use testbed::RealKube;
use testbed::{SYSTEM_NAMESPACE, client_for, connect_provider, ensure_namespace, install_crds};

/// The Gcore API key of every test environment; tests check it never leaks.
pub const GCORE_KEY: &str = "gcore-e2e-key-9d1f3a7c55";
pub const GCORE_CONFIG: &str = "gcore";
pub const WAIT: Duration = Duration::from_secs(30);

/// The Kubernetes API the environment runs on.
pub enum Cluster {
    /// rolesync's in-memory API: fast, and able to inject faults and record requests.
    InMemory(ApiServer),
    /// A real kube-apiserver of the pinned release, kept running while the environment lives.
    Real { _server: RealKube },
}

pub struct Env {
    pub cluster: Cluster,
    pub gcore: GcoreSim,
    pub client: kube::Client,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

impl Env {
    pub async fn start() -> Env {
        Env::start_with(GcoreSimConfig::default()).await
    }

    /// With the Gcore simulator configured by `gcore` (its API key aside).
    pub async fn start_with(gcore: GcoreSimConfig) -> Env {
        let api = ApiServer::start(ServerConfig::default())
            .await
            .expect("API server starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, api.kubeconfig_yaml()).expect("kubeconfig written");
        Self::on(Cluster::InMemory(api), dir, kubeconfig, gcore).await
    }

    /// The environment on a real kube-apiserver (its admin kubeconfig).
    pub async fn on_real(kube: RealKube) -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = kube.kubeconfig.clone();
        let cluster = Cluster::Real { _server: kube };
        Self::on(cluster, dir, kubeconfig, GcoreSimConfig::default()).await
    }

    async fn on(
        cluster: Cluster,
        dir: tempfile::TempDir,
        kubeconfig: PathBuf,
        gcore: GcoreSimConfig,
    ) -> Env {
        let yaml = std::fs::read_to_string(&kubeconfig).expect("kubeconfig readable");
        let client = client_for(&yaml).await.expect("client");
        ensure_namespace(&client, SYSTEM_NAMESPACE)
            .await
            .expect("namespace");
        ensure_namespace(&client, "default")
            .await
            .expect("namespace");
        install_crds(&client, rolesync::api::crds())
            .await
            .expect("CRDs installed");
        let gcore = GcoreSim::start(GcoreSimConfig {
            api_key: GCORE_KEY.to_owned(),
            ..gcore
        })
        .await
        .expect("simulator starts");
        connect_provider(
            &client,
            GCORE_CONFIG,
            GCORE_KEY,
            json!({"gcore": {"endpoint": gcore.endpoint()}, "rateLimit": {"requestsPerMinute": 60000, "burst": 100}}),
        )
        .await
        .expect("provider config");
        Env {
            cluster,
            gcore,
            client,
            dir,
            kubeconfig,
        }
    }

    /// The in-memory API, for tests that inject its faults or read its request records.
    pub fn api(&self) -> &ApiServer {
        match &self.cluster {
            Cluster::InMemory(api) => api,
            Cluster::Real { .. } => panic!("this test needs the in-memory API, not a real one"),
        }
    }

    /// Starts `rolesync run` against this environment.
    pub fn operator(&self, extra: &[&str]) -> Operator {
        Operator::spawn(&self.kubeconfig, self.dir.path(), "rolesync-test", extra)
    }

    /// Starts `rolesync run` as pod `pod_name` with the credentials of `kubeconfig`.
    pub fn operator_with(
        &self,
        kubeconfig: &std::path::Path,
        pod_name: &str,
        extra: &[&str],
    ) -> Operator {
        Operator::spawn(kubeconfig, self.dir.path(), pod_name, extra)
    }

    /// Starts `rolesync run` as pod `pod_name` (its leader-election identity).
    pub fn operator_as(&self, pod_name: &str, extra: &[&str]) -> Operator {
        Operator::spawn(&self.kubeconfig, self.dir.path(), pod_name, extra)
    }

    pub fn ras(&self, ns: &str) -> Api<RoleAssignment> {
        Api::namespaced(self.client.clone(), ns)
    }

    /// Creates a RoleAssignment from its spec (and optional metadata fields).
    pub async fn create_ra(
        &self,
        ns: &str,
        name: &str,
        spec: Value,
        annotations: Value,
    ) -> RoleAssignment {
        let ra: RoleAssignment = serde_json::from_value(json!({
            "apiVersion": "rolesync.dev/v1alpha1",
            "kind": "RoleAssignment",
            "metadata": {"name": name, "namespace": ns, "annotations": annotations},
            "spec": spec,
        }))
        .expect("valid RoleAssignment");
        self.ras(ns)
            .create(&PostParams::default(), &ra)
            .await
            .unwrap_or_else(|e| panic!("creating {ns}/{name}: {e}"))
    }

    /// Waits (watching, with a deadline) until `pred` holds for `ns/name`.
    pub async fn wait_ra(
        &self,
        ns: &str,
        name: &str,
        what: &str,
        pred: impl Fn(&RoleAssignment) -> bool,
    ) -> RoleAssignment {
        let api = self.ras(ns);
        let cond = move |obj: Option<&RoleAssignment>| obj.is_some_and(&pred);
        match tokio::time::timeout(WAIT, await_condition(api.clone(), name, cond)).await {
            Ok(Ok(Some(ra))) => ra,
            other => {
                let now = api.get_opt(name).await.ok().flatten();
                panic!("{ns}/{name} never became {what}: {other:?}\nlast seen: {now:#?}")
            }
        }
    }

    /// Waits (with a deadline) for an Event with `reason` about RoleAssignment `ns/name`.
    pub async fn wait_event(&self, ns: &str, name: &str, reason: &str) -> Event {
        let events: Api<Event> = Api::namespaced(self.client.clone(), ns);
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let found = events
                .list(&ListParams::default())
                .await
                .expect("events list")
                .items
                .into_iter()
                .find(|e| {
                    e.reason.as_deref() == Some(reason)
                        && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
                });
            if let Some(event) = found {
                return event;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {reason} event for {ns}/{name}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `ns/name` no longer exists.
    pub async fn wait_gone(&self, ns: &str, name: &str) {
        let api = self.ras(ns);
        let gone = |obj: Option<&RoleAssignment>| obj.is_none();
        tokio::time::timeout(WAIT, await_condition(api, name, gone))
            .await
            .unwrap_or_else(|_| panic!("{ns}/{name} was never deleted"))
            .expect("watch works");
    }

    /// Polls the simulator's state until `pred` holds (the simulator has no watch).
    pub async fn wait_remote(&self, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let now = self.gcore.assignments();
            if pred(&now) {
                return now;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "remote state never became {what}: {now:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Counts the simulator's requests with this method.
    pub fn requests(&self, method: &str) -> usize {
        self.gcore
            .requests()
            .iter()
            .filter(|r| r.method == method)
            .count()
    }
}

/// `rolesync run` as a child process; killed when dropped.
pub struct Operator {
    child: tokio::process::Child,
    pub log: PathBuf,
}

impl Operator {
    fn spawn(
        kubeconfig: &std::path::Path,
        dir: &std::path::Path,
        pod_name: &str,
        extra: &[&str],
    ) -> Operator {
        let log = dir.join(format!("operator-{}.log", uuid::Uuid::new_v4().simple()));
        let file = std::fs::File::create(&log).expect("log file");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rolesync"))
            .args([
                "run",
                "--metrics-addr",
                "127.0.0.1:0",
                "--leader-election",
                "false",
                "--poll-interval",
                "60s",
            ])
            .args(["--log-format", "json"])
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAMESPACE", SYSTEM_NAMESPACE)
            .env("POD_NAME", pod_name)
            .env("RUST_LOG", "info,rolesync=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(file))
            .kill_on_drop(true)
            .spawn()
            .expect("rolesync runs");
        Operator { child, log }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The address `/metrics` is served on, from the operator's JSON log.
    pub async fn metrics_addr(&self) -> std::net::SocketAddr {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let found = self.logs().lines().find_map(|line| {
                let v: Value = serde_json::from_str(line).ok()?;
                (v["message"] == "serving /metrics, /healthz and /readyz")
                    .then(|| v["addr"].as_str()?.parse().ok())?
            });
            if let Some(addr) = found {
                return addr;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no metrics address logged:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL: no chance to clean up, like a crashed pod.
    pub async fn kill(mut self) -> String {
        let _ = self.child.kill().await;
        self.logs()
    }

    /// SIGTERM and wait for a clean exit.
    pub async fn stop(mut self) -> (Option<i32>, String) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok);
        (status.and_then(|s| s.code()), self.logs())
    }
}

/// `(status, reason)` of condition `type_`.
pub fn condition(ra: &RoleAssignment, type_: &str) -> Option<(String, String)> {
    ra.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (format!("{:?}", c.status), c.reason.clone()))
}

pub fn is_ready(ra: &RoleAssignment) -> bool {
    condition(ra, "Ready").is_some_and(|(s, _)| s == "True")
        && ra.status.as_ref().and_then(|s| s.observed_generation) == ra.metadata.generation
}

pub fn external_id(ra: &RoleAssignment) -> Option<String> {
    ra.status.as_ref()?.external_id.clone()
}

/// `status.atProvider`, the provider's report, as the API server holds it.
pub fn at_provider(ra: &RoleAssignment) -> Option<&Value> {
    ra.status.as_ref()?.at_provider.as_ref()?.value()
}

/// A Gcore RoleAssignment spec using the environment's ClusterProviderConfig.
pub fn gcore_spec(user: u64, role: &str, project: Option<u64>) -> Value {
    let mut g = json!({"userId": user, "role": role, "clientId": 8});
    if let Some(p) = project {
        g["projectId"] = json!(p);
    }
    json!({"providerConfigRef": {"kind": "ClusterProviderConfig", "name": GCORE_CONFIG}, "gcore": g})
}
