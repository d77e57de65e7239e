//! The Gcore provider against the Gcore simulator, over real HTTP.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use provider_sims::BodyFault;
use provider_sims::gcore::{GcoreSim, GcoreSimConfig, RolesPerProject};
use rolesync::providers::gcore::{Assignment, ClientId, GcoreClient, ProjectId, Role, UserId};
use rolesync::providers::http::{HttpSettings, RateLimit, RequestObserver};
use rolesync::providers::{Deletion, ExternalId, Freshness, Provider, ProviderError};
use secrecy::SecretString;
use serde_json::json;
use tokio::time::Instant;

const KEY: &str = "gcore-test-key-5f2c";
const CACHED: Freshness = Freshness {
    max_age: Duration::from_secs(600),
};
const LIVE: Freshness = Freshness {
    max_age: Duration::ZERO,
};

async fn sim_with(roles_per_project: RolesPerProject) -> GcoreSim {
    GcoreSim::start(GcoreSimConfig {
        api_key: KEY.to_owned(),
        roles_per_project,
        ..GcoreSimConfig::default()
    })
    .await
    .expect("simulator starts")
}

async fn sim() -> GcoreSim {
    sim_with(RolesPerProject::default()).await
}

fn settings() -> HttpSettings {
    HttpSettings {
        timeout: Duration::from_secs(5),
        ..HttpSettings::default()
    }
}

fn client_with(sim: &GcoreSim, key: &str, settings: HttpSettings) -> GcoreClient {
    GcoreClient::new(
        &sim.endpoint(),
        SecretString::from(key.to_owned()),
        settings,
    )
    .expect("client builds")
}

fn client(sim: &GcoreSim) -> GcoreClient {
    client_with(sim, KEY, settings())
}

fn want(user: u64, role: Role, project: Option<u64>) -> Assignment {
    Assignment {
        user: UserId(user),
        role,
        client: Some(ClientId(8)),
        project: project.map(ProjectId),
    }
}

fn count(sim: &GcoreSim, method: &str) -> usize {
    sim.requests().iter().filter(|r| r.method == method).count()
}

#[tokio::test]
async fn create_observe_update_delete_round_trip() {
    let sim = sim().await;
    let gcore = client(&sim);
    let mut w = want(777, Role::Observer, Some(123));

    assert_eq!(gcore.observe(&w, None, LIVE).await.unwrap(), None);
    let created = gcore.create(&w).await.unwrap();
    assert!(created.up_to_date());
    assert_eq!(created.at_provider["role"], "Observer");
    assert_eq!(created.at_provider["project_id"], 123);
    assert!(created.at_provider["created_at"].is_string());
    let id = created.external_id.clone();
    assert_eq!(sim.assignments().len(), 1);

    let seen = gcore.observe(&w, Some(&id), LIVE).await.unwrap().unwrap();
    assert_eq!(seen.external_id, id);
    assert!(seen.up_to_date());

    w.role = Role::ProjectAdministrator;
    let stale = gcore.observe(&w, Some(&id), LIVE).await.unwrap().unwrap();
    assert!(!stale.up_to_date());
    assert!(gcore.updates_in_place());
    let updated = gcore.update(&id, &w).await.unwrap();
    assert!(updated.up_to_date());
    assert_eq!(updated.external_id, id);
    assert_eq!(
        updated.at_provider["created_at"],
        created.at_provider["created_at"]
    );
    assert_eq!(sim.assignments()[0]["role"], "ProjectAdministrator");
    let seen = gcore.observe(&w, Some(&id), LIVE).await.unwrap().unwrap();
    assert!(seen.up_to_date());
    assert_eq!(seen.at_provider["id"], sim.assignments()[0]["id"]);

    assert_eq!(gcore.delete(&id, &w).await.unwrap(), Deletion::Deleted);
    assert!(sim.assignments().is_empty());
    assert_eq!(
        gcore
            .delete(&id, &w)
            .await
            .expect("deleting a gone assignment succeeds"),
        Deletion::AlreadyGone
    );
    assert_eq!(gcore.observe(&w, Some(&id), LIVE).await.unwrap(), None);
    sim.shutdown().await;
}

#[tokio::test]
async fn observing_many_costs_one_paged_list() {
    let sim = sim().await;
    let users = sim.fixtures().user_ids.clone();
    for i in 0..2500 {
        sim.insert_assignment(users[i % users.len()], "User", Some(8), None);
    }
    let target = sim.insert_assignment(1005, "Observer", Some(8), Some(200));
    let gcore = client(&sim);

    let seen = gcore
        .observe(&want(1005, Role::Observer, Some(200)), None, CACHED)
        .await
        .unwrap()
        .expect("found on the third page");
    assert_eq!(seen.external_id.as_str(), target.to_string());
    let lists: Vec<String> = sim.requests().into_iter().map(|r| r.query).collect();
    assert_eq!(
        lists,
        [
            "limit=1000&offset=0",
            "limit=1000&offset=1000",
            "limit=1000&offset=2000"
        ]
    );

    for user in [777, 778, 790] {
        gcore
            .observe(&want(user, Role::User, None), None, CACHED)
            .await
            .unwrap()
            .expect("exists");
    }
    assert_eq!(sim.requests().len(), 3, "answered from the cached list");
    sim.shutdown().await;
}

#[tokio::test]
async fn concurrent_observers_share_one_list() {
    let sim = sim().await;
    sim.insert_assignment(777, "User", Some(8), None);
    let gcore = Arc::new(client(&sim));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let gcore = gcore.clone();
            tokio::spawn(async move {
                gcore
                    .observe(&want(777 + i, Role::User, None), None, CACHED)
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(count(&sim, "GET"), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn write_through_keeps_the_cache_right() {
    let sim = sim().await;
    let gcore = client(&sim);
    let wants: Vec<Assignment> = (0..5)
        .map(|i| want(780 + i, Role::User, Some(123)))
        .collect();
    for w in &wants {
        assert_eq!(gcore.observe(w, None, CACHED).await.unwrap(), None);
        gcore.create(w).await.unwrap();
    }
    let mut ids = Vec::new();
    for w in &wants {
        let seen = gcore
            .observe(w, None, CACHED)
            .await
            .unwrap()
            .expect("cached create");
        assert!(seen.up_to_date());
        ids.push(seen.external_id);
    }
    let mut admin = wants[0];
    admin.role = Role::ProjectAdministrator;
    gcore.update(&ids[0], &admin).await.unwrap();
    let seen = gcore.observe(&admin, None, CACHED).await.unwrap().unwrap();
    assert!(seen.up_to_date(), "cache holds the new role");
    gcore.delete(&ids[1], &wants[1]).await.unwrap();
    assert_eq!(gcore.observe(&wants[1], None, CACHED).await.unwrap(), None);

    assert_eq!(count(&sim, "GET"), 1, "one list for everything");
    assert_eq!(sim.assignments().len(), 4, "no duplicates");
    sim.shutdown().await;
}

#[tokio::test]
async fn adopts_an_existing_assignment_by_natural_key() {
    let sim = sim().await;
    let project_level = sim.insert_assignment(779, "Observer", Some(8), Some(124));
    let client_level = sim.insert_assignment(779, "ClientAdministrator", Some(8), None);
    let gcore = client(&sim);

    let seen = gcore
        .observe(&want(779, Role::Observer, Some(124)), None, LIVE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.external_id.as_str(), project_level.to_string());
    assert!(seen.up_to_date());
    assert_eq!(seen.at_provider["assigned_by"], serde_json::Value::Null);

    // Another role's assignment for the same user and client is not rolesync's to take.
    assert_eq!(
        gcore
            .observe(&want(779, Role::Observer, None), None, LIVE)
            .await
            .unwrap(),
        None
    );
    let seen = gcore
        .observe(&want(779, Role::ClientAdministrator, None), None, LIVE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.external_id.as_str(), client_level.to_string());

    assert_eq!(
        gcore
            .observe(&want(779, Role::Observer, Some(125)), None, LIVE)
            .await
            .unwrap(),
        None
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn observes_by_id_after_the_natural_key_changed_remotely() {
    let sim = sim().await;
    let gcore = client(&sim);
    let w = want(781, Role::User, Some(123));
    let id = gcore.create(&w).await.unwrap().external_id;

    // Someone else moves the assignment to another project.
    let someone = client(&sim);
    someone
        .update(&id, &want(781, Role::User, Some(125)))
        .await
        .unwrap();

    let seen = gcore.observe(&w, Some(&id), LIVE).await.unwrap().unwrap();
    assert_eq!(seen.external_id, id);
    assert!(!seen.up_to_date(), "project differs");
    assert_eq!(seen.at_provider["project_id"], 125);
    assert_eq!(
        gcore.observe(&w, None, LIVE).await.unwrap(),
        None,
        "nothing else has the natural key"
    );

    gcore.update(&id, &w).await.unwrap();
    assert_eq!(sim.assignments()[0]["project_id"], 123);
    sim.shutdown().await;
}

#[tokio::test]
async fn drift_is_seen_on_a_live_observe() {
    let sim = sim().await;
    let gcore = client(&sim);
    let w = want(782, Role::User, None);
    let id = gcore.create(&w).await.unwrap().external_id;
    let numeric: u64 = id.as_str().parse().unwrap();

    assert!(sim.set_role(numeric, "Observer"));
    assert!(
        !gcore
            .observe(&w, Some(&id), LIVE)
            .await
            .unwrap()
            .unwrap()
            .up_to_date()
    );
    assert!(sim.remove_assignment(numeric));
    assert_eq!(gcore.observe(&w, Some(&id), LIVE).await.unwrap(), None);
    sim.shutdown().await;
}

#[tokio::test]
async fn update_of_a_vanished_assignment_is_a_conflict() {
    let sim = sim().await;
    let gcore = client(&sim);
    let w = want(783, Role::User, None);
    let id = gcore.create(&w).await.unwrap().external_id;
    sim.remove_assignment(id.as_str().parse().unwrap());
    let err = gcore.update(&id, &w).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Conflict { status: 404, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    sim.shutdown().await;
}

#[tokio::test]
async fn wrong_key_is_unauthorized_without_leaking_it() {
    let sim = sim().await;
    let wrong = "wrong-key-9d41e";
    let gcore = client_with(&sim, wrong, settings());
    let err = gcore
        .observe(&want(777, Role::User, None), None, LIVE)
        .await
        .unwrap_err();
    let ProviderError::Unauthorized { status, message } = &err else {
        panic!("expected Unauthorized, got {err:?}");
    };
    assert_eq!(*status, 401);
    assert!(message.contains("Authentication credentials"), "{message}");
    for text in [err.to_string(), format!("{err:?}"), format!("{gcore:?}")] {
        assert!(!text.contains(wrong), "key leaked: {text}");
    }
    assert_eq!(count(&sim, "GET"), 1, "401 is not retried");

    // A rotated key: the old client is refused, a client with the new key works.
    let good = client(&sim);
    good.observe(&want(777, Role::User, None), None, LIVE)
        .await
        .unwrap();
    sim.set_api_key("rotated-key");
    assert!(matches!(
        good.observe(&want(777, Role::User, None), None, LIVE).await,
        Err(ProviderError::Unauthorized { .. })
    ));
    let rotated = client_with(&sim, "rotated-key", settings());
    rotated
        .observe(&want(777, Role::User, None), None, LIVE)
        .await
        .unwrap();
    assert!(!format!("{rotated:?}").contains("rotated-key"));
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_references_are_terminal_errors() {
    let sim = sim().await;
    let gcore = client(&sim);
    let err = gcore
        .create(&want(4242, Role::User, None))
        .await
        .unwrap_err();
    let ProviderError::NotFound { message, .. } = &err else {
        panic!("expected NotFound, got {err:?}");
    };
    assert!(message.contains("User 4242"), "{message}");
    assert!(!err.is_retryable());

    let err = gcore
        .create(&want(777, Role::User, Some(999)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::NotFound { message, .. } if message.contains("Project 999"))
    );

    let mut no_client = want(777, Role::User, Some(123));
    no_client.client = None;
    let err = gcore.create(&no_client).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Rejected { status: 400, .. }),
        "{err:?}"
    );

    let err = gcore
        .observe(&no_client, Some(&ExternalId::new("abc")), LIVE)
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Rejected { .. }), "{err:?}");
    assert!(sim.assignments().is_empty());
    assert_eq!(count(&sim, "POST"), 3, "writes are never retried");
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limited_client_pauses_instead_of_storming() {
    let sim = sim().await;
    let gcore = Arc::new(client(&sim));
    sim.faults().fail_next(1, 429);
    let started = Instant::now();
    let err = gcore
        .create(&want(784, Role::User, None))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(1))
        }
    );

    let tasks: Vec<_> = (0..5)
        .map(|i| {
            let gcore = gcore.clone();
            tokio::spawn(async move { gcore.create(&want(785 + i, Role::User, None)).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "requests waited for Retry-After"
    );
    assert_eq!(sim.requests().len(), 6, "one 429, then one request each");

    // A GET that meets a 429 waits and tries again by itself.
    sim.faults().fail_next(1, 429);
    let started = Instant::now();
    gcore
        .observe(&want(784, Role::User, None), None, LIVE)
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(count(&sim, "GET"), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn client_side_rate_limit_spaces_requests() {
    let sim = sim().await;
    let gcore = client_with(
        &sim,
        KEY,
        HttpSettings {
            rate_limit: Some(RateLimit {
                requests_per_minute: 600.try_into().unwrap(),
                burst: 1.try_into().unwrap(),
            }),
            ..settings()
        },
    );
    let started = Instant::now();
    for _ in 0..3 {
        gcore
            .observe(&want(777, Role::User, None), None, LIVE)
            .await
            .unwrap();
    }
    // 600/min with no burst: one request per 100 ms.
    assert!(started.elapsed() >= Duration::from_millis(180));
    sim.shutdown().await;
}

#[tokio::test]
async fn server_errors_on_reads_are_retried_but_not_on_writes() {
    let sim = sim().await;
    let gcore = client(&sim);
    sim.faults().fail_next(2, 503);
    gcore
        .observe(&want(777, Role::User, None), None, LIVE)
        .await
        .expect("third attempt succeeds");
    assert_eq!(count(&sim, "GET"), 3);

    sim.faults().fail_next(3, 500);
    let err = gcore
        .observe(&want(777, Role::User, None), None, LIVE)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::Server { status: 500, .. }),
        "{err:?}"
    );
    assert_eq!(count(&sim, "GET"), 6, "gives up after three attempts");

    sim.faults().fail_next(1, 500);
    let err = gcore
        .create(&want(777, Role::User, None))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Server { status: 500, .. }));
    assert_eq!(count(&sim, "POST"), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn hung_requests_time_out() {
    let sim = sim().await;
    let gcore = client_with(
        &sim,
        KEY,
        HttpSettings {
            timeout: Duration::from_millis(200),
            ..HttpSettings::default()
        },
    );
    sim.faults().hang_next(1);
    let err = gcore
        .create(&want(777, Role::User, None))
        .await
        .unwrap_err();
    assert_eq!(err, ProviderError::Timeout);
    assert!(err.is_retryable());

    sim.faults().hang_next(3);
    let started = Instant::now();
    let err = gcore
        .observe(&want(777, Role::User, None), None, LIVE)
        .await
        .unwrap_err();
    assert_eq!(err, ProviderError::Timeout);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "bounded by the timeout"
    );
    gcore
        .observe(&want(777, Role::User, None), None, LIVE)
        .await
        .expect("healthy again");
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_bodies_are_malformed_not_panics() {
    let sim = sim().await;
    let gcore = client(&sim);
    for fault in [
        BodyFault::Malformed,
        BodyFault::Truncated,
        BodyFault::Html,
        BodyFault::Oversized,
    ] {
        sim.faults().corrupt_next(1, fault);
        let err = gcore
            .observe(&want(777, Role::User, None), None, LIVE)
            .await
            .unwrap_err();
        let ProviderError::Malformed(message) = &err else {
            panic!("{fault:?}: expected Malformed, got {err:?}");
        };
        assert!(
            message.len() < 200,
            "{fault:?}: message too long: {message}"
        );
    }
    sim.faults().corrupt_next(1, BodyFault::Html);
    let err = gcore
        .create(&want(777, Role::User, None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::Malformed(m) if m.contains("HTML")),
        "{err:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn plain_http_is_refused_for_remote_hosts() {
    let key = || SecretString::from(KEY.to_owned());
    for endpoint in [
        "http://api.gcore.com",
        "http://192.168.1.10:8080",
        "api.gcore.com",
    ] {
        let err = GcoreClient::new(endpoint, key(), HttpSettings::default()).unwrap_err();
        assert!(
            matches!(err, ProviderError::Config(_)),
            "{endpoint}: {err:?}"
        );
    }
    let gcore = GcoreClient::new(
        rolesync::providers::gcore::DEFAULT_ENDPOINT,
        key(),
        HttpSettings::default(),
    )
    .expect("https is fine");
    assert!(!format!("{gcore:?}").contains(KEY));
    assert!(GcoreClient::new("http://localhost:1", key(), HttpSettings::default()).is_ok());
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(String, String)>>);

impl RequestObserver for Recorder {
    fn request_done(
        &self,
        provider: &'static str,
        operation: &'static str,
        outcome: &str,
        _: Duration,
    ) {
        assert_eq!(provider, "gcore");
        self.0
            .lock()
            .unwrap()
            .push((operation.to_owned(), outcome.to_owned()));
    }
}

#[tokio::test]
async fn every_request_is_reported() {
    let sim = sim().await;
    let recorder = Arc::new(Recorder::default());
    let gcore = client_with(
        &sim,
        KEY,
        HttpSettings {
            observer: Some(recorder.clone()),
            ..settings()
        },
    );
    let w = want(777, Role::User, None);
    let id = gcore.create(&w).await.unwrap().external_id;
    sim.faults().fail_next(1, 502);
    gcore.observe(&w, Some(&id), LIVE).await.unwrap();
    gcore.update(&id, &w).await.unwrap();
    gcore.delete(&id, &w).await.unwrap();
    let seen = recorder.0.lock().unwrap().clone();
    let expected: Vec<(String, String)> = [
        ("create", "200"),
        ("list", "502"),
        ("list", "200"),
        ("update", "200"),
        ("delete", "200"),
    ]
    .iter()
    .map(|(o, s)| (o.to_string(), s.to_string()))
    .collect();
    assert_eq!(seen, expected);
    sim.shutdown().await;
}

/// The simulator answers the way Gcore documents, for requests rolesync itself never sends.
#[tokio::test]
async fn simulator_validates_like_gcore() {
    let sim = sim().await;
    // A bare reqwest client needs the crypto provider rolesync's own client installs.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let url = format!("{}/cloud/v1/users/assignments", sim.endpoint());
    let auth = format!("apikey {KEY}");

    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["exception_class"].is_string() && body["request_id"].is_string());

    let r = http
        .post(&url)
        .header("Authorization", &auth)
        .json(&json!({"user_id": 777, "role": "Owner", "client_id": 8}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["invalid_fields"]["role"].is_array(), "{body}");

    let r = http
        .get(format!("{url}?limit=0"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);

    let r = http
        .delete(format!("{url}/12345"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    sim.shutdown().await;
}

/// Whether a user may hold several roles for one client and project is undocumented: the
/// simulator refuses a second one, or keeps every one, duplicates included.
#[tokio::test]
async fn simulator_plays_one_or_several_roles_per_project() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    for (reading, second) in [(RolesPerProject::One, 409), (RolesPerProject::Several, 200)] {
        let sim = sim_with(reading).await;
        let url = format!("{}/cloud/v1/users/assignments", sim.endpoint());
        let post = |role: &str| {
            http.post(&url)
                .header("Authorization", format!("apikey {KEY}"))
                .json(&json!({"user_id": 777, "role": role, "client_id": 8, "project_id": null}))
                .send()
        };
        assert_eq!(post("User").await.unwrap().status(), 200);
        assert_eq!(
            post("Observer").await.unwrap().status(),
            second,
            "{reading:?}"
        );
        assert_eq!(post("User").await.unwrap().status(), second, "{reading:?}");
        sim.shutdown().await;
    }
    let sim = sim_with(RolesPerProject::Several).await;
    let url = format!("{}/cloud/v1/users/assignments", sim.endpoint());
    let auth = format!("apikey {KEY}");
    for _ in 0..2 {
        let r = http
            .post(&url)
            .header("Authorization", &auth)
            .json(&json!({"user_id": 777, "role": "User", "client_id": 8, "project_id": null}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = http
        .get(format!("{url}?user_id=777&limit=1&offset=1"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["count"], 2);
    assert_eq!(body["results"].as_array().unwrap().len(), 1);
    assert_eq!(body["results"][0]["id"], 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_is_found_not_repeated() {
    let sim = sim().await;
    let gcore = client(&sim);
    let w = want(777, Role::Observer, Some(123));
    // Fill the cache: nothing exists yet.
    assert_eq!(gcore.observe(&w, None, CACHED).await.unwrap(), None);
    // Gcore creates the assignment but the answer is garbled on the way back.
    sim.faults().corrupt_next(1, BodyFault::Truncated);
    let err = gcore.create(&w).await.unwrap_err();
    assert!(matches!(err, ProviderError::Malformed(_)), "{err:?}");
    assert_eq!(sim.assignments().len(), 1, "the create did happen remotely");
    // The retry observes first; even a generous max_age must not answer from the stale list.
    let found = gcore.observe(&w, None, CACHED).await.unwrap();
    assert!(
        found.is_some_and(|o| o.up_to_date()),
        "the lost create is adopted"
    );
    assert_eq!(sim.assignments().len(), 1, "no duplicate");
}

#[tokio::test]
async fn a_fresh_lookup_reads_one_user_not_the_whole_account() {
    let sim = sim().await;
    let gcore = client(&sim);
    let w = want(777, Role::Observer, Some(123));
    assert_eq!(gcore.observe(&w, None, CACHED).await.unwrap(), None);
    // Someone grants it behind the cached list's back.
    let id = sim.insert_assignment(777, "Observer", Some(8), Some(123));
    assert_eq!(
        gcore.observe(&w, None, CACHED).await.unwrap(),
        None,
        "stale by design"
    );
    let before = sim.requests().len();
    let found = gcore
        .observe(&w, None, LIVE)
        .await
        .unwrap()
        .expect("fresh lookup finds it");
    assert_eq!(found.external_id, ExternalId::new(id.to_string()));
    let fresh: Vec<_> = sim.requests().into_iter().skip(before).collect();
    assert_eq!(fresh.len(), 1);
    assert!(fresh[0].query.contains("user_id=777"), "{:?}", fresh[0]);
    // The cached list learned it too.
    assert!(gcore.observe(&w, None, CACHED).await.unwrap().is_some());
    // And learns removals of that user's assignments.
    assert!(sim.remove_assignment(id));
    assert_eq!(gcore.observe(&w, None, LIVE).await.unwrap(), None);
    assert_eq!(gcore.observe(&w, None, CACHED).await.unwrap(), None);
}

/// Where a user may hold several roles in a project, an assignment someone made for
/// another role is never rewritten: rolesync makes its own. Where Gcore keeps one role per
/// user and project, the create is refused, the other assignment stays as it is, and the
/// error says how to adopt it; adopted by `spec.externalID`, it is rolesync's to change.
#[tokio::test]
async fn another_roles_assignment_is_never_rewritten() {
    for reading in [RolesPerProject::One, RolesPerProject::Several] {
        let sim = sim_with(reading).await;
        let gcore = client(&sim);
        let theirs = sim.insert_assignment(790, "ProjectAdministrator", Some(8), Some(126));
        let w = want(790, Role::Observer, Some(126));
        assert_eq!(
            gcore.observe(&w, None, LIVE).await.unwrap(),
            None,
            "{reading:?}"
        );
        let created = gcore.create(&w).await;
        let roles = |sim: &GcoreSim| {
            sim.assignments()
                .iter()
                .map(|a| {
                    (
                        a["id"].as_u64().unwrap(),
                        a["role"].as_str().unwrap().to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        };
        match reading {
            RolesPerProject::Several => {
                let ours = created.unwrap();
                assert!(ours.up_to_date());
                assert_ne!(ours.external_id.as_str(), theirs.to_string());
                assert_eq!(roles(&sim)[0], (theirs, "ProjectAdministrator".into()));
                assert_eq!(roles(&sim).len(), 2);
            }
            RolesPerProject::One => {
                let err = created.unwrap_err();
                assert!(
                    matches!(&err, ProviderError::Rejected { status: 409, message }
                        if message.contains(&format!("spec.externalID: \"{theirs}\""))),
                    "{err}"
                );
                assert!(!err.is_retryable());
                assert_eq!(roles(&sim), [(theirs, "ProjectAdministrator".into())]);
                // Adopted on purpose, it is changed in place.
                let id = ExternalId::new(theirs.to_string());
                let seen = gcore.observe(&w, Some(&id), LIVE).await.unwrap().unwrap();
                assert!(!seen.up_to_date());
                gcore.update(&id, &w).await.unwrap();
                assert_eq!(roles(&sim), [(theirs, "Observer".into())]);
            }
        }
        sim.shutdown().await;
    }
}

/// Where Gcore keeps one role per user and project, a create refused because someone
/// just made the same assignment adopts it.
#[tokio::test]
async fn a_create_refused_for_an_assignment_made_meanwhile_adopts_it() {
    let sim = sim_with(RolesPerProject::One).await;
    let gcore = client(&sim);
    let w = want(791, Role::Observer, Some(127));
    assert_eq!(gcore.observe(&w, None, CACHED).await.unwrap(), None);
    let theirs = sim.insert_assignment(791, "Observer", Some(8), Some(127));
    let adopted = gcore.create(&w).await.unwrap();
    assert_eq!(adopted.external_id.as_str(), theirs.to_string());
    assert!(adopted.up_to_date());
    assert_eq!(sim.assignments().len(), 1);
    sim.shutdown().await;
}
