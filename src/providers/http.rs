//! The HTTP client every provider shares: timeouts, rate limiting, error mapping,
//! size-capped bodies, metrics, and an API key that never reaches a log line.
