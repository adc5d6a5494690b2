//! The algorithms compared on one trace: the user's policy, through the same decision core as
//! the Lambda function, and the baselines (`hpa`, `step`, `static:N`, `oracle`).

pub mod fixed;
pub mod hpa;
pub mod oracle;
pub mod policy;
pub mod step;

use super::alarms::AlarmThresholds;
use crate::count::MAX_COUNT;
use crate::decide::QueueDepth;
use crate::policy::{QueueSpec, Target};

/// `--algorithms` when it is not given: everything but `static`, which needs a size.
pub const DEFAULT_ALGORITHMS: &str = "policy,hpa,step,oracle";

/// What an algorithm is shown at the start of one second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moment {
    /// Seconds since the trace began.
    pub second: u64,
    /// The reservation held during the previous second.
    pub current: u32,
    /// The queue as the autoscaler reads it, at evaluation times only (every `--interval`
    /// seconds, `--observe-lag` seconds late).
    pub observed: Option<QueueDepth>,
    /// Foresight, for the oracle alone: the smallest reservation that processes everything
    /// waiting now and everything arriving in this second.
    pub needed: u64,
}

#[cfg(test)]
impl Moment {
    /// An evaluation that sees `visible` waiting messages and nothing in flight.
    pub(crate) fn observing(second: u64, current: u32, visible: u64) -> Moment {
        Moment {
            observed: Some(QueueDepth {
                visible,
                in_flight: 0,
                delayed: 0,
            }),
            ..Moment::between_evaluations(second, current)
        }
    }

    /// A second without an evaluation.
    pub(crate) fn between_evaluations(second: u64, current: u32) -> Moment {
        Moment {
            second,
            current,
            observed: None,
            needed: 0,
        }
    }
}

/// One algorithm's state over a run.
pub trait Scaler {
    /// The reservation to hold during `moment.second`; it applies at once.
    fn reservation(&mut self, moment: &Moment) -> u32;
}

/// An algorithm as `--algorithms` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Policy,
    Hpa,
    Step,
    /// A fixed reservation.
    Static(u32),
    Oracle,
}

/// One entry of `--algorithms`, keeping the name it was given by (`static:max`, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub name: String,
    pub algorithm: Algorithm,
}

/// Parses `--algorithms`, e.g. `policy,hpa,static:20,static:max,oracle`; `max` is the
/// target's max.
pub fn parse_list(text: &str, max: u32) -> Result<Vec<Named>, String> {
    let mut list: Vec<Named> = Vec::new();
    for name in text.split(',').map(str::trim) {
        let algorithm = match name {
            "" => return Err(format!("an empty name in `{text}`")),
            "policy" => Algorithm::Policy,
            "hpa" => Algorithm::Hpa,
            "step" => Algorithm::Step,
            "oracle" => Algorithm::Oracle,
            _ => match name.strip_prefix("static:") {
                Some("max") => Algorithm::Static(max),
                Some(size) => Algorithm::Static(
                    size.parse()
                        .ok()
                        .filter(|&n| i64::from(n) <= MAX_COUNT)
                        .ok_or_else(|| {
                            format!(
                                "`{name}`: the size must be a whole number of executions from 0 \
                                 to {MAX_COUNT}, or `max`"
                            )
                        })?,
                ),
                None => {
                    return Err(format!(
                        "unknown algorithm `{name}`; expected policy, hpa, step, static:N, \
                         static:max or oracle"
                    ))
                }
            },
        };
        if list.iter().any(|n| n.name == name) {
            return Err(format!("`{name}` is listed twice"));
        }
        list.push(Named {
            name: name.to_owned(),
            algorithm,
        });
    }
    Ok(list)
}

/// The reservation `algorithm` holds before the trace begins: its size for `static`, else
/// `steady` (what the trace's first minute needs, as if that load had gone on before) within
/// the target's bounds. Starting every other algorithm from the same, fitting value keeps a
/// cold start, which no real deployment has, out of the comparison.
pub fn start(algorithm: Algorithm, target: &Target, steady: u64) -> u32 {
    match algorithm {
        Algorithm::Static(size) => size,
        // Clamped into [min, max], both u32.
        _ => steady.clamp(u64::from(target.min), u64::from(target.max)) as u32,
    }
}

/// The scaler for `algorithm` on `target`; the baselines follow `baseline_queue` (the
/// target's queue with the baselines' own messages per instance), the policy its own spec.
/// The trace starts at `start` (epoch seconds), which only the policy reads (its schedules
/// and history).
pub fn scaler<'a>(
    algorithm: Algorithm,
    target: &'a Target,
    baseline_queue: &'a QueueSpec,
    alarms: &'a AlarmThresholds,
    start: i64,
) -> Box<dyn Scaler + 'a> {
    match algorithm {
        Algorithm::Policy => Box::new(policy::PolicyScaler::new(target, alarms, start)),
        Algorithm::Hpa => Box::new(hpa::Hpa::new(target, baseline_queue)),
        Algorithm::Step => Box::new(step::StepScaling::new(target, baseline_queue)),
        Algorithm::Static(size) => Box::new(fixed::Fixed(size)),
        Algorithm::Oracle => Box::new(oracle::Oracle::new(target)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[Named]) -> Vec<(&str, Algorithm)> {
        list.iter()
            .map(|n| (n.name.as_str(), n.algorithm))
            .collect()
    }

    #[test]
    fn every_algorithm_is_parsed_under_the_name_it_was_given() {
        let list = parse_list("policy, hpa,step,static:20,static:max,oracle", 150).unwrap();
        assert_eq!(
            names(&list),
            [
                ("policy", Algorithm::Policy),
                ("hpa", Algorithm::Hpa),
                ("step", Algorithm::Step),
                ("static:20", Algorithm::Static(20)),
                ("static:max", Algorithm::Static(150)),
                ("oracle", Algorithm::Oracle),
            ]
        );
    }

    #[test]
    fn the_default_list_is_everything_but_static() {
        let list = parse_list(DEFAULT_ALGORITHMS, 10).unwrap();
        assert_eq!(
            names(&list),
            [
                ("policy", Algorithm::Policy),
                ("hpa", Algorithm::Hpa),
                ("step", Algorithm::Step),
                ("oracle", Algorithm::Oracle),
            ]
        );
    }

    #[test]
    fn unknown_names_bad_sizes_empty_entries_and_repeats_are_refused_by_name() {
        assert_eq!(
            parse_list("policy,kpa", 10).unwrap_err(),
            "unknown algorithm `kpa`; expected policy, hpa, step, static:N, static:max or oracle"
        );
        for bad in ["static:x", "static:-1", "static:", "static:99999999999"] {
            let e = parse_list(bad, 10).unwrap_err();
            assert!(
                e.starts_with(&format!("`{bad}`: the size must be a whole number")),
                "{e}"
            );
        }
        assert_eq!(
            parse_list("policy,,hpa", 10).unwrap_err(),
            "an empty name in `policy,,hpa`"
        );
        assert_eq!(
            parse_list("hpa,hpa", 10).unwrap_err(),
            "`hpa` is listed twice"
        );
    }
}
