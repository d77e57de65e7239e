//! Provider simulators: HTTP servers faithful to each provider's API, with fixtures and
//! injectable faults, for tests, the sandbox and the benchmark.
//!
//! Every simulator is an axum router served by [`SimServer`], which puts the shared fault
//! layer in front of it and logs every request it answers.

pub mod gcore;
pub mod harness;
pub mod hyperstack;
pub mod zenml;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;
use tokio::time::Instant;

/// How a response body is spoiled by [`Faults::corrupt_next`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFault {
    /// Not JSON at all.
    Malformed,
    /// The real body cut in half.
    Truncated,
    /// A proxy's HTML error page with status 200.
    Html,
    /// Valid JSON of [`OVERSIZED_BODY_BYTES`].
    Oversized,
}

/// Larger than any client's default body cap (4 MiB).
pub const OVERSIZED_BODY_BYTES: usize = 5 * 1024 * 1024;
/// How long a hung request waits at most (unless the simulator shuts down first).
const HANG_FOR: Duration = Duration::from_secs(300);

#[derive(Default)]
struct FaultState {
    latency: Duration,
    error_rate: f64,
    /// At most this many requests in any window of this length; more get 429.
    rate_limit: Option<(u32, Duration)>,
    /// When each request still inside the window was let through, oldest first.
    admitted: VecDeque<Instant>,
    fail_next: VecDeque<u16>,
    hang_next: u32,
    corrupt_next: VecDeque<BodyFault>,
}

/// Faults a simulator injects, adjustable while it runs. Clones share the same settings.
#[derive(Clone, Default)]
pub struct Faults {
    state: Arc<Mutex<FaultState>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What the fault layer decided for one request before it reaches the simulator.
enum Verdict {
    RateLimited,
    Fail(u16),
    Hang,
    Pass { latency: Duration },
}

impl Faults {
    /// Delay added to every response.
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.state).latency = latency;
    }

    /// Share (0..=1) of requests answered with a 500.
    pub fn set_error_rate(&self, rate: f64) {
        lock(&self.state).error_rate = rate.clamp(0.0, 1.0);
    }

    /// At most this many requests per second; the rest get 429 (with `Retry-After: 1` where
    /// the provider sends one).
    pub fn set_rate_limit(&self, per_second: Option<u32>) {
        self.set_rate_limit_per(per_second, Duration::from_secs(1));
    }

    /// At most `limit` requests in any (sliding) `window`, the strictest reading of a
    /// published "N requests per minute"; the rest get 429.
    pub fn set_rate_limit_per(&self, limit: Option<u32>, window: Duration) {
        let mut state = lock(&self.state);
        state.rate_limit = limit.map(|l| (l, window));
        state.admitted.clear();
    }

    /// The next `n` requests fail with `status` (a 429 as the provider sends one).
    pub fn fail_next(&self, n: usize, status: u16) {
        lock(&self.state)
            .fail_next
            .extend(std::iter::repeat_n(status, n));
    }

    /// The next `n` requests never answer (until the simulator shuts down).
    pub fn hang_next(&self, n: u32) {
        lock(&self.state).hang_next += n;
    }

    /// The next `n` successful responses get a spoiled body.
    pub fn corrupt_next(&self, n: usize, fault: BodyFault) {
        lock(&self.state)
            .corrupt_next
            .extend(std::iter::repeat_n(fault, n));
    }

    /// Back to a healthy simulator.
    pub fn clear(&self) {
        *lock(&self.state) = FaultState::default();
    }

    fn verdict(&self) -> Verdict {
        self.verdict_at(Instant::now())
    }

    fn verdict_at(&self, now: Instant) -> Verdict {
        let mut state = lock(&self.state);
        if let Some((limit, window)) = state.rate_limit {
            while state
                .admitted
                .front()
                .is_some_and(|t| now.duration_since(*t) >= window)
            {
                state.admitted.pop_front();
            }
            if state.admitted.len() >= usize::try_from(limit).unwrap_or(usize::MAX) {
                return Verdict::RateLimited;
            }
            state.admitted.push_back(now);
        }
        if let Some(status) = state.fail_next.pop_front() {
            return Verdict::Fail(status);
        }
        if state.hang_next > 0 {
            state.hang_next -= 1;
            return Verdict::Hang;
        }
        if state.error_rate > 0.0 && rand::random::<f64>() < state.error_rate {
            return Verdict::Fail(500);
        }
        Verdict::Pass {
            latency: state.latency,
        }
    }

    fn take_corruption(&self) -> Option<BodyFault> {
        lock(&self.state).corrupt_next.pop_front()
    }
}

/// One request a simulator answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestLog {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    /// When the request arrived, before any injected latency: when the client sent it.
    pub at: std::time::SystemTime,
}

/// Formats an error body the way the simulated provider does.
pub type ErrorBody = fn(status: u16, message: &str) -> serde_json::Value;

#[derive(Clone)]
struct Shared {
    faults: Faults,
    log: Arc<Mutex<Vec<RequestLog>>>,
    error_body: ErrorBody,
    /// Whether a 429 says `Retry-After: 1`.
    retry_after: bool,
    stopping: watch::Receiver<bool>,
}

fn error_response(shared: &Shared, status: u16, message: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (code, axum::Json((shared.error_body)(status, message))).into_response();
    if code == StatusCode::TOO_MANY_REQUESTS && shared.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

async fn fault_layer(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    let at = std::time::SystemTime::now();
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let response = match shared.faults.verdict() {
        Verdict::RateLimited => error_response(&shared, 429, "Too many requests"),
        Verdict::Fail(status) => error_response(&shared, status, "Injected failure"),
        Verdict::Hang => {
            let mut stopping = shared.stopping.clone();
            let _ = tokio::time::timeout(HANG_FOR, stopping.wait_for(|s| *s)).await;
            error_response(&shared, 504, "Gateway timeout")
        }
        Verdict::Pass { latency } => {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            let response = next.run(request).await;
            match response
                .status()
                .is_success()
                .then(|| shared.faults.take_corruption())
                .flatten()
            {
                Some(fault) => corrupt(response, fault).await,
                None => response,
            }
        }
    };
    lock(&shared.log).push(RequestLog {
        method,
        path,
        query,
        status: response.status().as_u16(),
        at,
    });
    response
}

async fn corrupt(response: Response, fault: BodyFault) -> Response {
    let (mut parts, body) = response.into_parts();
    let original = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let (content_type, spoiled): (&str, Vec<u8>) = match fault {
        BodyFault::Malformed => (
            "application/json",
            b"{\"count\": 1, \"results\": [tru".to_vec(),
        ),
        BodyFault::Truncated => ("application/json", original[..original.len() / 2].to_vec()),
        BodyFault::Html => (
            "text/html",
            b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>".to_vec(),
        ),
        BodyFault::Oversized => {
            let mut body = b"{\"padding\":\"".to_vec();
            body.resize(OVERSIZED_BODY_BYTES, b'x');
            body.extend_from_slice(b"\"}");
            ("application/json", body)
        }
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Response::from_parts(parts, Body::from(spoiled))
}

/// A running simulator on 127.0.0.1 with the fault layer and request log in front.
pub struct SimServer {
    addr: SocketAddr,
    faults: Faults,
    log: Arc<Mutex<Vec<RequestLog>>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl SimServer {
    /// Serves `router` on a free port of 127.0.0.1.
    pub async fn start(
        router: Router,
        faults: Faults,
        error_body: ErrorBody,
    ) -> std::io::Result<Self> {
        Self::serve(router, faults, error_body, true).await
    }

    /// As [`SimServer::start`], for a provider whose 429s say no `Retry-After`.
    pub async fn start_without_retry_after(
        router: Router,
        faults: Faults,
        error_body: ErrorBody,
    ) -> std::io::Result<Self> {
        Self::serve(router, faults, error_body, false).await
    }

    async fn serve(
        router: Router,
        faults: Faults,
        error_body: ErrorBody,
        retry_after: bool,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (stop, stopping) = watch::channel(false);
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            faults: faults.clone(),
            log: log.clone(),
            error_body,
            retry_after,
            stopping: stopping.clone(),
        };
        let app = router.layer(axum::middleware::from_fn_with_state(shared, fault_layer));
        let mut stopped = stopping;
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // Also ends when the server is dropped without `shutdown`
                    // (the sender is gone).
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await
        });
        Ok(Self {
            addr,
            faults,
            log,
            stop,
            task,
        })
    }

    /// The base URL a ProviderConfig would name: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    pub fn requests(&self) -> Vec<RequestLog> {
        lock(&self.log).clone()
    }

    /// Stops accepting, wakes hung requests and waits briefly for open connections.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let abort = self.task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(v: Verdict) -> bool {
        matches!(v, Verdict::Pass { .. })
    }

    #[test]
    fn queued_failures_come_first_and_in_order() {
        let faults = Faults::default();
        faults.fail_next(1, 503);
        faults.fail_next(1, 401);
        faults.hang_next(1);
        assert!(matches!(faults.verdict(), Verdict::Fail(503)));
        assert!(matches!(faults.verdict(), Verdict::Fail(401)));
        assert!(matches!(faults.verdict(), Verdict::Hang));
        assert!(pass(faults.verdict()));
    }

    #[test]
    fn rate_limit_counts_requests_per_second() {
        let faults = Faults::default();
        faults.set_rate_limit(Some(2));
        assert!(pass(faults.verdict()));
        assert!(pass(faults.verdict()));
        assert!(matches!(faults.verdict(), Verdict::RateLimited));
        faults.set_rate_limit(None);
        assert!(pass(faults.verdict()));
    }

    #[test]
    fn rate_limit_window_slides() {
        let faults = Faults::default();
        faults.set_rate_limit_per(Some(2), Duration::from_secs(60));
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        assert!(pass(faults.verdict_at(at(0))));
        assert!(pass(faults.verdict_at(at(30))));
        assert!(matches!(faults.verdict_at(at(59)), Verdict::RateLimited));
        // The first request left the window; the second is still in it.
        assert!(pass(faults.verdict_at(at(60))));
        assert!(matches!(faults.verdict_at(at(61)), Verdict::RateLimited));
    }

    #[test]
    fn error_rate_and_latency_apply_until_cleared() {
        let faults = Faults::default();
        faults.set_error_rate(1.0);
        assert!(matches!(faults.verdict(), Verdict::Fail(500)));
        faults.clear();
        faults.set_latency(Duration::from_millis(10));
        let clone = faults.clone();
        assert!(matches!(
            clone.verdict(),
            Verdict::Pass { latency } if latency == Duration::from_millis(10)
        ));
        faults.corrupt_next(1, BodyFault::Html);
        assert_eq!(clone.take_corruption(), Some(BodyFault::Html));
        assert_eq!(clone.take_corruption(), None);
    }
}
