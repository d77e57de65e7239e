//! Property test of every provider's response handling: a server answers each request
//! with a generated status and body (random bytes, random JSON, and JSON built from the
//! field names the providers' APIs use), and observe / create / delete must come back with
//! a value or a typed error — never a panic, never a hang, never an error that quotes the
//! body at length or holds the API key.
//!
//! `ROLESYNC_FUZZ_CASES` sets the number of cases per provider (default 32);
//! `ROLESYNC_FUZZ_SEED` replays a run (each run prints its seed).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};
use rolesync::providers::http::HttpSettings;
use rolesync::providers::{Connection, Desired, ExternalId, Freshness};
use rolesync::providers::{gcore, harness, hyperstack, zenml};
use secrecy::SecretString;
use serde_json::{Map, Value, json};

const KEY: &str = "fuzz-key-0b9e4d27a1";

/// The canned answer to every request but a ZenML login.
type Canned = Arc<Mutex<(u16, &'static str, Vec<u8>)>>;

async fn answer(State(canned): State<Canned>, request: Request) -> Response {
    if request.uri().path() == "/auth/login" {
        let token = json!({"access_token": "t", "token_type": "bearer", "expires_in": 3600});
        return Response::new(Body::from(token.to_string()));
    }
    let (status, content_type, body) = canned.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    if status == 429 {
        // Without it a client rightly pauses for seconds (a minute for Hyperstack) and
        // every 429 case would read as a hang; the pause itself is tested elsewhere.
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("0"));
    }
    response
}

/// Field names of the four APIs, so generated JSON often has the right shape and wrong
/// contents, which is where parsers break.
const KEYS: &[&str] = &[
    "id",
    "user_id",
    "role",
    "client_id",
    "project_id",
    "assigned_by",
    "count",
    "results",
    "items",
    "total",
    "total_pages",
    "index",
    "max_size",
    "size",
    "data",
    "content",
    "role-assignment",
    "roleAssignment",
    "identifier",
    "principal",
    "type",
    "resource_group",
    "resourceGroupIdentifier",
    "roleIdentifier",
    "scope_level",
    "disabled",
    "managed",
    "status",
    "user",
    "team",
    "workspace",
    "project",
    "role_id",
    "rbac_roles",
    "rbac_role",
    "roles",
    "users",
    "name",
    "email",
    "username",
    "body",
    "page",
    "pageIndex",
    "pageItemCount",
    "totalItems",
    "totalPages",
    "message",
    "detail",
    "code",
    "created",
    "updated",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (0i64..1200).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-z0-9_-]{0,12}".prop_map(Value::from),
        prop::sample::select(KEYS).prop_map(Value::from),
        Just(Value::from("20000000-0000-4000-8000-000000000002")),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(KEYS), inner, 0..8).prop_map(|m| {
                Value::Object(
                    m.into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

fn response() -> impl Strategy<Value = (u16, &'static str, Vec<u8>)> {
    let status = prop_oneof![
        4 => Just(200u16),
        1 => Just(201u16),
        1 => Just(204u16),
        2 => 400u16..600,
    ];
    let body = prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..256),
        4 => json_value().prop_map(|v| v.to_string().into_bytes()),
    ];
    let content_type = prop::sample::select(&["application/json", "text/html", "text/plain"][..]);
    (status, content_type, body)
}

fn setting<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn client(kind: &str, endpoint: &str) -> Box<dyn Connection> {
    let key = || SecretString::from(KEY.to_owned());
    let settings = HttpSettings {
        timeout: Duration::from_secs(2),
        ..HttpSettings::default()
    };
    let boxed = |c: Box<dyn Connection>| c;
    let built = match kind {
        "gcore" => gcore::GcoreClient::new(endpoint, key(), settings).map(|c| boxed(Box::new(c))),
        "harness" => harness::HarnessClient::new(endpoint, "acct", key(), settings)
            .map(|c| boxed(Box::new(c))),
        "zenml" => zenml::ZenmlClient::new(endpoint, key(), settings).map(|c| boxed(Box::new(c))),
        _ => {
            hyperstack::HyperstackClient::new(endpoint, key(), settings).map(|c| boxed(Box::new(c)))
        }
    };
    built.expect("client builds")
}

/// The wanted assignment and an external id in the provider's own format.
fn want(kind: &str) -> (Desired, ExternalId) {
    let uuid = |s: &str| s.parse::<uuid::Uuid>().expect("uuid");
    match kind {
        "gcore" => (
            Desired::Gcore(gcore::Assignment {
                user: gcore::UserId(777),
                role: gcore::Role::Observer,
                client: Some(gcore::ClientId(8)),
                project: Some(gcore::ProjectId(123)),
            }),
            ExternalId::new("5"),
        ),
        "harness" => {
            let id = |s: &str| harness::Identifier::parse(s).expect("identifier");
            (
                Desired::Harness(harness::Assignment::new(
                    harness::Scope::Project {
                        org: id("default"),
                        project: id("payments"),
                    },
                    id("_project_viewer"),
                    id("_all_project_level_resources"),
                    harness::Principal {
                        kind: harness::PrincipalType::User,
                        identifier: "alice".to_owned(),
                        scope_level: None,
                    },
                    false,
                    None,
                )),
                ExternalId::new("rolesync_x"),
            )
        }
        "zenml" => {
            let a = zenml::Assignment {
                role: zenml::RoleId(uuid("10000000-0000-4000-8000-000000000002")),
                principal: zenml::Principal::User(zenml::UserId(uuid(
                    "20000000-0000-4000-8000-000000000002",
                ))),
                scope: zenml::Scope::Workspace(zenml::WorkspaceId(uuid(
                    "40000000-0000-4000-8000-000000000001",
                ))),
            };
            let id = a.external_id();
            (Desired::Zenml(a), id)
        }
        _ => (
            Desired::Hyperstack(hyperstack::Assignment {
                user: hyperstack::UserId(202),
                role: hyperstack::RoleRef::Name("developer".to_owned()),
            }),
            ExternalId::new("202"),
        ),
    }
}

fn fuzz(kind: &'static str) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let canned: Canned = Arc::new(Mutex::new((200, "application/json", Vec::new())));
    let endpoint = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(canned.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    });
    let seed = setting("ROLESYNC_FUZZ_SEED").unwrap_or_else(rand::random);
    println!("{kind}: ROLESYNC_FUZZ_SEED={seed}");
    let mut runner = TestRunner::new(Config {
        cases: setting("ROLESYNC_FUZZ_CASES").unwrap_or(32),
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        // A failing case is reported even if shrinking it would take long.
        max_shrink_time: 60_000,
        ..Config::default()
    });
    let (desired, id) = want(kind);
    let live = Freshness {
        max_age: Duration::ZERO,
    };
    runner
        .run(&response(), |answer| {
            *canned.lock().unwrap_or_else(|e| e.into_inner()) = answer;
            // A fresh client per case: nothing cached from an earlier answer.
            let client = client(kind, &endpoint);
            let errors = rt.block_on(async {
                let calls = async {
                    [
                        client.observe(&desired, None, live).await.err(),
                        client.observe(&desired, Some(&id), live).await.err(),
                        client.create(&desired).await.err(),
                        client.delete(&id, &desired).await.err(),
                    ]
                };
                tokio::time::timeout(Duration::from_secs(30), calls).await
            });
            let errors = errors.map_err(|_| TestCaseError::fail("a call hung"))?;
            for e in errors.into_iter().flatten() {
                let text = e.to_string();
                prop_assert!(text.len() < 600, "{kind}: long error: {text}");
                prop_assert!(!text.contains(KEY), "{kind}: the key in an error");
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{kind} (ROLESYNC_FUZZ_SEED={seed}): {e}"));
}

#[test]
fn gcore_responses_never_panic() {
    fuzz("gcore");
}

#[test]
fn harness_responses_never_panic() {
    fuzz("harness");
}

#[test]
fn zenml_responses_never_panic() {
    fuzz("zenml");
}

#[test]
fn hyperstack_responses_never_panic() {
    fuzz("hyperstack");
}
