//! Events in the in-memory API server: one stored object served through core/v1 and
//! events.k8s.io/v1, as upstream does, so what rolesync publishes with kube-rs's `Recorder`
//! (events.k8s.io/v1) is what `kubectl get events` and `kubectl describe` (core/v1) show.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use in_memory_kube::{ApiServer, ServerConfig};
use k8s_openapi::api::core::v1::{Event as CoreEvent, EventSource, ObjectReference};
use k8s_openapi::api::events::v1::Event as EventsV1;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams, WatchEvent, WatchParams};
use kube::runtime::events::{Event as Published, EventType, Recorder, Reporter};
use kube::{Client, ResourceExt};
use serde_json::Value;

use super::support::{Kubectl, TestResult, kubectl_on_path};

const DEADLINE: Duration = Duration::from_secs(15);

async fn start() -> (ApiServer, Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = ApiServer::start(ServerConfig::default())
        .await
        .expect("server starts");
    let config = kube::Config::new(server.url().parse().expect("server url parses"));
    let client = Client::try_from(config).expect("client builds");
    (server, client)
}

fn reference(name: &str, uid: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("testing.rolesync.dev/v1".into()),
        kind: Some("Widget".into()),
        name: Some(name.into()),
        namespace: Some("default".into()),
        uid: Some(uid.into()),
        ..ObjectReference::default()
    }
}

fn events_v1(name: &str, regarding: ObjectReference, note: &str) -> EventsV1 {
    EventsV1 {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        event_time: Some(MicroTime(jiff::Timestamp::now())),
        regarding: Some(regarding),
        note: Some(note.into()),
        reason: Some("Granted".into()),
        action: Some("Reconcile".into()),
        type_: Some("Normal".into()),
        reporting_controller: Some("rolesync.dev/operator".into()),
        reporting_instance: Some("rolesync-0".into()),
        ..EventsV1::default()
    }
}

fn core_event(name: &str, involved: ObjectReference, message: &str, type_: &str) -> CoreEvent {
    CoreEvent {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        involved_object: involved,
        message: Some(message.into()),
        reason: Some("Revoked".into()),
        type_: Some(type_.into()),
        count: Some(4),
        source: Some(EventSource {
            component: Some("legacy-controller".into()),
            host: Some("node-1".into()),
        }),
        ..CoreEvent::default()
    }
}

fn apis(client: &Client) -> (Api<CoreEvent>, Api<EventsV1>) {
    (
        Api::namespaced(client.clone(), "default"),
        Api::namespaced(client.clone(), "default"),
    )
}

fn names<K: ResourceExt>(items: &[K]) -> Vec<String> {
    let mut names: Vec<String> = items.iter().map(ResourceExt::name_any).collect();
    names.sort();
    names
}

fn status_code(err: kube::Error) -> u16 {
    match err {
        kube::Error::Api(status) => status.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn events_v1_writes_read_back_through_core_v1() {
    let (_server, client) = start().await;
    let (core, events) = apis(&client);
    let created = events
        .create(
            &PostParams::default(),
            &events_v1("ra.1", reference("ra", "uid-1"), "granted admin"),
        )
        .await
        .expect("events.k8s.io/v1 create");

    let seen = core.get("ra.1").await.expect("core/v1 get");
    assert_eq!(seen.uid(), created.uid());
    assert_eq!(seen.resource_version(), created.resource_version());
    assert_eq!(seen.involved_object.uid.as_deref(), Some("uid-1"));
    assert_eq!(seen.involved_object.kind.as_deref(), Some("Widget"));
    assert_eq!(seen.message.as_deref(), Some("granted admin"));
    assert_eq!(
        seen.reporting_component.as_deref(),
        Some("rolesync.dev/operator")
    );
    assert_eq!(seen.reporting_instance.as_deref(), Some("rolesync-0"));
    assert_eq!(seen.action.as_deref(), Some("Reconcile"));
    assert_eq!(seen.event_time, created.event_time);
    let listed = core.list(&ListParams::default()).await.expect("core list");
    assert_eq!(names(&listed.items), vec!["ra.1"]);

    // An update through core/v1 is what events.k8s.io/v1 serves next.
    let mut changed = seen.clone();
    changed.message = Some("granted viewer".into());
    changed.count = Some(2);
    let updated = core
        .replace("ra.1", &PostParams::default(), &changed)
        .await
        .expect("core/v1 update");
    let again = events.get("ra.1").await.expect("events.k8s.io/v1 get");
    assert_eq!(again.note.as_deref(), Some("granted viewer"));
    assert_eq!(again.deprecated_count, Some(2));
    assert_eq!(again.resource_version(), updated.resource_version());
    assert_eq!(again.regarding.and_then(|r| r.name).as_deref(), Some("ra"));
}

#[tokio::test]
async fn core_v1_writes_read_back_through_events_v1() {
    let (_server, client) = start().await;
    let (core, events) = apis(&client);
    let created = core
        .create(
            &PostParams::default(),
            &core_event("old.1", reference("ra", "uid-2"), "revoked", "Warning"),
        )
        .await
        .expect("core/v1 create");

    let seen = events.get("old.1").await.expect("events.k8s.io/v1 get");
    assert_eq!(seen.uid(), created.uid());
    assert_eq!(seen.note.as_deref(), Some("revoked"));
    assert_eq!(seen.deprecated_count, Some(4));
    assert_eq!(
        seen.deprecated_source.and_then(|s| s.host).as_deref(),
        Some("node-1")
    );
    assert_eq!(seen.type_.as_deref(), Some("Warning"));
    assert_eq!(
        seen.regarding.as_ref().and_then(|r| r.uid.as_deref()),
        Some("uid-2")
    );

    events
        .delete("old.1", &DeleteParams::default())
        .await
        .expect("events.k8s.io/v1 delete");
    assert_eq!(status_code(core.get("old.1").await.unwrap_err()), 404);
    assert_eq!(status_code(events.get("old.1").await.unwrap_err()), 404);
}

#[tokio::test]
async fn watches_see_writes_through_the_other_api() {
    let (_server, client) = start().await;
    let (core, events) = apis(&client);
    let core_rv = core
        .list(&ListParams::default())
        .await
        .expect("core list")
        .metadata
        .resource_version
        .expect("list resourceVersion");
    let mut core_watch = core
        .watch(&WatchParams::default(), &core_rv)
        .await
        .expect("core/v1 watch")
        .boxed();
    let mut events_watch = events
        .watch(&WatchParams::default(), &core_rv)
        .await
        .expect("events.k8s.io/v1 watch")
        .boxed();

    events
        .create(
            &PostParams::default(),
            &events_v1("new.1", reference("ra", "uid-3"), "from the new API"),
        )
        .await
        .expect("events.k8s.io/v1 create");
    core.create(
        &PostParams::default(),
        &core_event(
            "old.1",
            reference("ra", "uid-3"),
            "from the old API",
            "Normal",
        ),
    )
    .await
    .expect("core/v1 create");

    let next_core = tokio::time::timeout(DEADLINE, core_watch.try_next())
        .await
        .expect("core/v1 watch event in time")
        .expect("core/v1 watch stream");
    match next_core {
        Some(WatchEvent::Added(e)) => {
            assert_eq!(e.name_any(), "new.1");
            assert_eq!(e.message.as_deref(), Some("from the new API"));
            assert_eq!(e.involved_object.uid.as_deref(), Some("uid-3"));
        }
        other => panic!("expected ADDED new.1 on core/v1, got {other:?}"),
    }
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match tokio::time::timeout(DEADLINE, events_watch.try_next())
            .await
            .expect("events.k8s.io/v1 watch event in time")
            .expect("events.k8s.io/v1 watch stream")
        {
            Some(WatchEvent::Added(e)) => seen.push((e.name_any(), e.note)),
            other => panic!("expected ADDED on events.k8s.io/v1, got {other:?}"),
        }
    }
    assert_eq!(
        seen,
        vec![
            ("new.1".to_owned(), Some("from the new API".to_owned())),
            ("old.1".to_owned(), Some("from the old API".to_owned())),
        ]
    );
}

#[tokio::test]
async fn field_selectors_use_upstream_event_labels() {
    let (_server, client) = start().await;
    let (core, events) = apis(&client);
    events
        .create(
            &PostParams::default(),
            &events_v1("a.1", reference("a", "uid-a"), "a"),
        )
        .await
        .expect("create a.1");
    core.create(
        &PostParams::default(),
        &core_event("a.2", reference("a", "uid-a"), "a again", "Warning"),
    )
    .await
    .expect("create a.2");
    events
        .create(
            &PostParams::default(),
            &events_v1("b.1", reference("b", "uid-b"), "b"),
        )
        .await
        .expect("create b.1");

    // What `kubectl describe` asks for.
    let describe = ListParams::default().fields(
        "involvedObject.uid=uid-a,involvedObject.name=a,involvedObject.namespace=default,involvedObject.kind=Widget",
    );
    let found = core.list(&describe).await.expect("core list by uid");
    assert_eq!(names(&found.items), vec!["a.1", "a.2"]);
    let warnings = core
        .list(&ListParams::default().fields("type=Warning"))
        .await
        .expect("core list by type");
    assert_eq!(names(&warnings.items), vec!["a.2"]);
    let granted = core
        .list(&ListParams::default().fields("reason=Granted,involvedObject.name!=a"))
        .await
        .expect("core list by reason");
    assert_eq!(names(&granted.items), vec!["b.1"]);
    // `source` is the old reporting component, or else the new reporting controller.
    let by_source = core
        .list(&ListParams::default().fields("source=rolesync.dev/operator"))
        .await
        .expect("core list by source");
    assert_eq!(names(&by_source.items), vec!["a.1", "b.1"]);

    let regarding = events
        .list(&ListParams::default().fields("regarding.uid=uid-b"))
        .await
        .expect("events.k8s.io/v1 list by regarding.uid");
    assert_eq!(names(&regarding.items), vec!["b.1"]);
    let controller = events
        .list(&ListParams::default().fields("reportingController=legacy-controller"))
        .await
        .expect("events.k8s.io/v1 list by reportingController");
    assert!(controller.items.is_empty());

    for (core_or_new, selector) in [
        ("core", "message=a"),
        ("core", "regarding.uid=uid-a"),
        ("new", "involvedObject.uid=uid-a"),
        ("new", "note=a"),
    ] {
        let params = ListParams::default().fields(selector);
        let err = match core_or_new {
            "core" => core.list(&params).await.map(|_| ()),
            _ => events.list(&params).await.map(|_| ()),
        }
        .expect_err(selector);
        assert_eq!(status_code(err), 400, "{selector} on {core_or_new}");
    }
}

#[tokio::test]
async fn recorder_events_are_what_core_v1_lists_for_the_object() {
    let (_server, client) = start().await;
    let (core, _) = apis(&client);
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "rolesync".into(),
            instance: Some("rolesync-0".into()),
        },
    );
    let published = Published {
        type_: EventType::Warning,
        reason: "ProviderUnavailable".into(),
        note: Some("Gcore answered 503".into()),
        action: "Grant".into(),
        secondary: None,
    };
    let regarding = reference("ra", "uid-r");
    recorder
        .publish(&published, &regarding)
        .await
        .expect("first publish creates");
    // The second publish of the same event patches its series through events.k8s.io/v1.
    recorder
        .publish(&published, &regarding)
        .await
        .expect("second publish patches");

    let found = core
        .list(&ListParams::default().fields("involvedObject.uid=uid-r"))
        .await
        .expect("core list by uid");
    assert_eq!(found.items.len(), 1, "one event with a series");
    let event = &found.items[0];
    assert_eq!(event.message.as_deref(), Some("Gcore answered 503"));
    assert_eq!(event.reason.as_deref(), Some("ProviderUnavailable"));
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(event.reporting_component.as_deref(), Some("rolesync"));
    assert_eq!(event.reporting_instance.as_deref(), Some("rolesync-0"));
    assert_eq!(event.series.as_ref().and_then(|s| s.count), Some(2));
}

const WIDGET_CRD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/widget-crd.yaml"
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_describe_shows_events_published_through_events_v1() -> TestResult {
    let Some(binary) = kubectl_on_path() else {
        eprintln!("skipping: kubectl is not on PATH; install kubectl 1.32 to run this test");
        return Ok(());
    };
    let (server, client) = start().await;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("kubeconfig"), server.kubeconfig_yaml())?;
    let kubectl = Kubectl::in_dir(binary, dir.path());
    let run = async |args: &[&str]| kubectl.ok(args, None).await;

    run(&["apply", "-f", WIDGET_CRD]).await?;
    run(&[
        "wait",
        "--for=condition=Established",
        "crd/widgets.testing.rolesync.dev",
        "--timeout=30s",
    ])
    .await?;
    let manifest = dir.path().join("widget.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: testing.rolesync.dev/v1\nkind: Widget\nmetadata:\n  name: alpha\nspec:\n  role: admin\n  size: 3\n",
    )?;
    let manifest = manifest.to_str().ok_or("temp path is UTF-8")?;
    let widget: Value =
        serde_json::from_str(&run(&["create", "-o", "json", "-f", manifest]).await?)?;
    let name = widget["metadata"]["name"].as_str().ok_or("widget name")?;
    let uid = widget["metadata"]["uid"].as_str().ok_or("widget uid")?;
    let (_, events) = apis(&client);
    events
        .create(
            &PostParams::default(),
            &events_v1(
                &format!("{name}.1"),
                reference(name, uid),
                "granted admin in Gcore",
            ),
        )
        .await?;
    // An event about another object with the same name must not show up.
    events
        .create(
            &PostParams::default(),
            &events_v1(
                &format!("{name}.2"),
                reference(name, "other-uid"),
                "not this one",
            ),
        )
        .await?;

    let described = run(&["describe", "widget", name]).await?;
    let section = described
        .split_once("Events:")
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("no Events section in:\n{described}"))?;
    assert!(
        section.contains("Granted") && section.contains("granted admin in Gcore"),
        "the event is described:\n{described}"
    );
    assert!(
        section.contains("rolesync.dev/operator"),
        "the reporting controller is shown as the source:\n{described}"
    );
    assert!(!section.contains("not this one"), "{described}");

    let listed = run(&["get", "events", "-o", "name"]).await?;
    assert!(
        listed.contains(&format!("event/{name}.1")),
        "kubectl get events lists it:\n{listed}"
    );
    server.shutdown().await;
    Ok(())
}
