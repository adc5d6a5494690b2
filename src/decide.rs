//! The pure decision core: policy + observations -> desired reserved concurrency + reasons.
//!
//! No I/O and no AWS types. Every rule that shapes the result adds a human-readable reason,
//! so the decision record explains itself.
//!
//! Combining (as in Application Auto Scaling and the HPA): every applicable action yields a
//! proposal or a cap; desired = the largest proposal (scaling out wins), then the smallest
//! cap, then clamped to `[min, max]`. No proposal and no cap means no change.

use crate::alarm::AlarmState;
use crate::policy::{Action, Target};
use std::collections::HashMap;

/// Where an alarm's state came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateSource {
    /// Read from CloudWatch during this evaluation (preferred: level-triggered).
    CloudWatch,
    /// Taken from the triggering event because CloudWatch did not return the alarm.
    Event,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObservedAlarm {
    pub state: AlarmState,
    pub source: StateSource,
}

/// Alarm states by alarm name.
pub type AlarmStates = HashMap<String, ObservedAlarm>;

/// What the evaluation was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Act on the current states of the target's alarms.
    FollowAlarms,
    /// An operator's direct command: propose exactly this value. It replaces the alarms'
    /// proposals, but their caps and the target's bounds still hold.
    Direct(u32),
}

/// The outcome of one evaluation of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The reservation before the decision; `None` when the function has none.
    pub previous: Option<u32>,
    /// The reservation the policy wants; `None` only when there was none and nothing applies.
    pub desired: Option<u32>,
    pub reasons: Vec<String>,
}

impl Decision {
    /// The value to write, if the desired value differs from the current one.
    pub fn change(&self) -> Option<u32> {
        match self.desired {
            Some(desired) if self.previous != Some(desired) => Some(desired),
            _ => None,
        }
    }
}

/// Decides the desired reserved concurrency of `target`.
pub fn decide(
    target: &Target,
    current: Option<u32>,
    alarms: &AlarmStates,
    request: Request,
) -> Decision {
    let mut reasons = Vec::new();
    // A function without a reservation draws on the unreserved pool, up to everything the
    // account has; for relative steps the policy's max is the meaningful stand-in.
    let basis = i64::from(current.unwrap_or(target.max));
    let mut used_basis = false;
    let mut proposals: Vec<i64> = Vec::new();
    let mut caps: Vec<i64> = Vec::new();

    if let Request::Direct(value) = request {
        reasons.push(format!("direct command: propose {value}"));
        proposals.push(i64::from(value));
    }

    for rule in &target.alarms {
        let Some(observed) = alarms.get(&rule.name) else {
            reasons.push(format!(
                "alarm {}: state unknown (CloudWatch does not know it and the event does not \
                 carry it): no opinion",
                rule.name
            ));
            continue;
        };
        let seen = match observed.source {
            StateSource::CloudWatch => format!("alarm {} is {}", rule.name, observed.state),
            StateSource::Event => format!(
                "alarm {} is {} (state from the event; CloudWatch did not return it)",
                rule.name, observed.state
            ),
        };
        let Some(action) = rule.action_for(observed.state) else {
            reasons.push(format!("{seen}: no action for this state"));
            continue;
        };
        match action {
            Action::Cap(cap) => {
                reasons.push(format!("{seen}: cap {cap}"));
                caps.push(i64::from(cap));
            }
            _ if matches!(request, Request::Direct(_)) => {
                reasons.push(format!(
                    "{seen}: {action} ignored (the direct command replaces alarm proposals)"
                ));
            }
            Action::Set(value) => {
                reasons.push(format!("{seen}: set -> propose {value}"));
                proposals.push(i64::from(value));
            }
            Action::Change(delta) => {
                used_basis = true;
                let proposal = basis + delta;
                reasons.push(format!(
                    "{seen}: {action} from {basis} -> propose {proposal}"
                ));
                proposals.push(proposal);
            }
            Action::Percent(percent) => {
                used_basis = true;
                let proposal = basis + percent_step(basis, percent);
                reasons.push(format!("{seen}: {action} of {basis} -> propose {proposal}"));
                proposals.push(proposal);
            }
        }
    }

    if used_basis && current.is_none() {
        reasons.push(format!(
            "no reservation yet: relative actions count from max {}",
            target.max
        ));
    }

    if proposals.is_empty() && caps.is_empty() {
        reasons.push("no proposal and no cap: leave the reservation as it is".into());
        return Decision {
            previous: current,
            desired: current,
            reasons,
        };
    }

    let mut value = match proposals.iter().max() {
        Some(&largest) => {
            if proposals.len() > 1 {
                reasons.push(format!("largest proposal wins: {largest}"));
            }
            largest
        }
        None => {
            reasons.push(format!("no proposal: caps apply to {basis}"));
            basis
        }
    };
    if let Some(&cap) = caps.iter().min() {
        if value > cap {
            reasons.push(format!("cap {cap} lowers {value} to {cap}"));
            value = cap;
        }
    }
    let (min, max) = (i64::from(target.min), i64::from(target.max));
    if value < min {
        reasons.push(format!("raised from {value} to min {min}"));
        value = min;
    } else if value > max {
        reasons.push(format!("lowered from {value} to max {max}"));
        value = max;
    }
    // Within [min, max], both u32.
    let desired = value as u32;
    Decision {
        previous: current,
        desired: Some(desired),
        reasons,
    }
}

/// `basis * percent / 100`, rounded away from zero (away from the current value), and at
/// least one step so a percent action always moves.
pub fn percent_step(basis: i64, percent: i64) -> i64 {
    let scaled = basis * percent;
    let step = if scaled >= 0 {
        (scaled + 99) / 100
    } else {
        -((-scaled + 99) / 100)
    };
    match step {
        0 if percent > 0 => 1,
        0 => -1,
        step => step,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::function_ref::FunctionRef;
    use crate::policy::AlarmRule;
    use proptest::prelude::*;

    fn target(min: u32, max: u32, rules: Vec<AlarmRule>) -> Target {
        Target {
            function: FunctionRef::parse("orders-worker").unwrap(),
            min,
            max,
            alarms: rules,
        }
    }

    fn rule(name: &str, on_alarm: Option<Action>, on_ok: Option<Action>) -> AlarmRule {
        AlarmRule {
            name: name.into(),
            on_alarm,
            on_ok,
            on_insufficient_data: None,
        }
    }

    fn states(pairs: &[(&str, AlarmState)]) -> AlarmStates {
        pairs
            .iter()
            .map(|(name, state)| {
                (
                    name.to_string(),
                    ObservedAlarm {
                        state: *state,
                        source: StateSource::CloudWatch,
                    },
                )
            })
            .collect()
    }

    fn backlog_and_db() -> Target {
        target(
            2,
            100,
            vec![
                rule(
                    "backlog",
                    Some(Action::Change(10)),
                    Some(Action::Change(-5)),
                ),
                rule("db", Some(Action::Cap(3)), None),
            ],
        )
    }

    use AlarmState::{Alarm, InsufficientData, Ok as Fine};

    #[test]
    fn change_adds_to_the_current_value() {
        let d = decide(
            &backlog_and_db(),
            Some(5),
            &states(&[("backlog", Alarm), ("db", Fine)]),
            Request::FollowAlarms,
        );
        assert_eq!(d.desired, Some(15));
        assert_eq!(d.change(), Some(15));
        assert!(
            d.reasons
                .iter()
                .any(|r| r == "alarm backlog is ALARM: change +10 from 5 -> propose 15"),
            "{:?}",
            d.reasons
        );
    }

    #[test]
    fn negative_change_shrinks_but_not_below_min() {
        let d = decide(
            &backlog_and_db(),
            Some(5),
            &states(&[("backlog", Fine)]),
            Request::FollowAlarms,
        );
        assert_eq!(d.desired, Some(2));
        assert!(
            d.reasons.contains(&"raised from 0 to min 2".to_string()),
            "{:?}",
            d.reasons
        );
    }

    #[test]
    fn steps_stop_at_max() {
        let d = decide(
            &backlog_and_db(),
            Some(95),
            &states(&[("backlog", Alarm)]),
            Request::FollowAlarms,
        );
        assert_eq!(d.desired, Some(100));
        assert!(d
            .reasons
            .contains(&"lowered from 105 to max 100".to_string()));
    }

    #[test]
    fn a_cap_overrides_the_largest_proposal() {
        let d = decide(
            &backlog_and_db(),
            Some(5),
            &states(&[("backlog", Alarm), ("db", Alarm)]),
            Request::FollowAlarms,
        );
        assert_eq!(d.desired, Some(3));
        assert!(
            d.reasons.contains(&"cap 3 lowers 15 to 3".to_string()),
            "{:?}",
            d.reasons
        );
    }

    #[test]
    fn a_cap_alone_lowers_the_current_value_and_never_raises_it() {
        let t = backlog_and_db();
        let d = decide(
            &t,
            Some(40),
            &states(&[("db", Alarm)]),
            Request::FollowAlarms,
        );
        assert_eq!(d.desired, Some(3));
        let d = decide(
            &t,
            Some(2),
            &states(&[("db", Alarm)]),
            Request::FollowAlarms,
        );
        assert_eq!(d.desired, Some(2));
        assert_eq!(d.change(), None);
    }

    #[test]
    fn a_cap_below_min_is_held_at_min() {
        let t = target(5, 100, vec![rule("db", Some(Action::Cap(1)), None)]);
        let d = decide(
            &t,
            Some(40),
            &states(&[("db", Alarm)]),
            Request::FollowAlarms,
        );
        assert_eq!(d.desired, Some(5));
    }

    #[test]
    fn a_zero_cap_throttles_completely_when_min_is_zero() {
        let t = target(0, 100, vec![rule("breaker", Some(Action::Cap(0)), None)]);
        let d = decide(
            &t,
            Some(40),
            &states(&[("breaker", Alarm)]),
            Request::FollowAlarms,
        );
        assert_eq!(d.desired, Some(0));
    }

    #[test]
    fn scaling_out_wins_over_scaling_in() {
        let t = target(
            1,
            100,
            vec![
                rule("in", Some(Action::Change(-4)), None),
                rule("out", Some(Action::Set(30)), None),
                rule("pct", Some(Action::Percent(50)), None),
            ],
        );
        let d = decide(
            &t,
            Some(10),
            &states(&[("in", Alarm), ("out", Alarm), ("pct", Alarm)]),
            Request::FollowAlarms,
        );
        assert_eq!(d.desired, Some(30));
        assert!(d.reasons.contains(&"largest proposal wins: 30".to_string()));
    }

    #[test]
    fn set_proposes_an_exact_value() {
        let t = target(1, 100, vec![rule("x", None, Some(Action::Set(7)))]);
        let d = decide(&t, Some(50), &states(&[("x", Fine)]), Request::FollowAlarms);
        assert_eq!(d.desired, Some(7));
    }

    #[test]
    fn percent_rounds_away_from_the_current_value_and_moves_at_least_one() {
        assert_eq!(percent_step(10, 15), 2); // 1.5 -> 2
        assert_eq!(percent_step(10, -15), -2); // -1.5 -> -2
        assert_eq!(percent_step(10, 10), 1);
        assert_eq!(percent_step(5, 1), 1); // 0.05 -> 1
        assert_eq!(percent_step(5, -1), -1);
        assert_eq!(percent_step(0, 50), 1); // from nothing, still a step
        assert_eq!(percent_step(200, 50), 100);
        assert_eq!(percent_step(200, -100), -200);
        let t = target(
            1,
            1000,
            vec![rule(
                "x",
                Some(Action::Percent(50)),
                Some(Action::Percent(-25)),
            )],
        );
        assert_eq!(
            decide(&t, Some(7), &states(&[("x", Alarm)]), Request::FollowAlarms).desired,
            Some(11)
        );
        assert_eq!(
            decide(&t, Some(7), &states(&[("x", Fine)]), Request::FollowAlarms).desired,
            Some(5)
        );
    }

    #[test]
    fn no_reservation_counts_as_max_for_relative_actions() {
        let d = decide(
            &backlog_and_db(),
            None,
            &states(&[("backlog", Fine)]),
            Request::FollowAlarms,
        );
        assert_eq!(d.previous, None);
        assert_eq!(d.desired, Some(95));
        assert!(d
            .reasons
            .contains(&"no reservation yet: relative actions count from max 100".to_string()));
    }

    #[test]
    fn a_cap_on_an_unreserved_function_reserves_the_cap() {
        let d = decide(
            &backlog_and_db(),
            None,
            &states(&[("db", Alarm)]),
            Request::FollowAlarms,
        );
        assert_eq!(d.desired, Some(3));
        assert_eq!(d.change(), Some(3));
    }

    #[test]
    fn no_applicable_action_changes_nothing() {
        let t = backlog_and_db();
        let d = decide(
            &t,
            Some(5),
            &states(&[("db", Fine), ("backlog", InsufficientData)]),
            Request::FollowAlarms,
        );
        assert_eq!(d.desired, Some(5));
        assert_eq!(d.change(), None);
        assert!(d
            .reasons
            .iter()
            .any(|r| r == "alarm db is OK: no action for this state"));
        let d = decide(&t, None, &AlarmStates::new(), Request::FollowAlarms);
        assert_eq!((d.previous, d.desired, d.change()), (None, None, None));
        assert!(d
            .reasons
            .iter()
            .any(|r| r.starts_with("alarm backlog: state unknown")));
        assert!(d
            .reasons
            .last()
            .unwrap()
            .starts_with("no proposal and no cap"));
    }

    #[test]
    fn states_taken_from_the_event_say_so() {
        let mut alarms = AlarmStates::new();
        alarms.insert(
            "db".into(),
            ObservedAlarm {
                state: Alarm,
                source: StateSource::Event,
            },
        );
        let d = decide(&backlog_and_db(), Some(9), &alarms, Request::FollowAlarms);
        assert_eq!(d.desired, Some(3));
        assert!(
            d.reasons[1].contains("state from the event"),
            "{:?}",
            d.reasons
        );
    }

    #[test]
    fn a_direct_command_obeys_bounds_and_caps_but_replaces_alarm_proposals() {
        let t = backlog_and_db();
        let d = decide(
            &t,
            Some(5),
            &states(&[("backlog", Alarm)]),
            Request::Direct(40),
        );
        assert_eq!(d.desired, Some(40));
        assert!(d.reasons.iter().any(|r| r.contains("change +10 ignored")));
        assert_eq!(
            decide(&t, Some(5), &AlarmStates::new(), Request::Direct(500)).desired,
            Some(100)
        );
        assert_eq!(
            decide(&t, Some(5), &AlarmStates::new(), Request::Direct(0)).desired,
            Some(2)
        );
        assert_eq!(
            decide(&t, Some(5), &states(&[("db", Alarm)]), Request::Direct(40)).desired,
            Some(3)
        );
    }

    fn any_action() -> impl Strategy<Value = Option<Action>> {
        prop_oneof![
            Just(None),
            (-500i64..500)
                .prop_filter("nonzero", |n| *n != 0)
                .prop_map(|n| Some(Action::Change(n))),
            (-100i64..1000)
                .prop_filter("nonzero", |p| *p != 0)
                .prop_map(|p| Some(Action::Percent(p))),
            (0u32..2000).prop_map(|n| Some(Action::Set(n))),
            (0u32..2000).prop_map(|n| Some(Action::Cap(n))),
        ]
    }

    fn any_state() -> impl Strategy<Value = AlarmState> {
        prop_oneof![Just(Alarm), Just(Fine), Just(InsufficientData)]
    }

    proptest! {
        #[test]
        fn desired_always_lies_within_bounds_and_under_every_active_cap(
            min in 0u32..50,
            span in 0u32..1000,
            current in proptest::option::of(0u32..3000),
            actions in proptest::collection::vec((any_action(), any_action(), any_state()), 0..6),
        ) {
            let max = min + span;
            let rules: Vec<AlarmRule> = actions.iter().enumerate()
                .map(|(i, (on_alarm, on_ok, _))| rule(&format!("a{i}"), *on_alarm, *on_ok))
                .collect();
            let observed: AlarmStates = actions.iter().enumerate()
                .map(|(i, (_, _, s))| (format!("a{i}"), ObservedAlarm { state: *s, source: StateSource::CloudWatch }))
                .collect();
            let t = target(min, max, rules.clone());
            let d = decide(&t, current, &observed, Request::FollowAlarms);
            let applicable: Vec<Action> = rules.iter()
                .filter_map(|r| r.action_for(observed[&r.name].state))
                .collect();
            if applicable.is_empty() {
                prop_assert_eq!(d.desired, current);
            } else {
                let desired = d.desired.unwrap();
                prop_assert!(desired >= min && desired <= max, "{} not in [{}, {}]", desired, min, max);
                for action in &applicable {
                    if let Action::Cap(cap) = action {
                        prop_assert!(desired <= (*cap).max(min), "cap {} broken by {}", cap, desired);
                    }
                    if let Action::Set(n) = action {
                        let capped = applicable.iter().any(|a| matches!(a, Action::Cap(c) if c < n));
                        if !capped {
                            prop_assert!(desired >= (*n).min(max), "set {} lost to a smaller proposal: {}", n, desired);
                        }
                    }
                }
            }
            prop_assert!(!d.reasons.is_empty());
        }

        #[test]
        fn a_percent_step_always_moves_in_its_direction(basis in 0i64..100_000, percent in -100i64..10_000) {
            prop_assume!(percent != 0);
            let step = percent_step(basis, percent);
            if percent > 0 {
                prop_assert!(step >= 1);
                prop_assert!(step * 100 >= basis * percent);
            } else {
                prop_assert!(step <= -1);
                prop_assert!(step * 100 <= basis * percent);
            }
        }
    }
}
