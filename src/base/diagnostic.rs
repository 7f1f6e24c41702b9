//! Errors found in dataflow files, with the file, line, column and a label on the offending
//! entry, collected all at once and rendered with `miette`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
        Self { display, path: abs, text: Arc::new(text) }
    }

    /// The directory relative paths in this file are resolved against.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
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
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// `file:line:col`, the way compilers and editors print locations.
    pub fn location(&self) -> String {
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
        let inner = self.text.as_str().read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.display.clone(),
            inner.data(),
            *inner.span(),
            inner.line(),
            inner.column(),
            inner.line_count(),
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
        let mut sorted = self.0.clone();
        sorted.sort_by_key(|a| (a.file.display.clone(), a.span.offset()));
        for p in &sorted {
            let _ = handler.render_report(&mut out, p);
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
