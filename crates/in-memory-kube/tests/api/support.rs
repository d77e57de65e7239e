//! Helpers every module of this test binary shares: running kubectl and sending raw
//! requests through a kube-rs client.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use kube::Client;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

pub type TestResult<T = ()> = Result<T, Box<dyn Error>>;

/// Upper bound for one kubectl run, so a hung request fails the test instead of stalling it.
const KUBECTL_DEADLINE: Duration = Duration::from_secs(60);

pub fn kubectl_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("kubectl"))
        .find(|p| p.is_file())
}

pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// kubectl with one kubeconfig and a discovery cache of its own, so tests run in parallel.
pub struct Kubectl {
    binary: PathBuf,
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    pub fn new(binary: PathBuf, kubeconfig: &Path, cache: &Path) -> Self {
        Self {
            binary,
            kubeconfig: kubeconfig.to_owned(),
            cache: cache.to_owned(),
        }
    }

    /// kubectl for the kubeconfig `dir/kubeconfig`, caching in `dir/cache`.
    pub fn in_dir(binary: PathBuf, dir: &Path) -> Self {
        Self::new(binary, &dir.join("kubeconfig"), &dir.join("cache"))
    }

    pub async fn run(&self, args: &[&str], stdin: Option<&str>) -> TestResult<Output> {
        let mut child = Command::new(&self.binary)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes()).await?;
        }
        let out = tokio::time::timeout(KUBECTL_DEADLINE, child.wait_with_output())
            .await
            .map_err(|_| {
                format!("kubectl {args:?} did not finish within {KUBECTL_DEADLINE:?}")
            })??;
        Ok(Output {
            success: out.status.success(),
            stdout: String::from_utf8(out.stdout)?,
            stderr: String::from_utf8(out.stderr)?,
        })
    }

    /// Runs kubectl, failing when it fails; returns stdout.
    pub async fn ok(&self, args: &[&str], stdin: Option<&str>) -> TestResult<String> {
        let out = self.run(args, stdin).await?;
        if !out.success {
            return Err(format!("kubectl {args:?} failed: {}", out.stderr).into());
        }
        Ok(out.stdout)
    }
}

/// An HTTP answer as the server sent it.
pub struct Answer {
    pub code: u16,
    /// The media type, without parameters.
    pub content_type: String,
    /// The texts of the `Warning` headers.
    pub warnings: Vec<String>,
    pub retry_after: Option<String>,
    pub body: axum::body::Body,
}

/// Sends any request through `client` (its credentials and TLS) and returns the answer
/// whatever its status code; the body is left to stream.
pub async fn send(
    client: &Client,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Answer {
    let mut request = axum::http::Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(kube::client::Body::from(body))
        .expect("request builds");
    let response = client
        .send(request)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let header = |name: &str| {
        response
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let content_type = header("content-type")
        .first()
        .and_then(|t| t.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_owned();
    // `299 - "text"`: the text, unescaped.
    let warnings = header("warning")
        .iter()
        .filter_map(|w| w.split_once(" - ").map(|(_, text)| text))
        .map(|text| serde_json::from_str(text).unwrap_or_else(|_| text.to_owned()))
        .collect();
    Answer {
        code: response.status().as_u16(),
        content_type,
        warnings,
        retry_after: header("retry-after").first().cloned(),
        body: axum::body::Body::new(response.into_body()),
    }
}

/// The whole body of an answer.
pub async fn body_bytes(body: axum::body::Body) -> bytes::Bytes {
    axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("body read")
}

/// Sends a request the typed API cannot express; answers the status code and the body
/// (an object, a list or the failure Status).
pub async fn raw(
    client: &Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: Value,
) -> (u16, Value) {
    let body = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(&body).expect("body serializes")
    };
    let answer = send(
        client,
        method,
        path,
        &[("content-type", content_type)],
        body,
    )
    .await;
    let bytes = body_bytes(answer.body).await;
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (answer.code, value)
}
