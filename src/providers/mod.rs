//! Providers: one file per external API behind the [`Provider`] trait, plus the HTTP
//! plumbing they share. A provider knows its wire format and nothing of Kubernetes.

pub mod cache;
pub mod gcore;
pub mod harness;
pub mod http;
pub mod hyperstack;
pub mod zenml;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The identity of one remote assignment as rolesync records it in `status.externalID`.
/// For providers that number their assignments it is that number; for providers
/// without ids it is a readable composite of the natural key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExternalId(String);

impl ExternalId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A remote assignment as the provider last reported it.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    pub external_id: ExternalId,
    /// The provider's own view, reported to users as `status.atProvider`.
    pub at_provider: serde_json::Value,
    /// Whether the remote assignment already grants what is wanted.
    pub up_to_date: bool,
}

/// How fresh the data behind an observation must be. Providers may answer from a
/// list they fetched for the same scope no longer than `max_age` ago.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Freshness {
    pub max_age: Duration,
}

/// Why a provider call failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// 401/403: the credentials were refused. Retrying with the same key cannot help.
    #[error("credentials rejected (HTTP {status}): {message}")]
    Unauthorized { status: u16, message: String },
    /// A referenced user, role, project, ... does not exist.
    #[error("not found (HTTP {status}): {message}")]
    NotFound { status: u16, message: String },
    /// The provider refused the request as invalid (400/422) or by one of its rules.
    #[error("rejected (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    /// 409 or an equivalent: the remote state changed under us; observe again.
    #[error("conflict (HTTP {status}): {message}")]
    Conflict { status: u16, message: String },
    /// 429: slow down, at least for `retry_after` when the provider said so.
    #[error("rate limited{}", retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx or an unexpected status.
    #[error("provider error (HTTP {status}): {message}")]
    Server { status: u16, message: String },
    #[error("request timed out")]
    Timeout,
    #[error("connection failed: {0}")]
    Transport(String),
    /// The provider answered with something that is not what its API promises.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The configuration cannot work (bad endpoint, missing account id, ...).
    #[error("invalid provider configuration: {0}")]
    Config(String),
}

impl ProviderError {
    /// Whether the same request may succeed later without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Conflict { .. }
                | Self::RateLimited { .. }
                | Self::Server { .. }
                | Self::Timeout
                | Self::Transport(_)
                | Self::Malformed(_)
        )
    }

    /// A short CamelCase reason, used as condition reason and metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unauthorized { .. } => "Unauthorized",
            Self::NotFound { .. } => "NotFound",
            Self::Rejected { .. } => "Rejected",
            Self::Conflict { .. } => "RemoteConflict",
            Self::RateLimited { .. } => "RateLimited",
            Self::Server { .. } => "ProviderUnavailable",
            Self::Timeout => "Timeout",
            Self::Transport(_) => "ConnectionFailed",
            Self::Malformed(_) => "MalformedResponse",
            Self::Config(_) => "InvalidProviderConfig",
        }
    }
}

/// One external API that holds role assignments (modelled on Crossplane's ExternalClient).
///
/// `observe` must find an assignment by its external id or, failing that, by its natural
/// key, so that a crash between a remote create and the status write never leads to a
/// duplicate.
pub trait Provider: Send + Sync + 'static {
    /// What the user wants assigned, already validated and typed.
    type Assignment: Send + Sync;

    /// Whether `update` changes an assignment in place. When it does not, the controller
    /// replaces: it creates the new assignment first and deletes the old one afterwards.
    fn updates_in_place(&self) -> bool;

    /// Whether creating an assignment that already exists is harmless: the provider
    /// refuses it (and the client adopts the existing one) or the write is idempotent.
    /// When it is not, the controller confirms an absence with fresh data before creating.
    fn create_is_idempotent(&self) -> bool;

    fn observe(
        &self,
        want: &Self::Assignment,
        known: Option<&ExternalId>,
        freshness: Freshness,
    ) -> impl Future<Output = Result<Option<Observed>, ProviderError>> + Send;

    fn create(
        &self,
        want: &Self::Assignment,
    ) -> impl Future<Output = Result<Observed, ProviderError>> + Send;

    /// Only called when `updates_in_place()` is true.
    fn update(
        &self,
        have: &ExternalId,
        want: &Self::Assignment,
    ) -> impl Future<Output = Result<Observed, ProviderError>> + Send;

    /// Removes the assignment `have`; `want` gives the scope it lives in and what was
    /// granted. Deleting something that is already gone succeeds.
    fn delete(
        &self,
        have: &ExternalId,
        want: &Self::Assignment,
    ) -> impl Future<Output = Result<Deletion, ProviderError>> + Send;
}

/// What a delete did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deletion {
    Deleted,
    /// Nothing was there any more.
    AlreadyGone,
    /// What is there now was not granted by rolesync (e.g. someone else changed the role
    /// since), so it was left in place; the text says what was found.
    LeftAlone(String),
}

/// The providers rolesync supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    Gcore,
    Harness,
    Hyperstack,
    Zenml,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gcore => "gcore",
            Self::Harness => "harness",
            Self::Hyperstack => "hyperstack",
            Self::Zenml => "zenml",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A wanted assignment of any provider.
pub enum Desired {
    Gcore(gcore::Assignment),
    Harness(harness::Assignment),
    Hyperstack(hyperstack::Assignment),
    Zenml(zenml::Assignment),
}

impl Desired {
    pub fn kind(&self) -> ProviderKind {
        match self {
            Self::Gcore(_) => ProviderKind::Gcore,
            Self::Harness(_) => ProviderKind::Harness,
            Self::Hyperstack(_) => ProviderKind::Hyperstack,
            Self::Zenml(_) => ProviderKind::Zenml,
        }
    }
}

/// A configured client of any provider; the controller talks to providers only through it.
pub enum Client {
    Gcore(gcore::GcoreClient),
    Harness(harness::HarnessClient),
    Hyperstack(hyperstack::HyperstackClient),
    Zenml(zenml::ZenmlClient),
}

/// Runs `$body` with the typed client and assignment when both belong to one provider.
macro_rules! with_provider {
    ($client:expr, $want:expr, |$c:ident, $w:ident| $body:expr) => {
        match ($client, $want) {
            (Client::Gcore($c), Desired::Gcore($w)) => $body,
            (Client::Harness($c), Desired::Harness($w)) => $body,
            (Client::Hyperstack($c), Desired::Hyperstack($w)) => $body,
            (Client::Zenml($c), Desired::Zenml($w)) => $body,
            _ => Err(ProviderError::Config(
                "provider config and RoleAssignment are for different providers".into(),
            )),
        }
    };
}

impl Client {
    pub fn kind(&self) -> ProviderKind {
        match self {
            Self::Gcore(_) => ProviderKind::Gcore,
            Self::Harness(_) => ProviderKind::Harness,
            Self::Hyperstack(_) => ProviderKind::Hyperstack,
            Self::Zenml(_) => ProviderKind::Zenml,
        }
    }

    pub fn updates_in_place(&self) -> bool {
        match self {
            Self::Gcore(c) => c.updates_in_place(),
            Self::Harness(c) => c.updates_in_place(),
            Self::Hyperstack(c) => c.updates_in_place(),
            Self::Zenml(c) => c.updates_in_place(),
        }
    }

    pub fn create_is_idempotent(&self) -> bool {
        match self {
            Self::Gcore(c) => c.create_is_idempotent(),
            Self::Harness(c) => c.create_is_idempotent(),
            Self::Hyperstack(c) => c.create_is_idempotent(),
            Self::Zenml(c) => c.create_is_idempotent(),
        }
    }

    pub async fn observe(
        &self,
        want: &Desired,
        known: Option<&ExternalId>,
        freshness: Freshness,
    ) -> Result<Option<Observed>, ProviderError> {
        with_provider!(self, want, |c, w| c.observe(w, known, freshness).await)
    }

    pub async fn create(&self, want: &Desired) -> Result<Observed, ProviderError> {
        with_provider!(self, want, |c, w| c.create(w).await)
    }

    pub async fn update(
        &self,
        have: &ExternalId,
        want: &Desired,
    ) -> Result<Observed, ProviderError> {
        with_provider!(self, want, |c, w| c.update(have, w).await)
    }

    pub async fn delete(
        &self,
        have: &ExternalId,
        want: &Desired,
    ) -> Result<Deletion, ProviderError> {
        with_provider!(self, want, |c, w| c.delete(have, w).await)
    }
}
