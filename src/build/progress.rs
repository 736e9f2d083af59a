//! Build progress: builder-neutral step events, shown live on a terminal or as plain lines.
//!
//! Both builders report through [`Event`]s: BuildKit's vertices and logs map onto them
//! directly; the classic builder's text stream goes through [`ClassicParser`]. [`Progress`]
//! keeps the tail of every step's output, so a failed step can show its last lines (the
//! compiler's error) after the live view is gone.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::time::{Duration, Instant};

/// Lines of output kept per step (the tail shown when it fails).
pub const TAIL_KEPT: usize = 40;
/// Lines of output kept per step with [`Progress::keep_logs`] (for CI annotations).
pub const LOG_KEPT: usize = 20_000;
/// Lines of output shown under a running step in the live view.
const TAIL_LIVE: usize = 4;
/// Longest line shown in the live view, in characters.
const LIVE_WIDTH: usize = 110;

/// What a builder reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A step began.
    Started {
        /// The builder's id of the step.
        id: String,
        /// What it does, e.g. `[builder 5/7] RUN cargo build --release`.
        name: String,
    },
    /// Output of a step, possibly a partial line.
    Output {
        /// The step's id.
        id: String,
        /// The text.
        text: String,
    },
    /// A step ended well.
    Finished {
        /// The step's id.
        id: String,
        /// It was taken from the layer cache.
        cached: bool,
    },
    /// A step failed.
    Failed {
        /// The step's id.
        id: String,
        /// The engine's message.
        error: String,
    },
}

/// Something builders report events to.
pub trait EventSink {
    /// Takes one event.
    fn event(&mut self, event: Event);
}

/// How progress should be shown (`--progress`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProgressFlag {
    /// A live view on a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// Plain line logs.
    Plain,
    /// The live view, even when stderr is not a terminal.
    Tty,
}

/// How progress is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One line per event.
    Plain,
    /// A live view of running steps and the tail of their output.
    Live,
}

/// Picks the mode from the flag, whether stderr is a terminal, `TERM`, and whether `CI` is set
/// (CI logs keep every line, so they get plain lines even on a pseudo-terminal).
pub fn choose_mode(
    flag: ProgressFlag,
    stderr_is_terminal: bool,
    term: Option<&str>,
    ci: bool,
) -> Mode {
    match flag {
        ProgressFlag::Plain => Mode::Plain,
        ProgressFlag::Tty => Mode::Live,
        ProgressFlag::Auto if stderr_is_terminal && term != Some("dumb") && !ci => Mode::Live,
        ProgressFlag::Auto => Mode::Plain,
    }
}

/// Stderr as a terminal that understands ANSI cursor movement, whatever it really is.
#[derive(Debug)]
struct AnsiStderr {
    width: u16,
    height: u16,
}

impl AnsiStderr {
    /// Size from `COLUMNS` and `LINES`, else 120 by 40.
    fn from_env() -> AnsiStderr {
        let get = |name: &str, default: u16| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|v| *v > 0)
                .unwrap_or(default)
        };
        AnsiStderr {
            width: get("COLUMNS", 120),
            height: get("LINES", 40),
        }
    }

    fn write(&self, s: &str) -> std::io::Result<()> {
        let mut err = std::io::stderr().lock();
        err.write_all(s.as_bytes())
    }

    fn cursor(&self, n: usize, code: char) -> std::io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.write(&format!("\x1b[{n}{code}"))
    }
}

impl indicatif::TermLike for AnsiStderr {
    fn width(&self) -> u16 {
        self.width
    }

    fn height(&self) -> u16 {
        self.height
    }

    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'A')
    }

    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'B')
    }

    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'C')
    }

    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'D')
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.write(&format!("{s}\n"))
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.write(s)
    }

    fn clear_line(&self) -> std::io::Result<()> {
        self.write("\r\x1b[2K")
    }

    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

struct Step {
    number: usize,
    name: String,
    started: Instant,
    tail: VecDeque<String>,
    log: Vec<String>,
    partial: String,
    bar: Option<ProgressBar>,
}

/// The progress view and the record of every step's output tail.
pub struct Progress {
    mode: Mode,
    steps: Vec<Step>,
    by_id: HashMap<String, usize>,
    failed: Option<usize>,
    multi: Option<MultiProgress>,
    out: Box<dyn Write>,
    keep_logs: bool,
}

impl Progress {
    /// A view drawing to stderr; `terminal` tells whether stderr is one (else the live view
    /// is drawn with plain ANSI sequences, for `--progress tty`).
    pub fn stderr(mode: Mode, terminal: bool) -> Progress {
        let multi = (mode == Mode::Live).then(|| {
            let target = if terminal {
                ProgressDrawTarget::stderr_with_hz(10)
            } else {
                ProgressDrawTarget::term_like_with_hz(Box::new(AnsiStderr::from_env()), 10)
            };
            MultiProgress::with_draw_target(target)
        });
        Progress::new(mode, multi, Box::new(std::io::stderr()))
    }

    /// A plain view writing to `out` (tests read it back).
    pub fn plain_to(out: Box<dyn Write>) -> Progress {
        Progress::new(Mode::Plain, None, out)
    }

    fn new(mode: Mode, multi: Option<MultiProgress>, out: Box<dyn Write>) -> Progress {
        Progress {
            mode,
            steps: Vec::new(),
            by_id: HashMap::new(),
            failed: None,
            multi,
            out,
            keep_logs: false,
        }
    }

    /// Keeps every step's whole output (up to [`LOG_KEPT`] lines), not only its tail, for
    /// [`Progress::failed_log`].
    pub fn keep_logs(mut self) -> Progress {
        self.keep_logs = true;
        self
    }

    /// The failed step's whole output, when logs are kept.
    pub fn failed_log(&self) -> Option<&[String]> {
        let step = &self.steps[self.failed?];
        self.keep_logs.then_some(step.log.as_slice())
    }

    /// Prints a line above the live view (or as a plain line).
    pub fn note(&mut self, line: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(line);
            }
            None => {
                let _ = writeln!(self.out, "{line}");
            }
        }
    }

    /// The failed step's name and the last `n` lines of its output.
    pub fn failed_tail(&self, n: usize) -> Option<(String, Vec<String>)> {
        let step = &self.steps[self.failed?];
        let skip = step.tail.len().saturating_sub(n);
        Some((
            step.name.clone(),
            step.tail.iter().skip(skip).cloned().collect(),
        ))
    }

    /// True when the output was drawn live (and so the failed tail must be printed again).
    pub fn is_live(&self) -> bool {
        self.mode == Mode::Live
    }

    /// Ends the live view; running steps are dropped from it.
    pub fn finish(&mut self) {
        for step in &mut self.steps {
            flush_partial(step);
            if let Some(bar) = step.bar.take() {
                bar.finish_and_clear();
            }
        }
        if let Some(m) = &self.multi {
            let _ = m.clear();
        }
        let _ = self.out.flush();
    }

    fn step(&mut self, id: &str, name: Option<&str>) -> usize {
        if let Some(&i) = self.by_id.get(id) {
            // Output can come before the step's announcement; the name arrives with it.
            if let Some(name) = name.filter(|_| self.steps[i].name == placeholder(id)) {
                self.steps[i].name = one_line(name);
                if let Some(bar) = &self.steps[i].bar {
                    bar.set_prefix(format!(
                        "#{} {}",
                        i + 1,
                        clip(&self.steps[i].name, LIVE_WIDTH - 10)
                    ));
                }
            }
            return i;
        }
        let i = self.steps.len();
        let name = name.map_or_else(|| placeholder(id), one_line);
        let bar = self.multi.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} {elapsed}{msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(format!("#{} {}", i + 1, clip(&name, LIVE_WIDTH - 10)));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        self.steps.push(Step {
            number: i + 1,
            name,
            started: Instant::now(),
            tail: VecDeque::new(),
            log: Vec::new(),
            partial: String::new(),
            bar,
        });
        self.by_id.insert(id.to_string(), i);
        if self.mode == Mode::Plain {
            let line = format!("#{} {}", i + 1, self.steps[i].name);
            let _ = writeln!(self.out, "{line}");
        }
        i
    }

    fn push_line(&mut self, i: usize, line: String) {
        let step = &mut self.steps[i];
        if self.mode == Mode::Plain {
            let _ = writeln!(self.out, "{}", output_line(step.number, &line));
        }
        if self.keep_logs && step.log.len() < LOG_KEPT {
            step.log.push(line.clone());
        }
        step.tail.push_back(line);
        while step.tail.len() > TAIL_KEPT {
            step.tail.pop_front();
        }
        if let Some(bar) = &step.bar {
            bar.set_message(live_tail(&step.tail));
        }
    }

    fn close(&mut self, i: usize, outcome: &str) {
        if let Some(rest) =
            Some(std::mem::take(&mut self.steps[i].partial)).filter(|p| !p.is_empty())
        {
            self.push_line(i, rest);
        }
        let step = &mut self.steps[i];
        let line = match outcome {
            "CACHED" => format!("#{} CACHED", step.number),
            "DONE" => format!("#{} DONE {}", step.number, seconds(step.started.elapsed())),
            error => format!("#{} ERROR: {error}", step.number),
        };
        match step.bar.take() {
            Some(bar) => {
                bar.finish_and_clear();
                let mark = match outcome {
                    "CACHED" => "✓ (cached)".to_string(),
                    "DONE" => format!("✓ {}", seconds(step.started.elapsed())),
                    _ => "✗ failed".to_string(),
                };
                let shown = format!("{mark} #{} {}", step.number, clip(&step.name, LIVE_WIDTH));
                if let Some(m) = &self.multi {
                    let _ = m.println(shown);
                }
            }
            None => {
                let _ = writeln!(self.out, "{line}");
            }
        }
    }
}

impl EventSink for Progress {
    fn event(&mut self, event: Event) {
        match event {
            Event::Started { id, name } => {
                self.step(&id, Some(&name));
            }
            Event::Output { id, text } => {
                let i = self.step(&id, None);
                let mut buffer = std::mem::take(&mut self.steps[i].partial);
                buffer.push_str(&text);
                let mut lines: Vec<String> = buffer.split('\n').map(str::to_string).collect();
                let rest = lines.pop().unwrap_or_default();
                self.steps[i].partial = rest;
                for line in lines {
                    // Carriage returns redraw a line in place; keep what was drawn last.
                    let line = line
                        .rsplit('\r')
                        .find(|s| !s.is_empty())
                        .unwrap_or("")
                        .to_string();
                    self.push_line(i, line);
                }
            }
            Event::Finished { id, cached } => {
                let i = self.step(&id, None);
                self.close(i, if cached { "CACHED" } else { "DONE" });
            }
            Event::Failed { id, error } => {
                let i = self.step(&id, None);
                self.failed = Some(i);
                self.close(i, error.trim());
            }
        }
    }
}

fn placeholder(id: &str) -> String {
    format!("step {id}")
}

/// A step name on one line, runs of spaces (from `\` continuations) collapsed.
fn one_line(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn flush_partial(step: &mut Step) {
    let rest = std::mem::take(&mut step.partial);
    if !rest.is_empty() {
        step.tail.push_back(rest);
    }
}

/// A plain output line of step `number`.
pub fn output_line(number: usize, line: &str) -> String {
    format!("#{number} | {line}")
}

/// Seconds with one decimal, as Docker prints them.
pub fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// Human size of a byte count: `512 B`, `48.2 KiB`, `3.1 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `s` cut to `width` characters, the last one `…` when it was cut.
pub fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The lines shown under a running step: its last few lines, clipped, indented.
fn live_tail(tail: &VecDeque<String>) -> String {
    let skip = tail.len().saturating_sub(TAIL_LIVE);
    tail.iter()
        .skip(skip)
        .map(|l| format!("\n    │ {}", clip(l, LIVE_WIDTH)))
        .collect()
}

/// Drops terminal colour sequences (`ESC [ ... m`), which the classic builder wraps around a
/// step's stderr.
pub fn strip_sgr(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find('\x1b') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.strip_prefix('[').and_then(|a| {
            a.find(|c: char| !(c.is_ascii_digit() || c == ';'))
                .filter(|&i| a[i..].starts_with('m'))
                .map(|i| &a[i + 1..])
        }) {
            Some(tail) => rest = tail,
            None => {
                out.push('\x1b');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Turns the classic builder's text stream (`Step 3/12 : RUN ...` and the output after it)
/// into events.
#[derive(Default)]
pub struct ClassicParser {
    buffer: String,
    current: Option<String>,
    cached: bool,
}

impl ClassicParser {
    /// Feeds one `stream` chunk; returns the events it completes.
    pub fn feed(&mut self, chunk: &str) -> Vec<Event> {
        self.buffer.push_str(chunk);
        let mut events = Vec::new();
        while let Some(end) = self.buffer.find('\n') {
            let line: String = self.buffer.drain(..=end).collect();
            let raw = line.trim_end_matches(['\n', '\r']);
            let plain = strip_sgr(raw);
            if plain.is_empty() && !raw.is_empty() {
                continue;
            }
            self.line(&plain, &mut events);
        }
        events
    }

    /// Ends the stream: the running step finishes.
    pub fn finish(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        let rest = std::mem::take(&mut self.buffer);
        if !rest.is_empty() {
            self.line(&rest, &mut events);
        }
        self.close(&mut events);
        events
    }

    /// The engine reported `error`: the running step failed.
    pub fn fail(&mut self, error: &str) -> Vec<Event> {
        let mut events = self.feed("");
        let rest = std::mem::take(&mut self.buffer);
        if !rest.is_empty() {
            self.line(&rest, &mut events);
        }
        let id = self.current.take().unwrap_or_else(|| "0".into());
        if id == "0" {
            events.push(Event::Started {
                id: id.clone(),
                name: "[engine] prepare the build".into(),
            });
        }
        events.push(Event::Failed {
            id,
            error: error.trim().to_string(),
        });
        events
    }

    fn close(&mut self, events: &mut Vec<Event>) {
        if let Some(id) = self.current.take() {
            events.push(Event::Finished {
                id,
                cached: self.cached,
            });
        }
        self.cached = false;
    }

    fn line(&mut self, line: &str, events: &mut Vec<Event>) {
        if let Some((counter, instruction)) = line
            .strip_prefix("Step ")
            .and_then(|rest| rest.split_once(" : "))
            .filter(|(counter, _)| {
                counter.contains('/') && counter.chars().all(|c| c.is_ascii_digit() || c == '/')
            })
        {
            self.close(events);
            let id = counter.split('/').next().unwrap_or(counter).to_string();
            events.push(Event::Started {
                id: id.clone(),
                name: format!("[{counter}] {instruction}"),
            });
            self.current = Some(id);
            return;
        }
        let trimmed = line.trim();
        if trimmed == "---> Using cache" {
            self.cached = true;
            return;
        }
        if trimmed.starts_with("---> ")
            || trimmed.starts_with("Removing intermediate container")
            || trimmed.starts_with("Successfully tagged")
        {
            return;
        }
        if trimmed.starts_with("Successfully built") {
            self.close(events);
            return;
        }
        if let Some(id) = &self.current {
            events.push(Event::Output {
                id: id.clone(),
                text: format!("{line}\n"),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn started(id: &str, name: &str) -> Event {
        Event::Started {
            id: id.into(),
            name: name.into(),
        }
    }

    fn output(id: &str, text: &str) -> Event {
        Event::Output {
            id: id.into(),
            text: text.into(),
        }
    }

    #[test]
    fn plain_lines_number_steps_and_prefix_output() {
        let out = Shared::default();
        let mut p = Progress::plain_to(Box::new(out.clone()));
        p.event(started("sha256:a", "[chef 1/2] FROM rust"));
        p.event(Event::Finished {
            id: "sha256:a".into(),
            cached: true,
        });
        p.event(started("sha256:b", "[builder 5/7] RUN cargo build"));
        p.event(output("sha256:b", "   Compiling x v0.1.0\nerror[E03"));
        p.event(output("sha256:b", "08]: mismatched types\n"));
        p.event(Event::Failed {
            id: "sha256:b".into(),
            error: "exit code: 101".into(),
        });
        p.finish();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "#1 [chef 1/2] FROM rust\n#1 CACHED\n#2 [builder 5/7] RUN cargo build\n#2 |    Compiling x v0.1.0\n#2 | error[E0308]: mismatched types\n#2 ERROR: exit code: 101\n"
        );
        let (name, tail) = p.failed_tail(1).unwrap();
        assert_eq!(name, "[builder 5/7] RUN cargo build");
        assert_eq!(tail, ["error[E0308]: mismatched types"]);
    }

    #[test]
    fn tails_keep_the_last_lines_and_last_redraw() {
        let mut p = Progress::plain_to(Box::new(std::io::sink()));
        p.event(started("1", "RUN x"));
        for n in 0..100 {
            p.event(output("1", &format!("line {n}\n")));
        }
        p.event(output("1", "50%\r100%\nunterminated"));
        p.event(Event::Failed {
            id: "1".into(),
            error: "boom".into(),
        });
        let (_, tail) = p.failed_tail(100).unwrap();
        assert_eq!(tail.len(), TAIL_KEPT);
        assert_eq!(&tail[TAIL_KEPT - 2..], ["100%", "unterminated"]);
    }

    #[test]
    fn kept_logs_hold_the_whole_failed_output() {
        let mut p = Progress::plain_to(Box::new(std::io::sink())).keep_logs();
        p.event(started("1", "RUN cargo build"));
        p.event(output(
            "1",
            "error[E0308]: mismatched types\n --> src/main.rs:2:18\n",
        ));
        for n in 0..100 {
            p.event(output("1", &format!("note {n}\n")));
        }
        p.event(Event::Failed {
            id: "1".into(),
            error: "exit code: 101".into(),
        });
        let log = p.failed_log().unwrap();
        assert_eq!((log.len(), log[1].as_str()), (102, " --> src/main.rs:2:18"));
        let mut plain = Progress::plain_to(Box::new(std::io::sink()));
        plain.event(started("1", "RUN x"));
        plain.event(Event::Failed {
            id: "1".into(),
            error: "x".into(),
        });
        assert!(plain.failed_log().is_none());
    }

    #[test]
    fn output_before_the_announcement_keeps_the_later_name() {
        let out = Shared::default();
        let mut p = Progress::plain_to(Box::new(out.clone()));
        p.event(output("v", "early\n"));
        p.event(started("v", "RUN a \\\n    &&   b"));
        p.event(Event::Failed {
            id: "v".into(),
            error: "x".into(),
        });
        assert_eq!(p.failed_tail(5).unwrap().0, "RUN a \\ && b");
    }

    #[test]
    fn formatting_helpers() {
        assert_eq!(output_line(3, "x"), "#3 | x");
        assert_eq!(seconds(Duration::from_millis(12_345)), "12.3s");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(49_357), "48.2 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 + 100_000), "3.1 MiB");
        assert_eq!(clip("abcdef", 4), "abc…");
        let tail: VecDeque<String> = (0..6).map(|n| n.to_string()).collect();
        assert_eq!(live_tail(&tail), "\n    │ 2\n    │ 3\n    │ 4\n    │ 5");
        assert_eq!(
            choose_mode(ProgressFlag::Auto, false, None, false),
            Mode::Plain
        );
        assert_eq!(
            choose_mode(ProgressFlag::Auto, true, Some("xterm"), false),
            Mode::Live
        );
        assert_eq!(
            choose_mode(ProgressFlag::Auto, true, Some("xterm"), true),
            Mode::Plain
        );
        assert_eq!(
            choose_mode(ProgressFlag::Auto, true, Some("dumb"), false),
            Mode::Plain
        );
        assert_eq!(
            choose_mode(ProgressFlag::Tty, false, None, true),
            Mode::Live
        );
        assert_eq!(
            choose_mode(ProgressFlag::Plain, true, None, false),
            Mode::Plain
        );
    }

    #[test]
    fn classic_stream_becomes_steps() {
        let mut c = ClassicParser::default();
        let mut events = c.feed("Step 1/3 : FROM debian:bookworm-slim\n ---> e735f84452b7\nStep 2/3 : RUN echo hi\n ---> Using cache\n ---> 123\nStep 3/3 : RUN car");
        events.extend(c.feed(
            "go build\n ---> Running in abc\n   Compiling broken\nerror[E0308]: mismatched types\n",
        ));
        events.extend(c.fail("The command '/bin/sh -c cargo build' returned a non-zero code: 101"));
        assert_eq!(
            events,
            vec![
                started("1", "[1/3] FROM debian:bookworm-slim"),
                Event::Finished {
                    id: "1".into(),
                    cached: false
                },
                started("2", "[2/3] RUN echo hi"),
                Event::Finished {
                    id: "2".into(),
                    cached: true
                },
                started("3", "[3/3] RUN cargo build"),
                output("3", "   Compiling broken\n"),
                output("3", "error[E0308]: mismatched types\n"),
                Event::Failed {
                    id: "3".into(),
                    error: "The command '/bin/sh -c cargo build' returned a non-zero code: 101"
                        .into()
                },
            ]
        );
        let mut c = ClassicParser::default();
        let events = c.feed("Step 4/9 : RUN x\n\u{1b}[91mwarning: w\n\u{1b}[0m\n\u{1b}[0mRemoving intermediate container 52c3\n");
        assert_eq!(events[1], output("4", "warning: w\n"));
        assert_eq!(events.len(), 2);
        assert_eq!(strip_sgr("\u{1b}[1;31mred\u{1b}[0m \u{1b}x"), "red \u{1b}x");
        let mut c = ClassicParser::default();
        let mut events =
            c.feed("Step 1/1 : FROM x\n ---> 1\nSuccessfully built 1\nSuccessfully tagged a:b\n");
        events.extend(c.finish());
        assert_eq!(events.len(), 2);
        let mut c = ClassicParser::default();
        let events = c.fail("Cannot locate specified Dockerfile: Dockerfile");
        assert!(matches!(&events[1], Event::Failed { id, .. } if id == "0"));
    }
}
