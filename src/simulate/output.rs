//! The results as a table (stdout) and as JSON (`--json`).

use super::metrics::Metrics;
use super::steps::StepUp;
use serde_json::{json, Map, Value};
use std::fmt::Write as _;

/// One algorithm's results, under the name `--algorithms` gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub name: String,
    pub metrics: Metrics,
}

const COLUMNS: [&str; 8] = [
    "algorithm",
    "message-wait (msg-s)",
    "max backlog (msg)",
    "drain (s)",
    "concurrency-s",
    "writes",
    "direction changes",
    "reaction (s) mean/max",
];

/// `mean/max` over the steps up that were covered, then `, N never` for those that were not;
/// `N never` when none was, `-` when the trace has no step up.
fn reaction(m: &Metrics) -> String {
    let never = m.reaction_not_covered;
    match (m.reaction_seconds_mean, m.reaction_seconds_max) {
        (Some(mean), Some(max)) if never == 0 => format!("{mean}/{max}"),
        (Some(mean), Some(max)) => format!("{mean}/{max}, {never} never"),
        _ if never == 0 => "-".to_owned(),
        _ => format!("{never} never"),
    }
}

/// A plain-text table under `heading`, one row per algorithm, numbers right-aligned.
pub fn table(heading: &str, outcomes: &[Outcome]) -> String {
    let rows: Vec<[String; COLUMNS.len()]> = outcomes
        .iter()
        .map(|o| {
            let m = &o.metrics;
            [
                o.name.clone(),
                m.message_wait_seconds.to_string(),
                m.max_backlog.to_string(),
                m.drain_seconds
                    .map_or_else(|| "never".to_owned(), |s| s.to_string()),
                m.concurrency_seconds.to_string(),
                m.writes.to_string(),
                m.direction_changes.to_string(),
                reaction(m),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..COLUMNS.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len())
                .chain([COLUMNS[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!("{heading}\n");
    let mut line = |cells: [&str; COLUMNS.len()]| {
        let mut text = format!("{:<w$}", cells[0], w = widths[0]);
        for (cell, width) in cells.iter().zip(&widths).skip(1) {
            let _ = write!(text, "  {cell:>width$}");
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(COLUMNS);
    for row in &rows {
        line(row.each_ref().map(String::as_str));
    }
    out
}

/// `{"algorithms": {NAME: {message_wait_seconds, max_backlog, drain_seconds, ...}},
/// "steps_up": [{second, need}, ...]}`; `drain_seconds` is `null` when the queue never
/// drained, the reaction's mean and max when no step up was covered.
pub fn json(outcomes: &[Outcome], steps: &[StepUp]) -> Value {
    let algorithms: Map<String, Value> = outcomes
        .iter()
        .map(|o| (o.name.clone(), json!(o.metrics)))
        .collect();
    json!({ "algorithms": algorithms, "steps_up": steps })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(name: &str, drain: Option<u64>) -> Outcome {
        Outcome {
            name: name.into(),
            metrics: Metrics {
                message_wait_seconds: 12345,
                max_backlog: 678,
                drain_seconds: drain,
                concurrency_seconds: 9000,
                writes: 4,
                direction_changes: 1,
                reaction_seconds_mean: Some(42),
                reaction_seconds_max: Some(61),
                reaction_not_covered: 0,
            },
        }
    }

    #[test]
    fn the_table_has_a_header_and_one_aligned_row_per_algorithm() {
        let text = table(
            "trace spike",
            &[outcome("policy", Some(30)), outcome("static:10", None)],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "trace spike");
        assert_eq!(
            lines[1],
            "algorithm  message-wait (msg-s)  max backlog (msg)  drain (s)  concurrency-s  writes  direction changes  reaction (s) mean/max"
        );
        assert_eq!(
            lines[2],
            "policy                    12345                678         30           9000       4                  1                  42/61"
        );
        assert!(lines[3].starts_with("static:10"));
        assert!(lines[3].contains("never"));
    }

    #[test]
    fn the_reaction_cell_says_how_many_steps_were_never_covered() {
        let cell = |mean, max, never| {
            let mut o = outcome("policy", Some(0));
            o.metrics.reaction_seconds_mean = mean;
            o.metrics.reaction_seconds_max = max;
            o.metrics.reaction_not_covered = never;
            reaction(&o.metrics)
        };
        assert_eq!(cell(Some(42), Some(61), 0), "42/61");
        assert_eq!(cell(Some(42), Some(61), 2), "42/61, 2 never");
        assert_eq!(cell(None, None, 3), "3 never");
        assert_eq!(cell(None, None, 0), "-");
    }

    #[test]
    fn the_json_is_keyed_by_the_names_given_with_every_metric_and_the_steps_up() {
        let mut uncovered = outcome("static:10", None);
        uncovered.metrics.reaction_seconds_mean = None;
        uncovered.metrics.reaction_seconds_max = None;
        uncovered.metrics.reaction_not_covered = 1;
        let steps = [StepUp {
            second: 600,
            need: 100,
        }];
        let value = json(&[outcome("policy", Some(30)), uncovered], &steps);
        assert_eq!(
            value,
            serde_json::json!({"algorithms": {
                "policy": {"message_wait_seconds": 12345, "max_backlog": 678,
                    "drain_seconds": 30, "concurrency_seconds": 9000, "writes": 4,
                    "direction_changes": 1, "reaction_seconds_mean": 42,
                    "reaction_seconds_max": 61, "reaction_not_covered": 0},
                "static:10": {"message_wait_seconds": 12345, "max_backlog": 678,
                    "drain_seconds": null, "concurrency_seconds": 9000, "writes": 4,
                    "direction_changes": 1, "reaction_seconds_mean": null,
                    "reaction_seconds_max": null, "reaction_not_covered": 1}
            }, "steps_up": [{"second": 600, "need": 100}]})
        );
    }
}
