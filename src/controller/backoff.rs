//! Per-object exponential backoff with jitter, and jittered resync intervals.
//! kube-runtime retries with a fixed action, so rolesync keeps failure counts itself.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Exponential backoff: `base * 2^(failures-1)`, capped at `max`, with "equal jitter"
/// (a random point in the upper half) so failing objects don't retry in lockstep.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The delay after the `failures`-th consecutive failure; `jitter` is in `[0, 1)`.
    pub fn delay(&self, failures: u32, jitter: f64) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let full = self.base.saturating_mul(1u32 << exp).min(self.max);
        let half = full / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }
}

/// `interval` scaled by a factor in `[0.9, 1.1)` so resyncs of many objects spread out.
pub fn jittered(interval: Duration, jitter: f64) -> Duration {
    interval.mul_f64(0.9 + 0.2 * jitter.clamp(0.0, 1.0))
}

/// Consecutive failures per object.
#[derive(Default)]
pub struct FailureCounts {
    counts: Mutex<HashMap<String, u32>>,
}

impl FailureCounts {
    /// Records one more failure of `key` and returns how many in a row there have been.
    pub fn fail(&self, key: &str) -> u32 {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(key.to_owned()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    pub fn succeed(&self, key: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.remove(key);
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("invalid duration {value:?}: {reason} (use e.g. 30s, 10m or 1h)")]
pub struct IntervalError {
    value: String,
    reason: String,
}

/// Parses a poll interval such as `30s` or `10m`; at least one second.
pub fn parse_interval(value: &str) -> Result<Duration, IntervalError> {
    let d = humantime::parse_duration(value.trim()).map_err(|e| IntervalError {
        value: value.to_owned(),
        reason: e.to_string(),
    })?;
    if d < Duration::from_secs(1) {
        return Err(IntervalError {
            value: value.to_owned(),
            reason: "must be at least 1s".to_owned(),
        });
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_and_caps() {
        let b = Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        assert_eq!(b.delay(1, 0.999_999).as_millis() / 100, 9);
        assert_eq!(b.delay(2, 0.0), Duration::from_secs(1));
        assert_eq!(b.delay(3, 0.0), Duration::from_secs(2));
        assert_eq!(b.delay(20, 0.0), Duration::from_secs(30));
        assert!(b.delay(u32::MAX, 0.99) <= Duration::from_secs(60));
    }

    #[test]
    fn jitter_stays_in_upper_half() {
        let b = Backoff::default();
        for i in 0..10 {
            let d = b.delay(4, f64::from(i) / 10.0);
            assert!(
                d >= Duration::from_secs(4) && d <= Duration::from_secs(8),
                "{d:?}"
            );
        }
    }

    #[test]
    fn resync_jitter_is_within_ten_percent() {
        let base = Duration::from_secs(600);
        assert_eq!(jittered(base, 0.0), Duration::from_secs(540));
        assert!(jittered(base, 0.999) < Duration::from_secs(660));
    }

    #[test]
    fn failure_counts_reset_on_success() {
        let c = FailureCounts::default();
        assert_eq!(c.fail("a"), 1);
        assert_eq!(c.fail("a"), 2);
        assert_eq!(c.fail("b"), 1);
        c.succeed("a");
        assert_eq!(c.fail("a"), 1);
    }

    #[test]
    fn intervals_parse() {
        assert_eq!(parse_interval("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_interval("10m"), Ok(Duration::from_secs(600)));
        assert!(parse_interval("500ms").is_err());
        assert!(parse_interval("soon").is_err());
    }
}
