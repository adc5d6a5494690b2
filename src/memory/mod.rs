//! In-memory implementations of the ports: a small world of functions, alarms, queues and
//! saved state that the handler tests, the offline `explain` command and the simulator run
//! against. Every call is logged at the port boundary (what a benchmark counts), and faults
//! can be injected per operation and resource.

mod clock;
mod cloudwatch;
mod lambda;
mod sqs;
mod state;

pub use clock::ManualClock;
pub use cloudwatch::MemoryCloudWatch;
pub use lambda::{Meanwhile, MemoryLambda};
pub use sqs::MemoryQueues;
pub use state::{MemoryStateStore, ARCHIVE_PUT};

use crate::context::Context;
use crate::pace::PacedLambda;
use crate::ports::{AwsError, Clock};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One call made through a memory port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// When it was made, on the clock's monotonic scale.
    pub at: Duration,
    /// The AWS operation it stands for, e.g. `PutFunctionConcurrency`.
    pub operation: &'static str,
    pub resource: String,
}

/// The calls of a whole world, in order.
#[derive(Default)]
pub struct CallLog {
    calls: Mutex<Vec<Call>>,
}

impl CallLog {
    fn record(&self, clock: &dyn Clock, operation: &'static str, resource: &str) {
        lock(&self.calls).push(Call {
            at: clock.elapsed(),
            operation,
            resource: resource.to_owned(),
        });
    }

    pub fn all(&self) -> Vec<Call> {
        lock(&self.calls).clone()
    }

    /// How many calls of `operation` were made.
    pub fn count(&self, operation: &str) -> usize {
        lock(&self.calls)
            .iter()
            .filter(|c| c.operation == operation)
            .count()
    }

    pub fn clear(&self) {
        lock(&self.calls).clear();
    }
}

/// Failures to answer instead of the normal result.
#[derive(Default)]
pub struct Faults {
    faults: Mutex<Vec<Fault>>,
}

struct Fault {
    operation: &'static str,
    /// `None`: any resource.
    resource: Option<String>,
    code: Option<String>,
    message: String,
    /// How many more calls fail; `None`: every call.
    remaining: Option<u32>,
    /// How many matching calls still pass before the first failure.
    skip: u32,
}

impl Faults {
    /// Makes the next `times` calls (every call, for `None`) of `operation` on `resource`
    /// (any, for `None`) fail with `code` (`None`: a transport failure).
    pub fn inject(
        &self,
        operation: &'static str,
        resource: Option<&str>,
        code: Option<&str>,
        message: &str,
        times: Option<u32>,
    ) {
        self.inject_after(0, operation, resource, code, message, times);
    }

    /// As [`Faults::inject`], after `skip` matching calls that pass (a save that fails only
    /// the second time, for example).
    pub fn inject_after(
        &self,
        skip: u32,
        operation: &'static str,
        resource: Option<&str>,
        code: Option<&str>,
        message: &str,
        times: Option<u32>,
    ) {
        lock(&self.faults).push(Fault {
            operation,
            resource: resource.map(str::to_owned),
            code: code.map(str::to_owned),
            message: message.to_owned(),
            remaining: times,
            skip,
        });
    }

    pub fn clear(&self) {
        lock(&self.faults).clear();
    }

    /// The injected failure for this call, if any (and counts it).
    fn check(&self, operation: &'static str, resource: &str) -> Result<(), AwsError> {
        let mut faults = lock(&self.faults);
        let Some(fault) = faults.iter_mut().find(|f| {
            f.operation == operation
                && f.resource.as_deref().is_none_or(|r| r == resource)
                && f.remaining != Some(0)
        }) else {
            return Ok(());
        };
        if fault.skip > 0 {
            fault.skip -= 1;
            return Ok(());
        }
        if let Some(n) = &mut fault.remaining {
            *n -= 1;
        }
        Err(AwsError {
            operation,
            resource: resource.to_owned(),
            code: fault.code.clone(),
            message: fault.message.clone(),
        })
    }
}

/// A whole in-memory world, sharing one clock, one call log and one set of faults.
pub struct World {
    pub clock: Arc<ManualClock>,
    pub calls: Arc<CallLog>,
    pub faults: Arc<Faults>,
    pub lambda: Arc<MemoryLambda>,
    pub cloudwatch: Arc<MemoryCloudWatch>,
    pub queues: Arc<MemoryQueues>,
    pub state: Arc<MemoryStateStore>,
    /// The processes (contexts) made so far: each saves under a mark of its own.
    processes: std::sync::atomic::AtomicU64,
}

impl World {
    /// An empty world whose wall clock starts at `epoch_seconds`.
    pub fn new(epoch_seconds: i64) -> World {
        let clock = Arc::new(ManualClock::new(epoch_seconds));
        let calls = Arc::new(CallLog::default());
        let faults = Arc::new(Faults::default());
        let parts = Parts {
            clock: clock.clone(),
            calls: calls.clone(),
            faults: faults.clone(),
        };
        World {
            lambda: Arc::new(MemoryLambda::new(parts.clone())),
            cloudwatch: Arc::new(MemoryCloudWatch::new(parts.clone())),
            queues: Arc::new(MemoryQueues::new(parts.clone())),
            state: Arc::new(MemoryStateStore::new(parts)),
            clock,
            calls,
            faults,
            processes: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// A context over this world: a process of its own (its saves carry its mark, as a
    /// Lambda container's do). Lambda calls are paced as in production, on the world's
    /// clock; `with_state` false leaves the state store out (no table configured).
    pub fn context(
        &self,
        control_plane_per_second: f64,
        get_function_per_second: f64,
        with_state: bool,
    ) -> Context {
        let clock: Arc<dyn Clock> = self.clock.clone();
        Context {
            lambda: Arc::new(PacedLambda::new(
                self.lambda.clone(),
                clock.clone(),
                control_plane_per_second,
                get_function_per_second,
            )),
            alarms: self.cloudwatch.clone(),
            metric_reader: self.cloudwatch.clone(),
            queues: self.queues.clone(),
            finder: self.lambda.clone(),
            metrics: self.cloudwatch.clone(),
            state: with_state.then(|| {
                Arc::new(state::StateProcess {
                    store: self.state.clone(),
                    id: self
                        .processes
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                }) as _
            }),
            clock,
            region: Some(lambda::REGION.to_owned()),
        }
    }
}

/// What every memory port shares with its world.
#[derive(Clone)]
struct Parts {
    clock: Arc<ManualClock>,
    calls: Arc<CallLog>,
    faults: Arc<Faults>,
}

impl Parts {
    /// Logs the call, then answers an injected fault if there is one.
    fn call(&self, operation: &'static str, resource: &str) -> Result<(), AwsError> {
        self.calls.record(&*self.clock, operation, resource);
        self.faults.check(operation, resource)
    }
}

/// Changes to a world that take effect later, on its clock's monotonic scale: a queue that
/// fills while an invocation runs, another writer's reservation write that lands.
struct Later<T> {
    /// (from when, which name, the value), in the order given.
    pending: Mutex<Vec<(Duration, String, T)>>,
}

impl<T> Default for Later<T> {
    fn default() -> Self {
        Later {
            pending: Mutex::default(),
        }
    }
}

impl<T> Later<T> {
    fn add(&self, from: Duration, name: &str, value: T) {
        lock(&self.pending).push((from, name.to_owned(), value));
    }

    /// Takes out the changes due at `now`, in the order they were given.
    fn due(&self, now: Duration) -> Vec<(String, T)> {
        let mut pending = lock(&self.pending);
        let (due, later) = std::mem::take(&mut *pending)
            .into_iter()
            .partition::<Vec<_>, _>(|(from, _, _)| *from <= now);
        *pending = later;
        due.into_iter()
            .map(|(_, name, value)| (name, value))
            .collect()
    }
}

/// A poisoned lock only means another test thread panicked; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
