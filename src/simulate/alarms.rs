//! `--alarm NAME=THRESHOLD`: the target's alarms, simulated as CloudWatch alarms on the
//! queue's visible messages (`ApproximateNumberOfMessagesVisible`, GreaterThanThreshold),
//! evaluated on what the autoscaler observes.

use crate::alarm::AlarmState;
use crate::decide::{AlarmStates, ObservedAlarm, StateSource};
use crate::policy::Target;

/// The thresholds of the target's alarms that `--alarm` gave.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlarmThresholds {
    thresholds: Vec<(String, f64)>,
}

/// Parsed `--alarm` options, with warnings for the alarms that will be ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub thresholds: AlarmThresholds,
    pub warnings: Vec<String>,
}

impl AlarmThresholds {
    /// Parses each `NAME=THRESHOLD` for `target`. An alarm of the target without a threshold,
    /// or a threshold for an alarm the target does not name, is ignored with a warning.
    pub fn parse(given: &[String], target: &Target) -> Result<Parsed, String> {
        let mut all: Vec<(String, f64)> = Vec::new();
        for option in given {
            let (name, threshold) = option
                .split_once('=')
                .ok_or_else(|| format!("--alarm {option}: expected NAME=THRESHOLD"))?;
            let name = name.trim();
            if name.is_empty() {
                return Err(format!("--alarm {option}: the alarm name is empty"));
            }
            let threshold = threshold
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|t| t.is_finite() && *t >= 0.0)
                .ok_or_else(|| {
                    format!(
                        "--alarm {option}: the threshold must be a number of messages >= 0, \
                         e.g. {name}=1000"
                    )
                })?;
            if all.iter().any(|(n, _)| n == name) {
                return Err(format!("--alarm {option}: alarm {name} is given twice"));
            }
            all.push((name.to_owned(), threshold));
        }
        let function = target.function.name();
        let mut warnings = Vec::new();
        for (name, _) in &all {
            if !target.alarms.iter().any(|rule| &rule.name == name) {
                warnings.push(format!(
                    "--alarm {name}: target {function} has no rule for this alarm: ignored"
                ));
            }
        }
        for rule in &target.alarms {
            if !all.iter().any(|(n, _)| *n == rule.name) {
                warnings.push(format!(
                    "alarm {} of target {function} has no threshold (--alarm {}=THRESHOLD): \
                     ignored, its rules have no opinion",
                    rule.name, rule.name
                ));
            }
        }
        all.retain(|(name, _)| target.alarms.iter().any(|rule| &rule.name == name));
        Ok(Parsed {
            thresholds: AlarmThresholds { thresholds: all },
            warnings,
        })
    }

    /// Each alarm's state when `visible` messages are seen: ALARM above the threshold, else
    /// OK. Ignored alarms are absent, as an alarm CloudWatch does not know.
    pub fn states(&self, visible: u64) -> AlarmStates {
        self.thresholds
            .iter()
            .map(|(name, threshold)| {
                let state = if visible as f64 > *threshold {
                    AlarmState::Alarm
                } else {
                    AlarmState::Ok
                };
                (
                    name.clone(),
                    ObservedAlarm {
                        state,
                        source: StateSource::CloudWatch,
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn target() -> Target {
        let json = r#"{"targets": [{"function": "orders-worker", "min": 1, "max": 50,
            "queue": {"name": "orders", "messages_per_instance": 5},
            "alarms": [
              {"name": "orders-backlog-high", "on_alarm": {"change": 10}},
              {"name": "orders-db-overloaded", "on_alarm": {"cap": 3}}]}]}"#;
        Policy::from_json(json, "test").unwrap().targets.remove(0)
    }

    fn parse(given: &[&str]) -> Result<Parsed, String> {
        let given: Vec<String> = given.iter().map(|s| s.to_string()).collect();
        AlarmThresholds::parse(&given, &target())
    }

    #[test]
    fn an_alarm_is_in_alarm_only_above_its_threshold() {
        let parsed = parse(&["orders-backlog-high=1000", "orders-db-overloaded=5000"]).unwrap();
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        let at = |visible| parsed.thresholds.states(visible)["orders-backlog-high"].state;
        assert_eq!(at(1000), AlarmState::Ok);
        assert_eq!(at(1001), AlarmState::Alarm);
    }

    #[test]
    fn an_alarm_without_a_threshold_is_ignored_with_a_warning() {
        let parsed = parse(&["orders-backlog-high=10"]).unwrap();
        assert_eq!(
            parsed.warnings,
            [
                "alarm orders-db-overloaded of target orders-worker has no threshold \
              (--alarm orders-db-overloaded=THRESHOLD): ignored, its rules have no opinion"
            ]
        );
        let states = parsed.thresholds.states(1_000_000);
        assert!(!states.contains_key("orders-db-overloaded"));
        assert_eq!(states.len(), 1);
    }

    #[test]
    fn a_threshold_for_an_alarm_the_target_does_not_name_is_ignored_with_a_warning() {
        let parsed = parse(&[
            "orders-backlog-high=10",
            "orders-db-overloaded=10",
            "other=5",
        ])
        .unwrap();
        assert_eq!(
            parsed.warnings,
            ["--alarm other: target orders-worker has no rule for this alarm: ignored"]
        );
        assert!(!parsed.thresholds.states(100).contains_key("other"));
    }

    #[test]
    fn malformed_options_are_errors_that_quote_the_option() {
        assert_eq!(
            parse(&["orders-backlog-high"]).unwrap_err(),
            "--alarm orders-backlog-high: expected NAME=THRESHOLD"
        );
        assert_eq!(
            parse(&["=5"]).unwrap_err(),
            "--alarm =5: the alarm name is empty"
        );
        for bad in ["a=lots", "a=-1", "a=NaN", "a=inf"] {
            let e = parse(&[bad]).unwrap_err();
            assert!(
                e.contains("the threshold must be a number of messages >= 0"),
                "{e}"
            );
        }
        assert_eq!(
            parse(&["a=1", "a=2"]).unwrap_err(),
            "--alarm a=2: alarm a is given twice"
        );
    }
}
