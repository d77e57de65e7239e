//! A simulator of Gcore Cloud's role-assignment API (`/cloud/v1/users/assignments`).
//!
//! Routes, bodies and errors follow the official SDK (PyPI `gcore` 0.59.0,
//! `client.cloud.users.role_assignments`) and the API reference. Whether one user may hold
//! several roles for the same client and project is undocumented: [`RolesPerProject`]
//! plays either reading.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use serde_json::{Value, json};

use super::{Faults, RequestLog, SimServer};

/// How many assignments one user may hold for the same client and project.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum RolesPerProject {
    /// One: a second create (or an update onto a held key) is refused with 409. The most
    /// likely reading: the portal edits *the* role of a user in a project ("Manage user
    /// access": "Change the user role in the column Role"; "Delete role" leaves the user
    /// "No-access"). The status of the refusal is undocumented.
    #[default]
    One,
    /// Any number, identical ones included: each create is a new assignment.
    Several,
}

const ROLES: [&str; 5] = [
    "ClientAdministrator",
    "InternalNetworkOnlyUser",
    "Observer",
    "ProjectAdministrator",
    "User",
];
const MAX_LIMIT: u64 = 1000;
/// The user the simulated API key belongs to: recorded as `assigned_by` of its writes.
const KEY_OWNER: u64 = 1;

/// The users, client and projects the simulated account knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GcoreFixtures {
    pub client_id: u64,
    pub user_ids: Vec<u64>,
    pub project_ids: Vec<u64>,
}

impl Default for GcoreFixtures {
    fn default() -> Self {
        Self {
            client_id: 8,
            user_ids: (777..=799).chain(1001..=1005).collect(),
            project_ids: (123..=130).chain(200..=203).collect(),
        }
    }
}

#[derive(Clone)]
pub struct GcoreSimConfig {
    pub api_key: String,
    pub fixtures: GcoreFixtures,
    pub faults: Faults,
    pub roles_per_project: RolesPerProject,
}

impl Default for GcoreSimConfig {
    fn default() -> Self {
        Self {
            api_key: "gcore-sandbox-key".to_owned(),
            fixtures: GcoreFixtures::default(),
            faults: Faults::default(),
            roles_per_project: RolesPerProject::default(),
        }
    }
}

#[derive(Clone, Debug)]
struct Record {
    id: u64,
    user_id: u64,
    role: String,
    client_id: u64,
    project_id: Option<u64>,
    assigned_by: Option<u64>,
    created_at: String,
    updated_at: Option<String>,
}

impl Record {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "user_id": self.user_id,
            "role": self.role,
            "client_id": self.client_id,
            "project_id": self.project_id,
            "assigned_by": self.assigned_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

struct Store {
    api_key: String,
    next_id: u64,
    /// Ordered by id so that offset paging is stable.
    by_id: BTreeMap<u64, Record>,
    by_user: HashMap<u64, BTreeSet<u64>>,
}

impl Store {
    fn insert(&mut self, record: Record) {
        self.by_user
            .entry(record.user_id)
            .or_default()
            .insert(record.id);
        self.by_id.insert(record.id, record);
    }

    fn remove(&mut self, id: u64) -> Option<Record> {
        let record = self.by_id.remove(&id)?;
        if let Some(ids) = self.by_user.get_mut(&record.user_id) {
            ids.remove(&id);
        }
        Some(record)
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// An assignment other than `except` the user holds for this client and project.
    fn held(
        &self,
        user: u64,
        client: u64,
        project: Option<u64>,
        except: Option<u64>,
    ) -> Option<u64> {
        self.by_user
            .get(&user)?
            .iter()
            .filter_map(|id| self.by_id.get(id))
            .find(|r| r.client_id == client && r.project_id == project && Some(r.id) != except)
            .map(|r| r.id)
    }
}

struct Inner {
    roles_per_project: RolesPerProject,
    fixtures: GcoreFixtures,
    users: HashSet<u64>,
    projects: HashSet<u64>,
    store: Mutex<Store>,
}

impl Inner {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running Gcore simulator.
pub struct GcoreSim {
    server: SimServer,
    inner: Arc<Inner>,
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// Gcore's error body.
fn error_body(status: u16, message: &str) -> Value {
    let class = match status {
        401 => "NotAuthenticated",
        404 => "NotFound",
        409 => "Conflict",
        400 | 422 => "ValidationError",
        429 => "TooManyRequests",
        _ => "InternalServerError",
    };
    json!({
        "exception_class": class,
        "message": message,
        "request_id": uuid::Uuid::new_v4().to_string(),
    })
}

/// A Gcore error answer; handlers return it with `?`.
struct ApiError {
    status: StatusCode,
    body: Value,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

fn error(status: StatusCode, message: &str) -> ApiError {
    ApiError {
        status,
        body: error_body(status.as_u16(), message),
    }
}

fn invalid(field: &str, problem: &str) -> ApiError {
    let mut body = error_body(422, "Validation error");
    body["invalid_fields"] = json!({ field: [problem] });
    ApiError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        body,
    }
}

fn authorize(inner: &Inner, headers: &HeaderMap) -> Result<(), ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("apikey"))
        .map(|(_, key)| key.trim().to_owned());
    match presented {
        Some(key) if key == inner.store().api_key => Ok(()),
        _ => Err(error(
            StatusCode::UNAUTHORIZED,
            "Authentication credentials were not provided or are invalid.",
        )),
    }
}

fn int_param(params: &HashMap<String, String>, name: &str) -> Result<Option<u64>, ApiError> {
    params
        .get(name)
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| invalid(name, "value is not a valid integer"))
        })
        .transpose()
}

async fn list(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    authorize(&inner, &headers)?;
    let limit = int_param(&params, "limit")?.unwrap_or(MAX_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(invalid("limit", "must be between 1 and 1000"));
    }
    let offset = int_param(&params, "offset")?.unwrap_or(0);
    let user_id = int_param(&params, "user_id")?;
    let project_id = int_param(&params, "project_id")?;
    let store = inner.store();
    let project_matches = |r: &&Record| project_id.is_none_or(|p| r.project_id == Some(p));
    let (count, results): (usize, Vec<Value>) = match user_id {
        Some(user) => {
            let matching: Vec<&Record> = store
                .by_user
                .get(&user)
                .into_iter()
                .flatten()
                .filter_map(|id| store.by_id.get(id))
                .filter(project_matches)
                .collect();
            let page = page_of(matching.iter().copied(), offset, limit);
            (matching.len(), page)
        }
        None if project_id.is_none() => (
            store.by_id.len(),
            page_of(store.by_id.values(), offset, limit),
        ),
        None => {
            let matching: Vec<&Record> = store.by_id.values().filter(project_matches).collect();
            let page = page_of(matching.iter().copied(), offset, limit);
            (matching.len(), page)
        }
    };
    Ok(axum::Json(json!({ "count": count, "results": results })).into_response())
}

fn page_of<'a>(records: impl Iterator<Item = &'a Record>, offset: u64, limit: u64) -> Vec<Value> {
    records
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(Record::to_json)
        .collect()
}

/// A create/update body, validated like Gcore does.
struct WriteRequest {
    user_id: u64,
    role: String,
    client_id: Option<u64>,
    project_id: Option<u64>,
}

fn optional_int(body: &Value, field: &str) -> Result<Option<u64>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| invalid(field, "value is not a valid integer")),
    }
}

fn parse_write(inner: &Inner, raw: &[u8]) -> Result<WriteRequest, ApiError> {
    let body: Value = serde_json::from_slice(raw)
        .map_err(|_| invalid("body", "request body is not valid JSON"))?;
    if !body.is_object() {
        return Err(invalid("body", "request body must be an object"));
    }
    let user_id =
        optional_int(&body, "user_id")?.ok_or_else(|| invalid("user_id", "field required"))?;
    let role = match body.get("role") {
        Some(Value::String(r)) if ROLES.contains(&r.as_str()) => r.clone(),
        Some(Value::String(_)) => {
            return Err(invalid(
                "role",
                &format!(
                    "value is not a valid enumeration member; permitted: {}",
                    ROLES.join(", ")
                ),
            ));
        }
        _ => return Err(invalid("role", "field required")),
    };
    let client_id = optional_int(&body, "client_id")?;
    let project_id = optional_int(&body, "project_id")?;
    if project_id.is_some() && client_id.is_none() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "client_id is required when project_id is set",
        ));
    }
    if let Some(client) = client_id
        && client != inner.fixtures.client_id
    {
        return Err(error(
            StatusCode::NOT_FOUND,
            &format!("Client {client} not found"),
        ));
    }
    if !inner.users.contains(&user_id) {
        return Err(error(
            StatusCode::NOT_FOUND,
            &format!("User {user_id} not found"),
        ));
    }
    if let Some(project) = project_id
        && !inner.projects.contains(&project)
    {
        return Err(error(
            StatusCode::NOT_FOUND,
            &format!("Project {project} not found"),
        ));
    }
    Ok(WriteRequest {
        user_id,
        role,
        client_id,
        project_id,
    })
}

async fn create(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&inner, &headers)?;
    let write = parse_write(&inner, &body)?;
    let mut store = inner.store();
    let client_id = write.client_id.unwrap_or(inner.fixtures.client_id);
    refuse_a_second_role(&inner, &store, &write, client_id, None)?;
    let record = Record {
        id: store.next_id(),
        user_id: write.user_id,
        role: write.role,
        client_id,
        project_id: write.project_id,
        assigned_by: Some(KEY_OWNER),
        created_at: now(),
        updated_at: None,
    };
    let json = record.to_json();
    store.insert(record);
    Ok(axum::Json(json).into_response())
}

/// With [`RolesPerProject::One`], the user's one assignment for the client and project
/// (other than `except`, the one being updated) refuses another.
fn refuse_a_second_role(
    inner: &Inner,
    store: &Store,
    write: &WriteRequest,
    client_id: u64,
    except: Option<u64>,
) -> Result<(), ApiError> {
    if inner.roles_per_project == RolesPerProject::Several {
        return Ok(());
    }
    match store.held(write.user_id, client_id, write.project_id, except) {
        Some(id) => Err(error(
            StatusCode::CONFLICT,
            &format!(
                "User {} already has a role here (assignment {id})",
                write.user_id
            ),
        )),
        None => Ok(()),
    }
}

fn assignment_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse()
        .map_err(|_| invalid("assignment_id", "value is not a valid integer"))
}

async fn update(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&inner, &headers)?;
    let id = assignment_id(&raw_id)?;
    let write = parse_write(&inner, &body)?;
    let mut store = inner.store();
    let Some(mut record) = store.by_id.get(&id).cloned() else {
        return Err(error(
            StatusCode::NOT_FOUND,
            &format!("Assignment {id} not found"),
        ));
    };
    let client_id = write.client_id.unwrap_or(inner.fixtures.client_id);
    refuse_a_second_role(&inner, &store, &write, client_id, Some(id))?;
    store.remove(id);
    record.user_id = write.user_id;
    record.role = write.role;
    record.client_id = client_id;
    record.project_id = write.project_id;
    record.updated_at = Some(now());
    store.insert(record);
    Ok(axum::Json(json!({ "assignment_id": id })).into_response())
}

async fn delete(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    authorize(&inner, &headers)?;
    let id = assignment_id(&raw_id)?;
    match inner.store().remove(id) {
        Some(_) => Ok(axum::Json(json!({ "assignment_id": id })).into_response()),
        None => Err(error(
            StatusCode::NOT_FOUND,
            &format!("Assignment {id} not found"),
        )),
    }
}

impl GcoreSim {
    pub async fn start(config: GcoreSimConfig) -> std::io::Result<GcoreSim> {
        let inner = Arc::new(Inner {
            roles_per_project: config.roles_per_project,
            users: config.fixtures.user_ids.iter().copied().collect(),
            projects: config.fixtures.project_ids.iter().copied().collect(),
            fixtures: config.fixtures,
            store: Mutex::new(Store {
                api_key: config.api_key,
                next_id: 0,
                by_id: BTreeMap::new(),
                by_user: HashMap::new(),
            }),
        });
        let router = Router::new()
            .route("/cloud/v1/users/assignments", get(list).post(create))
            .route(
                "/cloud/v1/users/assignments/{assignment_id}",
                patch(update).delete(delete),
            )
            .with_state(inner.clone());
        let server = SimServer::start(router, config.faults, error_body).await?;
        Ok(GcoreSim { server, inner })
    }

    /// What a ProviderConfig's endpoint would hold: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// Rotates the accepted key; the old one is refused from now on.
    pub fn set_api_key(&self, key: &str) {
        self.inner.store().api_key = key.to_owned();
    }

    /// The remote state, ordered by id, as the API would list it.
    pub fn assignments(&self) -> Vec<Value> {
        self.inner
            .store()
            .by_id
            .values()
            .map(Record::to_json)
            .collect()
    }

    /// An assignment someone else made (no validation, whatever [`RolesPerProject`] says);
    /// returns its id.
    pub fn insert_assignment(
        &self,
        user_id: u64,
        role: &str,
        client_id: Option<u64>,
        project_id: Option<u64>,
    ) -> u64 {
        let mut store = self.inner.store();
        let id = store.next_id();
        store.insert(Record {
            id,
            user_id,
            role: role.to_owned(),
            client_id: client_id.unwrap_or(self.inner.fixtures.client_id),
            project_id,
            assigned_by: None,
            created_at: now(),
            updated_at: None,
        });
        id
    }

    /// Someone deleted an assignment; false when it did not exist.
    pub fn remove_assignment(&self, id: u64) -> bool {
        self.inner.store().remove(id).is_some()
    }

    /// Someone changed an assignment's role; false when it does not exist.
    pub fn set_role(&self, id: u64, role: &str) -> bool {
        match self.inner.store().by_id.get_mut(&id) {
            Some(record) => {
                record.role = role.to_owned();
                record.updated_at = Some(now());
                true
            }
            None => false,
        }
    }

    pub fn requests(&self) -> Vec<RequestLog> {
        self.server.requests()
    }

    pub fn faults(&self) -> &Faults {
        self.server.faults()
    }

    pub fn fixtures(&self) -> &GcoreFixtures {
        &self.inner.fixtures
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}
