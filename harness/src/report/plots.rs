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
