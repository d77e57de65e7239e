//! Starting, inspecting and stopping the server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::cluster::{RequestRecord, Shared};
use super::router;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen; port 0 picks a free port.
    pub addr: SocketAddr,
    /// How many changes are retained for watches to resume from; older versions get 410 Gone.
    pub history: usize,
    /// How often watches that allow bookmarks receive one.
    pub bookmark_interval: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            history: 10_000,
            bookmark_interval: Duration::from_secs(60),
        }
    }
}

/// Failures tests can inject into a running server.
pub struct Faults {
    shared: Arc<Shared>,
}

impl Faults {
    /// Ends every open watch, as an API server restart or a dropped connection would.
    pub fn drop_watches(&self) {
        self.shared.stop_all_watches();
    }

    /// Forgets all change history: open watches, watches resuming from any version handed
    /// out so far and continue tokens get 410 Gone, so clients must list again.
    pub fn compact_history(&self) {
        self.shared.compact();
    }

    /// Fails the next `n` writes with `code`: 409 answers a Conflict, anything else an
    /// InternalError with that code (500 is the usual choice).
    pub fn fail_writes(&self, n: u32, code: u16) {
        self.shared.fail_writes(n, code);
    }
}

pub struct ApiServer {
    addr: SocketAddr,
    faults: Faults,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ApiServer {
    /// Binds and serves in a background task.
    pub async fn start(config: ServerConfig) -> std::io::Result<ApiServer> {
        let listener = tokio::net::TcpListener::bind(config.addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config.history, config.bookmark_interval));
        let app = axum::Router::new()
            .fallback(router::handle)
            .with_state(shared.clone());
        let (shutdown, stopped) = oneshot::channel::<()>();
        let watches = shared.clone();
        let task = tokio::spawn(async move {
            let signal = async move {
                // Either an explicit shutdown or the server being dropped.
                let _ = stopped.await;
                watches.stop_all_watches();
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(signal)
                .await
            {
                tracing::error!(error = %e, "in-memory API server stopped");
            }
        });
        Ok(ApiServer {
            addr,
            faults: Faults { shared },
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig whose current context reaches this server without credentials.
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: sandbox\n  cluster:\n    server: {}\ncontexts:\n- name: sandbox\n  context:\n    cluster: sandbox\n    user: sandbox\n    namespace: default\ncurrent-context: sandbox\nusers:\n- name: sandbox\n  user: {{}}\npreferences: {{}}\n",
            self.url()
        )
    }

    /// Every request served, oldest first (bounded; the newest are kept).
    pub fn audit(&self) -> Vec<RequestRecord> {
        self.faults.shared.audit()
    }

    /// Successful writes that changed state, by clients whose User-Agent starts with the prefix.
    pub fn writes_by(&self, user_agent_prefix: &str) -> u64 {
        self.faults.shared.writes_by(user_agent_prefix)
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Stops serving and closes every watch.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        // The serving task is aborted below before it could end the watches itself.
        self.faults.shared.stop_all_watches();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
