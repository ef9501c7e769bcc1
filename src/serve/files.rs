//! The static part of the tree: `GET`/`HEAD` of files under the served prefixes, with
//! `Content-Length`, `Content-Type`, `ETag`, `Last-Modified`, conditional requests and single
//! ranges (tower-http's `ServeFile`), multiple ranges as `multipart/byteranges`, and an HTML
//! listing for directories. Every path is checked before anything is opened: decoded once,
//! no `..`, no NUL or backslash, and its canonical form must stay inside the tree, so neither
//! encoded traversal nor a symlink can reach outside.

use std::path::{Component, Path, PathBuf};

use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tower::ServiceExt;
use tower_http::services::ServeFile;

/// The top-level files of a tree that are served beside the served folders.
pub const TOP_FILES: [&str; 3] = [
    crate::media::sums::SUMS,
    crate::media::sums::SIGNATURE,
    crate::media::tree::LOCK,
];

/// Whether `path` is a regular file itself: not a symlink (which may lead out of the tree),
/// not a FIFO, socket or device (a read of which may never end).
pub fn is_regular(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|metadata| metadata.file_type().is_file())
}

/// Why a path is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed: bad encoding, NUL, backslash, `..`.
    BadRequest,
    /// Outside the served prefixes, missing, or leaving the tree through a symlink.
    NotFound,
}

/// Decodes a raw request path into a relative path of normal components, or refuses it:
/// percent-decoded once, valid UTF-8, no NUL or backslash, no `..`. Touches nothing on disk.
pub fn decode(raw: &str) -> Result<PathBuf, Refusal> {
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| Refusal::BadRequest)?;
    if decoded.contains(['\0', '\\']) {
        return Err(Refusal::BadRequest);
    }
    let mut relative = PathBuf::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return Err(Refusal::BadRequest),
            segment => relative.push(segment),
        }
    }
    if relative
        .components()
        .any(|component| !matches!(component, Component::Normal(_)))
    {
        return Err(Refusal::BadRequest);
    }
    Ok(relative)
}

/// Maps a raw request path to a file or directory inside `root` (canonical), or refuses it.
/// `served` are the top-level entries served as files: the folders the caller names (the
/// kinds' and the configuration's) and [`TOP_FILES`].
pub fn resolve(root: &Path, served: &[String], raw: &str) -> Result<PathBuf, Refusal> {
    let relative = decode(raw)?;
    if let Some(first) = relative.components().next() {
        let first = first.as_os_str().to_string_lossy();
        if !served.iter().any(|name| **name == *first) {
            return Err(Refusal::NotFound);
        }
    }
    let candidate = root.join(&relative);
    let canonical = candidate.canonicalize().map_err(|_| Refusal::NotFound)?;
    if !canonical.starts_with(root) {
        return Err(Refusal::NotFound);
    }
    // Only files and directories: a FIFO, socket or device in the tree would hang or leak.
    let kind = std::fs::metadata(&canonical).map_err(|_| Refusal::NotFound)?;
    if !kind.is_file() && !kind.is_dir() {
        return Err(Refusal::NotFound);
    }
    Ok(canonical)
}

/// Serves a resolved path.
pub async fn serve(
    root: &Path,
    served: &[String],
    path: PathBuf,
    request: Request<Body>,
) -> Response<Body> {
    // A directory is its `index.html` when it has one (a static PEP 503 index's project
    // pages), as web servers do; otherwise a listing.
    let path = if path.is_dir() {
        let index = path.join("index.html");
        if request.uri().path().ends_with('/')
            && std::fs::symlink_metadata(&index).is_ok_and(|metadata| metadata.is_file())
        {
            index
        } else {
            return listing(root, served, &path, request.uri().path());
        }
    } else {
        path
    };
    if let Some(ranges) = multiple_ranges(&request) {
        return multipart(&path, &ranges).await;
    }
    if is_plain_get(&request)
        && let Some(response) = whole_file(&path, None).await
    {
        return response;
    }
    // Large reads: each chunk is one trip to the blocking pool.
    match ServeFile::new(&path)
        .with_buf_chunk_size(1 << 20)
        .oneshot(request)
        .await
    {
        Ok(response) => response.map(Body::new),
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "cannot read the file\n"),
    }
}

/// The common case, a plain `GET` of a whole file, answered from a read-only memory map:
/// the kernel copies page-cache pages straight to the socket, with no read into a buffer of
/// ours (the closest to `sendfile` that hyper's body model allows). Headers are the ones
/// `ServeFile` sends for the same file (same `ETag` format), so conditional and range requests
/// that follow, which take the `ServeFile` path, agree with it. The tree is read-only media:
/// nothing truncates a mapped file under the server.
pub async fn whole_file(path: &Path, content_type: Option<&str>) -> Option<Response<Body>> {
    let path = path.to_path_buf();
    let mapped = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path).ok()?;
        let metadata = file.metadata().ok()?;
        if !metadata.is_file() || metadata.len() == 0 {
            return None;
        }
        // SAFETY: the map is read-only and the served tree is never written while served.
        let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
        Some((map, metadata, path))
    })
    .await
    .ok()??;
    let (map, metadata, path) = mapped;
    let modified = metadata.modified().ok()?;
    let since_epoch = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    let etag = format!(
        "\"{:x}.{:08x}-{:x}\"",
        since_epoch.as_secs(),
        since_epoch.subsec_nanos(),
        metadata.len()
    );
    let guessed = mime_guess::from_path(&path).first_or_octet_stream();
    let mime = content_type.unwrap_or(guessed.as_ref());
    let mut response = Response::new(Body::from(bytes::Bytes::from_owner(map)));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(mime).ok()?);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(metadata.len()));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        header::LAST_MODIFIED,
        HeaderValue::from_str(&httpdate::fmt_http_date(modified)).ok()?,
    );
    headers.insert(header::ETAG, HeaderValue::from_str(&etag).ok()?);
    Some(response)
}

/// A `GET` without ranges or conditions.
pub fn is_plain_get(request: &Request<Body>) -> bool {
    let conditional = [
        header::RANGE,
        header::IF_MATCH,
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
        header::IF_UNMODIFIED_SINCE,
        header::IF_RANGE,
    ];
    request.method() == axum::http::Method::GET
        && !conditional
            .iter()
            .any(|name| request.headers().contains_key(name))
}

/// A small text response.
pub fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(text.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn listing(root: &Path, served: &[String], directory: &Path, request_path: &str) -> Response<Body> {
    let mut names: Vec<(String, bool)> = std::fs::read_dir(directory)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| {
                    (
                        entry.file_name().to_string_lossy().into_owned(),
                        entry.path().is_dir(),
                    )
                })
                .filter(|(name, _)| directory != root || served.contains(name))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let base = if request_path.ends_with('/') {
        request_path.to_string()
    } else {
        format!("{request_path}/")
    };
    let mut html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{0}</title></head><body>\n<h1>{0}</h1>\n<ul>\n",
        escape(&base)
    );
    if directory != root {
        html.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for (name, is_directory) in names {
        let shown = if is_directory {
            format!("{name}/")
        } else {
            name.clone()
        };
        let link = percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
        let link = if is_directory {
            format!("{link}/")
        } else {
            link
        };
        html.push_str(&format!(
            "<li><a href=\"{base}{link}\">{}</a></li>\n",
            escape(&shown)
        ));
    }
    html.push_str("</ul>\n</body></html>\n");
    let mut response = Response::new(Body::from(html));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One range of a `Range` header: (first byte, last byte), or (None, suffix length).
pub type RangeSpec = (Option<u64>, Option<u64>);

/// `Range: bytes=a-b,c-d` with two or more ranges (start, optional end, or suffix length).
fn multiple_ranges(request: &Request<Body>) -> Option<Vec<RangeSpec>> {
    let value = request.headers().get(header::RANGE)?.to_str().ok()?;
    parse_ranges(value).filter(|ranges| ranges.len() > 1)
}

/// Parses a `Range` header's value (`bytes=a-b,c-,-n`); `None` when it is malformed.
pub fn parse_ranges(value: &str) -> Option<Vec<RangeSpec>> {
    let specs = value.trim().strip_prefix("bytes=")?;
    specs
        .split(',')
        .map(|spec| {
            let (start, end) = spec.trim().split_once('-')?;
            let start = if start.is_empty() {
                None
            } else {
                Some(start.trim().parse().ok()?)
            };
            let end = if end.is_empty() {
                None
            } else {
                Some(end.trim().parse().ok()?)
            };
            if start.is_none() && end.is_none() {
                return None;
            }
            Some((start, end))
        })
        .collect()
}

/// The byte ranges of a file of `length` bytes that `ranges` ask for, as (first, last), each
/// inside the file; unsatisfiable ones are left out.
pub fn satisfiable(ranges: &[RangeSpec], length: u64) -> Vec<(u64, u64)> {
    let mut resolved = Vec::new();
    for range in ranges {
        let (start, end) = match *range {
            (Some(start), end) => (
                start,
                end.unwrap_or(length.saturating_sub(1))
                    .min(length.saturating_sub(1)),
            ),
            (None, Some(suffix)) => (length.saturating_sub(suffix), length.saturating_sub(1)),
            (None, None) => continue,
        };
        if start < length && start <= end {
            resolved.push((start, end));
        }
    }
    resolved
}

/// What is left to send of a multipart answer.
struct Parts {
    file: tokio::fs::File,
    parts: std::collections::VecDeque<(u64, u64)>,
    /// The range being sent: the next byte, and the last.
    current: Option<(u64, u64)>,
    closed: bool,
    length: u64,
}

/// The most ranges one request may ask for.
const MAX_RANGES: usize = 16;

async fn multipart(path: &Path, ranges: &[RangeSpec]) -> Response<Body> {
    if ranges.len() > MAX_RANGES {
        return plain(StatusCode::RANGE_NOT_SATISFIABLE, "too many ranges\n");
    }
    let Ok(file) = tokio::fs::File::open(path).await else {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    let length = file
        .metadata()
        .await
        .map(|metadata| metadata.len())
        .unwrap_or(0);
    let resolved = satisfiable(ranges, length);
    let total: u64 = resolved.iter().map(|(start, end)| end - start + 1).sum();
    if resolved.is_empty() || total > 64 << 20 {
        let mut response = plain(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable\n");
        if let Ok(value) = HeaderValue::from_str(&format!("bytes */{length}")) {
            response.headers_mut().insert(header::CONTENT_RANGE, value);
        }
        return response;
    }
    // The parts are streamed from the file, 64 KiB at a time: a request for many large ranges
    // holds no more memory than one for a single one.
    let boundary = "airgap-byteranges";
    let state = Parts {
        file,
        parts: resolved.into_iter().collect(),
        current: None,
        closed: false,
        length,
    };
    let stream = futures_util::stream::unfold(state, move |mut state| async move {
        if let Some((position, end)) = state.current {
            let wanted = (end - position + 1).min(64 << 10) as usize;
            let mut chunk = vec![0u8; wanted];
            if let Err(error) = state.file.read_exact(&mut chunk).await {
                return Some((
                    Err(error),
                    Parts {
                        closed: true,
                        parts: Default::default(),
                        current: None,
                        ..state
                    },
                ));
            }
            let next = position + wanted as u64;
            if next > end {
                state.current = None;
                chunk.extend_from_slice(b"\r\n");
            } else {
                state.current = Some((next, end));
            }
            return Some((Ok(bytes::Bytes::from(chunk)), state));
        }
        match state.parts.pop_front() {
            Some((start, end)) => {
                if let Err(error) = state.file.seek(std::io::SeekFrom::Start(start)).await {
                    return Some((
                        Err(error),
                        Parts {
                            closed: true,
                            parts: Default::default(),
                            current: None,
                            ..state
                        },
                    ));
                }
                state.current = Some((start, end));
                let head = format!(
                    "--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {start}-{end}/{}\r\n\r\n",
                    state.length
                );
                Some((Ok(bytes::Bytes::from(head)), state))
            }
            None if !state.closed => {
                state.closed = true;
                Some((Ok(bytes::Bytes::from(format!("--{boundary}--\r\n"))), state))
            }
            None => None,
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    if let Ok(value) = HeaderValue::from_str(&format!("multipart/byteranges; boundary={boundary}"))
    {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served() -> Vec<String> {
        ["files", "apt", "yum", "charts", "git", "keys", "config"]
            .into_iter()
            .chain(TOP_FILES)
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn traversal_is_refused() {
        let root = std::env::temp_dir().canonicalize().unwrap();
        for raw in [
            "/files/../etc/passwd",
            "/files/%2e%2e/x",
            "/files/a%00b",
            "/files/a%5cb",
            "/files/%ff",
        ] {
            assert_eq!(
                resolve(&root, &served(), raw),
                Err(Refusal::BadRequest),
                "{raw}"
            );
        }
        assert_eq!(
            resolve(&root, &served(), "/oci/index.json"),
            Err(Refusal::NotFound)
        );
        assert_eq!(
            resolve(&root, &served(), "/etc/passwd"),
            Err(Refusal::NotFound)
        );
    }
}
