//! SVG plots (plotters) for reports: metric values with their CIs, and rating histograms.

use plotters::prelude::*;

/// One bar: a label, a value and its optional 95% CI.
pub struct Bar {
    /// Label under the bar.
    pub label: String,
    /// Height.
    pub value: f64,
    /// Whiskers.
    pub ci95: Option<(f64, f64)>,
}

/// A bar chart of values in [0, 1] (metrics are fractions) with CI whiskers, as SVG text.
pub fn bar_chart(title: &str, bars: &[Bar]) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 380)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let low = bars
            .iter()
            .map(|b| b.ci95.map_or(b.value, |c| c.0).min(b.value))
            .fold(0.0_f64, f64::min);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(70)
            .y_label_area_size(50)
            .build_cartesian_2d((0..bars.len()).into_segmented(), low.min(0.0)..1.0_f64)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(bars.len().max(1))
            .x_label_formatter(&|value| match value {
                SegmentValue::CenterOf(index) => bars
                    .get(*index)
                    .map_or_else(String::new, |b| b.label.clone()),
                _ => String::new(),
            })
            .y_desc("value")
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(bars.iter().enumerate().map(|(index, bar)| {
                let mut rectangle = Rectangle::new(
                    [
                        (SegmentValue::Exact(index), 0.0),
                        (SegmentValue::Exact(index + 1), bar.value),
                    ],
                    RGBColor(66, 110, 180).mix(0.75).filled(),
                );
                rectangle.set_margin(0, 0, 12, 12);
                rectangle
            }))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(bars.iter().enumerate().filter_map(|(index, bar)| {
                let (low, high) = bar.ci95?;
                Some(ErrorBar::new_vertical(
                    SegmentValue::CenterOf(index),
                    low,
                    bar.value,
                    high,
                    BLACK.filled(),
                    12,
                ))
            }))
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Side-by-side counts per category (e.g. gold vs predicted ratings 1–5), as SVG text.
pub fn grouped_counts(
    title: &str,
    categories: &[String],
    series: &[(&str, Vec<usize>)],
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let top = series
            .iter()
            .flat_map(|(_, counts)| counts.iter().copied())
            .max()
            .unwrap_or(1)
            .max(1);
        let groups = categories.len();
        let width = series.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(
                (0..groups * width).into_segmented(),
                0..(top + top / 10 + 1),
            )
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(groups * width)
            .x_label_formatter(&|value| match value {
                SegmentValue::CenterOf(index) if index % width == 0 => {
                    categories.get(index / width).cloned().unwrap_or_default()
                }
                _ => String::new(),
            })
            .y_desc("count")
            .draw()
            .map_err(|e| e.to_string())?;
        let palette = [
            RGBColor(120, 120, 120),
            RGBColor(66, 110, 180),
            RGBColor(200, 90, 60),
        ];
        for (position, (name, counts)) in series.iter().enumerate() {
            let color = palette[position % palette.len()];
            chart
                .draw_series(counts.iter().enumerate().map(|(group, count)| {
                    let slot = group * width + position;
                    let mut rectangle = Rectangle::new(
                        [
                            (SegmentValue::Exact(slot), 0),
                            (SegmentValue::Exact(slot + 1), *count),
                        ],
                        color.mix(0.8).filled(),
                    );
                    rectangle.set_margin(0, 0, 2, 2);
                    rectangle
                }))
                .map_err(|e| e.to_string())?
                .label(*name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// The colours of the series in grouped plots (gray, blue, red).
const PALETTE: [RGBColor; 3] = [
    RGBColor(120, 120, 120),
    RGBColor(66, 110, 180),
    RGBColor(200, 90, 60),
];

/// Side-by-side values in [0, 1] per category (e.g. per-aspect F1 of a base model and its
/// student), as SVG text.
pub fn grouped_values(
    title: &str,
    categories: &[String],
    series: &[(&str, Vec<f64>)],
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (860, 380)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let groups = categories.len();
        let width = series.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(70)
            .y_label_area_size(50)
            .build_cartesian_2d((0..groups * width).into_segmented(), 0.0..1.0_f64)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(groups * width)
            .x_label_formatter(&|value| match value {
                SegmentValue::CenterOf(index) if index % width == 0 => {
                    categories.get(index / width).cloned().unwrap_or_default()
                }
                _ => String::new(),
            })
            .y_desc("value")
            .draw()
            .map_err(|e| e.to_string())?;
        for (position, (name, values)) in series.iter().enumerate() {
            let color = PALETTE[position % PALETTE.len()];
            chart
                .draw_series(values.iter().enumerate().map(|(group, value)| {
                    let slot = group * width + position;
                    let mut rectangle = Rectangle::new(
                        [
                            (SegmentValue::Exact(slot), 0.0),
                            (SegmentValue::Exact(slot + 1), value.clamp(0.0, 1.0)),
                        ],
                        color.mix(0.8).filled(),
                    );
                    rectangle.set_margin(0, 0, 2, 2);
                    rectangle
                }))
                .map_err(|e| e.to_string())?
                .label(*name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Lines through (x, y) points (e.g. training loss per step), one per series, as SVG text.
pub fn line_plot(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(&str, Vec<(f64, f64)>)],
) -> Result<String, String> {
    let points = || series.iter().flat_map(|(_, points)| points.iter());
    if points().next().is_none() {
        return Err("no points to plot".to_string());
    }
    let (x_low, x_high) = points().fold((f64::MAX, f64::MIN), |(low, high), (x, _)| {
        (low.min(*x), high.max(*x))
    });
    let (y_low, y_high) = points().fold((f64::MAX, f64::MIN), |(low, high), (_, y)| {
        (low.min(*y), high.max(*y))
    });
    let x_high = if x_high > x_low { x_high } else { x_low + 1.0 };
    let pad = ((y_high - y_low) * 0.05).max(1e-6);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x_low..x_high, (y_low - pad)..(y_high + pad))
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .draw()
            .map_err(|e| e.to_string())?;
        for (position, (name, points)) in series.iter().enumerate() {
            let color = PALETTE[(position + 1) % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], color));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}
