//! The Harness simulator over plain HTTP: what it answers is what Harness's server source
//! answers (see `provider_sims::harness` for the sources), whichever client asks.

use provider_sims::harness::{HarnessSim, HarnessSimConfig, PrincipalType, ServiceAccountLevels};
use reqwest::StatusCode;
use serde_json::{Value, json};

const KEY: &str = "pat.acct_sim.t0k3n.simHarnessSecret0001";
const ACCOUNT: &str = "acct_sim";

async fn sim_with(config: HarnessSimConfig) -> HarnessSim {
    HarnessSim::start(HarnessSimConfig {
        api_key: KEY.to_owned(),
        account_id: ACCOUNT.to_owned(),
        ..config
    })
    .await
    .expect("simulator starts")
}

async fn sim() -> HarnessSim {
    sim_with(HarnessSimConfig::default()).await
}

fn http() -> reqwest::Client {
    // reqwest is built without a default TLS provider; any one will do for plain HTTP.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

/// One request with the key and no Harness-Account header (it is optional).
async fn call(
    sim: &HarnessSim,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Answer {
    let mut request = http()
        .request(method, format!("{}{path}", sim.endpoint()))
        .header("x-api-key", KEY);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("simulator answers");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

fn assignment(identifier: &str, role: &str, principal: Value) -> Value {
    json!({"identifier": identifier, "role": role,
           "resource_group": "_all_resources_including_child_scopes", "principal": principal})
}

async fn create(sim: &HarnessSim, path: &str, body: Value) -> Answer {
    call(sim, reqwest::Method::POST, path, Some(body)).await
}

fn ids(answer: &Answer) -> Vec<&str> {
    answer
        .body
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["role-assignment"]["identifier"].as_str())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn lists_default_to_the_newest_change_first_and_sort_only_as_harness_reads_the_order() {
    let sim = sim().await;
    for (id, who) in [
        ("b_second", "bob"),
        ("c_first", "carol"),
        ("a_third", "alice"),
    ] {
        let user = json!({"identifier": who, "type": "USER"});
        let created = create(
            &sim,
            "/v1/role-assignments",
            assignment(id, "_account_viewer", user),
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    }
    let list = |query: &'static str| {
        let sim = &sim;
        async move {
            call(
                sim,
                reqwest::Method::GET,
                &format!("/v1/role-assignments{query}"),
                None,
            )
            .await
        }
    };
    assert_eq!(ids(&list("").await), ["a_third", "c_first", "b_second"]);
    assert_eq!(
        ids(&list("?sort=identifier&order=ASC").await),
        ["a_third", "b_second", "c_first"]
    );
    assert_eq!(
        ids(&list("?sort=identifier&order=asc").await),
        ["c_first", "b_second", "a_third"],
        "only ASC ascends"
    );
    assert_eq!(
        ids(&list("?sort=name&order=ASC").await),
        ["a_third", "c_first", "b_second"],
        "an unknown sort is the default order"
    );
    let page = list("?page=1&limit=2&sort=created&order=ASC").await;
    assert_eq!(ids(&page), ["a_third"]);
    assert_eq!(page.headers["x-total-elements"], "3");
    assert_eq!(page.headers["x-page-number"], "1");
    assert_eq!(page.headers["x-page-size"], "2");
    assert!(page.headers.get("link").is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn before_2023_lists_sent_links_and_no_totals() {
    let sim = sim_with(HarnessSimConfig {
        totals: false,
        ..HarnessSimConfig::default()
    })
    .await;
    let user = json!({"identifier": "alice", "type": "USER"});
    create(
        &sim,
        "/v1/role-assignments",
        assignment("one", "_account_viewer", user),
    )
    .await;
    let page = call(
        &sim,
        reqwest::Method::GET,
        "/v1/role-assignments?page=0&limit=1",
        None,
    )
    .await;
    assert_eq!(ids(&page), ["one"]);
    assert!(page.headers.get("x-total-elements").is_none());
    assert_eq!(
        page.headers["link"],
        "</v1/role-assignments?page=0&page_size=1>; rel=\"self\", </v1/role-assignments?page=1&page_size=1>; rel=\"next\""
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn principal_levels_are_stored_as_harness_stores_them() {
    for reading in [ServiceAccountLevels::Kept, ServiceAccountLevels::Forced] {
        let sim = sim_with(HarnessSimConfig {
            service_account_levels: reading,
            ..HarnessSimConfig::default()
        })
        .await;
        let project = "/v1/orgs/default/projects/payments/role-assignments";
        let stored =
            |answer: &Answer| answer.body["role-assignment"]["principal"]["scope_level"].clone();
        let cases = [
            (
                "u",
                json!({"identifier": "alice", "type": "USER", "scope_level": "account"}),
                json!(null),
            ),
            (
                "g",
                json!({"identifier": "sre", "type": "USER_GROUP"}),
                json!("project"),
            ),
            (
                "g_any_case",
                json!({"identifier": "sre", "type": "USER_GROUP", "scope_level": "ACCOUNT"}),
                json!("ACCOUNT"),
            ),
            (
                "sa",
                json!({"identifier": "ci_bot", "type": "SERVICE_ACCOUNT"}),
                match reading {
                    ServiceAccountLevels::Kept => json!("account"),
                    ServiceAccountLevels::Forced => json!("project"),
                },
            ),
        ];
        for (id, principal, level) in cases {
            let created = create(&sim, project, assignment(id, "_project_viewer", principal)).await;
            assert_eq!(
                created.status,
                StatusCode::CREATED,
                "{reading:?} {id}: {}",
                created.body
            );
            assert_eq!(stored(&created), level, "{reading:?} {id}");
        }
        let sa_above = create(
            &sim,
            project,
            assignment(
                "sa_above",
                "_project_admin",
                json!({"identifier": "deployer", "type": "SERVICE_ACCOUNT", "scope_level": "organization"}),
            ),
        )
        .await;
        match reading {
            ServiceAccountLevels::Kept => assert_eq!(stored(&sa_above), json!("organization")),
            ServiceAccountLevels::Forced => {
                assert_eq!(sa_above.status, StatusCode::BAD_REQUEST);
                assert_eq!(sa_above.body["code"], "INVALID_REQUEST");
            }
        }
        // Below the assignment's scope: refused under every reading.
        let below = create(
            &sim,
            "/v1/orgs/default/role-assignments",
            assignment(
                "below",
                "_organization_viewer",
                json!({"identifier": "sre", "type": "USER_GROUP", "scope_level": "project"}),
            ),
        )
        .await;
        assert_eq!(below.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            below.body["message"],
            "Principal scope level cannot be project for organization scoped role assignment."
        );
        // A level Harness does not know throws where no mapper but the generic one catches it.
        let unknown = create(
            &sim,
            project,
            assignment(
                "unknown",
                "_project_viewer",
                json!({"identifier": "sre", "type": "USER_GROUP", "scope_level": "team"}),
            ),
        )
        .await;
        assert_eq!(unknown.status, StatusCode::INTERNAL_SERVER_ERROR);
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn refusals_carry_harness_codes_and_statuses() {
    let sim = sim().await;
    let user = |who: &str| json!({"identifier": who, "type": "USER"});
    let path = "/v1/role-assignments";
    // No identifier pattern: Harness's v1 spec sets none.
    let odd = create(
        &sim,
        path,
        assignment("has-dash", "_account_viewer", user("alice")),
    )
    .await;
    assert_eq!(odd.status, StatusCode::CREATED, "{}", odd.body);
    for (body, code, message) in [
        (
            assignment("other_id", "_account_viewer", user("alice")),
            "DUPLICATE_FIELD",
            "A role assignment with the same resource group, role and principal is already present in the scope /ACCOUNT/acct_sim",
        ),
        (
            assignment("has-dash", "_account_admin", user("bob")),
            "DUPLICATE_FIELD",
            "A role assignment with the same resource group, role and principal is already present in the scope /ACCOUNT/acct_sim",
        ),
        (
            assignment("x", "no_role", user("bob")),
            "INVALID_REQUEST",
            "Did not find role in /ACCOUNT/acct_sim",
        ),
        (
            assignment("x", "_account_viewer", user("nobody")),
            "INVALID_REQUEST",
            "user not found with the given identifier nobody in the scope /ACCOUNT/acct_sim",
        ),
        (
            assignment(
                "x",
                "_account_viewer",
                json!({"identifier": "nobody", "type": "SERVICE_ACCOUNT"}),
            ),
            "INVALID_REQUEST",
            "Service Account not found with the given identifier nobody in account /ACCOUNT/acct_sim",
        ),
    ] {
        let answer = create(&sim, path, body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
        assert_eq!(answer.body["status"], "ERROR");
        assert_eq!(answer.body["code"], code);
        assert_eq!(answer.body["message"], message);
    }
    // Missing assignments are a 400 FailureDTO, for GET and DELETE alike.
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let missing = call(&sim, method, "/v1/role-assignments/nothing_here", None).await;
        assert_eq!(missing.status, StatusCode::BAD_REQUEST);
        assert_eq!(missing.body["status"], "FAILURE");
        assert_eq!(missing.body["code"], "RESOURCE_NOT_FOUND_EXCEPTION");
        assert_eq!(
            missing.body["message"],
            "Role Assignment with given identifier doesn't exists"
        );
    }
    // DELETE answers 200 with what it deleted.
    let deleted = call(
        &sim,
        reqwest::Method::DELETE,
        "/v1/role-assignments/has-dash",
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(deleted.body["role-assignment"]["identifier"], "has-dash");
    // A 429 says no Retry-After.
    sim.faults().fail_next(1, 429);
    let limited = call(&sim, reqwest::Method::GET, path, None).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers.get("retry-after").is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_key_sees_only_the_principal_types_it_may_view() {
    let sim = sim_with(HarnessSimConfig {
        hidden_principal_types: [PrincipalType::ServiceAccount].into(),
        ..HarnessSimConfig::default()
    })
    .await;
    let path = "/v1/role-assignments";
    create(
        &sim,
        path,
        assignment(
            "user",
            "_account_viewer",
            json!({"identifier": "alice", "type": "USER"}),
        ),
    )
    .await;
    let sa = create(
        &sim,
        path,
        assignment(
            "robot",
            "_account_viewer",
            json!({"identifier": "ci_bot", "type": "SERVICE_ACCOUNT"}),
        ),
    )
    .await;
    assert_eq!(
        sa.status,
        StatusCode::CREATED,
        "creating needs no view permission"
    );
    let list = call(&sim, reqwest::Method::GET, path, None).await;
    assert_eq!(ids(&list), ["user"]);
    assert_eq!(list.headers["x-total-elements"], "1");
    let get = call(
        &sim,
        reqwest::Method::GET,
        "/v1/role-assignments/robot",
        None,
    )
    .await;
    assert_eq!(get.status, StatusCode::BAD_REQUEST);
    assert_eq!(get.body["code"], "USER_NOT_AUTHORIZED");
    sim.set_hidden_principal_types(PrincipalType::ALL);
    let none = call(&sim, reqwest::Method::GET, path, None).await;
    assert_eq!(none.status, StatusCode::BAD_REQUEST);
    assert_eq!(none.body["code"], "USER_NOT_AUTHORIZED");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_account_header_is_optional_but_must_be_the_keys() {
    let sim = sim().await;
    let get = |account: &'static str| {
        let endpoint = sim.endpoint();
        async move {
            http()
                .get(format!("{endpoint}/v1/role-assignments"))
                .header("x-api-key", KEY)
                .header("harness-account", account)
                .send()
                .await
                .expect("simulator answers")
                .status()
        }
    };
    assert_eq!(get(ACCOUNT).await, StatusCode::OK);
    assert_eq!(get("another_account").await, StatusCode::FORBIDDEN);
    let without = call(&sim, reqwest::Method::GET, "/v1/role-assignments", None).await;
    assert_eq!(without.status, StatusCode::OK);
    sim.shutdown().await;
}
