//! A workspace's own ZenML server, asked for one thing: its projects, which the Pro API
//! does not list.
//!
//! The organization's API key logs in there as it does at the Pro API (`POST
//! /api/v1/login`, form `password=<key>`; the server checks a `ZENPROKEY_` key with the Pro
//! API and answers a token of its own), as the `zenml` package and ZenML's Terraform
//! provider do (`zenml` package: `zen_server/routers/auth_endpoints.py`, `zen_server/auth.py`;
//! Terraform provider `internal/provider/client.go`). Projects are `GET /api/v1/projects`
//! (`zen_server/routers/projects_endpoints.py`), a `Page` object (`index`, `total_pages`,
//! `items`) at the server's own page size. Each server is one session, kept while the
//! client lives so that its token is reused; its requests share the Pro API's connections
//! and rate limit ([`HttpClient::at`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use secrecy::SecretString;

use super::{ProjectId, Session, Tokens};
use crate::providers::ProviderError;
use crate::providers::http::HttpClient;

const LOGIN: &str = "/api/v1/login";
const PROJECTS: &str = "/api/v1/projects";

/// The sessions with every workspace server the inventory has reached, by URL.
pub(super) struct WorkspaceServers {
    api_key: SecretString,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

impl WorkspaceServers {
    pub(super) fn new(api_key: SecretString) -> Self {
        Self {
            api_key,
            sessions: Mutex::default(),
        }
    }

    /// Every project of the workspace served at `url` that the key may see, asked
    /// through the Pro API's client `api`.
    pub(super) async fn projects(
        &self,
        api: &HttpClient,
        url: &str,
    ) -> Result<Vec<ProjectId>, ProviderError> {
        self.session(api, url)?.ids(PROJECTS, "project").await
    }

    /// The session with `url`, made at first use. The URL comes from the Pro API, and is
    /// held to the same rule as a configured endpoint (https, or http to this machine), so
    /// the key is never sent in the clear.
    fn session(&self, api: &HttpClient, url: &str) -> Result<Arc<Session>, ProviderError> {
        // A panic while holding this lock left only sessions behind: keep using them.
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(session) = sessions.get(url) {
            return Ok(session.clone());
        }
        let session = Arc::new(Session {
            http: api.at(url)?,
            tokens: Tokens::new(self.api_key.clone(), LOGIN),
        });
        sessions.insert(url.to_owned(), session.clone());
        Ok(session)
    }
}
