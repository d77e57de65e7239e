//! Gcore Cloud role assignments (`/cloud/v1/users/assignments`).
//!
//! Gcore has no read-by-id, so every observation answers from one paged list of all the
//! account's assignments, cached per client: 10,000 assignments cost ~10 list requests
//! per resync, not 10,000.
//!
//! Whether one user may hold several roles for the same client and project is
//! undocumented. Where they may, (user, client, project) names several assignments, and
//! changing "the" one could rewrite a grant someone made for another role. So rolesync
//! adopts an assignment only with the wanted role, and changes (PATCH) or deletes only the
//! one it recorded (status, or `spec.externalID`): another role's assignment it did not
//! make is never touched. Where Gcore keeps one role per user and project, it refuses the
//! create such an assignment leads to, and the refusal says how to adopt it.

mod connector;

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;

use reqwest::Method;
use reqwest::header::AUTHORIZATION;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::cache::{Change, Collection, ListCache};
use super::http::{ApiRequest, AuthHeader, HttpClient, HttpSettings, RateLimit};
use super::{
    Deletion, Difference, ExternalId, Freshness, Listed, Observed, Provider, ProviderError, or_none,
};
use crate::api::GcoreAssignmentSpec;

pub const DEFAULT_ENDPOINT: &str = "https://api.gcore.com";
const PROVIDER: &str = "gcore";
const ASSIGNMENTS: &str = "/cloud/v1/users/assignments";
/// The largest page Gcore serves.
const PAGE_SIZE: u64 = 1000;
/// A list larger than this many pages means the server's `count` cannot be trusted.
const MAX_PAGES: u64 = 10_000;
/// How often a list that changed under us is read again before giving up for now.
const LIST_ATTEMPTS: u32 = 3;

/// Gcore publishes no rate limit. 600/min with a burst of 50 keeps a full resync of
/// 10,000 assignments (~10 list pages) instant and spreads a mass create over ~17 minutes
/// at worst, well below what an account's API key is likely to tolerate.
pub fn default_rate_limit() -> RateLimit {
    RateLimit {
        requests_per_minute: NonZeroU32::new(600).unwrap_or(NonZeroU32::MIN),
        burst: NonZeroU32::new(50).unwrap_or(NonZeroU32::MIN),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Role {
    ClientAdministrator,
    InternalNetworkOnlyUser,
    Observer,
    ProjectAdministrator,
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientAdministrator => "ClientAdministrator",
            Self::InternalNetworkOnlyUser => "InternalNetworkOnlyUser",
            Self::Observer => "Observer",
            Self::ProjectAdministrator => "ProjectAdministrator",
            Self::User => "User",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! numeric_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            schemars::JsonSchema,
        )]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

numeric_id!(
    /// A Gcore user.
    UserId
);
numeric_id!(
    /// A Gcore client (account).
    ClientId
);
numeric_id!(
    /// A project inside a client.
    ProjectId
);

/// What a RoleAssignment wants in Gcore. `project = None` means a client-level assignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Assignment {
    pub user: UserId,
    pub role: Role,
    pub client: Option<ClientId>,
    pub project: Option<ProjectId>,
}

/// The identity of an assignment besides its id: one user's grant on one client/project.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct NaturalKey {
    user: u64,
    client: Option<u64>,
    project: Option<u64>,
}

impl NaturalKey {
    fn of_want(want: &Assignment) -> Self {
        Self {
            user: want.user.0,
            client: want.client.map(|c| c.0),
            project: want.project.map(|p| p.0),
        }
    }

    /// Whether a remote assignment is this one. A want without a client matches the
    /// client Gcore filled in (the API key's own).
    fn matches(&self, remote: &RemoteAssignment) -> bool {
        self.user == remote.user_id
            && self.project == remote.project_id
            && self.client.is_none_or(|c| Some(c) == remote.client_id)
    }
}

/// A role assignment as Gcore reports it. The role stays a string so that a role this
/// version of rolesync does not know still lists (it is simply never up to date).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct RemoteAssignment {
    id: u64,
    user_id: u64,
    role: String,
    client_id: Option<u64>,
    project_id: Option<u64>,
    #[serde(default)]
    assigned_by: Option<u64>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
}

impl RemoteAssignment {
    fn observed(&self, want: &Assignment) -> Observed {
        Observed {
            external_id: ExternalId::new(self.id.to_string()),
            at_provider: serde_json::to_value(self).unwrap_or(serde_json::Value::Null),
            differences: self.differences(want),
            role_name: None,
        }
    }

    /// The role, and where the assignment was found by its id, whose it is and where.
    fn differences(&self, want: &Assignment) -> Vec<Difference> {
        let key = NaturalKey::of_want(want);
        [
            Difference::of("role", &self.role, want.role),
            Difference::of("user", self.user_id, key.user),
            Difference::of("project", or_none(self.project_id), or_none(key.project)),
            // A want without a client takes the one Gcore filled in (see NaturalKey::matches).
            key.client
                .and_then(|c| Difference::of("client", or_none(self.client_id), c)),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

#[derive(Deserialize)]
struct Page {
    count: u64,
    results: Vec<RemoteAssignment>,
}

#[derive(Deserialize)]
struct AssignmentIdBody {
    assignment_id: u64,
}

#[derive(Serialize)]
struct WriteBody {
    user_id: u64,
    role: Role,
    client_id: Option<u64>,
    project_id: Option<u64>,
}

impl WriteBody {
    fn of(want: &Assignment) -> Self {
        Self {
            user_id: want.user.0,
            role: want.role,
            client_id: want.client.map(|c| c.0),
            project_id: want.project.map(|p| p.0),
        }
    }
}

/// All of the account's assignments, indexed by id and by user.
#[derive(Default)]
struct Index {
    /// Boxed: the table has room for up to twice the entries it holds, and a pointer is a
    /// tenth of an assignment's size.
    by_id: HashMap<u64, Box<RemoteAssignment>>,
    /// Each user's assignment ids, sorted. Almost always one: a Vec holds it in 8 bytes
    /// where a BTreeSet node takes 112 (a megabyte at 10,000 users).
    by_user: HashMap<u64, Vec<u64>>,
}

impl Index {
    /// The user's assignments with this natural key, lowest-numbered first.
    fn with_key(&self, key: NaturalKey) -> impl Iterator<Item = &RemoteAssignment> {
        self.by_user
            .get(&key.user)
            .into_iter()
            .flatten()
            .filter_map(|id| self.by_id.get(id).map(|a| &**a))
            .filter(move |a| key.matches(a))
    }

    /// The lowest-numbered assignment granting `want` (others may have made duplicates).
    fn find(&self, want: &Assignment) -> Option<&RemoteAssignment> {
        self.with_key(NaturalKey::of_want(want))
            .find(|a| a.role == want.role.as_str())
    }
}

impl Collection for Index {
    type Item = RemoteAssignment;
    type Key = u64;

    fn upsert(&mut self, item: RemoteAssignment) {
        if self
            .by_id
            .get(&item.id)
            .is_some_and(|old| old.user_id != item.user_id)
        {
            self.remove(&item.id);
        }
        let ids = self.by_user.entry(item.user_id).or_default();
        if let Err(i) = ids.binary_search(&item.id) {
            ids.insert(i, item.id);
        }
        self.by_id.insert(item.id, Box::new(item));
    }

    fn remove(&mut self, id: &u64) {
        if let Some(old) = self.by_id.remove(id)
            && let Some(ids) = self.by_user.get_mut(&old.user_id)
        {
            if let Ok(i) = ids.binary_search(id) {
                ids.remove(i);
            }
            if ids.is_empty() {
                self.by_user.remove(&old.user_id);
            }
        }
    }
}

/// The Gcore provider for one ProviderConfig: its endpoint, API key and list cache.
pub struct GcoreClient {
    http: HttpClient,
    /// One scope: every observation reads the account's full list.
    cache: ListCache<(), Index, ProviderError>,
}

impl fmt::Debug for GcoreClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcoreClient")
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

/// Reads `{exception_class, message, request_id, invalid_fields?}` into one line.
fn error_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct ErrorBody {
        exception_class: Option<String>,
        message: Option<serde_json::Value>,
        request_id: Option<String>,
        invalid_fields: Option<serde_json::Value>,
    }
    let parsed: ErrorBody = serde_json::from_slice(body).ok()?;
    let mut text = match parsed.message? {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    };
    if let Some(class) = parsed.exception_class {
        text = format!("{class}: {text}");
    }
    if let Some(fields) = parsed.invalid_fields.filter(|f| !f.is_null()) {
        text.push_str(&format!(" (invalid fields: {fields})"));
    }
    if let Some(id) = parsed.request_id {
        text.push_str(&format!(" [request {id}]"));
    }
    Some(text)
}

fn parse_id(id: &ExternalId) -> Result<u64, ProviderError> {
    id.as_str().parse().map_err(|_| ProviderError::Rejected {
        status: 400,
        message: format!(
            "external id {:?} is not a Gcore assignment id (an integer)",
            id.as_str()
        ),
    })
}

impl GcoreClient {
    pub fn new(
        endpoint: &str,
        api_key: SecretString,
        settings: HttpSettings,
    ) -> Result<Self, ProviderError> {
        let auth = AuthHeader::new(AUTHORIZATION, "APIKey ", &api_key)?;
        let http = HttpClient::new(PROVIDER, endpoint, Some(auth), settings)?
            .with_error_message(error_message);
        Ok(Self {
            http,
            cache: ListCache::new(),
        })
    }

    /// Pages through the whole list. Offsets shift when an assignment is deleted while we
    /// page, which could hide one from us (and lead to a duplicate create), so a list whose
    /// `count` shrank is read again from the start.
    async fn fetch_all(&self) -> Result<Index, ProviderError> {
        for _ in 0..LIST_ATTEMPTS {
            if let Some(index) = self.fetch_pages().await? {
                return Ok(index);
            }
        }
        Err(ProviderError::Conflict {
            status: 200,
            message: format!(
                "the assignment list kept shrinking while it was read ({LIST_ATTEMPTS} attempts)"
            ),
        })
    }

    /// The full list, or `None` when it shrank between pages.
    async fn fetch_pages(&self) -> Result<Option<Index>, ProviderError> {
        let mut index = Index::default();
        let mut offset = 0;
        let mut last_count = None;
        for _ in 0..MAX_PAGES {
            let page: Page = self
                .http
                .send(
                    ApiRequest::get("list", ASSIGNMENTS)
                        .query("limit", PAGE_SIZE)
                        .query("offset", offset),
                )
                .await?
                .json()?;
            if last_count.is_some_and(|count| page.count < count) {
                return Ok(None);
            }
            last_count = Some(page.count);
            let served = page.results.len() as u64;
            for item in page.results {
                index.upsert(item);
            }
            offset += served;
            // An empty page ends the list even if `count` grew while we paged.
            if served == 0 || offset >= page.count {
                return Ok(Some(index));
            }
        }
        Err(ProviderError::Malformed(format!(
            "assignment list did not end after {MAX_PAGES} pages"
        )))
    }

    /// A fresh look at one user's assignments (`?user_id=`), far cheaper than re-reading
    /// the whole account; the cached list learns what it shows.
    async fn user_now(&self, user: u64) -> Result<Index, ProviderError> {
        let mut found = Index::default();
        let mut offset = 0;
        loop {
            let page: Page = self
                .http
                .send(
                    ApiRequest::get("list", ASSIGNMENTS)
                        .query("user_id", user)
                        .query("limit", PAGE_SIZE)
                        .query("offset", offset),
                )
                .await?
                .json()?;
            let served = page.results.len() as u64;
            for item in page.results {
                found.upsert(item);
            }
            offset += served;
            if served == 0 || offset >= page.count || offset >= PAGE_SIZE * MAX_PAGES {
                break;
            }
        }
        let cached = self
            .cache
            .peek(&(), |index| index.by_user.get(&user).cloned())
            .flatten()
            .unwrap_or_default();
        for gone in cached.iter().filter(|id| !found.by_id.contains_key(id)) {
            self.cache.apply(&(), Change::Remove(*gone));
        }
        for item in found.by_id.values() {
            self.cache
                .apply(&(), Change::Upsert(RemoteAssignment::clone(item)));
        }
        Ok(found)
    }

    /// After a create was refused: adopt the wanted assignment if someone made it
    /// meanwhile; if the user holds another role here instead, Gcore keeps one role per
    /// user and project, and that assignment is not rolesync's to change.
    async fn after_refusal(
        &self,
        want: &Assignment,
        refusal: ProviderError,
    ) -> Result<Observed, ProviderError> {
        let now = self.user_now(want.user.0).await?;
        if let Some(found) = now.find(want) {
            return Ok(found.observed(want));
        }
        let Some(other) = now.with_key(NaturalKey::of_want(want)).next() else {
            return Err(refusal);
        };
        let status = match refusal {
            ProviderError::Conflict { status, .. } | ProviderError::Rejected { status, .. } => {
                status
            }
            _ => 409,
        };
        Err(ProviderError::Rejected {
            status,
            message: format!(
                "Gcore refused another role for user {} here: assignment {} already grants {}, and rolesync changes only assignments it made (set spec.externalID: \"{}\" to manage that one)",
                want.user, other.id, other.role, other.id
            ),
        })
    }

    async fn read<R>(
        &self,
        freshness: Freshness,
        read: impl FnOnce(&Index) -> R,
    ) -> Result<R, ProviderError> {
        self.cache
            .read(&(), freshness, || self.fetch_all(), read)
            .await
    }

    /// Every assignment of the account as RoleAssignment blocks, lowest id first, from the
    /// list observations use.
    async fn inventory(
        &self,
        freshness: Freshness,
    ) -> Result<Vec<Listed<GcoreAssignmentSpec>>, ProviderError> {
        let mut all = self
            .read(freshness, |index| {
                index
                    .by_id
                    .values()
                    .map(|a| RemoteAssignment::clone(a))
                    .collect::<Vec<_>>()
            })
            .await?;
        all.sort_by_key(|a| a.id);
        tracing::info!(
            provider = PROVIDER,
            scope = "account",
            assignments = all.len(),
            "listed"
        );
        Ok(all
            .iter()
            .filter_map(|a| {
                let listed = a.listed();
                if listed.is_none() {
                    tracing::warn!(provider = PROVIDER, assignment = a.id, role = %a.role, "an assignment with a role rolesync does not know is left out of the inventory");
                }
                listed
            })
            .collect())
    }
}

impl RemoteAssignment {
    /// The RoleAssignment block asking for this assignment; `None` for a role this version
    /// of rolesync does not know (or an id beyond the schema's range), which no
    /// RoleAssignment can name.
    fn listed(&self) -> Option<Listed<GcoreAssignmentSpec>> {
        let role = serde_json::from_value(serde_json::Value::String(self.role.clone())).ok();
        let id = |v: u64| i64::try_from(v).ok();
        let optional = |v: Option<u64>| match v {
            Some(v) => id(v).map(Some),
            None => Some(None),
        };
        let spec = GcoreAssignmentSpec {
            user_id: id(self.user_id)?,
            role: role?,
            client_id: optional(self.client_id)?,
            project_id: optional(self.project_id)?,
        };
        Some(Listed {
            spec,
            external_id: Some(ExternalId::new(self.id.to_string())),
        })
    }
}

impl Provider for GcoreClient {
    type Assignment = Assignment;

    fn updates_in_place(&self) -> bool {
        true
    }

    /// Gcore may accept a second, identical assignment (a duplicate grant).
    fn create_is_idempotent(&self) -> bool {
        false
    }

    async fn observe(
        &self,
        want: &Assignment,
        known: Option<&ExternalId>,
        freshness: Freshness,
    ) -> Result<Option<Observed>, ProviderError> {
        let known = known.map(parse_id).transpose()?;
        if known.is_none() && freshness.max_age.is_zero() {
            let now = self.user_now(want.user.0).await?;
            return Ok(now.find(want).map(|remote| remote.observed(want)));
        }
        self.read(freshness, |index| {
            // A known id wins even if someone changed its role, user, client or project:
            // it is then reported as not up to date and the update puts it back. Found by
            // natural key, only an assignment with the wanted role is taken.
            known
                .and_then(|id| index.by_id.get(&id).map(|a| &**a))
                .or_else(|| index.find(want))
                .map(|remote| remote.observed(want))
        })
        .await
    }

    async fn create(&self, want: &Assignment) -> Result<Observed, ProviderError> {
        let request =
            ApiRequest::new("create", Method::POST, ASSIGNMENTS).json(&WriteBody::of(want))?;
        let created: RemoteAssignment = match self.http.send(request).await.and_then(|r| r.json()) {
            Ok(created) => created,
            // Gcore does not document refusing a create; where it keeps one role per user
            // and project, an existing assignment would be why.
            Err(
                e @ (ProviderError::Conflict { .. }
                | ProviderError::Rejected {
                    status: 400 | 422, ..
                }),
            ) => return self.after_refusal(want, e).await,
            Err(e) => {
                // The create may have happened although no usable answer came back: drop the
                // cached list so the retry finds it by natural key instead of creating it twice.
                self.cache.invalidate(&());
                return Err(e);
            }
        };
        let observed = created.observed(want);
        self.cache.apply(&(), Change::Upsert(created));
        Ok(observed)
    }

    async fn update(
        &self,
        have: &ExternalId,
        want: &Assignment,
    ) -> Result<Observed, ProviderError> {
        let id = parse_id(have)?;
        let request = ApiRequest::new("update", Method::PATCH, format!("{ASSIGNMENTS}/{id}"))
            .json(&WriteBody::of(want))?;
        match self.http.send(request).await {
            Ok(response) => {
                let body: AssignmentIdBody = response.json()?;
                if body.assignment_id != id {
                    self.cache.invalidate(&());
                    return Err(ProviderError::Malformed(format!(
                        "updated assignment {id} but Gcore answered with {}",
                        body.assignment_id
                    )));
                }
            }
            Err(ProviderError::NotFound { status, message }) => {
                // Either the assignment is gone (observe again) or a referenced
                // user/project is unknown (terminal): a fresh list tells which.
                self.cache.invalidate(&());
                let still_there = self
                    .read(
                        Freshness {
                            max_age: std::time::Duration::ZERO,
                        },
                        |index| index.by_id.contains_key(&id),
                    )
                    .await?;
                return Err(if still_there {
                    ProviderError::NotFound { status, message }
                } else {
                    ProviderError::Conflict {
                        status,
                        message: format!("assignment {id} no longer exists"),
                    }
                });
            }
            Err(e) => return Err(e),
        }
        // PATCH answers only with the id: build what Gcore now holds from what we sent.
        let before = self
            .cache
            .peek(&(), |index| {
                index.by_id.get(&id).map(|a| RemoteAssignment::clone(a))
            })
            .flatten();
        let updated = RemoteAssignment {
            id,
            user_id: want.user.0,
            role: want.role.as_str().to_owned(),
            client_id: want
                .client
                .map(|c| c.0)
                .or(before.as_ref().and_then(|b| b.client_id)),
            project_id: want.project.map(|p| p.0),
            assigned_by: before.as_ref().and_then(|b| b.assigned_by),
            created_at: before.as_ref().and_then(|b| b.created_at.clone()),
            updated_at: Some(jiff::Timestamp::now().to_string()),
        };
        let observed = updated.observed(want);
        self.cache.apply(&(), Change::Upsert(updated));
        Ok(observed)
    }

    async fn delete(
        &self,
        have: &ExternalId,
        _want: &Assignment,
    ) -> Result<Deletion, ProviderError> {
        let id = parse_id(have)?;
        let request = ApiRequest::new("delete", Method::DELETE, format!("{ASSIGNMENTS}/{id}"));
        let outcome = match self.http.send(request).await {
            Ok(_) => Deletion::Deleted,
            Err(ProviderError::NotFound { .. }) => Deletion::AlreadyGone,
            Err(e) => return Err(e),
        };
        self.cache.apply(&(), Change::Remove(id));
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(id: u64, user: u64, client: Option<u64>, project: Option<u64>) -> RemoteAssignment {
        RemoteAssignment {
            id,
            user_id: user,
            role: "Observer".into(),
            client_id: client,
            project_id: project,
            assigned_by: None,
            created_at: None,
            updated_at: None,
        }
    }

    fn want(project: Option<u64>) -> Assignment {
        Assignment {
            user: UserId(777),
            role: Role::Observer,
            client: Some(ClientId(8)),
            project: project.map(ProjectId),
        }
    }

    #[test]
    fn roles_use_gcore_names() {
        assert_eq!(
            serde_json::to_value(Role::InternalNetworkOnlyUser).unwrap(),
            "InternalNetworkOnlyUser"
        );
        assert_eq!(
            serde_json::from_str::<Role>("\"ProjectAdministrator\"").unwrap(),
            Role::ProjectAdministrator
        );
    }

    #[test]
    fn natural_key_distinguishes_client_and_project_level() {
        let mut index = Index::default();
        index.upsert(remote(1, 777, Some(8), None));
        index.upsert(remote(2, 777, Some(8), Some(123)));
        index.upsert(remote(3, 777, Some(8), Some(123)));
        assert_eq!(index.find(&want(None)).map(|a| a.id), Some(1));
        assert_eq!(index.find(&want(Some(123))).map(|a| a.id), Some(2));
        assert_eq!(index.find(&want(Some(124))).map(|a| a.id), None);
    }

    /// Where a user may hold several roles in one project, only the wanted role's
    /// assignment is found by natural key: another role's is not rolesync's to change.
    #[test]
    fn only_an_exact_role_is_found_by_natural_key() {
        let mut index = Index::default();
        let mut admin = remote(1, 777, Some(8), Some(123));
        admin.role = "ProjectAdministrator".into();
        index.upsert(admin);
        assert_eq!(index.find(&want(Some(123))), None);
        index.upsert(remote(4, 777, Some(8), Some(123)));
        assert_eq!(index.find(&want(Some(123))).map(|a| a.id), Some(4));
        let key = NaturalKey::of_want(&want(Some(123)));
        assert_eq!(
            index.with_key(key).map(|a| a.id).collect::<Vec<_>>(),
            [1, 4]
        );
    }

    #[test]
    fn index_follows_a_changed_user() {
        let mut index = Index::default();
        index.upsert(remote(1, 777, Some(8), None));
        index.upsert(remote(1, 778, Some(8), None));
        assert!(!index.by_user.contains_key(&777));
        assert_eq!(index.by_user[&778].len(), 1);
        index.remove(&1);
        assert!(index.by_id.is_empty() && index.by_user.is_empty());
    }

    #[test]
    fn up_to_date_needs_role_and_natural_key() {
        let r = remote(5, 777, Some(8), Some(123));
        assert!(r.observed(&want(Some(123))).up_to_date());
        assert!(!r.observed(&want(Some(124))).up_to_date());
        let mut admin = want(Some(123));
        admin.role = Role::ProjectAdministrator;
        assert!(!r.observed(&admin).up_to_date());
        assert_eq!(r.observed(&admin).external_id.as_str(), "5");
    }

    #[test]
    fn error_bodies_become_one_line() {
        let body = br#"{"exception_class":"ValidationError","message":"bad role","request_id":"r-1","invalid_fields":{"role":["unknown"]}}"#;
        assert_eq!(
            error_message(body).unwrap(),
            r#"ValidationError: bad role (invalid fields: {"role":["unknown"]}) [request r-1]"#
        );
        assert_eq!(error_message(b"<html>"), None);
    }

    /// What Gcore lists becomes a spec as written by hand, id kept for `spec.externalID`; a
    /// role rolesync does not know cannot be written as a RoleAssignment.
    #[test]
    fn listed_assignments_become_specs() {
        let listed = remote(41, 777, Some(8), Some(123)).listed().unwrap();
        assert_eq!(
            serde_json::to_value(&listed.spec).unwrap(),
            serde_json::json!({"userId": 777, "role": "Observer", "clientId": 8, "projectId": 123})
        );
        assert_eq!(listed.external_id, Some(ExternalId::new("41")));
        let client_level = remote(42, 777, Some(8), None).listed().unwrap();
        assert_eq!(client_level.spec.project_id, None);
        let mut unknown = remote(43, 777, Some(8), None);
        unknown.role = "Auditor".into();
        assert_eq!(unknown.listed(), None);
        assert_eq!(remote(44, u64::MAX, Some(8), None).listed(), None);
    }
}
