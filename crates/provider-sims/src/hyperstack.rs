//! A simulator of Hyperstack's (NexGen Cloud Infrahub) organization and RBAC role API, served
//! under `/v1` like the real one.
//!
//! A member's RBAC roles are a list (`rbac_roles`, typed `Optional[List[RbacRoleField]]`
//! by the official SDK, PyPI `hyperstack` 1.56: objects `{name}`, or null; older docs say
//! integer ids). Whether assign-roles replaces the member's roles or adds one is
//! undocumented: [`AssignMode`] plays either. Remove-roles names no role and takes them
//! all (docs: `DELETE /auth/users/{user_id}/roles`). Over its request limit the simulator
//! answers 429 and then blocks every request for the block time, as Hyperstack blocks an
//! IP for a minute; all clients of the simulator count as one IP.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Faults, RequestLog, SimServer};

/// What `PUT /auth/users/{id}/assign-roles` does to the roles a member already holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum AssignMode {
    /// The assigned role replaces them. The most likely reading: removal takes no role id
    /// and the docs speak of "an RBAC role" of a member throughout (assign: "Assigns an
    /// RBAC role to a member", remove: "Removes an RBAC role from a member"), which only
    /// adds up if a member holds one role at a time.
    #[default]
    Replace,
    /// The assigned role is added to them, as the list-typed `rbac_roles` would allow.
    Add,
}

/// How `rbac_roles` elements are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum RoleList {
    /// `{"name": ...}`, as the official SDK's `RbacRoleField` types them.
    #[default]
    Objects,
    /// Role ids, as the older docs describe "rbac_roles array of integers".
    Ids,
}

/// An RBAC role the simulated organization starts with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixtureRole {
    pub id: u64,
    pub name: String,
}

/// The organization's members and RBAC roles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HyperstackFixtures {
    pub organization_id: u64,
    pub organization_name: String,
    /// Members of the organization; the first is its owner.
    pub user_ids: Vec<u64>,
    pub roles: Vec<FixtureRole>,
}

impl Default for HyperstackFixtures {
    fn default() -> Self {
        let role = |id, name: &str| FixtureRole {
            id,
            name: name.to_owned(),
        };
        Self {
            organization_id: 42,
            organization_name: "sandbox-org".to_owned(),
            user_ids: (201..=230).collect(),
            roles: vec![role(1, "admin"), role(2, "developer"), role(3, "viewer")],
        }
    }
}

/// Hyperstack's per-IP budget: `requests` per sliding `per`; beyond it, blocked for `block`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpLimit {
    pub requests: u32,
    pub per: Duration,
    pub block: Duration,
}

impl Default for IpLimit {
    /// Hyperstack's published limit: 500 requests a minute, then a minute's block.
    fn default() -> Self {
        Self {
            requests: 500,
            per: Duration::from_secs(60),
            block: Duration::from_secs(60),
        }
    }
}

#[derive(Clone)]
pub struct HyperstackSimConfig {
    pub api_key: String,
    pub fixtures: HyperstackFixtures,
    pub faults: Faults,
    pub limit: IpLimit,
    pub assign: AssignMode,
    pub role_list: RoleList,
}

impl Default for HyperstackSimConfig {
    fn default() -> Self {
        Self {
            api_key: "hyperstack-sandbox-key".to_owned(),
            fixtures: HyperstackFixtures::default(),
            faults: Faults::default(),
            limit: IpLimit::default(),
            assign: AssignMode::default(),
            role_list: RoleList::default(),
        }
    }
}

/// Counts requests in a sliding window and blocks everything for a while once over.
struct IpGate {
    limit: IpLimit,
    recent: VecDeque<Instant>,
    blocked_until: Option<Instant>,
    blocks: u32,
}

impl IpGate {
    fn new(limit: IpLimit) -> Self {
        Self {
            limit,
            recent: VecDeque::new(),
            blocked_until: None,
            blocks: 0,
        }
    }

    /// Whether a request arriving at `now` is served.
    fn admit(&mut self, now: Instant) -> bool {
        if self.blocked_until.is_some_and(|until| now < until) {
            return false;
        }
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.limit.per)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= self.limit.requests as usize {
            self.blocked_until = Some(now + self.limit.block);
            self.blocks += 1;
            self.recent.clear();
            return false;
        }
        self.recent.push_back(now);
        true
    }
}

struct Member {
    id: u64,
    owner: bool,
    joined_at: String,
    /// The RBAC roles the member holds, in the order they were assigned.
    rbac_roles: Vec<u64>,
}

impl Member {
    fn assign(&mut self, role: u64, mode: AssignMode) {
        match mode {
            AssignMode::Replace => self.rbac_roles = vec![role],
            AssignMode::Add if !self.rbac_roles.contains(&role) => self.rbac_roles.push(role),
            AssignMode::Add => {}
        }
    }

    fn to_json(&self, roles: &BTreeMap<u64, Role>, form: RoleList) -> Value {
        let listed: Vec<Value> = self
            .rbac_roles
            .iter()
            .filter_map(|id| roles.get(id))
            .map(|r| match form {
                RoleList::Objects => json!({"name": r.name}),
                RoleList::Ids => json!(r.id),
            })
            .collect();
        // The SDK's `Optional[List]`: a member without a role is listed with null.
        let rbac_roles = if listed.is_empty() {
            Value::Null
        } else {
            Value::Array(listed)
        };
        json!({
            "id": self.id,
            "email": format!("user{}@example.com", self.id),
            "username": format!("user{}", self.id),
            "name": format!("User {}", self.id),
            "sub": format!("sub-{}", self.id),
            "role": if self.owner { "Owner" } else { "Member" },
            "rbac_roles": rbac_roles,
            "joined_at": self.joined_at,
            "last_login": Value::Null,
        })
    }
}

struct Role {
    id: u64,
    name: String,
    created_at: String,
}

impl Role {
    /// The role with permissions and policies derived from its name, as the API details it.
    fn to_json(&self) -> Value {
        let actions: &[&str] = match self.name.as_str() {
            "admin" => &["create", "read", "update", "delete"],
            "viewer" => &["read"],
            _ => &["create", "read", "update"],
        };
        let permissions: Vec<Value> = ["virtual-machine", "volume"]
            .iter()
            .flat_map(|resource| actions.iter().map(move |a| (resource, a)))
            .enumerate()
            .map(|(i, (resource, action))| {
                json!({"id": self.id * 100 + i as u64, "resource": resource, "permission": action})
            })
            .collect();
        json!({
            "id": self.id,
            "name": self.name,
            "description": format!("{} access", self.name),
            "created_at": self.created_at,
            "permissions": permissions,
            "policies": [{
                "id": self.id * 10,
                "name": format!("{}-policy", self.name),
                "description": format!("Policy of the {} role", self.name),
            }],
        })
    }
}

struct Org {
    api_key: String,
    members: BTreeMap<u64, Member>,
    roles: BTreeMap<u64, Role>,
    gate: IpGate,
}

struct Inner {
    fixtures: HyperstackFixtures,
    assign: AssignMode,
    role_list: RoleList,
    state: Mutex<Org>,
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, Org> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

fn role_names(roles: &BTreeMap<u64, Role>, ids: &[u64]) -> Vec<String> {
    ids.iter()
        .filter_map(|id| roles.get(id))
        .map(|r| r.name.clone())
        .collect()
}

/// Hyperstack's error body.
fn error_body(status: u16, message: &str) -> Value {
    let reason = match status {
        400 => "bad_request",
        401 => "unauthorized",
        404 => "not_found",
        429 => "too_many_requests",
        _ => "internal_server_error",
    };
    json!({"status": false, "message": message, "error_reason": reason})
}

/// A Hyperstack error answer; handlers return it with `?`.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(error_body(self.0.as_u16(), &self.1))).into_response()
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError(status, message.into())
}

fn authorize(inner: &Inner, headers: &HeaderMap) -> Result<(), ApiError> {
    let presented = headers.get("api_key").and_then(|v| v.to_str().ok());
    match presented {
        Some(key) if key == inner.state().api_key => Ok(()),
        _ => Err(error(
            StatusCode::UNAUTHORIZED,
            "Invalid or missing API key",
        )),
    }
}

fn id_param(raw: &str, what: &str) -> Result<u64, ApiError> {
    raw.parse().map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            format!("{what} must be an integer"),
        )
    })
}

/// Every request counts against the IP's budget, authenticated or not.
async fn gate(State(inner): State<Arc<Inner>>, request: Request, next: Next) -> Response {
    if inner.state().gate.admit(Instant::now()) {
        next.run(request).await
    } else {
        error(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests: this IP is blocked for a minute",
        )
        .into_response()
    }
}

async fn organization(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&inner, &headers)?;
    let state = inner.state();
    let users: Vec<Value> = state
        .members
        .values()
        .map(|m| m.to_json(&state.roles, inner.role_list))
        .collect();
    Ok(axum::Json(json!({
        "status": true,
        "message": "Getting organization details successful",
        "organization": {
            "id": inner.fixtures.organization_id,
            "name": inner.fixtures.organization_name,
            "created_at": "2024-01-01T00:00:00Z",
            "credit": 1000,
            "threshold": 0,
            "total_instances": 0,
            "total_volumes": 0,
            "total_containers": 0,
            "total_clusters": 0,
            "users": users,
        },
    }))
    .into_response())
}

async fn list_roles(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&inner, &headers)?;
    let roles: Vec<Value> = inner.state().roles.values().map(Role::to_json).collect();
    Ok(axum::Json(json!({
        "status": true,
        "message": "Getting RBAC roles successful",
        "roles": roles,
    }))
    .into_response())
}

async fn get_role(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    authorize(&inner, &headers)?;
    let id = id_param(&raw_id, "id")?;
    let state = inner.state();
    let role = state
        .roles
        .get(&id)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("Role {id} not found")))?;
    // The single-role answer names its field `roles`, as the API does.
    Ok(axum::Json(json!({
        "status": true,
        "message": "Getting RBAC role successful",
        "roles": role.to_json(),
    }))
    .into_response())
}

fn role_id_of(raw: &[u8]) -> Result<u64, ApiError> {
    let body: Value = serde_json::from_slice(raw)
        .map_err(|_| error(StatusCode::BAD_REQUEST, "request body is not valid JSON"))?;
    body.get("role_id").and_then(Value::as_u64).ok_or_else(|| {
        error(
            StatusCode::BAD_REQUEST,
            "role_id is required and must be an integer",
        )
    })
}

async fn assign(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(raw_user): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&inner, &headers)?;
    let user = id_param(&raw_user, "user_id")?;
    let role_id = role_id_of(&body)?;
    let mut state = inner.state();
    let role = state
        .roles
        .get(&role_id)
        .map(Role::to_json)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("Role {role_id} not found")))?;
    let member = state.members.get_mut(&user).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            format!("User {user} is not a member of the organization"),
        )
    })?;
    member.assign(role_id, inner.assign);
    Ok(axum::Json(json!({
        "status": true,
        "message": "Assigning RBAC Role success",
        "role": role,
    }))
    .into_response())
}

async fn remove(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(raw_user): Path<String>,
) -> Result<Response, ApiError> {
    authorize(&inner, &headers)?;
    let user = id_param(&raw_user, "user_id")?;
    let mut state = inner.state();
    let member = state.members.get_mut(&user).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            format!("User {user} is not a member of the organization"),
        )
    })?;
    // The answer to removing from a member without a role is undocumented.
    if std::mem::take(&mut member.rbac_roles).is_empty() {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("User {user} has no role assigned"),
        ));
    }
    Ok(axum::Json(json!({
        "status": true,
        "message": "RBAC member role deleted successfully",
    }))
    .into_response())
}

/// A running Hyperstack simulator.
pub struct HyperstackSim {
    server: SimServer,
    inner: Arc<Inner>,
}

impl HyperstackSim {
    pub async fn start(config: HyperstackSimConfig) -> std::io::Result<HyperstackSim> {
        let joined = now();
        let members = config
            .fixtures
            .user_ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let member = Member {
                    id: *id,
                    owner: i == 0,
                    joined_at: joined.clone(),
                    rbac_roles: Vec::new(),
                };
                (*id, member)
            })
            .collect();
        let roles = config
            .fixtures
            .roles
            .iter()
            .map(|r| {
                let role = Role {
                    id: r.id,
                    name: r.name.clone(),
                    created_at: joined.clone(),
                };
                (r.id, role)
            })
            .collect();
        let inner = Arc::new(Inner {
            fixtures: config.fixtures,
            assign: config.assign,
            role_list: config.role_list,
            state: Mutex::new(Org {
                api_key: config.api_key,
                members,
                roles,
                gate: IpGate::new(config.limit),
            }),
        });
        let api = Router::new()
            .route("/auth/organizations", get(organization))
            .route("/auth/roles", get(list_roles))
            .route("/auth/roles/{id}", get(get_role))
            .route("/auth/users/{user_id}/assign-roles", put(assign))
            .route("/auth/users/{user_id}/roles", delete(remove))
            .layer(axum::middleware::from_fn_with_state(inner.clone(), gate))
            .with_state(inner.clone());
        let router = Router::new().nest("/v1", api);
        let server = SimServer::start(router, config.faults, error_body).await?;
        Ok(HyperstackSim { server, inner })
    }

    /// What a ProviderConfig's endpoint would hold: `http://127.0.0.1:PORT/v1`.
    pub fn endpoint(&self) -> String {
        format!("{}/v1", self.server.endpoint())
    }

    /// Rotates the accepted key; the old one is refused from now on.
    pub fn set_api_key(&self, key: &str) {
        self.inner.state().api_key = key.to_owned();
    }

    /// The names of the RBAC roles `user` holds, in the order they were assigned.
    pub fn roles_of(&self, user: u64) -> Vec<String> {
        let state = self.inner.state();
        state
            .members
            .get(&user)
            .map(|m| role_names(&state.roles, &m.rbac_roles))
            .unwrap_or_default()
    }

    /// The name of the one RBAC role `user` holds; `None` when none or several.
    pub fn role_of(&self, user: u64) -> Option<String> {
        match self.roles_of(user).as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        }
    }

    /// Every member holding an RBAC role, with those roles' names.
    pub fn assigned(&self) -> BTreeMap<u64, Vec<String>> {
        let state = self.inner.state();
        state
            .members
            .values()
            .filter(|m| !m.rbac_roles.is_empty())
            .map(|m| (m.id, role_names(&state.roles, &m.rbac_roles)))
            .collect()
    }

    /// Someone else gives a member exactly these roles (none removes them all); false
    /// when the user or a role does not exist.
    pub fn set_roles(&self, user: u64, names: &[&str]) -> bool {
        let mut state = self.inner.state();
        let Some(ids) = names
            .iter()
            .map(|name| state.roles.values().find(|r| r.name == *name).map(|r| r.id))
            .collect::<Option<Vec<u64>>>()
        else {
            return false;
        };
        match state.members.get_mut(&user) {
            Some(member) => {
                member.rbac_roles = ids;
                true
            }
            None => false,
        }
    }

    /// Someone else assigns a role through the API, as [`AssignMode`] says; false when
    /// the user or role does not exist.
    pub fn assign_role(&self, user: u64, name: &str) -> bool {
        let mut state = self.inner.state();
        let Some(id) = state.roles.values().find(|r| r.name == name).map(|r| r.id) else {
            return false;
        };
        match state.members.get_mut(&user) {
            Some(member) => {
                member.assign(id, self.inner.assign);
                true
            }
            None => false,
        }
    }

    /// Someone creates a role; returns its id.
    pub fn add_role(&self, name: &str) -> u64 {
        let mut state = self.inner.state();
        let id = state.roles.keys().next_back().map_or(1, |last| last + 1);
        state.roles.insert(
            id,
            Role {
                id,
                name: name.to_owned(),
                created_at: now(),
            },
        );
        id
    }

    /// How often the request limit was exceeded (each time blocking everyone).
    pub fn blocks(&self) -> u32 {
        self.inner.state().gate.blocks
    }

    pub fn requests(&self) -> Vec<RequestLog> {
        self.server.requests()
    }

    pub fn faults(&self) -> &Faults {
        self.server.faults()
    }

    pub fn fixtures(&self) -> &HyperstackFixtures {
        &self.inner.fixtures
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_blocks_for_the_block_time_once_over_the_limit() {
        let mut gate = IpGate::new(IpLimit {
            requests: 3,
            per: Duration::from_secs(60),
            block: Duration::from_secs(60),
        });
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert!(gate.admit(at(0)) && gate.admit(at(1)) && gate.admit(at(2)));
        assert!(
            !gate.admit(at(3)),
            "the fourth request in a minute is refused"
        );
        assert_eq!(gate.blocks, 1);
        // The window has room again after a minute, but the block lasts a minute from the refusal.
        assert!(!gate.admit(at(62)));
        assert!(gate.admit(at(63)));
        assert_eq!(gate.blocks, 1);
    }

    fn member(roles: Vec<u64>) -> Member {
        Member {
            id: 7,
            owner: false,
            joined_at: now(),
            rbac_roles: roles,
        }
    }

    #[test]
    fn assign_replaces_or_adds_as_the_mode_says() {
        let mut replaced = member(vec![1]);
        replaced.assign(2, AssignMode::Replace);
        assert_eq!(replaced.rbac_roles, [2]);
        let mut added = member(vec![1]);
        added.assign(2, AssignMode::Add);
        added.assign(2, AssignMode::Add);
        assert_eq!(added.rbac_roles, [1, 2]);
    }

    #[test]
    fn role_lists_are_objects_ids_or_null() {
        let roles: BTreeMap<u64, Role> = [(
            3,
            Role {
                id: 3,
                name: "viewer".into(),
                created_at: now(),
            },
        )]
        .into();
        let held = member(vec![3]);
        assert_eq!(
            held.to_json(&roles, RoleList::Objects)["rbac_roles"],
            json!([{"name": "viewer"}])
        );
        assert_eq!(
            held.to_json(&roles, RoleList::Ids)["rbac_roles"],
            json!([3])
        );
        assert!(member(vec![]).to_json(&roles, RoleList::Objects)["rbac_roles"].is_null());
    }

    #[test]
    fn gate_window_slides() {
        let mut gate = IpGate::new(IpLimit {
            requests: 2,
            per: Duration::from_secs(10),
            block: Duration::from_secs(60),
        });
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert!(gate.admit(at(0)) && gate.admit(at(9)));
        assert!(gate.admit(at(10)), "the request at 0s has left the window");
        assert!(!gate.admit(at(11)), "9s and 10s are still in it");
    }
}
