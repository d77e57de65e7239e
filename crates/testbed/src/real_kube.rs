//! A real kube-apiserver (with embedded etcd) for one test, from `scripts/kube-apiserver.sh`:
//! built once per machine from the pinned Kubernetes release, started on loopback with its
//! data in a temporary directory, stopped (SIGTERM, etcd closed) when dropped or stopped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The repository's root, where `scripts/` lives.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `scripts/kube-apiserver.sh`.
pub fn script() -> PathBuf {
    root().join("scripts/kube-apiserver.sh")
}

/// `scripts/helm.sh`: the real helm CLI of the pinned release.
pub fn helm() -> PathBuf {
    root().join("scripts/helm.sh")
}

/// A first start may build the server (minutes on two cores); later ones take seconds.
const READY_WITHIN: Duration = Duration::from_secs(1200);
/// The scripts' exit status when no Go toolchain is installed.
const NO_GO: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No Go toolchain: the server cannot be built here.
    #[error("no Go toolchain to build kube-apiserver: {0}")]
    NoGo(String),
    #[error("kube-apiserver did not start: {0}")]
    Failed(String),
}

/// A running kube-apiserver; stopped when dropped.
pub struct RealKube {
    child: Option<Child>,
    /// The admin kubeconfig the server wrote.
    pub kubeconfig: PathBuf,
    pub url: String,
    dir: tempfile::TempDir,
}

impl RealKube {
    /// Starts a server with `extra` kube-apiserver flags (e.g. an audit log).
    pub async fn start(extra: &[&str]) -> Result<Self, Error> {
        let failed = |what: String| Error::Failed(what);
        let dir = tempfile::tempdir().map_err(|e| failed(e.to_string()))?;
        let mut command = Command::new("bash");
        command.arg(script()).arg(dir.path());
        if !extra.is_empty() {
            command.arg("--").args(extra);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("kube-apiserver.log"))
                    .map_err(|e| failed(e.to_string()))?,
            ))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| failed(format!("cannot run {}: {e}", script().display())))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| failed("no stdout".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(READY_WITHIN, lines.next_line()).await;
        let log =
            || std::fs::read_to_string(dir.path().join("kube-apiserver.log")).unwrap_or_default();
        let line = match ready {
            Ok(Ok(Some(line))) if line.starts_with("kube-apiserver ready") => line,
            Ok(_) => {
                let status = child.wait().await.ok().and_then(|s| s.code());
                let log = log();
                let last = log.lines().last().unwrap_or_default().to_owned();
                return Err(if status == Some(NO_GO) {
                    Error::NoGo(last)
                } else {
                    failed(format!("exit status {status:?}: {log}"))
                });
            }
            Err(_) => {
                return Err(failed(format!(
                    "not ready within {READY_WITHIN:?}: {}",
                    log()
                )));
            }
        };
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .map(str::to_owned)
        };
        let url = field("url=").ok_or_else(|| failed(format!("no url in {line:?}")))?;
        let kubeconfig = field("kubeconfig=")
            .map(PathBuf::from)
            .ok_or_else(|| failed(format!("no kubeconfig in {line:?}")))?;
        Ok(Self {
            child: Some(child),
            kubeconfig,
            url,
            dir,
        })
    }

    /// Starts a server, or says why not: `None` where the machine cannot build one and
    /// missing tools may be skipped (locally); a failure where they may not
    /// (`ROLESYNC_STRICT`, set by scripts/test.sh and so in CI) or the server is broken.
    pub async fn start_or_skip(extra: &[&str]) -> Option<Self> {
        match Self::start(extra).await {
            Ok(kube) => Some(kube),
            Err(Error::NoGo(why)) if std::env::var_os("ROLESYNC_STRICT").is_none() => {
                eprintln!(
                    "SKIPPED: the real kube-apiserver suite needs a Go toolchain ({why}); install Go 1.26+ to run it"
                );
                None
            }
            Err(e) => panic!("{e}"),
        }
    }

    /// A kube-rs client with the admin kubeconfig.
    pub async fn client(&self) -> kube::Client {
        let yaml = std::fs::read_to_string(&self.kubeconfig)
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.kubeconfig.display()));
        crate::client_for(&yaml)
            .await
            .unwrap_or_else(|e| panic!("a client for the real kube-apiserver: {e}"))
    }

    /// The server's data directory (its log is `kube-apiserver.log` in it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("kube-apiserver.log")).unwrap_or_default()
    }

    /// SIGTERM and wait: etcd is closed and nothing is left running.
    pub async fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
            if tokio::time::timeout(Duration::from_secs(30), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
    }
}
