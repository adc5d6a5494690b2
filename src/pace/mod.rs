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
    AccountConcurrency, AwsError, Clock, ErrorKind, EventSourceMapping, FunctionView, Lambda,
    MappingPage, MappingUpdate,
};
mod backoff;
use async_trait::async_trait;
use backoff::Backoff;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The control-plane budget holds for any window of 1 s + this at the client, so that the
/// jitter between a call leaving and arriving (a few milliseconds here, 13 at worst in the
/// account-scale benchmark) cannot put one call too many into a second as AWS counts it.
pub const CONTROL_PLANE_GUARD: Duration = Duration::from_millis(25);

/// Added to the backoff before retrying a throttled write while its fence allows: the quota
/// counts per second, so a retry has to wait for the next one. (The `retryAfterSeconds`
/// Lambda may send is not read.)
pub const THROTTLED_WAIT: Duration = Duration::from_secs(1);

/// The error code of a write not sent because its lease's start window passed
/// ([`crate::lease`]).
pub const LEASE_PASSED: &str = "LeaseStartPassed";

/// How long the pacer goes without a throttled call before it raises a lowered budget by
/// one step ([`Pacer::throttled`]).
pub const RECOVERY_STEP: Duration = Duration::from_secs(30);

/// At most `rate` call starts in any second (a sliding window), so a call that follows a
/// quiet spell starts at once: a cold container lists the account's event source mappings
/// and writes straight after, instead of waiting `1 / rate` between the two. The account's
/// quota counts requests per second, and the window holds the count in *every* second, so
/// a burst never takes more of it than the budget. A fractional rate is rounded down to
/// whole calls per second; a rate below 1 keeps one call per `1 / rate` seconds. Callers
/// take turns, and each is counted from when it *actually* started (not its planned slot),
/// so a caller that woke late cannot squeeze the next one closer. It lives as long as the
/// process, so a warm Lambda's consecutive invocations share it.
///
/// **Throttled, it slows down** (additive increase, multiplicative decrease): a throttled
/// call means the account's quota is spent by someone else, a deployment say, and the
/// autoscaler's share only adds to their failures. Each throttle halves the calls allowed
/// per window (down to one; throttles of calls sent before the last halving count once, as
/// one spell), and every [`RECOVERY_STEP`] without a
/// throttle gives back a tenth of the budget (at least one call), up to the budget. It never
/// goes below one call per window: a budget (or a watching deployment's part of it) of one
/// call a second or less does not slow.
pub struct Pacer {
    /// The budget: at most this many starts in any `window`, unthrottled.
    calls: usize,
    window: Duration,
    /// When the last `calls` calls started (on the clock's monotonic scale), oldest first;
    /// held while waiting, so that callers take turns.
    starts: tokio::sync::Mutex<VecDeque<Duration>>,
    /// The starts allowed in any window now: `calls`, or fewer after a throttle.
    limit: std::sync::Mutex<Limit>,
}

/// The throttle-adapted part of a [`Pacer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limit {
    calls: usize,
    /// When a throttle last lowered it, or it last recovered a step.
    changed_at: Duration,
    /// When a throttle last lowered it: a throttled call sent before then is of the same
    /// spell, and lowers it no further.
    lowered_at: Option<Duration>,
}

impl Pacer {
    /// A pacer for `per_second` calls per second (greater than 0).
    pub fn per_second(per_second: f64) -> Pacer {
        Self::per_second_with_guard(per_second, Duration::ZERO)
    }

    /// A pacer for `per_second` calls in any second stretched by `guard`: calls that leave
    /// a second apart can arrive a few milliseconds closer (the network's jitter), so a
    /// budget that must hold where it is counted (at AWS) keeps a guard.
    pub fn per_second_with_guard(per_second: f64, guard: Duration) -> Pacer {
        // Whole calls per second: a fractional rate is rounded down, since any window
        // shorter than a second could put more than the rate into some second. A rate below
        // 1 stretches the window for its one call.
        let calls = per_second.floor().max(1.0);
        Pacer {
            calls: calls as usize,
            window: (Duration::from_secs(1) + guard).mul_f64((calls / per_second).max(1.0)),
            starts: tokio::sync::Mutex::new(VecDeque::with_capacity(calls as usize)),
            limit: std::sync::Mutex::new(Limit {
                calls: calls as usize,
                changed_at: Duration::ZERO,
                lowered_at: None,
            }),
        }
    }

    /// The starts allowed in any window at `now`, after the recovery since the last change.
    fn limit_at(&self, now: Duration) -> usize {
        let mut limit = self.limit.lock().unwrap_or_else(|e| e.into_inner());
        if limit.calls < self.calls {
            let steps = now.saturating_sub(limit.changed_at).as_nanos() / RECOVERY_STEP.as_nanos();
            if steps > 0 {
                let step = self.calls.div_ceil(10);
                let raised = (limit.calls as u128 + steps * step as u128).min(self.calls as u128);
                limit.calls = raised as usize;
                // The part of a step already waited counts towards the next.
                limit.changed_at += RECOVERY_STEP * u32::try_from(steps).unwrap_or(u32::MAX);
                if limit.calls == self.calls {
                    tracing::info!(
                        calls = limit.calls,
                        "no Lambda call throttled for a while: pacing back at the full budget"
                    );
                }
            }
        }
        limit.calls
    }

    /// Notes that a call sent at `sent_at` was throttled, as heard at `now`: the allowed
    /// calls per window are halved, unless a throttle heard since the call was sent already
    /// halved them (calls sent together are throttled together: one spell).
    pub fn throttled(&self, sent_at: Duration, now: Duration) {
        let mut limit = self.limit.lock().unwrap_or_else(|e| e.into_inner());
        if limit.lowered_at.is_some_and(|at| sent_at < at) {
            return;
        }
        let lowered = (limit.calls / 2).max(1);
        if lowered < limit.calls {
            tracing::warn!(
                from = limit.calls,
                to = lowered,
                per_seconds = self.window.as_secs_f64(),
                "Lambda throttled a call: the account's quota is spent elsewhere, so the \
                 autoscaler paces slower until none is throttled for a while"
            );
        }
        *limit = Limit {
            calls: lowered,
            changed_at: now,
            lowered_at: Some(now),
        };
    }

    /// The spacing of calls in the long run: the window over the calls it holds now.
    pub fn interval(&self, clock: &dyn Clock) -> Duration {
        self.window / self.limit_at(clock.elapsed()) as u32
    }

    /// The start that `limit` calls in a window leave for the next call: a window after
    /// the `limit`-th latest start, if there are that many.
    fn next_due(&self, starts: &VecDeque<Duration>, limit: usize) -> Option<Duration> {
        let index = starts.len().checked_sub(limit)?;
        starts.get(index).map(|nth| *nth + self.window)
    }

    /// Waits for this caller's turn; the call must start as soon as this returns.
    pub async fn acquire(&self, clock: &dyn Clock) {
        let mut starts = self.starts.lock().await;
        let limit = self.limit_at(clock.elapsed());
        if let Some(due) = self.next_due(&starts, limit) {
            let now = clock.elapsed();
            if due > now {
                clock.sleep(due - now).await;
            }
        }
        if starts.len() == self.calls {
            starts.pop_front();
        }
        starts.push_back(clock.elapsed());
    }

    /// How long a call asked for now would wait, if no other caller is waiting.
    pub fn wait(&self, clock: &dyn Clock) -> Duration {
        let now = clock.elapsed();
        match self.starts.try_lock() {
            Ok(starts) => self
                .next_due(&starts, self.limit_at(now))
                .map_or(Duration::ZERO, |due| due.saturating_sub(now)),
            // Someone is waiting for a turn right now: at least one interval.
            Err(_) => self.interval(clock),
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
    /// The longest single attempt of the fenced writes since it was last taken
    /// ([`Self::take_slowest_write_attempt`]): what one more write takes, without the
    /// retries' waits, which each attempt's fence bounds on its own.
    slowest_write_attempt: std::sync::Mutex<Option<Duration>>,
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
            slowest_write_attempt: std::sync::Mutex::default(),
        }
    }

    /// The longest single attempt of the fenced writes (reservations, mappings) made since
    /// the last call, if any; the writer, which makes them one at a time, times its writes
    /// by it.
    pub fn take_slowest_write_attempt(&self) -> Option<Duration> {
        self.slowest_write_attempt
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// How long a control-plane call asked for now would wait for its slot.
    pub fn control_plane_wait(&self) -> Duration {
        self.control_plane.wait(&*self.clock)
    }

    /// The time between control-plane calls at the budget's pace.
    pub fn control_plane_interval(&self) -> Duration {
        self.control_plane.interval(&*self.clock)
    }

    /// `PutFunctionConcurrency`, every attempt of it (retries too) starting before
    /// `start_by` on the clock's monotonic scale, or none: a change fenced by the lease of its
    /// saved attempt ([`crate::lease`]).
    ///
    /// After an answer that does not say the write was refused (none came, or a server
    /// fault), the write may have landed, and sent again it could land a second time after
    /// another writer's change that had seen it land (a cap, say). So `before_resend`, when
    /// given, is asked first (after the last attempt too): its answer is the write's result,
    /// or `None` to send it again.
    pub async fn put_reserved_before<C, CFut>(
        &self,
        function: &FunctionRef,
        value: u32,
        start_by: Option<Duration>,
        before_resend: Option<C>,
    ) -> Result<(), AwsError>
    where
        C: Fn(&AwsError) -> CFut,
        CFut: Future<Output = Option<Result<(), AwsError>>>,
    {
        let fence = start_by.map(|by| (by, "PutFunctionConcurrency", function.to_string()));
        self.paced_before(
            &self.control_plane,
            fence,
            || self.inner.put_reserved(function, value),
            before_resend,
        )
        .await
    }

    /// The function's reservation from one `GetFunction` (paced, not retried): a check before
    /// a resend that cannot read it must not send the write blind, nor wait long.
    pub async fn reserved_once(&self, function: &FunctionRef) -> Result<Option<u32>, AwsError> {
        self.get_function.acquire(&*self.clock).await;
        self.inner.get_function(function).await.map(|f| f.reserved)
    }

    /// `UpdateEventSourceMapping`, fenced as [`Self::put_reserved_before`].
    pub async fn update_mapping_before(
        &self,
        uuid: &str,
        update: MappingUpdate,
        start_by: Option<Duration>,
    ) -> Result<EventSourceMapping, AwsError> {
        let fence = start_by.map(|by| (by, "UpdateEventSourceMapping", uuid.to_owned()));
        self.paced_before(
            &self.control_plane,
            fence,
            || self.inner.update_mapping(uuid, update),
            no_check(),
        )
        .await
    }

    async fn paced<T, F, Fut>(&self, pacer: &Pacer, call: F) -> Result<T, AwsError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, AwsError>>,
    {
        self.paced_before(pacer, None, call, no_check()).await
    }

    /// Paced and retried; with a `fence` (the latest start, the operation and its resource),
    /// an attempt whose turn comes later is not made. With `before_resend`, a failure that
    /// may have followed the call's success (no answer, a server fault) is checked after its
    /// backoff, the last attempt's too: what the check returns is the call's result, or `None`
    /// to try again (after the last attempt: the failure).
    async fn paced_before<T, F, Fut, C, CFut>(
        &self,
        pacer: &Pacer,
        fence: Option<(Duration, &'static str, String)>,
        call: F,
        before_resend: Option<C>,
    ) -> Result<T, AwsError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, AwsError>>,
        C: Fn(&AwsError) -> CFut,
        CFut: Future<Output = Option<Result<T, AwsError>>>,
    {
        let mut attempt = 1;
        loop {
            pacer.acquire(&*self.clock).await;
            if let Some((by, operation, resource)) = &fence {
                if self.clock.elapsed() > *by {
                    return Err(AwsError {
                        operation,
                        resource: resource.clone(),
                        code: Some(LEASE_PASSED.into()),
                        message: format!(
                            "not sent: more than {} s after its attempt was saved, another \
                             writer may have decided since; the next evaluation decides again",
                            crate::lease::START_WITHIN.as_secs()
                        ),
                    });
                }
            }
            let began = self.clock.elapsed();
            let answer = call().await;
            if fence.is_some() {
                let took = self.clock.elapsed().saturating_sub(began);
                let mut slowest = self
                    .slowest_write_attempt
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                *slowest = Some(slowest.map_or(took, |s| s.max(took)));
            }
            match answer {
                Err(error) if error.retryable() => {
                    if error.kind() == ErrorKind::Throttled {
                        pacer.throttled(began, self.clock.elapsed());
                    }
                    let last = attempt >= self.backoff.max_attempts;
                    let check = before_resend.as_ref().filter(|_| {
                        matches!(error.kind(), ErrorKind::NoAnswer | ErrorKind::ServerFault)
                    });
                    if last && check.is_none() {
                        return Err(error);
                    }
                    let mut wait = self.backoff.delay(attempt, fastrand::f64());
                    // A throttled write: the account's quota is counted per second and
                    // someone else (a deployment) has spent this one, so a retry within it
                    // only adds to the throttling. Only while the write's fence (its lease
                    // window and the deadline's margin) leaves room for the retry after it;
                    // a read, which knows no deadline here, keeps the short backoff.
                    // Room for it and for the longest backoffs of the attempts after it, so
                    // that the extra second never costs a later attempt its window.
                    let later: Duration = (attempt + 1..self.backoff.max_attempts)
                        .map(|a| self.backoff.delay(a, 1.0))
                        .sum();
                    let room = fence.as_ref().is_some_and(|(by, _, _)| {
                        self.clock.elapsed() + wait + THROTTLED_WAIT + later < *by
                    });
                    if error.kind() == ErrorKind::Throttled && room {
                        wait += THROTTLED_WAIT;
                    }
                    tracing::debug!(%error, attempt, ?wait, "transient Lambda error");
                    self.clock.sleep(wait).await;
                    if let Some(check) = check {
                        if let Some(result) = check(&error).await {
                            tracing::debug!(%error, "not sent again: {:?}", result.as_ref().err());
                            return result;
                        }
                    }
                    if last {
                        return Err(error);
                    }
                    attempt += 1;
                }
                result => return result,
            }
        }
    }
}

/// What a check before a retry returns: the call's result, or `None` to try again.
type Checked<T> = std::future::Ready<Option<Result<T, AwsError>>>;

/// No check before a retry: reads, and mapping writes, whose second landing the lease covers
/// (a reader waits out a change that raises mappings; a decrease lowers them before its
/// reservation, whose landing a reader waits for).
pub fn no_check<T>() -> Option<fn(&AwsError) -> Checked<T>> {
    None
}

#[async_trait]
impl Lambda for PacedLambda {
    async fn get_function(&self, function: &FunctionRef) -> Result<FunctionView, AwsError> {
        self.paced(&self.get_function, || self.inner.get_function(function))
            .await
    }

    /// Without the check before a resend ([`Self::put_reserved_before`] has it): the writer
    /// (src/apply.rs) never calls this.
    async fn put_reserved(&self, function: &FunctionRef, value: u32) -> Result<(), AwsError> {
        self.put_reserved_before(function, value, None, no_check())
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
        self.update_mapping_before(uuid, update, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::ManualClock;

    async fn starts(pacer: &Pacer, clock: &ManualClock, calls: usize) -> Vec<Duration> {
        let mut at = Vec::new();
        for _ in 0..calls {
            pacer.acquire(clock).await;
            at.push(clock.elapsed());
        }
        at
    }

    /// A world whose function `f` (reserved at 1) has its next `times` reservation writes
    /// throttled, and a context pacing 5 control-plane calls a second.
    fn throttled_writes(
        times: u32,
    ) -> (crate::memory::World, crate::context::Context, FunctionRef) {
        let world = crate::memory::World::new(0);
        let ctx = world.context(5.0, 50.0, false);
        world.lambda.add("f", Some(1), &[]);
        world.faults.inject(
            "PutFunctionConcurrency",
            None,
            Some("TooManyRequestsException"),
            "Rate exceeded",
            Some(times),
        );
        (world, ctx, FunctionRef::parse("f").unwrap())
    }

    fn most_in(at: &[Duration], window: Duration) -> usize {
        at.iter()
            .map(|start| {
                at.iter()
                    .filter(|t| **t >= *start && **t < *start + window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn after_a_quiet_spell_calls_start_at_once_and_no_second_holds_more_than_the_rate() {
        let clock = ManualClock::new(0);
        let pacer = Pacer::per_second_with_guard(5.0, CONTROL_PLANE_GUARD);
        let mut at = starts(&pacer, &clock, 5).await;
        // The first five start together (a cold container's listing and its write).
        assert!(at.iter().all(|t| *t == Duration::ZERO), "{at:?}");
        assert_eq!(pacer.wait(&clock), Duration::from_millis(1025));
        at.extend(starts(&pacer, &clock, 18).await);
        // Every second (with the guard) holds at most five, and the long run keeps the rate.
        assert_eq!(most_in(&at, Duration::from_millis(1025)), 5);
        assert_eq!(at[22], Duration::from_millis(4 * 1025));
        // A quiet spell frees the window again.
        clock.advance(Duration::from_secs(2));
        assert_eq!(pacer.wait(&clock), Duration::ZERO);
    }

    #[tokio::test]
    async fn a_throttle_halves_the_calls_per_window_and_a_quiet_spell_gives_them_back() {
        let clock = ManualClock::new(0);
        let pacer = Pacer::per_second(5.0);
        let second = Duration::from_secs(1);
        let sent = clock.elapsed();
        clock.advance(Duration::from_millis(100));
        pacer.throttled(sent, clock.elapsed());
        // Calls sent before the first was heard are of the same spell: halved only once.
        clock.advance(Duration::from_millis(100));
        pacer.throttled(sent, clock.elapsed());
        let at = starts(&pacer, &clock, 6).await;
        assert_eq!(most_in(&at, second), 2, "{at:?}");
        assert_eq!(pacer.interval(&clock), Duration::from_millis(500));
        // A call sent after that is a new spell: one call per window, and never less.
        pacer.throttled(clock.elapsed(), clock.elapsed());
        pacer.throttled(clock.elapsed(), clock.elapsed());
        let at = starts(&pacer, &clock, 3).await;
        assert_eq!(most_in(&at, second), 1, "{at:?}");
        // Each RECOVERY_STEP without a throttle gives back one call (a tenth of 5, rounded
        // up)...
        clock.advance(RECOVERY_STEP);
        assert_eq!(pacer.interval(&clock), Duration::from_millis(500));
        // ... up to the budget, never beyond.
        clock.advance(RECOVERY_STEP * 10);
        assert_eq!(pacer.interval(&clock), Duration::from_millis(200));
        let at = starts(&pacer, &clock, 10).await;
        assert_eq!(most_in(&at, second), 5, "{at:?}");
    }

    #[tokio::test]
    async fn recovery_counts_the_part_of_a_step_already_waited() {
        let clock = ManualClock::new(0);
        let pacer = Pacer::per_second(5.0);
        // Throttled: 5 -> 2. Looked at every two thirds of a step from then on.
        pacer.throttled(Duration::ZERO, Duration::ZERO);
        for _ in 0..4 {
            clock.advance(RECOVERY_STEP * 2 / 3);
            let _ = pacer.interval(&clock);
        }
        // 8/3 steps: two given back (4 calls), the third due at 3 steps.
        assert_eq!(pacer.interval(&clock), Duration::from_millis(250));
        clock.advance(RECOVERY_STEP / 3);
        assert_eq!(pacer.interval(&clock), Duration::from_millis(200));
    }

    #[tokio::test]
    async fn a_throttled_call_slows_the_calls_after_it_not_only_its_own_retry() {
        let (world, ctx, f) = throttled_writes(1);
        ctx.lambda.put_reserved(&f, 2).await.unwrap();
        for _ in 0..6 {
            ctx.lambda.account().await.unwrap();
        }
        let at: Vec<Duration> = (world.calls.all().into_iter())
            .filter(|c| c.operation == "GetAccountSettings")
            .map(|c| c.at)
            .collect();
        // Two calls a second after the throttle instead of the budget's five.
        assert_eq!(most_in(&at, Duration::from_secs(1)), 2, "{at:?}");
        assert!(at[5] - at[0] >= Duration::from_secs(2), "{at:?}");
        // GetFunction has a quota and a pacer of its own: not slowed.
        let before = ctx.clock.elapsed();
        for _ in 0..10 {
            ctx.lambda.get_function(&f).await.unwrap();
        }
        assert_eq!(ctx.clock.elapsed(), before);
    }

    #[tokio::test]
    async fn a_fenced_write_whose_turn_comes_after_its_start_window_is_not_sent() {
        let world = crate::memory::World::new(0);
        let ctx = world.context(1.0, 50.0, false);
        world.lambda.add("f", Some(1), &[]);
        let f = FunctionRef::parse("f").unwrap();
        // In time: sent. The next turn is a second later, after its window: not sent.
        let by = Some(Duration::from_millis(500));
        ctx.lambda
            .put_reserved_before(&f, 2, by, no_check())
            .await
            .unwrap();
        let late = ctx
            .lambda
            .put_reserved_before(&f, 3, by, no_check())
            .await
            .unwrap_err();
        assert_eq!(late.code.as_deref(), Some(LEASE_PASSED));
        assert_eq!(world.lambda.reserved("f"), Some(2));
        assert_eq!(world.calls.count("PutFunctionConcurrency"), 1);
    }

    #[tokio::test]
    async fn a_throttled_write_waits_a_second_between_attempts_only_while_its_fence_allows() {
        let (world, ctx, f) = throttled_writes(2);
        // A window of 2.5 s: the first retry waits the extra second; the next cannot, and
        // comes at the slowed pace, still within its window.
        let by = Some(Duration::from_millis(2500));
        ctx.lambda
            .put_reserved_before(&f, 2, by, no_check())
            .await
            .unwrap();
        assert_eq!(world.lambda.reserved("f"), Some(2));
        let at: Vec<Duration> = (world.calls.all().into_iter())
            .filter(|c| c.operation == "PutFunctionConcurrency")
            .map(|c| c.at)
            .collect();
        assert_eq!(at.len(), 3, "{at:?}");
        assert!(at[1] - at[0] >= THROTTLED_WAIT, "{at:?}");
        assert!(at[2] < Duration::from_millis(2500), "{at:?}");
    }

    #[tokio::test]
    async fn a_rate_below_one_spaces_single_calls() {
        let clock = ManualClock::new(0);
        let pacer = Pacer::per_second(0.5);
        let at = starts(&pacer, &clock, 3).await;
        assert_eq!(at, [0, 2, 4].map(Duration::from_secs));
        assert_eq!(pacer.interval(&clock), Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_fractional_rate_is_rounded_down_so_that_no_second_holds_more() {
        let clock = ManualClock::new(0);
        let pacer = Pacer::per_second(2.5);
        let at = starts(&pacer, &clock, 6).await;
        assert_eq!(at, [0, 0, 1, 1, 2, 2].map(Duration::from_secs));
        assert_eq!(most_in(&at, Duration::from_secs(1)), 2);
    }
}
