//! Carrying out decisions: in priority order, paced, within the deadline.
//!
//! Decisions arrive as their targets are read. The writer always takes the most urgent one it
//! knows of:
//! 1. **protective decreases** (a cap lowered the value: a struggling dependency waits for
//!    nobody);
//! 2. **scale-outs**, the largest relative shortfall first;
//! 3. **scale-ins**;
//! 4. history-only writes.
//!
//! For each, the saved history is written first (compare-and-set on its version), then the
//! reservation. If the history write finds that someone else wrote since it was read, the
//! target goes back to the caller to be read and decided once more ([`Applied::Conflict`]).
//! Lambda calls are paced by the context's Lambda port; here only the deadline is watched:
//! no write starts unless it can finish, with the deadline's margin to spare, given the
//! slowest write seen so far. What is not started is reported as deferred; the next
//! scheduled run continues where this one stopped.

use crate::deadline::Deadline;
use crate::decide::Decision;
use crate::error::HandlerError;
use crate::plan::PlannedTarget;
use crate::ports::{Context, FunctionView, Lambda, SaveError, Version};
use crate::report::{describe, DecisionRecord};
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

/// One decided target, waiting to be carried out.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The target's place in the plan: ties keep plan order, and results are sorted by it.
    pub order: usize,
    pub planned: PlannedTarget,
    pub view: FunctionView,
    /// The saved state's version when it was read; `None` when no state store is configured.
    pub version: Option<Version>,
    pub decision: Decision,
    /// The record so far (the decision's reasons); apply adds what it did.
    pub record: DecisionRecord,
}

/// What became of one pending decision.
#[derive(Debug)]
pub enum Applied {
    /// Done, held, unchanged or deferred: the record says which.
    Done(DecisionRecord),
    /// A write failed; the record says what was and was not done.
    Failed(DecisionRecord, HandlerError),
    /// Someone else saved this target's history since it was read: read and decide again.
    Conflict(Box<Pending>),
}

/// The urgency classes, most urgent last (a max-heap pops the greatest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    HistoryOnly,
    ScaleIn,
    ScaleOut,
    Protective,
}

/// The order in which pending decisions are carried out.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Priority {
    class: Class,
    /// For scale-outs: (desired - current) / current, in millionths; else 0.
    shortfall: u64,
    plan_order: Reverse<usize>,
}

fn priority(p: &Pending) -> Priority {
    let d = &p.decision;
    let class = match (d.change(), d.previous) {
        (None, _) => Class::HistoryOnly,
        (Some(_), _) if d.capped => Class::Protective,
        (Some(to), Some(from)) if to > from => Class::ScaleOut,
        _ => Class::ScaleIn,
    };
    let shortfall = match (class, d.previous, d.desired) {
        (Class::ScaleOut, Some(from), Some(to)) => {
            (u64::from(to - from) * 1_000_000) / u64::from(from.max(1))
        }
        _ => 0,
    };
    Priority {
        class,
        shortfall,
        plan_order: Reverse(p.order),
    }
}

struct Queued(Priority, Box<Pending>);

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

/// Carries out decisions as they arrive, most urgent first, until the sender is dropped.
pub async fn run(
    mut incoming: UnboundedReceiver<Pending>,
    ctx: &Context,
    dry_run: bool,
    deadline: Option<Deadline>,
) -> Vec<(usize, Applied)> {
    let mut writer = Writer {
        ctx,
        dry_run,
        deadline,
        slowest: Duration::ZERO,
        deferring: None,
    };
    let mut queue = BinaryHeap::new();
    let mut done = Vec::new();
    let accept = |pending: Pending, queue: &mut BinaryHeap<Queued>, done: &mut Vec<_>| {
        if writer_needs_nothing(&pending, dry_run, ctx) {
            done.push((
                pending.order,
                Applied::Done(finish_without_writes(pending, dry_run)),
            ));
        } else {
            queue.push(Queued(priority(&pending), Box::new(pending)));
        }
    };
    loop {
        while let Ok(pending) = incoming.try_recv() {
            accept(pending, &mut queue, &mut done);
        }
        match queue.pop() {
            Some(Queued(_, pending)) => {
                let order = pending.order;
                done.push((order, writer.apply(*pending).await));
            }
            None => match incoming.recv().await {
                Some(pending) => accept(pending, &mut queue, &mut done),
                None => break,
            },
        }
    }
    done
}

/// True when carrying out the decision writes nothing at all.
fn writer_needs_nothing(p: &Pending, dry_run: bool, ctx: &Context) -> bool {
    let saves = p.decision.history_changed && ctx.state.is_some();
    dry_run || (p.decision.change().is_none() && !saves)
}

fn finish_without_writes(p: Pending, dry_run: bool) -> DecisionRecord {
    let mut record = p.record;
    let previous = describe(p.decision.previous);
    match p.decision.change() {
        Some(value) if dry_run => record.reasons.push(format!(
            "dry run: would set {value} (currently {previous}); nothing written"
        )),
        _ => record
            .reasons
            .push(format!("unchanged: reservation stays {previous}")),
    }
    record
}

struct Writer<'a> {
    ctx: &'a Context,
    dry_run: bool,
    deadline: Option<Deadline>,
    /// The slowest single write so far: the estimate of what the next one may take.
    slowest: Duration,
    /// Once set, every later write is deferred, for this reason.
    deferring: Option<String>,
}

impl Writer<'_> {
    async fn apply(&mut self, p: Pending) -> Applied {
        debug_assert!(!self.dry_run);
        let saves = p.decision.history_changed && self.ctx.state.is_some();
        let change = p.decision.change();
        if let Some(reason) = self.defer_reason(saves, change.is_some()) {
            let mut record = p.record;
            record.deferred = true;
            record.reasons.push(reason);
            return Applied::Done(record);
        }
        let mut record = p.record.clone();
        if let (true, Some(store), Some(version)) = (saves, &self.ctx.state, p.version) {
            let now = self.ctx.clock.epoch_seconds();
            let started = self.ctx.clock.elapsed();
            let saved = store
                .save(&p.view.arn, &p.decision.history, version, now)
                .await;
            self.note_duration(started);
            match saved {
                Ok(()) => {}
                Err(SaveError::Conflict) => return Applied::Conflict(Box::new(p)),
                Err(SaveError::Aws(error)) => {
                    record
                        .reasons
                        .push(format!("state not saved, so nothing was changed: {error}"));
                    let error = HandlerError::State {
                        function: p.view.arn.clone(),
                        source: error,
                    };
                    return Applied::Failed(record, error);
                }
            }
        }
        let previous = describe(p.decision.previous);
        let Some(value) = change else {
            record
                .reasons
                .push(format!("unchanged: reservation stays {previous}"));
            return Applied::Done(record);
        };
        let started = self.ctx.clock.elapsed();
        let put = self
            .ctx
            .lambda
            .put_reserved(&p.planned.target.function, value)
            .await;
        self.note_duration(started);
        match put {
            Ok(()) => {
                record.applied = true;
                record
                    .reasons
                    .push(format!("applied: reservation {previous} -> {value}"));
                Applied::Done(record)
            }
            Err(error) => {
                let kept = if saves {
                    " (the saved state counts the attempt, so the next step in this direction \
                     waits for its cooldown)"
                } else {
                    ""
                };
                record.reasons.push(format!("not applied: {error}{kept}"));
                Applied::Failed(record, error.into())
            }
        }
    }

    fn note_duration(&mut self, started: Duration) {
        let took = self.ctx.clock.elapsed().saturating_sub(started);
        self.slowest = self.slowest.max(took);
    }

    /// Why this decision's writes must not start, if they must not.
    fn defer_reason(&mut self, saves: bool, puts: bool) -> Option<String> {
        if let Some(reason) = &self.deferring {
            return Some(reason.clone());
        }
        let deadline = self.deadline?;
        let clock = &*self.ctx.clock;
        let writes = u32::from(saves) + u32::from(puts);
        let wait = match (puts, self.ctx.lambda.control_plane_wait()) {
            (true, wait) => wait,
            (false, _) => Duration::ZERO,
        };
        let need = wait + self.slowest * writes;
        if deadline.allows(clock, need) {
            return None;
        }
        let reason = format!(
            "deferred: {:.1} s left before the deadline, and writing needs about {:.1} s plus a \
             {:.1} s margin; the next scheduled run continues",
            deadline.left(clock).as_secs_f64(),
            need.as_secs_f64(),
            deadline.margin().as_secs_f64()
        );
        self.deferring = Some(reason.clone());
        Some(reason)
    }
}

/// The record a decision starts with, before apply adds what it did.
pub fn record_for(planned: &PlannedTarget, decision: &Decision) -> DecisionRecord {
    DecisionRecord {
        function: planned.target.function.name().to_owned(),
        trigger: planned.triggers.join("; "),
        previous: decision.previous,
        desired: decision.desired,
        applied: false,
        deferred: false,
        reasons: decision.reasons.clone(),
    }
}
