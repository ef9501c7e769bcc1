//! The one place that writes to the terminal. Results go to stdout; status, warnings and
//! progress go to stderr, and progress bars appear only when stderr is a terminal.

use std::io::{IsTerminal, Write};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How much to say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// Output sink shared by every command.
#[derive(Clone)]
pub struct Printer {
    verbosity: Verbosity,
    color: bool,
    progress: MultiProgress,
}

impl Printer {
    pub fn new(verbosity: Verbosity) -> Self {
        let terminal = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let target = if terminal && verbosity != Verbosity::Quiet {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Printer {
            verbosity,
            color: terminal && std::env::var_os("NO_COLOR").is_none(),
            progress: MultiProgress::with_draw_target(target),
        }
    }

    pub fn verbosity(&self) -> Verbosity {
        self.verbosity
    }

    fn paint(&self, text: &str, code: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn line_to_stderr(&self, line: &str) {
        self.progress.suspend(|| {
            let _ = writeln!(std::io::stderr(), "{line}");
        });
    }

    /// A cargo-style status line: a right-aligned verb and a message.
    pub fn status(&self, verb: &str, message: impl AsRef<str>) {
        if self.verbosity >= Verbosity::Normal {
            let verb = self.paint(&format!("{verb:>12}"), "1;32");
            self.line_to_stderr(&format!("{verb} {}", message.as_ref()));
        }
    }

    /// Detail shown only with `-v`.
    pub fn detail(&self, message: impl AsRef<str>) {
        if self.verbosity >= Verbosity::Verbose {
            self.line_to_stderr(&format!("{:>12} {}", "", message.as_ref()));
        }
    }

    /// A warning is always shown: `--quiet` hides progress and information, never what the
    /// user must know (a trust-on-first-use pin, a moved tag).
    pub fn warn(&self, message: impl AsRef<str>) {
        let label = self.paint("warning", "1;33");
        self.line_to_stderr(&format!("{label}: {}", message.as_ref()));
    }

    /// What to do next (`next: airgap verify ...`), shown unless `--quiet`.
    pub fn next(&self, lines: &[String]) {
        if self.verbosity >= Verbosity::Normal {
            for (index, line) in lines.iter().enumerate() {
                let label = if index == 0 { "next:" } else { "" };
                self.line_to_stderr(&format!("{label:>12} {line}"));
            }
        }
    }

    /// Errors are always shown.
    pub fn error(&self, message: impl AsRef<str>) {
        let label = self.paint("error", "1;31");
        self.line_to_stderr(&format!("{label}: {}", message.as_ref()));
    }

    /// A result line on stdout (never suppressed: results are what the user asked for).
    pub fn result(&self, line: impl AsRef<str>) {
        self.progress.suspend(|| {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{}", line.as_ref());
        });
    }

    /// An access-log line on stderr, shown unless `--quiet`.
    pub fn result_stderr(&self, line: impl AsRef<str>) {
        if self.verbosity >= Verbosity::Normal {
            self.line_to_stderr(line.as_ref());
        }
    }

    /// A byte-counting progress bar for one transfer; invisible off a terminal.
    pub fn transfer_bar(&self, label: &str, total: Option<u64>) -> ProgressBar {
        let bar = match total {
            Some(total) => ProgressBar::new(total),
            None => ProgressBar::no_length(),
        };
        let bar = self.progress.add(bar);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>24.cyan} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(label.to_string());
        bar
    }

    /// The total over every artifact of a run, above the per-file bars:
    /// `23/51 artifacts, 1.2 GiB downloaded`.
    pub fn total_bar(&self, total: u64) -> ProgressBar {
        let bar = self.progress.insert(0, ProgressBar::new(total));
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>12.green.bold} [{bar:30}] {pos}/{len} artifacts, {prefix} downloaded",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message("Total");
        bar.set_prefix("0 B");
        bar
    }

    /// A counter for many small steps (files verified, say).
    pub fn count_bar(&self, label: &str, total: u64) -> ProgressBar {
        let bar = self.progress.add(ProgressBar::new(total));
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>12.cyan} [{bar:30}] {pos}/{len} {binary_bytes_per_sec}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(label.to_string());
        bar
    }
}
