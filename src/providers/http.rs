//! The HTTP client every provider shares: timeouts, rate limiting, error mapping,
//! size-capped bodies, metrics, and an API key that never reaches a log line.

use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT};
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::ProviderError;

/// A client-side request budget, shared by every request of one provider config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub requests_per_minute: NonZeroU32,
    pub burst: NonZeroU32,
}

/// Told about every request a provider made (metrics hook).
pub trait RequestObserver: Send + Sync {
    /// `outcome` is the HTTP status ("200") or a short error reason ("timeout").
    fn request_done(
        &self,
        provider: &'static str,
        operation: &'static str,
        outcome: &str,
        elapsed: Duration,
    );
}

/// Knobs that are the same for every provider.
#[derive(Clone)]
pub struct HttpSettings {
    pub timeout: Duration,
    pub rate_limit: Option<RateLimit>,
    pub observer: Option<Arc<dyn RequestObserver>>,
    pub max_body_bytes: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            rate_limit: None,
            observer: None,
            max_body_bytes: 4 * 1024 * 1024,
        }
    }
}

impl fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSettings")
            .field("timeout", &self.timeout)
            .field("rate_limit", &self.rate_limit)
            .field("observer", &self.observer.is_some())
            .field("max_body_bytes", &self.max_body_bytes)
            .finish()
    }
}

/// How long the whole client waits after a 429 that did not say `Retry-After`.
pub const DEFAULT_RATE_LIMIT_BACKOFF: Duration = Duration::from_secs(5);
/// A misbehaving `Retry-After` must not stop a provider config for hours.
const MAX_RATE_LIMIT_PAUSE: Duration = Duration::from_secs(600);
/// GETs are safe to repeat; writes are never retried here (the controller re-observes).
const GET_ATTEMPTS: u32 = 3;
/// Error messages taken from a provider's body are cut to this many characters.
const MAX_MESSAGE_CHARS: usize = 300;

/// Pulls a readable message out of a provider's error body; `None` when it has none.
pub type ErrorMessageParser = fn(&[u8]) -> Option<String>;

/// A credential sent as one header. The value is marked sensitive and never printed.
#[derive(Clone)]
pub struct AuthHeader {
    name: HeaderName,
    value: HeaderValue,
    secret: SecretString,
}

impl AuthHeader {
    /// `prefix` is prepended to the secret, e.g. `"APIKey "` or `"Bearer "`.
    pub fn new(
        name: HeaderName,
        prefix: &str,
        secret: &SecretString,
    ) -> Result<Self, ProviderError> {
        let raw = secret.expose_secret();
        if raw.trim().is_empty() {
            return Err(ProviderError::Config("the API credential is empty".into()));
        }
        let mut value =
            HeaderValue::from_str(&format!("{prefix}{}", raw.trim())).map_err(|_| {
                ProviderError::Config(
                    "the API credential contains characters not allowed in an HTTP header".into(),
                )
            })?;
        value.set_sensitive(true);
        Ok(Self {
            name,
            value,
            secret: SecretString::from(raw.trim().to_owned()),
        })
    }
}

impl fmt::Debug for AuthHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthHeader({}: [redacted])", self.name)
    }
}

enum Body {
    Empty,
    Json(Vec<u8>),
    Form(String),
}

/// One request to a provider, relative to the client's base URL.
pub struct ApiRequest {
    operation: &'static str,
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    body: Body,
    auth: Option<AuthHeader>,
}

impl ApiRequest {
    /// `operation` names the request in metrics ("list", "create", ...); `path` starts with '/'
    /// and must already be percent-encoded.
    pub fn new(operation: &'static str, method: Method, path: impl Into<String>) -> Self {
        Self {
            operation,
            method,
            path: path.into(),
            query: Vec::new(),
            body: Body::Empty,
            auth: None,
        }
    }

    pub fn get(operation: &'static str, path: impl Into<String>) -> Self {
        Self::new(operation, Method::GET, path)
    }

    pub fn query(mut self, name: &str, value: impl ToString) -> Self {
        self.query.push((name.to_owned(), value.to_string()));
        self
    }

    pub fn json(mut self, body: &impl serde::Serialize) -> Result<Self, ProviderError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| ProviderError::Config(format!("cannot encode request body: {e}")))?;
        self.body = Body::Json(bytes);
        Ok(self)
    }

    /// An `application/x-www-form-urlencoded` body.
    pub fn form(mut self, fields: &[(&str, &str)]) -> Self {
        let encoded = fields
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.body = Body::Form(encoded);
        self
    }

    /// Uses this credential instead of the client's own (e.g. a short-lived bearer token).
    pub fn auth(mut self, auth: AuthHeader) -> Self {
        self.auth = Some(auth);
        self
    }
}

fn form_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A successful (2xx) response, body already read within the size cap.
#[derive(Debug)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ApiResponse {
    /// Decodes the body; a body that does not match `T` is `Malformed`, never a panic.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ProviderError> {
        decode_json(&self.body)
    }
}

/// Decodes JSON with a short message that never quotes the body.
pub fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|e| {
        let what = if looks_like_html(body) {
            "an HTML page instead of JSON".to_owned()
        } else {
            format!("invalid JSON ({e})")
        };
        ProviderError::Malformed(format!("{what}, {} bytes", body.len()))
    })
}

fn looks_like_html(body: &[u8]) -> bool {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    body[start..].starts_with(b"<")
}

/// One provider's connection: base URL, credential, rate limiter and 429 pause.
pub struct HttpClient {
    provider: &'static str,
    base: String,
    http: reqwest::Client,
    auth: Option<AuthHeader>,
    /// Shared with every client [`HttpClient::at`] derives: one provider config, one budget.
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    rate_limit: Option<RateLimit>,
    paused_until: Arc<Mutex<Option<Instant>>>,
    observer: Option<Arc<dyn RequestObserver>>,
    max_body_bytes: usize,
    timeout: Duration,
    error_message: ErrorMessageParser,
    rate_limit_backoff: Duration,
    /// Sent on every request besides the credential (e.g. an account id).
    extra_headers: Vec<(HeaderName, HeaderValue)>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("provider", &self.provider)
            .field("base", &self.base)
            .field("auth", &self.auth)
            .field("rate_limit", &self.rate_limit)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

static INSTALL_CRYPTO: Once = Once::new();

fn install_crypto_provider() {
    INSTALL_CRYPTO.call_once(|| {
        // An error only means another part of the process installed one first.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Checks a provider endpoint: https, or plain http to this machine only (tests, sandbox).
pub fn validate_endpoint(endpoint: &str) -> Result<Url, ProviderError> {
    let url = Url::parse(endpoint)
        .map_err(|e| ProviderError::Config(format!("endpoint {endpoint:?} is not a URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ProviderError::Config(
            "endpoint must not contain credentials; use the credentials secret".into(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ProviderError::Config(format!(
            "endpoint {} must not have a query or fragment",
            url.origin().ascii_serialization()
        )));
    }
    let Some(host) = url.host_str() else {
        return Err(ProviderError::Config(format!(
            "endpoint {endpoint:?} has no host"
        )));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = match host.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(ProviderError::Config(format!(
            "endpoint {endpoint:?} must use https (plain http is only allowed to localhost)"
        ))),
        other => Err(ProviderError::Config(format!(
            "endpoint scheme {other:?} is not supported; use https"
        ))),
    }
}

impl HttpClient {
    /// `provider` names the provider in metrics and errors; `auth` is sent on every request
    /// unless a request brings its own.
    pub fn new(
        provider: &'static str,
        endpoint: &str,
        auth: Option<AuthHeader>,
        settings: HttpSettings,
    ) -> Result<Self, ProviderError> {
        let base = validate_endpoint(endpoint)?;
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            // Never follow redirects: a redirect could carry the credential somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ProviderError::Config(format!("cannot build HTTP client: {e}")))?;
        let limiter = settings.rate_limit.map(|rl| {
            Arc::new(RateLimiter::direct(
                Quota::per_minute(rl.requests_per_minute).allow_burst(rl.burst),
            ))
        });
        Ok(Self {
            provider,
            base: base.as_str().trim_end_matches('/').to_owned(),
            http,
            auth,
            limiter,
            rate_limit: settings.rate_limit,
            paused_until: Arc::default(),
            observer: settings.observer,
            max_body_bytes: settings.max_body_bytes,
            timeout: settings.timeout,
            error_message: |_| None,
            rate_limit_backoff: DEFAULT_RATE_LIMIT_BACKOFF,
            extra_headers: Vec::new(),
        })
    }

    /// A client for another server of the same provider (e.g. a ZenML workspace's own
    /// server) that shares this one's connections, rate limit and 429 pause, so the
    /// config's `rateLimit` covers both. It sends no credential or extra header of this
    /// one: each request brings its own.
    pub fn at(&self, endpoint: &str) -> Result<Self, ProviderError> {
        let base = validate_endpoint(endpoint)?;
        Ok(Self {
            provider: self.provider,
            base: base.as_str().trim_end_matches('/').to_owned(),
            http: self.http.clone(),
            auth: None,
            limiter: self.limiter.clone(),
            rate_limit: self.rate_limit,
            paused_until: self.paused_until.clone(),
            observer: self.observer.clone(),
            max_body_bytes: self.max_body_bytes,
            timeout: self.timeout,
            error_message: self.error_message,
            rate_limit_backoff: self.rate_limit_backoff,
            extra_headers: Vec::new(),
        })
    }

    /// Reads error messages out of this provider's error bodies.
    pub fn with_error_message(mut self, parser: ErrorMessageParser) -> Self {
        self.error_message = parser;
        self
    }

    /// How long to pause after a 429 without `Retry-After`.
    pub fn with_rate_limit_backoff(mut self, backoff: Duration) -> Self {
        self.rate_limit_backoff = backoff;
        self
    }

    /// Sends this header on every request.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.extra_headers.push((name, value));
        self
    }

    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// Sends a request; GETs are retried a couple of times on 5xx, 429, timeouts and
    /// connection errors, other methods exactly once.
    pub async fn send(&self, request: ApiRequest) -> Result<ApiResponse, ProviderError> {
        let attempts = if request.method == Method::GET {
            GET_ATTEMPTS
        } else {
            1
        };
        let mut attempt = 1;
        loop {
            let result = self.send_once(&request).await;
            match result {
                Err(e) if attempt < attempts && retryable_read_error(&e) => {
                    attempt += 1;
                    if !matches!(e, ProviderError::RateLimited { .. }) {
                        tokio::time::sleep(retry_delay(attempt)).await;
                    }
                }
                other => return other,
            }
        }
    }

    async fn send_once(&self, request: &ApiRequest) -> Result<ApiResponse, ProviderError> {
        self.wait_for_turn().await;
        let started = Instant::now();
        let result = self.exchange(request).await;
        let outcome = match &result {
            Ok(r) => r.status.as_str().to_owned(),
            Err(e) => error_outcome(e),
        };
        if let Some(observer) = &self.observer {
            observer.request_done(
                self.provider,
                request.operation,
                &outcome,
                started.elapsed(),
            );
        }
        result
    }

    /// Waits out a 429 pause and then for the rate limiter.
    async fn wait_for_turn(&self) {
        loop {
            let until = *self
                .paused_until
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => break,
            }
        }
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
    }

    fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait.min(MAX_RATE_LIMIT_PAUSE);
        let mut paused = self
            .paused_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if paused.is_none_or(|t| t < until) {
            *paused = Some(until);
        }
    }

    async fn exchange(&self, request: &ApiRequest) -> Result<ApiResponse, ProviderError> {
        let url = format!("{}{}", self.base, request.path);
        let mut builder = self
            .http
            .request(request.method.clone(), &url)
            .header(USER_AGENT, concat!("rolesync/", env!("CARGO_PKG_VERSION")))
            .header(reqwest::header::ACCEPT, "application/json");
        if !request.query.is_empty() {
            builder = builder.query(&request.query);
        }
        for (name, value) in &self.extra_headers {
            builder = builder.header(name.clone(), value.clone());
        }
        if let Some(auth) = request.auth.as_ref().or(self.auth.as_ref()) {
            builder = builder.header(auth.name.clone(), auth.value.clone());
        }
        builder = match &request.body {
            Body::Empty => builder,
            Body::Json(bytes) => builder
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes.clone()),
            Body::Form(text) => builder
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(text.clone()),
        };
        let mut response = builder.send().await.map_err(transport_error)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = self.read_body(&mut response).await;
        if status.is_success() {
            return Ok(ApiResponse {
                status,
                headers,
                body: body?,
            });
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after = headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            self.pause_for(retry_after.unwrap_or(self.rate_limit_backoff));
            return Err(ProviderError::RateLimited { retry_after });
        }
        let message = body
            .ok()
            .and_then(|b| (self.error_message)(&b))
            .map(|m| self.scrub(&m, request.auth.as_ref()))
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("no message").to_owned());
        Err(status_error(status.as_u16(), message))
    }

    async fn read_body(&self, response: &mut reqwest::Response) -> Result<Bytes, ProviderError> {
        let too_big = || {
            ProviderError::Malformed(format!(
                "response body larger than {} bytes",
                self.max_body_bytes
            ))
        };
        if response
            .content_length()
            .is_some_and(|len| len > self.max_body_bytes as u64)
        {
            return Err(too_big());
        }
        let mut buf = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if buf.len() + chunk.len() > self.max_body_bytes {
                return Err(too_big());
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }

    /// Removes the credential from text a provider sent back, should it ever echo it.
    fn scrub(&self, message: &str, request_auth: Option<&AuthHeader>) -> String {
        let mut text: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
        for auth in [self.auth.as_ref(), request_auth].into_iter().flatten() {
            let secret = auth.secret.expose_secret();
            if !secret.is_empty() {
                text = text.replace(secret, "[redacted]");
            }
        }
        text
    }
}

fn retryable_read_error(e: &ProviderError) -> bool {
    matches!(
        e,
        ProviderError::Server { .. }
            | ProviderError::Timeout
            | ProviderError::Transport(_)
            | ProviderError::RateLimited { .. }
    )
}

/// Jittered linear backoff between GET attempts.
fn retry_delay(attempt: u32) -> Duration {
    let base = 100 * u64::from(attempt);
    Duration::from_millis(rand::rng().random_range(base..base * 2))
}

fn error_outcome(e: &ProviderError) -> String {
    match e {
        ProviderError::Unauthorized { status, .. }
        | ProviderError::NotFound { status, .. }
        | ProviderError::Rejected { status, .. }
        | ProviderError::Conflict { status, .. }
        | ProviderError::Server { status, .. } => status.to_string(),
        ProviderError::RateLimited { .. } => "429".to_owned(),
        ProviderError::Timeout => "timeout".to_owned(),
        ProviderError::Transport(_) => "transport".to_owned(),
        ProviderError::Malformed(_) => "malformed".to_owned(),
        ProviderError::Config(_) => "config".to_owned(),
        ProviderError::LeftInPlace(_) => "left_in_place".to_owned(),
    }
}

/// Maps a non-2xx, non-429 status to the error it means.
pub fn status_error(status: u16, message: String) -> ProviderError {
    match status {
        401 | 403 => ProviderError::Unauthorized { status, message },
        404 | 410 => ProviderError::NotFound { status, message },
        400 | 422 => ProviderError::Rejected { status, message },
        409 => ProviderError::Conflict { status, message },
        429 => ProviderError::RateLimited { retry_after: None },
        _ => ProviderError::Server { status, message },
    }
}

fn transport_error(e: reqwest::Error) -> ProviderError {
    if e.is_timeout() {
        return ProviderError::Timeout;
    }
    // reqwest's messages name the URL and cause, never headers.
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    ProviderError::Transport(text)
}

/// `Retry-After` as delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let wait = when.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::AUTHORIZATION;

    #[test]
    fn a_client_for_another_server_shares_the_budget_and_not_the_credential() {
        let one = NonZeroU32::new(1).expect("positive");
        let settings = HttpSettings {
            rate_limit: Some(RateLimit {
                requests_per_minute: one,
                burst: one,
            }),
            ..HttpSettings::default()
        };
        let auth = AuthHeader::new(AUTHORIZATION, "Bearer ", &SecretString::from("s3cret"))
            .expect("header");
        let api =
            HttpClient::new("zenml", "https://api.example", Some(auth), settings).expect("client");
        let other = api.at("https://ws.example/").expect("derived");
        assert_eq!(other.base, "https://ws.example");
        assert!(
            other.auth.is_none(),
            "the API's credential stays with the API"
        );
        let limiter = |c: &HttpClient| c.limiter.clone().expect("limited");
        assert!(limiter(&api).check().is_ok());
        assert!(
            limiter(&other).check().is_err(),
            "the one request a minute was spent through the API's client"
        );
        other.pause_for(Duration::from_secs(60));
        assert!(api.paused_until.lock().expect("lock").is_some());
        assert!(matches!(
            api.at("http://ws.example"),
            Err(ProviderError::Config(_))
        ));
    }

    #[test]
    fn https_required_except_loopback() {
        assert!(validate_endpoint("https://api.gcore.com").is_ok());
        assert!(validate_endpoint("http://127.0.0.1:8080").is_ok());
        assert!(validate_endpoint("http://[::1]:8080").is_ok());
        assert!(validate_endpoint("http://localhost:1").is_ok());
        for bad in [
            "http://api.gcore.com",
            "http://10.0.0.1",
            "ftp://api.gcore.com",
            "not a url",
            "https://user:pw@api.gcore.com",
            "https://api.gcore.com/?x=1",
        ] {
            assert!(
                matches!(validate_endpoint(bad), Err(ProviderError::Config(_))),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn retry_after_seconds_and_http_date() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:01 GMT"),
            Some(Duration::ZERO)
        );
        let future = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120);
        let text = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&future)
            .unwrap();
        let wait = parse_retry_after(&text).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn statuses_map_to_errors() {
        let m = || "m".to_owned();
        assert_eq!(status_error(403, m()).reason(), "Unauthorized");
        assert_eq!(status_error(404, m()).reason(), "NotFound");
        assert_eq!(status_error(422, m()).reason(), "Rejected");
        assert_eq!(status_error(409, m()).reason(), "RemoteConflict");
        assert_eq!(status_error(503, m()).reason(), "ProviderUnavailable");
        assert_eq!(status_error(302, m()).reason(), "ProviderUnavailable");
    }

    #[test]
    fn json_errors_are_short_and_do_not_quote_the_body() {
        let secretish = b"{\"count\": 1, \"results\": [SECRET-ish tail";
        let Err(ProviderError::Malformed(msg)) = decode_json::<serde_json::Value>(secretish) else {
            panic!("expected Malformed");
        };
        assert!(!msg.contains("SECRET"), "{msg}");
        let Err(ProviderError::Malformed(msg)) =
            decode_json::<serde_json::Value>(b"  <html><body>Bad gateway</body></html>")
        else {
            panic!("expected Malformed");
        };
        assert!(msg.contains("HTML"), "{msg}");
    }

    #[test]
    fn auth_header_is_never_printed() {
        let auth = AuthHeader::new(
            reqwest::header::AUTHORIZATION,
            "APIKey ",
            &SecretString::from("s3cr3t-key"),
        )
        .unwrap();
        assert!(!format!("{auth:?}").contains("s3cr3t"));
        assert!(auth.value.is_sensitive());
        assert!(
            AuthHeader::new(
                reqwest::header::AUTHORIZATION,
                "",
                &SecretString::from("  ")
            )
            .is_err()
        );
    }

    #[test]
    fn form_bodies_are_encoded() {
        let r =
            ApiRequest::new("login", Method::POST, "/auth/login").form(&[("password", "a b&c")]);
        let Body::Form(text) = r.body else {
            panic!("expected a form body");
        };
        assert_eq!(text, "password=a%20b%26c");
    }
}
