//! One decided target on its way to the writer: what was read, what was decided, and what
//! its event source mappings must become. Deciding again (with the account's headroom, or
//! with mappings read anew) keeps the decision and the mappings' plan together.

use crate::decide::{Decision, Headroom, Observations};
use crate::event_sources::{self, SourcePlan, SourceReport};
use crate::observe::Observed;
use crate::plan::PlannedTarget;
use crate::ports::{FunctionView, Stored, Version};
use crate::report::DecisionRecord;
use crate::state::{Activity, ActivityOutcome, MappingRecord, SavedState};

/// One decided target, waiting to be carried out.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The target's place in the plan: ties keep plan order, and results are sorted by it.
    pub order: usize,
    pub planned: PlannedTarget,
    pub view: FunctionView,
    /// The saved state's version when it was read; `None` when no state store is configured.
    pub version: Option<Version>,
    /// What the decision was made from, to decide again with the headroom.
    pub observations: Observations,
    /// The function's SQS event source mappings, as far as they were read.
    pub sources: event_sources::Observed,
    pub decision: Decision,
    /// What the mappings must become for the decision (empty when none follow).
    pub source_plan: SourcePlan,
    /// When this invocation last saved the target's history (the clock's monotonic scale):
    /// the writes that follow start within [`crate::lease::START_WITHIN`] of it.
    pub saved_at: Option<std::time::Duration>,
    /// What happened to the target around its decision (read and decided again), said
    /// before the decision's own reasons, and again when it is decided anew.
    notes: Vec<String>,
    /// The mapping writes this evaluation made for an earlier attempt at the target (before
    /// Lambda refused it for the unreserved floor, or before a conflict): they stand, and
    /// the record shows them applied until a later write of the same mapping replaces them.
    written_before: Vec<SourceReport>,
    /// The account's headroom the decision was last made with, if any: a decision made
    /// again for another reason (its mappings listed anew) keeps it.
    headroom: Option<Headroom>,
    /// The recorded mappings whose saved records the plans keep as they are: those a current
    /// listing could not check ([`Self::note_unread_records`]), or the saved pauses when the
    /// mappings could not be listed again ([`Self::keep_recorded_pauses`]).
    kept_as_saved: Vec<String>,
}

impl Pending {
    /// A target decided from `observations` (without headroom: that comes at write time),
    /// with its mappings' plan and its activity.
    pub fn new(
        order: usize,
        planned: PlannedTarget,
        view: FunctionView,
        version: Option<Version>,
        observations: Observations,
        sources: event_sources::Observed,
        decision: Decision,
    ) -> Pending {
        let mut pending = Pending {
            order,
            planned,
            view,
            version,
            observations,
            sources,
            decision,
            source_plan: SourcePlan::default(),
            saved_at: None,
            notes: Vec::new(),
            written_before: Vec::new(),
            headroom: None,
            kept_as_saved: Vec::new(),
        };
        pending.plan_sources();
        pending.note_activity();
        pending
    }

    /// Decides again (with the headroom, or with mappings read anew).
    pub fn decide(&mut self, headroom: Option<Headroom>) {
        self.headroom = headroom;
        self.decide_again();
    }

    /// Decides again from what changed (its mappings listed anew), with the headroom it
    /// was last decided with.
    pub fn decide_again(&mut self) {
        let headroom = self.headroom;
        self.decision =
            self.observations
                .decide(&self.planned.target, self.planned.request, headroom);
        self.decision
            .reasons
            .splice(0..0, self.notes.iter().cloned());
        self.plan_sources();
        self.note_activity();
    }

    /// Says `text` before the decision's reasons, now and whenever it is decided anew, and in
    /// the attempt this decision noted in the history, if it noted one.
    pub fn note(&mut self, text: String) {
        self.decision.reasons.insert(self.notes.len(), text.clone());
        self.notes.push(text);
        self.renote_attempt();
    }

    /// Takes back the notes that start with `prefix` (what they said no longer holds: the
    /// account's headroom was read after all).
    pub fn drop_note(&mut self, prefix: &str) {
        let before = self.notes.len();
        self.notes.retain(|n| !n.starts_with(prefix));
        if self.notes.len() != before {
            self.decision.reasons.retain(|r| !r.starts_with(prefix));
            self.renote_attempt();
        }
    }

    /// The attempt this decision noted (pending, made now) carries its reasons as they are.
    fn renote_attempt(&mut self) {
        let now = self.observations.now;
        let reasons = self.decision.reasons.clone();
        if let Some(attempt) = (self.decision.history.activities.last_mut())
            .filter(|a| a.outcome == ActivityOutcome::Pending && a.at == now)
        {
            *attempt = Activity {
                reasons,
                ..attempt.clone()
            }
            .bounded();
        }
    }

    /// Notes an attempted change in the history, pending until a later write settles it
    /// (the history is saved before the change); a write that happens anyway settles an
    /// earlier pending attempt from the reservation this evaluation read.
    fn note_activity(&mut self) {
        let d = &mut self.decision;
        if d.change().is_some() || self.source_plan.writes() {
            let activity = Activity {
                at: self.observations.now,
                trigger: self.planned.triggers.join("; "),
                previous: d.previous,
                desired: d.desired,
                reasons: d.reasons.clone(),
                outcome: ActivityOutcome::Pending,
            };
            let mappings_due = d.desired.filter(|_| self.source_plan.writes());
            d.history
                .note_attempt(activity, self.observations.current, mappings_due);
            d.history_changed = true;
        } else if d.history_changed {
            d.history.settle_pending(self.observations.current, None);
        }
    }

    /// Plans the mappings for the decided reservation; their records join the history.
    fn plan_sources(&mut self) {
        self.source_plan = SourcePlan::default();
        let d = &mut self.decision;
        match (&self.sources, d.desired) {
            (event_sources::Observed::Read(mappings), Some(reservation)) => {
                let visible = self
                    .planned
                    .target
                    .queue
                    .as_ref()
                    .zip(self.observations.queue)
                    .map(|(spec, depth)| (spec.queue.name(), depth.visible));
                let saved = std::mem::take(&mut d.history.event_sources);
                let plan_for = event_sources::PlanFor {
                    reservation,
                    visible,
                    held: d.explicit_pause,
                    ceiling: self.planned.target.event_source_ceiling,
                };
                let mut plan = event_sources::plan(mappings, &saved, plan_for);
                if !self.kept_as_saved.is_empty() {
                    let recorded = self.observations.saved.event_sources();
                    let kept_as_is = |s: &&MappingRecord| self.kept_as_saved.contains(&s.uuid);
                    for kept in recorded.iter().filter(kept_as_is) {
                        match plan.records.iter_mut().find(|r| r.uuid == kept.uuid) {
                            Some(r) => {
                                r.paused = kept.paused;
                                r.held = kept.held;
                            }
                            // Not in the listing, which may predate the mapping.
                            None => plan.records.push(kept.clone()),
                        }
                    }
                    plan.records.sort_by(|a, b| a.uuid.cmp(&b.uuid));
                }
                d.history_changed |= plan.records != saved;
                d.history.event_sources = plan.records.clone();
                d.reasons.extend(plan.reasons.iter().cloned());
                self.source_plan = plan;
            }
            (event_sources::Observed::NotFollowed(Some(why)), _) => d.reasons.push(why.clone()),
            // Ignored mappings are left alone, a pause the autoscaler made before the switch
            // too: said at every evaluation while it may still hold, so that it is not left
            // silently. A listing that shows the mapping enabled (or gone) ends the record:
            // the pause is over, and following again must not enable a mapping someone
            // disabled since.
            (event_sources::Observed::Ignored(listing), _) => {
                let listing = listing.as_deref();
                let unread = &self.kept_as_saved;
                let over = |r: &MappingRecord| {
                    !unread.contains(&r.uuid)
                        && listing.is_some_and(|mappings| {
                            (mappings.iter().find(|m| m.uuid == r.uuid))
                                .is_none_or(|m| !m.is_disabled())
                        })
                };
                let before = d.history.event_sources.clone();
                for r in d
                    .history
                    .event_sources
                    .iter_mut()
                    .filter(|r| r.paused && over(r))
                {
                    r.paused = false;
                    r.held = false;
                }
                d.history_changed |= d.history.event_sources != before;
                for paused in d.history.event_sources.iter().filter(|r| r.paused) {
                    d.reasons.push(format!(
                        "event source {} was paused (disabled) by the autoscaler while it \
                         followed this target's mappings, and \"event_sources\": \"ignore\" \
                         leaves it as it is: {}; following the mappings again resumes it",
                        paused.uuid,
                        if unread.contains(&paused.uuid) {
                            "it could not be read, so it may have been enabled by hand or \
                             deleted since; if not, its messages wait in the queue"
                        } else if listing.is_some() {
                            "it is still disabled, its messages waiting in the queue until it \
                             is enabled by hand"
                        } else {
                            "unless it was enabled by hand since (its mappings are listed for it \
                             at most every 5 minutes, not at this evaluation), its messages wait \
                             in the queue"
                        }
                    ));
                }
            }
            _ => {}
        }
    }

    /// True when the decision lowers the reservation (or sets a first one): a mapping the
    /// account's listing missed would then run beyond it. (A scale-out cannot make such a
    /// mapping worse, so it spends no extra call; the next listing finds it.)
    pub fn lowers_reservation(&self) -> bool {
        self.decision.lowers()
    }

    /// Whether the decision raises the reservation of a function with SQS mappings, known
    /// from the listing or from the records of those the autoscaler changed.
    pub fn raises_with_mappings(&self) -> bool {
        let listed = matches!(&self.sources, event_sources::Observed::Read(m) if !m.is_empty());
        self.decision.change().is_some()
            && !self.lowers_reservation()
            && (listed || !self.observations.saved.event_sources().is_empty())
    }

    /// Whether the target ignores its mappings, holds a pause recorded before the switch, and
    /// has not listed them yet: the writer lists them ([`crate::apply`]), so that the pause
    /// ends once the mapping is enabled (or gone), from a current listing only.
    pub fn checks_an_ignored_pause(&self) -> bool {
        matches!(self.sources, event_sources::Observed::Ignored(None))
            && (self.observations.saved.event_sources().iter()).any(|r| r.paused)
    }

    /// Whether the plan forgets a pause the saved records hold (the mapping is listed as
    /// enabled): a listing kept by this container can be minutes old and miss a pause another
    /// writer made, or a resume of it that failed, so the pause is forgotten only after a
    /// current listing (else the mapping would stay disabled for good, as "disabled by
    /// someone else").
    pub fn forgets_a_pause(&self) -> bool {
        let planned = &self.decision.history.event_sources;
        // Planned as not paused, or dropped as deleted: a listing older than the mapping
        // does not have it at all.
        (self.observations.saved.event_sources().iter())
            .filter(|saved| saved.paused)
            .any(|saved| !planned.iter().any(|r| r.uuid == saved.uuid && r.paused))
    }

    /// Keeps the saved records of the mappings a current listing could not check (each with
    /// the reason) in this decision's plans when it is decided again, and if again later.
    pub fn note_unread_records(&mut self, unread: Vec<(String, String)>) {
        for (uuid, why) in unread {
            self.kept_as_saved.push(uuid);
            self.note(why);
        }
    }

    /// Keeps the saved pauses in this decision's plans, now and if decided again: the
    /// function's mappings could not be listed again, and the kept listing that shows them
    /// enabled may predate the pause ([`Self::forgets_a_pause`]); the next evaluation tries
    /// again.
    pub fn keep_recorded_pauses(&mut self, why: String) {
        let paused = (self.observations.saved.event_sources().iter()).filter(|r| r.paused);
        self.kept_as_saved.extend(paused.map(|r| r.uuid.clone()));
        self.note(why);
        self.decide_again();
    }

    /// The target as carrying out this decision left it, given the version its history had
    /// when it was read and whether the reservation was set: a save moved the version on
    /// (and only a save does), so the history is then the one saved.
    pub fn known_after(&self, read_version: Option<Version>, applied: bool) -> Observed {
        let mut view = self.view.clone();
        if applied {
            view.reserved = self.decision.desired;
        }
        let stored = match &self.version {
            // Known to this process: its own write, or a read it has waited on
            // ([`crate::lease`]), so nothing to wait for.
            Some(version) if self.version != read_version => Stored {
                state: SavedState::Valid(self.decision.history.clone()),
                version: version.clone(),
                written: None,
            },
            _ => Stored {
                state: self.observations.saved.clone(),
                version: read_version.unwrap_or(Version::Absent),
                written: None,
            },
        };
        Observed { view, stored }
    }

    pub fn record(&self) -> DecisionRecord {
        let mut record = record_for(&self.planned, &self.decision);
        record.event_sources = self
            .source_plan
            .changes
            .iter()
            .map(SourceReport::of)
            .collect();
        // In place, so that the plan's changes keep their positions.
        for earlier in &self.written_before {
            match (record.event_sources.iter_mut()).find(|s| s.uuid == earlier.uuid) {
                Some(planned) => *planned = earlier.clone(),
                None => record.event_sources.push(earlier.clone()),
            }
        }
        record
    }

    /// Takes over the mapping writes an earlier attempt at the target made ([`Self::record`]).
    pub fn inherit_written(&mut self, earlier: &Pending) {
        self.remember_written(&earlier.written_before);
    }

    /// Keeps the mapping writes `record` shows applied, for the record of a later attempt
    /// at this target or of the decision made again after a conflict.
    pub fn keep_written(&mut self, record: &DecisionRecord) {
        let applied: Vec<SourceReport> = (record.event_sources.iter())
            .filter(|s| s.applied)
            .cloned()
            .collect();
        self.remember_written(&applied);
    }

    /// Each of `written` in place of an earlier write of the same mapping.
    fn remember_written(&mut self, written: &[SourceReport]) {
        for w in written {
            self.written_before.retain(|kept| kept.uuid != w.uuid);
            self.written_before.push(w.clone());
        }
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
        event_sources: Vec::new(),
        schedules: decision.schedules.clone(),
        headroom_clamp: decision.headroom_clamp,
    }
}
