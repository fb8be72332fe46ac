//! Progress on stderr: one bar for the samples and one per protocol phase (samples that have
//! passed it), hidden when asked or when stderr is not a terminal.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bars of one run.
pub struct Progress {
    _multi: MultiProgress,
    samples: ProgressBar,
    phases: Vec<(&'static str, ProgressBar)>,
}

impl Progress {
    /// Bars for `total` samples (of which `done` are finished already) and `phases`.
    pub fn new(total: usize, done: usize, phases: &[&'static str], visible: bool) -> Progress {
        let multi = MultiProgress::with_draw_target(if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let bar = |label: &str, template: &str| {
            let bar = multi.add(ProgressBar::new(total as u64));
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar.set_prefix(label.to_string());
            bar.set_position(done as u64);
            bar
        };
        let samples = bar(
            "samples",
            "{prefix:>12} [{elapsed_precise}] {wide_bar} {pos}/{len} ETA {eta} {msg}",
        );
        let phases = phases
            .iter()
            .map(|phase| (*phase, bar(phase, "{prefix:>12} {wide_bar} {pos}/{len}")))
            .collect();
        Progress {
            _multi: multi,
            samples,
            phases,
        }
    }

    /// A sample passed `phase`.
    pub fn phase_done(&self, phase: &str) {
        if let Some((_, bar)) = self.phases.iter().find(|(name, _)| *name == phase) {
            bar.inc(1);
        }
    }

    /// A sample is finished.
    pub fn sample_done(&self) {
        self.samples.inc(1);
    }

    /// Shows a message beside the sample bar.
    pub fn message(&self, text: String) {
        self.samples.set_message(text);
    }

    /// Ends the bars.
    pub fn finish(&self) {
        self.samples.finish();
        for (_, bar) in &self.phases {
            bar.finish();
        }
    }
}
