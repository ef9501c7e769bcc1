//! A distribution's core metadata (`METADATA` in a wheel's `.dist-info`, or the `.metadata`
//! file an index serves beside it, PEP 658): the fields resolution needs, read from the
//! RFC 822 style header block.

use std::io::Read;

/// What resolution reads of a distribution's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoreMetadata {
    pub name: String,
    pub version: String,
    /// `Requires-Dist` lines, as written (PEP 508, markers included).
    pub requires_dist: Vec<String>,
    pub requires_python: Option<String>,
    /// `Provides-Extra`: the extras a requirement may ask of it (others are ignored, as pip
    /// ignores them).
    pub provides_extra: Vec<String>,
}

/// The largest metadata read (a wheel's METADATA is mostly its long description).
pub const LIMIT: u64 = 16 << 20;

/// Parses the header block of a metadata file (the body, the description, is not read).
pub fn parse(text: &str) -> CoreMetadata {
    let mut metadata = CoreMetadata::default();
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    for (name, value) in fields {
        match name.as_str() {
            "name" => metadata.name = value,
            "version" => metadata.version = value,
            "requires-dist" => metadata.requires_dist.push(value),
            "requires-python" if !value.is_empty() => metadata.requires_python = Some(value),
            "provides-extra" => metadata.provides_extra.push(value),
            _ => {}
        }
    }
    metadata
}

/// Why a wheel's metadata could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WheelError {
    #[error("is not a zip archive: {0}")]
    Zip(String),
    #[error("has no .dist-info/METADATA")]
    NoMetadata,
    #[error("has a METADATA larger than {LIMIT} bytes")]
    TooLarge,
}

/// The METADATA of the wheel at `path` (the one `*.dist-info/METADATA` at the top).
pub fn from_wheel(path: &std::path::Path) -> Result<CoreMetadata, WheelError> {
    let file = std::fs::File::open(path).map_err(|error| WheelError::Zip(error.to_string()))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|error| WheelError::Zip(error.to_string()))?;
    let name = archive
        .file_names()
        .find(|name| {
            name.split_once('/').is_some_and(|(directory, file)| {
                directory.ends_with(".dist-info") && file == "METADATA"
            })
        })
        .map(str::to_string)
        .ok_or(WheelError::NoMetadata)?;
    let entry = archive
        .by_name(&name)
        .map_err(|error| WheelError::Zip(error.to_string()))?;
    let mut text = String::new();
    entry
        .take(LIMIT + 1)
        .read_to_string(&mut text)
        .map_err(|error| WheelError::Zip(error.to_string()))?;
    if text.len() as u64 > LIMIT {
        return Err(WheelError::TooLarge);
    }
    Ok(parse(&text))
}

#[cfg(test)]
mod tests {
    #[test]
    fn fields_and_continuations_are_read_up_to_the_body() {
        let metadata = super::parse(
            "Metadata-Version: 2.1\nName: Jinja2\nVersion: 3.1.6\nRequires-Python: >=3.7\nRequires-Dist: MarkupSafe>=2.0\nRequires-Dist: Babel>=2.7; extra ==\n  \"i18n\"\n\nRequires-Dist: not-a-field\n",
        );
        assert_eq!(metadata.name, "Jinja2");
        assert_eq!(metadata.version, "3.1.6");
        assert_eq!(metadata.requires_python.as_deref(), Some(">=3.7"));
        assert_eq!(
            metadata.requires_dist,
            ["MarkupSafe>=2.0", "Babel>=2.7; extra == \"i18n\""]
        );
    }
}
