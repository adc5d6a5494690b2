//! Drain-time target tracking (`target_wait_seconds`): the concurrency that keeps up with the
//! arrivals and drains the waiting messages within the target wait. Pure. The depth samples
//! it smooths are kept in memory by the caller (a warm Lambda container, the simulator) and
//! never persisted, so a steady target costs no write.
//!
//! # The formula (docs/policy.md "Drain-time target")
//!
//! With `s` the service time of one message, `b` the batch size (messages one execution takes
//! at once), `k` the messages an invocation really takes (at most `b`; 1 when unknown), `W`
//! the target wait, `Q` the messages waiting, `M` the messages in flight, `g` how fast `Q`
//! grows while messages wait, `t` the target's tolerance of an increase (its
//! `scale_out_tolerance`, else its `tolerance`) and `T` the seconds between decisions:
//!
//! - An execution processes 1/`s` messages a second, whatever its batch, so an arrival rate
//!   `λ` keeps `λ·s` executions at work (Little's law).
//! - A message stays in flight for its whole batch's run, `k·s`, so `M = λ·k·s` while the
//!   executions keep up: `λ·s = M/k`. While messages wait, every execution is busy and the
//!   rest of the arrivals pile up: `λ·s = M/k + g·s` (`g` is negative while a backlog
//!   drains). `M` and `g` are smoothed over the samples ([`SMOOTHING_SECONDS`]).
//! - The tolerance skips increases smaller than `t` of the reservation, so the proposal aims
//!   `t` above the need: a reservation the tolerance holds is never below what the arrivals
//!   keep busy, and holding it never builds a backlog. While messages wait, the latest sample
//!   alone may ask for more, so that a rise acts at once.
//! - Until the next decision, `T` seconds later, Poisson arrivals bring `λ·T ± √(λ·T)`
//!   messages: [`HEADROOM_DEVIATIONS`] of that are kept as headroom, drained within the wait.
//! - Draining `Q` within `W` takes `Q·s/W` more executions. The last message of a full batch
//!   starts `(b−1)·s` after its first, so the queue itself must drain within
//!   `W' = W − (b−1)·s`, and never less than one service time. More executions than batches
//!   waiting have nothing to take: the drain part is at most `Q/b`.
//!
//! `proposal = ceil(λ·s·(1 + t) + 2·s·√(λ·T)/W' + min(Q·s/W', Q/b))`
//!
//! Scale-in stabilization records the proposal without its drain part, which ends with the
//! backlog ([`Proposal::sustained`]).
//!
//! Without a service time (no `service_seconds`, and CloudWatch has none yet) the formula
//! takes the largest one the goal allows, `W/b` (a full batch of it just fits in the wait),
//! or the one last measured if that is larger, and counts no drain in the growth: every part
//! grows with `s`, so the proposal is at least what the real service time would give, and a
//! missing measurement never scales in.

use crate::decide::QueueDepth;
use crate::policy::{QueueSpec, WaitGoal};
use crate::service_time::Unmeasured;

/// The time constant of the in-flight and growth smoothing, in seconds: a sample's weight is
/// `1 − e^(−Δt/τ)`, so samples every 10 s and every 60 s smooth over the same span of time.
pub const SMOOTHING_SECONDS: f64 = 30.0;
/// Samples further apart than this start the smoothing afresh: an old sample says nothing
/// about the growth now.
pub const GAP_SECONDS: i64 = 300;
/// A measured service time this many times its reference, with throughput flat, is a slow
/// dependency rather than demand ([`Measured::slow_dependency`]).
pub const SLOW_FACTOR: f64 = 1.5;
/// Throughput within this factor of its reference counts as not risen
/// ([`Measured::slow_dependency`]).
pub const FLAT_THROUGHPUT: f64 = 1.1;

/// What successive depth samples of one queue say, smoothed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// Messages in flight, smoothed.
    pub in_flight: f64,
    /// How fast messages pile up beyond what the executions take, per second, smoothed;
    /// `None` from a single sample. A sample counts the change of the waiting messages while
    /// some wait: the executions are then all busy, so arrivals = their throughput + this
    /// (negative while they drain a backlog). A sample with nothing waiting counts 0: the
    /// executions keep up, and in-flight messages alone measure the arrivals.
    pub growth_per_second: Option<f64>,
    /// How many samples the smoothing has seen since it last started.
    pub samples: u32,
    /// The latest sample's own in-flight messages and growth, unsmoothed.
    pub latest_in_flight: f64,
    pub latest_growth: Option<f64>,
    /// Seconds between the last two samples: how long a decision lasts until the next.
    pub interval: Option<f64>,
}

/// The depth samples of one queue, in memory only.
#[derive(Debug, Clone, Default)]
pub struct DepthSamples {
    last: Option<(i64, f64)>,
    rates: Option<Rates>,
}

impl Rates {
    /// What one sample says, before any other.
    pub fn single(in_flight: u64) -> Rates {
        let in_flight = in_flight as f64;
        Rates {
            in_flight,
            growth_per_second: None,
            samples: 1,
            latest_in_flight: in_flight,
            latest_growth: None,
            interval: None,
        }
    }
}

impl DepthSamples {
    /// Adds the sample read at `at` (epoch seconds) and returns the smoothed rates. A sample
    /// no later than the last one adds nothing (the same read seen twice).
    pub fn add(&mut self, at: i64, waiting: u64, in_flight: u64) -> Rates {
        let fresh = Rates::single(in_flight);
        let (waiting, in_flight) = (waiting as f64, in_flight as f64);
        let rates = match (self.last, self.rates) {
            (Some((last_at, _)), Some(rates)) if at <= last_at => return rates,
            (Some((last_at, last_waiting)), Some(rates)) if at - last_at <= GAP_SECONDS => {
                let elapsed = (at - last_at) as f64;
                let weight = 1.0 - (-elapsed / SMOOTHING_SECONDS).exp();
                let growth = if waiting > 0.0 {
                    (waiting - last_waiting) / elapsed
                } else {
                    0.0
                };
                let blend = |old: f64, new: f64| old + weight * (new - old);
                Rates {
                    in_flight: blend(rates.in_flight, in_flight),
                    growth_per_second: Some(match rates.growth_per_second {
                        Some(old) => blend(old, growth),
                        None => growth,
                    }),
                    samples: rates.samples.saturating_add(1),
                    latest_in_flight: in_flight,
                    latest_growth: Some(growth),
                    interval: Some(elapsed),
                }
            }
            _ => fresh,
        };
        self.last = Some((at, waiting));
        self.rates = Some(rates);
        rates
    }

    /// The rates as of the last sample.
    pub fn rates(&self) -> Option<Rates> {
        self.rates
    }
}

/// The target's service time as CloudWatch measured it: late, and only while it has traffic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    /// Seconds per message over the recent periods: `Duration` summed / messages deleted.
    pub seconds: f64,
    /// Messages per invocation over the same periods (deleted / invocations), if known.
    pub messages_per_invocation: Option<f64>,
    /// Messages processed per second over the recent periods.
    pub throughput: f64,
    /// The same two over the hour before, if it had traffic: what "usual" is.
    pub reference: Option<Reference>,
    /// Epoch seconds of the end of the latest period used.
    pub as_of: i64,
}

/// Service time, throughput and batch size over a longer, earlier span.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reference {
    pub seconds: f64,
    pub throughput: f64,
    /// Messages per invocation, if every period carried its invocations.
    pub messages_per_invocation: Option<f64>,
}

impl Measured {
    /// A service time well above its reference while throughput has not risen: the
    /// executions wait on something slower (a database), and more of them would not drain
    /// faster. Throughput falls too when all of them are busy (or a cap holds fewer). Not
    /// after a lull, though: smaller batches (when CloudWatch gives both batch sizes) share
    /// each invocation's fixed cost among fewer messages, so each message looks slower while
    /// each invocation got faster, or (when an invocation's time is mostly fixed) fewer
    /// executions are busy. Batches that fail and go back to the queue are smaller too, but
    /// each invocation is as slow or slower and as many are busy. The reason, if so.
    pub fn slow_dependency(&self) -> Option<String> {
        let reference = self.reference?;
        let batches = self
            .messages_per_invocation
            .zip(reference.messages_per_invocation);
        let per_message = self.seconds >= SLOW_FACTOR * reference.seconds;
        let after_a_lull = batches.is_some_and(|(now, before)| {
            let smaller = now * SLOW_FACTOR < before;
            let invocations_faster =
                self.seconds * now * FLAT_THROUGHPUT < reference.seconds * before;
            let fewer_busy = self.throughput * self.seconds * FLAT_THROUGHPUT
                < reference.throughput * reference.seconds;
            smaller && (invocations_faster || fewer_busy)
        });
        let no_more_throughput = self.throughput <= FLAT_THROUGHPUT * reference.throughput;
        (per_message && !after_a_lull && no_more_throughput).then(|| {
            format!(
                "service time {} s is {:.1} times the hour before's {} s{} while throughput \
                 does not rise ({:.1}/s against {:.1}/s): a slow dependency, not demand",
                round(self.seconds),
                self.seconds / reference.seconds,
                round(reference.seconds),
                match batches {
                    Some((now, before)) => format!(
                        " ({} s an invocation against {})",
                        round(self.seconds * now),
                        round(reference.seconds * before)
                    ),
                    None => String::new(),
                },
                self.throughput,
                reference.throughput
            )
        })
    }
}

/// Everything a drain-time proposal reads besides the depth.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Signals {
    /// The queue's smoothed samples, including this evaluation's.
    pub rates: Option<Rates>,
    /// The service time CloudWatch measured, if it has.
    pub measured: Option<Measured>,
    /// The largest `BatchSize` of the target's followed SQS event source mappings.
    pub mapping_batch_size: Option<u32>,
    /// The service time last measured, too old to serve (its batch and its verdict describe
    /// an earlier load): a missing measurement assumes no less.
    pub last_seconds: Option<f64>,
    /// The queue's URL names another account or Region than the autoscaler's: CloudWatch
    /// here cannot measure the service time.
    pub queue_elsewhere: bool,
    /// Why the latest service-time read measured nothing, if it did not.
    pub unmeasured: Option<crate::service_time::Unmeasured>,
}

/// A drain-time proposal.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub value: i64,
    /// The part that lasts: the executions the arrivals keep busy, without the backlog's
    /// drain, which ends with the backlog. Scale-in stabilization keeps this part only.
    pub sustained: Option<i64>,
    pub reason: String,
    /// Set when the service time rose without throughput: no scale-out on it.
    pub slow_dependency: Option<String>,
}

/// The messages waiting in `depth` as a drain-time target counts them: the visible ones, and
/// the delayed ones too when it says so (`include_delayed`).
pub fn waiting(depth: &QueueDepth, with_delayed: bool) -> u64 {
    // Saturating, as `decide::backlog`: counts come from outside (explain takes any).
    depth
        .visible
        .saturating_add(if with_delayed { depth.delayed } else { 0 })
}

/// The drain-time proposal for `depth` (see the module documentation for the formula);
/// `tolerance` is the one that holds the target's increases, which the proposal keeps above
/// the need.
pub fn propose(
    spec: &QueueSpec,
    goal: &WaitGoal,
    depth: QueueDepth,
    signals: &Signals,
    tolerance: f64,
) -> Proposal {
    let waiting = waiting(&depth, spec.include_delayed);
    let q = waiting as f64;
    let rates = signals
        .rates
        .unwrap_or_else(|| Rates::single(depth.in_flight));
    let measured_batch = signals
        .measured
        .and_then(|m| m.messages_per_invocation)
        .map(|k| k.max(1.0));
    // The batch size given (policy, then mapping) bounds what was measured; without one,
    // the measured batch is the evidence.
    let (batch, batch_from) = match (goal.batch_size, signals.mapping_batch_size, measured_batch) {
        (Some(b), _, _) => (b, "batch_size"),
        (None, Some(b), _) => (b, "the event source mapping's BatchSize"),
        (None, None, Some(k)) => (
            k.ceil().min(f64::from(WaitGoal::MAX_BATCH_SIZE)) as u32,
            "as measured",
        ),
        (None, None, None) => (1, "no mapping, no batch_size"),
    };
    let b = f64::from(batch);
    let per_invocation = measured_batch.map_or(1.0, |k| k.min(b));
    let slow_dependency = signals.measured.and_then(|m| m.slow_dependency());
    let mut parts = vec![format!("{waiting} waiting, {} in flight", depth.in_flight)];
    if per_invocation > 1.0 {
        parts.push(format!("{} messages per invocation", round(per_invocation)));
    }
    // Without a service time, the largest one the goal allows (W/b: a full batch of it
    // just fits in the wait): every part of the proposal grows with the service time, so
    // this proposes at least what the real one would, and a missing measurement never
    // scales in. A drain (negative growth) is not counted then.
    let (s, service_from, known) = match (goal.service_seconds, signals.measured) {
        (Some(s), _) => (s, "service_seconds".to_owned(), true),
        (None, Some(m)) => (m.seconds, "measured by CloudWatch".to_owned(), true),
        (None, None) => {
            let largest = f64::from(goal.target_wait_seconds) / b;
            match signals.last_seconds.filter(|&last| last > largest) {
                // The goal cannot be met at that service time; assuming less would scale in
                // because a measurement went missing.
                Some(last) => (
                    last,
                    format!(
                        "unknown (no service_seconds, none measured lately{}): the last one \
                         measured, {}, above the wait over the batch, {}",
                        match signals.unmeasured {
                            Some(Unmeasured::Failed) => ": the latest metric read failed",
                            _ => "",
                        },
                        round(last),
                        round(largest)
                    ),
                    false,
                ),
                None => (
                    largest,
                    format!(
                        "unknown (no service_seconds, {}): at most the wait over the batch, {}",
                        if signals.queue_elsewhere {
                            "none measured: the queue is in another account or Region, whose \
                             metrics are not read here"
                        } else {
                            match (signals.unmeasured, signals.last_seconds) {
                                (Some(Unmeasured::Failed), _) => {
                                    "none measured: the latest metric read failed (logged at \
                                     WARN)"
                                }
                                (_, Some(_)) => "the last measurement is too old",
                                (Some(Unmeasured::TooFew), None) => {
                                    "none measured: too few messages deleted lately (under 20 \
                                     in 5 minutes), or their metrics have not arrived"
                                }
                                (None, None) => "none measured yet",
                            }
                        },
                        round(largest)
                    ),
                    false,
                ),
            }
        }
    };

    // What the arrivals keep busy (Little's law; see the module documentation).
    let keep_up = |in_flight: f64, growth: Option<f64>| {
        let growth = growth.unwrap_or(0.0);
        let growth = if known { growth } else { growth.max(0.0) };
        (in_flight / per_invocation + growth * s).max(0.0)
    };
    let smoothed = keep_up(rates.in_flight, rates.growth_per_second);
    // The tolerance band lies above the need: a reservation the tolerance holds never falls
    // below what the arrivals keep busy, so holding it never builds a backlog.
    let above_need = smoothed * (1.0 + tolerance);
    // While messages wait, the latest sample alone acts at once: a rise must not wait for
    // the smoothing. With nothing waiting it is noise, and the smoothed value holds.
    let latest = keep_up(rates.latest_in_flight, rates.latest_growth);
    let keep = if waiting > 0 {
        above_need.max(latest)
    } else {
        above_need
    };
    let drain_within = (f64::from(goal.target_wait_seconds) - (b - 1.0) * s).max(s);
    // Until the next decision, Poisson arrivals at rate r bring r*T +- sqrt(r*T):
    // HEADROOM_DEVIATIONS of that, drained within the wait like any backlog.
    let interval = rates.interval.unwrap_or(DEFAULT_INTERVAL_SECONDS);
    let headroom = HEADROOM_DEVIATIONS * s * (smoothed / s * interval).sqrt() / drain_within;
    let drain = (q * s / drain_within).min(q / b);

    parts.push(if known {
        format!("service {} s ({service_from})", round(s))
    } else {
        format!("service time {service_from} s")
    });
    parts.push(format!(
        "arrivals keep {} busy ({}{}), {} with the tolerance above it{}",
        round(smoothed),
        match rates.samples {
            1 => "one sample".to_owned(),
            n => format!("smoothed over {n} samples"),
        },
        match rates.growth_per_second {
            Some(g) if g.abs() >= 0.005 => format!(
                ", {} {}/s beyond the executions' pace",
                if g > 0.0 { "piling up" } else { "draining" },
                round(g.abs())
            ),
            _ => String::new(),
        },
        round(above_need),
        if keep > above_need {
            format!("; the latest sample says {}", round(latest))
        } else {
            String::new()
        }
    ));
    parts.push(format!(
        "+ {} for {} s of random arrivals",
        round(headroom),
        round(interval)
    ));
    parts.push(format!(
        "+ {} to drain {waiting} within {} s{}",
        round(drain),
        round(drain_within),
        if batch > 1 {
            format!(
                " (the target less a batch of {batch}'s {} s, {batch_from})",
                round((b - 1.0) * s)
            )
        } else {
            String::new()
        }
    ));
    Proposal::of(
        spec,
        goal,
        &parts,
        whole(keep + headroom + drain),
        whole(above_need + headroom),
        slow_dependency,
    )
}

impl Proposal {
    /// The proposal `value` with its lasting part, and the reason that lists `parts`.
    fn of(
        spec: &QueueSpec,
        goal: &WaitGoal,
        parts: &[String],
        value: i64,
        sustained: i64,
        slow_dependency: Option<String>,
    ) -> Proposal {
        Proposal {
            value,
            sustained: Some(sustained),
            reason: format!(
                "queue {}: target wait {} s: {} -> propose {value}",
                spec.queue.name(),
                goal.target_wait_seconds,
                parts.join("; ")
            ),
            slow_dependency,
        }
    }
}

/// The standard deviations of the arrivals until the next decision kept as headroom: a
/// burst that large (one in 40 intervals, for Poisson arrivals) still drains within the
/// wait.
pub const HEADROOM_DEVIATIONS: f64 = 2.0;

/// Seconds between decisions assumed until a second sample says.
pub const DEFAULT_INTERVAL_SECONDS: f64 = 60.0;

/// Up to the next whole execution, within what a reservation can be.
fn whole(x: f64) -> i64 {
    (x - 1e-9).ceil().clamp(0.0, crate::count::MAX_COUNT as f64) as i64
}

/// Two decimals at most, without trailing zeros: reasons read "1.5 s", not "1.500000 s".
fn round(x: f64) -> String {
    let text = format!("{x:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{QueueGoal, QueueRef};

    fn spec(goal: WaitGoal) -> QueueSpec {
        QueueSpec {
            queue: QueueRef::Name("orders".into()),
            goal: QueueGoal::Wait(goal),
            include_in_flight: true,
            include_delayed: false,
            activation: 0,
        }
    }

    fn goal(wait: u32, service: Option<f64>, batch: Option<u32>) -> WaitGoal {
        WaitGoal {
            target_wait_seconds: wait,
            service_seconds: service,
            batch_size: batch,
        }
    }

    fn depth(visible: u64, in_flight: u64) -> QueueDepth {
        QueueDepth {
            visible,
            in_flight,
            delayed: 0,
        }
    }

    fn propose_for(goal: WaitGoal, depth: QueueDepth, signals: Signals) -> i64 {
        propose(&spec(goal), &goal, depth, &signals, 0.0).value
    }

    /// Samples every 10 s that agree with the latest one.
    fn steady(in_flight: f64, growth: f64) -> Rates {
        Rates {
            in_flight,
            growth_per_second: Some(growth),
            samples: 6,
            latest_in_flight: in_flight,
            latest_growth: Some(growth),
            interval: Some(10.0),
        }
    }

    #[test]
    fn the_executions_at_work_plus_headroom_plus_the_backlog_drained_within_the_wait() {
        // 20 at work; two deviations of 60 s of arrivals at 20/s, 2 x sqrt(1200) = 69.3,
        // drained within 30 s: 2.31; 300 waiting at 1 s each within 30 s: 10.
        let g = goal(30, Some(1.0), None);
        assert_eq!(propose_for(g, depth(300, 20), Signals::default()), 33);
        assert_eq!(propose_for(g, depth(0, 20), Signals::default()), 23);
        // A shorter service time drains with fewer: 300 x 0.2 / 30 = 2, headroom 1.03.
        let g = goal(30, Some(0.2), None);
        assert_eq!(propose_for(g, depth(300, 20), Signals::default()), 24);
    }

    #[test]
    fn the_proposal_aims_the_tolerance_above_the_need() {
        let g = goal(30, Some(1.0), None);
        let proposal = propose(&spec(g), &g, depth(0, 20), &Signals::default(), 0.25);
        // 20 x 1.25 + 2.31.
        assert_eq!((proposal.value, proposal.sustained), (28, Some(28)));
    }

    #[test]
    fn growth_while_messages_wait_adds_to_the_arrivals_and_a_drain_subtracts() {
        let g = goal(60, Some(2.0), None);
        let growing = Signals {
            rates: Some(steady(10.0, 5.0)),
            ..Signals::default()
        };
        // 10 at work + 5/s x 2 s = 20; headroom 2 x 2 x sqrt(10/s x 10 s) / 60 = 0.67;
        // 30 x 2 / 60.
        assert_eq!(propose_for(g, depth(30, 10), growing), 22);
        // Draining 3/s beyond the pace: the arrivals keep 10 - 6 = 4 busy.
        let draining = Signals {
            rates: Some(steady(10.0, -3.0)),
            ..Signals::default()
        };
        let proposal = propose(&spec(g), &g, depth(30, 10), &draining, 0.0);
        assert_eq!((proposal.value, proposal.sustained), (6, Some(5)));
        // Never below nothing.
        let emptied = Signals {
            rates: Some(steady(10.0, -50.0)),
            ..Signals::default()
        };
        assert_eq!(propose_for(g, depth(30, 10), emptied), 1);
    }

    #[test]
    fn the_latest_sample_acts_alone_only_while_messages_wait() {
        let g = goal(10, Some(1.0), None);
        let jump = Signals {
            rates: Some(Rates {
                latest_in_flight: 40.0,
                ..steady(10.0, 0.0)
            }),
            ..Signals::default()
        };
        // Nothing waits: the smoothed 10, headroom 2 x sqrt(10 x 10) / 10 = 2.
        assert_eq!(propose_for(g, depth(0, 40), jump), 12);
        // 5 wait: the latest 40 acts at once; stabilization keeps the smoothed part.
        let proposal = propose(&spec(g), &g, depth(5, 40), &jump, 0.0);
        assert_eq!((proposal.value, proposal.sustained), (43, Some(12)));
    }

    #[test]
    fn a_batch_shortens_the_time_to_drain_and_bounds_the_executions_by_the_batches_waiting() {
        // Batches of 10 at 0.5 s: the last of a batch starts 4.5 s after the first, so 1000
        // waiting drain within 25.5 s: 1000 x 0.5 / 25.5 = 19.6.
        let g = goal(30, Some(0.5), Some(10));
        assert_eq!(propose_for(g, depth(1000, 0), Signals::default()), 20);
        // With a wait barely above a batch's run, draining is bounded by the 10 batches
        // waiting rather than by 100 x 1 / 1.
        let g = goal(10, Some(1.0), Some(10));
        assert_eq!(propose_for(g, depth(100, 0), Signals::default()), 10);
    }

    #[test]
    fn the_mappings_batch_size_applies_when_the_policy_gives_none() {
        let g = goal(10, Some(1.0), None);
        let signals = Signals {
            mapping_batch_size: Some(10),
            ..Signals::default()
        };
        assert_eq!(propose_for(g, depth(100, 0), signals), 10);
        assert_eq!(propose_for(g, depth(100, 0), Signals::default()), 10);
        let g = goal(5, Some(1.0), None);
        assert_eq!(propose_for(g, depth(100, 0), Signals::default()), 20);
        assert_eq!(propose_for(g, depth(100, 0), signals), 10);
    }

    #[test]
    fn measured_messages_per_invocation_turn_messages_in_flight_into_executions() {
        let g = goal(30, None, Some(10));
        let measured = Measured {
            seconds: 0.5,
            messages_per_invocation: Some(4.0),
            throughput: 80.0,
            reference: None,
            as_of: 0,
        };
        let signals = Signals {
            measured: Some(measured),
            ..Signals::default()
        };
        // 40 messages in flight, 4 an invocation: 10 executions; headroom
        // 2 x 0.5 x sqrt(20/s x 60 s) / 25.5 = 1.36.
        assert_eq!(propose_for(g, depth(0, 40), signals), 12);
        // More than the batch size is not believed: at most 10 an invocation, 4 executions.
        let odd = Signals {
            measured: Some(Measured {
                messages_per_invocation: Some(25.0),
                ..measured
            }),
            ..signals
        };
        assert_eq!(propose_for(g, depth(0, 40), odd), 5);
    }

    #[test]
    fn a_minute_whose_invocation_count_is_missing_does_not_lower_the_proposal() {
        use crate::service_time::{summarize, Point};
        // 100 messages a minute, 10 an invocation, 2 s each; 10,000 waiting, 50 in flight.
        let full: Vec<Point> = (1..=5)
            .map(|m| Point {
                end: m * 60,
                duration_seconds: 200.0,
                invocations: Some(10.0),
                messages: 100.0,
            })
            .collect();
        let mut late = full.clone();
        late[4].invocations = None;
        let g = goal(60, None, None);
        let with = |points: &[Point]| {
            let signals = Signals {
                rates: Some(steady(50.0, 0.0)),
                measured: summarize(points),
                ..Signals::default()
            };
            propose(&spec(g), &g, depth(10_000, 50), &signals, 0.1).value
        };
        // Read as one message an invocation, the drain window would grow from 42 s to 60 s
        // and the proposal fall from 483 to 391.
        assert_eq!((with(&full), with(&late)), (483, 483));
    }

    #[test]
    fn without_a_service_time_the_largest_the_goal_allows_proposes_at_least_any_real_one() {
        let g = goal(30, None, None);
        // s = 30 s: 5 at work, headroom 2 x 30 x sqrt(5/30 x 60) / 30 = 6.32, 12 waiting.
        assert_eq!(propose_for(g, depth(12, 5), Signals::default()), 24);
        for service in [0.1, 1.0, 5.0, 29.0, 30.0] {
            let known = goal(30, Some(service), None);
            for (waiting, in_flight) in [(0, 0), (12, 5), (0, 40), (500, 40)] {
                let d = depth(waiting, in_flight);
                assert!(
                    propose_for(known, d, Signals::default())
                        <= propose_for(g, d, Signals::default()),
                    "s {service}, {d:?}"
                );
            }
        }
        let proposal = propose(&spec(g), &g, depth(12, 5), &Signals::default(), 0.0);
        assert!(
            proposal.reason.contains("service time unknown"),
            "{}",
            proposal.reason
        );
        assert_eq!(proposal.slow_dependency, None);
    }

    #[test]
    fn a_measurement_too_old_to_serve_still_bounds_the_assumed_service_time_from_below() {
        // A wait of 30 s with batches of 1, but each message takes 60 s: 100 in flight,
        // growing by 5 a second, 1,000 waiting.
        let g = goal(30, None, Some(1));
        let measured = Measured {
            seconds: 60.0,
            messages_per_invocation: Some(1.0),
            throughput: 1.7,
            reference: None,
            as_of: 0,
        };
        let with = |signals: Signals| {
            let rates = Signals {
                rates: Some(steady(100.0, 5.0)),
                ..signals
            };
            propose(&spec(g), &g, depth(1_000, 100), &rates, 0.1)
        };
        let served = with(Signals {
            measured: Some(measured),
            ..Signals::default()
        });
        // Too old: the goal's largest, 30 s, would halve what the growth keeps busy.
        let aged = with(Signals {
            last_seconds: Some(60.0),
            ..Signals::default()
        });
        assert!(
            aged.value >= served.value,
            "{} < {}",
            aged.value,
            served.value
        );
        assert!(
            aged.reason.contains("the last one measured, 60"),
            "{}",
            aged.reason
        );
        // Below the goal's largest, the largest holds.
        let small = with(Signals {
            last_seconds: Some(5.0),
            ..Signals::default()
        });
        assert_eq!(small.value, with(Signals::default()).value);
    }

    #[test]
    fn the_policys_service_time_wins_over_the_measured_one() {
        let g = goal(10, Some(1.0), None);
        let signals = Signals {
            measured: Some(Measured {
                seconds: 5.0,
                messages_per_invocation: None,
                throughput: 1.0,
                reference: None,
                as_of: 0,
            }),
            ..Signals::default()
        };
        assert_eq!(propose_for(g, depth(100, 0), signals), 10);
        let measured_only = goal(10, None, None);
        assert_eq!(propose_for(measured_only, depth(100, 0), signals), 50);
    }

    #[test]
    fn delayed_messages_wait_only_when_the_target_counts_them() {
        let g = goal(10, Some(1.0), None);
        let mut with_delayed = spec(g);
        let d = QueueDepth {
            visible: 10,
            in_flight: 0,
            delayed: 90,
        };
        assert_eq!(
            propose(&with_delayed, &g, d, &Signals::default(), 0.0).value,
            1
        );
        with_delayed.include_delayed = true;
        assert_eq!(
            propose(&with_delayed, &g, d, &Signals::default(), 0.0).value,
            10
        );
    }

    #[test]
    fn a_slower_service_with_flat_throughput_is_a_slow_dependency_and_more_throughput_is_demand() {
        let slow = Measured {
            seconds: 3.0,
            messages_per_invocation: None,
            throughput: 10.0,
            reference: Some(Reference {
                seconds: 1.0,
                throughput: 10.0,
                messages_per_invocation: None,
            }),
            as_of: 0,
        };
        assert!(slow.slow_dependency().is_some());
        let busier = Measured {
            throughput: 20.0,
            ..slow
        };
        assert_eq!(busier.slow_dependency(), None);
        let a_little_slower = Measured {
            seconds: 1.4,
            ..slow
        };
        assert_eq!(a_little_slower.slow_dependency(), None);
        let no_reference = Measured {
            reference: None,
            ..slow
        };
        assert_eq!(no_reference.slow_dependency(), None);
        // All executions busy: three times slower, a third of the throughput, as many busy.
        let saturated = Measured {
            throughput: 10.0 / 3.0,
            ..slow
        };
        assert!(saturated.slow_dependency().is_some());
        // A cap holding fewer executions than the hour before had: still one.
        let capped = Measured {
            throughput: 1.0,
            ..slow
        };
        assert!(capped.slow_dependency().is_some());
        // In batches about as large as the hour before's: still one.
        let batched = |now: f64, before: f64| Measured {
            messages_per_invocation: Some(now),
            reference: Some(Reference {
                seconds: 1.0,
                throughput: 10.0,
                messages_per_invocation: Some(before),
            }),
            ..slow
        };
        assert!(batched(8.0, 10.0).slow_dependency().is_some());
        // Part of each batch failing at once (back to the queue, not deleted): a third as
        // many deleted an invocation, each invocation as long as before: still one.
        assert!(batched(10.0 / 3.0, 10.0).slow_dependency().is_some());
        // Half the batches failing (back to the queue, not deleted): 5 deleted an
        // invocation instead of 10, as many executions busy: still one.
        assert!(batched(5.0, 10.0).slow_dependency().is_some());
        // After a lull: batches of 1 instead of 10 share each invocation's fixed cost among
        // fewer messages, so each looks slower while each invocation is faster, however
        // many executions are busy.
        for throughput in [1.0, 10.0] {
            let after_a_lull = Measured {
                throughput,
                ..batched(1.0, 10.0)
            };
            assert_eq!(after_a_lull.slow_dependency(), None, "{throughput}/s");
        }
        // With an invocation's time mostly fixed (10 s for 1 as for 10), fewer busy.
        let fixed_cost_lull = Measured {
            seconds: 10.0,
            throughput: 0.5,
            ..batched(1.0, 10.0)
        };
        assert_eq!(fixed_cost_lull.slow_dependency(), None);
    }

    #[test]
    fn samples_blend_by_the_time_between_them() {
        let mut samples = DepthSamples::default();
        let first = samples.add(1000, 0, 0);
        assert_eq!(first.samples, 1);
        assert_eq!(first.growth_per_second, None);
        // 60 s later, in flight jumps to 100: weight 1 - e^(-60/SMOOTHING_SECONDS).
        let second = samples.add(1060, 600, 100);
        let weight = 1.0 - (-60.0 / SMOOTHING_SECONDS).exp();
        assert!((second.in_flight - 100.0 * weight).abs() < 1e-9);
        assert_eq!(second.growth_per_second, Some(10.0));
        assert_eq!(second.samples, 2);
        // The same read again adds nothing.
        assert_eq!(samples.add(1060, 9999, 9999), second);
        assert_eq!(samples.rates(), Some(second));
        // Still waiting, fewer: a drain, blended in.
        let third = samples.add(1120, 300, 100);
        assert!((third.growth_per_second.unwrap() - (10.0 + weight * (-5.0 - 10.0))).abs() < 1e-9);
        // Nothing waiting: the executions keep up, whatever the drop was.
        let fourth = samples.add(1180, 0, 100);
        let expected = third.growth_per_second.unwrap() * (1.0 - weight);
        assert!((fourth.growth_per_second.unwrap() - expected).abs() < 1e-9);
    }

    #[test]
    fn six_ten_second_samples_smooth_as_much_as_one_sixty_second_sample() {
        let mut every_ten = DepthSamples::default();
        every_ten.add(0, 0, 0);
        let mut ten = every_ten.rates().unwrap();
        for tick in 1..=6 {
            ten = every_ten.add(tick * 10, 0, 100);
        }
        let mut every_sixty = DepthSamples::default();
        every_sixty.add(0, 0, 0);
        let sixty = every_sixty.add(60, 0, 100);
        assert!((ten.in_flight - sixty.in_flight).abs() < 1e-9);
    }

    #[test]
    fn a_gap_longer_than_gap_seconds_starts_afresh() {
        let mut samples = DepthSamples::default();
        samples.add(0, 0, 50);
        let after_gap = samples.add(GAP_SECONDS + 1, 100, 7);
        assert_eq!(after_gap, Rates::single(7));
    }
}
