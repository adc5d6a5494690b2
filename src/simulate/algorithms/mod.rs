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

    /// CloudWatch points that became readable before `reservation` at this second; only
    /// the policy reads them (its measured service time).
    fn metrics(&mut self, _published: &[crate::service_time::Point]) {}
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

/// One entry of `--algorithms`, keeping the name it was given by (`static:max`, `policy@10`),
/// so that two cadences of one algorithm can be compared in one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub name: String,
    pub algorithm: Algorithm,
    /// Seconds between this algorithm's evaluations, from `NAME@SECONDS`; `None`: every
    /// `--interval` seconds.
    pub interval: Option<u64>,
}

/// What is wrong with `--algorithms`; each names the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    /// The whole list, with an empty entry in it.
    #[error("an empty name in `{0}`")]
    Empty(String),
    #[error(
        "unknown algorithm `{0}`; expected policy, hpa, step, static:N, static:max or oracle, \
         the first three optionally with @SECONDS"
    )]
    Unknown(String),
    #[error(
        "`{0}`: the size must be a whole number of executions from 0 to {MAX_COUNT}, or `max`"
    )]
    Size(String),
    #[error("`{0}`: the cadence after @ must be a whole number of seconds from 1")]
    Cadence(String),
    /// A cadence on an algorithm that does not evaluate on a schedule.
    #[error("`{0}`: {reason}, so it takes no @SECONDS", reason = no_cadence_reason(*.1))]
    NoCadence(String, Algorithm),
    #[error("`{0}` is listed twice")]
    Twice(String),
}

fn no_cadence_reason(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::Oracle => "the oracle decides every second by definition",
        _ => "a static reservation never changes",
    }
}

/// Parses `--algorithms`, e.g. `policy@10,hpa@15,step,static:20,static:max,oracle`: `max` is
/// the target's max, and `NAME@SECONDS` evaluates `policy`, `hpa` or `step` every SECONDS
/// rather than every `--interval`.
pub fn parse_list(text: &str, max: u32) -> Result<Vec<Named>, ListError> {
    let mut list: Vec<Named> = Vec::new();
    for name in text.split(',').map(str::trim) {
        let (base, interval) = match name.split_once('@') {
            None => (name, None),
            Some((base, seconds)) => {
                // Digits only: `+10` or ` 10` would name the same cadence differently.
                let seconds = Some(seconds)
                    .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse::<u64>().ok())
                    .filter(|&s| s >= 1)
                    .ok_or_else(|| ListError::Cadence(name.to_owned()))?;
                (base, Some(seconds))
            }
        };
        let algorithm = match base {
            "" if interval.is_none() => return Err(ListError::Empty(text.to_owned())),
            "policy" => Algorithm::Policy,
            "hpa" => Algorithm::Hpa,
            "step" => Algorithm::Step,
            "oracle" => Algorithm::Oracle,
            _ => match base.strip_prefix("static:") {
                Some("max") => Algorithm::Static(max),
                Some(size) => Algorithm::Static(
                    size.parse()
                        .ok()
                        .filter(|&n| i64::from(n) <= MAX_COUNT)
                        .ok_or_else(|| ListError::Size(name.to_owned()))?,
                ),
                None => return Err(ListError::Unknown(name.to_owned())),
            },
        };
        if interval.is_some() && matches!(algorithm, Algorithm::Static(_) | Algorithm::Oracle) {
            return Err(ListError::NoCadence(name.to_owned(), algorithm));
        }
        if list.iter().any(|n| n.name == name) {
            return Err(ListError::Twice(name.to_owned()));
        }
        list.push(Named {
            name: name.to_owned(),
            algorithm,
            interval,
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

    fn names(list: &[Named]) -> Vec<(&str, Algorithm, Option<u64>)> {
        list.iter()
            .map(|n| (n.name.as_str(), n.algorithm, n.interval))
            .collect()
    }

    #[test]
    fn every_algorithm_is_parsed_under_the_name_it_was_given() {
        let list = parse_list("policy, hpa,step,static:20,static:max,oracle", 150).unwrap();
        assert_eq!(
            names(&list),
            [
                ("policy", Algorithm::Policy, None),
                ("hpa", Algorithm::Hpa, None),
                ("step", Algorithm::Step, None),
                ("static:20", Algorithm::Static(20), None),
                ("static:max", Algorithm::Static(150), None),
                ("oracle", Algorithm::Oracle, None),
            ]
        );
    }

    #[test]
    fn the_default_list_is_everything_but_static() {
        let list = parse_list(DEFAULT_ALGORITHMS, 10).unwrap();
        assert_eq!(
            names(&list),
            [
                ("policy", Algorithm::Policy, None),
                ("hpa", Algorithm::Hpa, None),
                ("step", Algorithm::Step, None),
                ("oracle", Algorithm::Oracle, None),
            ]
        );
    }

    #[test]
    fn a_cadence_after_at_is_kept_with_the_name_as_given() {
        let list = parse_list("policy@10,hpa@15,step@60,policy,oracle", 10).unwrap();
        assert_eq!(
            names(&list),
            [
                ("policy@10", Algorithm::Policy, Some(10)),
                ("hpa@15", Algorithm::Hpa, Some(15)),
                ("step@60", Algorithm::Step, Some(60)),
                ("policy", Algorithm::Policy, None),
                ("oracle", Algorithm::Oracle, None),
            ]
        );
    }

    #[test]
    fn unknown_names_bad_sizes_empty_entries_and_repeats_are_refused_by_name() {
        let error = |text| parse_list(text, 10).unwrap_err();
        assert_eq!(error("policy,kpa"), ListError::Unknown("kpa".into()));
        assert_eq!(
            error("policy,kpa").to_string(),
            "unknown algorithm `kpa`; expected policy, hpa, step, static:N, static:max or \
             oracle, the first three optionally with @SECONDS"
        );
        for bad in ["static:x", "static:-1", "static:", "static:99999999999"] {
            assert_eq!(error(bad), ListError::Size(bad.into()));
        }
        assert!(error("static:x")
            .to_string()
            .starts_with("`static:x`: the size must be a whole number"));
        assert_eq!(error("policy,,hpa"), ListError::Empty("policy,,hpa".into()));
        assert_eq!(
            error("policy,,hpa").to_string(),
            "an empty name in `policy,,hpa`"
        );
        assert_eq!(error("hpa,hpa"), ListError::Twice("hpa".into()));
        assert_eq!(error("hpa@15,hpa@15"), ListError::Twice("hpa@15".into()));
    }

    #[test]
    fn a_cadence_must_be_whole_seconds_from_one_on_an_algorithm_that_evaluates() {
        let error = |text| parse_list(text, 10).unwrap_err();
        for bad in [
            "policy@0",
            "policy@x",
            "policy@",
            "hpa@-5",
            "hpa@+5",
            "step@1.5",
            "step@ 5",
            "policy@10@20",
        ] {
            assert_eq!(error(bad), ListError::Cadence(bad.into()), "{bad}");
        }
        assert_eq!(
            error("policy@0").to_string(),
            "`policy@0`: the cadence after @ must be a whole number of seconds from 1"
        );
        assert_eq!(error("@10"), ListError::Unknown("@10".into()));
        assert_eq!(error("kpa@10"), ListError::Unknown("kpa@10".into()));
        assert_eq!(error("static:x@10"), ListError::Size("static:x@10".into()));
        assert_eq!(
            error("static:5@10"),
            ListError::NoCadence("static:5@10".into(), Algorithm::Static(5))
        );
        assert_eq!(
            error("static:max@10"),
            ListError::NoCadence("static:max@10".into(), Algorithm::Static(10))
        );
        assert_eq!(
            error("oracle@1"),
            ListError::NoCadence("oracle@1".into(), Algorithm::Oracle)
        );
        assert_eq!(
            error("oracle@1").to_string(),
            "`oracle@1`: the oracle decides every second by definition, so it takes no @SECONDS"
        );
        assert_eq!(
            error("static:5@10").to_string(),
            "`static:5@10`: a static reservation never changes, so it takes no @SECONDS"
        );
    }
}
