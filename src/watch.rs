//! Watch mode (`AUTOSCALER_WATCH_SECONDS`): one scheduled invocation keeps following the
//! queues and alarms of its targets until shortly before the next scheduled run, so that a
//! load step is met within seconds instead of at the next run, a minute later.
//!
//! **What runs.** Only a scheduled reconciliation watches: alarm, queue-depth and SQS events
//! and direct commands never wait for a loop ([`is_scheduled`]). Its first pass is the full
//! reconciliation, as without watching. Then a **tick** every [`Watch::every`], through the
//! same steps as any pass ([`crate::handler`]), over the targets that can change between two
//! runs: those that follow a queue or have alarms, and those the first pass deferred.
//!
//! **What a tick reads.** What changes fast and costs little: the followed queues' depths
//! (`GetQueueAttributes`, one per queue, SQS's own quota), the alarms' states
//! (`DescribeAlarms`, 100 per call) and the followed targets' saved states (`BatchGetItem`,
//! 100 per call), of which only the version counts. The reservation and the saved state
//! (with the version of the next compare-and-set) come from the last read or the
//! autoscaler's own write ([`crate::apply::Finished::known`]): re-reading 1000 functions
//! with `GetFunction` takes about 20 s at 50/s, longer than a tick. A target is read again
//! when it is not known: its saved version moved on (another writer, such as the function
//! that takes events, changed it; a tick whose decision matched its stale view would
//! otherwise write nothing, meet no conflict, and leave the other writer's value), it was
//! deferred before it was read, or a write found its history moved on.
//!
//! **What a tick writes.** Only what a decision changes, through the writer as ever (pacing,
//! write order, event source mappings, the history first). A write that finds the history
//! moved on (the function that takes events wrote, or a CLI run) reads the target again and
//! decides once more, as in any pass. A reservation someone changed by hand, without the
//! autoscaler's history, is seen at the next scheduled run.
//!
//! **When it ends.** Ticks keep a fixed cadence from the invocation's start (a slow tick
//! skips the slots it overran, it does not shift the rest). No tick starts later than
//! [`Watch::for_at_most`] after the start, so the invocation returns before the next
//! scheduled run, nor unless the slowest tick so far still ends before the deadline's
//! margin ([`Cadence::next`]).
//!
//! **What it reports.** The first pass as any reconciliation. A tick reports a decision
//! (log line, decision record, metrics) only when it changed something or tried to
//! ([`worth_reporting`]): a steady target adds nothing, so the log and the metrics grow with
//! the changes, not with the ticks. The returned record says how the watch went
//! ([`Summary`]).

use crate::deadline::Deadline;
use crate::ports::Clock;
use crate::report::DecisionRecord;
pub use crate::settings::Watch;
use crate::trigger::{Signal, Trigger};
use serde::Serialize;
use std::time::Duration;

/// True for an event that is a scheduled reconciliation and nothing else: the only one that
/// watches.
pub fn is_scheduled(trigger: &Trigger) -> bool {
    matches!(trigger, Trigger::Signals(signals)
        if !signals.is_empty() && signals.iter().all(|s| matches!(s, Signal::Scheduled)))
}

/// Why a watch stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Ended {
    /// The next tick would start after [`Watch::for_at_most`]: the next scheduled run
    /// takes over.
    NextScheduledRun,
    /// The next tick would not end before the invocation's deadline and its margin.
    Deadline,
}

/// The ticks' timetable: tick `n` is due `n` × `every` after the invocation started.
#[derive(Debug)]
pub struct Cadence {
    started: Duration,
    watch: Watch,
    /// The longest tick so far: what the next one is expected to take.
    slowest: Duration,
    last: u32,
}

impl Cadence {
    /// `started`: when the invocation started, on the clock's monotonic scale.
    pub fn new(started: Duration, watch: Watch) -> Cadence {
        Cadence {
            started,
            watch,
            slowest: Duration::ZERO,
            last: 0,
        }
    }

    /// The next tick's number and when it is due, or why there is none. A tick whose slot
    /// has passed (the one before overran it) is skipped: the cadence does not drift.
    pub fn next(
        &mut self,
        clock: &dyn Clock,
        deadline: Option<&Deadline>,
    ) -> Result<(u32, Duration), Ended> {
        let now = clock.elapsed();
        let every = self.watch.every;
        let mut n = self.last + 1;
        while self.started + every * n < now {
            n += 1;
        }
        let due = self.started + every * n;
        if due > self.started + self.watch.for_at_most {
            return Err(Ended::NextScheduledRun);
        }
        if let Some(deadline) = deadline {
            if !deadline.allows(clock, due.saturating_sub(now) + self.slowest) {
                return Err(Ended::Deadline);
            }
        }
        self.last = n;
        Ok((n, due))
    }

    /// Notes how long a tick took.
    pub fn took(&mut self, duration: Duration) {
        self.slowest = self.slowest.max(duration);
    }
}

/// Whether a tick's decision is reported (logged, returned, published): when it changed
/// the reservation or a mapping or tried to (a failure, a deferral, a write held back), or,
/// in a dry run, when it would change the reservation to a value this invocation has not
/// reported yet for the target (`reported`: the desired value last reported). A decision
/// that only moved the history (a new recommendation held by a cooldown) is not: it is
/// bookkeeping, and the next change reports it.
pub fn worth_reporting(
    record: &DecisionRecord,
    failed: bool,
    dry_run: bool,
    reported: Option<u32>,
) -> bool {
    let would_change = record.desired.is_some() && record.desired != record.previous;
    let mappings = record
        .event_sources
        .iter()
        .any(|s| s.applied || s.error.is_some());
    if dry_run {
        return failed || (would_change && record.desired != reported);
    }
    failed || record.applied || record.deferred || mappings || would_change
}

/// How a watch went, in the returned record (`"watch"`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The tick interval.
    pub every_seconds: f64,
    /// How many targets the ticks followed.
    pub followed: usize,
    /// How many ticks ran.
    pub ticks: u32,
    /// How many tick decisions were reported (each is in `decisions`, after the first pass).
    pub changes: usize,
    pub ended: Ended,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::ManualClock;

    fn watch(every: u64, for_at_most: u64) -> Watch {
        Watch {
            every: Duration::from_secs(every),
            for_at_most: Duration::from_secs(for_at_most),
        }
    }

    fn record(previous: Option<u32>, desired: Option<u32>) -> DecisionRecord {
        DecisionRecord {
            function: "f".into(),
            trigger: "t".into(),
            previous,
            desired,
            applied: false,
            deferred: false,
            reasons: vec![],
            event_sources: vec![],
            schedules: vec![],
            headroom_clamp: None,
        }
    }

    #[test]
    fn ticks_are_due_every_interval_from_the_start_until_the_watch_ends() {
        let clock = ManualClock::new(0);
        let mut cadence = Cadence::new(Duration::ZERO, watch(10, 50));
        let mut due = Vec::new();
        let ended = loop {
            match cadence.next(&clock, None) {
                Ok((n, at)) => {
                    due.push((n, at.as_secs()));
                    clock.advance(at - clock.elapsed() + Duration::from_secs(1));
                }
                Err(ended) => break ended,
            }
        };
        assert_eq!(due, [(1, 10), (2, 20), (3, 30), (4, 40), (5, 50)]);
        assert_eq!(ended, Ended::NextScheduledRun);
    }

    #[test]
    fn a_tick_that_overran_its_successors_slot_skips_it_instead_of_shifting_the_rest() {
        let clock = ManualClock::new(0);
        let mut cadence = Cadence::new(Duration::ZERO, watch(10, 50));
        assert_eq!(cadence.next(&clock, None), Ok((1, Duration::from_secs(10))));
        clock.advance(Duration::from_secs(23)); // tick 1 ran until 23 s
        assert_eq!(cadence.next(&clock, None), Ok((3, Duration::from_secs(30))));
    }

    #[test]
    fn no_tick_starts_unless_the_slowest_so_far_ends_before_the_deadline_margin() {
        let clock = ManualClock::new(0);
        let deadline = Deadline::after(&clock, Duration::from_secs(60), Duration::from_secs(2));
        let mut cadence = Cadence::new(Duration::ZERO, watch(10, 300));
        cadence.took(Duration::from_secs(5));
        let mut last = 0;
        while let Ok((_, at)) = cadence.next(&clock, Some(&deadline)) {
            last = at.as_secs();
            clock.advance(at - clock.elapsed());
        }
        // A tick at 50 s would end at 55 s, before 58 s; one at 60 s would not.
        assert_eq!(last, 50);
        assert_eq!(cadence.next(&clock, Some(&deadline)), Err(Ended::Deadline));
    }

    #[test]
    fn only_a_pure_schedule_event_watches() {
        use crate::trigger::parse_event;
        let scheduled = serde_json::json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
        assert!(is_scheduled(&parse_event(&scheduled).unwrap()));
        let alarm = serde_json::json!({
            "source": "aws.cloudwatch",
            "alarmData": { "alarmName": "a", "state": { "value": "ALARM" } }
        });
        assert!(!is_scheduled(&parse_event(&alarm).unwrap()));
        assert!(!is_scheduled(&Trigger::Signals(vec![])));
    }

    #[test]
    fn a_tick_reports_changes_and_attempts_but_not_a_steady_target_or_history_alone() {
        let steady = record(Some(5), Some(5));
        assert!(!worth_reporting(&steady, false, false, None));
        let held = record(Some(5), None);
        assert!(!worth_reporting(&held, false, false, None));
        let mut applied = record(Some(5), Some(8));
        applied.applied = true;
        assert!(worth_reporting(&applied, false, false, None));
        assert!(worth_reporting(&steady, true, false, None), "a failure");
        let mut deferred = record(Some(5), Some(8));
        deferred.deferred = true;
        assert!(worth_reporting(&deferred, false, false, None));
    }

    #[test]
    fn a_dry_run_reports_a_would_be_change_once_until_it_changes_again() {
        let would = record(Some(5), Some(8));
        assert!(worth_reporting(&would, false, true, Some(5)));
        assert!(!worth_reporting(&would, false, true, Some(8)));
        assert!(worth_reporting(
            &record(Some(5), Some(9)),
            false,
            true,
            Some(8)
        ));
        assert!(!worth_reporting(
            &record(Some(5), Some(5)),
            false,
            true,
            Some(8)
        ));
    }
}
