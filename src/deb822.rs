//! Debian's control-file format (deb822): paragraphs of `Field: value` lines, continuation
//! lines starting with a space or tab, paragraphs separated by blank lines. A streaming reader,
//! so a 63,000-package `Packages` index is never held whole in memory.

use std::io::{BufRead, Read};

/// One paragraph, fields in their original order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paragraph {
    pub fields: Vec<(String, String)>,
}

impl Paragraph {
    /// The value of `name` (case-insensitive, as dpkg reads field names).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Renders the paragraph back in deb822 form, without the separating blank line.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for (name, value) in &self.fields {
            text.push_str(name);
            text.push(':');
            if !value.starts_with('\n') && !value.is_empty() {
                text.push(' ');
            }
            text.push_str(value);
            text.push('\n');
        }
        text
    }
}

/// The longest line read (`limits::DEB822_LINE`).
const LINE_LIMIT: u64 = crate::limits::DEB822_LINE;
/// The largest paragraph read.
const PARAGRAPH_LIMIT: u64 = crate::limits::DEB822_PARAGRAPH;

/// Reads paragraphs one at a time from `reader`.
pub struct Reader<R> {
    reader: R,
    line: String,
    pub line_number: usize,
}

impl<R: BufRead> Reader<R> {
    pub fn new(reader: R) -> Self {
        Reader {
            reader,
            line: String::new(),
            line_number: 0,
        }
    }

    /// The next paragraph, `None` at the end. Errors name the line.
    pub fn next_paragraph(&mut self) -> Result<Option<Paragraph>, Deb822Error> {
        let mut paragraph = Paragraph::default();
        let mut held = 0u64;
        loop {
            self.line.clear();
            // Bounded reads: a line without end is refused, never held.
            let read = Read::take(&mut self.reader, LINE_LIMIT + 1)
                .read_line(&mut self.line)
                .map_err(|error| Deb822Error {
                    line: self.line_number + 1,
                    message: error.to_string(),
                })?;
            if read == 0 {
                return Ok((!paragraph.fields.is_empty()).then_some(paragraph));
            }
            self.line_number += 1;
            held += read as u64;
            if read as u64 > LINE_LIMIT {
                return Err(Deb822Error {
                    line: self.line_number,
                    message: format!("is longer than {} bytes", LINE_LIMIT),
                });
            }
            if held > PARAGRAPH_LIMIT {
                return Err(Deb822Error {
                    line: self.line_number,
                    message: format!("ends a paragraph longer than {} bytes", PARAGRAPH_LIMIT),
                });
            }
            let line = self.line.trim_end_matches(['\n', '\r']);
            if line.trim().is_empty() {
                if paragraph.fields.is_empty() {
                    continue;
                }
                return Ok(Some(paragraph));
            }
            if line.starts_with('#') && paragraph.fields.is_empty() {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                let Some((_, value)) = paragraph.fields.last_mut() else {
                    return Err(Deb822Error {
                        line: self.line_number,
                        message: "a continuation line with no field before it".to_string(),
                    });
                };
                value.push('\n');
                value.push_str(line);
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(Deb822Error {
                    line: self.line_number,
                    message: format!("expected `Field: value`, found `{line}`"),
                });
            };
            paragraph
                .fields
                .push((name.trim().to_string(), value.trim().to_string()));
        }
    }
}

/// Why a deb822 document could not be read: the line, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct Deb822Error {
    pub line: usize,
    pub message: String,
}

/// Parses all paragraphs of a small document.
pub fn parse_all(text: &str) -> Result<Vec<Paragraph>, Deb822Error> {
    let mut reader = Reader::new(text.as_bytes());
    let mut paragraphs = Vec::new();
    while let Some(paragraph) = reader.next_paragraph()? {
        paragraphs.push(paragraph);
    }
    Ok(paragraphs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_and_continuations() {
        let text = "Package: a\nDescription: short\n long line\n .\n\nPackage: b\nVersion: 1\n";
        let paragraphs = parse_all(text).unwrap();
        assert_eq!(paragraphs.len(), 2);
        assert_eq!(paragraphs[0].get("package"), Some("a"));
        assert_eq!(
            paragraphs[0].get("Description"),
            Some("short\n long line\n .")
        );
        assert_eq!(paragraphs[1].get("Version"), Some("1"));
        assert_eq!(
            paragraphs[0].render(),
            "Package: a\nDescription: short\n long line\n .\n"
        );
        assert!(parse_all("garbage\n").is_err());
    }

    #[test]
    fn a_line_or_paragraph_without_end_is_refused() {
        // Failed before: one 1 GiB line of a Packages.gz was read into memory whole.
        let long = format!(
            "Package: a\nDescription: {}\n",
            "x".repeat((LINE_LIMIT + 10) as usize)
        );
        let error = parse_all(&long).unwrap_err();
        assert!(error.message.contains("is longer than"), "{error}");
        let mut many = String::from("Package: a\nDescription: start\n");
        let line = format!(" {}\n", "y".repeat(1000));
        while (many.len() as u64) <= PARAGRAPH_LIMIT {
            many.push_str(&line);
        }
        let error = parse_all(&many).unwrap_err();
        assert!(error.message.contains("paragraph longer than"), "{error}");
    }
}
