//! Reports (Markdown and self-contained HTML with SVG plots) and table exports of runs.

mod content;
mod export;
mod plots;
mod render;

pub use content::{build_report, Plot, Report, RunSection, Table};
pub use export::{export_runs, runs_frame, ExportFormat};
pub use plots::{bar_chart, grouped_counts, grouped_values, line_plot, Bar};
pub use render::{to_html, to_markdown, write_report};
