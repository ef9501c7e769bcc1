//! `Packages` indexes: decompressed while they stream (xz, gz or plain) and reduced to what
//! resolution needs, plus the dependency relations of Debian policy §7.1.

use std::io::{BufRead, BufReader, Read};

use debversion::Version;

use crate::deb822;
use crate::digest::Digest;

/// `Multi-Arch` of a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultiArch {
    No,
    Same,
    Foreign,
    Allowed,
}

/// One package of an index.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub version: Version,
    pub version_text: String,
    pub architecture: String,
    pub multi_arch: MultiArch,
    pub priority: u8,
    /// Relation fields, kept as text and parsed only for packages the resolver reaches
    /// (a handful of 63,000): most of an index's memory and parse time is in them.
    pub pre_depends: String,
    pub depends: String,
    pub recommends: String,
    /// `Conflicts` and `Breaks`, as text: checked over the closure once it is chosen.
    pub conflicts: String,
    pub breaks: String,
    /// (virtual name, version it provides, if any).
    pub provides: Vec<(String, Option<Version>)>,
    pub filename: String,
    pub size: u64,
    pub sha256: Digest,
    /// Which `[[apt]]` entry, and which component, it comes from.
    pub source: usize,
    pub component: String,
}

/// One comma-separated dependency: alternatives joined by `|`.
pub type Group = Vec<Atom>;

/// `name[:arch] [(op version)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Atom {
    pub name: String,
    pub qualifier: Option<String>,
    pub constraint: Option<(Op, Version)>,
}

/// A version relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Less,
    LessEqual,
    Equal,
    GreaterEqual,
    Greater,
}

impl Op {
    pub fn holds(self, left: &Version, right: &Version) -> bool {
        match self {
            Op::Less => left < right,
            Op::LessEqual => left <= right,
            Op::Equal => left == right,
            Op::GreaterEqual => left >= right,
            Op::Greater => left > right,
        }
    }
}

impl std::fmt::Display for Atom {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}", self.name)?;
        if let Some(qualifier) = &self.qualifier {
            write!(formatter, ":{qualifier}")?;
        }
        if let Some((op, version)) = &self.constraint {
            let op = match op {
                Op::Less => "<<",
                Op::LessEqual => "<=",
                Op::Equal => "=",
                Op::GreaterEqual => ">=",
                Op::Greater => ">>",
            };
            write!(formatter, " ({op} {version})")?;
        }
        Ok(())
    }
}

/// Why a relation field or a `Packages` index could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("`{0}` has an empty version relation")]
    EmptyRelation(String),
    #[error("`{text}` has an unknown relation `{relation}`")]
    UnknownRelation { text: String, relation: String },
    #[error("`{text}` has a bad version: {message}")]
    BadVersion { text: String, message: String },
    #[error("`{0}` names no package")]
    NoName(String),
    #[error(transparent)]
    Syntax(#[from] crate::deb822::Deb822Error),
    #[error("near line {line}: {message}")]
    Paragraph { line: usize, message: String },
}

/// Parses a relation field (`a (>= 1) | b:any, c [amd64] <!nocheck>`).
pub fn parse_relations(text: &str) -> Result<Vec<Group>, IndexError> {
    let mut groups = Vec::new();
    for group in text.split(',') {
        let group = group.trim();
        if group.is_empty() {
            continue;
        }
        let mut alternatives = Vec::new();
        for alternative in group.split('|') {
            alternatives.push(parse_atom(alternative.trim())?);
        }
        groups.push(alternatives);
    }
    Ok(groups)
}

/// A package as a manifest asks for it, read as apt-get does: `name`, `name=version`, or (as a
/// dependency is written) `name (>= version)`.
pub fn parse_request(text: &str) -> Result<Atom, IndexError> {
    if !text.contains('(')
        && let Some((name, version)) = text.split_once('=')
    {
        return Ok(Atom {
            name: name.trim().to_string(),
            qualifier: None,
            constraint: Some((Op::Equal, parse_version(version, text)?)),
        });
    }
    let atom = parse_atom(text.trim())?;
    if text.contains([',', '|']) || atom.qualifier.is_some() {
        return Err(IndexError::NoName(text.to_string()));
    }
    Ok(atom)
}

/// A Debian version out of `text` (the relation it is read from, for the message).
fn parse_version(version: &str, text: &str) -> Result<Version, IndexError> {
    version
        .trim()
        .parse()
        .map_err(|error| IndexError::BadVersion {
            text: text.to_string(),
            message: format!("{error:?}"),
        })
}

fn parse_atom(text: &str) -> Result<Atom, IndexError> {
    // Architecture restrictions `[...]` and build profiles `<...>` only matter for build
    // dependencies; they follow the version relation, which may itself hold `<`.
    let text = match text.find(')') {
        Some(close) => &text[..=close],
        None => text.split(['[', '<']).next().unwrap_or(text),
    }
    .trim();
    let (head, constraint) = match text.split_once('(') {
        Some((head, rest)) => {
            let inner = rest.trim_end().trim_end_matches(')').trim();
            let split = inner
                .find(|character: char| !matches!(character, '<' | '>' | '='))
                .ok_or_else(|| IndexError::EmptyRelation(text.to_string()))?;
            let (op, version) = inner.split_at(split);
            let op = match op.trim() {
                "<<" | "<" => Op::Less,
                "<=" => Op::LessEqual,
                "=" => Op::Equal,
                ">=" => Op::GreaterEqual,
                ">>" | ">" => Op::Greater,
                other => {
                    return Err(IndexError::UnknownRelation {
                        text: text.to_string(),
                        relation: other.to_string(),
                    });
                }
            };
            (head.trim(), Some((op, parse_version(version, text)?)))
        }
        None => (text, None),
    };
    let (name, qualifier) = match head.split_once(':') {
        Some((name, qualifier)) => (name, Some(qualifier.to_string())),
        None => (head, None),
    };
    if name.is_empty() {
        return Err(IndexError::NoName(text.to_string()));
    }
    Ok(Atom {
        name: name.to_string(),
        qualifier,
        constraint,
    })
}

/// The decompressing reader for an index file named `path`.
pub fn decompressed(path: &str, file: std::fs::File) -> Box<dyn BufRead> {
    let reader = BufReader::with_capacity(1 << 20, file);
    if path.ends_with(".xz") {
        Box::new(BufReader::with_capacity(
            1 << 20,
            lzma_rust2::XzReader::new(reader, true),
        ))
    } else if path.ends_with(".gz") {
        Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::bufread::MultiGzDecoder::new(reader),
        ))
    } else {
        Box::new(reader)
    }
}

/// Streams an index into packages; `source` and `component` are stamped on each.
pub fn parse_packages(
    reader: impl Read,
    source: usize,
    component: &str,
    into: &mut Vec<Package>,
) -> Result<(), IndexError> {
    let start = into.len();
    let mut paragraphs = deb822::Reader::new(BufReader::new(reader));
    while let Some(paragraph) = paragraphs.next_paragraph()? {
        let line = paragraphs.line_number;
        let field = |name: &str| paragraph.get(name).unwrap_or_default();
        let context = |message: String| IndexError::Paragraph { line, message };
        let name = field("Package").to_string();
        if name.is_empty() {
            return Err(context("a paragraph without `Package`".to_string()));
        }
        let version_text = field("Version").to_string();
        let version: Version = version_text.parse().map_err(|error| {
            context(format!(
                "{name} has a bad version `{version_text}`: {error:?}"
            ))
        })?;
        let relations = |field_name: &str| {
            parse_relations(field(field_name))
                .map_err(|message| context(format!("{name} {field_name}: {message}")))
        };
        let mut provides = Vec::new();
        for group in relations("Provides")? {
            for atom in group {
                provides.push((atom.name, atom.constraint.map(|(_, version)| version)));
            }
        }
        if into.len() - start >= crate::limits::INDEX_PACKAGES {
            return Err(context(format!(
                "the index lists more than {} packages",
                crate::limits::INDEX_PACKAGES
            )));
        }
        let sha256 = Digest::parse(field("SHA256"))
            .map_err(|error| context(format!("{name} has no usable SHA256: {error}")))?;
        into.push(Package {
            multi_arch: match field("Multi-Arch") {
                "same" => MultiArch::Same,
                "foreign" => MultiArch::Foreign,
                "allowed" => MultiArch::Allowed,
                _ => MultiArch::No,
            },
            priority: match field("Priority") {
                "required" => 0,
                "important" => 1,
                "standard" => 2,
                "optional" => 3,
                _ => 4,
            },
            pre_depends: field("Pre-Depends").to_string(),
            depends: field("Depends").to_string(),
            recommends: field("Recommends").to_string(),
            conflicts: field("Conflicts").to_string(),
            breaks: field("Breaks").to_string(),
            provides,
            architecture: field("Architecture").to_string(),
            filename: field("Filename").to_string(),
            size: field("Size")
                .parse()
                .map_err(|_| context(format!("{name} has a bad Size")))?,
            sha256,
            source,
            component: component.to_string(),
            name,
            version,
            version_text,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relations() {
        let groups = parse_relations(
            "libc6 (>= 2.34), debconf (>= 0.5) | debconf-2.0, python3:any, foo [amd64] <!nocheck>",
        )
        .unwrap();
        assert_eq!(groups.len(), 4);
        assert_eq!(groups[1].len(), 2);
        assert_eq!(
            groups[0][0].constraint.as_ref().unwrap().0,
            Op::GreaterEqual
        );
        assert_eq!(groups[2][0].qualifier.as_deref(), Some("any"));
        assert_eq!(groups[3][0].name, "foo");
        assert_eq!(groups[0][0].to_string(), "libc6 (>= 2.34)");
    }

    #[test]
    fn dpkg_ordering() {
        let parse = |text: &str| text.parse::<Version>().unwrap();
        assert!(parse("1:1.0") > parse("2.0"));
        assert!(parse("1.0~rc1") < parse("1.0"));
        assert!(Op::Less.holds(&parse("1.0-1"), &parse("1.0-2")));
    }
}
