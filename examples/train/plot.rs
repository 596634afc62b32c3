//! The curves of `--plot`, as PNG or SVG: loss and accuracy, and below them what the methods
//! chose at each epoch's end (the dY clip ratio; UI8's φ and DAI8's inverted-T share).

use std::path::Path;

use crate::AnyResult;
use crate::report::{LayerReport, RunReport};

/// The image formats `--plot` writes, told by the file name's extension.
#[derive(Clone, Copy)]
pub enum PlotFormat {
    Png,
    Svg,
}

impl PlotFormat {
    /// The format `path` asks for, or an error naming the file (checked before training).
    pub fn of(path: &Path) -> AnyResult<PlotFormat> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
        {
            Some(e) if e == "png" => Ok(PlotFormat::Png),
            Some(e) if e == "svg" => Ok(PlotFormat::Svg),
            _ => Err(format!("{}: --plot needs a .png or .svg file name", path.display()).into()),
        }
    }
}

/// Draws the training loss and test accuracy of every run side by side into `path`, and the
/// methods' choices below them.
pub fn plot(path: &Path, reports: &[RunReport]) -> AnyResult<()> {
    use plotters::prelude::*;
    let size = (1200, 900);
    match PlotFormat::of(path)? {
        PlotFormat::Png => {
            plotters::style::register_font(
                "sans-serif",
                FontStyle::Normal,
                include_bytes!("../assets/DejaVuSans.ttf"),
            )
            .map_err(|_| "the embedded font is unreadable")?;
            let root = BitMapBackend::new(path, size).into_drawing_area();
            draw(&root, reports)?;
            root.present()?;
        }
        PlotFormat::Svg => {
            let root = SVGBackend::new(path, size).into_drawing_area();
            draw(&root, reports)?;
            root.present()?;
        }
    }
    Ok(())
}

/// One colour per policy, in the order `--compare` runs them.
const COLORS: [plotters::style::RGBColor; 4] = {
    use plotters::style::colors::{BLACK, BLUE, GREEN, RED};
    [BLACK, RED, BLUE, GREEN]
};

/// The x axis of the per-epoch panels: the most epochs of any run, at least 2.
fn epochs(reports: &[RunReport]) -> u32 {
    reports
        .iter()
        .map(|r| r.per_epoch.len())
        .max()
        .unwrap_or(1)
        .max(2) as u32
}

fn draw<DB: plotters::prelude::DrawingBackend>(
    root: &plotters::prelude::DrawingArea<DB, plotters::coord::Shift>,
    reports: &[RunReport],
) -> AnyResult<()>
where
    DB::ErrorType: 'static,
{
    use plotters::prelude::*;
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(480);
    let (left, right) = top.split_horizontally(600);
    let colors = COLORS;
    // Training loss per step, smoothed over 20 steps.
    let steps = reports
        .iter()
        .map(|r| r.step_losses.len())
        .max()
        .unwrap_or(1)
        .max(2);
    let top = reports
        .iter()
        .flat_map(|r| r.step_losses.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.1f32, f32::max);
    let mut chart = ChartBuilder::on(&left)
        .caption("training loss (20-step mean)", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(0..steps, 0f32..top)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("loss")
        .draw()?;
    for (r, color) in reports.iter().zip(colors.iter().cycle()) {
        let smooth = r
            .step_losses
            .windows(20.min(r.step_losses.len().max(1)))
            .enumerate()
            .map(|(i, w)| (i + w.len(), w.iter().sum::<f32>() / w.len() as f32));
        chart
            .draw_series(LineSeries::new(smooth, color))?
            .label(run_label(reports, r))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    // Test accuracy per epoch, zoomed to the measured range.
    let epochs = epochs(reports);
    let lowest = reports
        .iter()
        .flat_map(|r| r.per_epoch.iter().map(|e| 100.0 * e.test_accuracy))
        .fold(100f32, f32::min);
    let floor = ((lowest - 5.0) / 5.0).floor().max(0.0) * 5.0;
    let mut chart = ChartBuilder::on(&right)
        .caption("test accuracy", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(1..epochs, floor..100f32)?;
    chart.configure_mesh().x_desc("epoch").y_desc("%").draw()?;
    for (r, color) in reports.iter().zip(colors.iter().cycle()) {
        let points: Vec<(u32, f32)> = r
            .per_epoch
            .iter()
            .map(|e| (e.epoch, 100.0 * e.test_accuracy))
            .collect();
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(run_label(reports, r))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    draw_methods(&bottom, reports)?;
    Ok(())
}

/// A run's name in a legend: its policy, and its seed where the runs have several.
fn run_label(reports: &[RunReport], r: &RunReport) -> String {
    if reports.iter().any(|o| o.seed != r.seed) {
        format!("{} seed {}", r.quant, r.seed)
    } else {
        r.quant.to_string()
    }
}

/// The mean over a run's quantized layers of `f`, at each epoch's end.
fn per_epoch(r: &RunReport, f: impl Fn(&LayerReport) -> f32) -> Vec<(u32, f32)> {
    r.per_epoch
        .iter()
        .filter_map(|e| {
            let layers: Vec<f32> = e
                .quant_state
                .iter()
                .filter(|l| l.quantized)
                .map(&f)
                .collect();
            (!layers.is_empty())
                .then(|| (e.epoch, layers.iter().sum::<f32>() / layers.len() as f32))
        })
        .collect()
}

/// One run's points of a panel.
type Series = fn(&RunReport) -> Vec<(u32, f32)>;

fn clip_ratios(r: &RunReport) -> Vec<(u32, f32)> {
    per_epoch(r, |l| l.clip_ratio_dy)
}

fn method_choices(r: &RunReport) -> Vec<(u32, f32)> {
    match r.quant {
        "ui8" => per_epoch(r, |l| l.phi),
        "dai8" => per_epoch(r, |l| {
            let all = l.gaussian_channels + l.inverted_t_channels;
            l.inverted_t_channels as f32 / all.max(1) as f32
        }),
        _ => Vec::new(),
    }
}

/// The methods' choices per epoch: the dY clip ratio of every INT8 run (left); UI8's
/// learning-rate factor φ and the share of channels DAI8 classed inverted-T (right).
fn draw_methods<DB: plotters::prelude::DrawingBackend>(
    area: &plotters::prelude::DrawingArea<DB, plotters::coord::Shift>,
    reports: &[RunReport],
) -> AnyResult<()>
where
    DB::ErrorType: 'static,
{
    use plotters::prelude::*;
    let (left, right) = area.split_horizontally(600);
    let colors = COLORS;
    let epochs = epochs(reports);
    let panels: [(_, &str, Series); 2] = [
        (
            left,
            "dY clip / max|dY| (mean over INT8 layers)",
            clip_ratios,
        ),
        (
            right,
            "UI8 φ, DAI8 inverted-T share (mean over INT8 layers)",
            method_choices,
        ),
    ];
    for (panel, caption, series) in panels {
        let mut chart = ChartBuilder::on(&panel)
            .caption(caption, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(1..epochs, 0f32..1.05f32)?;
        chart.configure_mesh().x_desc("epoch").draw()?;
        let mut any = false;
        for (r, color) in reports.iter().zip(colors.iter().cycle()) {
            let points = series(r);
            if points.is_empty() {
                continue;
            }
            any = true;
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(run_label(reports, r))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        if any {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerLeft)
                .border_style(BLACK)
                .background_style(WHITE)
                .draw()?;
        }
    }
    Ok(())
}
