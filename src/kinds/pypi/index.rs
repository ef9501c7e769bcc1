//! A simple repository (PEP 503 HTML, or PEP 691 JSON when the index offers it): the files of
//! a project, each with its hash, `Requires-Python`, whether its metadata is served beside it
//! (PEP 658/714) and whether it was yanked. Pages are bounded, parsed without holding more
//! than the page, and every link is resolved against the page's URL.

use serde::Deserialize;

/// The largest project page read (PyPI's largest are a few MiB).
pub const PAGE_LIMIT: u64 = 64 << 20;
/// The `Accept` of a page request: JSON first, HTML otherwise.
pub const ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1";

/// One file of a project page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    pub filename: String,
    /// Absolute, without the hash fragment.
    pub url: String,
    /// The sha256 the index gives for the file (hex).
    pub sha256: Option<String>,
    pub requires_python: Option<String>,
    /// The metadata is served at `url + ".metadata"`; with its sha256 when given.
    pub metadata: Option<Option<String>>,
    pub yanked: bool,
    pub size: Option<u64>,
}

/// PEP 503's normalized project name: lowercase, runs of `-`, `_`, `.` as one `-`.
pub fn normalize(name: &str) -> String {
    let mut normalized = String::with_capacity(name.len());
    let mut separator = false;
    for character in name.chars() {
        if matches!(character, '-' | '_' | '.') {
            separator = true;
        } else {
            if separator && !normalized.is_empty() {
                normalized.push('-');
            }
            separator = false;
            normalized.push(character.to_ascii_lowercase());
        }
    }
    normalized
}

/// The URL of a project's page below an index.
pub fn project_url(index: &str, project: &str) -> String {
    format!("{}/{}/", index.trim_end_matches('/'), normalize(project))
}

/// Parses a project page fetched from `page_url` (JSON when it is JSON, HTML otherwise).
pub fn parse(page_url: &str, body: &str) -> Result<Vec<IndexFile>, String> {
    let base = url::Url::parse(page_url).map_err(|error| error.to_string())?;
    if body.trim_start().starts_with('{') {
        parse_json(&base, body)
    } else {
        Ok(parse_html(&base, body))
    }
}

#[derive(Deserialize)]
struct JsonPage {
    files: Vec<JsonFile>,
}

#[derive(Deserialize)]
struct JsonFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: std::collections::BTreeMap<String, String>,
    #[serde(default, rename = "requires-python")]
    requires_python: Option<String>,
    #[serde(default, rename = "core-metadata")]
    core_metadata: Option<serde_json::Value>,
    #[serde(default, rename = "dist-info-metadata")]
    dist_info_metadata: Option<serde_json::Value>,
    #[serde(default)]
    yanked: Option<serde_json::Value>,
    #[serde(default)]
    size: Option<u64>,
}

fn parse_json(base: &url::Url, body: &str) -> Result<Vec<IndexFile>, String> {
    let page: JsonPage = serde_json::from_str(body).map_err(|error| error.to_string())?;
    let mut files = Vec::new();
    for file in page.files {
        let Ok(mut url) = base.join(&file.url) else {
            continue;
        };
        if !fetchable(&url) {
            continue;
        }
        url.set_fragment(None);
        let metadata = match file.core_metadata.or(file.dist_info_metadata) {
            Some(serde_json::Value::Bool(true)) => Some(None),
            Some(serde_json::Value::Object(hashes)) => Some(
                hashes
                    .get("sha256")
                    .and_then(|value| value.as_str())
                    .map(str::to_string),
            ),
            _ => None,
        };
        files.push(IndexFile {
            filename: file.filename,
            url: url.to_string(),
            sha256: file.hashes.get("sha256").cloned(),
            requires_python: file.requires_python.filter(|text| !text.trim().is_empty()),
            metadata,
            yanked: match file.yanked {
                Some(serde_json::Value::Bool(yanked)) => yanked,
                Some(serde_json::Value::String(_)) => true,
                _ => false,
            },
            size: file.size,
        });
    }
    Ok(files)
}

/// The anchors of a PEP 503 page: `<a href="…#sha256=…" data-requires-python="…"
/// data-core-metadata="sha256=…" data-yanked>name</a>`.
fn parse_html(base: &url::Url, body: &str) -> Vec<IndexFile> {
    let mut files = Vec::new();
    let lower = body.to_ascii_lowercase();
    let mut at = 0;
    while let Some(start) = lower[at..].find("<a").map(|offset| at + offset) {
        let Some(tag_end) = lower[start..].find('>').map(|offset| start + offset) else {
            break;
        };
        let Some(close) = lower[tag_end..].find("</a").map(|offset| tag_end + offset) else {
            break;
        };
        let attributes = attributes(&body[start + 2..tag_end]);
        let text = decode_entities(body[tag_end + 1..close].trim());
        at = close + 3;
        let Some(href) = attributes
            .iter()
            .find(|(name, _)| name == "href")
            .map(|(_, value)| value)
        else {
            continue;
        };
        let Ok(mut url) = base.join(href) else {
            continue;
        };
        if !fetchable(&url) {
            continue;
        }
        let sha256 = url
            .fragment()
            .and_then(|fragment| fragment.strip_prefix("sha256="))
            .map(str::to_string);
        url.set_fragment(None);
        let attribute = |name: &str| {
            attributes
                .iter()
                .find(|(known, _)| known == name)
                .map(|(_, value)| value.clone())
        };
        let metadata = attribute("data-core-metadata")
            .or_else(|| attribute("data-dist-info-metadata"))
            .filter(|value| value != "false")
            .map(|value| value.strip_prefix("sha256=").map(str::to_string));
        let filename = url
            .path_segments()
            .and_then(|mut segments| segments.next_back().map(str::to_string))
            .filter(|name| !name.is_empty())
            .unwrap_or(text);
        files.push(IndexFile {
            filename: percent_decode(&filename),
            url: url.to_string(),
            sha256,
            requires_python: attribute("data-requires-python")
                .filter(|text| !text.trim().is_empty()),
            metadata,
            yanked: attribute("data-yanked").is_some(),
            size: None,
        });
    }
    files
}

/// Whether a link may be followed: HTTP(S) only. The downloader also reads `file://` and
/// workspace paths (for manifests), and a page from outside must never point it at this
/// machine's files.
fn fetchable(url: &url::Url) -> bool {
    matches!(url.scheme(), "http" | "https") && url.host_str().is_some()
}

/// `name="value"` pairs of a tag (values decoded; names lowercase; bare names have "").
fn attributes(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let name_end = rest
            .find(|character: char| character == '=' || character.is_whitespace())
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        rest = rest[name_end..].trim_start();
        if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            let (value, remaining) = match after.chars().next() {
                Some(quote @ ('"' | '\'')) => {
                    let inner = &after[1..];
                    let end = inner.find(quote).unwrap_or(inner.len());
                    (&inner[..end], inner.get(end + 1..).unwrap_or(""))
                }
                _ => {
                    let end = after.find(char::is_whitespace).unwrap_or(after.len());
                    (&after[..end], &after[end..])
                }
            };
            found.push((name, decode_entities(value)));
            rest = remaining.trim_start();
        } else {
            if !name.is_empty() {
                found.push((name, String::new()));
            }
            if name_end == 0 {
                rest = &rest[rest.chars().next().map_or(1, char::len_utf8)..];
            }
        }
    }
    found
}

/// The entities an index writes in attributes (`&gt;=3.8`, `&amp;`, numeric ones).
fn decode_entities(text: &str) -> String {
    let mut decoded = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        decoded.push_str(&rest[..start]);
        let tail = &rest[start..];
        let Some(end) = tail.find(';').filter(|end| *end <= 10) else {
            decoded.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..end];
        let character = match entity {
            "gt" => Some('>'),
            "lt" => Some('<'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| {
                    entity
                        .strip_prefix('#')
                        .and_then(|decimal| decimal.parse().ok())
                })
                .and_then(char::from_u32),
        };
        match character {
            Some(character) => {
                decoded.push(character);
                rest = &tail[end + 1..];
            }
            None => {
                decoded.push('&');
                rest = &tail[1..];
            }
        }
    }
    decoded.push_str(rest);
    decoded
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether a decoded file name may become a media path (as `choose` checks).
    fn airgap_name(raw: &str) -> bool {
        crate::manifest::validate::is_name(&percent_decode(raw))
    }

    #[test]
    fn html_and_json_pages_give_the_same_files() {
        let html = r#"<!DOCTYPE html><html><body><h1>Links for jinja2</h1>
<a href="../../files/jinja2-3.1.6-py3-none-any.whl#sha256=85ec" data-requires-python="&gt;=3.7" data-dist-info-metadata="sha256=aa11">jinja2-3.1.6-py3-none-any.whl</a><br/>
<a href='https://files.example/jinja2-3.1.5.tar.gz#sha256=8fef' data-yanked>jinja2-3.1.5.tar.gz</a>
</body></html>"#;
        let files = parse("http://127.0.0.1:9/simple/jinja2/", html).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(
            files[0].url,
            "http://127.0.0.1:9/files/jinja2-3.1.6-py3-none-any.whl"
        );
        assert_eq!(files[0].sha256.as_deref(), Some("85ec"));
        assert_eq!(files[0].requires_python.as_deref(), Some(">=3.7"));
        assert_eq!(files[0].metadata, Some(Some("aa11".to_string())));
        assert!(!files[0].yanked && files[1].yanked);
        let json = r#"{"meta":{"api-version":"1.1"},"name":"jinja2","files":[{"filename":"jinja2-3.1.6-py3-none-any.whl","url":"../../files/jinja2-3.1.6-py3-none-any.whl","hashes":{"sha256":"85ec"},"requires-python":">=3.7","core-metadata":{"sha256":"aa11"},"yanked":false,"size":134899}]}"#;
        let from_json = parse("http://127.0.0.1:9/simple/jinja2/", json).unwrap();
        assert_eq!(from_json[0].url, files[0].url);
        assert_eq!(from_json[0].metadata, files[0].metadata);
        assert_eq!(from_json[0].size, Some(134899));
        assert_eq!(normalize("Ruamel.Yaml__Clib"), "ruamel-yaml-clib");
        // Links that would make the downloader read this machine's files are dropped.
        let hostile = r#"<a href="file:///etc/shadow#sha256=00">x-1.0-py3-none-any.whl</a>
<a href="&#x1F;requires-dist:x.whl">y</a><a href="/ok-1.0-py3-none-any.whl#sha256=aa">ok</a>"#;
        assert!(!airgap_name("..%2F..%2Fetc%2Fx-1.0-py3-none-any.whl"));
        let kept = parse("http://127.0.0.1:9/simple/x/", hostile).unwrap();
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(kept[0].url, "http://127.0.0.1:9/ok-1.0-py3-none-any.whl");
        let json = r#"{"files":[{"filename":"x.whl","url":"file:///etc/passwd","hashes":{}}]}"#;
        assert!(
            parse("http://127.0.0.1:9/simple/x/", json)
                .unwrap()
                .is_empty()
        );
    }
}
