//! What `gate run` shows while it works: a spinner line per running check on a terminal, plain timestamped lines (`[12.3s] api-tests passed`) otherwise.

use crate::local::runner::{CheckJob, Progress, format_duration};
use crate::policy::{CheckResult, CheckStatus};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Standard error as a file of its own (a duplicate of descriptor 2), so plain progress lines
/// from the checks' threads never wait for `std::io::stderr()`'s lock, even when the caller
/// holds it for the whole run.
fn raw_stderr() -> Box<dyn Write + Send> {
    match std::io::stderr().as_fd().try_clone_to_owned() {
        Ok(fd) => Box::new(File::from(fd)),
        Err(_) => Box::new(std::io::sink()),
    }
}

/// The words for a check's end, on the command line.
pub fn status_text(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Passed => "passed",
        CheckStatus::Failed => "failed",
        CheckStatus::TimedOut => "timed out",
        CheckStatus::Errored => "errored",
        CheckStatus::Cancelled => "cancelled",
        CheckStatus::Skipped => "skipped",
        CheckStatus::Pending => "running",
    }
}

/// The line printed when a check ends (without the timestamp).
pub fn finished_line(check: &CheckJob, result: &CheckResult) -> String {
    let mut line = format!("{} {}", check.name, status_text(result.status));
    if let Some(ms) = result.duration_ms {
        line.push_str(&format!(
            " in {}",
            format_duration(Duration::from_millis(ms))
        ));
    }
    if result.flaky {
        line.push_str(&format!(" (flaky: passed on attempt {})", result.attempts));
    } else if result.attempts > 1 {
        line.push_str(&format!(" after {} attempts", result.attempts));
    }
    if !check.required && !result.status.is_success() {
        line.push_str(" (optional, not blocking)");
    }
    line
}

/// Whether to draw spinners: standard error is a terminal and `CI` is not set.
pub fn interactive() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("CI").is_none()
}

/// Plain lines on standard error, each stamped with the time since the run started.
pub struct Lines {
    start: Instant,
    out: Mutex<Box<dyn Write + Send>>,
}

impl Lines {
    /// Lines on standard error (not through `std::io::stderr()`'s lock, see [`raw_stderr`]).
    pub fn stderr(start: Instant) -> Self {
        Self::to(start, raw_stderr())
    }

    /// Lines on any writer.
    pub fn to(start: Instant, out: Box<dyn Write + Send>) -> Self {
        Self {
            start,
            out: Mutex::new(out),
        }
    }

    fn line(&self, text: &str) {
        let stamp = self.start.elapsed().as_secs_f64();
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = writeln!(out, "[{stamp:.1}s] {text}");
        let _ = out.flush();
    }
}

impl Progress for Lines {
    fn stage(&self, name: &str, checks: usize) {
        self.line(&format!(
            "stage {name}: {checks} check{}",
            if checks == 1 { "" } else { "s" }
        ));
    }

    fn started(&self, check: &CheckJob, attempt: u32, of: u32) {
        if attempt == 1 {
            self.line(&format!("{} started", check.name));
        } else {
            self.line(&format!("{} attempt {attempt} of {of} started", check.name));
        }
    }

    fn retrying(&self, check: &CheckJob, status: CheckStatus, next: u32, of: u32) {
        self.line(&format!(
            "{} {}, retrying (attempt {next} of {of})",
            check.name,
            status_text(status)
        ));
    }

    fn finished(&self, check: &CheckJob, result: &CheckResult) {
        self.line(&finished_line(check, result));
    }
}

/// One spinner per running check (name and elapsed time), finished lines printed above them.
///
/// Drawn through `std::io::stderr()` (indicatif needs the terminal's real width), so the caller
/// must not hold standard error's lock while the checks run.
pub struct Spinners {
    start: Instant,
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    style: ProgressStyle,
}

impl Spinners {
    /// Spinners on standard error.
    pub fn stderr(start: Instant) -> Self {
        let style =
            ProgressStyle::with_template("{spinner:.cyan} {prefix:.bold} {msg} {elapsed:.dim}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
        Self {
            start,
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
            style,
        }
    }

    fn println(&self, text: &str) {
        let stamp = self.start.elapsed().as_secs_f64();
        let _ = self.multi.println(format!("[{stamp:.1}s] {text}"));
    }

    fn bars(&self) -> std::sync::MutexGuard<'_, HashMap<String, ProgressBar>> {
        self.bars
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Progress for Spinners {
    fn stage(&self, name: &str, checks: usize) {
        self.println(&format!(
            "stage {name}: {checks} check{}",
            if checks == 1 { "" } else { "s" }
        ));
    }

    fn started(&self, check: &CheckJob, attempt: u32, of: u32) {
        let mut bars = self.bars();
        let bar = bars
            .entry(check.name.as_str().to_owned())
            .or_insert_with(|| {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(self.style.clone());
                bar.set_prefix(check.name.as_str().to_owned());
                bar.enable_steady_tick(Duration::from_millis(100));
                bar
            });
        if attempt > 1 {
            bar.set_message(format!("attempt {attempt} of {of}"));
            bar.reset_elapsed();
        }
    }

    fn retrying(&self, check: &CheckJob, status: CheckStatus, next: u32, of: u32) {
        self.println(&format!(
            "{} {}, retrying (attempt {next} of {of})",
            check.name,
            status_text(status)
        ));
    }

    fn finished(&self, check: &CheckJob, result: &CheckResult) {
        if let Some(bar) = self.bars().remove(check.name.as_str()) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        self.println(&finished_line(check, result));
    }
}

/// The progress `gate run` uses: [`Spinners`] when [`interactive`], else [`Lines`].
pub fn for_terminal(start: Instant) -> Box<dyn Progress + Send> {
    if interactive() {
        Box::new(Spinners::stderr(start))
    } else {
        Box::new(Lines::stderr(start))
    }
}
