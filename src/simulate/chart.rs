//! `--svg`: arrivals, reserved concurrency and backlog over time, one panel each, one line per
//! algorithm, on a shared time axis.

use super::engine::Run;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 1050;
/// Points drawn per line at most: finer than the chart's pixels, and the file stays small.
const MAX_POINTS: usize = 1200;
const FONT: &str = "sans-serif";

/// Colours from Tableau 10, which stays distinguishable for most colour-blind readers: the
/// same colour for an algorithm on every chart, and the rest for `static:N` lines in order.
const POLICY: RGBColor = RGBColor(31, 119, 180);
const HPA: RGBColor = RGBColor(255, 127, 14);
const STEP: RGBColor = RGBColor(44, 160, 44);
/// The oracle is the floor to compare with, not a contender: grey and thin.
const ORACLE: RGBColor = RGBColor(150, 150, 150);
const OTHERS: [RGBColor; 4] = [
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
];
const ARRIVALS: RGBColor = RGBColor(60, 60, 60);

/// Each series' colour and line width, by its name.
fn styles(series: &[Series]) -> Vec<ShapeStyle> {
    let mut others = OTHERS.iter().cycle();
    series
        .iter()
        .map(|s| match s.name {
            "policy" => POLICY.stroke_width(2),
            "hpa" => HPA.stroke_width(2),
            "step" => STEP.stroke_width(2),
            "oracle" => ORACLE.stroke_width(1),
            _ => others.next().unwrap_or(&OTHERS[0]).stroke_width(2),
        })
        .collect()
}

/// One algorithm's lines.
pub struct Series<'a> {
    pub name: &'a str,
    pub run: &'a Run,
}

/// Time on the x axis: minutes for traces up to 4 h, hours beyond.
struct TimeAxis {
    seconds_per_unit: f64,
    label: &'static str,
}

impl TimeAxis {
    fn for_length(seconds: usize) -> TimeAxis {
        if seconds <= 4 * 3600 {
            TimeAxis {
                seconds_per_unit: 60.0,
                label: "time (minutes)",
            }
        } else {
            TimeAxis {
                seconds_per_unit: 3600.0,
                label: "time (hours)",
            }
        }
    }
}

/// How a bucket of seconds becomes one point.
#[derive(Clone, Copy)]
enum Thinning {
    /// For a rate: the maxima of Poisson noise would overstate it.
    Mean,
    /// For what is held or waiting: the peaks that matter (the worst backlog, the largest
    /// reservation) survive.
    Max,
}

/// One point per `bucket` seconds, at the bucket's start.
fn thin(values: &[f64], bucket: usize, how: Thinning, axis: &TimeAxis) -> Vec<(f64, f64)> {
    values
        .chunks(bucket)
        .enumerate()
        .map(|(i, chunk)| {
            let x = (i * bucket) as f64 / axis.seconds_per_unit;
            let y = match how {
                Thinning::Mean => chunk.iter().sum::<f64>() / chunk.len() as f64,
                Thinning::Max => chunk.iter().copied().fold(0.0, f64::max),
            };
            (x, y)
        })
        .collect()
}

/// A panel's lines: a name, a style and the points.
type Lines<'a> = Vec<(&'a str, ShapeStyle, Vec<(f64, f64)>)>;

/// Draws the chart as an SVG document, under the lines of `title`.
pub fn svg(title: &[String], arrivals: &[u64], series: &[Series]) -> Result<String, String> {
    let axis = TimeAxis::for_length(arrivals.len());
    let bucket = arrivals.len().div_ceil(MAX_POINTS).max(1);
    let x_end = arrivals.len() as f64 / axis.seconds_per_unit;
    let styles = styles(series);
    let rates: Vec<f64> = arrivals.iter().map(|&a| a as f64).collect();
    let arrival_lines: Lines = vec![(
        "arrivals",
        ARRIVALS.stroke_width(1),
        thin(&rates, bucket, Thinning::Mean, &axis),
    )];
    let lines_of = |values: &dyn Fn(&Run) -> Vec<f64>| -> Lines {
        series
            .iter()
            .zip(&styles)
            .map(|(s, style)| {
                let points = thin(&values(s.run), bucket, Thinning::Max, &axis);
                (s.name, *style, points)
            })
            .collect()
    };
    let reservation_lines =
        lines_of(&|run| run.reservations.iter().map(|&r| f64::from(r)).collect());
    let backlog_lines = lines_of(&|run| run.backlog.clone());

    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let heading = 12 + 24 * title.len() as u32;
        let (top, body) = root.split_vertically(heading);
        for (i, line) in title.iter().enumerate() {
            let style = TextStyle::from((FONT, if i == 0 { 20 } else { 16 }).into_font())
                .pos(Pos::new(HPos::Center, VPos::Top));
            let y = 8 + 24 * i as i32;
            top.draw_text(line, &style, (WIDTH as i32 / 2, y))
                .map_err(|e| e.to_string())?;
        }
        let panels = body.split_evenly((3, 1));
        let specs = [
            ("Arrivals", "messages per second", &arrival_lines),
            (
                "Reserved concurrency (held from the account's pool)",
                "concurrent executions",
                &reservation_lines,
            ),
            (
                "Backlog (messages waiting, visible in the queue)",
                "messages",
                &backlog_lines,
            ),
        ];
        for (panel, (caption, unit, lines)) in panels.iter().zip(specs) {
            draw_panel(panel, caption, unit, &axis, x_end, lines).map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(text)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    unit: &str,
    axis: &TimeAxis,
    x_end: f64,
    lines: &Lines,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let y_top = lines
        .iter()
        .flat_map(|(_, _, points)| points.iter().map(|(_, y)| *y))
        .fold(0.0, f64::max);
    // Headroom above the highest point, and a visible axis when everything is zero.
    let y_end = if y_top > 0.0 { y_top * 1.08 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 17))
        .margin_left(10)
        .margin_right(25)
        .margin_top(5)
        .margin_bottom(5)
        .x_label_area_size(40)
        .y_label_area_size(75)
        .build_cartesian_2d(0.0..x_end, 0.0..y_end)?;
    chart
        .configure_mesh()
        .x_desc(axis.label)
        .y_desc(unit)
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(205, 205, 205))
        .x_label_formatter(&|x| format_count(*x))
        .y_label_formatter(&|y| format_count(*y))
        .draw()?;
    for (name, style, points) in lines.iter() {
        let legend = style.color.stroke_width(3);
        chart
            .draw_series(LineSeries::new(points.iter().copied(), *style))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 22, y)], legend));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .draw()?;
    Ok(())
}

/// Axis numbers without needless decimals: 12, 1.5k, 2.4M.
fn format_count(value: f64) -> String {
    let trim = |v: f64, suffix: &str| {
        let text = format!("{v:.1}");
        format!("{}{suffix}", text.trim_end_matches(".0"))
    };
    match value.abs() {
        v if v >= 1e6 => trim(value / 1e6, "M"),
        v if v >= 1e4 => trim(value / 1e3, "k"),
        v if v.fract() == 0.0 => format!("{value:.0}"),
        _ => format!("{value:.1}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(reservations: Vec<u32>, backlog: Vec<f64>) -> Run {
        Run {
            start: 1,
            reservations,
            backlog,
        }
    }

    #[test]
    fn the_chart_has_three_titled_panels_units_and_a_legend_entry_per_algorithm() {
        let policy = run(vec![10; 600], vec![0.0; 600]);
        let hpa = run(vec![5; 600], vec![3.0; 600]);
        let text = svg(
            &["spike (seed 1)".into(), "target orders-worker".into()],
            &[10; 600],
            &[
                Series {
                    name: "policy",
                    run: &policy,
                },
                Series {
                    name: "hpa",
                    run: &hpa,
                },
            ],
        )
        .unwrap();
        assert!(text.starts_with("<svg"), "{}", &text[..100]);
        for expected in [
            "spike (seed 1)",
            "target orders-worker",
            "Arrivals",
            "Reserved concurrency",
            "Backlog",
            "messages per second",
            "concurrent executions",
            "time (minutes)",
            "\npolicy\n",
            "\nhpa\n",
        ] {
            assert!(text.contains(expected), "missing {expected}");
        }
    }

    #[test]
    fn thinning_keeps_each_buckets_peak_or_mean_at_its_start_time() {
        let axis = TimeAxis::for_length(600);
        let values = [1.0, 9.0, 2.0, 0.0, 4.0];
        let peaks = thin(&values, 2, Thinning::Max, &axis);
        assert_eq!(peaks, [(0.0, 9.0), (2.0 / 60.0, 2.0), (4.0 / 60.0, 4.0)]);
        let means = thin(&values, 2, Thinning::Mean, &axis);
        assert_eq!(means, [(0.0, 5.0), (2.0 / 60.0, 1.0), (4.0 / 60.0, 4.0)]);
    }

    #[test]
    fn long_traces_are_drawn_in_hours() {
        assert_eq!(TimeAxis::for_length(4 * 3600).label, "time (minutes)");
        assert_eq!(TimeAxis::for_length(86_400).label, "time (hours)");
    }

    #[test]
    fn axis_numbers_are_short() {
        assert_eq!(format_count(12.0), "12");
        assert_eq!(format_count(2.5), "2.5");
        assert_eq!(format_count(15_000.0), "15k");
        assert_eq!(format_count(2_400_000.0), "2.4M");
    }
}
