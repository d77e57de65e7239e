//! A simulator of Harness's v1 role-assignment API at account, organization and project
//! scope (`/v1/role-assignments`, `/v1/orgs/{org}/...`, `/v1/orgs/{org}/projects/{project}/...`).
//!
//! Errors use the NG body `{status, code, message, correlationId}`. A duplicate create
//! (same identifier, or same resource group, role and principal in the scope) is refused
//! with 400 `DUPLICATE_FIELD`, the NG behaviour (UNCONFIRMED for v1, which may use 409).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde_json::{Value, json};

use super::{Faults, RequestLog, SimServer};

const DEFAULT_LIMIT: u64 = 30;
const MAX_LIMIT: u64 = 100;

/// A project of an organization.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ProjectRef {
    pub org: String,
    pub project: String,
}

/// What the simulated account holds. Roles and resource groups exist at every scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HarnessFixtures {
    pub orgs: Vec<String>,
    pub projects: Vec<ProjectRef>,
    pub users: Vec<String>,
    pub user_groups: Vec<String>,
    pub service_accounts: Vec<String>,
    pub roles: Vec<String>,
    pub resource_groups: Vec<String>,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

impl Default for HarnessFixtures {
    fn default() -> Self {
        Self {
            orgs: strings(&["default", "platform"]),
            projects: [
                ("default", "payments"),
                ("default", "checkout"),
                ("platform", "infra"),
            ]
            .iter()
            .map(|(org, project)| ProjectRef {
                org: (*org).to_owned(),
                project: (*project).to_owned(),
            })
            .collect(),
            users: strings(&["alice", "bob", "carol", "dave"]),
            user_groups: strings(&["developers", "sre", "auditors"]),
            service_accounts: strings(&["ci_bot", "deployer"]),
            roles: strings(&[
                "_account_viewer",
                "_account_admin",
                "_organization_viewer",
                "_organization_admin",
                "_project_viewer",
                "_project_admin",
                "_pipeline_executor",
            ]),
            resource_groups: strings(&[
                "_all_resources_including_child_scopes",
                "_all_account_level_resources",
                "_all_organization_level_resources",
                "_all_project_level_resources",
            ]),
        }
    }
}

#[derive(Clone)]
pub struct HarnessSimConfig {
    pub api_key: String,
    pub account_id: String,
    pub fixtures: HarnessFixtures,
    pub faults: Faults,
}

impl Default for HarnessSimConfig {
    fn default() -> Self {
        Self {
            api_key: "harness-sandbox-key".to_owned(),
            account_id: "sandbox_account".to_owned(),
            fixtures: HarnessFixtures::default(),
            faults: Faults::default(),
        }
    }
}

/// Where an assignment lives: no org is the account, an org without project the org.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct ScopeKey {
    org: Option<String>,
    project: Option<String>,
}

impl ScopeKey {
    fn depth(&self) -> u8 {
        match (&self.org, &self.project) {
            (None, _) => 0,
            (Some(_), None) => 1,
            (Some(_), Some(_)) => 2,
        }
    }
}

#[derive(Clone, Debug)]
struct Record {
    body: Value,
    created: i64,
    updated: i64,
}

impl Record {
    fn to_json(&self) -> Value {
        json!({
            "role-assignment": self.body,
            "created": self.created,
            "updated": self.updated,
            "harness_managed": false,
        })
    }

    fn identifier(&self) -> &str {
        self.body["identifier"].as_str().unwrap_or_default()
    }

    /// (resource group, role, principal type, principal identifier): unique per scope.
    fn grant(&self) -> String {
        let b = &self.body;
        format!(
            "{}|{}|{}|{}",
            b["resource_group"].as_str().unwrap_or_default(),
            b["role"].as_str().unwrap_or_default(),
            b["principal"]["type"].as_str().unwrap_or_default(),
            b["principal"]["identifier"].as_str().unwrap_or_default()
        )
    }
}

#[derive(Default)]
struct ScopeStore {
    /// By creation sequence: the default list order.
    by_seq: BTreeMap<u64, Record>,
    by_id: HashMap<String, u64>,
    grants: HashSet<String>,
}

impl ScopeStore {
    fn insert(&mut self, seq: u64, record: Record) {
        self.by_id.insert(record.identifier().to_owned(), seq);
        self.grants.insert(record.grant());
        self.by_seq.insert(seq, record);
    }

    fn get(&self, identifier: &str) -> Option<&Record> {
        self.by_id.get(identifier).and_then(|s| self.by_seq.get(s))
    }

    fn remove(&mut self, identifier: &str) -> Option<Record> {
        let seq = self.by_id.remove(identifier)?;
        let record = self.by_seq.remove(&seq)?;
        self.grants.remove(&record.grant());
        Some(record)
    }
}

struct Store {
    api_key: String,
    next_seq: u64,
    scopes: BTreeMap<ScopeKey, ScopeStore>,
}

struct Inner {
    account_id: String,
    fixtures: HarnessFixtures,
    store: Mutex<Store>,
}

impl Inner {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn principal_exists(&self, kind: &str, identifier: &str) -> Option<bool> {
        let list = match kind {
            "USER" => &self.fixtures.users,
            "USER_GROUP" => &self.fixtures.user_groups,
            "SERVICE_ACCOUNT" => &self.fixtures.service_accounts,
            _ => return None,
        };
        Some(list.iter().any(|p| p == identifier))
    }
}

/// Harness's NG error body.
fn error_body(status: u16, message: &str) -> Value {
    let code = match status {
        401 => "INVALID_CREDENTIAL",
        403 => "ACCESS_DENIED",
        404 => "ENTITY_NOT_FOUND",
        400 => "INVALID_REQUEST",
        429 => "TOO_MANY_REQUESTS",
        _ => "UNEXPECTED",
    };
    json!({
        "status": "ERROR",
        "code": code,
        "message": message,
        "correlationId": uuid::Uuid::new_v4().to_string(),
    })
}

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

fn coded(status: StatusCode, code: &str, message: &str) -> ApiError {
    let mut body = error_body(status.as_u16(), message);
    body["code"] = json!(code);
    ApiError { status, body }
}

fn invalid(message: &str) -> ApiError {
    error(StatusCode::BAD_REQUEST, message)
}

fn not_found(message: &str) -> ApiError {
    error(StatusCode::NOT_FOUND, message)
}

fn authorize(inner: &Inner, headers: &HeaderMap) -> Result<(), ApiError> {
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    if key.is_none_or(|k| k != inner.store().api_key) {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "Invalid API token or the token has expired",
        ));
    }
    // Optional with an API key, but when sent it must name the key's account.
    if let Some(account) = headers.get("harness-account")
        && account.to_str().ok() != Some(inner.account_id.as_str())
    {
        return Err(error(
            StatusCode::FORBIDDEN,
            "The API key does not belong to the account in the Harness-Account header",
        ));
    }
    Ok(())
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 128
}

fn scope_of(
    inner: &Inner,
    org: Option<String>,
    project: Option<String>,
) -> Result<ScopeKey, ApiError> {
    if let Some(o) = &org
        && !inner.fixtures.orgs.contains(o)
    {
        return Err(not_found(&format!(
            "Organization with identifier [{o}] not found"
        )));
    }
    if let (Some(o), Some(p)) = (&org, &project)
        && !inner
            .fixtures
            .projects
            .iter()
            .any(|r| &r.org == o && &r.project == p)
    {
        return Err(not_found(&format!(
            "Project with identifier [{p}] not found in organization [{o}]"
        )));
    }
    Ok(ScopeKey { org, project })
}

fn describe(scope: &ScopeKey) -> String {
    match (&scope.org, &scope.project) {
        (None, _) => "the account".to_owned(),
        (Some(o), None) => format!("organization [{o}]"),
        (Some(o), Some(p)) => format!("project [{p}] of organization [{o}]"),
    }
}

fn string_field<'a>(body: &'a Value, field: &str) -> Result<&'a str, ApiError> {
    body.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid(&format!("{field}: must not be empty")))
}

/// Validates a create body like Harness does and returns what will be stored.
fn parse_create(inner: &Inner, scope: &ScopeKey, raw: &[u8]) -> Result<Value, ApiError> {
    let body: Value =
        serde_json::from_slice(raw).map_err(|_| invalid("Request body is not valid JSON"))?;
    let identifier = string_field(&body, "identifier")?;
    if !is_identifier(identifier) {
        return Err(invalid(&format!(
            "identifier: {identifier} is not a valid identifier"
        )));
    }
    let role = string_field(&body, "role")?;
    let resource_group = string_field(&body, "resource_group")?;
    let principal = body
        .get("principal")
        .filter(|p| p.is_object())
        .ok_or_else(|| invalid("principal: must not be null"))?;
    let kind = string_field(principal, "type")?;
    let who = string_field(principal, "identifier")?;
    let level = match principal.get("scope_level") {
        None | Some(Value::Null) => None,
        Some(Value::String(l)) => Some(l.as_str()),
        Some(_) => return Err(invalid("principal.scope_level: must be a string")),
    };
    if let Some(level) = level {
        let depth = match level {
            "account" => 0,
            "organization" => 1,
            "project" => 2,
            other => {
                return Err(invalid(&format!(
                    "principal.scope_level: {other} is not one of account, organization, project"
                )));
            }
        };
        if depth > scope.depth() {
            return Err(invalid(&format!(
                "A principal at {level} level cannot be assigned a role in {}",
                describe(scope)
            )));
        }
    }
    let disabled = match body.get("disabled") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("disabled: must be a boolean")),
    };
    if !inner.fixtures.roles.iter().any(|r| r == role) {
        return Err(not_found(&format!(
            "Role with identifier [{role}] not found in {}",
            describe(scope)
        )));
    }
    if !inner
        .fixtures
        .resource_groups
        .iter()
        .any(|g| g == resource_group)
    {
        return Err(not_found(&format!(
            "Resource group with identifier [{resource_group}] not found in {}",
            describe(scope)
        )));
    }
    match inner.principal_exists(kind, who) {
        None => {
            return Err(invalid(&format!(
                "principal.type: {kind} is not one of USER, USER_GROUP, SERVICE_ACCOUNT"
            )));
        }
        Some(false) => {
            return Err(not_found(&format!("Principal {kind} [{who}] not found")));
        }
        Some(true) => {}
    }
    let mut principal_out = json!({"identifier": who, "type": kind});
    if let Some(level) = level {
        principal_out["scope_level"] = json!(level);
    }
    Ok(json!({
        "identifier": identifier,
        "resource_group": resource_group,
        "role": role,
        "principal": principal_out,
        "disabled": disabled,
        "managed": false,
    }))
}

fn now_millis() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn page_param(params: &HashMap<String, String>, name: &str, default: u64) -> Result<u64, ApiError> {
    params.get(name).map_or(Ok(default), |v| {
        v.parse()
            .map_err(|_| invalid(&format!("{name}: {v} is not a number")))
    })
}

fn header(n: impl ToString) -> HeaderValue {
    HeaderValue::from_str(&n.to_string()).unwrap_or(HeaderValue::from_static("0"))
}

async fn list(
    inner: &Inner,
    headers: &HeaderMap,
    scope: ScopeKey,
    params: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    authorize(inner, headers)?;
    let scope = scope_of(inner, scope.org, scope.project)?;
    let page = page_param(params, "page", 0)?;
    let limit = page_param(params, "limit", DEFAULT_LIMIT)?;
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(invalid("limit: must be between 1 and 100"));
    }
    let store = inner.store();
    let (total, items) = match store.scopes.get(&scope) {
        None => (0, Vec::new()),
        Some(s) => (
            s.by_seq.len(),
            s.by_seq
                .values()
                .skip(usize::try_from(page.saturating_mul(limit)).unwrap_or(usize::MAX))
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .map(Record::to_json)
                .collect(),
        ),
    };
    let mut response = axum::Json(Value::Array(items)).into_response();
    let h = response.headers_mut();
    h.insert("X-Total-Elements", header(total));
    h.insert("X-Page-Number", header(page));
    h.insert("X-Page-Size", header(limit));
    Ok(response)
}

async fn create(
    inner: &Inner,
    headers: &HeaderMap,
    scope: ScopeKey,
    body: &[u8],
) -> Result<Response, ApiError> {
    authorize(inner, headers)?;
    let scope = scope_of(inner, scope.org, scope.project)?;
    let assignment = parse_create(inner, &scope, body)?;
    let now = now_millis();
    let record = Record {
        body: assignment,
        created: now,
        updated: now,
    };
    let mut store = inner.store();
    store.next_seq += 1;
    let seq = store.next_seq;
    let scoped = store.scopes.entry(scope.clone()).or_default();
    if scoped.by_id.contains_key(record.identifier()) {
        return Err(coded(
            StatusCode::BAD_REQUEST,
            "DUPLICATE_FIELD",
            &format!(
                "A role assignment with identifier [{}] already exists in {}",
                record.identifier(),
                describe(&scope)
            ),
        ));
    }
    if scoped.grants.contains(&record.grant()) {
        return Err(coded(
            StatusCode::BAD_REQUEST,
            "DUPLICATE_FIELD",
            &format!(
                "A role assignment for this principal, role and resource group already exists in {}",
                describe(&scope)
            ),
        ));
    }
    let json = record.to_json();
    scoped.insert(seq, record);
    Ok((StatusCode::CREATED, axum::Json(json)).into_response())
}

async fn get_one(
    inner: &Inner,
    headers: &HeaderMap,
    scope: ScopeKey,
    id: &str,
) -> Result<Response, ApiError> {
    authorize(inner, headers)?;
    let scope = scope_of(inner, scope.org, scope.project)?;
    let store = inner.store();
    match store.scopes.get(&scope).and_then(|s| s.get(id)) {
        Some(r) => Ok(axum::Json(r.to_json()).into_response()),
        None => Err(not_found(&format!(
            "Role assignment with identifier [{id}] not found"
        ))),
    }
}

async fn delete_one(
    inner: &Inner,
    headers: &HeaderMap,
    scope: ScopeKey,
    id: &str,
) -> Result<Response, ApiError> {
    authorize(inner, headers)?;
    let scope = scope_of(inner, scope.org, scope.project)?;
    let removed = inner
        .store()
        .scopes
        .get_mut(&scope)
        .and_then(|s| s.remove(id));
    match removed {
        Some(r) => Ok(axum::Json(r.to_json()).into_response()),
        None => Err(not_found(&format!(
            "Role assignment with identifier [{id}] not found"
        ))),
    }
}

type Params = Query<HashMap<String, String>>;
type Shared = State<Arc<Inner>>;

fn account() -> ScopeKey {
    ScopeKey {
        org: None,
        project: None,
    }
}

fn org(org: String) -> ScopeKey {
    ScopeKey {
        org: Some(org),
        project: None,
    }
}

fn project(org: String, project: String) -> ScopeKey {
    ScopeKey {
        org: Some(org),
        project: Some(project),
    }
}

fn routes() -> Router<Arc<Inner>> {
    Router::new()
        .route(
            "/v1/role-assignments",
            get(|State(i): Shared, h: HeaderMap, Query(q): Params| async move {
                list(&i, &h, account(), &q).await
            })
            .post(|State(i): Shared, h: HeaderMap, b: Bytes| async move {
                create(&i, &h, account(), &b).await
            }),
        )
        .route(
            "/v1/role-assignments/{id}",
            get(|State(i): Shared, h: HeaderMap, Path(id): Path<String>| async move {
                get_one(&i, &h, account(), &id).await
            })
            .delete(|State(i): Shared, h: HeaderMap, Path(id): Path<String>| async move {
                delete_one(&i, &h, account(), &id).await
            }),
        )
        .route(
            "/v1/orgs/{org}/role-assignments",
            get(|State(i): Shared, h: HeaderMap, Path(o): Path<String>, Query(q): Params| async move {
                list(&i, &h, org(o), &q).await
            })
            .post(|State(i): Shared, h: HeaderMap, Path(o): Path<String>, b: Bytes| async move {
                create(&i, &h, org(o), &b).await
            }),
        )
        .route(
            "/v1/orgs/{org}/role-assignments/{id}",
            get(|State(i): Shared, h: HeaderMap, Path((o, id)): Path<(String, String)>| async move {
                get_one(&i, &h, org(o), &id).await
            })
            .delete(|State(i): Shared, h: HeaderMap, Path((o, id)): Path<(String, String)>| async move {
                delete_one(&i, &h, org(o), &id).await
            }),
        )
        .route(
            "/v1/orgs/{org}/projects/{project}/role-assignments",
            get(|State(i): Shared, h: HeaderMap, Path((o, p)): Path<(String, String)>, Query(q): Params| async move {
                list(&i, &h, project(o, p), &q).await
            })
            .post(|State(i): Shared, h: HeaderMap, Path((o, p)): Path<(String, String)>, b: Bytes| async move {
                create(&i, &h, project(o, p), &b).await
            }),
        )
        .route(
            "/v1/orgs/{org}/projects/{project}/role-assignments/{id}",
            get(|State(i): Shared, h: HeaderMap, Path((o, p, id)): Path<(String, String, String)>| async move {
                get_one(&i, &h, project(o, p), &id).await
            })
            .delete(|State(i): Shared, h: HeaderMap, Path((o, p, id)): Path<(String, String, String)>| async move {
                delete_one(&i, &h, project(o, p), &id).await
            }),
        )
}

/// A running Harness simulator.
pub struct HarnessSim {
    server: SimServer,
    inner: Arc<Inner>,
}

impl HarnessSim {
    pub async fn start(config: HarnessSimConfig) -> std::io::Result<HarnessSim> {
        let inner = Arc::new(Inner {
            account_id: config.account_id,
            fixtures: config.fixtures,
            store: Mutex::new(Store {
                api_key: config.api_key,
                next_seq: 0,
                scopes: BTreeMap::new(),
            }),
        });
        let router = routes().with_state(inner.clone());
        let server = SimServer::start(router, config.faults, error_body).await?;
        Ok(HarnessSim { server, inner })
    }

    /// What a ProviderConfig's endpoint would hold: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    pub fn account_id(&self) -> &str {
        &self.inner.account_id
    }

    /// Rotates the accepted key; the old one is refused from now on.
    pub fn set_api_key(&self, key: &str) {
        self.inner.store().api_key = key.to_owned();
    }

    /// Every assignment as the API would return it, plus its scope as `org` and `project`
    /// (null at the account), ordered by scope and creation.
    pub fn assignments(&self) -> Vec<Value> {
        let store = self.inner.store();
        store
            .scopes
            .iter()
            .flat_map(|(scope, s)| {
                s.by_seq.values().map(move |r| {
                    let mut v = r.to_json();
                    v["org"] = json!(scope.org);
                    v["project"] = json!(scope.project);
                    v
                })
            })
            .collect()
    }

    /// An assignment someone else made, given as a v1 create body; validated like a create.
    pub fn insert_assignment(
        &self,
        org: Option<&str>,
        project: Option<&str>,
        body: Value,
    ) -> Result<(), String> {
        let reason = |e: ApiError| e.body["message"].as_str().unwrap_or_default().to_owned();
        let scope = scope_of(
            &self.inner,
            org.map(str::to_owned),
            project.map(str::to_owned),
        )
        .map_err(reason)?;
        let assignment =
            parse_create(&self.inner, &scope, body.to_string().as_bytes()).map_err(reason)?;
        let now = now_millis();
        let record = Record {
            body: assignment,
            created: now,
            updated: now,
        };
        let mut store = self.inner.store();
        store.next_seq += 1;
        let seq = store.next_seq;
        let scoped = store.scopes.entry(scope).or_default();
        if scoped.by_id.contains_key(record.identifier()) || scoped.grants.contains(&record.grant())
        {
            return Err("duplicate role assignment".to_owned());
        }
        scoped.insert(seq, record);
        Ok(())
    }

    /// Someone deleted an assignment; false when it did not exist.
    pub fn remove_assignment(
        &self,
        org: Option<&str>,
        project: Option<&str>,
        identifier: &str,
    ) -> bool {
        let scope = ScopeKey {
            org: org.map(str::to_owned),
            project: project.map(str::to_owned),
        };
        self.inner
            .store()
            .scopes
            .get_mut(&scope)
            .and_then(|s| s.remove(identifier))
            .is_some()
    }

    pub fn requests(&self) -> Vec<RequestLog> {
        self.server.requests()
    }

    pub fn faults(&self) -> &Faults {
        self.server.faults()
    }

    pub fn fixtures(&self) -> &HarnessFixtures {
        &self.inner.fixtures
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}
