//! The charts of a comparison run, as SVG files drawn with plotters: one-way latency and
//! streaming throughput against message size, and the fan-out's latency and subscriber
//! CPU against the number of subscribers (two panels of one file).
//!
//! Every axis is logarithmic (base 2 for sizes and counts, base 10 for times and rates).
//! A value that a log axis cannot show (zero, negative, NaN, infinite) is left out of its
//! line, and a chart with no point left is not written. Text is emitted as SVG `<text>`
//! elements, so no font is needed to draw the charts (the viewer picks a sans-serif one).

use std::error::Error;
use std::io;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::combinators::WithKeyPoints;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::format;
use super::results::{Family, FanoutRow, Results};

/// Width of every chart, px.
const WIDTH: u32 = 900;
/// Height of every chart, px.
const HEIGHT: u32 = 560;
/// Width of the legend panel on the right of the plot, px.
const LEGEND_WIDTH: u32 = 250;
/// The font family of all text (SVG viewers substitute their own sans-serif font).
const FONT: &str = "sans-serif";
/// Lines with more points than this use smaller markers.
const MANY_POINTS: usize = 12;
/// The rate the fan-out chart shows when the run measured it (else the first it did).
const FANOUT_CHART_RATE: u64 = 10_000;

/// An error while drawing a chart (into a string: only formatting can fail).
type DrawError = Box<dyn Error + Send + Sync>;

/// The coordinates of every chart: log x and log y, with tick marks chosen here.
type Coords = Cartesian2d<WithKeyPoints<LogCoord<f64>>, WithKeyPoints<LogCoord<f64>>>;

/// The charts of a run, each written as an SVG file into `dir`; returns the file names
/// written (only charts that have data): `latency.svg`, `throughput.svg`,
/// `throughput-mb.svg` and `fanout.svg`, in that order.
///
/// The directory must exist. An error names the file that could not be drawn or written.
pub fn write_all(results: &Results, dir: &Path) -> io::Result<Vec<String>> {
    let mut written = Vec::new();
    for chart in figures(results) {
        let path = dir.join(chart.file);
        let svg = chart
            .render()
            .map_err(|e| io::Error::other(format!("{}: drawing the chart: {e}", path.display())))?;
        std::fs::write(&path, svg)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        written.push(chart.file.to_owned());
    }
    Ok(written)
}

/// A chart file: one panel or more, stacked top to bottom.
struct Figure {
    /// File name in the report folder.
    file: &'static str,
    /// The panels, each with its own axes and legend.
    panels: Vec<Chart>,
}

impl Figure {
    /// The figure of `panels` that have a point to show; `None` when none has.
    fn new(file: &'static str, panels: impl IntoIterator<Item = Option<Chart>>) -> Option<Self> {
        let panels: Vec<Chart> = panels.into_iter().flatten().collect();
        (!panels.is_empty()).then_some(Self { file, panels })
    }

    /// The SVG document.
    fn render(&self) -> Result<String, DrawError> {
        render_panels(&self.panels)
    }
}

/// The charts that have at least one point to show.
fn figures(results: &Results) -> Vec<Figure> {
    [
        Figure::new("latency.svg", [latency_chart(results)]),
        Figure::new("throughput.svg", [throughput_chart(results)]),
        Figure::new("throughput-mb.svg", [throughput_mb_chart(results)]),
        Figure::new(
            "fanout.svg",
            [fanout_chart(results), fanout_cpu_chart(results)],
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// One-way latency p50 and p99 against message size, one line pair per transport.
fn latency_chart(results: &Results) -> Option<Chart> {
    let points = results.rows.iter().filter_map(|row| {
        let latency = row.latency?;
        Some(Point {
            name: row.transport.clone(),
            family: row.family,
            x: row.size as f64,
            solid: latency.p50 / 1e3,
            dashed: Some(latency.p99 / 1e3),
        })
    });
    Chart::new(
        "One-way latency by message size (half a ping-pong round trip)".to_owned(),
        XAxis::Bytes,
        YAxis::Plain,
        "one-way latency, µs (log scale)",
        Some(("p50", "p99")),
        points,
    )
}

/// Messages per second of a stream against message size.
fn throughput_chart(results: &Results) -> Option<Chart> {
    let points = results.rows.iter().filter_map(|row| {
        let stream = row.stream?;
        Some(Point {
            name: row.transport.clone(),
            family: row.family,
            x: row.size as f64,
            solid: stream.messages_per_sec,
            dashed: None,
        })
    });
    Chart::new(
        "Streaming throughput by message size (every message checked)".to_owned(),
        XAxis::Bytes,
        YAxis::Rate,
        "messages per second (log scale)",
        None,
        points,
    )
}

/// Payload megabytes per second of a stream against message size.
fn throughput_mb_chart(results: &Results) -> Option<Chart> {
    let points = results.rows.iter().filter_map(|row| {
        let stream = row.stream?;
        Some(Point {
            name: row.transport.clone(),
            family: row.family,
            x: row.size as f64,
            solid: stream.mb_per_sec,
            dashed: None,
        })
    });
    Chart::new(
        "Streaming throughput in MB/s by message size".to_owned(),
        XAxis::Bytes,
        YAxis::Plain,
        "payload MB/s, 10⁶ bytes per second (log scale)",
        None,
        points,
    )
}

/// The fan-out rows the charts show: those at [`FANOUT_CHART_RATE`], or at the first
/// rate measured; with the rate.
fn charted_fanout(results: &Results) -> Option<(u64, Vec<&FanoutRow>)> {
    let rows = &results.fanout;
    let rate = if rows.iter().any(|row| row.rate == FANOUT_CHART_RATE) {
        FANOUT_CHART_RATE
    } else {
        rows.first()?.rate
    };
    Some((rate, rows.iter().filter(|row| row.rate == rate).collect()))
}

/// The name of a fan-out row's line: its transport, and its size when sizes vary.
fn fanout_line(rows: &[&FanoutRow]) -> impl Fn(&FanoutRow) -> String + use<> {
    let one_size = rows.windows(2).all(|pair| pair[0].size == pair[1].size);
    move |row| {
        if one_size {
            row.transport.clone()
        } else {
            format!("{} ({})", row.transport, format::size(row.size))
        }
    }
}

/// Per-subscriber one-way latency p50 and p99 against the number of subscribers.
fn fanout_chart(results: &Results) -> Option<Chart> {
    let (rate, rows) = charted_fanout(results)?;
    let name = fanout_line(&rows);
    let points = rows.iter().map(|row| Point {
        name: name(row),
        family: row.family,
        x: row.subscribers as f64,
        solid: row.latency.p50 / 1e3,
        dashed: Some(row.latency.p99 / 1e3),
    });
    let size = rows.first().map_or(0, |row| row.size);
    Chart::new(
        format!(
            "Fan-out at {}: per-subscriber one-way latency, {} messages",
            format::rate(rate as f64),
            format::size(size)
        ),
        XAxis::Count,
        YAxis::Plain,
        "one-way latency, µs (log scale)",
        Some(("p50", "p99")),
        points,
    )
}

/// Each subscriber process's CPU, mean and largest, against the number of subscribers.
fn fanout_cpu_chart(results: &Results) -> Option<Chart> {
    let (rate, rows) = charted_fanout(results)?;
    let name = fanout_line(&rows);
    let points = rows.iter().map(|row| Point {
        name: name(row),
        family: row.family,
        x: row.subscribers as f64,
        solid: row.subscriber_cpu_mean_percent,
        dashed: Some(row.subscriber_cpu_max_percent),
    });
    Chart::new(
        format!(
            "Fan-out at {}: CPU of each subscriber process",
            format::rate(rate as f64)
        ),
        XAxis::Count,
        YAxis::Plain,
        "CPU, % of one CPU (log scale)",
        Some(("mean", "max")),
        points,
    )
}

/// One measured point of a line, before grouping into lines.
struct Point {
    /// The line it belongs to (the transport).
    name: String,
    /// Who made the transport: chooses the colour and the marker.
    family: Family,
    /// Position on the x axis.
    x: f64,
    /// Value of the solid line (p50, or the only value).
    solid: f64,
    /// Value of the dashed, lighter line of the same colour (p99), if the chart has one.
    dashed: Option<f64>,
}

/// What the x axis counts.
#[derive(Clone, Copy)]
enum XAxis {
    /// Message bytes, labelled "64 B", "1 KiB", ...
    Bytes,
    /// A plain count (subscribers).
    Count,
}

impl XAxis {
    /// The axis title.
    fn description(self) -> &'static str {
        match self {
            XAxis::Bytes => "message size (log scale)",
            XAxis::Count => "subscriber processes (log scale)",
        }
    }

    /// A tick label.
    fn label(self, value: f64) -> String {
        let whole = value.round().max(0.0) as usize;
        match self {
            XAxis::Bytes => format::size(whole),
            XAxis::Count => whole.to_string(),
        }
    }
}

/// How the y axis labels its ticks.
#[derive(Clone, Copy)]
enum YAxis {
    /// A decimal number ("0.2", "10", "5000").
    Plain,
    /// A rate with an SI suffix ("500k", "2M").
    Rate,
}

impl YAxis {
    /// A tick label.
    fn label(self, value: f64) -> String {
        match self {
            YAxis::Plain => decimal(value),
            YAxis::Rate => {
                let (scaled, suffix) = if value >= 1e9 {
                    (value / 1e9, "G")
                } else if value >= 1e6 {
                    (value / 1e6, "M")
                } else if value >= 1e3 {
                    (value / 1e3, "k")
                } else {
                    (value, "")
                };
                format!("{}{suffix}", decimal(scaled))
            }
        }
    }
}

/// A number with as many decimals as its magnitude needs: 0.05, 0.2, 3, 40, 5000.
fn decimal(value: f64) -> String {
    if !value.is_finite() || value <= 0.0 {
        return format!("{value}");
    }
    let exponent = (value.log10() + 1e-9).floor() as i32;
    let decimals = usize::try_from(-exponent).unwrap_or(0).min(9);
    format!("{value:.decimals$}")
}

/// One line (or a solid and a dashed line) of a chart.
struct Line {
    /// The legend's name for it.
    name: String,
    /// Who made the transport.
    family: Family,
    /// The line's colour.
    colour: RGBColor,
    /// Points of the solid line, sorted by x, each x once.
    solid: Vec<(f64, f64)>,
    /// Points of the dashed line, likewise.
    dashed: Vec<(f64, f64)>,
}

/// A chart ready to draw (one panel of a [`Figure`]).
struct Chart {
    /// Title at the top.
    title: String,
    /// What x is.
    x_axis: XAxis,
    /// How y is labelled.
    y_axis: YAxis,
    /// The y axis title, with its unit.
    y_description: &'static str,
    /// Legend names of the solid and the dashed line, when each transport has both.
    pair: Option<(&'static str, &'static str)>,
    /// The lines, in the order transports first appear in the results.
    lines: Vec<Line>,
}

impl Chart {
    /// Groups points into lines, one per name in order of first appearance, leaving out
    /// the values a log axis cannot show; `None` when no point is left.
    fn new(
        title: String,
        x_axis: XAxis,
        y_axis: YAxis,
        y_description: &'static str,
        pair: Option<(&'static str, &'static str)>,
        points: impl Iterator<Item = Point>,
    ) -> Option<Chart> {
        let mut lines: Vec<Line> = Vec::new();
        for point in points {
            if !plottable(point.x) {
                continue;
            }
            let index = match lines.iter().position(|line| line.name == point.name) {
                Some(index) => index,
                None => {
                    lines.push(Line {
                        name: point.name.clone(),
                        family: point.family,
                        colour: BLACK,
                        solid: Vec::new(),
                        dashed: Vec::new(),
                    });
                    lines.len() - 1
                }
            };
            let line = &mut lines[index];
            if plottable(point.solid) {
                line.solid.push((point.x, point.solid));
            }
            if let Some(dashed) = point.dashed.filter(|v| plottable(*v)) {
                line.dashed.push((point.x, dashed));
            }
        }
        lines.retain(|line| !line.solid.is_empty() || !line.dashed.is_empty());
        if lines.is_empty() {
            return None;
        }
        let mut counts = [0usize; 3];
        for line in &mut lines {
            tidy(&mut line.solid);
            tidy(&mut line.dashed);
            let slot = family_slot(line.family);
            line.colour = colour(line.family, counts[slot]);
            counts[slot] += 1;
        }
        Some(Chart {
            title,
            x_axis,
            y_axis,
            y_description,
            pair,
            lines,
        })
    }

    /// Every point of every line.
    fn all_points(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.lines
            .iter()
            .flat_map(|line| line.solid.iter().chain(&line.dashed))
            .copied()
    }

    /// The chart alone, as an SVG document.
    #[cfg(test)]
    fn render(&self) -> Result<String, DrawError> {
        render_panels(std::slice::from_ref(self))
    }

    /// Draws the chart (title, plot and legend) into `area`.
    fn draw(&self, area: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), DrawError> {
        let xs: Vec<f64> = self.all_points().map(|p| p.0).collect();
        let ys: Vec<f64> = self.all_points().map(|p| p.1).collect();
        let (x_low, x_high) = padded_bounds(&xs, 2f64.sqrt());
        let (y_low, y_high) = padded_bounds(&ys, 1.5);
        let (x_bold, x_light) = log2_ticks(x_low, x_high, &xs);
        let (y_bold, y_light) = log10_ticks(y_low, y_high);

        let body = area.titled(&self.title, (FONT, 24).into_font().color(&BLACK))?;
        let (plot, legend) = body.split_horizontally(WIDTH - LEGEND_WIDTH);
        let mut chart = ChartBuilder::on(&plot)
            .margin_top(8)
            .margin_left(10)
            .margin_right(16)
            .margin_bottom(8)
            .x_label_area_size(52)
            .y_label_area_size(76)
            .build_cartesian_2d(
                (x_low..x_high)
                    .log_scale()
                    .with_key_points(x_bold)
                    .with_light_points(x_light),
                (y_low..y_high)
                    .log_scale()
                    .with_key_points(y_bold)
                    .with_light_points(y_light),
            )?;
        let x_axis = self.x_axis;
        let y_axis = self.y_axis;
        let x_label = move |v: &f64| x_axis.label(*v);
        let y_label = move |v: &f64| y_axis.label(*v);
        chart
            .configure_mesh()
            .x_desc(self.x_axis.description())
            .y_desc(self.y_description)
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .label_style((FONT, 15).into_font().color(&RGBColor(40, 40, 40)))
            .axis_desc_style((FONT, 17).into_font().color(&BLACK))
            .axis_style(RGBColor(90, 90, 90))
            .bold_line_style(BLACK.mix(0.16))
            .light_line_style(BLACK.mix(0.05))
            .draw()?;
        for line in &self.lines {
            self.draw_line(&mut chart, line)?;
        }
        self.draw_legend(&legend)
    }

    /// One transport's solid line, its dashed line, and their markers.
    fn draw_line(
        &self,
        chart: &mut ChartContext<'_, SVGBackend<'_>, Coords>,
        line: &Line,
    ) -> Result<(), DrawError> {
        let light = lighter(line.colour);
        chart.draw_series(LineSeries::new(
            line.solid.iter().copied(),
            line.colour.stroke_width(2),
        ))?;
        chart.draw_series(DashedLineSeries::new(
            line.dashed.iter().copied(),
            8,
            5,
            light.stroke_width(2),
        ))?;
        let radius = if line.solid.len().max(line.dashed.len()) > MANY_POINTS {
            3
        } else {
            4
        };
        draw_markers(chart, line.family, &line.solid, radius, line.colour)?;
        draw_markers(chart, line.family, &line.dashed, radius - 1, light)?;
        Ok(())
    }

    /// The legend in the panel right of the plot: the line styles (p50 solid, p99
    /// dashed), one entry per transport, and what each marker means.
    fn draw_legend<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), DrawError>
    where
        DB::ErrorType: 'static,
    {
        let (width, height) = area.dim_in_pixel();
        let mut families: Vec<Family> = Vec::new();
        for line in &self.lines {
            if !families.contains(&line.family) {
                families.push(line.family);
            }
        }
        families.sort_by_key(|family| family_slot(*family));
        let style_rows = if self.pair.is_some() { 2 } else { 0 };
        // Rows plus a half-row gap before the transports and before the marker key.
        let rows = style_rows + self.lines.len() + families.len();
        let gaps = usize::from(style_rows > 0) + 1;
        let top = 14i32;
        let available = f64::from(height) - f64::from(top) - 16.0;
        let row = (available / (rows as f64 + gaps as f64 * 0.5)).clamp(8.0, 22.0);
        let longest = self
            .lines
            .iter()
            .map(|line| line.name.chars().count())
            .max()
            .unwrap_or(1)
            .max(8);
        // Pixel size of the text as viewers draw it; plotters writes `size / 1.24`.
        let text_room = f64::from(width) - 56.0;
        let text_px = (text_room / (0.56 * longest as f64))
            .min(row * 0.68)
            .clamp(7.0, 12.5);
        let font = (FONT, text_px * 1.24).into_font();
        let text = TextStyle::from(font.clone())
            .color(&RGBColor(25, 25, 25))
            .pos(Pos::new(HPos::Left, VPos::Center));
        let note = TextStyle::from(font)
            .color(&RGBColor(85, 85, 85))
            .pos(Pos::new(HPos::Left, VPos::Center));
        let grey = RGBColor(70, 70, 70);
        let (x0, x1, mark_x, text_x) = (6i32, 40i32, 23i32, 48i32);
        let mut y = f64::from(top) + row / 2.0;
        let at = |y: f64| y.round() as i32;

        if let Some((solid, dashed)) = self.pair {
            area.draw(&PathElement::new(
                vec![(x0, at(y)), (x1, at(y))],
                grey.stroke_width(2),
            ))?;
            area.draw(&Text::new(
                format!("{solid} (solid)"),
                (text_x, at(y)),
                &note,
            ))?;
            y += row;
            area.draw(&DashedPathElement::new(
                vec![(x0, at(y)), (x1, at(y))],
                6,
                4,
                lighter(grey).stroke_width(2),
            ))?;
            area.draw(&Text::new(
                format!("{dashed} (dashed, lighter)"),
                (text_x, at(y)),
                &note,
            ))?;
            y += row * 1.5;
        }
        let radius = if row < 14.0 { 3 } else { 4 };
        for line in &self.lines {
            area.draw(&PathElement::new(
                vec![(x0, at(y)), (x1, at(y))],
                line.colour.stroke_width(2),
            ))?;
            draw_marker(area, line.family, (mark_x, at(y)), radius, line.colour)?;
            area.draw(&Text::new(line.name.clone(), (text_x, at(y)), &text))?;
            y += row;
        }
        y += row * 0.5;
        for family in families {
            draw_marker(area, family, (mark_x, at(y)), radius, grey)?;
            let name = match family {
                Family::Ipclane => "ipclane",
                Family::Raw => "raw baseline",
                Family::Peer => "peer library",
            };
            area.draw(&Text::new(name, (text_x, at(y)), &note))?;
            y += row;
        }
        Ok(())
    }
}

/// Charts stacked top to bottom in one SVG document, each [`HEIGHT`] high.
fn render_panels(panels: &[Chart]) -> Result<String, DrawError> {
    let rows = u32::try_from(panels.len()).unwrap_or(1).max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT * rows)).into_drawing_area();
        root.fill(&WHITE)?;
        for (panel, area) in panels.iter().zip(root.split_evenly((panels.len(), 1))) {
            panel.draw(&area)?;
        }
        root.present()?;
    }
    Ok(svg)
}

/// Markers on every point of a line, shaped by family.
fn draw_markers(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Coords>,
    family: Family,
    points: &[(f64, f64)],
    radius: i32,
    colour: RGBColor,
) -> Result<(), DrawError> {
    let style = colour.filled();
    match family {
        Family::Ipclane => {
            chart.draw_series(points.iter().map(|&p| Circle::new(p, radius, style)))?;
        }
        Family::Raw => {
            chart.draw_series(points.iter().map(|&p| {
                EmptyElement::at(p) + Rectangle::new([(-radius, -radius), (radius, radius)], style)
            }))?;
        }
        Family::Peer => {
            chart.draw_series(
                points
                    .iter()
                    .map(|&p| TriangleMarker::new(p, radius + 1, style)),
            )?;
        }
    }
    Ok(())
}

/// One marker at a pixel position of a drawing area (the legend).
fn draw_marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    family: Family,
    at: (i32, i32),
    radius: i32,
    colour: RGBColor,
) -> Result<(), DrawError>
where
    DB::ErrorType: 'static,
{
    let style = colour.filled();
    match family {
        Family::Ipclane => area.draw(&Circle::new(at, radius, style))?,
        Family::Raw => area.draw(&Rectangle::new(
            [
                (at.0 - radius, at.1 - radius),
                (at.0 + radius, at.1 + radius),
            ],
            style,
        ))?,
        Family::Peer => area.draw(&TriangleMarker::new(at, radius + 1, style))?,
    }
    Ok(())
}

/// Whether a log axis can show the value.
fn plottable(value: f64) -> bool {
    value.is_finite() && value > 0.0
}

/// Sorts points by x and keeps the last point of each x.
fn tidy(points: &mut Vec<(f64, f64)>) {
    points.reverse();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points.dedup_by(|later, earlier| later.0 == earlier.0);
}

/// Index of a family in the palettes and the legend's marker key.
fn family_slot(family: Family) -> usize {
    match family {
        Family::Ipclane => 0,
        Family::Raw => 1,
        Family::Peer => 2,
    }
}

/// The `index`th colour of a family: strong hues for ipclane, greys for the raw
/// baselines, warm hues for the peers.
fn colour(family: Family, index: usize) -> RGBColor {
    const IPCLANE: [RGBColor; 8] = [
        RGBColor(31, 95, 191),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(23, 160, 180),
        RGBColor(200, 60, 160),
        RGBColor(20, 40, 120),
        RGBColor(110, 140, 20),
    ];
    const RAW: [RGBColor; 5] = [
        RGBColor(60, 60, 60),
        RGBColor(130, 130, 130),
        RGBColor(90, 110, 135),
        RGBColor(170, 160, 150),
        RGBColor(25, 25, 25),
    ];
    const PEER: [RGBColor; 5] = [
        RGBColor(255, 127, 14),
        RGBColor(140, 86, 75),
        RGBColor(220, 170, 0),
        RGBColor(190, 80, 20),
        RGBColor(240, 100, 100),
    ];
    let palette: &[RGBColor] = match family {
        Family::Ipclane => &IPCLANE,
        Family::Raw => &RAW,
        Family::Peer => &PEER,
    };
    palette[index % palette.len()]
}

/// The colour mixed halfway with white (the p99 line beside its p50).
fn lighter(colour: RGBColor) -> RGBColor {
    let mix = |c: u8| c + (255 - c) / 2;
    RGBColor(mix(colour.0), mix(colour.1), mix(colour.2))
}

/// The smallest and largest value, each moved out by `factor` (values are positive).
fn padded_bounds(values: &[f64], factor: f64) -> (f64, f64) {
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if low.is_finite() && high.is_finite() {
        (low / factor, high * factor)
    } else {
        (1.0, 10.0)
    }
}

/// Ticks of a base-2 axis: labelled powers of two (every one, or every second, third...
/// so that at most nine are labelled) and light grid lines at the others. Falls back to
/// labelling the data's own values when no power of two is in range.
fn log2_ticks(low: f64, high: f64, data: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let first = low.log2().ceil() as i32;
    let last = high.log2().floor() as i32;
    let exponents: Vec<i32> = (first..=last).collect();
    if exponents.is_empty() {
        let mut values = data.to_vec();
        values.sort_by(f64::total_cmp);
        values.dedup();
        return (values, Vec::new());
    }
    let step = (1..)
        .find(|step| {
            exponents
                .iter()
                .filter(|e| e.rem_euclid(*step) == 0)
                .count()
                <= 9
        })
        .unwrap_or(1);
    let (bold, light): (Vec<i32>, Vec<i32>) =
        exponents.iter().partition(|e| e.rem_euclid(step) == 0);
    let power = |e: &i32| 2f64.powi(*e);
    let mut bold: Vec<f64> = bold.iter().map(power).collect();
    if bold.len() < 2 {
        // One tick says little: label the data's own values too.
        bold.extend_from_slice(data);
        bold.sort_by(f64::total_cmp);
        bold.dedup();
    }
    (bold, light.iter().map(power).collect())
}

/// Ticks of a base-10 axis: labelled decades when at least three are in range, else
/// also 2 and 5 times a decade, else every multiple; light grid lines at the multiples
/// not labelled.
fn log10_ticks(low: f64, high: f64) -> (Vec<f64>, Vec<f64>) {
    let first = low.log10().floor() as i32;
    let last = high.log10().ceil() as i32;
    let mut candidates: Vec<(u32, f64)> = Vec::new();
    for exponent in first..=last {
        for multiple in 1..=9u32 {
            let value = f64::from(multiple) * 10f64.powi(exponent);
            if value >= low && value <= high {
                candidates.push((multiple, value));
            }
        }
    }
    let count = |multiples: &[u32]| {
        candidates
            .iter()
            .filter(|(m, _)| multiples.contains(m))
            .count()
    };
    let labelled: &[u32] = if count(&[1]) >= 3 {
        &[1]
    } else if count(&[1, 2, 5]) >= 3 {
        &[1, 2, 5]
    } else {
        &[1, 2, 3, 4, 5, 6, 7, 8, 9]
    };
    let mut bold = Vec::new();
    let mut light = Vec::new();
    for (multiple, value) in candidates {
        if labelled.contains(&multiple) {
            bold.push(value);
        } else {
            light.push(value);
        }
    }
    (bold, light)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::results::sample::sample;
    use crate::compare::results::{Percentiles, Row, Throughput};

    fn row(transport: &str, family: Family, size: usize, p50: f64, rate: f64) -> Row {
        Row {
            transport: transport.to_owned(),
            family,
            size,
            latency: Some(Percentiles {
                p50,
                p99: p50 * 2.0,
                p999: p50 * 3.0,
                max: p50 * 10.0,
                count: 1000,
            }),
            latency_floor: None,
            stream: Some(Throughput {
                messages: 1000,
                messages_per_sec: rate,
                mb_per_sec: rate * size as f64 / 1e6,
                cpu_s_per_million: 1.0,
            }),
            stream_floor: None,
            baseline: None,
            latency_vs_baseline: None,
            stream_vs_baseline: None,
            latency_vs_iceoryx2: None,
        }
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "ipclane-bench-charts-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn every_chart_is_svg_and_names_every_transport() {
        let results = sample();
        let dir = temp_dir("all");
        let written = write_all(&results, &dir).unwrap();
        assert_eq!(
            written,
            [
                "latency.svg",
                "throughput.svg",
                "throughput-mb.svg",
                "fanout.svg"
            ]
        );
        let latency = std::fs::read_to_string(dir.join("latency.svg")).unwrap();
        assert!(latency.starts_with("<svg") || latency.starts_with("<?xml"));
        for row in &results.rows {
            assert!(latency.contains(&row.transport), "{}", row.transport);
        }
        for label in ["64 B", "1 KiB", "64 KiB", "1 MiB", "p50 (solid)", "µs"] {
            assert!(latency.contains(label), "{label}");
        }
        let fanout = std::fs::read_to_string(dir.join("fanout.svg")).unwrap();
        for row in &results.fanout {
            assert!(fanout.contains(&row.transport), "{}", row.transport);
        }
        assert!(fanout.contains("subscriber processes"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn charts_without_data_are_not_written() {
        let dir = temp_dir("empty");
        assert!(write_all(&Results::default(), &dir).unwrap().is_empty());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn zero_nan_and_single_points_do_not_panic() {
        let mut results = Results {
            rows: vec![
                row("ipclane zero", Family::Ipclane, 64, 0.0, 0.0),
                row("ipclane nan", Family::Ipclane, 64, f64::NAN, f64::NAN),
                row("raw single", Family::Raw, 1024, 150.0, 2e6),
                row("peer inf", Family::Peer, 0, f64::INFINITY, -1.0),
            ],
            ..Results::default()
        };
        let latency = latency_chart(&results).unwrap();
        // The zero row keeps its p99 (0 as well: dropped); NaN and infinity are dropped.
        let names: Vec<&str> = latency.lines.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["raw single"]);
        let svg = latency.render().unwrap();
        assert!(svg.contains("raw single"));
        assert!(throughput_chart(&results).unwrap().render().is_ok());

        // Nothing plottable at all: no chart.
        results.rows.truncate(2);
        assert!(latency_chart(&results).is_none());
        assert!(throughput_chart(&results).is_none());
        let dir = temp_dir("nan");
        assert!(write_all(&results, &dir).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn repeated_points_keep_the_last() {
        let mut points = vec![(4.0, 1.0), (1.0, 2.0), (4.0, 3.0)];
        tidy(&mut points);
        assert_eq!(points, [(1.0, 2.0), (4.0, 3.0)]);
    }

    #[test]
    fn ticks() {
        let (bold, light) = log2_ticks(45.0, 1.5e6, &[]);
        let labels: Vec<String> = bold.iter().map(|v| XAxis::Bytes.label(*v)).collect();
        assert_eq!(
            labels,
            [
                "64 B", "256 B", "1 KiB", "4 KiB", "16 KiB", "64 KiB", "256 KiB", "1 MiB"
            ]
        );
        assert_eq!(light.len(), 7);
        let (bold, _) = log2_ticks(0.7, 5.7, &[1.0, 2.0, 4.0]);
        assert_eq!(bold, [1.0, 2.0, 4.0]);
        let (bold, _) = log2_ticks(70.0, 120.0, &[100.0]);
        assert_eq!(bold, [100.0]);
        let (bold, _) = log2_ticks(70.0, 140.0, &[100.0]);
        assert_eq!(bold, [100.0, 128.0]);

        let (bold, light) = log10_ticks(0.05, 2000.0);
        assert_eq!(bold.len(), 5);
        assert!(!light.is_empty());
        let (bold, _) = log10_ticks(0.08, 0.6);
        let labels: Vec<String> = bold.iter().map(|v| YAxis::Plain.label(*v)).collect();
        assert_eq!(labels, ["0.1", "0.2", "0.5"]);
        assert_eq!(YAxis::Rate.label(2e5), "200k");
        assert_eq!(YAxis::Rate.label(3e6), "3M");
        assert_eq!(YAxis::Plain.label(0.05), "0.05");
        assert_eq!(YAxis::Plain.label(5000.0), "5000");
    }
}
