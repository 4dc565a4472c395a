use std::future::Future;
use std::time::Duration;

use rand::Rng;

use crate::AwsError;

/// How long to wait between attempts when AWS throttles a call.
///
/// The wait doubles with each attempt up to `max_delay`, and a random half of it is dropped
/// (equal jitter), so a fleet of pollers throttled together does not retry together. These
/// attempts come on top of the SDK's own few quick retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The wait after the first throttled attempt, before jitter.
    pub base_delay: Duration,
    /// The longest wait, before jitter.
    pub max_delay: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl Backoff {
    /// The wait after the `attempt`-th throttled attempt (1-based): between half of and all of
    /// `base_delay * 2^(attempt-1)`, capped at `max_delay`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let doubled = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let ceiling = doubled.min(self.max_delay);
        let half = ceiling / 2;
        let spread = u64::try_from((ceiling - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(rand::rng().random_range(0..=spread))
    }

    /// Runs `call` until it is not throttled, or `max_attempts` are spent.
    pub(crate) async fn retry<T, F, Fut>(&self, mut call: F) -> Result<T, AwsError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, AwsError>>,
    {
        let mut attempt = 1;
        loop {
            match call().await {
                Err(AwsError::Throttled {
                    action,
                    code,
                    message,
                    ..
                }) => {
                    if attempt >= self.max_attempts {
                        return Err(AwsError::Throttled {
                            action,
                            attempts: attempt,
                            code,
                            message,
                        });
                    }
                    let wait = self.delay(attempt);
                    tracing::debug!(action, attempt, ?wait, "throttled by AWS; backing off");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                done => return done,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn delays_double_within_jitter_and_stop_at_the_cap() {
        let backoff = Backoff {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        for _ in 0..200 {
            let first = backoff.delay(1);
            assert!((50..=100).contains(&first.as_millis()), "{first:?}");
            let third = backoff.delay(3);
            assert!((200..=400).contains(&third.as_millis()), "{third:?}");
            let late = backoff.delay(40);
            assert!((500..=1000).contains(&late.as_millis()), "{late:?}");
        }
    }

    fn throttled() -> AwsError {
        AwsError::Throttled {
            action: "iam:GetAccessKeyLastUsed",
            attempts: 1,
            code: "Throttling".into(),
            message: "Rate exceeded".into(),
        }
    }

    #[tokio::test]
    async fn retries_throttling_then_succeeds() {
        let backoff = Backoff {
            max_attempts: 5,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        };
        let calls = Cell::new(0);
        let out = backoff
            .retry(|| {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move {
                    if n < 3 {
                        Err(throttled())
                    } else {
                        Ok(n)
                    }
                }
            })
            .await;
        assert_eq!(out.unwrap(), 3);
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts_and_does_not_retry_other_errors() {
        let backoff = Backoff {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
        };
        let calls = Cell::new(0);
        let out: Result<(), _> = backoff
            .retry(|| {
                calls.set(calls.get() + 1);
                async { Err(throttled()) }
            })
            .await;
        assert!(matches!(out, Err(AwsError::Throttled { attempts: 3, .. })));
        assert_eq!(calls.get(), 3);

        calls.set(0);
        let out: Result<(), _> = backoff
            .retry(|| {
                calls.set(calls.get() + 1);
                async {
                    Err(AwsError::NotFound {
                        action: "iam:GetAccessKeyLastUsed",
                        code: "NoSuchEntity".into(),
                        message: "gone".into(),
                    })
                }
            })
            .await;
        assert!(matches!(out, Err(AwsError::NotFound { .. })));
        assert_eq!(calls.get(), 1);
    }
}
