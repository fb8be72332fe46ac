//! Report rendering: Markdown (plots as SVG files beside it) and one self-contained HTML page.

use std::path::{Path, PathBuf};

use super::content::{Report, Table};
use crate::error::{Error, Result};
use crate::runner::write_atomically;

fn markdown_table(table: &Table) -> String {
    let escape = |cell: &str| cell.replace('|', "\\|");
    let mut out = format!(
        "**{}**\n\n| {} |\n|{}|\n",
        table.title,
        table.header.join(" | "),
        vec!["---"; table.header.len()].join("|")
    );
    for row in &table.rows {
        out.push_str(&format!(
            "| {} |\n",
            row.iter()
                .map(|c| escape(c))
                .collect::<Vec<_>>()
                .join(" | ")
        ));
    }
    out
}

/// The Markdown text; plot `k` of section `s` is linked as `plot-s-k.svg`.
pub fn to_markdown(report: &Report) -> String {
    let mut out = format!("# {}\n\n", report.title);
    for (s, section) in report.sections.iter().enumerate() {
        out.push_str(&format!("## {}\n\n", section.heading));
        for fact in &section.facts {
            out.push_str(&format!("- {fact}\n"));
        }
        out.push('\n');
        for table in &section.tables {
            out.push_str(&markdown_table(table));
            out.push('\n');
        }
        for (k, plot) in section.plots.iter().enumerate() {
            match &plot.svg {
                Ok(_) => out.push_str(&format!("![{}](plot-{s}-{k}.svg)\n\n", plot.title)),
                Err(error) => out.push_str(&format!("_{}: not drawn ({error})_\n\n", plot.title)),
            }
        }
    }
    out
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A self-contained HTML page (inline CSS and SVG; opens without a server).
pub fn to_html(report: &Report) -> String {
    let title = html_escape(&report.title);
    let mut out = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\n<style>\n"
    );
    out.push_str("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\ntable{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}\nth:first-child,td:first-child{text-align:left}th{background:#f3f3f3}figure{margin:1em 0}\n");
    out.push_str(&format!("</style></head><body>\n<h1>{title}</h1>\n"));
    for section in &report.sections {
        out.push_str(&format!(
            "<section><h2>{}</h2><ul>",
            html_escape(&section.heading)
        ));
        for fact in &section.facts {
            out.push_str(&format!("<li>{}</li>", html_escape(fact)));
        }
        out.push_str("</ul>\n");
        for table in &section.tables {
            out.push_str(&format!(
                "<h3>{}</h3><table><tr>",
                html_escape(&table.title)
            ));
            for cell in &table.header {
                out.push_str(&format!("<th>{}</th>", html_escape(cell)));
            }
            out.push_str("</tr>");
            for row in &table.rows {
                out.push_str("<tr>");
                for cell in row {
                    out.push_str(&format!("<td>{}</td>", html_escape(cell)));
                }
                out.push_str("</tr>");
            }
            out.push_str("</table>\n");
        }
        for plot in &section.plots {
            match &plot.svg {
                Ok(svg) => out.push_str(&format!(
                    "<figure>{svg}<figcaption>{}</figcaption></figure>\n",
                    html_escape(&plot.title)
                )),
                Err(error) => out.push_str(&format!(
                    "<p><em>{}: not drawn ({})</em></p>\n",
                    html_escape(&plot.title),
                    html_escape(error)
                )),
            }
        }
        out.push_str("</section>\n");
    }
    out.push_str("</body></html>\n");
    out
}

/// Writes `report.md`, `report.html` and the SVG files into `dir`; returns the two report paths.
pub fn write_report(report: &Report, dir: &Path) -> Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for (s, section) in report.sections.iter().enumerate() {
        for (k, plot) in section.plots.iter().enumerate() {
            if let Ok(svg) = &plot.svg {
                write_atomically(&dir.join(format!("plot-{s}-{k}.svg")), svg.as_bytes())?;
            }
        }
    }
    let markdown = dir.join("report.md");
    let html = dir.join("report.html");
    write_atomically(&markdown, to_markdown(report).as_bytes())?;
    write_atomically(&html, to_html(report).as_bytes())?;
    Ok((markdown, html))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::build_report;
    use crate::runner::{RunLog, RunManifest, SampleLine};

    /// A small, fixed ABSA run (timestamps and hashes are fixed placeholders).
    fn run() -> RunLog {
        let manifest: RunManifest = serde_json::from_value(serde_json::json!({
            "run_id": "RUN", "task": {"name": "uit-visfd", "version": "1", "source": "built-in:uit-visfd",
                "scorer": {"kind": "absa_f1", "labels": ["BATTERY", "CAMERA"]},
                "metrics": ["aspect_polarity_micro_f1", "aspect_micro_f1"]},
            "dataset": {"name": "uit-visfd", "split": "test", "file": "uit-visfd/Test.csv", "sha256": "SHA"},
            "n": 2, "limit": 2, "few_shot": 0, "seed": 0,
            "model": {"id": "m", "sha256": null, "endpoints": ["http://127.0.0.1:1/v1"]},
            "generation": {"max_tokens": 8, "temperature": 0.0, "top_p": 1.0, "seed": 0, "stop": []},
            "r2l_version": "0.1.0", "git_rev": "REV", "started": "START", "finished": "END", "wall_seconds": 1.5,
            "metrics": {"aspect_polarity_micro_f1": {"value": 0.5, "ci95": [0.0, 1.0]}, "aspect_micro_f1": {"value": 1.0, "ci95": null}},
            "diagnostics": {"missing": 0, "unparsed": 0, "invalid_labels": 0, "truncated": 1, "errors": 0},
            "usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}, "cached": 0,
            "endpoint_report": [],
            "per_category": [{"category": "BATTERY",
                "aspect": {"true_positives": 1, "predicted": 1, "gold": 1, "precision": 1.0, "recall": 1.0, "f1": 1.0},
                "aspect_polarity": {"true_positives": 0, "predicted": 1, "gold": 1, "precision": 0.0, "recall": 0.0, "f1": 0.0}}]
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let sample: SampleLine = serde_json::from_value(serde_json::json!({
            "id": "0", "status": "scored", "prediction": [{"aspect": "BATTERY", "polarity": "negative"}],
            "gold": [{"aspect": "BATTERY", "polarity": "positive"}], "correct": false,
            "score": {"aspect_polarity_f1": 0.0}, "output": "x", "finish_reason": "length", "usage": null
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        RunLog {
            dir: "runs/RUN".into(),
            manifest,
            samples: vec![sample],
        }
    }

    #[test]
    fn markdown_report_of_an_absa_run() {
        let report = build_report(&[run()], &[]);
        insta::assert_snapshot!(to_markdown(&report));
    }

    #[test]
    fn html_report_is_self_contained_with_inline_svg() {
        let html = to_html(&build_report(&[run()], &[]));
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains("<svg") && html.contains("Polarity confusion"));
        assert!(!html.contains("<script") && !html.contains("href=\"http"));
    }
}
