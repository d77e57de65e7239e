//! Every provider at once for the reliability tests: the test environment plus all four
//! simulators (as `rolesync sandbox` starts them), and a uniform view of each one's
//! remote state so that one invariant can be checked across providers.
//!
//! A RoleAssignment is described by its provider, a *slot* (a principal and scope no
//! other RoleAssignment of the test uses) and a *variant* (which role it grants).

use std::collections::BTreeSet;

use provider_sims::gcore::RolesPerProject;
use provider_sims::harness::{HarnessSimConfig, ServiceAccountLevels};
use provider_sims::hyperstack::{AssignMode, RoleList};
use provider_sims::zenml::{Duplicates, RevokeMissing, SimAssignment};
use provider_sims::{Faults, RequestLog};
use serde_json::{Value, json};
use testbed::{SimOptions, Simulators};

use crate::support::Env;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Gcore,
    Harness,
    Zenml,
    Hyperstack,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Gcore, Kind::Harness, Kind::Zenml, Kind::Hyperstack];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Gcore => "gcore",
            Kind::Harness => "harness",
            Kind::Zenml => "zenml",
            Kind::Hyperstack => "hyperstack",
        }
    }

    /// How many RoleAssignments of this provider can exist without sharing a natural key.
    pub fn slots(self) -> usize {
        match self {
            Kind::Gcore => GCORE_USERS.len() * GCORE_SCOPES.len(),
            Kind::Harness => HARNESS_PRINCIPALS.len() * HARNESS_SCOPES.len(),
            Kind::Zenml => zenml_slots().len(),
            Kind::Hyperstack => HYPERSTACK_USERS.count(),
        }
    }

    /// How many roles a slot can be switched between.
    pub fn variants(self) -> usize {
        match self {
            Kind::Gcore => GCORE_ROLES.len(),
            Kind::Harness => HARNESS_ROLES.len(),
            Kind::Zenml => ZENML_ROLES.len(),
            Kind::Hyperstack => HYPERSTACK_ROLES.len(),
        }
    }
}

const GCORE_USERS: [u64; 28] = [
    777, 778, 779, 780, 781, 782, 783, 784, 785, 786, 787, 788, 789, 790, 791, 792, 793, 794, 795,
    796, 797, 798, 799, 1001, 1002, 1003, 1004, 1005,
];
const GCORE_SCOPES: [Option<u64>; 13] = [
    None,
    Some(123),
    Some(124),
    Some(125),
    Some(126),
    Some(127),
    Some(128),
    Some(129),
    Some(130),
    Some(200),
    Some(201),
    Some(202),
    Some(203),
];
const GCORE_ROLES: [&str; 3] = ["Observer", "User", "ProjectAdministrator"];

const HARNESS_PRINCIPALS: [(&str, &str); 9] = [
    ("USER", "alice"),
    ("USER", "bob"),
    ("USER", "carol"),
    ("USER", "dave"),
    ("USER_GROUP", "developers"),
    ("USER_GROUP", "sre"),
    ("USER_GROUP", "auditors"),
    ("SERVICE_ACCOUNT", "ci_bot"),
    ("SERVICE_ACCOUNT", "deployer"),
];
const HARNESS_SCOPES: [(Option<&str>, Option<&str>); 6] = [
    (None, None),
    (Some("default"), None),
    (Some("platform"), None),
    (Some("default"), Some("payments")),
    (Some("default"), Some("checkout")),
    (Some("platform"), Some("infra")),
];
const HARNESS_ROLES: [&str; 3] = ["_project_viewer", "_project_admin", "_pipeline_executor"];

/// The slot of a Harness principal in a scope, both as listed above.
pub fn harness_slot(principal: (&str, &str), scope: (Option<&str>, Option<&str>)) -> usize {
    let p = HARNESS_PRINCIPALS.iter().position(|p| *p == principal);
    let s = HARNESS_SCOPES.iter().position(|s| *s == scope);
    match (p, s) {
        (Some(p), Some(s)) => s * HARNESS_PRINCIPALS.len() + p,
        _ => panic!("no Harness slot for {principal:?} in {scope:?}"),
    }
}

/// One way the Harness simulator plays Harness where its source allows more than one
/// (see `provider_sims::harness`): tests that depend on it run under each.
#[derive(Clone, Copy, Debug)]
pub struct HarnessReading {
    pub service_account_levels: ServiceAccountLevels,
    pub totals: bool,
}

impl HarnessReading {
    /// Harness as its newest public source behaves.
    pub const CURRENT: HarnessReading = HarnessReading {
        service_account_levels: ServiceAccountLevels::Kept,
        totals: true,
    };
    /// Harness between December 2022 and February 2023: a service account's level forced to
    /// the assignment's scope, and lists without totals.
    pub const EARLY_2023: HarnessReading = HarnessReading {
        service_account_levels: ServiceAccountLevels::Forced,
        totals: false,
    };

    /// The simulator's configuration under this reading.
    pub fn config(self) -> HarnessSimConfig {
        HarnessSimConfig {
            service_account_levels: self.service_account_levels,
            totals: self.totals,
            ..HarnessSimConfig::default()
        }
    }

    /// The sandbox's flags for this reading.
    pub fn options(self) -> SimOptions {
        SimOptions {
            harness_service_account_levels: self.service_account_levels,
            harness_no_totals: !self.totals,
            ..SimOptions::default()
        }
    }
}
const HARNESS_GROUP: &str = "_all_resources_including_child_scopes";

/// Roles 2..4 of the simulator's fixtures (Manager, Member, Viewer): never the admin role,
/// whose revocation the organization guards.
const ZENML_ROLES: [u128; 3] = [2, 3, 4];
const ZENML_WORKSPACES: [u128; 2] = [1, 2];
/// `(workspace, project)` as in the simulator's fixtures.
const ZENML_PROJECTS: [(u128, u128); 3] = [(1, 1), (1, 2), (2, 3)];

const HYPERSTACK_USERS: std::ops::RangeInclusive<u64> = 202..=230;
const HYPERSTACK_ROLES: [&str; 3] = ["admin", "developer", "viewer"];

fn zid(prefix: u128, n: u128) -> String {
    uuid::Uuid::from_u128((prefix << 96) | 0x0000_4000_8000_0000_0000_0000 | n).to_string()
}

/// `((field, principal), workspace, project)` of one ZenML slot.
type ZenmlSlot = ((&'static str, String), Option<String>, Option<String>);

/// ZenML principal and scope per slot: users (not the owner) at workspace and project
/// scope, teams everywhere. Users are left out of the organization scope, where each
/// already holds the member role from the fixtures.
fn zenml_slots() -> Vec<ZenmlSlot> {
    let mut slots = Vec::new();
    let users = (2..=6).map(|n| ("userId", zid(0x20000000, n)));
    let teams = (1..=2).map(|n| ("teamId", zid(0x30000000, n)));
    for principal in users.chain(teams.clone()) {
        for w in ZENML_WORKSPACES {
            slots.push((principal.clone(), Some(zid(0x40000000, w)), None));
        }
        for (w, p) in ZENML_PROJECTS {
            slots.push((
                principal.clone(),
                Some(zid(0x40000000, w)),
                Some(zid(0x50000000, p)),
            ));
        }
    }
    for team in teams {
        slots.push((team, None, None));
    }
    slots
}

fn config_ref(kind: Kind) -> Value {
    json!({"kind": "ClusterProviderConfig", "name": format!("{}-sandbox", kind.name())})
}

/// The spec of the RoleAssignment in `slot` granting role `variant`.
pub fn spec(kind: Kind, slot: usize, variant: usize) -> Value {
    let block = match kind {
        Kind::Gcore => {
            let mut g = json!({
                "userId": GCORE_USERS[slot % GCORE_USERS.len()],
                "role": GCORE_ROLES[variant],
                "clientId": 8,
            });
            if let Some(p) = GCORE_SCOPES[slot / GCORE_USERS.len()] {
                g["projectId"] = json!(p);
            }
            json!({"gcore": g})
        }
        Kind::Harness => {
            let (ptype, who) = HARNESS_PRINCIPALS[slot % HARNESS_PRINCIPALS.len()];
            let (org, project) = HARNESS_SCOPES[slot / HARNESS_PRINCIPALS.len()];
            let mut h = json!({
                "role": HARNESS_ROLES[variant],
                "resourceGroup": HARNESS_GROUP,
                "principal": {"type": ptype, "identifier": who},
            });
            if let Some(o) = org {
                h["org"] = json!(o);
            }
            if let Some(p) = project {
                h["project"] = json!(p);
            }
            json!({"harness": h})
        }
        Kind::Zenml => {
            let ((field, who), workspace, project) = zenml_slots().swap_remove(slot);
            let mut z = json!({"roleId": zid(0x10000000, ZENML_ROLES[variant]), field: who});
            if let Some(w) = workspace {
                z["workspaceId"] = json!(w);
            }
            if let Some(p) = project {
                z["projectId"] = json!(p);
            }
            json!({"zenml": z})
        }
        Kind::Hyperstack => json!({"hyperstack": {
            "userId": HYPERSTACK_USERS.start() + slot as u64,
            "roleName": HYPERSTACK_ROLES[variant],
        }}),
    };
    let mut spec = json!({"providerConfigRef": config_ref(kind)});
    if let (Some(s), Some(b)) = (spec.as_object_mut(), block.as_object()) {
        s.extend(b.clone());
    }
    spec
}

/// How [`Fleet::remote`] writes the remote assignment `spec(kind, slot, variant)` asks for.
pub fn expected(kind: Kind, slot: usize, variant: usize) -> String {
    format!("{}|{}", slot_key(kind, slot), role_name(kind, variant))
}

/// The part of [`expected`] that names principal and scope, without the role.
pub fn slot_key(kind: Kind, slot: usize) -> String {
    let s = spec(kind, slot, 0);
    match kind {
        Kind::Gcore => format!(
            "gcore user={} project={}",
            s["gcore"]["userId"], s["gcore"]["projectId"]
        ),
        Kind::Harness => {
            let h = &s["harness"];
            format!(
                "harness {}:{} org={} project={}",
                h["principal"]["type"].as_str().unwrap_or_default(),
                h["principal"]["identifier"].as_str().unwrap_or_default(),
                h["org"],
                h["project"]
            )
        }
        Kind::Zenml => {
            let z = &s["zenml"];
            let who = z["userId"]
                .as_str()
                .map(|u| format!("user:{u}"))
                .or_else(|| z["teamId"].as_str().map(|t| format!("team:{t}")))
                .unwrap_or_default();
            format!(
                "zenml {who} workspace={} project={}",
                z["workspaceId"], z["projectId"]
            )
        }
        Kind::Hyperstack => format!("hyperstack user={}", s["hyperstack"]["userId"]),
    }
}

/// Where `spec(kind, slot, _)` grants, as a provider config's `allowedScopes` names it.
pub fn scope(kind: Kind, slot: usize) -> String {
    let s = spec(kind, slot, 0);
    let block = &s[kind.name()];
    let path = |pairs: &[(&str, &Value)]| {
        pairs
            .iter()
            .filter_map(|(k, v)| match v {
                Value::String(v) => Some(format!("{k}={v}")),
                Value::Number(v) => Some(format!("{k}={v}")),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("/")
    };
    let at = match kind {
        Kind::Gcore => path(&[
            ("client", &block["clientId"]),
            ("project", &block["projectId"]),
        ]),
        Kind::Harness => path(&[("org", &block["org"]), ("project", &block["project"])]),
        Kind::Zenml => path(&[
            ("workspace", &block["workspaceId"]),
            ("project", &block["projectId"]),
        ]),
        Kind::Hyperstack => String::new(),
    };
    match (kind, at.is_empty()) {
        (_, false) => at,
        (Kind::Harness, true) => "account".to_owned(),
        (_, true) => "organization".to_owned(),
    }
}

/// The role `spec(kind, _, variant)` grants, as its role field names it (what a provider
/// config's `allowedRoles` matches).
pub fn role_name(kind: Kind, variant: usize) -> String {
    match kind {
        Kind::Gcore => GCORE_ROLES[variant].to_owned(),
        Kind::Harness => HARNESS_ROLES[variant].to_owned(),
        Kind::Zenml => zid(0x10000000, ZENML_ROLES[variant]),
        Kind::Hyperstack => HYPERSTACK_ROLES[variant].to_owned(),
    }
}

fn opt_json<T: serde::Serialize>(v: Option<T>) -> Value {
    json!(v)
}

/// The other open questions of ZenML, as the simulator answers them in one reading.
pub struct ZenmlReading {
    pub revoke_missing: RevokeMissing,
    pub list_role: bool,
    pub workspace_lists_projects: bool,
}

/// How the ZenML simulator pairs the other open questions with an answer to a duplicate
/// assign, so that each answer of each is played by some reading: revoking what is gone
/// (404 or 200), list items with or without `role`, and whether a workspace's list holds
/// its projects' assignments. The default pairs the defaults.
pub fn zenml_reading(duplicates: Duplicates) -> ZenmlReading {
    let (revoke_missing, list_role, workspace_lists_projects) = match duplicates {
        Duplicates::Conflict409 => (RevokeMissing::NotFound, false, false),
        Duplicates::Rejected400 => (RevokeMissing::Ok, true, true),
        Duplicates::Rejected422 => (RevokeMissing::NotFound, true, false),
        Duplicates::Stored => (RevokeMissing::Ok, false, true),
    };
    ZenmlReading {
        revoke_missing,
        list_role,
        workspace_lists_projects,
    }
}

/// The simulators playing one reading of what ZenML's, Hyperstack's and Gcore's docs
/// leave open (the defaults elsewhere).
pub mod readings {
    use super::*;

    pub fn zenml(duplicates: Duplicates) -> SimOptions {
        let reading = zenml_reading(duplicates);
        SimOptions {
            zenml_duplicates: duplicates,
            zenml_revoke_missing: reading.revoke_missing,
            zenml_list_role: reading.list_role,
            zenml_workspace_lists_projects: reading.workspace_lists_projects,
            ..SimOptions::default()
        }
    }

    /// Adding comes with role ids in the list, replacing with `{name}` objects.
    pub fn hyperstack(assign: AssignMode) -> SimOptions {
        SimOptions {
            hyperstack_assign: assign,
            hyperstack_role_list: match assign {
                AssignMode::Replace => RoleList::Objects,
                AssignMode::Add => RoleList::Ids,
            },
            ..SimOptions::default()
        }
    }

    pub fn gcore(roles: RolesPerProject) -> SimOptions {
        SimOptions {
            gcore_roles_per_project: roles,
            ..SimOptions::default()
        }
    }
}

/// The test environment with every simulator connected as `<provider>-sandbox`.
pub struct Fleet {
    pub env: Env,
    pub sims: Simulators,
}

impl Fleet {
    pub async fn start() -> Fleet {
        Fleet::start_with(SimOptions::default()).await
    }

    pub async fn start_with(options: SimOptions) -> Fleet {
        Self::on(Env::start().await, options).await
    }

    /// Every simulator (playing the readings `options` choose) connected to `env`'s cluster.
    pub async fn on(env: Env, options: SimOptions) -> Fleet {
        let sims = Simulators::start_with(options)
            .await
            .expect("simulators start");
        sims.connect(&env.client)
            .await
            .expect("providers connected");
        Fleet { env, sims }
    }

    /// Every API key the simulators accept (none may ever leak).
    pub fn keys(&self) -> Vec<String> {
        vec![
            self.sims.gcore.1.clone(),
            self.sims.harness.1.clone(),
            self.sims.zenml.1.clone(),
            self.sims.hyperstack.1.clone(),
        ]
    }

    pub fn faults(&self, kind: Kind) -> &Faults {
        match kind {
            Kind::Gcore => self.sims.gcore.0.faults(),
            Kind::Harness => self.sims.harness.0.faults(),
            Kind::Zenml => self.sims.zenml.0.faults(),
            Kind::Hyperstack => self.sims.hyperstack.0.faults(),
        }
    }

    /// The requests the simulator answered, in order, but for logins (ZenML's token).
    pub fn log(&self, kind: Kind) -> Vec<RequestLog> {
        let log = match kind {
            Kind::Gcore => self.sims.gcore.0.requests(),
            Kind::Harness => self.sims.harness.0.requests(),
            Kind::Zenml => self.sims.zenml.0.requests(),
            Kind::Hyperstack => self.sims.hyperstack.0.requests(),
        };
        // Logins (ZenML's at the Pro API and at each workspace server) grant nothing.
        log.into_iter()
            .filter(|r| r.path != "/auth/login" && !r.path.ends_with("/api/v1/login"))
            .collect()
    }

    /// Requests the simulator answered with `method`, e.g. `POST`.
    pub fn requests(&self, kind: Kind, method: &str) -> usize {
        self.log(kind).iter().filter(|r| r.method == method).count()
    }

    /// Requests that change what is granted: a grant (`POST`; Hyperstack's `PUT`), an
    /// update (`PATCH`) or a revocation (`DELETE`).
    pub fn writes(&self, kind: Kind) -> Vec<RequestLog> {
        self.log(kind)
            .into_iter()
            .filter(|r| r.method != "GET")
            .collect()
    }

    /// The simulator's real state, one `principal+scope|role` line per remote assignment
    /// (a list, so that a duplicate shows up twice).
    pub fn remote(&self, kind: Kind) -> Vec<String> {
        let mut lines: Vec<String> = match kind {
            Kind::Gcore => self
                .sims
                .gcore
                .0
                .assignments()
                .iter()
                .map(|a| {
                    format!(
                        "gcore user={} project={}|{}",
                        a["user_id"],
                        a["project_id"],
                        a["role"].as_str().unwrap_or_default()
                    )
                })
                .collect(),
            Kind::Harness => self
                .sims
                .harness
                .0
                .assignments()
                .iter()
                .map(|a| {
                    let b = &a["role-assignment"];
                    format!(
                        "harness {}:{} org={} project={}|{}",
                        b["principal"]["type"].as_str().unwrap_or_default(),
                        b["principal"]["identifier"].as_str().unwrap_or_default(),
                        a["org"],
                        a["project"],
                        b["role"].as_str().unwrap_or_default()
                    )
                })
                .collect(),
            Kind::Zenml => self
                .sims
                .zenml
                .0
                .assignments()
                .iter()
                .map(|a| {
                    let who = match (a.user_id, a.team_id, a.invitation_id) {
                        (Some(u), ..) => format!("user:{u}"),
                        (_, Some(t), _) => format!("team:{t}"),
                        (.., Some(i)) => format!("invitation:{i}"),
                        _ => String::new(),
                    };
                    format!(
                        "zenml {who} workspace={} project={}|{}",
                        opt_json(a.workspace_id.map(|w| w.to_string())),
                        opt_json(a.project_id.map(|p| p.to_string())),
                        a.role_id
                    )
                })
                .collect(),
            Kind::Hyperstack => self
                .sims
                .hyperstack
                .0
                .assigned()
                .iter()
                .flat_map(|(user, roles)| {
                    roles
                        .iter()
                        .map(move |role| format!("hyperstack user={user}|{role}"))
                })
                .collect(),
        };
        lines.sort();
        lines
    }

    /// [`Fleet::remote`] as a set, for comparing against a snapshot.
    pub fn remote_set(&self, kind: Kind) -> BTreeSet<String> {
        self.remote(kind).into_iter().collect()
    }

    pub async fn shutdown(self) {
        self.sims.shutdown().await;
    }
}

/// The ZenML simulator's row of what a `spec.zenml` block asks for.
pub fn zenml_row(block: &Value) -> SimAssignment {
    let uuid = |v: &Value| v.as_str().and_then(|s| s.parse().ok());
    SimAssignment {
        role_id: uuid(&block["roleId"]).expect("role uuid"),
        user_id: uuid(&block["userId"]),
        team_id: uuid(&block["teamId"]),
        invitation_id: None,
        workspace_id: uuid(&block["workspaceId"]),
        project_id: uuid(&block["projectId"]),
    }
}

impl Fleet {
    /// Grants what `spec(kind, slot, variant)` asks for directly at the simulator, as
    /// someone else would (in the vendor's console).
    pub fn grant_directly(&self, kind: Kind, slot: usize, variant: usize) {
        let block = spec(kind, slot, variant)[kind.name()].clone();
        let sims = &self.sims;
        match kind {
            Kind::Gcore => {
                sims.gcore.0.insert_assignment(
                    block["userId"].as_u64().expect("user"),
                    block["role"].as_str().expect("role"),
                    block["clientId"].as_u64(),
                    block["projectId"].as_u64(),
                );
            }
            Kind::Harness => sims
                .harness
                .0
                .insert_assignment(
                    block["org"].as_str(),
                    block["project"].as_str(),
                    json!({"identifier": format!("granted_by_hand_{slot}"), "role": block["role"],
                       "resource_group": block["resourceGroup"],
                       "principal": block["principal"]}),
                )
                .expect("assignment stored"),
            Kind::Zenml => assert!(sims.zenml.0.insert_assignment(zenml_row(&block))),
            Kind::Hyperstack => assert!(sims.hyperstack.0.set_roles(
                block["userId"].as_u64().expect("user"),
                &[block["roleName"].as_str().expect("role")]
            )),
        }
    }
}

/// A test per provider and case: `per_provider!([module => case, ...], {test => run(args);
/// ...})` makes a module per provider holding `#[tokio::test] test`, which runs
/// `run(case, args)` of the calling module (a case: a provider kind, or more).
macro_rules! per_provider {
    ([$($module:ident => $kind:expr),* $(,)?], $windows:tt) => {
        $(per_provider!(@module $module, $kind, $windows);)*
    };
    (@module $module:ident, $kind:expr, {$($test:ident => $run:ident($($arg:expr),*);)*}) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test]
                async fn $test() {
                    super::$run($kind $(, $arg)*).await;
                }
            )*
        }
    };
}
pub(crate) use per_provider;
