//! The results as a table (stdout) and as JSON (`--json`).

use super::metrics::Metrics;
use serde_json::{json, Map, Value};
use std::fmt::Write as _;

/// One algorithm's results, under the name `--algorithms` gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub name: String,
    pub metrics: Metrics,
}

const COLUMNS: [&str; 7] = [
    "algorithm",
    "message-wait (msg-s)",
    "max backlog (msg)",
    "drain (s)",
    "concurrency-s",
    "writes",
    "direction changes",
];

/// A plain-text table under `heading`, one row per algorithm, numbers right-aligned.
pub fn table(heading: &str, outcomes: &[Outcome]) -> String {
    let rows: Vec<[String; 7]> = outcomes
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
    let mut line = |cells: [&str; 7]| {
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

/// `{"algorithms": {NAME: {message_wait_seconds, max_backlog, drain_seconds, ...}}}`;
/// `drain_seconds` is `null` when the queue never drained.
pub fn json(outcomes: &[Outcome]) -> Value {
    let algorithms: Map<String, Value> = outcomes
        .iter()
        .map(|o| (o.name.clone(), json!(o.metrics)))
        .collect();
    json!({ "algorithms": algorithms })
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
            "algorithm  message-wait (msg-s)  max backlog (msg)  drain (s)  concurrency-s  writes  direction changes"
        );
        assert_eq!(
            lines[2],
            "policy                    12345                678         30           9000       4                  1"
        );
        assert!(lines[3].starts_with("static:10"));
        assert!(lines[3].contains("never"));
    }

    #[test]
    fn the_json_is_keyed_by_the_names_given_with_every_metric() {
        let value = json(&[outcome("policy", Some(30)), outcome("static:10", None)]);
        assert_eq!(
            value,
            serde_json::json!({"algorithms": {
                "policy": {"message_wait_seconds": 12345, "max_backlog": 678,
                    "drain_seconds": 30, "concurrency_seconds": 9000, "writes": 4,
                    "direction_changes": 1},
                "static:10": {"message_wait_seconds": 12345, "max_backlog": 678,
                    "drain_seconds": null, "concurrency_seconds": 9000, "writes": 4,
                    "direction_changes": 1}
            }})
        );
    }
}
