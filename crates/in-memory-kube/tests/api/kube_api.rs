//! The in-memory API server driven by kube-rs, the client rolesync itself uses.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use in_memory_kube::{ApiServer, ServerConfig};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, CustomResource, ResourceExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::support::{body_bytes, raw, send};

#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[kube(
    group = "test.rolesync.io",
    version = "v1",
    kind = "Widget",
    namespaced,
    status = "WidgetStatus",
    schema = "disabled"
)]
struct WidgetSpec {
    size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    color: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
struct WidgetStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ready: Option<bool>,
}

const DEADLINE: Duration = Duration::from_secs(15);

async fn start_with(config: ServerConfig) -> (ApiServer, Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = ApiServer::start(config).await.expect("server starts");
    let mut config = kube::Config::new(server.url().parse().expect("server url parses"));
    config.headers.push((
        axum::http::header::USER_AGENT,
        axum::http::HeaderValue::from_static("rolesync-tests/1"),
    ));
    let client = Client::try_from(config).expect("client builds");
    (server, client)
}

async fn start() -> (ApiServer, Client) {
    start_with(ServerConfig::default()).await
}

fn widget_crd() -> CustomResourceDefinition {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/widgets.crd.yaml"
    ))
    .expect("fixture readable");
    serde_saphyr::from_str(&text).expect("fixture parses")
}

/// Starts a server with the Widget CRD installed.
async fn start_with_widgets(config: ServerConfig) -> (ApiServer, Client) {
    let (server, client) = start_with(config).await;
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &widget_crd())
        .await
        .expect("CRD created");
    (server, client)
}

fn widget(name: &str, size: i64) -> Widget {
    let mut w = Widget::new(name, WidgetSpec { size, color: None });
    w.metadata.namespace = Some("default".into());
    w
}

fn config_map(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    }
}

/// Polls `check` until it yields a value or the deadline passes.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn api_error(err: kube::Error) -> Box<kube::core::Status> {
    match err {
        kube::Error::Api(status) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn rv(object: &impl ResourceExt) -> u64 {
    object
        .resource_version()
        .expect("resourceVersion set")
        .parse()
        .expect("numeric resourceVersion")
}

#[tokio::test]
async fn crd_registration_serves_and_removes_the_resource() {
    let (_server, client) = start().await;
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    let created = crds
        .create(&PostParams::default(), &widget_crd())
        .await
        .unwrap();
    let conditions = created
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    for kind in ["NamesAccepted", "Established"] {
        assert!(
            conditions
                .iter()
                .any(|c| c.type_ == kind && c.status == "True"),
            "{kind} missing in {conditions:?}"
        );
    }
    let (code, list) = raw(
        &client,
        "GET",
        "/apis/test.rolesync.io/v1",
        "application/json",
        Value::Null,
    )
    .await;
    assert_eq!(code, 200);
    let widgets = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "widgets")
        .expect("widgets in discovery")
        .clone();
    assert_eq!(widgets["namespaced"], true);
    assert_eq!(widgets["shortNames"], json!(["wd"]));
    assert!(
        list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "widgets/status"),
        "status subresource in discovery"
    );
    let (_, groups) = raw(&client, "GET", "/apis", "application/json", Value::Null).await;
    assert!(
        groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "test.rolesync.io")
    );

    let api = Api::<Widget>::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &widget("w", 1))
        .await
        .unwrap();
    crds.delete("widgets.test.rolesync.io", &DeleteParams::default())
        .await
        .unwrap();
    let (code, _) = raw(
        &client,
        "GET",
        "/apis/test.rolesync.io/v1",
        "application/json",
        Value::Null,
    )
    .await;
    assert_eq!(code, 404);
    let status = api_error(api.list(&ListParams::default()).await.unwrap_err());
    assert_eq!(status.code, 404);

    // Re-creating the CRD serves an empty resource: its objects went with it.
    crds.create(&PostParams::default(), &widget_crd())
        .await
        .unwrap();
    assert!(
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn invalid_crd_is_rejected() {
    let (_server, client) = start().await;
    let mut crd = widget_crd();
    crd.metadata.name = Some("gadgets.test.rolesync.io".into());
    let status = api_error(
        Api::<CustomResourceDefinition>::all(client)
            .create(&PostParams::default(), &crd)
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code, 422);
    assert_eq!(status.reason, "Invalid");
    assert!(
        status.message.contains("metadata.name"),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn metadata_is_filled_in_on_create() {
    let (_server, client) = start_with_widgets(ServerConfig::default()).await;
    let api = Api::<Widget>::namespaced(client.clone(), "default");
    let mut w = widget("", 1);
    w.metadata.name = None;
    w.metadata.generate_name = Some("gen-".into());
    let a = api.create(&PostParams::default(), &w).await.unwrap();
    let b = api
        .create(&PostParams::default(), &widget("b", 1))
        .await
        .unwrap();
    assert!(a.name_any().starts_with("gen-") && a.name_any().len() == 9);
    assert!(a.uid().is_some() && a.creation_timestamp().is_some());
    assert_eq!(a.metadata.generation, Some(1));
    assert!(rv(&b) > rv(&a), "one increasing counter across objects");
    let cm = Api::<ConfigMap>::namespaced(client, "default")
        .create(&PostParams::default(), &config_map("c", &[]))
        .await
        .unwrap();
    assert!(rv(&cm) > rv(&b), "one increasing counter across resources");
}

#[tokio::test]
async fn create_twice_is_already_exists() {
    let (_server, client) = start().await;
    let api = Api::<ConfigMap>::namespaced(client, "default");
    api.create(&PostParams::default(), &config_map("dup", &[]))
        .await
        .unwrap();
    let status = api_error(
        api.create(&PostParams::default(), &config_map("dup", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "AlreadyExists");
    assert_eq!(status.message, "configmaps \"dup\" already exists");
}

#[tokio::test]
async fn stale_update_is_a_conflict() {
    let (_server, client) = start_with_widgets(ServerConfig::default()).await;
    let api = Api::<Widget>::namespaced(client, "default");
    let original = api
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .unwrap();
    let mut first = original.clone();
    first.spec.size = 2;
    let updated = api
        .replace("w", &PostParams::default(), &first)
        .await
        .unwrap();
    assert_eq!(updated.metadata.generation, Some(2));
    let mut stale = original;
    stale.spec.size = 3;
    let status = api_error(
        api.replace("w", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "Conflict");
    assert!(
        status.message.contains("the object has been modified"),
        "{}",
        status.message
    );
    assert_eq!(api.get("w").await.unwrap().spec.size, 2);
}

#[tokio::test]
async fn missing_objects_are_not_found() {
    let (_server, client) = start_with_widgets(ServerConfig::default()).await;
    let status = api_error(
        Api::<Widget>::namespaced(client.clone(), "default")
            .get("nope")
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code, 404);
    assert_eq!(
        status.message,
        "widgets.test.rolesync.io \"nope\" not found"
    );
    let status = api_error(
        Api::<ConfigMap>::namespaced(client, "missing-ns")
            .create(&PostParams::default(), &config_map("c", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code, 404);
    assert_eq!(status.message, "namespaces \"missing-ns\" not found");
}

#[tokio::test]
async fn invalid_names_are_rejected() {
    let (_server, client) = start_with_widgets(ServerConfig::default()).await;
    let status = api_error(
        Api::<Widget>::namespaced(client, "default")
            .create(&PostParams::default(), &widget("Not_Valid", 1))
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code, 422);
    assert!(
        status
            .message
            .starts_with("Widget.test.rolesync.io \"Not_Valid\" is invalid: metadata.name"),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn status_subresource_is_separate_and_never_bumps_generation() {
    let (_server, client) = start_with_widgets(ServerConfig::default()).await;
    let api = Api::<Widget>::namespaced(client, "default");
    api.create(&PostParams::default(), &widget("w", 1))
        .await
        .unwrap();
    let pp = PatchParams::default();

    // The main endpoint ignores status.
    let main = api
        .patch(
            "w",
            &pp,
            &Patch::Merge(json!({"spec": {"size": 2}, "status": {"ready": true}})),
        )
        .await
        .unwrap();
    assert_eq!(main.spec.size, 2);
    assert_eq!(main.status, None);
    assert_eq!(main.metadata.generation, Some(2));

    // The status endpoint ignores everything else.
    let status = api
        .patch_status(
            "w",
            &pp,
            &Patch::Merge(json!({"spec": {"size": 9}, "metadata": {"labels": {"x": "y"}}, "status": {"ready": true}})),
        )
        .await
        .unwrap();
    assert_eq!(status.status.as_ref().and_then(|s| s.ready), Some(true));
    assert_eq!(status.spec.size, 2);
    assert!(status.labels().is_empty());
    assert_eq!(status.metadata.generation, Some(2));
    assert!(rv(&status) > rv(&main));

    // Metadata changes do not bump generation either.
    let labelled = api
        .patch(
            "w",
            &pp,
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap();
    assert_eq!(labelled.metadata.generation, Some(2));
    assert_eq!(labelled.status.as_ref().and_then(|s| s.ready), Some(true));
}

#[tokio::test]
async fn a_write_that_changes_nothing_keeps_the_resource_version() {
    let (server, client) = start_with_widgets(ServerConfig::default()).await;
    let api = Api::<Widget>::namespaced(client, "default");
    api.create(&PostParams::default(), &widget("w", 1))
        .await
        .unwrap();
    let pp = PatchParams::default();
    let first = api
        .patch_status(
            "w",
            &pp,
            &Patch::Merge(json!({"status": {"observedGeneration": 1}})),
        )
        .await
        .unwrap();
    let writes = server.writes_by("");
    let mut watch = api
        .watch(&WatchParams::default(), &first.resource_version().unwrap())
        .await
        .unwrap()
        .boxed();
    let again = api
        .patch_status(
            "w",
            &pp,
            &Patch::Merge(json!({"status": {"observedGeneration": 1}})),
        )
        .await
        .unwrap();
    assert_eq!(rv(&again), rv(&first));
    let replaced = api
        .replace("w", &PostParams::default(), &again)
        .await
        .unwrap();
    assert_eq!(rv(&replaced), rv(&first));
    assert_eq!(
        server.writes_by(""),
        writes,
        "no-op writes are not counted as writes"
    );

    // The next event the watch sees is the next real change, not the no-ops.
    api.patch("w", &pp, &Patch::Merge(json!({"spec": {"size": 5}})))
        .await
        .unwrap();
    match watch.try_next().await.unwrap() {
        Some(WatchEvent::Modified(w)) => assert_eq!(w.spec.size, 5),
        other => panic!("expected the size change, got {other:?}"),
    }
}

#[tokio::test]
async fn watch_reports_changes_in_order() {
    let (_server, client) = start_with_widgets(ServerConfig::default()).await;
    let api = Api::<Widget>::namespaced(client, "default");
    let list = api.list(&ListParams::default()).await.unwrap();
    let mut watch = api
        .watch(
            &WatchParams::default(),
            &list.metadata.resource_version.unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"size": 2}})),
    )
    .await
    .unwrap();
    api.create(&PostParams::default(), &widget("b", 1))
        .await
        .unwrap();
    api.delete("a", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    let mut last_rv = 0;
    while seen.len() < 4 {
        let event = tokio::time::timeout(DEADLINE, watch.try_next())
            .await
            .expect("event in time")
            .unwrap()
            .expect("stream open");
        let (kind, w) = match event {
            WatchEvent::Added(w) => ("ADDED", w),
            WatchEvent::Modified(w) => ("MODIFIED", w),
            WatchEvent::Deleted(w) => ("DELETED", w),
            other => panic!("unexpected {other:?}"),
        };
        assert!(
            rv(&w) > last_rv,
            "resourceVersions increase along the stream"
        );
        last_rv = rv(&w);
        seen.push((kind, w.name_any(), w.spec.size));
    }
    assert_eq!(
        seen,
        vec![
            ("ADDED", "a".to_owned(), 1),
            ("MODIFIED", "a".to_owned(), 2),
            ("ADDED", "b".to_owned(), 1),
            ("DELETED", "a".to_owned(), 2),
        ]
    );
}

/// What a controller that must not hold Secret data asks for: metadata only, in a list, a
/// get and a watch, with kube-rs's metadata calls.
#[tokio::test]
async fn metadata_requests_get_partial_objects_without_data() {
    let (_server, client) = start().await;
    let api = Api::<Secret>::namespaced(client.clone(), "default");
    let secret = |name: &str| Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        string_data: Some([("key".to_owned(), "hunter2".to_owned())].into()),
        ..Secret::default()
    };
    api.create(&PostParams::default(), &secret("a"))
        .await
        .unwrap();
    let list = api.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].name_any(), "a");
    let request = axum::http::Request::get("/api/v1/namespaces/default/secrets")
        .header(
            "accept",
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
        )
        .body(Vec::new())
        .unwrap();
    let raw_list: Value = client.request(request).await.unwrap();
    assert_eq!(raw_list["kind"], "PartialObjectMetadataList");
    assert_eq!(raw_list["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(raw_list["items"][0]["kind"], "PartialObjectMetadata");
    assert!(raw_list["items"][0].get("data").is_none(), "{raw_list}");
    assert!(
        !raw_list.to_string().contains("aHVudGVyMg=="),
        "no Secret data: {raw_list}"
    );
    let got = api.get_metadata("a").await.unwrap();
    assert_eq!(
        got.types.as_ref().map(|t| t.kind.as_str()),
        Some("PartialObjectMetadata")
    );

    let mut watch = api
        .watch_metadata(
            &WatchParams::default(),
            &list.metadata.resource_version.unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &secret("b"))
        .await
        .unwrap();
    let event = tokio::time::timeout(DEADLINE, watch.try_next())
        .await
        .expect("event in time")
        .unwrap()
        .expect("stream open");
    match event {
        WatchEvent::Added(meta) => {
            assert_eq!(meta.name_any(), "b");
            assert_eq!(
                meta.types.as_ref().map(|t| t.kind.as_str()),
                Some("PartialObjectMetadata")
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn watch_from_zero_starts_with_the_current_state() {
    let (_server, client) = start().await;
    let api = Api::<ConfigMap>::namespaced(client, "default");
    api.create(&PostParams::default(), &config_map("existing", &[]))
        .await
        .unwrap();
    let mut watch = api
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    match watch.try_next().await.unwrap() {
        Some(WatchEvent::Added(cm)) => assert_eq!(cm.name_any(), "existing"),
        other => panic!("expected the existing object, got {other:?}"),
    }
}

#[tokio::test]
async fn selector_watch_sees_objects_leave_the_selection() {
    let (_server, client) = start().await;
    let api = Api::<ConfigMap>::namespaced(client, "default");
    let mut watch = api
        .watch(
            &WatchParams::default().labels("app=web").disable_bookmarks(),
            "0",
        )
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &config_map("c", &[("app", "web")]))
        .await
        .unwrap();
    api.patch(
        "c",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "db"}}})),
    )
    .await
    .unwrap();
    assert!(matches!(
        watch.try_next().await.unwrap(),
        Some(WatchEvent::Added(_))
    ));
    assert!(matches!(
        watch.try_next().await.unwrap(),
        Some(WatchEvent::Deleted(_))
    ));
}

#[tokio::test]
async fn watches_receive_bookmarks() {
    let config = ServerConfig {
        bookmark_interval: Duration::from_millis(200),
        ..ServerConfig::default()
    };
    let (_server, client) = start_with(config).await;
    let api = Api::<ConfigMap>::namespaced(client.clone(), "default");
    let created = api
        .create(&PostParams::default(), &config_map("c", &[]))
        .await
        .unwrap();
    let mut watch = api
        .watch(
            &WatchParams {
                bookmarks: true,
                ..WatchParams::default()
            },
            &created.resource_version().unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    // Bookmarks report progress of the resource, here a change outside the watched namespace.
    Api::<ConfigMap>::namespaced(client, "kube-system")
        .create(&PostParams::default(), &config_map("elsewhere", &[]))
        .await
        .unwrap();
    let event = tokio::time::timeout(DEADLINE, watch.try_next())
        .await
        .expect("bookmark in time");
    match event.unwrap() {
        Some(WatchEvent::Bookmark(b)) => {
            assert!(b.metadata.resource_version.parse::<u64>().unwrap() >= rv(&created));
        }
        other => panic!("expected a bookmark, got {other:?}"),
    }
}

#[tokio::test]
async fn watch_times_out_when_asked() {
    let (_server, client) = start().await;
    let api = Api::<ConfigMap>::namespaced(client, "default");
    let mut watch = api
        .watch(&WatchParams::default().timeout(1).disable_bookmarks(), "0")
        .await
        .unwrap()
        .boxed();
    let end = tokio::time::timeout(DEADLINE, watch.try_next())
        .await
        .expect("stream ends in time");
    assert!(end.unwrap().is_none());
}

#[tokio::test]
async fn expired_versions_are_gone_and_watchers_relist() {
    let (server, client) = start().await;
    let api = Api::<ConfigMap>::namespaced(client, "default");
    let created = api
        .create(&PostParams::default(), &config_map("a", &[]))
        .await
        .unwrap();
    api.create(&PostParams::default(), &config_map("b", &[]))
        .await
        .unwrap();
    server.faults().compact_history();
    let mut stale = api
        .watch(
            &WatchParams::default(),
            &created.resource_version().unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    match stale.try_next().await {
        Ok(Some(WatchEvent::Error(e))) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
        }
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 410),
        other => panic!("expected 410 Gone, got {other:?}"),
    }

    // A kube-runtime watcher recovers from 410 by listing again.
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = seen.clone();
    let task = tokio::spawn(watcher(api.clone(), watcher::Config::default()).for_each(
        move |event| {
            if let Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm)) = event {
                sink.lock().unwrap().push(cm.name_any());
            }
            async {}
        },
    ));
    eventually("initial list", || async {
        seen.lock().unwrap().contains(&"b".to_owned()).then_some(())
    })
    .await;
    let lists_before = server
        .audit()
        .iter()
        .filter(|r| r.verb == "list" && r.resource == "configmaps")
        .count();
    server.faults().compact_history();
    server.faults().drop_watches();
    api.create(&PostParams::default(), &config_map("c", &[]))
        .await
        .unwrap();
    eventually("the object created after compaction", || async {
        seen.lock().unwrap().contains(&"c".to_owned()).then_some(())
    })
    .await;
    let lists_after = server
        .audit()
        .iter()
        .filter(|r| r.verb == "list" && r.resource == "configmaps")
        .count();
    assert!(lists_after > lists_before, "the watcher listed again");
    task.abort();
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let (_server, client) = start_with_widgets(ServerConfig::default()).await;
    let api = Api::<Widget>::namespaced(client, "default");
    let mut w = widget("held", 1);
    w.metadata.finalizers = Some(vec!["test.rolesync.io/cleanup".into()]);
    let created = api.create(&PostParams::default(), &w).await.unwrap();
    let mut watch = api
        .watch(
            &WatchParams::default(),
            &created.resource_version().unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    api.delete("held", &DeleteParams::default()).await.unwrap();
    let marked = api.get("held").await.unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some());
    match watch.try_next().await.unwrap() {
        Some(WatchEvent::Modified(m)) => assert!(m.metadata.deletion_timestamp.is_some()),
        other => panic!("expected MODIFIED with deletionTimestamp, got {other:?}"),
    }
    // Deleting again changes nothing while the finalizer holds.
    api.delete("held", &DeleteParams::default()).await.unwrap();
    assert_eq!(rv(&api.get("held").await.unwrap()), rv(&marked));

    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    match watch.try_next().await.unwrap() {
        Some(WatchEvent::Deleted(d)) => assert_eq!(d.name_any(), "held"),
        other => panic!("expected DELETED, got {other:?}"),
    }
    assert_eq!(api_error(api.get("held").await.unwrap_err()).code, 404);
}

#[tokio::test]
async fn label_and_field_selectors_filter_lists() {
    let (_server, client) = start().await;
    let api = Api::<ConfigMap>::namespaced(client.clone(), "default");
    for (name, labels) in [
        ("a", vec![("app", "web"), ("tier", "front")]),
        ("b", vec![("app", "web")]),
        ("c", vec![("app", "db")]),
        ("d", vec![]),
    ] {
        api.create(&PostParams::default(), &config_map(name, &labels))
            .await
            .unwrap();
    }
    let names = |selector: &'static str, fields: &'static str| {
        let api = api.clone();
        async move {
            let mut lp = ListParams::default();
            if !selector.is_empty() {
                lp = lp.labels(selector);
            }
            if !fields.is_empty() {
                lp = lp.fields(fields);
            }
            api.list(&lp)
                .await
                .unwrap()
                .items
                .iter()
                .map(ResourceExt::name_any)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(names("app=web", "").await, ["a", "b"]);
    assert_eq!(names("app==web,tier", "").await, ["a"]);
    assert_eq!(names("app!=web", "").await, ["c", "d"]);
    assert_eq!(names("app in (db,web)", "").await, ["a", "b", "c"]);
    assert_eq!(names("app notin (web)", "").await, ["c", "d"]);
    assert_eq!(names("!app", "").await, ["d"]);
    assert_eq!(names("", "metadata.name=c").await, ["c"]);
    assert_eq!(names("app=web", "metadata.name!=a").await, ["b"]);
    assert_eq!(names("", "metadata.namespace=default").await.len(), 4);
    let other = Api::<ConfigMap>::namespaced(client, "kube-system");
    assert!(
        other
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn unsupported_field_selectors_on_custom_resources_are_bad_requests() {
    let (_server, client) = start_with_widgets(ServerConfig::default()).await;
    let status = api_error(
        Api::<Widget>::namespaced(client, "default")
            .list(&ListParams::default().fields("spec.size=1"))
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code, 400);
    assert_eq!(status.reason, "BadRequest");
}

#[tokio::test]
async fn limit_and_continue_page_through_every_object_once() {
    let (_server, client) = start().await;
    let api = Api::<ConfigMap>::namespaced(client.clone(), "default");
    for i in 0..250 {
        api.create(
            &PostParams::default(),
            &config_map(&format!("cm-{i:03}"), &[]),
        )
        .await
        .unwrap();
    }
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut lp = ListParams::default().limit(100);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = api.list(&lp).await.unwrap();
        pages += 1;
        names.extend(page.items.iter().map(ResourceExt::name_any));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(next) => {
                assert!(page.metadata.remaining_item_count.unwrap() > 0);
                token = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..250).map(|i| format!("cm-{i:03}")).collect();
    assert_eq!(names, expected);

    // A continue token from before a compaction has expired.
    let first = api.list(&ListParams::default().limit(10)).await.unwrap();
    _server.faults().compact_history();
    let status = api_error(
        api.list(
            &ListParams::default()
                .limit(10)
                .continue_token(&first.metadata.continue_.unwrap()),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(status.code, 410);
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct ReconcileError(#[from] kube::Error);

struct Ctx {
    api: Api<Widget>,
    reconciles: std::sync::Mutex<BTreeMap<String, usize>>,
}

async fn reconcile(w: Arc<Widget>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    *ctx.reconciles
        .lock()
        .unwrap()
        .entry(w.name_any())
        .or_default() += 1;
    let status = json!({"status": {"observedGeneration": w.metadata.generation, "ready": true}});
    ctx.api
        .patch_status(
            &w.name_any(),
            &PatchParams::default(),
            &Patch::Merge(status),
        )
        .await?;
    Ok(Action::await_change())
}

fn error_policy(_: Arc<Widget>, _: &ReconcileError, _: Arc<Ctx>) -> Action {
    Action::requeue(Duration::from_millis(100))
}

#[tokio::test]
async fn controller_converges_without_looping_on_status_writes() {
    let (_server, client) = start_with_widgets(ServerConfig::default()).await;
    let api = Api::<Widget>::namespaced(client, "default");
    let ctx = Arc::new(Ctx {
        api: api.clone(),
        reconciles: std::sync::Mutex::new(BTreeMap::new()),
    });
    let controller = tokio::spawn(
        Controller::new(api.clone(), watcher::Config::default())
            .run(reconcile, error_policy, ctx.clone())
            .for_each(|_| async {}),
    );
    let observed = |name: &'static str, generation: i64| {
        let api = api.clone();
        async move {
            api.get(name).await.ok().filter(|w| {
                w.status.as_ref().and_then(|s| s.observed_generation) == Some(generation)
            })
        }
    };
    api.create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    eventually("a reconciled", || observed("a", 1)).await;
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"size": 2}})),
    )
    .await
    .unwrap();
    let settled = eventually("a reconciled again", || observed("a", 2)).await;

    // Another object's whole round trip gives a looping controller time to show itself.
    api.create(&PostParams::default(), &widget("b", 1))
        .await
        .unwrap();
    eventually("b reconciled", || observed("b", 1)).await;
    let reconciles_of_a = ctx.reconciles.lock().unwrap()["a"];
    assert!(
        reconciles_of_a <= 4,
        "two generations need at most two reconciles each, saw {reconciles_of_a}"
    );
    assert_eq!(
        rv(&api.get("a").await.unwrap()),
        rv(&settled),
        "a stays untouched"
    );
    assert!(reconciles_of_a >= 2, "each generation was reconciled");
    controller.abort();
}

#[tokio::test]
async fn strategic_merge_patch_is_refused_for_custom_resources_only() {
    let (_server, client) = start_with_widgets(ServerConfig::default()).await;
    Api::<Widget>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .unwrap();
    let (code, status) = raw(
        &client,
        "PATCH",
        "/apis/test.rolesync.io/v1/namespaces/default/widgets/w",
        "application/strategic-merge-patch+json",
        json!({"spec": {"size": 2}}),
    )
    .await;
    assert_eq!(code, 415);
    assert_eq!(status["reason"], "UnsupportedMediaType");
    let cms = Api::<ConfigMap>::namespaced(client, "default");
    cms.create(&PostParams::default(), &config_map("c", &[]))
        .await
        .unwrap();
    let patched = cms
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Strategic(json!({"data": {"k": "v"}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap()["k"], "v");
}

#[tokio::test]
async fn json_patch_applies_and_reports_failed_tests() {
    let (_server, client) = start().await;
    let api = Api::<ConfigMap>::namespaced(client, "default");
    api.create(&PostParams::default(), &config_map("c", &[]))
        .await
        .unwrap();
    let ops: json_patch::Patch =
        serde_json::from_value(json!([{"op": "add", "path": "/data", "value": {"k": "v"}}]))
            .unwrap();
    let patched = api
        .patch("c", &PatchParams::default(), &Patch::<()>::Json(ops))
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap()["k"], "v");
    let failing: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/data/k", "value": "other"}]))
            .unwrap();
    let status = api_error(
        api.patch("c", &PatchParams::default(), &Patch::<()>::Json(failing))
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code, 422);
}

#[tokio::test]
async fn protobuf_is_refused_clearly() {
    let (_server, client) = start().await;
    let request = axum::http::Request::builder()
        .uri("/api/v1/namespaces/default/configmaps")
        .header("accept", "application/vnd.kubernetes.protobuf")
        .body(Vec::new())
        .unwrap();
    let status = api_error(client.request::<Value>(request).await.unwrap_err());
    assert_eq!(status.code, 406);
    let (code, status) = raw(
        &client,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/vnd.kubernetes.protobuf",
        json!({}),
    )
    .await;
    assert_eq!(code, 415);
    assert_eq!(status["reason"], "UnsupportedMediaType");
}

#[tokio::test]
async fn secrets_fold_string_data_into_data() {
    let (_server, client) = start().await;
    let api = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client, "default");
    let secret = serde_json::from_value(json!({
        "metadata": {"name": "s"}, "stringData": {"token": "foo"}
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &secret).await.unwrap();
    assert_eq!(created.data.unwrap()["token"].0, b"foo");
    assert!(created.string_data.is_none());
    assert_eq!(created.type_.as_deref(), Some("Opaque"));
}

#[tokio::test]
async fn injected_write_failures_and_audit() {
    let (server, client) = start().await;
    let api = Api::<ConfigMap>::namespaced(client, "default");
    server.faults().fail_writes(1, 500);
    let status = api_error(
        api.create(&PostParams::default(), &config_map("c", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code, 500);
    api.create(&PostParams::default(), &config_map("c", &[]))
        .await
        .unwrap();
    server.faults().fail_writes(1, 409);
    let status = api_error(
        api.patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"a": "b"}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(status.reason, "Conflict");
    let records = server.audit();
    let creates: Vec<_> = records
        .iter()
        .filter(|r| r.verb == "create" && r.resource == "configmaps")
        .map(|r| r.code)
        .collect();
    assert_eq!(creates, [500, 201]);
    let create = records.iter().find(|r| r.code == 201).unwrap();
    assert_eq!(create.namespace.as_deref(), Some("default"));
    assert_eq!(create.user_agent, "rolesync-tests/1");
    assert_eq!(server.writes_by("rolesync-tests"), 1);
    assert_eq!(server.writes_by("kubectl"), 0);
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_contents() {
    let (_server, client) = start().await;
    let namespaces = Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone());
    let ns = serde_json::from_value(json!({"metadata": {"name": "team-a"}})).unwrap();
    let created = namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Active"));
    let cms = Api::<ConfigMap>::namespaced(client, "team-a");
    cms.create(&PostParams::default(), &config_map("c", &[]))
        .await
        .unwrap();
    namespaces
        .delete("team-a", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        api_error(namespaces.get("team-a").await.unwrap_err()).code,
        404
    );
    assert_eq!(api_error(cms.get("c").await.unwrap_err()).code, 404);
}

#[tokio::test]
async fn shutdown_ends_open_watches() {
    let (server, client) = start().await;
    let api = Api::<ConfigMap>::namespaced(client, "default");
    let mut watch = api
        .watch(&WatchParams::default().disable_bookmarks(), "0")
        .await
        .unwrap()
        .boxed();
    server.shutdown().await;
    let end = tokio::time::timeout(DEADLINE, watch.try_next())
        .await
        .expect("watch ends");
    assert!(!matches!(end, Ok(Some(_))));
}

#[tokio::test]
async fn apply_conflicts_name_the_other_manager() {
    let (_server, client) = start_with_widgets(ServerConfig::default()).await;
    let api = Api::<Widget>::namespaced(client, "default");
    let applied = |size: i64| {
        json!({"apiVersion": "test.rolesync.io/v1", "kind": "Widget",
               "metadata": {"name": "w"}, "spec": {"size": size}})
    };
    api.patch("w", &PatchParams::apply("alice"), &Patch::Apply(applied(1)))
        .await
        .unwrap();
    let status = api_error(
        api.patch("w", &PatchParams::apply("bob"), &Patch::Apply(applied(2)))
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code, 409);
    assert_eq!(
        status.message,
        "Apply failed with 1 conflict: conflict with \"alice\": .spec.size"
    );
    let forced = api
        .patch(
            "w",
            &PatchParams::apply("bob").force(),
            &Patch::Apply(applied(2)),
        )
        .await
        .unwrap();
    assert_eq!(forced.spec.size, 2);
}

#[tokio::test]
async fn apply_requires_a_field_manager_and_creates() {
    let (_server, client) = start_with_widgets(ServerConfig::default()).await;
    let (code, status) = raw(
        &client,
        "PATCH",
        "/apis/test.rolesync.io/v1/namespaces/default/widgets/w",
        "application/apply-patch+yaml",
        json!({"apiVersion": "test.rolesync.io/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}}),
    )
    .await;
    assert_eq!(code, 422);
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("fieldManager: Required value")
    );
    let api = Api::<Widget>::namespaced(client, "default");
    let created = api
        .patch(
            "w",
            &PatchParams::apply("tester"),
            &Patch::Apply(
                json!({"apiVersion": "test.rolesync.io/v1", "kind": "Widget",
                                 "metadata": {"name": "w"}, "spec": {"size": 1}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(created.spec.size, 1);
    assert!(created.uid().is_some());
}

#[tokio::test]
async fn a_terminating_namespace_waits_for_finalizers_and_refuses_new_content() {
    let (_server, client) = start_with_widgets(ServerConfig::default()).await;
    let namespaces = Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone());
    let ns = serde_json::from_value(json!({"metadata": {"name": "team-b"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let widgets = Api::<Widget>::namespaced(client.clone(), "team-b");
    let mut held = widget("held", 1);
    held.metadata.namespace = Some("team-b".into());
    held.metadata.finalizers = Some(vec!["test.rolesync.io/cleanup".into()]);
    widgets.create(&PostParams::default(), &held).await.unwrap();
    namespaces
        .delete("team-b", &DeleteParams::default())
        .await
        .unwrap();
    let terminating = namespaces.get("team-b").await.unwrap();
    assert_eq!(
        terminating.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    let status = api_error(
        Api::<ConfigMap>::namespaced(client, "team-b")
            .create(&PostParams::default(), &config_map("late", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code, 403);
    assert!(
        widgets
            .get("held")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );
    widgets
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    assert_eq!(
        api_error(namespaces.get("team-b").await.unwrap_err()).code,
        404
    );
}

#[tokio::test]
async fn streaming_list_watchers_get_initial_events() {
    let (_server, client) = start().await;
    let api = Api::<ConfigMap>::namespaced(client, "default");
    api.create(&PostParams::default(), &config_map("before", &[]))
        .await
        .unwrap();
    let mut stream = watcher(api.clone(), watcher::Config::default().streaming_lists()).boxed();
    let mut initial = Vec::new();
    loop {
        match tokio::time::timeout(DEADLINE, stream.try_next())
            .await
            .expect("event in time")
            .unwrap()
        {
            Some(watcher::Event::InitApply(cm)) => initial.push(cm.name_any()),
            Some(watcher::Event::InitDone) => break,
            Some(_) => {}
            None => panic!("stream ended"),
        }
    }
    assert_eq!(initial, ["before"]);
    api.create(&PostParams::default(), &config_map("after", &[]))
        .await
        .unwrap();
    match tokio::time::timeout(DEADLINE, stream.try_next())
        .await
        .expect("event in time")
        .unwrap()
    {
        Some(watcher::Event::Apply(cm)) => assert_eq!(cm.name_any(), "after"),
        other => panic!("expected the new object, got {other:?}"),
    }
}

#[tokio::test]
async fn delete_preconditions_are_checked() {
    let (_server, client) = start().await;
    let api = Api::<ConfigMap>::namespaced(client, "default");
    api.create(&PostParams::default(), &config_map("c", &[]))
        .await
        .unwrap();
    let wrong = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: Some("not-the-uid".into()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let status = api_error(api.delete("c", &wrong).await.unwrap_err());
    assert_eq!(status.code, 409);
    assert!(api.get("c").await.is_ok());
}

/// Sends a widget with an undeclared field and answers the status code, the warnings and
/// the body.
async fn create_with_unknown_field(client: &Client, validation: &str) -> (u16, Vec<String>, Value) {
    let body = json!({"apiVersion": "test.rolesync.io/v1", "kind": "Widget",
                      "metadata": {"name": format!("w-{}", validation.to_lowercase())},
                      "spec": {"size": 1, "foo": "bar"}});
    let answer = send(
        client,
        "POST",
        &format!(
            "/apis/test.rolesync.io/v1/namespaces/default/widgets?fieldValidation={validation}"
        ),
        &[("content-type", "application/json")],
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    let bytes = body_bytes(answer.body).await;
    (
        answer.code,
        answer.warnings,
        serde_json::from_slice(&bytes).unwrap(),
    )
}

#[tokio::test]
async fn unknown_fields_follow_field_validation() {
    let (_server, client) = start_with_widgets(ServerConfig::default()).await;
    let (code, _, status) = create_with_unknown_field(&client, "Strict").await;
    assert_eq!(code, 400);
    assert_eq!(
        status["message"],
        "Widget in version \"v1\" cannot be handled as a Widget: strict decoding error: unknown field \"spec.foo\""
    );
    let (code, warnings, created) = create_with_unknown_field(&client, "Warn").await;
    assert_eq!(code, 201);
    assert_eq!(warnings, ["unknown field \"spec.foo\""]);
    assert!(created["spec"].get("foo").is_none(), "pruned");
    let (code, warnings, _) = create_with_unknown_field(&client, "Ignore").await;
    assert_eq!(code, 201);
    assert!(warnings.is_empty());
}

#[tokio::test]
async fn custom_resources_are_defaulted_and_validated() {
    let (_server, client) = start_with_widgets(ServerConfig::default()).await;
    let api = Api::<Widget>::namespaced(client, "default");
    let created = api
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .unwrap();
    assert_eq!(
        created.spec.color.as_deref(),
        Some("red"),
        "default applied"
    );
    let mut bad = widget("bad", -1);
    bad.spec.color = Some("purple".into());
    let status = api_error(api.create(&PostParams::default(), &bad).await.unwrap_err());
    assert_eq!(status.code, 422);
    assert_eq!(status.reason, "Invalid");
    assert!(
        status
            .message
            .starts_with("Widget.test.rolesync.io \"bad\" is invalid: ["),
        "{}",
        status.message
    );
    let causes = status.details.unwrap().causes;
    let fields: Vec<_> = causes.iter().map(|c| c.field.as_str()).collect();
    assert!(
        fields.contains(&"spec.size") && fields.contains(&"spec.color"),
        "{fields:?}"
    );
}

#[tokio::test]
async fn updating_a_crd_changes_what_is_served() {
    let (_server, client) = start_with_widgets(ServerConfig::default()).await;
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    let patch = json!({"spec": {"names": {"shortNames": ["wd", "wdg"]}}});
    let updated = crds
        .patch(
            "widgets.test.rolesync.io",
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await
        .unwrap();
    assert_eq!(updated.metadata.generation, Some(2));
    let (_, list) = raw(
        &client,
        "GET",
        "/apis/test.rolesync.io/v1",
        "application/json",
        Value::Null,
    )
    .await;
    let widgets = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "widgets")
        .unwrap()
        .clone();
    assert_eq!(widgets["shortNames"], json!(["wd", "wdg"]));
}

#[tokio::test]
async fn delete_collection_removes_only_selected_objects() {
    let (_server, client) = start().await;
    let api = Api::<ConfigMap>::namespaced(client, "default");
    for (name, app) in [("a", "web"), ("b", "web"), ("c", "db")] {
        api.create(&PostParams::default(), &config_map(name, &[("app", app)]))
            .await
            .unwrap();
    }
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("app=web"),
    )
    .await
    .unwrap();
    let left: Vec<_> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    assert_eq!(left, ["c"]);
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_with_a_status() {
    let (_server, client) = start().await;
    let (code, status) = raw(
        &client,
        "GET",
        "/api/v1/namespaces/default/things",
        "application/json",
        Value::Null,
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(status["reason"], "NotFound");
    // A group nothing serves falls through to a plain-text 404, as upstream's does.
    let (code, text) = raw(
        &client,
        "GET",
        "/apis/nothing.example.com/v1/things",
        "application/json",
        Value::Null,
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(text, "404 page not found\n");
    let (code, status) = raw(
        &client,
        "POST",
        "/api/v1/namespaces/default/configmaps/c",
        "application/json",
        json!({}),
    )
    .await;
    assert_eq!(code, 405);
    assert_eq!(status["reason"], "MethodNotAllowed");
}
