//! Every provider simulator at once, each with the API key it accepts, connected to a
//! cluster as `<provider>-sandbox` ClusterProviderConfigs.

use std::time::Duration;

use provider_sims::RequestLog;
use provider_sims::gcore::{GcoreFixtures, GcoreSim, GcoreSimConfig, RolesPerProject};
use provider_sims::harness::{
    HarnessFixtures, HarnessSim, HarnessSimConfig, PrincipalType, ServiceAccountLevels,
};
use provider_sims::hyperstack::{AssignMode, HyperstackSim, HyperstackSimConfig, RoleList};
use provider_sims::zenml::{Duplicates, RevokeMissing, ZenmlSim, ZenmlSimConfig};
use serde_json::json;

use crate::cluster::{Error, connect_provider};

/// How the simulators behave, for benchmarks against a realistic (slower, limited) provider.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct SimOptions {
    /// Delay every simulator adds to each response, e.g. 10ms.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub latency: Option<Duration>,
    /// The Harness simulator refuses (429) requests past this many in any minute (given
    /// without a number: Harness's published 400), and harness-sandbox keeps rolesync's
    /// default Harness rate limit instead of none.
    // Harness's published limit, `provider_sims::harness::REQUESTS_PER_MINUTE` (a test keeps
    // them equal: clap takes only a literal here).
    #[arg(long, num_args = 0..=1, default_missing_value = "400")]
    pub harness_requests_per_minute: Option<u32>,
    /// How the Harness simulator stores a service account's scope level: `kept` (Harness
    /// since October 2023: as sent, else where the account lives) or `forced` (before: the
    /// assignment's own scope, any other level refused).
    #[arg(long, default_value_t = ServiceAccountLevels::Kept)]
    pub harness_service_account_levels: ServiceAccountLevels,
    /// The Harness simulator's lists send no X-Total-Elements, only Link headers (Harness
    /// before February 2023).
    #[arg(long)]
    pub harness_no_totals: bool,
    /// Principal types (USER, USER_GROUP, SERVICE_ACCOUNT) the Harness key may not view:
    /// lists leave them out, as Harness does for a key without view permission.
    #[arg(long, value_delimiter = ',')]
    pub harness_hide_principal_types: Vec<PrincipalType>,
    /// Users added to the Gcore (ids from 100000) and Harness (bench_user_1, ...)
    /// simulators, so that thousands of distinct grants exist.
    #[arg(long, default_value_t = 0)]
    pub extra_users: u32,

    // What the ZenML Pro, Hyperstack and Gcore docs leave open, one reading each; the
    // defaults play the most likely one (see each simulator).
    /// How the ZenML simulator answers assigning what is already assigned.
    #[arg(long, value_enum, default_value_t)]
    pub zenml_duplicates: Duplicates,
    /// How the ZenML simulator answers revoking what is not assigned.
    #[arg(long, value_enum, default_value_t)]
    pub zenml_revoke_missing: RevokeMissing,
    /// ZenML list items carry `role`, as an older seed showed (the API reference has none).
    #[arg(long)]
    pub zenml_list_role: bool,
    /// A ZenML list filtered by workspace alone also holds the workspace's project
    /// assignments (the API reference does not say).
    #[arg(long)]
    pub zenml_workspace_lists_projects: bool,
    /// Whether Hyperstack's assign-roles replaces a member's RBAC roles or adds one.
    #[arg(long, value_enum, default_value_t)]
    pub hyperstack_assign: AssignMode,
    /// How Hyperstack lists a member's RBAC roles: `{name}` objects or role ids.
    #[arg(long, value_enum, default_value_t)]
    pub hyperstack_role_list: RoleList,
    /// Whether one Gcore user may hold one or several roles in the same client/project.
    #[arg(long, value_enum, default_value_t)]
    pub gcore_roles_per_project: RolesPerProject,
}

/// The first id of the users `--extra-users` adds to the Gcore simulator.
pub const GCORE_EXTRA_USER_BASE: u64 = 100_000;

/// A rate limit that never holds the sandbox back; Hyperstack keeps its published default.
fn unlimited() -> serde_json::Value {
    json!({"requestsPerMinute": 60000, "burst": 1000})
}

fn key_for(provider: &str) -> String {
    format!("sandbox-{provider}-{}", uuid::Uuid::new_v4().simple())
}

/// Every provider simulator of the sandbox, each with the API key it accepts.
pub struct Simulators {
    pub gcore: (GcoreSim, String),
    pub harness: (HarnessSim, String),
    pub zenml: (ZenmlSim, String),
    pub hyperstack: (HyperstackSim, String),
    options: SimOptions,
}

impl Simulators {
    pub async fn start() -> Result<Self, Error> {
        Self::start_with(SimOptions::default()).await
    }

    pub async fn start_with(options: SimOptions) -> Result<Self, Error> {
        let gcore_key = key_for("gcore");
        let mut gcore_fixtures = GcoreFixtures::default();
        gcore_fixtures
            .user_ids
            .extend((1..=u64::from(options.extra_users)).map(|i| GCORE_EXTRA_USER_BASE + i));
        let gcore = GcoreSim::start(GcoreSimConfig {
            api_key: gcore_key.clone(),
            fixtures: gcore_fixtures,
            roles_per_project: options.gcore_roles_per_project,
            ..GcoreSimConfig::default()
        })
        .await
        .map_err(|e| Error::Simulator("gcore", e))?;
        let mut harness_fixtures = HarnessFixtures::default();
        harness_fixtures
            .users
            .extend((1..=options.extra_users).map(|i| format!("bench_user_{i}")));
        // The key is shaped as Harness issues it, so the config needs no accountId and
        // Harness's own SDK can derive the account from it.
        let harness_config = HarnessSimConfig {
            fixtures: harness_fixtures,
            service_account_levels: options.harness_service_account_levels,
            totals: !options.harness_no_totals,
            hidden_principal_types: options
                .harness_hide_principal_types
                .iter()
                .copied()
                .collect(),
            ..HarnessSimConfig::default()
        };
        let harness_key = harness_config.api_key.clone();
        let harness = HarnessSim::start(harness_config)
            .await
            .map_err(|e| Error::Simulator("harness", e))?;
        // ZenML organization API keys carry this prefix.
        let zenml_key = format!("ZENPROKEY_{}", key_for("zenml"));
        let zenml = ZenmlSim::start(ZenmlSimConfig {
            api_key: zenml_key.clone(),
            duplicates: options.zenml_duplicates,
            revoke_missing: options.zenml_revoke_missing,
            list_role: options.zenml_list_role,
            workspace_lists_projects: options.zenml_workspace_lists_projects,
            ..ZenmlSimConfig::default()
        })
        .await
        .map_err(|e| Error::Simulator("zenml", e))?;
        let hyperstack_key = key_for("hyperstack");
        let hyperstack = HyperstackSim::start(HyperstackSimConfig {
            api_key: hyperstack_key.clone(),
            assign: options.hyperstack_assign,
            role_list: options.hyperstack_role_list,
            ..HyperstackSimConfig::default()
        })
        .await
        .map_err(|e| Error::Simulator("hyperstack", e))?;
        if let Some(latency) = options.latency {
            for faults in [
                gcore.faults(),
                harness.faults(),
                zenml.faults(),
                hyperstack.faults(),
            ] {
                faults.set_latency(latency);
            }
        }
        harness
            .faults()
            .set_rate_limit_per(options.harness_requests_per_minute, Duration::from_secs(60));
        Ok(Self {
            gcore: (gcore, gcore_key),
            harness: (harness, harness_key),
            zenml: (zenml, zenml_key),
            hyperstack: (hyperstack, hyperstack_key),
            options,
        })
    }

    /// Creates a Secret and a `<provider>-sandbox` ClusterProviderConfig per simulator.
    pub async fn connect(&self, client: &kube::Client) -> Result<(), Error> {
        let (gcore, key) = &self.gcore;
        let block = json!({"gcore": {"endpoint": gcore.endpoint()}, "rateLimit": unlimited()});
        connect_provider(client, "gcore-sandbox", key, block).await?;
        let (harness, key) = &self.harness;
        let mut block = json!({"harness": {"endpoint": harness.endpoint()}});
        if self.options.harness_requests_per_minute.is_none() {
            block["rateLimit"] = unlimited();
        }
        connect_provider(client, "harness-sandbox", key, block).await?;
        let (zenml, key) = &self.zenml;
        let block = json!({"zenml": {"endpoint": zenml.endpoint()}, "rateLimit": unlimited()});
        connect_provider(client, "zenml-sandbox", key, block).await?;
        // Hyperstack blocks the whole IP for a minute past its limit: keep its default.
        let (hyperstack, key) = &self.hyperstack;
        let block = json!({"hyperstack": {"endpoint": hyperstack.endpoint()}});
        connect_provider(client, "hyperstack-sandbox", key, block).await
    }

    /// The `providers` object of `sandbox.json`: endpoints, keys and fixtures.
    pub fn describe(&self) -> serde_json::Value {
        let (gcore, gcore_key) = &self.gcore;
        let g = gcore.fixtures();
        let (harness, harness_key) = &self.harness;
        let (hyperstack, hyperstack_key) = &self.hyperstack;
        let h = hyperstack.fixtures();
        let (zenml, zenml_key) = &self.zenml;
        let z = zenml.fixtures();
        let ids = |ids: &[uuid::Uuid]| ids.iter().map(ToString::to_string).collect::<Vec<_>>();
        let roles: Vec<uuid::Uuid> = z.roles.iter().map(|(id, _)| *id).collect();
        let projects: Vec<_> = z
            .projects
            .iter()
            .map(|(w, p)| json!({"workspaceId": w.to_string(), "projectId": p.to_string()}))
            .collect();
        json!({
            "gcore": {
                "endpoint": gcore.endpoint(),
                "apiKey": gcore_key,
                "fixtures": {"clientId": g.client_id, "userIds": g.user_ids, "projectIds": g.project_ids},
            },
            "harness": {
                "endpoint": harness.endpoint(),
                "apiKey": harness_key,
                "accountId": harness.account_id(),
                "fixtures": harness.fixtures(),
            },
            "zenml": {
                "endpoint": zenml.endpoint(),
                "apiKey": zenml_key,
                "fixtures": {
                    "organizationId": z.organization_id.to_string(),
                    "roleIds": ids(&roles),
                    "userIds": ids(&z.user_ids),
                    "teamIds": ids(&z.team_ids),
                    "workspaceIds": ids(&z.workspace_ids),
                    "projects": projects,
                },
            },
            "hyperstack": {
                "endpoint": hyperstack.endpoint(),
                "apiKey": hyperstack_key,
                "fixtures": {"userIds": h.user_ids, "roles": h.roles},
            },
        })
    }

    /// Requests each simulator answered (all, writes, 429s) and the assignments it holds.
    pub fn stats(&self) -> serde_json::Value {
        let counts = |log: Vec<RequestLog>, assignments: usize| {
            json!({
                "requests": log.len(),
                "writes": log.iter().filter(|r| r.method != "GET").count(),
                "rateLimited": log.iter().filter(|r| r.status == 429).count(),
                "assignments": assignments,
            })
        };
        json!({
            "gcore": counts(self.gcore.0.requests(), self.gcore.0.assignments().len()),
            "harness": counts(self.harness.0.requests(), self.harness.0.assignments().len()),
            "zenml": counts(self.zenml.0.requests(), self.zenml.0.assignments().len()),
            "hyperstack": counts(self.hyperstack.0.requests(), self.hyperstack.0.assigned().len()),
        })
    }

    pub async fn shutdown(self) {
        self.gcore.0.shutdown().await;
        self.harness.0.shutdown().await;
        self.zenml.0.shutdown().await;
        self.hyperstack.0.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Sandbox {
        #[command(flatten)]
        simulators: SimOptions,
    }

    fn parse(args: &[&str]) -> SimOptions {
        Sandbox::try_parse_from(std::iter::once("sandbox").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{e}"))
            .simulators
    }

    #[test]
    fn readings_default_to_the_most_likely_and_flags_select_the_others() {
        let default = parse(&[]);
        assert_eq!(default.zenml_duplicates, Duplicates::Conflict409);
        assert_eq!(default.zenml_revoke_missing, RevokeMissing::NotFound);
        assert!(!default.zenml_list_role);
        assert!(!default.zenml_workspace_lists_projects);
        assert_eq!(default.hyperstack_assign, AssignMode::Replace);
        assert_eq!(default.hyperstack_role_list, RoleList::Objects);
        assert_eq!(default.gcore_roles_per_project, RolesPerProject::One);

        let other = parse(&[
            "--zenml-duplicates",
            "stored",
            "--zenml-revoke-missing",
            "ok",
            "--zenml-list-role",
            "--zenml-workspace-lists-projects",
            "--hyperstack-assign",
            "add",
            "--hyperstack-role-list",
            "ids",
            "--gcore-roles-per-project",
            "several",
        ]);
        assert_eq!(other.zenml_duplicates, Duplicates::Stored);
        assert_eq!(other.zenml_revoke_missing, RevokeMissing::Ok);
        assert!(other.zenml_list_role);
        assert!(other.zenml_workspace_lists_projects);
        assert_eq!(other.hyperstack_assign, AssignMode::Add);
        assert_eq!(other.hyperstack_role_list, RoleList::Ids);
        assert_eq!(other.gcore_roles_per_project, RolesPerProject::Several);
        for value in ["rejected400", "rejected422", "conflict409"] {
            parse(&["--zenml-duplicates", value]);
        }
    }

    #[test]
    fn harness_flags_pick_the_readings() {
        let defaults = parse(&[]);
        assert_eq!(defaults.harness_requests_per_minute, None);
        assert_eq!(
            defaults.harness_service_account_levels,
            ServiceAccountLevels::Kept
        );
        assert!(!defaults.harness_no_totals);
        assert!(defaults.harness_hide_principal_types.is_empty());
        let limited = parse(&["--harness-requests-per-minute"]);
        assert_eq!(
            limited.harness_requests_per_minute,
            Some(provider_sims::harness::REQUESTS_PER_MINUTE)
        );
        let older = parse(&[
            "--harness-requests-per-minute",
            "100",
            "--harness-service-account-levels",
            "forced",
            "--harness-no-totals",
            "--harness-hide-principal-types",
            "USER_GROUP,SERVICE_ACCOUNT",
        ]);
        assert_eq!(older.harness_requests_per_minute, Some(100));
        assert_eq!(
            older.harness_service_account_levels,
            ServiceAccountLevels::Forced
        );
        assert!(older.harness_no_totals);
        assert_eq!(
            older.harness_hide_principal_types,
            [PrincipalType::UserGroup, PrincipalType::ServiceAccount]
        );
        assert!(
            Sandbox::try_parse_from(["sandbox", "--harness-service-account-levels", "sometimes"])
                .is_err()
        );
    }
}
