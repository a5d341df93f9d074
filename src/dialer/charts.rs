//! SVG charts of simulated days (dial level, abandon rate, agent occupancy over time),
//! one line per strategy, so a supervisor sees how each pacer behaves, not only totals.

use super::sim::Summary;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Errors writing a chart.
#[derive(Debug, thiserror::Error)]
#[error("chart {path}")]
pub struct ChartError {
    /// File.
    pub path: String,
    /// Cause (the drawing backend's or the file system's error).
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

fn chart(
    path: &Path,
    title: &str,
    y_label: &str,
    series: &[(String, Vec<f64>)],
    y_line: Option<(f64, &str)>,
) -> Result<(), ChartError> {
    let err = |e: DrawingAreaErrorKind<std::io::Error>| ChartError {
        path: path.display().to_string(),
        source: Box::new(e),
    };
    let len = series.iter().map(|s| s.1.len()).max().unwrap_or(0).max(2);
    let y_max = series
        .iter()
        .flat_map(|s| s.1.iter().copied())
        .chain(y_line.map(|l| l.0))
        .fold(0.0f64, f64::max)
        .max(1e-6)
        * 1.1;
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut c = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..(len as f64 / 60.0), 0f64..y_max)
        .map_err(err)?;
    c.configure_mesh()
        .x_desc("hours into the day")
        .y_desc(y_label)
        .draw()
        .map_err(err)?;
    for (i, (name, ys)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        c.draw_series(LineSeries::new(
            ys.iter().enumerate().map(|(m, y)| (m as f64 / 60.0, *y)),
            color.stroke_width(2),
        ))
        .map_err(err)?
        .label(name.clone())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    if let Some((y, label)) = y_line {
        c.draw_series(LineSeries::new(
            [(0.0, y), (len as f64 / 60.0, y)],
            BLACK.mix(0.5).stroke_width(1),
        ))
        .map_err(err)?
        .label(label.to_string())
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.mix(0.5)));
    }
    c.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Write `dial_level.svg`, `abandon_rate.svg` and `occupancy.svg` into `dir`; returns
/// the files written.
pub fn write_charts(
    dir: &Path,
    runs: &[Summary],
    target_abandon: f64,
) -> Result<Vec<PathBuf>, ChartError> {
    std::fs::create_dir_all(dir).map_err(|e| ChartError {
        path: dir.display().to_string(),
        source: Box::new(e),
    })?;
    let name = |s: &Summary| format!("{:?}", s.strategy).to_lowercase();
    let pick = |f: &dyn Fn(&Summary) -> Vec<f64>| -> Vec<(String, Vec<f64>)> {
        runs.iter().map(|r| (name(r), f(r))).collect()
    };
    let files = [
        (
            "dial_level.svg",
            "Dial level (lines ringing per agent or bot channel)",
            "lines per taker",
            pick(&|r| r.dial_level_per_minute.clone()),
            None,
        ),
        (
            "abandon_rate.svg",
            "Abandon rate so far (abandoned / answered)",
            "percent",
            pick(&|r| {
                r.abandon_rate_per_minute
                    .iter()
                    .map(|x| x * 100.0)
                    .collect()
            }),
            Some((target_abandon * 100.0, "target")),
        ),
        (
            "occupancy.svg",
            "Agent occupancy",
            "percent of agents busy",
            pick(&|r| r.occupancy_per_minute.iter().map(|x| x * 100.0).collect()),
            None,
        ),
    ];
    let mut out = Vec::new();
    for (file, title, y, series, line) in files {
        let p = dir.join(file);
        chart(&p, title, y, &series, line)?;
        out.push(p);
    }
    Ok(out)
}
