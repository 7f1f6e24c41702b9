//! Errors found in dataflow and config files, with the file, line, column and a label on the
//! offending entry, collected all at once and rendered with `miette`; and the ranges numeric
//! settings declare, so every reader checks and words them the same way.

use std::fmt;
use std::ops::{RangeFrom, RangeInclusive};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use miette::{Diagnostic, LabeledSpan, SourceSpan};

/// One KDL source file, kept whole so every problem can point into it.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path as the user would recognise it (relative to the working directory when possible).
    pub display: String,
    /// Absolute path, used to resolve relative paths inside the file.
    pub path: PathBuf,
    /// The file's text.
    pub text: Arc<String>,
    /// Byte offset of each line's start, built on first use: locating thousands of problems by
    /// scanning from the top of the file for each one made `trackflow check` quadratic.
    lines: OnceLock<Vec<usize>>,
}

impl SourceFile {
    /// Reads a file, remembering how to show its name.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        Ok(Self::from_text(path, text))
    }

    /// Wraps text that was already read (or generated in a test).
    pub fn from_text(path: &Path, text: String) -> Self {
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let display = std::env::current_dir()
            .ok()
            .and_then(|cwd| abs.strip_prefix(&cwd).ok().map(|p| p.display().to_string()))
            .unwrap_or_else(|| path.display().to_string());
        Self::named(display, abs, text)
    }

    /// Text that is not a file on disk, shown under `display` (`--set` overrides).
    pub(crate) fn named(display: impl Into<String>, path: PathBuf, text: String) -> Self {
        Self { display: display.into(), path, text: Arc::new(text), lines: OnceLock::new() }
    }

    /// The directory relative paths in this file are resolved against.
    pub(crate) fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = self.char_floor(offset);
        let line = self.line_of(offset);
        let col = self.text[self.line_starts()[line]..offset].chars().count() + 1;
        (line + 1, col)
    }

    /// The offset itself, or the start of the character it falls into, within the text.
    fn char_floor(&self, offset: usize) -> usize {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    }

    /// 0-based line of a byte offset (a binary search in the line index).
    fn line_of(&self, offset: usize) -> usize {
        self.line_starts().partition_point(|&start| start <= offset).saturating_sub(1)
    }

    fn line_starts(&self) -> &[usize] {
        self.lines.get_or_init(|| std::iter::once(0).chain(self.text.match_indices('\n').map(|(i, _)| i + 1)).collect())
    }
}

/// One problem in a dataflow file: what is wrong, where, and what to do about it.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The file the problem is in.
    pub file: Arc<SourceFile>,
    /// The offending entry.
    pub span: SourceSpan,
    /// What is wrong, as one sentence.
    pub message: String,
    /// A short label drawn under the offending entry.
    pub label: String,
    /// What to do about it, when we know.
    pub help: Option<String>,
}

impl Problem {
    /// A problem with a label and no help line.
    pub fn new(file: &Arc<SourceFile>, span: SourceSpan, message: impl Into<String>, label: impl Into<String>) -> Self {
        Self { file: file.clone(), span, message: message.into(), label: label.into(), help: None }
    }

    /// Adds a help line.
    pub(crate) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// `file:line:col`, the way compilers and editors print locations.
    pub(crate) fn location(&self) -> String {
        let (line, col) = self.file.line_col(self.span.offset());
        format!("{}:{}:{}", self.file.display, line, col)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

impl Diagnostic for Problem {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(self.file.as_ref())
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(Some(self.label.clone()), self.span))))
    }
}

// Implemented by hand so every snippet header shows the file's name.
impl miette::SourceCode for SourceFile {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        // miette scans from the start of the text it is given; hand it the text from the first
        // context line on, so each snippet costs the lines it shows, not the whole file before it.
        let offset = self.char_floor(span.offset());
        let first = self.line_of(offset).saturating_sub(context_lines_before);
        let base = self.line_starts()[first];
        let local = SourceSpan::new((offset - base).into(), span.len());
        let inner = self.text[base..].read_span(&local, context_lines_before, context_lines_after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.display.clone(),
            inner.data(),
            SourceSpan::new((inner.span().offset() + base).into(), inner.span().len()),
            inner.line() + first,
            inner.column(),
            inner.line_count() + first,
        )))
    }
}

/// Every problem found in a dataflow and the files it includes.
#[derive(Debug, Clone, Default)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// Records one problem.
    pub fn push(&mut self, p: Problem) {
        self.0.push(p);
    }
    /// True when nothing was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Number of problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Renders every problem: a graphical snippet each (file:line:col in its header, a label
    /// on the entry, a help line), then a compiler-style summary, one `file:line:col: message`
    /// per line.
    pub fn render(&self, color: bool) -> String {
        let theme = if color { miette::GraphicalTheme::unicode() } else { miette::GraphicalTheme::unicode_nocolor() };
        let handler = miette::GraphicalReportHandler::new_themed(theme).with_context_lines(1);
        let mut out = String::new();
        let mut sorted: Vec<&Problem> = self.0.iter().collect();
        sorted.sort_by(|a, b| (a.file.display.as_str(), a.span.offset()).cmp(&(b.file.display.as_str(), b.span.offset())));
        for p in &sorted {
            let _ = handler.render_report(&mut out, *p);
            out.push('\n');
        }
        out.push_str(&format!("{} problem{} found:\n", sorted.len(), if sorted.len() == 1 { "" } else { "s" }));
        for p in &sorted {
            out.push_str(&format!("{}: error: {}\n", p.location(), p.message));
        }
        out
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl std::error::Error for Problems {}

/// The whole numbers a setting accepts, both ends included. Declared with the setting (a node
/// parameter in `nodes/kinds.rs`, a config key in `model/config.rs`), so the check and its
/// message cannot drift apart from the declaration, and a new setting cannot leave it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntRange {
    /// Smallest accepted value.
    pub min: i64,
    /// Largest accepted value.
    pub max: i64,
}

impl IntRange {
    /// Every `i64` (seeds: any value is a seed).
    pub(crate) const ANY: Self = Self { min: i64::MIN, max: i64::MAX };

    /// `min..=max`.
    pub const fn new(min: i64, max: i64) -> Self {
        Self { min, max }
    }

    /// `min..`: no upper end beyond `i64`'s.
    pub(crate) const fn at_least(min: i64) -> Self {
        Self { min, max: i64::MAX }
    }

    /// Whether `v` is accepted.
    pub fn contains(&self, v: i64) -> bool {
        (self.min..=self.max).contains(&v)
    }

    /// Whether the range accepts every `i64` (then help texts leave it out).
    pub(crate) fn is_any(&self) -> bool {
        *self == Self::ANY
    }
}

impl From<RangeInclusive<i64>> for IntRange {
    fn from(r: RangeInclusive<i64>) -> Self {
        Self::new(*r.start(), *r.end())
    }
}

impl From<RangeFrom<i64>> for IntRange {
    fn from(r: RangeFrom<i64>) -> Self {
        Self::at_least(r.start)
    }
}

/// Written as Rust writes ranges: `1..=65535`, `0..` when there is no upper end.
impl fmt::Display for IntRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.max) {
            (i64::MIN, i64::MAX) => f.write_str(".."),
            (min, i64::MAX) => write!(f, "{min}.."),
            (i64::MIN, max) => write!(f, "..={max}"),
            (min, max) => write!(f, "{min}..={max}"),
        }
    }
}

/// The numbers a setting accepts: an interval whose ends are included or not. NaN and the
/// infinities are never accepted, whatever the ends: no setting means them, and they would pass
/// unnoticed into sizes, sleeps and loss weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloatRange {
    /// Lower end.
    pub min: f64,
    /// Upper end.
    pub max: f64,
    /// Whether `min` itself is refused (`(0, 1]`: a share that must not be zero).
    pub(crate) min_open: bool,
    /// Whether `max` itself is refused (`[0, 1)`: a drop rate that must not drop everything).
    pub(crate) max_open: bool,
}

impl FloatRange {
    /// `[min, max]`.
    pub(crate) const fn closed(min: f64, max: f64) -> Self {
        Self { min, max, min_open: false, max_open: false }
    }

    /// `(min, max]`: above `min`, up to `max`.
    pub(crate) const fn above(min: f64, max: f64) -> Self {
        Self { min, max, min_open: true, max_open: false }
    }

    /// `[min, max)`: from `min`, below `max`.
    pub(crate) const fn below(min: f64, max: f64) -> Self {
        Self { min, max, min_open: false, max_open: true }
    }

    /// Whether `v` is accepted.
    pub fn contains(&self, v: f64) -> bool {
        let low = if self.min_open { v > self.min } else { v >= self.min };
        let high = if self.max_open { v < self.max } else { v <= self.max };
        v.is_finite() && low && high
    }
}

impl From<RangeInclusive<f64>> for FloatRange {
    fn from(r: RangeInclusive<f64>) -> Self {
        Self::closed(*r.start(), *r.end())
    }
}

/// Written as an interval: `[0, 1]`, `(0, 1000]`, `[0, 1)`.
impl fmt::Display for FloatRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (open, close) = (if self.min_open { '(' } else { '[' }, if self.max_open { ')' } else { ']' });
        write!(f, "{open}{}, {}{close}", self.min, self.max)
    }
}
