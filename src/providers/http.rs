//! The HTTP client every provider shares: timeouts, rate limiting, error mapping,
//! size-capped bodies, metrics, and an API key that never reaches a log line.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

pub struct RateLimit {
    pub requests_per_minute: NonZeroU32,
    pub burst: NonZeroU32,
}

pub trait RequestObserver: Send + Sync {
    fn request_done(
        &self,
        provider: &'static str,
        operation: &'static str,
        outcome: &str,
        elapsed: Duration,
    );
}

#[derive(Default)]
pub struct HttpSettings {
    pub timeout: Duration,
    pub rate_limit: Option<RateLimit>,
    pub observer: Option<Arc<dyn RequestObserver>>,
    pub max_body_bytes: usize,
}
