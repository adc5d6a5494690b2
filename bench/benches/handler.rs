//! Handler CPU per event with in-memory ports: `Autoscaler::handle` on each sample event, one
//! target, on a current-thread tokio runtime, so AWS round trips are left out and all the
//! work runs on this thread.
//!
//! Timed: the thread's CPU time (the machine is shared: wall time would count other
//! processes' turns), over `handle` alone: the trigger parse from a `serde_json::Value`,
//! the plan, the reads and writes through the memory ports and their pacer, `decide`, the
//! metric points as EMF lines and the log line (JSON, as in Lambda, both written to a sink). The world, the
//! policy, the autoscaler and the runtime are built outside the timed loop (a cold start's
//! work); so is parsing the event's bytes (the Lambda runtime's).
//!
//! - `first`: a fresh world per iteration, where the event changes the reservation: reads,
//!   `decide`, a `PutFunctionConcurrency` and a `PutItem`.
//! - `steady`: one world evaluated again and again, with nothing to change: reads and
//!   `decide`, no write.

mod scenarios;

use criterion::{criterion_group, criterion_main, Criterion};
use scenarios::{Setup, SCENARIOS};
use std::hint::black_box;
use std::time::Duration;

/// Worlds built at a time for the `first` loop, to bound memory at large iteration counts.
const BATCH: u64 = 1000;

fn thread_cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// The times this thread gave up the CPU of its own accord: it parks when the runtime has
/// nothing ready, so any real waiting inside `handle` (a timer, a blocked lock) shows here,
/// while preemption by other processes does not.
#[cfg(target_os = "linux")]
fn voluntary_switches() -> Option<i64> {
    // SAFETY: an all-zero rusage is valid, and the call fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid rusage for the call to fill.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    (rc == 0).then_some(usage.ru_nvcsw)
}

#[cfg(not(target_os = "linux"))]
fn voluntary_switches() -> Option<i64> {
    None
}

/// Panics if `run` waited: the time measured must be the handler's CPU.
fn assert_no_waiting(name: &str, run: impl FnOnce()) {
    let before = voluntary_switches();
    run();
    if let (Some(before), Some(after)) = (before, voluntary_switches()) {
        assert_eq!(
            after, before,
            "{name}: the handler waited (voluntary context switches)"
        );
    }
}

fn bench_handler(c: &mut Criterion) {
    // The log line as Lambda formats it (template.yaml: LogFormat JSON), then discarded.
    std::env::set_var("AWS_LAMBDA_LOG_FORMAT", "JSON");
    lambda_runtime::tracing::init_default_subscriber_with_writer(std::io::sink);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
    for scenario in &SCENARIOS {
        let fresh = |n: u64| (0..n).map(|_| scenario.setup(1)).collect::<Vec<Setup>>();
        let worlds = fresh(100);
        // Their first evaluations, then a steady one each.
        assert_no_waiting(scenario.name, || {
            for _ in 0..2 {
                worlds.iter().for_each(|w| drop(w.evaluate(&runtime)));
            }
        });
        c.bench_function(&format!("handler/first/{}", scenario.name), |b| {
            b.iter_custom(|iters| {
                let mut cpu = Duration::ZERO;
                for start in (0..iters).step_by(BATCH as usize) {
                    let worlds = fresh(BATCH.min(iters - start));
                    let started = thread_cpu();
                    for world in &worlds {
                        black_box(world.evaluate(&runtime));
                    }
                    cpu += thread_cpu() - started;
                }
                cpu
            })
        });
        let steady = &worlds[0];
        c.bench_function(&format!("handler/steady/{}", scenario.name), |b| {
            b.iter_custom(|iters| {
                // The call log grows with every evaluation; each sample starts it afresh.
                steady.world.calls.clear();
                let started = thread_cpu();
                for _ in 0..iters {
                    black_box(steady.evaluate(&runtime));
                }
                thread_cpu() - started
            })
        });
    }
}

criterion_group!(benches, bench_handler);
criterion_main!(benches);
