//! The Hyperstack provider against the Hyperstack simulator, over real HTTP.

use std::num::NonZeroU32;
use std::time::Duration;

use provider_sims::BodyFault;
use provider_sims::hyperstack::{
    AssignMode, FixtureRole, HyperstackFixtures, HyperstackSim, HyperstackSimConfig, IpLimit,
    RoleList,
};
use rolesync::providers::http::{HttpSettings, RateLimit};
use rolesync::providers::hyperstack::{Assignment, HyperstackClient, RoleId, RoleRef, UserId};
use rolesync::providers::{Deletion, ExternalId, Freshness, Provider, ProviderError};
use secrecy::SecretString;

const KEY: &str = "hyperstack-test-key-7e1b";
const CACHED: Freshness = Freshness {
    max_age: Duration::from_secs(600),
};
const LIVE: Freshness = Freshness {
    max_age: Duration::ZERO,
};

async fn sim_with(config: HyperstackSimConfig) -> HyperstackSim {
    HyperstackSim::start(HyperstackSimConfig {
        api_key: KEY.to_owned(),
        ..config
    })
    .await
    .expect("simulator starts")
}

async fn sim() -> HyperstackSim {
    sim_with(HyperstackSimConfig::default()).await
}

fn client_with(sim: &HyperstackSim, key: &str, rate_limit: Option<RateLimit>) -> HyperstackClient {
    HyperstackClient::new(
        &sim.endpoint(),
        SecretString::from(key.to_owned()),
        HttpSettings {
            timeout: Duration::from_secs(5),
            rate_limit,
            ..HttpSettings::default()
        },
    )
    .expect("client builds")
}

fn client(sim: &HyperstackSim) -> HyperstackClient {
    client_with(sim, KEY, None)
}

fn by_id(user: u64, role: u64) -> Assignment {
    Assignment {
        user: UserId(user),
        role: RoleRef::Id(RoleId(role)),
    }
}

fn by_name(user: u64, role: &str) -> Assignment {
    Assignment {
        user: UserId(user),
        role: RoleRef::Name(role.to_owned()),
    }
}

fn count(sim: &HyperstackSim, method: &str, path_end: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.method == method && r.path.ends_with(path_end))
        .count()
}

#[tokio::test]
async fn assign_observe_change_and_remove_a_role() {
    let sim = sim().await;
    let hs = client(&sim);
    let dev = by_id(201, 2);

    assert_eq!(hs.observe(&dev, None, LIVE).await.unwrap(), None);
    let created = hs.create(&dev).await.unwrap();
    assert!(created.up_to_date());
    // The user, and the role rolesync granted.
    assert_eq!(created.external_id.as_str(), "201/role=2");
    assert_eq!(created.at_provider["roleId"], 2);
    assert_eq!(created.at_provider["roleName"], "developer");
    assert_eq!(sim.role_of(201).as_deref(), Some("developer"));

    let id = created.external_id.clone();
    let seen = hs.observe(&dev, Some(&id), LIVE).await.unwrap().unwrap();
    assert!(seen.up_to_date());
    assert_eq!(seen.at_provider["email"], "user201@example.com");
    assert_eq!(seen.at_provider["roleId"], 2);

    // A role change is one PUT that replaces the role; nothing is removed first.
    let viewer = by_name(201, "viewer");
    assert!(hs.updates_in_place());
    assert!(
        !hs.observe(&viewer, Some(&id), LIVE)
            .await
            .unwrap()
            .unwrap()
            .up_to_date()
    );
    let updated = hs.update(&id, &viewer).await.unwrap();
    assert!(updated.up_to_date());
    assert_eq!(updated.external_id.as_str(), "201/role=3");
    assert_eq!(updated.at_provider["roleId"], 3);
    let id = updated.external_id;
    assert_eq!(sim.role_of(201).as_deref(), Some("viewer"));
    assert_eq!(count(&sim, "PUT", "/assign-roles"), 2);
    assert_eq!(count(&sim, "DELETE", "/roles"), 0);

    assert_eq!(hs.delete(&id, &viewer).await.unwrap(), Deletion::Deleted);
    assert_eq!(sim.role_of(201), None);
    assert_eq!(
        hs.delete(&id, &viewer).await.unwrap(),
        Deletion::AlreadyGone
    );
    assert_eq!(hs.observe(&viewer, Some(&id), LIVE).await.unwrap(), None);
    sim.shutdown().await;
}

#[tokio::test]
async fn observing_every_member_costs_two_requests() {
    let sim = sim().await;
    let users = sim.fixtures().user_ids.clone();
    for (i, user) in users.iter().enumerate() {
        assert!(sim.set_roles(*user, &[["admin", "developer", "viewer"][i % 3]]));
    }
    let hs = client(&sim);
    for (i, user) in users.iter().enumerate() {
        let want = by_name(*user, "developer");
        let seen = hs.observe(&want, None, CACHED).await.unwrap().unwrap();
        assert_eq!(seen.up_to_date(), i % 3 == 1, "user {user}");
        assert_eq!(seen.at_provider["roleId"], json_u64((i % 3) as u64 + 1));
    }
    assert_eq!(count(&sim, "GET", "/auth/organizations"), 1);
    assert_eq!(count(&sim, "GET", "/auth/roles"), 1);
    assert_eq!(sim.requests().len(), 2);
    sim.shutdown().await;
}

fn json_u64(n: u64) -> serde_json::Value {
    serde_json::Value::from(n)
}

#[tokio::test]
async fn a_role_someone_else_set_is_reported_and_never_removed() {
    let sim = sim().await;
    let hs = client(&sim);
    let dev = by_name(202, "developer");
    let id = hs.create(&dev).await.unwrap().external_id;

    assert!(sim.set_roles(202, &["admin"]));
    let drifted = hs.observe(&dev, Some(&id), LIVE).await.unwrap().unwrap();
    assert!(!drifted.up_to_date());
    assert_eq!(drifted.at_provider["roleName"], "admin");

    // Even with the cache still saying "developer", delete reads fresh state first.
    assert!(sim.set_roles(202, &["viewer"]));
    assert_eq!(
        hs.delete(&id, &dev).await.unwrap(),
        Deletion::LeftAlone("user 202 now holds role viewer".into())
    );
    assert_eq!(sim.role_of(202).as_deref(), Some("viewer"));
    assert_eq!(count(&sim, "DELETE", "/roles"), 0);

    assert!(sim.set_roles(202, &[]));
    assert_eq!(hs.delete(&id, &dev).await.unwrap(), Deletion::AlreadyGone);
    sim.shutdown().await;
}

/// Both readings of assign-roles (replace or add) and both list forms (`{name}` objects
/// per the SDK, ids per older docs): what the simulator plays.
const READINGS: [(AssignMode, RoleList); 4] = [
    (AssignMode::Replace, RoleList::Objects),
    (AssignMode::Replace, RoleList::Ids),
    (AssignMode::Add, RoleList::Objects),
    (AssignMode::Add, RoleList::Ids),
];

async fn sim_reading((assign, role_list): (AssignMode, RoleList)) -> HyperstackSim {
    sim_with(HyperstackSimConfig {
        assign,
        role_list,
        ..HyperstackSimConfig::default()
    })
    .await
}

/// `rbac_roles` is a list that may be null (members without a role are listed so) and
/// whose elements may be objects or ids: a member holding the wanted role among others is
/// up to date, and stays so without a write.
#[tokio::test]
async fn holding_the_wanted_role_among_others_is_up_to_date() {
    for reading in READINGS {
        let sim = sim_reading(reading).await;
        let hs = client(&sim);
        assert_eq!(
            hs.observe(&by_name(203, "viewer"), None, LIVE)
                .await
                .unwrap(),
            None
        );
        assert!(sim.set_roles(203, &["admin", "viewer"]));
        let seen = hs
            .observe(&by_name(203, "viewer"), None, LIVE)
            .await
            .unwrap()
            .unwrap();
        assert!(seen.up_to_date(), "{reading:?}");
        assert_eq!(seen.at_provider["roleName"], "viewer");
        assert_eq!(
            seen.at_provider["rbacRoles"],
            serde_json::json!(["admin", "viewer"])
        );
        assert_eq!(count(&sim, "PUT", "/assign-roles"), 0);
        sim.shutdown().await;
    }
}

/// A role change leaves the member with the new role only, whether assigning replaces
/// (one PUT) or adds (the PUT, then the earlier role goes: removing takes every role, so
/// the new one is assigned again).
#[tokio::test]
async fn a_role_change_leaves_no_earlier_grant_under_either_reading() {
    for reading in READINGS {
        let sim = sim_reading(reading).await;
        let hs = client(&sim);
        let id = hs
            .create(&by_name(204, "developer"))
            .await
            .unwrap()
            .external_id;
        let viewer = by_name(204, "viewer");
        let updated = hs.update(&id, &viewer).await.unwrap();
        assert!(updated.up_to_date(), "{reading:?}");
        assert_eq!(sim.roles_of(204), ["viewer"], "{reading:?}");
        let seen = hs
            .observe(&viewer, Some(&updated.external_id), LIVE)
            .await
            .unwrap()
            .unwrap();
        assert!(seen.up_to_date(), "{reading:?}");
        let (puts, removes) = match reading.0 {
            AssignMode::Replace => (2, 0),
            AssignMode::Add => (3, 1),
        };
        assert_eq!(count(&sim, "PUT", "/assign-roles"), puts, "{reading:?}");
        assert_eq!(count(&sim, "DELETE", "/roles"), removes, "{reading:?}");
        sim.shutdown().await;
    }
}

/// Where assigning adds and the member also holds a role rolesync did not grant, the
/// earlier role cannot go without that one: it is left in place and the update says so
/// (and keeps saying so, without writing again).
#[tokio::test]
async fn an_earlier_grant_beside_a_foreign_role_is_left_in_place_and_reported() {
    for reading in READINGS {
        let sim = sim_reading(reading).await;
        let hs = client(&sim);
        let id = hs
            .create(&by_name(205, "developer"))
            .await
            .unwrap()
            .external_id;
        assert!(sim.assign_role(205, "admin"), "someone else assigns admin");
        let viewer = by_name(205, "viewer");
        match reading.0 {
            AssignMode::Replace => {
                hs.update(&id, &viewer).await.unwrap();
                assert_eq!(sim.roles_of(205), ["viewer"]);
            }
            AssignMode::Add => {
                for _ in 0..2 {
                    let err = hs.update(&id, &viewer).await.unwrap_err();
                    assert!(
                        matches!(&err, ProviderError::LeftInPlace(m)
                        if m.contains("developer") && m.contains("admin")),
                        "{err}"
                    );
                    assert_eq!(err.reason(), "LeftInPlace");
                    assert!(!err.is_retryable());
                }
                assert_eq!(sim.roles_of(205), ["developer", "admin", "viewer"]);
                assert_eq!(
                    count(&sim, "PUT", "/assign-roles"),
                    2,
                    "one PUT for the change"
                );
                assert_eq!(count(&sim, "DELETE", "/roles"), 0);
            }
        }
        sim.shutdown().await;
    }
}

/// Removing takes every role of a member: deleting never does so while the member holds
/// a role rolesync did not grant, whichever reading.
#[tokio::test]
async fn deleting_never_strips_a_role_rolesync_did_not_grant() {
    for reading in READINGS {
        let sim = sim_reading(reading).await;
        let hs = client(&sim);
        let dev = by_name(206, "developer");
        let id = hs.create(&dev).await.unwrap().external_id;
        assert!(sim.assign_role(206, "admin"), "someone else assigns admin");
        let before = sim.roles_of(206);
        let expected = match reading.0 {
            AssignMode::Replace => "user 206 now holds role admin",
            AssignMode::Add => {
                "user 206 also holds admin, which rolesync did not grant, and Hyperstack removes all of a member's roles at once"
            }
        };
        assert_eq!(
            hs.delete(&id, &dev).await.unwrap(),
            Deletion::LeftAlone(expected.into()),
            "{reading:?}"
        );
        assert_eq!(sim.roles_of(206), before);
        assert_eq!(count(&sim, "DELETE", "/roles"), 0);

        // Once only rolesync's role is left, it goes.
        assert!(sim.set_roles(206, &["developer"]));
        assert_eq!(hs.delete(&id, &dev).await.unwrap(), Deletion::Deleted);
        assert!(sim.roles_of(206).is_empty());
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn unknown_users_and_roles_are_not_found() {
    let sim = sim().await;
    let hs = client(&sim);

    let err = hs.create(&by_id(9999, 1)).await.unwrap_err();
    assert!(
        matches!(&err, ProviderError::NotFound { status: 404, message } if message.contains("9999") && message.contains("not_found")),
        "{err:?}"
    );
    assert!(!err.is_retryable());

    let err = hs
        .observe(&by_name(201, "owner"), None, LIVE)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::NotFound { message, .. } if message.contains("\"owner\"")),
        "{err:?}"
    );
    let err = hs.create(&by_id(201, 77)).await.unwrap_err();
    assert!(matches!(err, ProviderError::NotFound { .. }), "{err:?}");
    assert_eq!(
        count(&sim, "PUT", "/assign-roles"),
        1,
        "unknown roles are refused before any write"
    );
    assert!(sim.assigned().is_empty());

    // A role created after the role list was cached is found by reading it again.
    let ops = sim.add_role("ops");
    let seen = hs.create(&by_name(201, "ops")).await.unwrap();
    assert_eq!(seen.at_provider["roleId"], json_u64(ops));
    sim.shutdown().await;
}

#[tokio::test]
async fn external_id_must_name_the_spec_user() {
    let sim = sim().await;
    let hs = client(&sim);
    let err = hs
        .observe(&by_id(201, 1), Some(&ExternalId::new("202")), LIVE)
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Rejected { .. }), "{err:?}");
    assert!(sim.requests().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_wrong_key_is_unauthorized_and_never_echoed() {
    let sim = sim().await;
    let secret = "wrong-key-3c9a0d";
    let hs = client_with(&sim, secret, None);
    let err = hs.observe(&by_id(201, 1), None, LIVE).await.unwrap_err();
    assert!(
        matches!(&err, ProviderError::Unauthorized { status: 401, message } if message.contains("unauthorized")),
        "{err:?}"
    );
    assert!(!err.to_string().contains(secret));
    assert!(!format!("{hs:?}").contains(secret));
    sim.shutdown().await;
}

#[tokio::test]
async fn an_assign_without_a_usable_answer_is_found_on_retry() {
    let sim = sim().await;
    let hs = client(&sim);
    let want = by_name(203, "admin");
    assert_eq!(hs.observe(&want, None, CACHED).await.unwrap(), None);

    // The role is assigned but the answer is cut off.
    sim.faults().corrupt_next(1, BodyFault::Truncated);
    let err = hs.create(&want).await.unwrap_err();
    assert!(matches!(err, ProviderError::Malformed(_)), "{err:?}");
    assert_eq!(sim.role_of(203).as_deref(), Some("admin"));

    // The cached member list was dropped, so even a lenient observe sees the write.
    let seen = hs.observe(&want, None, CACHED).await.unwrap().unwrap();
    assert!(seen.up_to_date());
    assert_eq!(count(&sim, "PUT", "/assign-roles"), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_simulator_blocks_everyone_once_over_its_limit() {
    let sim = sim_with(HyperstackSimConfig {
        limit: IpLimit {
            requests: 5,
            per: Duration::from_secs(60),
            block: Duration::from_secs(60),
        },
        ..HyperstackSimConfig::default()
    })
    .await;
    let hs = client(&sim);
    for user in 201..204 {
        hs.create(&by_id(user, 3)).await.unwrap();
    }
    // 1 roles list + 3 PUTs so far; the next write is the 5th request, the one after is over.
    hs.create(&by_id(204, 3)).await.unwrap();
    let err = hs.create(&by_id(205, 3)).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::RateLimited { retry_after: None }),
        "{err:?}"
    );
    assert_eq!(sim.blocks(), 1);
    let statuses: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_client_limiter_keeps_a_burst_under_the_simulators_limit() {
    // Scaled down 30x so the test is short: the simulator allows 500 requests per 2s and
    // the client sends 300 per 2s (9,000/min) with a burst of 10, as the default 300/min does
    // against Hyperstack's 500/min.
    let users: Vec<u64> = (1000..1600).collect();
    let sim = sim_with(HyperstackSimConfig {
        fixtures: HyperstackFixtures {
            user_ids: users.clone(),
            roles: vec![FixtureRole {
                id: 1,
                name: "developer".into(),
            }],
            ..HyperstackFixtures::default()
        },
        limit: IpLimit {
            requests: 500,
            per: Duration::from_secs(2),
            block: Duration::from_secs(60),
        },
        ..HyperstackSimConfig::default()
    })
    .await;
    let limit = RateLimit {
        requests_per_minute: NonZeroU32::new(9000).unwrap(),
        burst: NonZeroU32::new(10).unwrap(),
    };
    let hs = std::sync::Arc::new(client_with(&sim, KEY, Some(limit)));
    let tasks: Vec<_> = users
        .iter()
        .map(|user| {
            let hs = hs.clone();
            let want = by_id(*user, 1);
            tokio::spawn(async move { hs.create(&want).await.map(|_| ()) })
        })
        .collect();
    for task in tasks {
        task.await.expect("task runs").expect("assigned");
    }
    assert_eq!(sim.assigned().len(), users.len());
    assert_eq!(sim.blocks(), 0);
    assert!(sim.requests().iter().all(|r| r.status != 429));
    sim.shutdown().await;
}
