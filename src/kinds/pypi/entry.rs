//! The manifest entry of `[[pypi]]`: a requirement set (a workspace file or inline), the
//! index, the admin host's Python and platforms. Read with spans, validated with located
//! messages; requirement lines are parsed here, so a bad line names its file and line.

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::manifest::Origin;
use crate::manifest::loader::{Context, Loader};

/// `[[pypi]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPypi {
    pub name: Spanned<String>,
    pub index: Spanned<String>,
    #[serde(default)]
    pub requirements: Option<Spanned<String>>,
    #[serde(default)]
    pub packages: Option<Spanned<Vec<Spanned<String>>>>,
    pub python: Spanned<String>,
    pub platforms: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    pub sdist: Option<Spanned<bool>>,
}

/// One `[[pypi]]` set, validated.
#[derive(Debug, Clone, Serialize)]
pub struct PypiArtifact {
    pub name: String,
    pub index: String,
    /// The workspace file the requirements came from, when they came from one.
    pub requirements_file: Option<String>,
    /// Each requirement, normalized (`ansible==11.13.0`, `jinja2>=3.0; python_version >= "3.8"`).
    pub requirements: Vec<String>,
    /// `X.Y` or `X.Y.Z`.
    pub python: String,
    pub platforms: Vec<String>,
    pub sdist: bool,
    #[serde(skip)]
    pub origin: Origin,
}

/// The largest requirements file read.
const REQUIREMENTS_LIMIT: u64 = 1 << 20;

/// Validates one entry; every problem is reported to `loader`.
pub fn load(loader: &mut Loader, context: &Context, entry: Spanned<RawPypi>) -> Vec<PypiArtifact> {
    let span = entry.span();
    let entry = entry.into_inner();
    loader.check_unique_name(context, &entry.name, "pypi set", "DIR/pypi/<name>/");
    let index = entry.index.get_ref().trim_end_matches('/').to_string();
    match url::Url::parse(&index) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
            if !url.username().is_empty() || url.password().is_some() {
                let error = crate::manifest::LocationError::Credentials(
                    crate::manifest::validate::redact(&index).into_owned(),
                );
                loader.diagnostics.push(
                    context
                        .error(entry.index.span(), error.to_string())
                        .with_hint(error.hint_or("")),
                );
            }
        }
        _ => loader.diagnostics.push(
            context
                .error(
                    entry.index.span(),
                    format!(
                        "`{}` is not an http(s) index URL",
                        crate::manifest::validate::redact(&index)
                    ),
                )
                .with_hint("give a PEP 503 simple index, e.g. \"https://pypi.org/simple\""),
        ),
    }
    let python = entry.python.get_ref().clone();
    if parse_python(&python).is_none() {
        loader.diagnostics.push(
            context
                .error(
                    entry.python.span(),
                    format!("`{python}` is not a Python version"),
                )
                .with_hint("write the admin host's interpreter as X.Y or X.Y.Z, e.g. \"3.11\""),
        );
    }
    let platforms_span = entry.platforms.span();
    let mut platforms = Vec::new();
    for platform in entry.platforms.into_inner() {
        let text = platform.get_ref();
        let known = text != "any"
            && !text.is_empty()
            && text.chars().all(|character| {
                character.is_ascii_lowercase() || character.is_ascii_digit() || character == '_'
            })
            && super::tags::machine(text).is_some();
        if known {
            platforms.push(text.clone());
        } else {
            loader.diagnostics.push(
                context
                    .error(platform.span(), format!("`{}` is not a Linux wheel platform", text.escape_debug()))
                    .with_hint("write a platform tag, e.g. \"manylinux_2_28_x86_64\", \"manylinux2014_aarch64\" or \"musllinux_1_2_x86_64\""),
            );
        }
    }
    if platforms.is_empty() && platforms_span.start < platforms_span.end {
        loader.diagnostics.push(
            context
                .error(platforms_span, "`platforms` names no platform")
                .with_hint("list the admin host's platform, e.g. [\"manylinux_2_28_x86_64\"]"),
        );
    }
    let mut requirements = Vec::new();
    let mut requirements_file = None;
    match (&entry.requirements, &entry.packages) {
        (Some(_), Some(packages)) => loader.diagnostics.push(
            context
                .error(packages.span(), "`packages` and `requirements` are both given")
                .with_hint("give the requirements file, or the requirements inline, not both"),
        ),
        (None, None) => loader.diagnostics.push(
            context
                .error(span.clone(), "the set names no requirement")
                .with_hint("add `requirements = \"requirements.txt\"` (a workspace file) or `packages = [\"ansible==11.13.0\"]`"),
        ),
        (Some(file), None) => {
            requirements_file = Some(file.get_ref().clone());
            let path = loader.workspace().join(file.get_ref());
            match crate::limits::read_bounded(&path, REQUIREMENTS_LIMIT)
                .map_err(|error| error.to_string())
                .and_then(|bytes| String::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_string()))
            {
                Ok(text) => {
                    for (line, requirement) in requirement_lines(&text) {
                        match normalize_requirement(&requirement) {
                            Ok(normalized) => requirements.push(normalized),
                            Err(problem) => loader.diagnostics.push(
                                context
                                    .error(file.span(), format!("{}:{line}: {problem}", file.get_ref()))
                                    .with_hint("write one PEP 508 requirement per line (`name==1.2`, `name>=1.0; python_version >= \"3.9\"`); options such as -r, -c and --hash are not read"),
                            ),
                        }
                    }
                }
                Err(problem) => loader.diagnostics.push(
                    context
                        .error(file.span(), format!("cannot read `{}`: {problem}", file.get_ref()))
                        .with_hint("give a path relative to the workspace (the directory that holds manifests/)"),
                ),
            }
        }
        (None, Some(packages)) => {
            for package in packages.get_ref() {
                match normalize_requirement(package.get_ref()) {
                    Ok(normalized) => requirements.push(normalized),
                    Err(problem) => loader.diagnostics.push(
                        context
                            .error(package.span(), problem)
                            .with_hint("write a PEP 508 requirement, e.g. \"ansible==11.13.0\" or \"jmespath>=1.0\""),
                    ),
                }
            }
        }
    }
    vec![PypiArtifact {
        name: entry.name.into_inner(),
        index,
        requirements_file,
        requirements,
        python,
        platforms,
        sdist: entry.sdist.map(Spanned::into_inner).unwrap_or(false),
        origin: context.origin(span),
    }]
}

/// `(major, minor, patch)` of `X.Y` or `X.Y.Z`.
pub fn parse_python(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = match parts.next() {
        Some(patch) => patch.parse().ok()?,
        None => 0,
    };
    (parts.next().is_none() && major == 3).then_some((major, minor, patch))
}

/// The requirement lines of a requirements file, with their line numbers: comments dropped,
/// continuations joined; option lines are returned as they are (and refused by the parser).
pub fn requirement_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = match raw
            .find(" #")
            .or_else(|| raw.trim_start().starts_with('#').then_some(0))
        {
            Some(at) => &raw[..at],
            None => raw,
        };
        let (continued, line) = match line.trim_end().strip_suffix('\\') {
            Some(line) => (true, line),
            None => (false, line),
        };
        let entry = pending.get_or_insert_with(|| (index + 1, String::new()));
        entry.1.push_str(line.trim());
        entry.1.push(' ');
        if !continued {
            let (number, joined) = pending.take().unwrap_or_default();
            let joined = joined.trim().to_string();
            if !joined.is_empty() {
                lines.push((number, joined));
            }
        }
    }
    if let Some((number, joined)) = pending {
        let joined = joined.trim().to_string();
        if !joined.is_empty() {
            lines.push((number, joined));
        }
    }
    lines
}

/// Whether `name` is a PEP 508 name: letters and digits, with `.`, `_`, `-` inside.
fn is_name(name: &str) -> bool {
    let alphanumeric =
        |character: Option<char>| character.is_some_and(|c| c.is_ascii_alphanumeric());
    alphanumeric(name.chars().next())
        && alphanumeric(name.chars().last())
        && name.chars().all(|character| {
            character.is_ascii_alphanumeric() || matches!(character, '.' | '_' | '-')
        })
}

/// Parses one requirement (PEP 508): from a manifest, or from a distribution's metadata, which
/// comes from outside. Names and the text are checked first: pep508_rs 0.9 panics on a name
/// its own grammar lets through (`name-`, `d.`) and on some non-ASCII text, and no input may
/// bring the lock down; a panic it still has is caught (its message printed by the default
/// hook) and reported as a bad requirement.
pub fn parse_requirement(text: &str) -> Result<pep508_rs::Requirement, String> {
    // Its cursor also slices inside multi-byte characters; requirements are ASCII.
    if !text.is_ascii() {
        return Err(format!(
            "`{}` holds characters outside ASCII",
            text.escape_debug()
        ));
    }
    let trimmed = text.trim_start();
    let name_end = trimmed
        .find(|character: char| {
            !(character.is_ascii_alphanumeric() || matches!(character, '.' | '_' | '-'))
        })
        .unwrap_or(trimmed.len());
    if !is_name(&trimmed[..name_end]) {
        return Err(format!(
            "`{}` does not start with a project name",
            text.escape_debug()
        ));
    }
    let rest = trimmed[name_end..].trim_start();
    if let Some(extras) = rest.strip_prefix('[') {
        let extras = extras.split(']').next().unwrap_or("");
        if !extras
            .split(',')
            .map(str::trim)
            .all(|extra| extra.is_empty() || is_name(extra))
        {
            return Err(format!(
                "`{}` names an extra that is not a name",
                text.escape_debug()
            ));
        }
    }
    std::panic::catch_unwind(|| text.parse::<pep508_rs::Requirement>())
        .map_err(|_| format!("`{}` is not a requirement", text.escape_debug()))?
        .map_err(|error| {
            format!(
                "`{}` is not a requirement: {}",
                text.escape_debug(),
                error.message
            )
        })
}

/// Parses one requirement (PEP 508) and writes it in its normal form.
pub fn normalize_requirement(text: &str) -> Result<String, String> {
    if text.trim_start().starts_with('-') {
        return Err(format!(
            "`{}` is an option, not a requirement",
            text.escape_debug()
        ));
    }
    let requirement = parse_requirement(text)?;
    if let Some(pep508_rs::VersionOrUrl::Url(_)) = requirement.version_or_url {
        return Err(format!(
            "`{}` names a URL; airgap takes files from the index only",
            text.escape_debug()
        ));
    }
    Ok(requirement.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirement_files_lose_comments_and_join_continuations() {
        let lines = requirement_lines(
            "ansible==11.13.0\n# Needed for community.crypto module\ncryptography==46.0.7  # pinned\n\njmespath\\\n  ==1.1.0\n-r other.txt\n",
        );
        assert_eq!(
            lines,
            [
                (1, "ansible==11.13.0".to_string()),
                (3, "cryptography==46.0.7".to_string()),
                (5, "jmespath ==1.1.0".to_string()),
                (7, "-r other.txt".to_string()),
            ]
        );
        assert_eq!(
            normalize_requirement("jmespath ==1.1.0").unwrap(),
            "jmespath==1.1.0"
        );
        assert!(
            normalize_requirement("-r other.txt")
                .unwrap_err()
                .contains("option")
        );
        assert!(
            normalize_requirement("x @ https://example.org/x.whl")
                .unwrap_err()
                .contains("URL")
        );
        assert_eq!(parse_python("3.11"), Some((3, 11, 0)));
        assert_eq!(parse_python("2.7"), None);
    }
}
