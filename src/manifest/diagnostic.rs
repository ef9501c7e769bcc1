//! Located errors for manifest files: `file:line:col`, the source line with a caret under the
//! offending span, and a `hint:` that says what to do next.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One located problem in one manifest file.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub source_line: String,
    pub underline: usize,
    pub hint: Option<String>,
}

impl Diagnostic {
    /// Builds a diagnostic for `span` (byte offsets) inside `source`, the text of `file`.
    pub fn new(file: &Path, source: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        let start = span.start.min(source.len());
        let line_start = source[..start].rfind('\n').map_or(0, |index| index + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |index| start + index);
        let line = source[..start].matches('\n').count() + 1;
        let column = source[line_start..start].chars().count() + 1;
        let end = span.end.clamp(start, line_end.max(start));
        let underline = source[start..end].chars().count().max(1);
        Diagnostic {
            file: file.to_path_buf(),
            line,
            column,
            message: message.into(),
            source_line: crate::manifest::validate::redact(
                source[line_start..line_end].trim_end_matches('\r'),
            )
            .into_owned(),
            underline,
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            formatter,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )?;
        let gutter = self.line.to_string().len();
        writeln!(formatter, "{:gutter$} |", "")?;
        writeln!(formatter, "{} | {}", self.line, self.source_line)?;
        write!(
            formatter,
            "{:gutter$} | {}{}",
            "",
            " ".repeat(self.column - 1),
            "^".repeat(self.underline)
        )?;
        if let Some(hint) = &self.hint {
            write!(formatter, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

/// Everything wrong with the manifests, reported together.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{}", render_all(.0))]
    Invalid(Vec<Diagnostic>),
    #[error("no manifests found: {dir} has no *.toml files")]
    Empty { dir: PathBuf },
    #[error("{workspace} is not an airgap workspace: it has no manifests/ directory")]
    NoWorkspace { workspace: PathBuf },
    #[error("cannot read {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
}

fn render_all(diagnostics: &[Diagnostic]) -> String {
    let mut text = diagnostics
        .iter()
        .map(|diagnostic| diagnostic.to_string())
        .collect::<Vec<_>>()
        .join("\n\n");
    if diagnostics.len() > 1 {
        text.push_str(&format!(
            "\n\n{} problems in the manifests",
            diagnostics.len()
        ));
    }
    text
}

impl crate::hint::Hint for ManifestError {
    fn hint(&self) -> Option<String> {
        match self {
            ManifestError::Empty { .. } | ManifestError::NoWorkspace { .. } => Some(
                "run `airgap init` to create a workspace, or pass -C DIR to select one".to_string(),
            ),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_line_and_column() {
        let source = "[[file]]\nname = \"a\"\nsh256 = \"x\"\n";
        let offset = source.find("sh256").unwrap();
        let diagnostic = Diagnostic::new(
            Path::new("m.toml"),
            source,
            offset..offset + 5,
            "unknown key",
        )
        .with_hint("did you mean `sha256`?");
        let text = diagnostic.to_string();
        assert!(text.starts_with("m.toml:3:1: unknown key"), "{text}");
        assert!(text.contains("3 | sh256 = \"x\""), "{text}");
        assert!(text.contains("^^^^^"), "{text}");
        assert!(text.ends_with("hint: did you mean `sha256`?"), "{text}");
    }
}
