//! Carrying out decisions: in priority order, paced, within the account's headroom and the
//! invocation's deadline.
//!
//! Decisions arrive as their targets are read. The writer always takes the most urgent one it
//! knows of:
//! 1. **protective decreases** (a cap lowered the value: a struggling dependency waits for
//!    nobody);
//! 2. **scale-outs**, the largest relative shortfall first;
//! 3. **scale-ins** (and first reservations of unreserved functions);
//! 4. history-only writes.
//!
//! **Headroom.** Scale-outs share one budget: the account's unreserved pool above its floor
//! (`GetAccountSettings`, read once, when the first scale-out is due). Each is decided again
//! with what is left, so none assumes the whole headroom ([`crate::headroom`]). To spend the
//! budget in priority order, scale-outs wait until every target is read, unless the budget
//! covers all the plan could still ask for (the `max` of every target not yet read, plus the
//! scale-outs waiting). Decreases and history-only writes take no headroom and never wait, so
//! a scale-in read early may go before a scale-out read later; among the writes waiting at
//! any moment the order above always holds. If Lambda
//! refuses a scale-out for the floor anyway, the floor it names is learned, the headroom read
//! again, and the target retried once with the clamped value; without `GetAccountSettings`
//! the target is held at its current value ("blocked by account headroom"), never failed.
//!
//! **Writes.** For each target, the saved history first (compare-and-set on its version), then
//! the SQS event source mappings that must run less (lowered or paused), then the reservation,
//! then the mappings that may run more (raised or resumed) ([`crate::event_sources`]). If
//! someone else saved the history since it was read, the target goes back to the caller to
//! be read and decided once more ([`TargetOutcome::Conflict`]). Lambda calls are paced by the
//! context's Lambda port.
//!
//! **Event source mappings.** Before the reservation changes, the function's own mappings
//! are listed again: before a decrease, one created since the account's listing has no
//! `MaximumConcurrency` at all; before an increase, another writer may have lowered or
//! paused one. A mapping update is asynchronous (`Updating`, `Disabling`), and batches already
//! received still run:
//! - a **cap** lowers the reservation right after the mapping writes, without waiting for
//!   them to settle (caps are never delayed), and says so; if a mapping write fails, the
//!   reservation is lowered all the same (protection first) and the failure is reported;
//! - a **plain scale-in** waits for the mappings to settle within the deadline, or leaves the
//!   reservation to the next evaluation; if a mapping write fails, the reservation stays;
//! - going up, a failed mapping write after the reservation leaves the mappings below it.
//!
//! Whatever fails, what was written keeps the mappings within the reservation, and the next
//! evaluation finishes the job. A role without the mapping permissions (`AccessDenied`)
//! never blocks a change: the reservation acts alone, and the reasons say why.
//!
//! **Deadline.** No write starts unless it can finish, with the deadline's margin to spare,
//! given the slowest write seen so far (a second each before any has been timed). What is
//! not started is reported as deferred; the next scheduled run continues where this one
//! stopped.

use crate::context::Context;
use crate::deadline::Deadline;
use crate::decide::Decision;
use crate::error::HandlerError;
use crate::event_sources::{self, MappingChange, SourceReport};
use crate::headroom::{floor_from_error, Budget, LearnedFloor};
use crate::lease;
use crate::mapping_cache::MappingCache;
use crate::observe::Observed;
use crate::outcome::TargetOutcome;
pub use crate::pending::Pending;
use crate::ports::{AwsError, ErrorKind, Lambda, SaveError, Version};
use crate::report::{describe, DecisionRecord, PublishCost};
use crate::state::ActivityOutcome;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

/// How a note that the account's headroom could not be read starts.
const HEADROOM_UNKNOWN: &str = "account headroom unknown";

/// One target carried out (or not), with what the autoscaler now knows of it.
#[derive(Debug)]
pub struct Finished {
    /// The target's place in the plan.
    pub order: usize,
    pub outcome: TargetOutcome,
    /// The target as this evaluation leaves it: the reservation it found or set, and the
    /// history it found or saved, with the version the next compare-and-set expects. A
    /// watching invocation decides its next ticks from this instead of reading the target
    /// again ([`crate::watch`]). `None` after a conflict: someone else wrote, so only a new
    /// read can tell.
    pub known: Option<Observed>,
}

/// What the reads send the writer.
#[derive(Debug)]
pub enum Incoming {
    Decided(Box<Pending>),
    /// A target that produced no decision (failed or deferred while reading), with its max:
    /// it can no longer ask for headroom.
    Unread {
        max: u32,
    },
}

/// The urgency classes, most urgent last (a max-heap pops the greatest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    HistoryOnly,
    ScaleIn,
    ScaleOut,
    Protective,
}

fn class(p: &Pending) -> Class {
    let d = &p.decision;
    match (d.change(), d.previous) {
        // Mappings beyond the reservation (one created since, say) are brought within it
        // as urgently as a cap.
        (None, _) if p.source_plan.lowers() => Class::Protective,
        (None, _) if p.source_plan.writes() => Class::ScaleIn,
        (None, _) => Class::HistoryOnly,
        (Some(_), _) if d.capped => Class::Protective,
        (Some(to), Some(from)) if to > from => Class::ScaleOut,
        // Down, or a first reservation of a function that had none (it limits the function).
        _ => Class::ScaleIn,
    }
}

/// How much a scale-out takes from the pool.
fn increase(d: &Decision) -> u32 {
    match (d.previous, d.desired) {
        (Some(from), Some(to)) => to.saturating_sub(from),
        _ => 0,
    }
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
    let class = class(p);
    let shortfall = match (class, d.previous) {
        (Class::ScaleOut, Some(from)) => {
            u64::from(increase(d)) * 1_000_000 / u64::from(from.max(1))
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

/// What is known of the account's headroom in this invocation.
enum AccountHeadroom {
    /// Not read yet: read when the first scale-out is due.
    NotRead,
    Known(Budget),
    /// `GetAccountSettings` failed (access denied, or an endpoint without it): scale-outs are
    /// not limited, and a refusal for the floor holds the target.
    Unknown(String),
}

/// What a run of the writer works with.
pub struct Run<'a> {
    pub ctx: &'a Context,
    pub floor: &'a LearnedFloor,
    /// The account's event source mappings, kept across invocations.
    pub mappings: &'a MappingCache,
    /// How many targets the plan has.
    pub targets: usize,
    /// The sum of their `max`: what the plan could ask the headroom for.
    pub could_ask: u64,
    pub dry_run: bool,
    pub deadline: Option<Deadline>,
    /// What reporting costs: the time it needs is kept free before the deadline.
    pub report_cost: &'a PublishCost,
}

/// Carries out decisions as they arrive, until the sender is dropped; each result goes to
/// `finished` as soon as it is known.
pub async fn run(
    run: Run<'_>,
    mut incoming: UnboundedReceiver<Incoming>,
    finished: UnboundedSender<Finished>,
) {
    let Run {
        ctx,
        floor,
        mappings,
        targets,
        could_ask,
        dry_run,
        deadline,
        report_cost,
    } = run;
    let mut writer = Writer {
        ctx,
        floor,
        mappings,
        deadline,
        slowest: None,
        deferring: None,
        headroom: AccountHeadroom::NotRead,
        alone: targets == 1,
        report_cost,
        targets,
        settle_waited: Duration::ZERO,
    };
    let mut intake = Intake {
        scale_outs: BinaryHeap::new(),
        others: BinaryHeap::new(),
        done: finished,
        unread_max: could_ask,
        asked: 0,
        settled: 0,
        dry_run,
        ctx,
        mappings,
    };
    let mut reads_done = false;
    loop {
        // Take in everything that has arrived.
        loop {
            match incoming.try_recv() {
                Ok(message) => intake.take(message),
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                    reads_done = true;
                    break;
                }
            }
        }
        // Scale-outs go before every target is read only while the headroom covers all that
        // could still be asked for; the rest never takes headroom, so it goes when it is next.
        let scale_outs_may_go = !intake.scale_outs.is_empty()
            && (reads_done
                || writer.alone
                || writer
                    .covers(intake.asked + intake.unread_max, intake.settled)
                    .await);
        let next = match (intake.others.peek(), intake.scale_outs.peek()) {
            (Some(Queued(p, _)), _) if p.class == Class::Protective => intake.others.pop(),
            (_, Some(_)) if scale_outs_may_go => intake.scale_outs.pop(),
            (Some(_), _) => intake.others.pop(),
            (None, _) => None,
        };
        if let Some(Queued(_, pending)) = next {
            if class(&pending) == Class::ScaleOut {
                let asked = u64::from(increase(&pending.decision));
                intake.asked = intake.asked.saturating_sub(asked);
            }
            let finished = writer.apply(*pending, intake.settled).await;
            intake.finish(finished);
        } else if reads_done && intake.scale_outs.is_empty() {
            break;
        } else {
            match incoming.recv().await {
                Some(message) => intake.take(message),
                None => reads_done = true,
            }
        }
    }
}

/// The decisions received and not yet carried out, and what the plan could still ask for.
struct Intake<'a> {
    scale_outs: BinaryHeap<Queued>,
    /// Protective decreases, scale-ins and history-only writes.
    others: BinaryHeap<Queued>,
    done: UnboundedSender<Finished>,
    /// The sum of `max` over the targets not yet received.
    unread_max: u64,
    /// The increases the queued scale-outs ask for.
    asked: u64,
    /// Targets whose result is known (finished, or not read at all).
    settled: usize,
    dry_run: bool,
    ctx: &'a Context,
    mappings: &'a MappingCache,
}

impl Intake<'_> {
    fn take(&mut self, message: Incoming) {
        match message {
            Incoming::Unread { max } => {
                self.unread_max = self.unread_max.saturating_sub(u64::from(max));
                self.settled += 1;
            }
            Incoming::Decided(pending) => {
                self.unread_max = self
                    .unread_max
                    .saturating_sub(u64::from(pending.planned.target.max));
                if self.dry_run || !needs_writes(&pending, self.ctx, self.mappings) {
                    let record = finish_without_writes(&pending, self.dry_run);
                    self.finish(Finished {
                        order: pending.order,
                        outcome: TargetOutcome::Done(record),
                        known: Some(pending.known_after(pending.version.clone(), false)),
                    });
                } else if class(&pending) == Class::ScaleOut {
                    self.asked += u64::from(increase(&pending.decision));
                    self.scale_outs.push(Queued(priority(&pending), pending));
                } else {
                    self.others.push(Queued(priority(&pending), pending));
                }
            }
        }
    }

    fn finish(&mut self, finished: Finished) {
        self.settled += 1;
        // The caller outlives the writer: sending cannot fail.
        let _ = self.done.send(finished);
    }
}

/// Before `p`'s reservation write of `value` is sent again after `error` (which may have come
/// after it landed): the reservation and, with a state table, the target's saved version are
/// read once, and [`lease::resend`] decides. A read that fails ends the write with `error`:
/// sent blind, it could undo another writer's change.
async fn before_resend(
    ctx: &Context,
    p: &Pending,
    value: u32,
    error: AwsError,
) -> Option<Result<(), AwsError>> {
    let stop = |why: String| {
        Some(Err(AwsError {
            message: format!("{}; not sent again: {why}", error.message),
            ..error.clone()
        }))
    };
    let now = match ctx.lambda.reserved_once(&p.planned.target.function).await {
        Ok(now) => now,
        Err(read) => return stop(format!("the reservation could not be read ({read})")),
    };
    // The version matters only when the reservation alone would send the write again.
    let version_kept = match (&ctx.state, &p.version) {
        (Some(store), Some(version)) if now != Some(value) && now == p.view.reserved => {
            let key = std::slice::from_ref(&p.view.arn);
            match store.load(key).await {
                Ok(read) => Some(read.get(&p.view.arn).is_some_and(|s| &s.version == version)),
                Err(read) => return stop(format!("the saved state could not be read ({read})")),
            }
        }
        _ => None,
    };
    match lease::resend(value, p.view.reserved, now, version_kept) {
        lease::Resend::Landed => Some(Ok(())),
        lease::Resend::Stop(why) => stop(why),
        lease::Resend::Again => None,
    }
}

/// True when carrying out the decision writes anything.
fn needs_writes(p: &Pending, ctx: &Context, mappings: &MappingCache) -> bool {
    let d = &p.decision;
    d.change().is_some()
        || p.source_plan.writes()
        || (d.history_changed && ctx.state.is_some())
        || lists_for_ignored_pause(p, ctx, mappings)
}

/// Whether carrying out the decision saves the history, and how many control-plane writes it
/// makes (the reservation's and the mappings').
fn planned_calls(p: &Pending, ctx: &Context) -> (bool, u32) {
    let saves = p.decision.history_changed && ctx.state.is_some();
    let writes = u32::from(p.decision.change().is_some()) + p.source_plan.updates() as u32;
    (saves, writes)
}

/// The mappings read by their UUID when the function's mappings are listed again
/// ([`Writer::list_function_mappings`]): the copies on an alias or a version, and the saved
/// records the listing lacks.
fn unlisted_records(p: &Pending) -> u32 {
    let listed = p.sources.mappings().unwrap_or_default();
    let carried = (listed.iter())
        .filter(|m| m.function_arn != p.view.arn)
        .count();
    let missing = (p.observations.saved.event_sources().iter())
        .filter(|r| listed.iter().all(|m| m.uuid != r.uuid))
        .count();
    u32::try_from(carried + missing).unwrap_or(u32::MAX)
}

/// Whether the writer lists the function's mappings for a pause recorded before a switch to
/// "ignore" ([`Pending::checks_an_ignored_pause`]), at most every 5 minutes.
fn lists_for_ignored_pause(p: &Pending, ctx: &Context, mappings: &MappingCache) -> bool {
    p.checks_an_ignored_pause() && mappings.ignored_check_due(&p.view.arn, &*ctx.clock)
}

fn finish_without_writes(p: &Pending, dry_run: bool) -> DecisionRecord {
    let mut record = p.record();
    let previous = describe(p.decision.previous);
    let mappings = p.source_plan.updates();
    match p.decision.change() {
        Some(value) if dry_run && mappings > 0 => record.reasons.push(format!(
            "dry run: would set {value} (currently {previous}) and update {mappings} event \
             source mapping(s); nothing written"
        )),
        Some(value) if dry_run => record.reasons.push(format!(
            "dry run: would set {value} (currently {previous}); nothing written"
        )),
        None if dry_run && mappings > 0 => record.reasons.push(format!(
            "dry run: would update {mappings} event source mapping(s); nothing written"
        )),
        _ => record
            .reasons
            .push(format!("unchanged: reservation stays {previous}")),
    }
    record
}

struct Writer<'a> {
    ctx: &'a Context,
    floor: &'a LearnedFloor,
    mappings: &'a MappingCache,
    deadline: Option<Deadline>,
    /// The slowest single write so far, without its wait for a pacing slot: the estimate
    /// of what the next one may take ([`Writer::per_call`]); `None` until one is timed.
    slowest: Option<Duration>,
    /// Once set, every later write is deferred, for this reason.
    deferring: Option<String>,
    headroom: AccountHeadroom,
    /// A plan of one target shares nothing: its scale-out goes without reading the headroom
    /// first (one control-plane call saved per alarm event), and learns it from Lambda's
    /// refusal if one comes.
    alone: bool,
    report_cost: &'a PublishCost,
    targets: usize,
    /// How long plain scale-ins have waited for their mappings to settle in this run: the
    /// writer carries out one target at a time, so the targets behind them (a cap read
    /// later among them) wait too; bounded by [`SETTLE_BUDGET`].
    settle_waited: Duration,
}

impl Writer<'_> {
    /// Whether the headroom covers everything the plan could still ask for (always, when
    /// it cannot be known; never while the deadline leaves no time to read it).
    async fn covers(&mut self, could_ask: u64, settled: usize) -> bool {
        if could_ask == 0 {
            return true;
        }
        // The read and a scale-out's write after it. Not a deferral: a cap read later may
        // still have time for its one write.
        let unread = matches!(self.headroom, AccountHeadroom::NotRead);
        if unread && (self.deferring.is_some() || self.shortfall(false, 2, settled).is_some()) {
            return false;
        }
        match self.headroom().await {
            Some(budget) => could_ask <= u64::from(budget.available()),
            None => true,
        }
    }

    /// Why the headroom, not read yet, must not be read now, if it must not: the read is a
    /// paced call, made only while `writes` after it could still be.
    fn headroom_read_deferred(
        &mut self,
        saves: bool,
        writes: u32,
        settled: usize,
    ) -> Option<String> {
        match self.headroom {
            AccountHeadroom::NotRead => self.defer_reason(saves, writes + 1, settled),
            _ => None,
        }
    }

    /// The headroom budget, read on first use; `None` when it cannot be known.
    async fn headroom(&mut self) -> Option<Budget> {
        if let AccountHeadroom::NotRead = self.headroom {
            self.headroom = self.read_headroom().await;
        }
        match &self.headroom {
            AccountHeadroom::Known(budget) => Some(*budget),
            _ => None,
        }
    }

    async fn read_headroom(&self) -> AccountHeadroom {
        match self.ctx.lambda.account().await {
            Ok(account) => {
                AccountHeadroom::Known(Budget::new(account.unreserved, self.floor.get()))
            }
            Err(error) => {
                tracing::warn!(%error, "the account's headroom is unknown: scale-outs are not limited by it, and a refusal for the unreserved floor holds the target");
                AccountHeadroom::Unknown(error.to_string())
            }
        }
    }

    async fn apply(&mut self, mut p: Pending, settled: usize) -> Finished {
        let read_version = p.version.clone();
        if lists_for_ignored_pause(&p, self.ctx, self.mappings) {
            self.list_for_ignored_pause(&mut p, settled).await;
        }
        let calls = |p: &Pending| planned_calls(p, self.ctx);
        if class(&p) == Class::ScaleOut && !self.alone {
            let (saves, writes) = calls(&p);
            if let Some(reason) = self.headroom_read_deferred(saves, writes, settled) {
                return deferred(p, reason, read_version);
            }
            if let Some(budget) = self.headroom().await {
                // Decide again with what the plan's earlier scale-outs left.
                p.decide(Some(budget.headroom()));
            } else if let AccountHeadroom::Unknown(why) = &self.headroom {
                // A note: a decision made again (its mappings listed anew) says it too.
                p.note(format!("{HEADROOM_UNKNOWN} ({why}): not limited by it"));
            }
        }
        if p.lowers_reservation() || p.raises_with_mappings() || p.forgets_a_pause() {
            // The listing is a paced call too (with a read of each recorded mapping it may
            // lack): made only while the writes after it could still be.
            let (saves, writes) = calls(&p);
            let reads = if self.lists_again(&p) {
                1 + unlisted_records(&p)
            } else {
                0
            };
            if let Some(reason) = self.defer_reason(saves, writes + reads, settled) {
                return deferred(p, reason, read_version);
            }
            self.reread_mappings(&mut p).await;
        }
        let (saves, writes) = calls(&p);
        if let Some(reason) = self.defer_reason(saves, writes, settled) {
            return deferred(p, reason, read_version);
        }
        let outcome = self.carry_out(&mut p, settled).await;
        let known = match &outcome {
            TargetOutcome::Conflict(..) => None,
            done => Some(p.known_after(read_version, done.record().is_some_and(|r| r.applied))),
        };
        Finished {
            order: p.order,
            outcome,
            known,
        }
    }

    /// The function's mappings listed by its name, with each mapping the saved records name
    /// that the listing lacks read by its UUID: the listing by name has only the mappings
    /// on the function itself, and those on its aliases and versions come from the
    /// account's listing, which may predate them. A record's mapping that Lambda no longer
    /// has (`ResourceNotFoundException`), or that now belongs to another function, is gone;
    /// one that could not be read (a role denied `GetEventSourceMapping`, say) is returned
    /// apart, so that its record is kept as it is. Only the listing's failure fails it.
    async fn list_function_mappings(
        &mut self,
        p: &Pending,
    ) -> Result<
        (Vec<crate::ports::EventSourceMapping>, Vec<(String, String)>),
        crate::ports::AwsError,
    > {
        let started = self.paced_start();
        let listed = self
            .mappings
            .refresh(
                &*self.ctx.lambda,
                &p.planned.target.function,
                &p.view.arn,
                p.sources.mappings().unwrap_or_default(),
            )
            .await;
        self.note_duration(started);
        let (mut mappings, by_name) = listed?;
        let records = p.observations.saved.event_sources();
        let recorded = |uuid: &str| records.iter().any(|r| r.uuid == uuid);
        // Every copy carried over (not in the listing by name: on an alias or a version, or
        // moved or gone since), and every recorded mapping the listing lacks.
        let mut to_read: Vec<String> = mappings[by_name..].iter().map(|m| m.uuid.clone()).collect();
        to_read.extend(
            (records.iter())
                .filter(|r| mappings.iter().all(|m| m.uuid != r.uuid))
                .map(|r| r.uuid.clone()),
        );
        let mut unread = Vec::new();
        for uuid in to_read {
            let started = self.paced_start();
            // `None`: gone.
            let read = match self.ctx.lambda.get_mapping(&uuid).await {
                Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
                read => read.map(Some),
            };
            self.note_duration(started);
            let carried = mappings.iter().position(|m| m.uuid == uuid);
            match read {
                Ok(Some(m)) if crate::mapping_cache::unqualified(&m.function_arn) == p.view.arn => {
                    match carried {
                        Some(i) => mappings[i] = m,
                        None => mappings.push(m),
                    }
                }
                // Another function's now, or gone: for the kept listing too.
                Ok(_) => {
                    mappings.retain(|m| m.uuid != uuid);
                    self.mappings.forget(&p.view.arn, &uuid);
                }
                // A copy carried over that the autoscaler never changed stays as it was.
                Err(_) if carried.is_some() && !recorded(&uuid) => {}
                // A recorded one: its record is kept as it is (a stale copy must not end a
                // pause), the copy followed as before.
                Err(error) => {
                    let why = format!(
                        "event source {uuid}, which the autoscaler changed, could not be read \
                         as it is now ({error}{}): its record is kept as it is",
                        if error.kind() == ErrorKind::AccessDenied {
                            "; add lambda:GetEventSourceMapping, docs/deploy.md"
                        } else {
                            ""
                        }
                    );
                    unread.push((uuid, why));
                }
            }
        }
        Ok((mappings, unread))
    }

    /// Lists the function's mappings for a target that ignores them and holds a pause
    /// recorded before the switch, and decides again from them: a current listing that shows
    /// the mapping enabled (or gone) ends the pause ([`Pending::checks_an_ignored_pause`]).
    /// Not when the deadline leaves no room for it and the target's writes, nor when it
    /// fails: the pause is then kept, and the reasons say it may be over.
    async fn list_for_ignored_pause(&mut self, p: &mut Pending, settled: usize) {
        let (saves, writes) = planned_calls(p, self.ctx);
        let reads = 1 + unlisted_records(p);
        if self.defer_reason(saves, writes + reads, settled).is_some() {
            return;
        }
        self.mappings.ignored_checked(&p.view.arn, &*self.ctx.clock);
        match self.list_function_mappings(p).await {
            Ok((mappings, unread)) => {
                p.sources = event_sources::Observed::Ignored(Some(mappings));
                p.note_unread_records(unread);
                p.decide_again();
            }
            Err(error) => p.note(format!(
                "listing the function's mappings failed ({error}): the pause recorded \
                 before the switch to \"ignore\" is kept"
            )),
        }
    }

    /// Whether [`Self::reread_mappings`] lists the function's mappings: they are followed, and
    /// the account's listing is not current.
    fn lists_again(&self, p: &Pending) -> bool {
        matches!(p.sources, event_sources::Observed::Read(_))
            && !self.mappings.is_current(&*self.ctx.clock)
    }

    /// Lists the function's own mappings again before a change of the reservation, and
    /// decides again if they changed: before a decrease, one created since the account's
    /// listing has no maximum yet; before an increase, another writer (the other function
    /// of a watching deployment, whose listing this one never sees) may have lowered or
    /// paused one since, which the increase must raise or resume with it. So too before a
    /// recorded pause is forgotten: the kept listing may predate it.
    async fn reread_mappings(&mut self, p: &mut Pending) {
        if !self.lists_again(p) {
            return;
        }
        let before = p.sources.mappings().map_or(0, <[_]>::len);
        let fresh = self.list_function_mappings(p).await;
        let (sources, unread) = match fresh {
            Ok((mappings, unread)) => (event_sources::Observed::Read(mappings), unread),
            Err(error) if error.kind() == ErrorKind::AccessDenied => {
                (event_sources::Observed::from_list_error(&error), Vec::new())
            }
            Err(error) if p.forgets_a_pause() => {
                p.keep_recorded_pauses(format!(
                    "listing the function's mappings again failed ({error}): a pause the \
                     autoscaler recorded is kept until a current listing shows the mapping \
                     enabled (the account's listing, up to {} s old, may predate it); the \
                     next evaluation lists them again",
                    crate::mapping_cache::KEPT_FOR.as_secs()
                ));
                return;
            }
            Err(error) => {
                p.note(format!(
                    "listing the function's mappings again failed ({error}): the account's \
                     listing (at most {} s old) is used",
                    crate::mapping_cache::KEPT_FOR.as_secs()
                ));
                return;
            }
        };
        let changed = sources != p.sources;
        if !changed && unread.is_empty() {
            return;
        }
        p.sources = sources;
        let records = p.observations.saved.event_sources();
        p.observations.mapping_floor = event_sources::floor(&p.sources, records);
        if changed {
            let now = p.sources.mappings().map_or(0, <[_]>::len);
            // A note, so that a decision made again later (for the unreserved floor) says it
            // too.
            p.note(format!(
                "the function's event source mappings changed since the account's listing \
                 ({before} then, {now} now): decided again"
            ));
        }
        // The records the listing could not check are kept as they are.
        p.note_unread_records(unread);
        p.decide_again();
    }

    /// Carries out a decision: the history, the mappings that run less, the reservation,
    /// the mappings that run more. A refusal for the account's floor learns the floor, and
    /// a scale-out is decided again once with the headroom read anew.
    async fn carry_out(&mut self, p: &mut Pending, settled: usize) -> TargetOutcome {
        let mut refusal: Option<String> = None;
        loop {
            let saved = p.decision.history_changed && self.ctx.state.is_some();
            if saved {
                if let Err(failure) = self.save(p).await {
                    return interrupted(p, failure, p.record());
                }
            }
            let change = p.decision.change();
            let mut record = p.record();
            if change.is_none() && !p.source_plan.writes() {
                let previous = describe(p.decision.previous);
                record
                    .reasons
                    .push(format!("unchanged: reservation stays {previous}"));
                return TargetOutcome::Done(record);
            }
            let capped = p.decision.capped;
            // A decrease (or a first reservation, from the whole pool) writes every mapping
            // change before the reservation: the new shares fit the new reservation, below
            // the old, so even a raise among them fits. Nothing is then written after the
            // reservation, and another writer that finds the reservation landed knows the
            // whole change has ([`crate::lease`]).
            let lowering = p.lowers_reservation();
            let before = |c: &MappingChange| lowering || c.lowers();
            // 1. The mappings that must run less, then (for a decrease) those that may run
            // more: each step keeps their sum within the old reservation. A lower that
            // failed leaves the raises unwritten, or its old share and their new ones could
            // add up to more than the reservation.
            // Before the reservation, a mapping write leaves room for the reservation's write
            // after it, so that a cap deferred at its mappings still writes its reservation.
            let then = u32::from(change.is_some());
            let mut down = match self
                .write_mappings(p, &|c| c.lowers(), then, &mut record)
                .await
            {
                Ok(down) => down,
                Err(failure) => return interrupted(p, failure, record),
            };
            // False once a lower failed: a raise's failure (written before the reservation in
            // a decrease) leaves every mapping within the new reservation.
            let lowered_all = down.error.is_none();
            if down.error.is_none() && down.deferred.is_none() {
                let raises = |c: &MappingChange| before(c) && !c.lowers();
                match self.write_mappings(p, &raises, then, &mut record).await {
                    Ok(raised) => down.add(raised),
                    Err(failure) => return interrupted(p, failure, record),
                }
            }
            // A cap protects first: its reservation is still written if the deadline allows
            // it (its mapping writes left room for it); the mapping waits for the next run
            // (an SQS record is delivered again). Anything else waits whole.
            if let Some(why) = down.deferred.take() {
                if !capped {
                    return self.hold_for_next_run(p, record, why).await;
                }
                record.reasons.push(why);
                record.deferred = true;
            }
            let mut unfinished = None;
            // False once a mapping above the reservation could not be lowered.
            let mut within = true;
            match down.error {
                // Every lower landed; only a raise written before the reservation failed.
                Some(error) if lowering && lowered_all => {
                    record.reasons.push(
                        "a mapping could not be raised to its share; every mapping is within \
                         the new reservation, which goes ahead"
                            .into(),
                    );
                    unfinished = Some(error);
                }
                Some(error) if lowering && !capped => {
                    record.reasons.push(format!(
                        "the reservation stays {}: lowering it before its mappings would \
                         throttle their batches; the next evaluation finishes",
                        describe(p.decision.previous)
                    ));
                    self.record_outcome(p, ActivityOutcome::Failed(error.to_string()))
                        .await;
                    return TargetOutcome::Failed(Some(record), error);
                }
                Some(error) if capped => {
                    record.reasons.push(
                        "a cap protects first: the reservation is lowered although a mapping \
                         could not be"
                            .into(),
                    );
                    within = false;
                    unfinished = Some(error);
                }
                Some(error) => {
                    record.reasons.push(if change.is_some() {
                        "a mapping could not be lowered: the reservation is raised all the \
                         same (a larger one throttles less), and no mapping is raised with \
                         it; the next evaluation tries the mapping again"
                            .into()
                    } else {
                        "a mapping could not be lowered: the next evaluation tries again".to_owned()
                    });
                    within = false;
                    unfinished = Some(error);
                }
                None => {}
            }
            // A decrease waits for the mappings it wrote, and for any that an earlier
            // evaluation left updating: their pollers may still run at their old maximum.
            let mut settling = down.settling.clone();
            if lowering && !capped {
                settling.extend(already_settling(p, &settling));
            }
            if !down.settling.is_empty() && capped {
                record.reasons.push(
                    "a cap acts at once: the reservation is lowered without waiting for the \
                     mappings to settle, so batches already received may be throttled briefly"
                        .into(),
                );
            } else if !settling.is_empty() && lowering {
                match self.settle(&settling).await {
                    Ok(unwatched) => record.reasons.extend(unwatched),
                    Err(state) => {
                        let why = format!(
                            "a mapping is still {state}: the reservation stays {} until the \
                             next evaluation, so that no batch already received is throttled",
                            describe(p.decision.previous)
                        );
                        return self.hold_for_next_run(p, record, why).await;
                    }
                }
            }
            // 2. The reservation.
            if let Some(value) = change {
                let start_by = match self.start_by(p).await {
                    Ok(start_by) => start_by,
                    Err(failure) => return interrupted(p, failure, record),
                };
                let (fence, by_deadline) = self.write_fence(start_by, 0);
                match self.put(p, value, fence).await {
                    Ok(()) => self.applied(p, &mut record),
                    Err(error) if self.stopped_by_deadline(&error, by_deadline) => {
                        // A retry the deadline's margin left no room for: the saved attempt is
                        // settled by the next evaluation.
                        let why = "deferred: a retry of the write would start after the \
                                   deadline's margin; the next scheduled run continues"
                            .to_owned();
                        return self.hold_for_next_run(p, record, why).await;
                    }
                    Err(error) => {
                        let floor = floor_from_error(&error.message)
                            .filter(|_| error.kind() == ErrorKind::InvalidParameter);
                        let Some(floor) = floor else {
                            self.record_outcome(p, ActivityOutcome::Failed(error.to_string()))
                                .await;
                            return failed_put(record, p, saved || refusal.is_some(), error);
                        };
                        self.floor.set(floor);
                        let text = format!(
                            "Lambda refused: the account's unreserved pool would drop below \
                             its minimum of {floor}"
                        );
                        // A scale-out is decided again once with the headroom read anew; a
                        // first reservation or a cap cannot be helped by a smaller value.
                        let retry = refusal.is_none() && class(p) == Class::ScaleOut;
                        // The retry reads the account, saves and writes again, and raises
                        // its mappings after: only while the deadline allows all of them.
                        let calls = 2 + p.source_plan.updates() as u32;
                        let late = retry
                            .then(|| self.defer_reason(true, calls, settled))
                            .flatten();
                        if let Some(reason) = late {
                            let why = format!("{text}; not decided again: {reason}");
                            self.record_outcome(p, ActivityOutcome::Blocked(why.clone()))
                                .await;
                            record.deferred = true;
                            return blocked(record, p, &why);
                        }
                        let budget = if retry {
                            self.headroom = self.read_headroom().await;
                            match self.headroom {
                                AccountHeadroom::Known(budget) => Some(budget),
                                _ => None,
                            }
                        } else {
                            None
                        };
                        let Some(budget) = budget else {
                            self.record_outcome(p, ActivityOutcome::Blocked(text.clone()))
                                .await;
                            return blocked(record, p, &text);
                        };
                        let attempted = p.decision.clone();
                        // Read after all: the decision is limited by it now.
                        p.drop_note(HEADROOM_UNKNOWN);
                        p.decide(Some(budget.headroom()));
                        if p.decision.change().is_none() {
                            // Nothing smaller fits: the attempt saved is blocked, and its
                            // activity says so (deciding again from the history read would
                            // drop it from the item).
                            p.decision = attempted;
                            self.record_outcome(p, ActivityOutcome::Blocked(text.clone()))
                                .await;
                            return blocked(record, p, &text);
                        }
                        // A note: the attempt saved for the retry says it too.
                        p.note(format!("{text}; decided again with the headroom read anew"));
                        refusal = Some(text);
                        // The mappings raised or lowered for the refused value stand.
                        p.keep_written(&record);
                        continue;
                    }
                }
            }
            // 3. The mappings that may run more, unless one could not be lowered.
            let up = if unfinished.is_some() {
                MappingWrites::default()
            } else {
                match self
                    .write_mappings(p, &|c| !before(c), 0, &mut record)
                    .await
                {
                    Ok(up) => up,
                    Err(failure) => return interrupted(p, failure, record),
                }
            };
            if let Some(error) = up.error.or(unfinished) {
                if within {
                    record.reasons.push(
                        "what was written keeps the mappings within the reservation; the next \
                         evaluation finishes the job"
                            .into(),
                    );
                }
                // The activity's word stays "failed" (a mapping was not written); its detail
                // says that the reservation itself landed.
                let detail = if record.applied {
                    format!(
                        "the reservation was set to {}, but a mapping was not written: {error}",
                        describe(p.decision.desired)
                    )
                } else {
                    error.to_string()
                };
                self.record_outcome(p, ActivityOutcome::Failed(detail))
                    .await;
                return TargetOutcome::Failed(Some(record), error);
            }
            if let Some(why) = up.deferred {
                // The reservation landed; the mappings it lets run more follow at the next
                // run (the next evaluation settles the attempt from the reservation).
                record.reasons.push(why);
                record.deferred = true;
            }
            return TargetOutcome::Done(record);
        }
    }

    /// The latest start of the decision's next control-plane write: within
    /// [`lease::START_WITHIN`] of its saved attempt, so that no other writer's later decision
    /// can be undone by it ([`crate::lease`]). When less than [`RENEW_BEFORE`] of that is left
    /// (mappings written or settling first), the history is saved again, which renews the
    /// window and finds out whether someone else wrote meanwhile. `None`: nothing was saved
    /// (no state table), so nothing fences.
    async fn start_by(&mut self, p: &mut Pending) -> Result<Option<Duration>, SaveFailure> {
        let Some(saved_at) = p.saved_at else {
            return Ok(None);
        };
        // The write waits for its pacing slot first: that wait counts too.
        let slot = self.ctx.lambda.control_plane_wait();
        let clock = self.ctx.clock.clone();
        if clock.elapsed() + slot + RENEW_BEFORE > saved_at + lease::START_WITHIN {
            // A slot further away than the window (a budget below one call a second): wait
            // for most of it, so that the window renewed now still holds when it comes.
            let early = slot.saturating_sub(RENEW_BEFORE);
            if !early.is_zero() && self.deadline.is_none_or(|d| d.allows(&*clock, early)) {
                clock.sleep(early).await;
            }
            self.save(p).await?;
        }
        Ok(p.saved_at.map(|at| at + lease::START_WITHIN))
    }

    /// Leaves the target to the next run with `why`: its activity is recorded blocked, and
    /// the record deferred, so that an SQS record's command is delivered again rather than
    /// acknowledged unapplied.
    async fn hold_for_next_run(
        &mut self,
        p: &mut Pending,
        mut record: DecisionRecord,
        why: String,
    ) -> TargetOutcome {
        record.reasons.push(why.clone());
        record.deferred = true;
        self.record_outcome(p, ActivityOutcome::Blocked(why)).await;
        TargetOutcome::Done(record)
    }

    /// Writes a failed or blocked attempt's outcome at once: the second write of the target,
    /// spent only when a change does not land (a successful one is settled by the next
    /// write). Only after the history was saved with the attempt; a failure here is logged.
    async fn record_outcome(&mut self, p: &mut Pending, outcome: ActivityOutcome) {
        if self.ctx.state.is_none() || p.version.is_none() || !p.decision.history_changed {
            return;
        }
        p.decision.history.set_outcome(outcome);
        if self.save(p).await.is_err() {
            tracing::warn!(
                function = %p.view.arn,
                "the outcome of a failed change could not be saved; `autoscaler activities` \
                 shows the attempt as pending"
            );
        }
    }

    /// Writes the plan's mapping changes that `this_turn` takes (those before the reservation,
    /// or those after it). A role without the permission is not an error: the reservation
    /// acts alone, and the record says so.
    async fn write_mappings(
        &mut self,
        p: &mut Pending,
        this_turn: &dyn Fn(&MappingChange) -> bool,
        then: u32,
        record: &mut DecisionRecord,
    ) -> Result<MappingWrites, SaveFailure> {
        let mut writes = MappingWrites::default();
        let changes = p.source_plan.changes.clone();
        for (i, change) in changes.iter().enumerate() {
            let Some(update) = change.update().filter(|_| this_turn(change)) else {
                continue;
            };
            let (mut waited, mut resent) = (false, false);
            let (result, by_deadline) = loop {
                let start_by = self.start_by(p).await?;
                let (fence, by_deadline) = self.write_fence(start_by, then);
                let started = self.paced_start();
                let result = self
                    .ctx
                    .lambda
                    .update_mapping_before(&change.uuid, update, fence)
                    .await;
                self.note_write(started);
                // A lower refused because an earlier update has not settled (the quick
                // retries give it about a second): without it, a cap would put the
                // reservation below the mapping's pollers. It waits for the mapping to
                // settle, within the run's budget and the deadline, and is sent once more.
                let in_progress = matches!(&result, Err(e) if e.kind() == ErrorKind::InProgress);
                if in_progress && change.lowers() && !waited {
                    waited = true;
                    match self.settle(std::slice::from_ref(&change.uuid)).await {
                        Ok(None) => {
                            resent = true;
                            continue;
                        }
                        // Not watched: nothing to wait for, and a resend would meet the same
                        // update; the failure is reported below.
                        Ok(Some(unwatched)) => record.reasons.push(unwatched),
                        Err(_) => {}
                    }
                }
                break (result, by_deadline);
            };
            if resent && result.is_ok() {
                record.reasons.push(format!(
                    "event source {} was still updating: its write waited for it to settle \
                     and was sent again",
                    change.uuid
                ));
            }
            let report = &mut record.event_sources[i];
            match result {
                Err(error) if self.stopped_by_deadline(&error, by_deadline) => {
                    // The rest of the target waits for the next scheduled run, as a target
                    // the deadline defers does; what was written stands.
                    writes.deferred = Some(format!(
                        "deferred: the write of event source {} (an attempt of it) would start \
                         after the deadline's margin{}; the next scheduled run continues",
                        change.uuid,
                        if then > 0 {
                            ", with room for the reservation's write after it"
                        } else {
                            ""
                        }
                    ));
                    break;
                }
                Ok(answer) => {
                    let as_expected = update
                        .maximum_concurrency
                        .is_none_or(|m| answer.maximum_concurrency == Some(m));
                    self.mappings.updated(&answer, as_expected);
                    // This write, in place of an earlier attempt's of the same mapping.
                    *report = SourceReport::of(change);
                    report.applied = true;
                    if answer.is_settling() {
                        writes.settling.push(change.uuid.clone());
                    }
                }
                Err(error) => {
                    // This failed write in place of an earlier attempt's of the same mapping,
                    // which stands, and is said so.
                    let earlier = report.applied.then(|| report.clone());
                    *report = SourceReport::of(change);
                    report.error = Some(error.to_string());
                    if let Some(earlier) = earlier {
                        record.reasons.push(format!(
                            "event source {} was set to maximum concurrency {} and {} earlier \
                             in this evaluation, which stands",
                            earlier.uuid,
                            describe(earlier.maximum_concurrency.desired),
                            if earlier.enabled.desired {
                                "enabled"
                            } else {
                                "disabled"
                            }
                        ));
                    }
                    mapping_failed(change, error, record, &mut writes);
                }
            }
        }
        Ok(writes)
    }

    /// Waits until the mappings are no longer updating: within the deadline and the run's
    /// [`SETTLE_BUDGET`], or for at most [`SETTLE_LIMIT`] without a deadline (the CLI).
    /// `Err` carries the state of one still settling; `Ok` a reason to give, if any: a
    /// role that may not read a mapping (`AccessDenied`) cannot watch it settle, and as
    /// everywhere else a missing mapping permission does not block the reservation.
    async fn settle(&mut self, uuids: &[String]) -> Result<Option<String>, String> {
        let began = self.ctx.clock.elapsed();
        let settled = self.settle_rounds(uuids).await;
        // All of it counts, the paced reads too: the targets behind waited as long.
        if self.deadline.is_some() {
            self.settle_waited += self.ctx.clock.elapsed().saturating_sub(began);
        }
        settled
    }

    async fn settle_rounds(&mut self, uuids: &[String]) -> Result<Option<String>, String> {
        let clock = self.ctx.clock.clone();
        let began = clock.elapsed();
        let mut waiting: Vec<String> = uuids.to_vec();
        let mut last_state = "Updating".to_owned();
        let mut unwatched = None;
        // With a deadline, the run's settle budget counts the reads as well as the waits, the
        // next round's reads too before it starts.
        let within_budget = |this: &Self, more: Duration| {
            this.deadline.is_none()
                || this.settle_waited + clock.elapsed().saturating_sub(began) + more
                    <= SETTLE_BUDGET
        };
        // The first round too: the deadline's check before the writes did not count it.
        if let Some(deadline) = self.deadline {
            let round = self.settle_round(waiting.len());
            let reads = self.settle_reads(waiting.len());
            if !deadline.allows(&*clock, round) || !within_budget(self, reads) {
                return Err(last_state);
            }
        }
        loop {
            let mut still = Vec::new();
            for uuid in waiting {
                match self.ctx.lambda.get_mapping(&uuid).await {
                    Ok(m) if m.is_settling() => {
                        last_state = m.state.clone();
                        still.push(uuid);
                    }
                    Ok(_) => {}
                    Err(error) if error.kind() == ErrorKind::AccessDenied => {
                        unwatched = Some(format!(
                            "the role may not read event source {uuid} \
                             (lambda:GetEventSourceMapping: {error}), so the reservation does \
                             not wait for it to settle: batches it already received may be \
                             throttled briefly"
                        ));
                    }
                    Err(error) => {
                        last_state = format!("unknown ({error})");
                        still.push(uuid);
                    }
                }
            }
            if still.is_empty() {
                return Ok(unwatched);
            }
            waiting = still;
            let need = SETTLE_POLL + self.settle_round(waiting.len());
            let allowed = match self.deadline {
                Some(deadline) => {
                    let reads = self.settle_reads(waiting.len());
                    deadline.allows(&*clock, need) && within_budget(self, SETTLE_POLL + reads)
                }
                None => clock.elapsed().saturating_sub(began) + SETTLE_POLL <= SETTLE_LIMIT,
            };
            if !allowed {
                return Err(last_state);
            }
            clock.sleep(SETTLE_POLL).await;
        }
    }

    /// What the reads of one round of settling take: a paced call for each of `mappings`.
    fn settle_reads(&self, mappings: usize) -> Duration {
        self.ctx.lambda.control_plane_wait()
            + (self.per_call() + self.ctx.lambda.control_plane_interval()) * mappings as u32
    }

    /// What a round of settling takes: it reads each of `mappings`, then the history is
    /// saved again and the reservation written, each counted as a paced call (the save, to
    /// DynamoDB, is not one, which leaves room to spare).
    fn settle_round(&self, mappings: usize) -> Duration {
        self.settle_reads(mappings + 2)
    }

    fn applied(&mut self, p: &Pending, record: &mut DecisionRecord) {
        let d = &p.decision;
        if let AccountHeadroom::Known(budget) = &mut self.headroom {
            match (d.previous, d.desired) {
                (Some(from), Some(to)) if to > from => budget.spend(to - from),
                (Some(from), Some(to)) => budget.free(from - to),
                (None, Some(to)) => budget.spend(to),
                _ => {}
            }
        }
        record.applied = true;
        record.reasons.push(format!(
            "applied: reservation {} -> {}",
            describe(d.previous),
            describe(d.desired)
        ));
    }

    /// Saves the decision's history against the version read; moves the version on.
    async fn save(&mut self, p: &mut Pending) -> Result<(), SaveFailure> {
        let (Some(store), Some(version)) = (&self.ctx.state, p.version.clone()) else {
            return Ok(());
        };
        let now = self.ctx.clock.epoch_seconds();
        let started = self.ctx.clock.elapsed();
        let saved = store
            .save(&p.view.arn, &p.decision.history, version.clone(), now)
            .await;
        self.note_duration(started);
        match saved {
            Ok(()) => {
                p.decision.history.archive_activities();
                // When the request left, with `now`, the time the item says it was written:
                // a save slowed by retries must not start the writes' window later than the
                // lease other writers count from that time.
                p.saved_at = Some(started);
                p.version = Some(match version {
                    Version::At(v) => Version::At(v.saturating_add(1)),
                    Version::Absent | Version::Unreadable(_) => Version::At(1),
                });
                Ok(())
            }
            Err(SaveError::Conflict) => Err(SaveFailure::Conflict),
            Err(SaveError::Aws(error)) => Err(SaveFailure::Failed(Box::new(error))),
        }
    }

    async fn put(
        &mut self,
        p: &Pending,
        value: u32,
        start_by: Option<Duration>,
    ) -> Result<(), crate::ports::AwsError> {
        let started = self.paced_start();
        let ctx = self.ctx;
        let before_resend = |error: &AwsError| {
            let error = error.clone();
            async move { before_resend(ctx, p, value, error).await }
        };
        let result = ctx
            .lambda
            .put_reserved_before(
                &p.planned.target.function,
                value,
                start_by,
                Some(before_resend),
            )
            .await;
        self.note_write(started);
        result
    }

    /// When a control-plane call asked for now should start: after its wait for a pacing
    /// slot, which the deadline check counts apart, so that [`Self::slowest`] holds only
    /// the call itself.
    fn paced_start(&self) -> Duration {
        self.ctx.clock.elapsed() + self.ctx.lambda.control_plane_wait()
    }

    /// The fence of a write (every attempt, retries too): the earlier of its lease's
    /// `start_by` and the latest start the deadline's margin allows with room for `then`
    /// writes after it; and that latest start.
    fn write_fence(
        &self,
        start_by: Option<Duration>,
        then: u32,
    ) -> (Option<Duration>, Option<Duration>) {
        let need = self.per_call().saturating_mul(1 + then);
        let by_deadline = self.deadline.map(|d| d.latest_start(need));
        (start_by.into_iter().chain(by_deadline).min(), by_deadline)
    }

    /// Whether `error` is a write the fence refused because the deadline's margin came (not
    /// the lease's window): the target is deferred, not failed.
    fn stopped_by_deadline(&self, error: &AwsError, by_deadline: Option<Duration>) -> bool {
        error.code.as_deref() == Some(crate::pace::LEASE_PASSED)
            && by_deadline.is_some_and(|b| self.ctx.clock.elapsed() > b)
    }

    fn note_duration(&mut self, started: Duration) {
        self.note(self.ctx.clock.elapsed().saturating_sub(started));
    }

    /// Times a fenced write by its slowest single attempt: its retries' waits (a throttle's
    /// second among them) are bounded by each attempt's fence, and counted in the next
    /// write's time they would keep a cap's reservation from starting after its mappings.
    fn note_write(&mut self, started: Duration) {
        match self.ctx.lambda.take_slowest_write_attempt() {
            Some(took) => self.note(took),
            None => self.note_duration(started),
        }
    }

    fn note(&mut self, took: Duration) {
        self.slowest = Some(self.slowest.map_or(took, |slowest| slowest.max(took)));
    }

    /// What the deadline check counts for one write: the slowest so far, or
    /// [`UNTIMED_WRITE`] before any has been timed, so that a pass's first write is not
    /// counted as free.
    fn per_call(&self) -> Duration {
        self.slowest.unwrap_or(UNTIMED_WRITE)
    }

    /// Why this decision's writes must not start, if they must not: they must leave time for
    /// the margin, and for publishing the metrics of every target not yet settled. `writes`
    /// counts the control-plane writes (the reservation's and the mappings').
    fn defer_reason(&mut self, saves: bool, writes: u32, settled: usize) -> Option<String> {
        if let Some(reason) = &self.deferring {
            return Some(reason.clone());
        }
        let reason = self.shortfall(saves, writes, settled)?;
        self.deferring = Some(reason.clone());
        Some(reason)
    }

    /// Why `writes` paced calls (and a save, with `saves`) cannot start now and end before
    /// the margin, if they cannot.
    fn shortfall(&self, saves: bool, writes: u32, settled: usize) -> Option<String> {
        let deadline = self.deadline?;
        let clock = &*self.ctx.clock;
        // The first paced call waits for its slot, each one after it for the pacing interval.
        let wait = if writes > 0 {
            self.ctx.lambda.control_plane_wait()
                + self.ctx.lambda.control_plane_interval() * (writes - 1)
        } else {
            Duration::ZERO
        };
        let points =
            u32::try_from(3 * self.targets.saturating_sub(settled) + 1).unwrap_or(u32::MAX);
        let need = wait
            + self.per_call() * (writes + u32::from(saves))
            + self.report_cost.per_point() * points;
        if deadline.allows(clock, need) {
            return None;
        }
        Some(format!(
            "deferred: {:.1} s left before the deadline, and writing and reporting need about \
             {:.1} s plus a {:.1} s margin; the next scheduled run continues",
            deadline.left(clock).as_secs_f64(),
            need.as_secs_f64(),
            deadline.margin().as_secs_f64()
        ))
    }
}

/// What a write is counted as taking before any has been timed: a same-Region call takes tens
/// of milliseconds, and one retry after a throttle or a dropped connection about a second.
const UNTIMED_WRITE: Duration = Duration::from_secs(1);

/// How long a plain scale-in waits for its mappings to settle when there is no deadline
/// (the CLI); with one, the deadline and [`SETTLE_BUDGET`] decide.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);
/// How long, in all, the plain scale-ins of one run with a deadline (a Lambda invocation,
/// a watch tick) wait for their mappings to settle. The targets behind them wait as long,
/// a cap read later among them, so a mapping that takes longer holds its scale-in to the
/// next evaluation instead (a scale-in is never urgent).
pub const SETTLE_BUDGET: Duration = Duration::from_secs(5);
/// How often a settling mapping is read again (each read is a paced control-plane call).
const SETTLE_POLL: Duration = Duration::from_secs(1);

/// What writing one direction of a plan's mapping changes did.
#[derive(Default)]
struct MappingWrites {
    /// The mappings Lambda answered as still updating.
    settling: Vec<String>,
    /// The first failure (other than a denied permission).
    error: Option<HandlerError>,
    /// Why a write was not sent: its attempt (a retry) would start after the deadline's
    /// margin. The rest waits for the next scheduled run.
    deferred: Option<String>,
}

impl MappingWrites {
    /// Adds what a later pass of writes did.
    fn add(&mut self, later: MappingWrites) {
        self.settling.extend(later.settling);
        if self.error.is_none() {
            self.error = later.error;
        }
        if self.deferred.is_none() {
            self.deferred = later.deferred;
        }
    }
}

/// The followed mappings that the listing found still updating, other than `written` (whose
/// answers are newer): an update from an earlier evaluation that had not settled.
fn already_settling(p: &Pending, written: &[String]) -> Vec<String> {
    let event_sources::Observed::Read(mappings) = &p.sources else {
        return Vec::new();
    };
    mappings
        .iter()
        .filter(|m| m.is_settling() && !written.contains(&m.uuid))
        .filter(|m| p.source_plan.changes.iter().any(|c| c.uuid == m.uuid))
        .map(|m| m.uuid.clone())
        .collect()
}

/// A target the deadline keeps from being written: reported as deferred, for the next run.
fn deferred(p: Pending, reason: String, read_version: Option<Version>) -> Finished {
    let mut record = p.record();
    record.deferred = true;
    record.reasons.push(reason);
    Finished {
        order: p.order,
        known: Some(p.known_after(read_version, false)),
        outcome: TargetOutcome::Done(record),
    }
}

/// Held at the current value because the pool has no room: reported, not failed.
fn blocked(mut record: DecisionRecord, p: &Pending, refusal: &str) -> TargetOutcome {
    record.reasons.push(format!(
        "blocked by account headroom: {refusal}; the reservation stays {}",
        describe(p.decision.previous)
    ));
    // An operator's command is not dropped: deferred, its SQS record is delivered again
    // (the next scheduled run only follows the alarms).
    if matches!(p.planned.request, crate::decide::Request::Direct(_)) {
        record.deferred = true;
    }
    TargetOutcome::Done(record)
}

enum SaveFailure {
    Conflict,
    Failed(Box<crate::ports::AwsError>),
}

/// Says why a mapping write failed; a failure other than a denied permission is the
/// writes' error.
fn mapping_failed(
    change: &MappingChange,
    error: AwsError,
    record: &mut DecisionRecord,
    writes: &mut MappingWrites,
) {
    if error.kind() == ErrorKind::AccessDenied {
        record.reasons.push(format!(
            "event source {} not updated: the autoscaler's role may not ({error}); the \
             reservation acts alone. Add lambda:UpdateEventSourceMapping (docs/deploy.md)",
            change.uuid
        ));
    } else {
        record.reasons.push(format!(
            "event source {} (queue {}) not updated: {error}",
            change.uuid, change.queue
        ));
        writes.error.get_or_insert(error.into());
    }
}

/// A change stopped by a save that did not happen: someone else wrote the history (decide
/// again), or the store failed (nothing more is written). `record` holds what was written
/// before it: a save that renews the writes' window comes after the mappings lowered first.
fn interrupted(p: &Pending, failure: SaveFailure, mut record: DecisionRecord) -> TargetOutcome {
    let mut written: Vec<String> = record
        .event_sources
        .iter()
        .filter(|s| s.applied)
        .map(|s| format!("event source mapping {}", s.uuid))
        .collect();
    if record.applied {
        written.push(format!("the reservation {}", describe(p.decision.desired)));
    }
    let error = match failure {
        SaveFailure::Conflict => {
            let mut again = p.clone();
            again.keep_written(&record);
            return TargetOutcome::Conflict(Box::new(again), written);
        }
        SaveFailure::Failed(error) => *error,
    };
    let function = p.view.arn.clone();
    if written.is_empty() {
        record
            .reasons
            .push(format!("state not saved, so nothing was changed: {error}"));
        return TargetOutcome::Failed(
            Some(record),
            HandlerError::State {
                function,
                source: error,
            },
        );
    }
    let written = written.join(", ");
    record.reasons.push(format!(
        "state not saved after writing {written}: what was written stands, and the next \
         evaluation finishes: {error}"
    ));
    TargetOutcome::Failed(
        Some(record),
        HandlerError::StateAfterWrites {
            function,
            written,
            source: Box::new(error),
        },
    )
}

/// A change's writes renew their lease by saving again when less than this is left of its
/// start window: a pacing slot can take about that long.
const RENEW_BEFORE: Duration = Duration::from_secs(1);

/// The record and error of a `PutFunctionConcurrency` that failed for good.
fn failed_put(
    mut record: DecisionRecord,
    p: &Pending,
    saved: bool,
    error: crate::ports::AwsError,
) -> TargetOutcome {
    let kept = if saved {
        " (the saved state counts the attempt, so the next step in this direction waits for \
         its cooldown)"
    } else {
        ""
    };
    record.reasons.push(format!("not applied: {error}{kept}"));
    let function = p.planned.target.function.to_string();
    let error = match error.kind() {
        ErrorKind::AccessDenied => HandlerError::WriteDenied {
            function,
            source: error,
        },
        ErrorKind::NotFound => HandlerError::FunctionGone {
            function,
            source: error,
        },
        _ => error.into(),
    };
    TargetOutcome::Failed(Some(record), error)
}
