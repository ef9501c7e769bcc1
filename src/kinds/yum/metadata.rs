//! rpm-md metadata as repositories publish it: `repomd.xml` (which files, their checksums) and
//! `primary.xml` (every package, its provides, requires, obsoletes and primary files), read as
//! an XML event stream so a RHEL AppStream primary never sits whole in memory.

use std::collections::BTreeMap;
use std::io::BufRead;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::digest::Digest;

/// One `<data>` of repomd.xml.
#[derive(Debug, Clone)]
pub struct RepomdEntry {
    pub location: String,
    pub checksum: Option<Digest>,
    /// The checksum type when it is not sha256 (which is refused).
    pub other_checksum: Option<String>,
    pub size: Option<u64>,
}

/// Why repository metadata could not be read (the message follows the file's URL).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("is not valid XML: {0}")]
    Xml(String),
    #[error("is not valid XML near byte {position}: {message}")]
    XmlAt { position: u64, message: String },
    #[error("has a bad checksum: {0}")]
    Checksum(String),
    #[error("lists no primary metadata")]
    NoPrimary,
}

/// Parses repomd.xml into its `<data type="…">` entries.
pub fn parse_repomd(text: &str) -> Result<BTreeMap<String, RepomdEntry>, MetadataError> {
    let mut reader = Reader::from_str(text);
    let mut entries = BTreeMap::new();
    let mut current: Option<(String, RepomdEntry)> = None;
    let mut field = String::new();
    loop {
        match reader
            .read_event()
            .map_err(|error| MetadataError::Xml(error.to_string()))?
        {
            Event::Start(element) | Event::Empty(element) => {
                let name = local_name(&element);
                match name.as_str() {
                    "data" => {
                        let kind = attribute(&element, "type").unwrap_or_default();
                        current = Some((
                            kind,
                            RepomdEntry {
                                location: String::new(),
                                checksum: None,
                                other_checksum: None,
                                size: None,
                            },
                        ));
                    }
                    "location" => {
                        if let Some((_, entry)) = &mut current {
                            entry.location = attribute(&element, "href").unwrap_or_default();
                        }
                    }
                    "checksum" => {
                        let kind = attribute(&element, "type").unwrap_or_default();
                        field = if kind == "sha256" {
                            "checksum".to_string()
                        } else {
                            format!("other:{kind}")
                        };
                    }
                    "size" => field = "size".to_string(),
                    _ => field.clear(),
                }
            }
            Event::Text(text) => {
                if let Some((_, entry)) = &mut current {
                    let value = text.xml10_content();
                    let value = value.trim();
                    match field.as_str() {
                        "checksum" => {
                            entry.checksum = Some(
                                Digest::parse(value)
                                    .map_err(|error| MetadataError::Checksum(error.to_string()))?,
                            )
                        }
                        "size" => entry.size = value.parse().ok(),
                        other if other.starts_with("other:") => {
                            entry.other_checksum = Some(other[6..].to_string())
                        }
                        _ => {}
                    }
                }
            }
            Event::End(element) => {
                let name = element.local_name().into_inner().to_string();
                if name == "data"
                    && let Some((kind, entry)) = current.take()
                {
                    entries.insert(kind, entry);
                }
                field.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !entries.contains_key("primary") {
        return Err(MetadataError::NoPrimary);
    }
    Ok(entries)
}

/// A relation of rpm-md: `name [flags epoch:version-release]`, or a rich dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub name: String,
    /// `EQ`, `LT`, `LE`, `GT`, `GE`, or empty.
    pub flags: String,
    pub epoch: Option<String>,
    pub version: Option<String>,
    pub release: Option<String>,
}

impl Relation {
    /// `epoch:version-release` as rpm writes it.
    pub fn evr(&self) -> String {
        let mut text = String::new();
        if let Some(epoch) = &self.epoch {
            text.push_str(epoch);
            text.push(':');
        }
        text.push_str(self.version.as_deref().unwrap_or_default());
        if let Some(release) = &self.release {
            text.push('-');
            text.push_str(release);
        }
        text
    }
}

impl std::fmt::Display for Relation {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}", self.name)?;
        if !self.flags.is_empty() {
            let op = match self.flags.as_str() {
                "EQ" => "=",
                "LT" => "<",
                "LE" => "<=",
                "GT" => ">",
                "GE" => ">=",
                other => other,
            };
            write!(formatter, " {op} {}", self.evr())?;
        }
        Ok(())
    }
}

/// One package of primary.xml.
#[derive(Debug, Clone, Default)]
pub struct RpmPackage {
    pub name: String,
    pub arch: String,
    pub epoch: u32,
    pub version: String,
    pub release: String,
    pub sha256: Option<Digest>,
    pub location: String,
    pub size: u64,
    pub provides: Vec<Relation>,
    pub requires: Vec<Relation>,
    pub obsoletes: Vec<Relation>,
    /// Weak dependencies: what it recommends, and what it supplements (it is recommended by
    /// whatever provides that).
    pub recommends: Vec<Relation>,
    pub supplements: Vec<Relation>,
    pub files: Vec<String>,
}

impl RpmPackage {
    /// `epoch:version-release`.
    pub fn evr(&self) -> String {
        format!("{}:{}-{}", self.epoch, self.version, self.release)
    }

    /// `name-epoch:version-release.arch`.
    pub fn nevra(&self) -> String {
        format!("{}-{}.{}", self.name, self.evr(), self.arch)
    }
}

/// A reader of XML that fails once more than [`limits::XML_EVENT`](crate::limits::XML_EVENT)
/// bytes pass without a `<` or `>`: quick-xml buffers a whole text or tag, so a hostile
/// document with one endless element would otherwise be read into memory in full.
struct EventBounded<R> {
    inner: R,
    /// Bytes consumed since the last `<` or `>`.
    run: u64,
}

impl<R: BufRead> BufRead for EventBounded<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.run > crate::limits::XML_EVENT {
            return Err(std::io::Error::other(format!(
                "an element is longer than {} bytes",
                crate::limits::XML_EVENT
            )));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        // The buffer is still there: consume has not been passed on yet.
        if let Ok(buffer) = self.inner.fill_buf() {
            let consumed = &buffer[..amount.min(buffer.len())];
            match consumed
                .iter()
                .rposition(|byte| *byte == b'<' || *byte == b'>')
            {
                Some(at) => self.run = (consumed.len() - at - 1) as u64,
                None => self.run += consumed.len() as u64,
            }
        }
        self.inner.consume(amount);
    }
}

impl<R: BufRead> std::io::Read for EventBounded<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let count = available.len().min(out.len());
        out[..count].copy_from_slice(&available[..count]);
        self.consume(count);
        Ok(count)
    }
}

/// A reader of repository XML whose events are bounded ([`EventBounded`]).
fn bounded<R: BufRead>(input: R) -> Reader<EventBounded<R>> {
    Reader::from_reader(EventBounded {
        inner: input,
        run: 0,
    })
}

/// The next event, or an error that says where in the document it stopped.
fn next_event<'b, R: BufRead>(
    reader: &mut Reader<R>,
    buffer: &'b mut Vec<u8>,
) -> Result<Event<'b>, MetadataError> {
    let position = reader.buffer_position();
    reader
        .read_event_into(buffer)
        .map_err(|error| MetadataError::XmlAt {
            position: position.max(reader.buffer_position()),
            message: error.to_string(),
        })
}

/// Streams filelists.xml, calling `found(pkgid, path)` for each file of `wanted`: primary
/// lists only some paths (`/etc/*`, `*bin/*`), and a requirement on another path is answered
/// here, as dnf answers it.
pub fn parse_filelists(
    input: impl BufRead,
    wanted: &std::collections::HashSet<String>,
    mut found: impl FnMut(&str, String),
) -> Result<(), MetadataError> {
    let mut reader = bounded(input);
    let mut buffer = Vec::new();
    let mut pkgid = String::new();
    let mut in_file = false;
    let mut text = String::new();
    loop {
        let event = next_event(&mut reader, &mut buffer)?;
        match event {
            Event::Start(element) => match local_name(&element).as_str() {
                "package" => pkgid = attribute(&element, "pkgid").unwrap_or_default(),
                "file" => {
                    in_file = true;
                    text.clear();
                }
                _ => {}
            },
            Event::Text(content) if in_file => text.push_str(&content.xml10_content()),
            Event::GeneralRef(reference) if in_file => {
                text.push_str(&resolve_entity(&reference[..]))
            }
            Event::End(element) if in_file && element.local_name().into_inner() == "file" => {
                in_file = false;
                if wanted.contains(&text) {
                    found(&pkgid, std::mem::take(&mut text));
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buffer.clear();
    }
    Ok(())
}

/// Streams primary.xml, calling `found` for each package.
pub fn parse_primary(
    input: impl BufRead,
    mut found: impl FnMut(RpmPackage),
) -> Result<usize, MetadataError> {
    let mut reader = bounded(input);
    let mut buffer = Vec::new();
    let mut package: Option<RpmPackage> = None;
    let mut text_field = String::new();
    let mut text = String::new();
    let mut section = String::new();
    let mut count = 0;
    loop {
        let event = next_event(&mut reader, &mut buffer)?;
        match event {
            Event::Start(element) | Event::Empty(element) => {
                let name = local_name(&element);
                let Some(current) = &mut package else {
                    if name == "package" {
                        package = Some(RpmPackage::default());
                    }
                    continue;
                };
                match name.as_str() {
                    "name" | "arch" | "file" | "checksum" => {
                        text_field = name;
                        text.clear();
                    }
                    "version" => {
                        current.epoch = attribute(&element, "epoch")
                            .and_then(|epoch| epoch.parse().ok())
                            .unwrap_or(0);
                        current.version = attribute(&element, "ver").unwrap_or_default();
                        current.release = attribute(&element, "rel").unwrap_or_default();
                    }
                    "location" => {
                        current.location = attribute(&element, "href").unwrap_or_default()
                    }
                    "size" => {
                        current.size = attribute(&element, "package")
                            .and_then(|size| size.parse().ok())
                            .unwrap_or(0)
                    }
                    "provides" | "requires" | "obsoletes" | "conflicts" | "recommends"
                    | "suggests" | "supplements" | "enhances" => section = name,
                    "entry" => {
                        let relation = Relation {
                            name: attribute(&element, "name").unwrap_or_default(),
                            flags: attribute(&element, "flags").unwrap_or_default(),
                            epoch: attribute(&element, "epoch"),
                            version: attribute(&element, "ver"),
                            release: attribute(&element, "rel"),
                        };
                        match section.as_str() {
                            "provides" => current.provides.push(relation),
                            "requires" => current.requires.push(relation),
                            "obsoletes" => current.obsoletes.push(relation),
                            "recommends" => current.recommends.push(relation),
                            "supplements" => current.supplements.push(relation),
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(content) if !text_field.is_empty() => {
                text.push_str(&content.xml10_content());
            }
            Event::GeneralRef(reference) if !text_field.is_empty() => {
                text.push_str(&resolve_entity(&reference[..]));
            }
            Event::End(element) => {
                let name = element.local_name().into_inner().to_string();
                if let Some(current) = &mut package {
                    if name == text_field {
                        let value = std::mem::take(&mut text);
                        match name.as_str() {
                            "name" => current.name = value,
                            "arch" => current.arch = value,
                            "file" => current.files.push(value),
                            "checksum" => current.sha256 = Digest::parse(value.trim()).ok(),
                            _ => {}
                        }
                        text_field.clear();
                    }
                    if name == "package" {
                        if let Some(done) = package.take() {
                            found(done);
                            count += 1;
                            if count > crate::limits::INDEX_PACKAGES {
                                return Err(MetadataError::XmlAt {
                                    position: reader.buffer_position(),
                                    message: format!(
                                        "lists more than {} packages",
                                        crate::limits::INDEX_PACKAGES
                                    ),
                                });
                            }
                        }
                    } else if name == section {
                        section.clear();
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buffer.clear();
    }
    Ok(count)
}

fn local_name(element: &BytesStart) -> String {
    element.local_name().into_inner().to_string()
}

fn attribute(element: &BytesStart, wanted: &str) -> Option<String> {
    element
        .attributes()
        .flatten()
        .find(|attribute| attribute.key.local_name().into_inner() == wanted)
        .and_then(|attribute| {
            attribute
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|value| value.into_owned())
        })
}

fn resolve_entity(entity: &str) -> String {
    match entity {
        "amp" => "&".to_string(),
        "lt" => "<".to_string(),
        "gt" => ">".to_string(),
        "quot" => "\"".to_string(),
        "apos" => "'".to_string(),
        other => other
            .strip_prefix("#x")
            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
            .or_else(|| {
                other
                    .strip_prefix('#')
                    .and_then(|decimal| decimal.parse().ok())
            })
            .and_then(char::from_u32)
            .map_or_else(|| format!("&{other};"), String::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_element_is_refused_before_it_is_held() {
        // An element whose text never ends: refused a little past the cap, read in 64 KiB
        // pieces, never held whole (an endless reader would never end otherwise).
        let head = std::io::Cursor::new(b"<metadata><package><name>".to_vec());
        let endless = std::io::Read::chain(head, std::io::repeat(b'x'));
        let reader = std::io::BufReader::with_capacity(64 << 10, endless);
        let error = parse_primary(reader, |_| {}).unwrap_err().to_string();
        assert!(error.contains("an element is longer than"), "{error}");
    }

    #[test]
    fn primary_and_repomd() {
        let hex = "a".repeat(64);
        let primary = format!(
            r#"<?xml version="1.0"?><metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="1">
<package type="rpm"><name>a&amp;b</name><arch>x86_64</arch><version epoch="1" ver="2.0" rel="3"/>
<checksum type="sha256" pkgid="YES">{hex}</checksum><size package="10"/><location href="Packages/a.rpm"/>
<format><rpm:provides><rpm:entry name="a" flags="EQ" epoch="1" ver="2.0" rel="3"/></rpm:provides>
<rpm:requires><rpm:entry name="(b or c)"/><rpm:entry name="d" flags="GE" epoch="0" ver="1"/></rpm:requires>
<file>/usr/bin/a</file></format></package></metadata>"#
        );
        let mut packages = Vec::new();
        parse_primary(primary.as_bytes(), |package| packages.push(package)).unwrap();
        assert_eq!(packages.len(), 1);
        let package = &packages[0];
        assert_eq!(package.name, "a&b");
        assert_eq!(package.evr(), "1:2.0-3");
        assert_eq!(package.requires.len(), 2);
        assert_eq!(package.requires[1].to_string(), "d >= 0:1");
        assert_eq!(package.files, ["/usr/bin/a"]);
        let repomd = format!(
            r#"<repomd><data type="primary"><checksum type="sha256">{hex}</checksum><location href="repodata/p.xml.gz"/><size>12</size></data></repomd>"#
        );
        let entries = parse_repomd(&repomd).unwrap();
        assert_eq!(entries["primary"].location, "repodata/p.xml.gz");
        assert_eq!(entries["primary"].size, Some(12));
    }
}
