//! Each provider's inventory against its simulator over real HTTP: every assignment the key
//! can see, at every scope, across several pages, as RoleAssignment blocks that claim
//! exactly those assignments.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use provider_sims::RequestLog;
use provider_sims::gcore::{GcoreSim, GcoreSimConfig};
use provider_sims::harness::{HarnessFixtures, HarnessSim, HarnessSimConfig, ProjectRef};
use provider_sims::hyperstack::{HyperstackSim, HyperstackSimConfig, RoleList};
use provider_sims::zenml::{SimAssignment, ZenmlFixtures, ZenmlSim, ZenmlSimConfig};
use rolesync::providers::http::RateLimit;
use rolesync::providers::{ConfigBlocks, Connection, Freshness, RemoteGrant};
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;

const FRESH: Freshness = Freshness {
    max_age: Duration::ZERO,
};
const CACHED: Freshness = Freshness {
    max_age: Duration::from_secs(600),
};

/// A client as a provider config with this block and key makes it, unthrottled.
fn connect(block: Value, key: &str) -> Arc<dyn Connection> {
    let blocks: ConfigBlocks = serde_json::from_value(block).expect("config block");
    let unlimited = RateLimit {
        requests_per_minute: NonZeroU32::new(600_000).expect("positive"),
        burst: NonZeroU32::new(1000).expect("positive"),
    };
    blocks
        .connect(SecretString::from(key.to_owned()), Some(unlimited), None)
        .expect("client builds")
}

/// The provider blocks of the listed grants, as JSON.
fn specs(grants: &[RemoteGrant]) -> Vec<Value> {
    grants
        .iter()
        .map(|g| serde_json::to_value(&g.blocks).expect("block serializes"))
        .collect()
}

fn gets(log: &[RequestLog], path: &str) -> usize {
    log.iter()
        .filter(|r| r.method == "GET" && r.path == path)
        .count()
}

/// 2,050 assignments take three pages of Gcore's largest (1,000); one with a role rolesync
/// does not know is left out; a second inventory within the freshness reads nothing.
#[tokio::test]
async fn gcore_lists_every_assignment_of_the_account_across_pages() {
    let key = "gcore-inventory-key";
    let sim = GcoreSim::start(GcoreSimConfig {
        api_key: key.to_owned(),
        ..GcoreSimConfig::default()
    })
    .await
    .expect("simulator starts");
    let roles = ["Observer", "User", "ProjectAdministrator"];
    let mut wanted = BTreeSet::new();
    for n in 0..2050u64 {
        let (user, project) = (10_000 + n / 5, n % 5);
        let role = roles[(n % 3) as usize];
        let project = (project > 0).then_some(100 + project);
        let id = sim.insert_assignment(user, role, Some(8), project);
        wanted.insert((id.to_string(), user, role.to_owned(), project));
    }
    sim.insert_assignment(99, "Auditor", Some(8), None);
    let client = connect(json!({"gcore": {"endpoint": sim.endpoint()}}), key);

    let grants = client.inventory(FRESH).await.expect("inventory");

    let listed: BTreeSet<(String, u64, String, Option<u64>)> = grants
        .iter()
        .map(|g| {
            let s = serde_json::to_value(&g.blocks).expect("serializes");
            let id = g.external_id.as_ref().expect("Gcore ids are kept");
            (
                id.to_string(),
                s["gcore"]["userId"].as_u64().expect("user"),
                s["gcore"]["role"].as_str().expect("role").to_owned(),
                s["gcore"]["projectId"].as_u64(),
            )
        })
        .collect();
    assert_eq!(listed, wanted);
    assert!(
        grants
            .iter()
            .all(|g| g.target.natural_key.starts_with("gcore:user="))
    );
    assert_eq!(gets(&sim.requests(), "/cloud/v1/users/assignments"), 3);
    client.inventory(CACHED).await.expect("inventory");
    assert_eq!(
        gets(&sim.requests(), "/cloud/v1/users/assignments"),
        3,
        "a fresh enough list is not read again"
    );
    sim.shutdown().await;
}

fn harness_body(role: &str, group: &str, kind: &str, who: &str) -> Value {
    json!({
        "identifier": format!("made_by_hand_{role}_{group}_{who}"),
        "role": role,
        "resource_group": group,
        "principal": {"type": kind, "identifier": who},
    })
}

/// 105 organizations (two pages of Harness's largest, 100) with a project each, 130
/// assignments at the account (two pages) and some at an organization and a project: every
/// one is listed at its scope, with its identifier as external id.
#[tokio::test]
async fn harness_lists_the_account_every_organization_and_every_project_across_pages() {
    let mut fixtures = HarnessFixtures::default();
    let orgs: Vec<String> = (0..105).map(|n| format!("org_{n:03}")).collect();
    fixtures.orgs.extend(orgs.iter().cloned());
    fixtures.projects.extend(orgs.iter().map(|org| ProjectRef {
        org: org.clone(),
        project: "main".to_owned(),
    }));
    let config = HarnessSimConfig {
        fixtures,
        ..HarnessSimConfig::default()
    };
    let key = config.api_key.clone();
    let sim = HarnessSim::start(config).await.expect("simulator starts");
    let f = sim.fixtures().clone();
    let mut at_account = 0;
    let principals = f
        .users
        .iter()
        .map(|u| ("USER", u))
        .chain(f.user_groups.iter().map(|g| ("USER_GROUP", g)));
    'fill: for (kind, who) in principals {
        for role in &f.roles {
            for group in &f.resource_groups {
                if at_account == 130 {
                    break 'fill;
                }
                sim.insert_assignment(None, None, harness_body(role, group, kind, who))
                    .expect("account assignment");
                at_account += 1;
            }
        }
    }
    let org_level = harness_body(
        "_organization_viewer",
        "_all_organization_level_resources",
        "USER_GROUP",
        "sre",
    );
    sim.insert_assignment(Some("org_104"), None, org_level)
        .expect("org assignment");
    let project_level = harness_body(
        "_project_admin",
        "_all_project_level_resources",
        "SERVICE_ACCOUNT",
        "ci_bot",
    );
    sim.insert_assignment(Some("default"), Some("payments"), project_level.clone())
        .expect("project assignment");
    sim.insert_assignment(Some("org_050"), Some("main"), project_level)
        .expect("project assignment");
    let client = connect(json!({"harness": {"endpoint": sim.endpoint()}}), &key);

    let grants = client.inventory(FRESH).await.expect("inventory");

    assert_eq!(grants.len(), sim.assignments().len());
    assert_eq!(grants.len(), 133);
    let scopes = |org: Option<&str>, project: Option<&str>| {
        specs(&grants)
            .iter()
            .filter(|s| {
                s["harness"]["org"].as_str() == org && s["harness"]["project"].as_str() == project
            })
            .count()
    };
    assert_eq!(scopes(None, None), 130);
    assert_eq!(scopes(Some("org_104"), None), 1);
    assert_eq!(scopes(Some("default"), Some("payments")), 1);
    assert_eq!(scopes(Some("org_050"), Some("main")), 1);
    let ids: BTreeSet<String> = grants
        .iter()
        .filter_map(|g| g.external_id.as_ref().map(ToString::to_string))
        .collect();
    let remote_ids: BTreeSet<String> = sim
        .assignments()
        .iter()
        .map(|a| {
            a["role-assignment"]["identifier"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(ids, remote_ids);
    let group = specs(&grants)
        .into_iter()
        .find(|s| s["harness"]["org"] == "org_104")
        .expect("the org's grant");
    assert_eq!(
        group["harness"],
        json!({"org": "org_104", "role": "_organization_viewer", "resourceGroup": "_all_organization_level_resources",
            "disabled": false, "principal": {"type": "USER_GROUP", "identifier": "sre", "scopeLevel": "organization"}})
    );
    let log = sim.requests();
    assert_eq!(
        gets(&log, "/v1/orgs"),
        2,
        "105 organizations take two pages"
    );
    assert_eq!(
        gets(&log, "/v1/role-assignments"),
        2,
        "130 assignments take two pages"
    );
    assert_eq!(gets(&log, "/v1/orgs/org_104/projects"), 1);
    sim.shutdown().await;
}

/// Every role at organization scope, in every one of 103 workspaces (two pages of the
/// workspace list) and in every project of each (asked of each workspace's own server, four
/// projects taking two pages), each assignment list paged two items at a time; pending
/// invitations are not grants. Whether a list filtered by workspace alone holds the
/// workspace's project assignments too is undocumented: each assignment is listed once
/// either way.
async fn zenml_lists_every_scope(workspace_lists_projects: bool) {
    let key = "ZENPROKEY_inventory";
    let mut fixtures = ZenmlFixtures::default();
    fixtures
        .workspace_ids
        .extend((10..111).map(|n| Uuid::from_u128((0x4000_0000 << 96) | n)));
    let first_workspace = fixtures.workspace_ids[0];
    let extra_projects: Vec<Uuid> = (10..12)
        .map(|n| Uuid::from_u128((0x5000_0000 << 96) | n))
        .collect();
    fixtures
        .projects
        .extend(extra_projects.iter().map(|p| (first_workspace, *p)));
    let sim = ZenmlSim::start(ZenmlSimConfig {
        api_key: key.to_owned(),
        fixtures: fixtures.clone(),
        page_size: Some(2),
        workspace_lists_projects,
        ..ZenmlSimConfig::default()
    })
    .await
    .expect("simulator starts");
    let last_workspace = *fixtures.workspace_ids.last().expect("workspaces");
    for (n, team) in fixtures.team_ids.iter().enumerate() {
        for (role, _) in &fixtures.roles[1..] {
            sim.insert_assignment(SimAssignment {
                role_id: *role,
                team_id: Some(*team),
                workspace_id: (n == 1).then_some(last_workspace),
                ..SimAssignment::default()
            });
        }
    }
    // Project grants, one on the second page of the first workspace's projects, beside a
    // grant of the same role in the workspace itself.
    let (other_workspace, other_project) = fixtures.projects[2];
    for (workspace, project) in [
        (first_workspace, Some(extra_projects[1])),
        (first_workspace, None),
        (other_workspace, Some(other_project)),
    ] {
        sim.insert_assignment(SimAssignment {
            role_id: fixtures.roles[1].0,
            user_id: Some(fixtures.user_ids[3]),
            workspace_id: Some(workspace),
            project_id: project,
            ..SimAssignment::default()
        });
    }
    let client = connect(json!({"zenml": {"endpoint": sim.endpoint()}}), key);

    let grants = client.inventory(FRESH).await.expect("inventory");

    let remote: BTreeSet<String> = sim
        .assignments()
        .iter()
        .filter(|a| a.invitation_id.is_none())
        .map(|a| {
            let who = a.user_id.or(a.team_id).map(|p| p.to_string());
            format!(
                "{}|{who:?}|{:?}|{:?}",
                a.role_id,
                a.workspace_id.map(|w| w.to_string()),
                a.project_id.map(|p| p.to_string())
            )
        })
        .collect();
    let listed: BTreeSet<String> = specs(&grants)
        .iter()
        .map(|s| {
            let z = &s["zenml"];
            let who = z["userId"]
                .as_str()
                .or(z["teamId"].as_str())
                .map(str::to_owned);
            let workspace = z["workspaceId"].as_str().map(str::to_owned);
            let project = z["projectId"].as_str().map(str::to_owned);
            format!(
                "{}|{who:?}|{workspace:?}|{project:?}",
                z["roleId"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(listed, remote);
    assert_eq!(grants.len(), remote.len(), "each assignment once");
    assert_eq!(
        remote.iter().filter(|r| !r.ends_with("|None")).count(),
        2,
        "the project grants are among them"
    );
    assert!(grants.iter().all(|g| g.external_id.is_none()));
    let log = sim.requests();
    assert_eq!(
        gets(&log, "/workspaces"),
        2,
        "103 workspaces take two pages"
    );
    let org = fixtures.organization_id;
    assert_eq!(gets(&log, &format!("/organizations/{org}/roles")), 1);
    let projects = format!("/workspace-servers/{first_workspace}/api/v1/projects");
    assert_eq!(gets(&log, &projects), 2, "four projects take two pages");
    // Five users and two pending invitations hold the member role organization-wide: four
    // pages of two.
    let member = format!("/roles/{}/assignments", fixtures.member_role_id);
    assert_eq!(
        gets(&log, &member),
        4 + fixtures.workspace_ids.len() + fixtures.projects.len(),
        "one list per workspace and project, four pages at the organization"
    );
    let logins = |log: &[RequestLog]| {
        log.iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/api/v1/login"))
            .count()
    };
    assert_eq!(
        logins(&log),
        fixtures.workspace_ids.len(),
        "one login per server"
    );

    client.inventory(FRESH).await.expect("second inventory");
    let log = sim.requests();
    assert_eq!(
        logins(&log),
        fixtures.workspace_ids.len(),
        "a workspace server's token is used again"
    );
    assert_eq!(gets(&log, &projects), 4, "projects are listed afresh");
    sim.shutdown().await;
}

#[tokio::test]
async fn zenml_lists_every_role_at_the_organization_in_every_workspace_and_project() {
    zenml_lists_every_scope(false).await;
}

#[tokio::test]
async fn zenml_lists_each_assignment_once_when_a_workspace_list_holds_its_projects() {
    zenml_lists_every_scope(true).await;
}

/// Every member's RBAC roles, named as the role list names them whether the member list
/// gives names or ids, a member with two roles listed twice and one with none not at all.
#[tokio::test]
async fn hyperstack_lists_every_members_roles_by_name() {
    for role_list in [RoleList::Objects, RoleList::Ids] {
        let key = "hyperstack-inventory-key";
        let sim = HyperstackSim::start(HyperstackSimConfig {
            api_key: key.to_owned(),
            role_list,
            ..HyperstackSimConfig::default()
        })
        .await
        .expect("simulator starts");
        assert!(sim.set_roles(202, &["developer"]));
        assert!(sim.set_roles(203, &["viewer", "admin"]));
        assert!(sim.set_roles(204, &[]));
        let client = connect(json!({"hyperstack": {"endpoint": sim.endpoint()}}), key);

        let grants = client.inventory(FRESH).await.expect("inventory");

        let listed: BTreeSet<(u64, String)> = specs(&grants)
            .iter()
            .map(|s| {
                let h = &s["hyperstack"];
                assert!(h.get("roleId").is_none(), "{h}");
                (
                    h["userId"].as_u64().expect("user"),
                    h["roleName"].as_str().expect("by name").to_owned(),
                )
            })
            .collect();
        let remote: BTreeSet<(u64, String)> = sim
            .assigned()
            .into_iter()
            .flat_map(|(user, roles)| roles.into_iter().map(move |r| (user, r)))
            .collect();
        assert_eq!(listed, remote, "{role_list:?}");
        assert!(listed.contains(&(203, "admin".to_owned())));
        assert!(!listed.iter().any(|(user, _)| *user == 204));
        let log = sim.requests();
        assert_eq!(gets(&log, "/v1/auth/organizations"), 1);
        assert_eq!(gets(&log, "/v1/auth/roles"), 1);
        sim.shutdown().await;
    }
}

/// A workspace server's token is good at that server only; when it expires the inventory
/// logs in there again instead of failing, and never sends the Pro API's token to it.
#[tokio::test]
async fn zenml_workspace_servers_have_tokens_of_their_own() {
    let key = "ZENPROKEY_servers";
    let sim = ZenmlSim::start(ZenmlSimConfig {
        api_key: key.to_owned(),
        ..ZenmlSimConfig::default()
    })
    .await
    .expect("simulator starts");
    let f = sim.fixtures().clone();
    let (workspace, project) = f.projects[2];
    sim.insert_assignment(SimAssignment {
        role_id: f.roles[1].0,
        team_id: Some(f.team_ids[0]),
        workspace_id: Some(workspace),
        project_id: Some(project),
        ..SimAssignment::default()
    });
    let client = connect(json!({"zenml": {"endpoint": sim.endpoint()}}), key);
    let has_project_grant = |grants: &[RemoteGrant]| {
        specs(grants)
            .iter()
            .any(|s| s["zenml"]["projectId"] == json!(project.to_string()))
    };
    assert!(has_project_grant(
        &client.inventory(FRESH).await.expect("inventory")
    ));

    sim.expire_tokens();
    let grants = client
        .inventory(FRESH)
        .await
        .expect("inventory after expiry");

    assert!(has_project_grant(&grants));
    let log = sim.requests();
    let projects = format!("/workspace-servers/{workspace}/api/v1/projects");
    let answers: Vec<u16> = log
        .iter()
        .filter(|r| r.path == projects)
        .map(|r| r.status)
        .collect();
    assert_eq!(answers, [200, 401, 200], "refused once, then a new token");
    let logins = log
        .iter()
        .filter(|r| r.path == format!("/workspace-servers/{workspace}/api/v1/login"))
        .count();
    assert_eq!(logins, 2);

    let http = reqwest::Client::new();
    let pro_token: Value = http
        .post(format!("{}/auth/login", sim.endpoint()))
        .form(&[("password", key)])
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("token");
    let other_token: Value = http
        .post(format!(
            "{}/workspace-servers/{}/api/v1/login",
            sim.endpoint(),
            f.workspace_ids[0]
        ))
        .form(&[("password", key)])
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("token");
    for token in [&pro_token, &other_token] {
        let answer = http
            .get(format!("{}{projects}", sim.endpoint()))
            .bearer_auth(token["access_token"].as_str().expect("token"))
            .send()
            .await
            .expect("answered");
        assert_eq!(answer.status(), 401, "{token}");
    }
    sim.shutdown().await;
}
