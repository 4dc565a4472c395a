//! What `tripkey scan` shows on stderr while it runs: problems as they are found, and a
//! progress bar when stderr is a terminal.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use notify::escape::for_terminal;
use scan::{Observer, Problem, Progress};

use crate::output::count;

/// Prints problems and, when enabled, draws the progress bar.
pub struct ScanProgress {
    bar: Option<ProgressBar>,
}

impl ScanProgress {
    /// An observer with a bar when `show_bar`.
    pub fn new(show_bar: bool) -> ScanProgress {
        let bar = show_bar.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                    .expect("the template is valid"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        ScanProgress { bar }
    }

    /// Clears the bar so the report starts on a clean line.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Observer for ScanProgress {
    fn problem(&mut self, problem: &Problem) {
        let line = format!(
            "warning: {}{}: {}",
            for_terminal(&problem.file),
            problem
                .location
                .as_deref()
                .map(|location| format!(": {}", for_terminal(location)))
                .unwrap_or_default(),
            for_terminal(&problem.message)
        );
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn progress(&mut self, progress: &Progress) {
        let Some(bar) = &self.bar else {
            return;
        };
        let seconds = progress.elapsed.as_secs_f64().max(1e-3);
        let listed = if progress.listed > 0 || progress.pruned > 0 {
            format!(
                "{} listed, {} skipped by the window, ",
                count(progress.listed, "object"),
                progress.pruned
            )
        } else {
            String::new()
        };
        let local = if progress.local_bytes > 0 {
            format!(" of {:.1} MB local", progress.local_bytes as f64 / 1e6)
        } else {
            String::new()
        };
        bar.set_message(format!(
            "{listed}{}/{} read, {:.1} MB{local} ({:.0} MB/s decoded), {} ({:.0}/s), {}",
            progress.read,
            progress.queued,
            progress.bytes_read as f64 / 1e6,
            progress.bytes_decoded as f64 / 1e6 / seconds,
            count(progress.records, "record"),
            progress.records as f64 / seconds,
            count(progress.alerts, "alert")
        ));
    }
}
