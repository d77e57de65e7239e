//! Differential conformance: one list of requests, sent through kube-rs's client and kubectl,
//! against the in-memory API server and a real kube-apiserver (see tests/kube-apiserver),
//! comparing status codes, Status reasons and messages, warnings, kinds and the answers'
//! JSON. Each case runs in a namespace of its own on both servers at once. What legitimately
//! differs is normalised first: uids, timestamps, generated names and continue tokens become
//! placeholders, and resourceVersions what they mean (an object's names the step that first
//! showed it, so a write that changes nothing shows an earlier step's; a list's, bookmark's
//! or table's only says whether it is at least as new as every object seen before). Every
//! remaining difference must be listed in `KNOWN`, which must name the same case / steps as
//! README's "Known differences from kube-apiserver"; a listed one that no longer shows fails
//! the test too, so the list stays true.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use in_memory_kube::{ApiServer, Faults, ServerConfig};
use kube::Client;
use regex::Regex;
use serde_json::{Map, Value, json};
use testbed::RealKube;

use super::support::{self, Kubectl, kubectl_on_path};

/// A difference the in-memory server keeps on purpose: everything at and below a JSON
/// pointer (`""`: the whole answer) of one step's recorded answer. README's "Known
/// differences from kube-apiserver" says why.
struct Known {
    case: &'static str,
    step: &'static str,
    path: &'static str,
}

impl Known {
    fn covers(&self, case: &str, d: &Difference) -> bool {
        self.case == case
            && self.step == d.step
            && (d.path == self.path || d.path.starts_with(&format!("{}/", self.path)))
    }
}

const KNOWN: &[Known] = &[
    // An emptied namespace is removed at once, not by a controller seconds later.
    Known {
        case: "namespaces",
        step: "get the deleted empty one",
        path: "",
    },
    // Parse errors of selectors and continue tokens are worded differently.
    Known {
        case: "get_and_list",
        step: "list by malformed label selector",
        path: "/body/message",
    },
    Known {
        case: "get_and_list",
        step: "malformed continue",
        path: "/body/message",
    },
    // Faults::compact_history also ends open watches with 410 Gone.
    Known {
        case: "compaction",
        step: "open watch after the compaction",
        path: "",
    },
    // Expired watches are worded as kube-apiserver's watch cache does, not as etcd does.
    Known {
        case: "compaction",
        step: "watch from before the compaction",
        path: "/events/0/object/message",
    },
    // JSON only: no protobuf.
    Known {
        case: "tables_and_metadata",
        step: "protobuf only",
        path: "",
    },
];

const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");

/// README's list and `KNOWN` name the same differences, so neither is updated alone. Needs no
/// real server, so it holds wherever the tests run.
#[test]
fn known_differences_are_the_readmes() {
    let listed: BTreeSet<(String, String)> = KNOWN
        .iter()
        .map(|k| (k.case.to_owned(), k.step.to_owned()))
        .collect();
    let readme = std::fs::read_to_string(README).expect("README.md");
    let documented = readme_known_differences(&readme);
    assert!(!documented.is_empty(), "README lists no known differences");
    assert_eq!(
        documented, listed,
        "README's \"Known differences from kube-apiserver\" (left) and KNOWN (right) differ"
    );
}

/// The case / step pairs README's "Known differences from kube-apiserver" names: each bullet
/// ends with them in parentheses, as `` (`case` / `step`, `step`; `case` / `step`) ``.
fn readme_known_differences(readme: &str) -> BTreeSet<(String, String)> {
    static NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"`([^`]+)`( /)?").expect("regex"));
    let section = readme
        .split("### Known differences from kube-apiserver")
        .nth(1)
        .and_then(|rest| rest.split("\n#").next())
        .expect("README has a \"Known differences from kube-apiserver\" section");
    let mut out = BTreeSet::new();
    for bullet in section.split("\n- ").skip(1) {
        let text = bullet.split_whitespace().collect::<Vec<_>>().join(" ");
        let shown = text
            .rsplit_once("(`")
            .map(|(_, names)| format!("`{names}"))
            .unwrap_or_else(|| panic!("README's known difference names no case / step: {text}"));
        let mut case = None;
        for name in NAME.captures_iter(&shown) {
            if name.get(2).is_some() {
                case = Some(name[1].to_owned());
            } else {
                let case = case.clone().unwrap_or_else(|| {
                    panic!("README's known difference names a step before its case: {text}")
                });
                out.insert((case, name[1].to_owned()));
            }
        }
    }
    out
}

/// The resource whose watch cache the real server runs without, so that its watches, lists
/// and continue tokens meet etcd's compaction directly (cached resources are served from
/// the watch cache, which keeps its own window of events).
const UNCACHED: &str = "serviceaccounts";

/// How long one watch is read, or a background change on the real server (CRD
/// establishment, etcd compaction) awaited, before giving up.
const DEADLINE: Duration = Duration::from_secs(20);

const CRD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/widget-crd.yaml"
);
const WIDGETS: &str = "/apis/testing.rolesync.dev/v1";

macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        const CASES: &[&str] = &[$(stringify!($case)),*];

        async fn run_case(name: &str, run: &mut Run<'_>) {
            match name {
                $(stringify!($case) => $case(run).await,)*
                other => panic!("no case {other}"),
            }
        }
    };
}

cases![
    namespaces,
    crd_and_discovery,
    get_and_list,
    writes_and_preconditions,
    watch_versions_and_bookmarks,
    compaction,
    server_side_apply,
    patches,
    status_and_generation,
    finalizers,
    tables_and_metadata,
    field_validation,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_api_matches_kube_apiserver() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let compaction_flag = "--etcd-compaction-interval=2s".to_owned();
    let cache_flag = format!("--watch-cache-sizes={UNCACHED}#0");
    let Some(real) = RealKube::start_or_skip(&[&compaction_flag, &cache_flag]).await else {
        return;
    };
    let memory = ApiServer::start(ServerConfig::default())
        .await
        .expect("in-memory server starts");
    let kubectl = kubectl_on_path();
    if kubectl.is_none() {
        eprintln!("kubectl is not on PATH: the kubectl steps are left out");
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(dir.path().join("kubeconfig"), memory.kubeconfig_yaml()).expect("kubeconfig");
    let memory_side = Side {
        name: "in-memory",
        client: client_without_retries(&memory.kubeconfig_yaml()).await,
        kubectl: kubectl.clone().map(|k| Kubectl::in_dir(k, dir.path())),
        compaction: Compaction::InMemory(memory.faults()),
    };
    let real_cache = dir.path().join("real-cache");
    let real_kubeconfig = std::fs::read_to_string(&real.kubeconfig).expect("real kubeconfig");
    let real_side = Side {
        name: "kube-apiserver",
        client: client_without_retries(&real_kubeconfig).await,
        kubectl: kubectl.map(|k| Kubectl::new(k, &real.kubeconfig, &real_cache)),
        compaction: Compaction::Etcd,
    };
    tokio::join!(memory_side.install_crd(), real_side.install_crd());

    let started = Instant::now();
    let mut report = String::new();
    let mut shown = HashSet::new();
    for case in CASES {
        let (ours, theirs) = tokio::join!(memory_side.run(case), real_side.run(case));
        for d in compare(&ours, &theirs) {
            let known = KNOWN.iter().position(|k| k.covers(case, &d));
            if let Some(k) = known {
                shown.insert(k);
            } else {
                let _ = writeln!(
                    report,
                    "{case} / {} {}:\n  in-memory:      {}\n  kube-apiserver: {}",
                    d.step,
                    d.path,
                    brief(d.ours.as_ref()),
                    brief(d.theirs.as_ref())
                );
            }
        }
    }
    for (i, k) in KNOWN.iter().enumerate() {
        if !shown.contains(&i) {
            let _ = writeln!(
                report,
                "{} / {} {}: listed as a known difference but the servers agree; drop it here and in README",
                k.case, k.step, k.path
            );
        }
    }
    eprintln!("conformance cases took {:?}", started.elapsed());
    drop(memory_side);
    real.stop().await;
    memory.shutdown().await;
    assert!(report.is_empty(), "the servers differ:\n{report}");
}

/// A kube-rs client that shows every answer as it came: by default kube-rs retries 429,
/// 503 and 504 for minutes.
async fn client_without_retries(kubeconfig: &str) -> Client {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(kubeconfig).expect("kubeconfig parses");
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("kubeconfig usable");
    config.default_retry = false;
    Client::try_from(config).expect("client builds")
}

fn brief(value: Option<&Value>) -> String {
    const MAX: usize = 600;
    let text = value.map_or_else(|| "(absent)".to_owned(), Value::to_string);
    if text.len() > MAX {
        let cut = (0..=MAX)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        format!("{}...", &text[..cut])
    } else {
        text
    }
}

/// How a case makes the server forget old versions.
enum Compaction<'a> {
    InMemory(&'a Faults),
    /// The real server compacts etcd every two seconds (a flag); the case waits for it.
    Etcd,
}

/// One of the two servers.
struct Side<'a> {
    name: &'static str,
    client: Client,
    kubectl: Option<Kubectl>,
    compaction: Compaction<'a>,
}

impl Side<'_> {
    async fn install_crd(&self) {
        let text = std::fs::read_to_string(CRD).expect("CRD fixture");
        let crd: Value = serde_saphyr::from_str(&text).expect("CRD fixture parses");
        let crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
        let (code, body) = support::raw(&self.client, "POST", crds, "application/json", crd).await;
        assert_eq!(code, 201, "{}: CRD not created: {body}", self.name);
        self.poll("the CRD to be established", async || {
            let (_, crd) = support::raw(
                &self.client,
                "GET",
                &format!("{crds}/widgets.testing.rolesync.dev"),
                "application/json",
                Value::Null,
            )
            .await;
            conditions_true(&crd, "Established")
        })
        .await;
        self.poll("widgets to be served", async || {
            let path = format!("{WIDGETS}/namespaces/default/widgets");
            let (code, _) =
                support::raw(&self.client, "GET", &path, "application/json", Value::Null).await;
            code == 200
        })
        .await;
    }

    async fn poll(&self, what: &str, mut done: impl AsyncFnMut() -> bool) {
        let deadline = Instant::now() + DEADLINE;
        while !done().await {
            assert!(
                Instant::now() < deadline,
                "{}: timed out waiting for {what}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs a case in a fresh namespace named after it; returns what it recorded.
    async fn run(&self, case: &str) -> Vec<(String, Value)> {
        let ns = format!("conf-{}", case.replace('_', "-"));
        let (code, body) = support::raw(
            &self.client,
            "POST",
            "/api/v1/namespaces",
            "application/json",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await;
        assert_eq!(code, 201, "{}: namespace {ns}: {body}", self.name);
        let mut run = Run {
            side: self,
            ns,
            steps: Vec::new(),
        };
        run_case(case, &mut run).await;
        run.steps
    }
}

fn conditions_true(object: &Value, kind: &str) -> bool {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == kind && c["status"] == "True")
        })
}

/// One request.
struct Req {
    method: &'static str,
    path: String,
    content_type: &'static str,
    accept: &'static str,
    body: Vec<u8>,
}

impl Req {
    fn new(method: &'static str, path: &str, body: Option<&Value>) -> Self {
        Self {
            method,
            path: path.to_owned(),
            content_type: "application/json",
            accept: "application/json",
            body: body.map_or_else(Vec::new, |b| serde_json::to_vec(b).expect("JSON")),
        }
    }

    fn get(path: &str) -> Self {
        Self::new("GET", path, None)
    }

    fn post(path: &str, body: &Value) -> Self {
        Self::new("POST", path, Some(body))
    }

    fn put(path: &str, body: &Value) -> Self {
        Self::new("PUT", path, Some(body))
    }

    fn delete(path: &str) -> Self {
        Self::new("DELETE", path, None)
    }

    /// A DELETE with DeleteOptions.
    fn delete_with(path: &str, options: &Value) -> Self {
        Self::new("DELETE", path, Some(options))
    }

    fn merge(path: &str, body: &Value) -> Self {
        Self::patch(path, "application/merge-patch+json", body)
    }

    /// A server-side apply; JSON is YAML.
    fn apply(path: &str, body: &Value) -> Self {
        Self::patch(path, "application/apply-patch+yaml", body)
    }

    fn patch(path: &str, content_type: &'static str, body: &Value) -> Self {
        Self {
            content_type,
            ..Self::new("PATCH", path, Some(body))
        }
    }

    fn accept(self, accept: &'static str) -> Self {
        Self { accept, ..self }
    }
}

type Chunks = Pin<Box<dyn Stream<Item = Result<bytes::Bytes, axum::Error>> + Send>>;

/// An open watch: the events arrive as lines of JSON.
struct Watch {
    code: u16,
    /// The answer of a watch the server refused.
    refused: Option<Value>,
    chunks: Chunks,
    buffer: Vec<u8>,
    ended: bool,
}

impl Watch {
    /// Up to `n` more events, fewer if the stream ends or stays silent until the deadline.
    async fn next(&mut self, n: usize) -> Value {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let mut events = Vec::new();
        while events.len() < n {
            if let Some(at) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=at).collect();
                if !line.iter().all(u8::is_ascii_whitespace) {
                    events.push(serde_json::from_slice(&line).unwrap_or_else(|_| {
                        Value::String(String::from_utf8_lossy(&line).into_owned())
                    }));
                }
                continue;
            }
            if self.ended {
                break;
            }
            match tokio::time::timeout_at(deadline, self.chunks.next()).await {
                Ok(Some(Ok(chunk))) => self.buffer.extend_from_slice(&chunk),
                Ok(Some(Err(_)) | None) => self.ended = true,
                Err(_) => {
                    events.push(json!("(nothing more within the deadline)"));
                    break;
                }
            }
        }
        let mut out = json!({"code": self.code, "events": events});
        if let Some(refused) = &self.refused {
            out["body"] = refused.clone();
        }
        if self.ended && self.buffer.is_empty() {
            out["ended"] = json!(true);
        }
        out
    }
}

/// A case running against one server, recording every answer.
struct Run<'a> {
    side: &'a Side<'a>,
    ns: String,
    steps: Vec<(String, Value)>,
}

impl Run<'_> {
    fn record(&mut self, step: &str, value: Value) {
        assert!(
            self.steps.iter().all(|(s, _)| s != step),
            "step {step:?} recorded twice"
        );
        self.steps.push((step.to_owned(), value));
    }

    /// `/api/v1/namespaces/<ns>/configmaps` followed by `rest`.
    fn configmaps(&self, rest: &str) -> String {
        format!("/api/v1/namespaces/{}/configmaps{rest}", self.ns)
    }

    fn widgets(&self, rest: &str) -> String {
        format!("{WIDGETS}/namespaces/{}/widgets{rest}", self.ns)
    }

    fn uncached(&self, rest: &str) -> String {
        format!("/api/v1/namespaces/{}/{UNCACHED}{rest}", self.ns)
    }

    async fn send(&mut self, step: &str, req: Req) -> Value {
        let answer = support::send(
            &self.side.client,
            req.method,
            &req.path,
            &[("content-type", req.content_type), ("accept", req.accept)],
            req.body,
        )
        .await;
        let bytes = support::body_bytes(answer.body).await;
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        self.record(
            step,
            json!({"code": answer.code, "contentType": answer.content_type,
                   "warnings": answer.warnings, "retryAfter": answer.retry_after, "body": body}),
        );
        body
    }

    async fn open_watch(&self, path: &str) -> Watch {
        let answer = support::send(
            &self.side.client,
            "GET",
            path,
            &[("accept", "application/json")],
            Vec::new(),
        )
        .await;
        let (refused, chunks): (Option<Value>, Chunks) = if answer.code == 200 {
            (None, Box::pin(answer.body.into_data_stream()))
        } else {
            let bytes = support::body_bytes(answer.body).await;
            (
                serde_json::from_slice(&bytes).ok(),
                Box::pin(futures::stream::empty()),
            )
        };
        Watch {
            code: answer.code,
            refused,
            chunks,
            buffer: Vec::new(),
            ended: answer.code != 200,
        }
    }

    /// Records the next `n` events of an open watch.
    async fn read(&mut self, step: &str, watch: &mut Watch, n: usize) {
        let events = watch.next(n).await;
        self.record(step, events);
    }

    /// Watches `path` and records its first `n` events.
    async fn watch(&mut self, step: &str, path: &str, n: usize) {
        let mut watch = self.open_watch(path).await;
        self.read(step, &mut watch, n).await;
    }

    async fn kubectl(&mut self, step: &str, args: &[&str], stdin: Option<&str>) {
        let Some(kubectl) = &self.side.kubectl else {
            return;
        };
        let mut all = vec!["--namespace", &self.ns];
        all.extend_from_slice(args);
        let out = kubectl
            .run(&all, stdin)
            .await
            .unwrap_or_else(|e| panic!("{}: kubectl {args:?}: {e}", self.side.name));
        let stdout = serde_json::from_str(&out.stdout).unwrap_or(Value::String(out.stdout));
        self.record(
            step,
            json!({"success": out.success, "stdout": stdout, "stderr": out.stderr}),
        );
    }

    /// Makes the server forget every version up to and including `rv`.
    async fn compact_past(&self, rv: &str) {
        match self.side.compaction {
            Compaction::InMemory(faults) => faults.compact_history(),
            Compaction::Etcd => {
                let path = self.uncached(&format!(
                    "?resourceVersion={rv}&resourceVersionMatch=Exact&limit=1"
                ));
                self.side
                    .poll("etcd to compact", async || {
                        let answer =
                            support::send(&self.side.client, "GET", &path, &[], Vec::new()).await;
                        answer.code == 410
                    })
                    .await;
            }
        }
    }
}

fn rv_of(value: &Value) -> String {
    value
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

// --- Normalisation ------------------------------------------------------------------------

static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)").expect("regex")
});
/// A table cell or kubectl column giving an age, e.g. `0s` or `2m3s`.
static AGE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b(\d+[smhd])+\b").expect("regex"));
static NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b\d+\b").expect("regex"));
/// The real server's field manager is its binary's name, which the build cache suffixes.
static SERVER_MANAGER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^kube-apiserver-[0-9a-f]+$").expect("regex"));

/// Turns one server's transcript into something comparable with the other's.
struct Normalizer {
    /// Object resourceVersions, to the step that first showed each (and their order there),
    /// so that a difference in one step does not shift the versions of every later one.
    versions: BTreeMap<u64, String>,
    /// Strings only one server would make (uids, generated names), to a placeholder.
    literals: Vec<(String, String)>,
}

fn numeric_rv(meta: &Map<String, Value>) -> Option<u64> {
    meta.get("resourceVersion")?.as_str()?.parse().ok()
}

/// Whether `meta` belongs to an object (lists, tables and bookmarks have no name).
fn is_object_meta(meta: &Map<String, Value>) -> bool {
    meta.contains_key("name")
}

fn collect(value: &Value, rvs: &mut BTreeSet<u64>, literals: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(meta)) = map.get("metadata") {
                if is_object_meta(meta)
                    && let Some(rv) = numeric_rv(meta)
                {
                    rvs.insert(rv);
                }
                let text = |k: &str| meta.get(k).and_then(Value::as_str);
                if let (Some(prefix), Some(name)) = (text("generateName"), text("name"))
                    && name.len() > prefix.len()
                    && name.starts_with(prefix)
                {
                    literals.push((name.to_owned(), format!("{prefix}<generated>")));
                }
            }
            for (key, child) in map {
                if key == "uid"
                    && let Some(uid) = child.as_str()
                {
                    literals.push((uid.to_owned(), "<uid>".to_owned()));
                }
                collect(child, rvs, literals);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect(i, rvs, literals)),
        _ => {}
    }
}

fn object_rvs(value: &Value) -> BTreeSet<u64> {
    let mut rvs = BTreeSet::new();
    collect(value, &mut rvs, &mut Vec::new());
    rvs
}

impl Normalizer {
    fn new(steps: &[(String, Value)]) -> Self {
        let mut versions = BTreeMap::new();
        let mut literals = Vec::new();
        for (step, value) in steps {
            let mut rvs = BTreeSet::new();
            collect(value, &mut rvs, &mut literals);
            let fresh: Vec<u64> = rvs
                .into_iter()
                .filter(|rv| !versions.contains_key(rv))
                .collect();
            for (i, rv) in fresh.iter().enumerate() {
                let name = if fresh.len() == 1 {
                    format!("<rv of {step:?}>")
                } else {
                    format!("<rv of {step:?} #{i}>")
                };
                versions.insert(*rv, name);
            }
        }
        literals.sort();
        literals.dedup();
        Self { versions, literals }
    }

    fn transcript(&self, steps: &[(String, Value)]) -> Vec<(String, Value)> {
        let mut newest = 0;
        steps
            .iter()
            .map(|(step, value)| {
                newest = newest.max(object_rvs(value).last().copied().unwrap_or(0));
                (step.clone(), self.value(value, newest))
            })
            .collect()
    }

    /// `newest`: the newest object version seen up to and including this answer; a
    /// collection's version must not be older.
    fn value(&self, value: &Value, newest: u64) -> Value {
        let sorted = sorted_causes(value);
        match sorted.as_ref().unwrap_or(value) {
            Value::Object(map) => {
                let mut out = Map::new();
                for (key, child) in map {
                    let normal = match (key.as_str(), child) {
                        ("metadata", Value::Object(meta)) => self.metadata(meta, newest),
                        ("continue", Value::String(token)) if !token.is_empty() => {
                            json!("<continue>")
                        }
                        ("stdout" | "stderr", Value::String(text)) => self.text(text),
                        _ => self.value(child, newest),
                    };
                    out.insert(key.clone(), normal);
                }
                Value::Object(out)
            }
            Value::Array(items) => {
                Value::Array(items.iter().map(|i| self.value(i, newest)).collect())
            }
            Value::String(s) => Value::String(self.string(s)),
            other => other.clone(),
        }
    }

    fn metadata(&self, meta: &Map<String, Value>, newest: u64) -> Value {
        let mut out = match self.value(&Value::Object(meta.clone()), newest) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        // Entries are ordered by time (in seconds) before manager: two writes may fall in one
        // second on one server and in two on the other.
        if let Some(Value::Array(entries)) = out.get_mut("managedFields") {
            entries.sort_by_key(|e| {
                ["operation", "manager", "apiVersion", "subresource"].map(|k| {
                    e.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                })
            });
        }
        if let Some(rv) = numeric_rv(meta) {
            let placeholder = if is_object_meta(meta) {
                self.versions.get(&rv).cloned().unwrap_or_default()
            } else if rv >= newest {
                "<rv: newest>".to_owned()
            } else {
                "<rv: older than an object seen before>".to_owned()
            };
            out.insert("resourceVersion".into(), Value::String(placeholder));
        }
        Value::Object(out)
    }

    fn string(&self, s: &str) -> String {
        let mut s = s.to_owned();
        for (literal, placeholder) in &self.literals {
            if s.contains(literal.as_str()) {
                s = s.replace(literal.as_str(), placeholder);
            }
        }
        let mut s = TIMESTAMP.replace_all(&s, "<time>").into_owned();
        // Messages quoting versions: "too old resource version: 12 (34)", preconditions.
        if s.contains("esource version") || s.contains("esourceVersion") {
            s = NUMBER.replace_all(&s, "<n>").into_owned();
        }
        if SERVER_MANAGER.is_match(&s) {
            return "kube-apiserver".to_owned();
        }
        if AGE.find(&s).is_some_and(|m| m.range() == (0..s.len())) {
            return "<age>".to_owned();
        }
        s
    }

    /// kubectl's output: ages and column padding vary with timing, and the `* ` lines of
    /// an invalid object come in the order of the causes.
    fn text(&self, text: &str) -> Value {
        let text = self.string(text);
        let mut lines: Vec<String> = text
            .lines()
            .map(|line| {
                AGE.replace_all(line, "<age>")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let causes = lines.iter().position(|l| l.starts_with("* "));
        if let Some(first) = causes {
            let last = lines[first..]
                .iter()
                .position(|l| !l.starts_with("* "))
                .map_or(lines.len(), |n| first + n);
            lines[first..last].sort();
        }
        Value::String(lines.join("\n"))
    }
}

/// kube-apiserver validates a custom resource's fields in map order, so the causes of an
/// Invalid Status (and the list in its message) come in any order: a Status with them
/// sorted, or `None` when `value` is no such Status.
fn sorted_causes(value: &Value) -> Option<Value> {
    let causes = value.pointer("/details/causes")?.as_array()?;
    let message = value.get("message")?.as_str()?;
    if value.get("reason")? != "Invalid" || causes.len() < 2 {
        return None;
    }
    let render = |c: &Value| {
        format!(
            "{}: {}",
            c["field"].as_str().unwrap_or_default(),
            c["message"].as_str().unwrap_or_default()
        )
    };
    let listed: Vec<String> = causes.iter().map(render).collect();
    let prefix = message.strip_suffix(&format!("[{}]", listed.join(", ")))?;
    let mut sorted = causes.clone();
    sorted.sort_by_key(render);
    let listed: Vec<String> = sorted.iter().map(render).collect();
    let mut out = value.clone();
    out["message"] = Value::String(format!("{prefix}[{}]", listed.join(", ")));
    out["details"]["causes"] = Value::Array(sorted);
    Some(out)
}

// --- Comparison ---------------------------------------------------------------------------

struct Difference {
    step: String,
    path: String,
    ours: Option<Value>,
    theirs: Option<Value>,
}

fn compare(ours: &[(String, Value)], theirs: &[(String, Value)]) -> Vec<Difference> {
    let ours = Normalizer::new(ours).transcript(ours);
    let theirs = Normalizer::new(theirs).transcript(theirs);
    let theirs: BTreeMap<&str, &Value> = theirs.iter().map(|(s, v)| (s.as_str(), v)).collect();
    let mut out = Vec::new();
    for (step, value) in &ours {
        diff(
            step,
            String::new(),
            Some(value),
            theirs.get(step.as_str()).copied(),
            &mut out,
        );
    }
    out
}

fn diff(step: &str, path: String, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<Difference>) {
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for key in keys {
                let path = format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"));
                diff(step, path, x.get(key), y.get(key), out);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) if x.len() == y.len() => {
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                diff(step, format!("{path}/{i}"), Some(x), Some(y), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(Difference {
            step: step.to_owned(),
            path,
            ours: a.cloned(),
            theirs: b.cloned(),
        }),
    }
}

// --- Objects ------------------------------------------------------------------------------

fn config_map(name: &str, labels: Value, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "labels": labels}, "data": data})
}

fn widget(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "testing.rolesync.dev/v1", "kind": "Widget",
           "metadata": {"name": name}, "spec": spec})
}

fn widget_yaml(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: testing.rolesync.dev/v1\nkind: Widget\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

// --- Cases --------------------------------------------------------------------------------

async fn namespaces(r: &mut Run<'_>) {
    let all = "/api/v1/namespaces";
    let named = |suffix: &str| {
        let name = format!("{}-{suffix}", r.ns);
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        (format!("{all}/{name}"), body)
    };
    let (held, held_body) = named("held");
    let (empty, empty_body) = named("empty");
    r.send("create", Req::post(all, &held_body)).await;
    r.send("get", Req::get(&held)).await;
    r.send("create again", Req::post(all, &held_body)).await;
    let bad = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "Not.A.Label"}});
    r.send("create with invalid name", Req::post(all, &bad))
        .await;
    let mut cm = config_map("held", json!({}), json!({}));
    cm["metadata"]["finalizers"] = json!(["example.com/hold"]);
    r.send(
        "create held content",
        Req::post(&format!("{held}/configmaps"), &cm),
    )
    .await;
    r.send("delete", Req::delete(&held)).await;
    r.send("get while terminating", Req::get(&held)).await;
    let late = config_map("late", json!({}), json!({}));
    r.send(
        "create in the terminating namespace",
        Req::post(&format!("{held}/configmaps"), &late),
    )
    .await;
    r.send(
        "create in a missing namespace",
        Req::post("/api/v1/namespaces/conf-missing/configmaps", &late),
    )
    .await;
    r.send("create an empty one", Req::post(all, &empty_body))
        .await;
    r.send("delete the empty one", Req::delete(&empty)).await;
    r.send("get the deleted empty one", Req::get(&empty)).await;
}

async fn crd_and_discovery(r: &mut Run<'_>) {
    r.send(
        "get the CRD",
        Req::get(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.testing.rolesync.dev",
        ),
    )
    .await;
    r.send("group", Req::get("/apis/testing.rolesync.dev"))
        .await;
    r.send("group version", Req::get(WIDGETS)).await;
    r.send("missing group", Req::get("/apis/nothing.example.com/v1"))
        .await;
    r.send(
        "missing resource",
        Req::get(&format!("{WIDGETS}/namespaces/{}/gadgets", r.ns)),
    )
    .await;
    r.kubectl(
        "kubectl api-resources",
        &[
            "api-resources",
            "--api-group=testing.rolesync.dev",
            "-o",
            "wide",
        ],
        None,
    )
    .await;
}

async fn get_and_list(r: &mut Run<'_>) {
    let all = r.configmaps("");
    let a = config_map("a", json!({"app": "x"}), json!({"k": "v"}));
    let created = r.send("create a", Req::post(&all, &a)).await;
    r.send("create a again", Req::post(&all, &a)).await;
    r.send(
        "create b",
        Req::post(&all, &config_map("b", json!({"app": "y"}), json!({}))),
    )
    .await;
    r.send(
        "create c",
        Req::post(&all, &config_map("c", json!({"app": "x"}), json!({}))),
    )
    .await;
    let generated =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}});
    r.send("create with generateName", Req::post(&all, &generated))
        .await;
    r.send("get", Req::get(&r.configmaps("/a"))).await;
    r.send(
        "get at any version",
        Req::get(&r.configmaps("/a?resourceVersion=0")),
    )
    .await;
    r.send("get missing", Req::get(&r.configmaps("/missing")))
        .await;
    r.send("list", Req::get(&all)).await;
    r.send(
        "list by label",
        Req::get(&r.configmaps("?labelSelector=app%3Dx")),
    )
    .await;
    r.send(
        "list by label set",
        Req::get(&r.configmaps("?labelSelector=app%20in%20(x%2Cy)%2C!missing")),
    )
    .await;
    r.send(
        "list by name",
        Req::get(&r.configmaps("?fieldSelector=metadata.name%3Db")),
    )
    .await;
    r.send(
        "list by unsupported field",
        Req::get(&r.configmaps("?fieldSelector=data.k%3Dv")),
    )
    .await;
    r.send(
        "list by malformed label selector",
        Req::get(&r.configmaps("?labelSelector=app%3D%3D%3Dx")),
    )
    .await;
    let page = r
        .send("first page", Req::get(&r.configmaps("?limit=2")))
        .await;
    let token = page
        .pointer("/metadata/continue")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    r.send(
        "next page",
        Req::get(&r.configmaps(&format!("?limit=2&continue={token}"))),
    )
    .await;
    r.send(
        "malformed continue",
        Req::get(&r.configmaps("?continue=garbage")),
    )
    .await;
    r.send(
        "list at a's version",
        Req::get(&r.configmaps(&format!(
            "?resourceVersion={}&resourceVersionMatch=Exact",
            rv_of(&created)
        ))),
    )
    .await;
    r.send(
        "list from a future version",
        Req::get(&r.configmaps("?resourceVersion=999999999")),
    )
    .await;
    r.send(
        "version match without version",
        Req::get(&r.configmaps("?resourceVersionMatch=Exact")),
    )
    .await;
    let bad_name = config_map("Bad_Name", json!({}), json!({}));
    r.send("create with invalid name", Req::post(&all, &bad_name))
        .await;
    let nameless = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}});
    r.send("create without name", Req::post(&all, &nameless))
        .await;
    let elsewhere = json!({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "d", "namespace": "default"}});
    r.send("create for another namespace", Req::post(&all, &elsewhere))
        .await;
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "e"}});
    r.send("create of another kind", Req::post(&all, &secret))
        .await;
    r.kubectl(
        "kubectl get missing",
        &["get", "configmap", "missing"],
        None,
    )
    .await;
    r.kubectl(
        "kubectl get by label",
        &["get", "configmaps", "-l", "app=x", "-o", "name"],
        None,
    )
    .await;
}

async fn writes_and_preconditions(r: &mut Run<'_>) {
    let all = r.configmaps("");
    let one = r.configmaps("/w");
    let created = r
        .send(
            "create",
            Req::post(&all, &config_map("w", json!({}), json!({"k": "1"}))),
        )
        .await;
    let mut next = created.clone();
    next["data"]["k"] = json!("2");
    let updated = r.send("update", Req::put(&one, &next)).await;
    r.send("update from a stale version", Req::put(&one, &next))
        .await;
    let mut unconditional = updated.clone();
    unconditional["metadata"]
        .as_object_mut()
        .map(|m| m.remove("resourceVersion"));
    unconditional["data"]["k"] = json!("3");
    let current = r
        .send("update without a version", Req::put(&one, &unconditional))
        .await;
    r.send("update changing nothing", Req::put(&one, &current))
        .await;
    let mut renamed = current.clone();
    renamed["metadata"]["name"] = json!("other");
    r.send("update with another name", Req::put(&one, &renamed))
        .await;
    r.send(
        "update of a missing object",
        Req::put(
            &r.configmaps("/missing"),
            &config_map("missing", json!({}), json!({})),
        ),
    )
    .await;
    r.send(
        "create through update",
        Req::put(
            &r.configmaps("/fresh"),
            &config_map("fresh", json!({}), json!({})),
        ),
    )
    .await;
    r.send(
        "delete with a wrong uid",
        Req::delete_with(&one, &json!({"preconditions": {"uid": "0000"}})),
    )
    .await;
    r.send(
        "delete with a stale version",
        Req::delete_with(
            &one,
            &json!({"preconditions": {"resourceVersion": rv_of(&created)}}),
        ),
    )
    .await;
    r.send(
        "delete as a dry run",
        Req::delete(&r.configmaps("/w?dryRun=All")),
    )
    .await;
    r.send("get after the dry run", Req::get(&one)).await;
    r.send(
        "delete",
        Req::delete_with(
            &one,
            &json!({"preconditions": {"resourceVersion": rv_of(&current)}}),
        ),
    )
    .await;
    r.send("delete again", Req::delete(&one)).await;
    r.send(
        "delete an empty collection",
        Req::delete(&r.configmaps("?labelSelector=none%3Dhere")),
    )
    .await;
    for name in ["c1", "c2"] {
        let doomed = config_map(name, json!({"doomed": "yes"}), json!({}));
        r.send(&format!("create {name}"), Req::post(&all, &doomed))
            .await;
    }
    r.send(
        "delete a collection",
        Req::delete(&r.configmaps("?labelSelector=doomed%3Dyes")),
    )
    .await;
    let mut versioned = config_map("v", json!({}), json!({}));
    versioned["metadata"]["resourceVersion"] = json!("5");
    r.send("create with a version", Req::post(&all, &versioned))
        .await;
    r.kubectl(
        "kubectl create",
        &[
            "create",
            "configmap",
            "k",
            "--from-literal=a=b",
            "-o",
            "json",
        ],
        None,
    )
    .await;
    r.kubectl("kubectl delete", &["delete", "configmap", "k"], None)
        .await;
}

async fn watch_versions_and_bookmarks(r: &mut Run<'_>) {
    let all = r.configmaps("");
    r.send(
        "create w1",
        Req::post(&all, &config_map("w1", json!({"app": "a"}), json!({}))),
    )
    .await;
    r.send(
        "create w2",
        Req::post(&all, &config_map("w2", json!({"app": "b"}), json!({}))),
    )
    .await;
    let list = r.send("list", Req::get(&all)).await;
    let from = rv_of(&list);
    r.send(
        "change w1",
        Req::merge(&r.configmaps("/w1"), &json!({"data": {"k": "v"}})),
    )
    .await;
    r.send(
        "move w2 into app=a",
        Req::merge(
            &r.configmaps("/w2"),
            &json!({"metadata": {"labels": {"app": "a"}}}),
        ),
    )
    .await;
    r.send("delete w1", Req::delete(&r.configmaps("/w1"))).await;
    r.watch(
        "watch from the list",
        &r.configmaps(&format!("?watch=1&resourceVersion={from}")),
        3,
    )
    .await;
    r.watch(
        "watch app=a from the list",
        &r.configmaps(&format!(
            "?watch=1&resourceVersion={from}&labelSelector=app%3Da"
        )),
        3,
    )
    .await;
    r.watch(
        "watch w2 by name from the list",
        &r.configmaps(&format!(
            "?watch=1&resourceVersion={from}&fieldSelector=metadata.name%3Dw2"
        )),
        1,
    )
    .await;
    r.watch(
        "watch through the legacy path",
        &format!(
            "/api/v1/watch/namespaces/{}/configmaps?resourceVersion={from}",
            r.ns
        ),
        3,
    )
    .await;
    r.watch(
        "watch from 0",
        &r.configmaps("?watch=1&resourceVersion=0"),
        1,
    )
    .await;
    r.watch(
        "watch from 0 with bookmarks",
        &r.configmaps("?watch=1&resourceVersion=0&allowWatchBookmarks=true"),
        2,
    )
    .await;
    r.watch("watch without a version", &r.configmaps("?watch=1"), 1)
        .await;
    r.watch(
        "streaming list",
        &r.configmaps(
            "?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true",
        ),
        2,
    )
    .await;
    r.watch(
        "streaming list without a version match",
        &r.configmaps("?watch=1&sendInitialEvents=true"),
        1,
    )
    .await;
    r.watch(
        "watch from an unparsable version",
        &r.configmaps("?watch=1&resourceVersion=abc"),
        1,
    )
    .await;
    let now = r.send("list again", Req::get(&all)).await;
    r.watch(
        "watch with a timeout",
        &r.configmaps(&format!(
            "?watch=1&resourceVersion={}&timeoutSeconds=1",
            rv_of(&now)
        )),
        5,
    )
    .await;
    // kube-apiserver sends a bookmark two seconds before a watch times out, once the
    // resource has changed since the watch's version (here outside its selector), so that
    // the client resumes from a recent version.
    let mut selective = r
        .open_watch(&r.configmaps(&format!(
            "?watch=1&resourceVersion={}&labelSelector=app%3Dnone&allowWatchBookmarks=true&timeoutSeconds=3",
            rv_of(&now)
        )))
        .await;
    r.send(
        "create w3",
        Req::post(&all, &config_map("w3", json!({"app": "c"}), json!({}))),
    )
    .await;
    r.read("bookmark before the timeout", &mut selective, 1)
        .await;
}

async fn compaction(r: &mut Run<'_>) {
    let all = r.uncached("");
    for name in ["s1", "s2", "s3"] {
        let body =
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}});
        r.send(&format!("create {name}"), Req::post(&all, &body))
            .await;
    }
    let page = r
        .send("first page", Req::get(&r.uncached("?limit=1")))
        .await;
    let token = page
        .pointer("/metadata/continue")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let from = rv_of(&page);
    let mut open = r
        .open_watch(&r.uncached(&format!("?watch=1&resourceVersion={from}")))
        .await;
    let label = |value: &str| json!({"metadata": {"labels": {"step": value}}});
    let changed = r
        .send("change s1", Req::merge(&r.uncached("/s1"), &label("one")))
        .await;
    r.read("open watch", &mut open, 1).await;
    r.compact_past(&rv_of(&changed)).await;
    r.send("change s2", Req::merge(&r.uncached("/s2"), &label("two")))
        .await;
    r.read("open watch after the compaction", &mut open, 1)
        .await;
    let expired = r
        .send(
            "continue after the compaction",
            Req::get(&r.uncached(&format!("?limit=1&continue={token}"))),
        )
        .await;
    if let Some(fresh) = expired
        .pointer("/metadata/continue")
        .and_then(Value::as_str)
    {
        r.send(
            "continue with the token of the expired answer",
            Req::get(&r.uncached(&format!("?limit=1&continue={fresh}"))),
        )
        .await;
    }
    r.watch(
        "watch from before the compaction",
        &r.uncached(&format!("?watch=1&resourceVersion={from}")),
        1,
    )
    .await;
    r.send(
        "exact list from before the compaction",
        Req::get(&r.uncached(&format!(
            "?resourceVersion={from}&resourceVersionMatch=Exact"
        ))),
    )
    .await;
    r.send(
        "list not older than before the compaction",
        Req::get(&r.uncached(&format!(
            "?resourceVersion={from}&resourceVersionMatch=NotOlderThan"
        ))),
    )
    .await;
    let relist = r.send("relist", Req::get(&all)).await;
    r.send("change s3", Req::merge(&r.uncached("/s3"), &label("three")))
        .await;
    r.watch(
        "watch from the relist",
        &r.uncached(&format!("?watch=1&resourceVersion={}", rv_of(&relist))),
        1,
    )
    .await;
}

async fn server_side_apply(r: &mut Run<'_>) {
    let one = r.widgets("/gamma");
    let by = |manager: &str, extra: &str| format!("{one}?fieldManager={manager}{extra}");
    let first = widget(
        "gamma",
        json!({"role": "editor", "size": 2, "note": "hello"}),
    );
    r.send("apply creates", Req::apply(&by("alice", ""), &first))
        .await;
    r.send("apply again", Req::apply(&by("alice", ""), &first))
        .await;
    let bob = widget("gamma", json!({"role": "editor", "size": 5}));
    r.send("conflicting apply", Req::apply(&by("bob", ""), &bob))
        .await;
    r.send("apply without a manager", Req::apply(&one, &bob))
        .await;
    r.send("forced apply", Req::apply(&by("bob", "&force=true"), &bob))
        .await;
    let fewer = widget("gamma", json!({"role": "editor"}));
    r.send(
        "apply dropping fields",
        Req::apply(&by("alice", ""), &fewer),
    )
    .await;
    r.send(
        "merge patch by another manager",
        Req::merge(&by("editor", ""), &json!({"spec": {"note": "again"}})),
    )
    .await;
    let status = json!({"apiVersion": "testing.rolesync.dev/v1", "kind": "Widget",
        "metadata": {"name": "gamma"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    r.send(
        "apply to status",
        Req::apply(&format!("{one}/status?fieldManager=alice-status"), &status),
    )
    .await;
    let mut with_managed = fewer.clone();
    with_managed["metadata"]["managedFields"] =
        json!([{"manager": "x", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {}}]);
    r.send(
        "apply with managedFields",
        Req::apply(&by("alice", ""), &with_managed),
    )
    .await;
    r.send(
        "apply an invalid object",
        Req::apply(&by("alice", ""), &widget("gamma", json!({"role": "root"}))),
    )
    .await;
    let cm = r.configmaps("/applied");
    let data = |v: &str| config_map("applied", json!({}), json!({"k": v}));
    r.send(
        "apply a configmap",
        Req::apply(&format!("{cm}?fieldManager=alice"), &data("1")),
    )
    .await;
    r.send(
        "conflicting apply to a configmap",
        Req::apply(&format!("{cm}?fieldManager=bob"), &data("2")),
    )
    .await;
    r.send(
        "dry-run apply",
        Req::apply(
            &format!("{cm}?fieldManager=bob&force=true&dryRun=All"),
            &data("3"),
        ),
    )
    .await;
    let ssa = |manager: &'static str| {
        [
            "apply",
            "--server-side",
            "--field-manager",
            manager,
            "-f",
            "-",
        ]
    };
    r.kubectl(
        "kubectl server-side apply",
        &ssa("carol"),
        Some(&widget_yaml("delta", "  role: viewer\n  size: 1\n")),
    )
    .await;
    let dave = widget_yaml("delta", "  role: viewer\n  size: 7\n");
    r.kubectl("kubectl conflicting apply", &ssa("dave"), Some(&dave))
        .await;
    let mut forced = ssa("dave").to_vec();
    forced.push("--force-conflicts");
    r.kubectl("kubectl forced apply", &forced, Some(&dave))
        .await;
    r.kubectl(
        "kubectl get with managed fields",
        &[
            "get",
            "widget",
            "delta",
            "-o",
            "json",
            "--show-managed-fields",
        ],
        None,
    )
    .await;
}

async fn patches(r: &mut Run<'_>) {
    let one = r.configmaps("/p");
    r.send(
        "create",
        Req::post(
            &r.configmaps(""),
            &config_map("p", json!({"app": "x"}), json!({"a": "1", "b": "2"})),
        ),
    )
    .await;
    r.send(
        "merge patch",
        Req::merge(&one, &json!({"data": {"a": null, "c": "3"}})),
    )
    .await;
    let json_patch = "application/json-patch+json";
    r.send(
        "JSON patch",
        Req::patch(
            &one,
            json_patch,
            &json!([{"op": "replace", "path": "/data/b", "value": "20"},
                    {"op": "add", "path": "/metadata/labels/extra", "value": "y"}]),
        ),
    )
    .await;
    r.send(
        "failing JSON patch test",
        Req::patch(
            &one,
            json_patch,
            &json!([{"op": "test", "path": "/data/b", "value": "nope"}]),
        ),
    )
    .await;
    r.send(
        "JSON patch of a missing path",
        Req::patch(
            &one,
            json_patch,
            &json!([{"op": "replace", "path": "/data/missing", "value": "x"}]),
        ),
    )
    .await;
    r.send(
        "strategic merge patch",
        Req::patch(
            &one,
            "application/strategic-merge-patch+json",
            &json!({"data": {"d": "4"}}),
        ),
    )
    .await;
    r.send(
        "patch with a stale version",
        Req::merge(
            &one,
            &json!({"metadata": {"resourceVersion": "1"}, "data": {"e": "5"}}),
        ),
    )
    .await;
    r.send(
        "patch of a missing object",
        Req::merge(&r.configmaps("/missing"), &json!({"data": {}})),
    )
    .await;
    r.send(
        "patch of an unknown media type",
        Req::patch(&one, "text/plain", &json!({})),
    )
    .await;
    r.send(
        "create a widget",
        Req::post(&r.widgets(""), &widget("pw", json!({"role": "viewer"}))),
    )
    .await;
    r.send(
        "strategic merge patch of a custom resource",
        Req::patch(
            &r.widgets("/pw"),
            "application/strategic-merge-patch+json",
            &json!({"spec": {"size": 2}}),
        ),
    )
    .await;
    r.send(
        "merge patch of a custom resource",
        Req::merge(
            &r.widgets("/pw"),
            &json!({"spec": {"size": 3, "note": null}}),
        ),
    )
    .await;
    for (step, kind, patch) in [
        ("kubectl merge patch", "merge", r#"{"data":{"f":"6"}}"#),
        (
            "kubectl JSON patch",
            "json",
            r#"[{"op":"remove","path":"/data/f"}]"#,
        ),
        (
            "kubectl strategic patch",
            "strategic",
            r#"{"data":{"g":"7"}}"#,
        ),
    ] {
        r.kubectl(
            step,
            &["patch", "configmap", "p", "--type", kind, "-p", patch],
            None,
        )
        .await;
    }
}

async fn status_and_generation(r: &mut Run<'_>) {
    let one = r.widgets("/s");
    let mut body = widget("s", json!({"role": "viewer", "size": 1}));
    body["status"] = json!({"conditions": [{"type": "Ready", "status": "True"}]});
    let created = r
        .send("create with status", Req::post(&r.widgets(""), &body))
        .await;
    r.send("get status", Req::get(&format!("{one}/status")))
        .await;
    let mut both = created.clone();
    both["spec"]["size"] = json!(9);
    both["status"] = json!({"conditions": [{"type": "Ready", "status": "False"}]});
    r.send("update status", Req::put(&format!("{one}/status"), &both))
        .await;
    let mut unversioned = created.clone();
    unversioned["metadata"]
        .as_object_mut()
        .map(|m| m.remove("resourceVersion"));
    r.send("update without a version", Req::put(&one, &unversioned))
        .await;
    r.send(
        "merge patch status",
        Req::merge(
            &format!("{one}/status"),
            &json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Done"}]}}),
        ),
    )
    .await;
    r.send(
        "merge patch main resource with status",
        Req::merge(&one, &json!({"status": {"conditions": []}})),
    )
    .await;
    r.send(
        "change spec",
        Req::merge(&one, &json!({"spec": {"size": 2}})),
    )
    .await;
    r.send(
        "change labels",
        Req::merge(&one, &json!({"metadata": {"labels": {"a": "b"}}})),
    )
    .await;
    r.send("delete status", Req::delete(&format!("{one}/status")))
        .await;
    r.send("create status", Req::post(&format!("{one}/status"), &body))
        .await;
    r.send(
        "status of a kind without one",
        Req::get(&r.configmaps("/none/status")),
    )
    .await;
    r.send("unknown subresource", Req::get(&format!("{one}/scale")))
        .await;
    r.kubectl(
        "kubectl patch status",
        &[
            "patch",
            "widget",
            "s",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"conditions":[{"type":"Ready","status":"False"}]}}"#,
        ],
        None,
    )
    .await;
    r.kubectl(
        "kubectl wait",
        &[
            "wait",
            "--for=condition=Ready=False",
            "widget/s",
            "--timeout=10s",
        ],
        None,
    )
    .await;
}

async fn finalizers(r: &mut Run<'_>) {
    let one = r.configmaps("/f");
    let mut held = config_map("f", json!({}), json!({"k": "v"}));
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    r.send("create", Req::post(&r.configmaps(""), &held)).await;
    r.send("delete", Req::delete(&one)).await;
    r.send("get while deleting", Req::get(&one)).await;
    r.send("delete again", Req::delete(&one)).await;
    r.send(
        "add a finalizer while deleting",
        Req::merge(
            &one,
            &json!({"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}}),
        ),
    )
    .await;
    r.send(
        "change data while deleting",
        Req::merge(&one, &json!({"data": {"k": "w"}})),
    )
    .await;
    r.send(
        "remove the finalizer",
        Req::merge(&one, &json!({"metadata": {"finalizers": null}})),
    )
    .await;
    r.send("get after removal", Req::get(&one)).await;
    let widget_path = r.widgets("/fw");
    let mut held = widget("fw", json!({"role": "viewer"}));
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    r.send("create a widget", Req::post(&r.widgets(""), &held))
        .await;
    r.send("delete the widget", Req::delete(&widget_path)).await;
    r.send(
        "remove the widget's finalizer",
        Req::merge(&widget_path, &json!({"metadata": {"finalizers": []}})),
    )
    .await;
    r.send(
        "create an unheld widget",
        Req::post(&r.widgets(""), &widget("gw", json!({"role": "viewer"}))),
    )
    .await;
    r.send("delete the unheld widget", Req::delete(&r.widgets("/gw")))
        .await;
    r.kubectl(
        "kubectl create held",
        &["create", "-f", "-"],
        Some(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: k\n  finalizers: [example.com/hold]\n",
        ),
    )
    .await;
    r.kubectl(
        "kubectl delete without waiting",
        &["delete", "configmap", "k", "--wait=false"],
        None,
    )
    .await;
    r.kubectl(
        "kubectl get deleting",
        &["get", "configmap", "k", "-o", "json"],
        None,
    )
    .await;
}

async fn tables_and_metadata(r: &mut Run<'_>) {
    r.send(
        "create a configmap",
        Req::post(
            &r.configmaps(""),
            &config_map("t", json!({"tier": "gold"}), json!({"a": "1", "b": "2"})),
        ),
    )
    .await;
    let mut w = widget(
        "tw",
        json!({"role": "admin", "size": 3, "owner": "platform"}),
    );
    w["metadata"]["labels"] = json!({"tier": "gold"});
    r.send("create a widget", Req::post(&r.widgets(""), &w))
        .await;
    r.send(
        "status of the widget",
        Req::merge(
            &r.widgets("/tw/status"),
            &json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        ),
    )
    .await;
    r.send(
        "configmaps as a table",
        Req::get(&r.configmaps("")).accept(TABLE),
    )
    .await;
    r.send(
        "configmap as a table",
        Req::get(&r.configmaps("/t")).accept(TABLE),
    )
    .await;
    r.send(
        "configmaps as a table without objects",
        Req::get(&r.configmaps("?includeObject=None")).accept(TABLE),
    )
    .await;
    r.send(
        "configmaps as a table with objects",
        Req::get(&r.configmaps("?includeObject=Object")).accept(TABLE),
    )
    .await;
    r.send("widgets as a table", Req::get(&r.widgets("")).accept(TABLE))
        .await;
    r.send(
        "namespace as a table",
        Req::get(&format!("/api/v1/namespaces/{}", r.ns)).accept(TABLE),
    )
    .await;
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                        "stringData": {"user": "alice"}});
    r.send(
        "create a secret",
        Req::post(&format!("/api/v1/namespaces/{}/secrets", r.ns), &secret),
    )
    .await;
    r.send(
        "secret as a table",
        Req::get(&format!("/api/v1/namespaces/{}/secrets/s", r.ns)).accept(TABLE),
    )
    .await;
    r.send(
        "CRDs as a table",
        Req::get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions").accept(TABLE),
    )
    .await;
    r.send(
        "widget as a table",
        Req::get(&r.widgets("/tw")).accept(TABLE),
    )
    .await;
    r.send(
        "configmaps as metadata",
        Req::get(&r.configmaps(""))
            .accept("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"),
    )
    .await;
    r.send(
        "widget as metadata",
        Req::get(&r.widgets("/tw"))
            .accept("application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io"),
    )
    .await;
    r.send(
        "table or JSON",
        Req::get(&r.widgets("")).accept(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
        ),
    )
    .await;
    r.send(
        "protobuf only",
        Req::get(&r.configmaps("")).accept("application/vnd.kubernetes.protobuf"),
    )
    .await;
    r.kubectl("kubectl get configmaps", &["get", "configmaps"], None)
        .await;
    r.kubectl(
        "kubectl get widgets wide",
        &["get", "widgets", "-o", "wide"],
        None,
    )
    .await;
    r.kubectl(
        "kubectl get widgets with labels",
        &["get", "widgets", "--show-labels", "-l", "tier=gold"],
        None,
    )
    .await;
    r.kubectl(
        "kubectl get widgets columns",
        &[
            "get",
            "widgets",
            "-o",
            "custom-columns=NAME:.metadata.name,ROLE:.spec.role",
        ],
        None,
    )
    .await;
}

async fn field_validation(r: &mut Run<'_>) {
    let all = r.widgets("");
    let unknown = |name: &str| widget(name, json!({"role": "viewer", "colour": "blue"}));
    for (step, query, name) in [
        ("unknown field, strict", "?fieldValidation=Strict", "v1"),
        ("unknown field, warn", "?fieldValidation=Warn", "v2"),
        ("unknown field, ignore", "?fieldValidation=Ignore", "v3"),
        ("unknown field, default", "", "v4"),
        ("unsupported validation", "?fieldValidation=Loud", "v5"),
    ] {
        r.send(step, Req::post(&format!("{all}{query}"), &unknown(name)))
            .await;
    }
    let mut metadata = widget("v6", json!({"role": "viewer"}));
    metadata["metadata"]["bogus"] = json!(1);
    r.send(
        "unknown metadata field, strict",
        Req::post(&format!("{all}?fieldValidation=Strict"), &metadata),
    )
    .await;
    r.send(
        "missing required field",
        Req::post(&all, &widget("v7", json!({"size": 1}))),
    )
    .await;
    r.send(
        "value outside the enum",
        Req::post(&all, &widget("v8", json!({"role": "root"}))),
    )
    .await;
    r.send(
        "several invalid values",
        Req::post(&all, &widget("v9", json!({"role": "root", "size": 0}))),
    )
    .await;
    r.send(
        "wrong type",
        Req::post(
            &all,
            &widget("v10", json!({"role": "viewer", "size": "big"})),
        ),
    )
    .await;
    let owned = r
        .send(
            "create with owner",
            Req::post(
                &all,
                &widget("v11", json!({"role": "viewer", "owner": "a"})),
            ),
        )
        .await;
    let mut moved = owned.clone();
    moved["spec"]["owner"] = json!("b");
    r.send("transition rule", Req::put(&r.widgets("/v11"), &moved))
        .await;
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1"},
                    "data": {}, "spec": {}});
    r.send(
        "unknown field in a configmap, strict",
        Req::post(&r.configmaps("?fieldValidation=Strict"), &cm),
    )
    .await;
    let mut cm2 = cm.clone();
    cm2["metadata"]["name"] = json!("c2");
    r.send(
        "unknown field in a configmap, warn",
        Req::post(&r.configmaps("?fieldValidation=Warn"), &cm2),
    )
    .await;
    r.kubectl(
        "kubectl apply with an unknown field",
        &["apply", "-f", "-"],
        Some(&widget_yaml("k1", "  role: viewer\n  colour: blue\n")),
    )
    .await;
    r.kubectl(
        "kubectl create with an invalid value",
        &["create", "-f", "-"],
        Some(&widget_yaml("k2", "  role: root\n  size: 0\n")),
    )
    .await;
}
