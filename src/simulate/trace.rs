//! `--trace`: a built-in shape, or a CSV file with the header `second,arrivals`.

use super::shapes::Shape;
use std::path::Path;

/// The longest trace simulated: 31 days of seconds. Every algorithm keeps each second, so this
/// bounds memory (a few hundred MiB at most).
pub const MAX_SECONDS: u64 = 31 * 86_400;
/// The most arrivals in one second: a billion, far beyond any queue, and small enough that a
/// whole trace's sum fits its counters.
pub const MAX_ARRIVALS_PER_SECOND: u64 = 1_000_000_000;

/// The messages arriving in each second, and what they are.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// For the table's header and the chart's caption.
    pub description: String,
    pub arrivals: Vec<u64>,
}

/// Reads `--trace`: a built-in shape's name (drawn with `seed`), else a CSV file's path. A file
/// named like a shape can be given as `./step`.
pub fn load(spec: &str, seed: u64) -> Result<Trace, String> {
    if let Some(shape) = Shape::parse(spec) {
        return Ok(Trace {
            description: format!("{} (seed {seed}): {}", shape.name(), shape.description()),
            arrivals: shape.arrivals(seed),
        });
    }
    let text = std::fs::read_to_string(Path::new(spec)).map_err(|e| {
        format!(
            "trace {spec}: cannot read the file ({e}); a trace is a CSV file or one of {}",
            Shape::ALL.map(Shape::name).join(", ")
        )
    })?;
    let arrivals = parse_csv(&text).map_err(|e| format!("trace {spec}: {e}"))?;
    Ok(Trace {
        description: spec.to_owned(),
        arrivals,
    })
}

/// Parses `second,arrivals` rows. Seconds count from 0 and must increase; a second that is
/// left out had no arrivals.
pub fn parse_csv(text: &str) -> Result<Vec<u64>, String> {
    // A spreadsheet's "CSV UTF-8" starts with a byte order mark, which no one sees.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty());
    match lines.next() {
        Some((_, header)) if header.replace(' ', "") == "second,arrivals" => {}
        Some((number, header)) => {
            return Err(format!(
                "line {number}: the header must be `second,arrivals`, not `{header}`"
            ))
        }
        None => return Err("the file is empty; expected the header `second,arrivals`".into()),
    }
    let mut arrivals: Vec<u64> = Vec::new();
    for (number, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [second, count] = fields.as_slice() else {
            return Err(format!(
                "line {number}: expected two fields `second,arrivals`, found {} in `{line}`",
                fields.len()
            ));
        };
        let second = whole_number(second).map_err(|e| format!("line {number}: second {e}"))?;
        let count = whole_number(count).map_err(|e| format!("line {number}: arrivals {e}"))?;
        if count > MAX_ARRIVALS_PER_SECOND {
            return Err(format!(
                "line {number}: {count} arrivals in a second is beyond the most simulated \
                 ({MAX_ARRIVALS_PER_SECOND})"
            ));
        }
        if second >= MAX_SECONDS {
            return Err(format!(
                "line {number}: second {second} is beyond the longest trace simulated \
                 ({MAX_SECONDS} s, 31 days)"
            ));
        }
        // Below MAX_SECONDS, so it fits a usize.
        let index = second as usize;
        if index < arrivals.len() {
            return Err(format!(
                "line {number}: second {second} comes after second {}; seconds must increase",
                arrivals.len() - 1
            ));
        }
        arrivals.resize(index, 0);
        arrivals.push(count);
    }
    if arrivals.is_empty() {
        return Err("no rows after the header `second,arrivals`".into());
    }
    Ok(arrivals)
}

fn whole_number(field: &str) -> Result<u64, String> {
    field
        .parse()
        .map_err(|_| format!("`{field}` is not a whole number >= 0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_give_the_arrivals_of_each_second_and_gaps_are_quiet_seconds() {
        let csv = "second,arrivals\n0,5\n1,7\n\n4,2\n";
        assert_eq!(parse_csv(csv), Ok(vec![5, 7, 0, 0, 2]));
    }

    #[test]
    fn windows_line_ends_and_spaces_around_fields_are_accepted() {
        let csv = "second, arrivals\r\n0, 5\r\n1 ,6\r\n";
        assert_eq!(parse_csv(csv), Ok(vec![5, 6]));
        // As a spreadsheet saves "CSV UTF-8": with a byte order mark first.
        assert_eq!(parse_csv(&format!("\u{feff}{csv}")), Ok(vec![5, 6]));
    }

    #[test]
    fn a_wrong_header_is_named_with_its_line() {
        let e = parse_csv("time,count\n0,1\n").unwrap_err();
        assert_eq!(
            e,
            "line 1: the header must be `second,arrivals`, not `time,count`"
        );
    }

    #[test]
    fn a_bad_row_is_named_with_its_line_and_field() {
        assert_eq!(
            parse_csv("second,arrivals\n0,5\n1,lots\n").unwrap_err(),
            "line 3: arrivals `lots` is not a whole number >= 0"
        );
        assert_eq!(
            parse_csv("second,arrivals\n-1,5\n").unwrap_err(),
            "line 2: second `-1` is not a whole number >= 0"
        );
        assert_eq!(
            parse_csv("second,arrivals\n0,5,6\n").unwrap_err(),
            "line 2: expected two fields `second,arrivals`, found 3 in `0,5,6`"
        );
    }

    #[test]
    fn seconds_that_go_back_or_repeat_are_refused() {
        assert_eq!(
            parse_csv("second,arrivals\n3,5\n3,6\n").unwrap_err(),
            "line 3: second 3 comes after second 3; seconds must increase"
        );
    }

    #[test]
    fn an_empty_file_or_a_header_alone_is_refused() {
        assert!(parse_csv("").unwrap_err().contains("the file is empty"));
        assert!(parse_csv("second,arrivals\n")
            .unwrap_err()
            .contains("no rows"));
    }

    #[test]
    fn more_than_a_billion_arrivals_in_a_second_is_refused() {
        let e = parse_csv("second,arrivals\n0,18446744073709551615\n1,1\n").unwrap_err();
        assert!(e.contains("line 2: 18446744073709551615 arrivals"), "{e}");
        assert!(parse_csv("second,arrivals\n0,1000000000\n").is_ok());
    }

    #[test]
    fn a_second_beyond_a_month_is_refused_before_any_memory_is_taken() {
        let e = parse_csv("second,arrivals\n99999999999,1\n").unwrap_err();
        assert!(e.contains("beyond the longest trace simulated"), "{e}");
    }

    #[test]
    fn a_builtin_name_gives_the_shape_and_anything_else_is_a_file() {
        let trace = load("spike", 1).unwrap();
        assert_eq!(trace.arrivals, Shape::Spike.arrivals(1));
        assert!(trace.description.starts_with("spike (seed 1)"));
        let e = load("no/such/trace.csv", 1).unwrap_err();
        assert!(
            e.starts_with("trace no/such/trace.csv: cannot read the file"),
            "{e}"
        );
        assert!(e.contains("step, spike, diurnal, sawtooth, bursty"), "{e}");
    }
}
