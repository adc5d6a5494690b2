//! Pacing of Lambda API calls under the account's request quotas.
//!
//! Lambda's control plane allows about 15 requests per second per Region, **shared by the
//! whole account**: every deployment and tool draws from it. The autoscaler must never be the
//! reason a deployment is throttled, so every control-plane call it makes (including retries)
//! draws from one [`Pacer`] with a budget well under the quota (`AUTOSCALER_CONTROL_PLANE_RPS`,
//! default 5). `GetFunction` has a quota of its own (100 per second) and its own pacer.
//!
//! [`PacedLambda`] wraps the Lambda port so that no caller can skip either pacer.

use crate::function_ref::FunctionRef;
use crate::ports::{
    AccountConcurrency, AwsError, Clock, EventSourceMapping, FunctionView, Lambda, MappingPage,
    MappingUpdate,
};
use crate::retry::Backoff;
use async_trait::async_trait;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The control-plane budget holds for any window of 1 s + this at the client, so that the
/// jitter between a call leaving and arriving (a few milliseconds here, 13 at worst in the
/// account-scale benchmark) cannot put one call too many into a second as AWS counts it.
pub const CONTROL_PLANE_GUARD: Duration = Duration::from_millis(25);

/// Spaces calls at least `1 / rate` seconds apart: at most `rate` call starts in any
/// second, and never a burst, even after a quiet period. Callers take turns, and each waits
/// `1 / rate` after the previous one *actually* started (not after its planned slot), so a
/// caller that woke late cannot squeeze the next one closer. It lives as long as the
/// process, so a warm Lambda's consecutive invocations share it.
pub struct Pacer {
    interval: Duration,
    /// When the last call started (on the clock's monotonic scale); held while waiting, so
    /// that callers take turns.
    last_start: tokio::sync::Mutex<Option<Duration>>,
}

impl Pacer {
    /// A pacer for `per_second` calls per second (greater than 0).
    pub fn per_second(per_second: f64) -> Pacer {
        Self::per_second_with_guard(per_second, Duration::ZERO)
    }

    /// A pacer for `per_second` calls in any second stretched by `guard`: calls that leave
    /// exactly `1 / rate` apart can arrive a few milliseconds closer (the network's jitter),
    /// so a budget that must hold where it is counted (at AWS) keeps a guard.
    pub fn per_second_with_guard(per_second: f64, guard: Duration) -> Pacer {
        Pacer {
            interval: (Duration::from_secs(1) + guard).div_f64(per_second),
            last_start: tokio::sync::Mutex::new(None),
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Waits for this caller's turn; the call must start as soon as this returns.
    pub async fn acquire(&self, clock: &dyn Clock) {
        let mut last_start = self.last_start.lock().await;
        if let Some(last) = *last_start {
            let due = last + self.interval;
            let now = clock.elapsed();
            if due > now {
                clock.sleep(due - now).await;
            }
        }
        *last_start = Some(clock.elapsed());
    }

    /// How long a call asked for now would wait, if no other caller is waiting.
    pub fn wait(&self, clock: &dyn Clock) -> Duration {
        match self.last_start.try_lock().map(|last| *last) {
            Ok(Some(last)) => (last + self.interval).saturating_sub(clock.elapsed()),
            Ok(None) => Duration::ZERO,
            // Someone is waiting for a turn right now: at least one interval.
            Err(_) => self.interval,
        }
    }
}

/// The Lambda port with every call paced and transient failures retried. Each retry draws
/// from the same pacer as the first attempt, after a backoff with jitter.
pub struct PacedLambda {
    inner: Arc<dyn Lambda>,
    clock: Arc<dyn Clock>,
    /// Everything but `GetFunction`.
    control_plane: Pacer,
    get_function: Pacer,
    backoff: Backoff,
}

impl PacedLambda {
    pub fn new(
        inner: Arc<dyn Lambda>,
        clock: Arc<dyn Clock>,
        control_plane_per_second: f64,
        get_function_per_second: f64,
    ) -> PacedLambda {
        PacedLambda {
            inner,
            clock,
            control_plane: Pacer::per_second_with_guard(
                control_plane_per_second,
                CONTROL_PLANE_GUARD,
            ),
            get_function: Pacer::per_second(get_function_per_second),
            backoff: Backoff::DEFAULT,
        }
    }

    /// How long a control-plane call asked for now would wait for its slot.
    pub fn control_plane_wait(&self) -> Duration {
        self.control_plane.wait(&*self.clock)
    }

    async fn paced<T, F, Fut>(&self, pacer: &Pacer, call: F) -> Result<T, AwsError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, AwsError>>,
    {
        let mut attempt = 1;
        loop {
            pacer.acquire(&*self.clock).await;
            match call().await {
                Err(error) if error.retryable() && attempt < self.backoff.max_attempts => {
                    let wait = self.backoff.delay(attempt, fastrand::f64());
                    tracing::debug!(%error, attempt, ?wait, "transient Lambda error; retrying");
                    self.clock.sleep(wait).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }
}

#[async_trait]
impl Lambda for PacedLambda {
    async fn get_function(&self, function: &FunctionRef) -> Result<FunctionView, AwsError> {
        self.paced(&self.get_function, || self.inner.get_function(function))
            .await
    }

    async fn put_reserved(&self, function: &FunctionRef, value: u32) -> Result<(), AwsError> {
        self.paced(&self.control_plane, || {
            self.inner.put_reserved(function, value)
        })
        .await
    }

    async fn account(&self) -> Result<AccountConcurrency, AwsError> {
        self.paced(&self.control_plane, || self.inner.account())
            .await
    }

    async fn list_mappings(
        &self,
        function: Option<&FunctionRef>,
        marker: Option<&str>,
    ) -> Result<MappingPage, AwsError> {
        self.paced(&self.control_plane, || {
            self.inner.list_mappings(function, marker)
        })
        .await
    }

    async fn get_mapping(&self, uuid: &str) -> Result<EventSourceMapping, AwsError> {
        self.paced(&self.control_plane, || self.inner.get_mapping(uuid))
            .await
    }

    async fn update_mapping(
        &self,
        uuid: &str,
        update: MappingUpdate,
    ) -> Result<EventSourceMapping, AwsError> {
        self.paced(&self.control_plane, || {
            self.inner.update_mapping(uuid, update)
        })
        .await
    }
}
