//! A workspace's own ZenML server, asked for one thing: its projects, which the Pro API
//! does not list.
//!
//! The organization's API key logs in there as it does at the Pro API (`POST
//! /api/v1/login`, form `password=<key>`; the server checks a `ZENPROKEY_` key with the Pro
//! API and answers a token of its own), as the `zenml` package and ZenML's Terraform
//! provider do. Projects are `GET /api/v1/projects`, a page object (`index`, `total_pages`,
//! `items`) at the server's own page size. Each server is one session, kept while the
//! client lives so that its token is reused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use secrecy::SecretString;

use super::{PROVIDER, ProjectId, Session, Tokens, error_message};
use crate::providers::ProviderError;
use crate::providers::http::{HttpClient, HttpSettings};

const LOGIN: &str = "/api/v1/login";
const PROJECTS: &str = "/api/v1/projects";

/// The sessions with every workspace server the inventory has reached, by URL.
pub(super) struct WorkspaceServers {
    api_key: SecretString,
    settings: HttpSettings,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

impl WorkspaceServers {
    pub(super) fn new(api_key: SecretString, settings: HttpSettings) -> Self {
        Self {
            api_key,
            settings,
            sessions: Mutex::default(),
        }
    }

    /// Every project of the workspace served at `url` that the key may see.
    pub(super) async fn projects(&self, url: &str) -> Result<Vec<ProjectId>, ProviderError> {
        self.session(url)?.ids(PROJECTS, "project").await
    }

    /// The session with `url`, made at first use. The URL comes from the Pro API, and is
    /// held to the same rule as a configured endpoint (https, or http to this machine), so
    /// the key is never sent in the clear.
    fn session(&self, url: &str) -> Result<Arc<Session>, ProviderError> {
        // A panic while holding this lock left only sessions behind: keep using them.
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(session) = sessions.get(url) {
            return Ok(session.clone());
        }
        let http = HttpClient::new(PROVIDER, url, None, self.settings.clone())?
            .with_error_message(error_message);
        let session = Arc::new(Session {
            http,
            tokens: Tokens::new(self.api_key.clone(), LOGIN),
        });
        sessions.insert(url.to_owned(), session.clone());
        Ok(session)
    }
}
