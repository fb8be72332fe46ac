//! Retry policy: exponential backoff with full jitter, honouring `Retry-After`.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use crate::error::ChatError;

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 = try once).
    pub max_retries: u32,
    /// Backoff before the first retry; doubles each time.
    pub base_delay: Duration,
    /// The longest wait between attempts (also caps `Retry-After`).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based): the server's `Retry-After` when given,
    /// else a uniformly random delay up to `base · 2^(retry−1)` (full jitter), capped.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.max_delay);
        }
        let exponent = retry.saturating_sub(1).min(20);
        let ceiling = self
            .base_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay);
        let jitter: f64 = rand::rng().random_range(0.5..=1.0);
        ceiling.mul_f64(jitter)
    }
}

/// Runs `attempt` until it succeeds, fails with an error that retrying cannot help, or runs out
/// of `policy`'s retries; sleeps the policy's delay (or the server's `Retry-After`) in between
/// and calls `on_retry` with each error that is retried. The last error after more than one
/// attempt comes back as [`ChatError::GaveUp`].
pub async fn with_retries<Attempt, Pending, T>(
    policy: &RetryPolicy,
    mut attempt: Attempt,
    mut on_retry: impl FnMut(&ChatError),
) -> Result<T, ChatError>
where
    Attempt: FnMut() -> Pending,
    Pending: Future<Output = Result<T, ChatError>>,
{
    let mut attempts = 0;
    loop {
        attempts += 1;
        match attempt().await {
            Ok(response) => return Ok(response),
            Err(error) if error.is_retryable() && attempts <= policy.max_retries => {
                on_retry(&error);
                let retry_after = match &error {
                    ChatError::Status { retry_after, .. } => *retry_after,
                    _ => None,
                };
                tokio::time::sleep(policy.delay(attempts, retry_after)).await;
            }
            Err(error) if attempts > 1 => {
                return Err(ChatError::GaveUp {
                    attempts,
                    last: Box::new(error),
                })
            }
            Err(error) => return Err(error),
        }
    }
}

/// Parses a `Retry-After` header given in seconds (HTTP dates are not used by model servers).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_wins_and_is_capped() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(600))),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn backoff_grows_and_stays_under_its_ceiling() {
        let policy = RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for _ in 0..50 {
            assert!(policy.delay(1, None) <= Duration::from_millis(100));
            assert!(policy.delay(3, None) >= Duration::from_millis(200));
            assert!(policy.delay(3, None) <= Duration::from_millis(400));
            assert!(policy.delay(10, None) <= Duration::from_secs(1));
        }
    }

    #[test]
    fn retry_after_parses_seconds_only() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
