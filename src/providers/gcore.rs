//! Gcore Cloud role assignments (`/cloud/v1/users/assignments`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Role {
    ClientAdministrator,
    InternalNetworkOnlyUser,
    Observer,
    ProjectAdministrator,
    User,
}

use super::http::HttpSettings;
use super::{ExternalId, Freshness, Observed, Provider, ProviderError};

pub const DEFAULT_ENDPOINT: &str = "https://api.gcore.com";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UserId(pub u64);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientId(pub u64);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProjectId(pub u64);

pub struct Assignment {
    pub user: UserId,
    pub role: Role,
    pub client: Option<ClientId>,
    pub project: Option<ProjectId>,
}

pub struct GcoreClient;

impl GcoreClient {
    pub fn new(
        _endpoint: &str,
        _api_key: secrecy::SecretString,
        _settings: HttpSettings,
    ) -> Result<Self, ProviderError> {
        Ok(Self)
    }
}

impl Provider for GcoreClient {
    type Assignment = Assignment;
    fn updates_in_place(&self) -> bool {
        true
    }
    async fn observe(
        &self,
        _want: &Assignment,
        _known: Option<&ExternalId>,
        _freshness: Freshness,
    ) -> Result<Option<Observed>, ProviderError> {
        Ok(None)
    }
    async fn create(&self, _want: &Assignment) -> Result<Observed, ProviderError> {
        Err(ProviderError::Timeout)
    }
    async fn update(&self, _have: &ExternalId, _want: &Assignment) -> Result<Observed, ProviderError> {
        Err(ProviderError::Timeout)
    }
    async fn delete(&self, _have: &ExternalId, _want: &Assignment) -> Result<(), ProviderError> {
        Ok(())
    }
}

pub fn default_rate_limit() -> super::http::RateLimit {
    super::http::RateLimit {
        requests_per_minute: std::num::NonZeroU32::MIN,
        burst: std::num::NonZeroU32::MIN,
    }
}
