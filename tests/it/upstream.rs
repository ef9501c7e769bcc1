//! A small HTTP/1.1 file server on 127.0.0.1 that the tests control, so that it can also
//! misbehave: answer 503, drop the connection mid-body, serve a wrong byte, trickle slowly,
//! ignore `Range`. It logs every request. It also answers proxy-style absolute-form requests,
//! which lets a test use it as `HTTP_PROXY`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A misbehaviour for one path.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer this status the next `times` requests (with `Retry-After: 0`).
    Status { status: u16, times: u32 },
    /// Send the headers and only `bytes` of the body, then close; the next `times` requests.
    DropAfter { bytes: usize, times: u32 },
    /// Flip the byte at `offset` in every response.
    Corrupt { offset: usize },
    /// Send the body in `chunk`-byte pieces with `pause` in between.
    Slow { chunk: usize, pause: Duration },
    /// Answer `307` with this `Location` (object storage, as registries do for blobs).
    Redirect { location: String },
    /// Answer 200 without a length and send bytes without end (capped at 1 GiB, so that a
    /// test against a client that never stops still ends).
    Endless,
    /// Ignore `Range`, send the whole body from the start, close after `bytes`: every time.
    IgnoreRangeAndDrop { bytes: usize },
}

/// One logged request.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    pub proxied: bool,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    faults: HashMap<String, Fault>,
    log: Vec<Request>,
    /// When set, paths below /v2/ need `Authorization: Bearer <token>`, and /token hands it
    /// out (the registry token flow).
    bearer: Option<String>,
    content_types: HashMap<String, String>,
}

/// A running upstream; stops when dropped (the listener thread is detached).
pub struct Upstream {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl Upstream {
    pub fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &shared);
                });
            }
        });
        Upstream { port, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn put(&self, path: &str, bytes: impl Into<Vec<u8>>) {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(normalize(path), bytes.into());
    }

    /// The bytes served at `path`.
    pub fn body(&self, path: &str) -> Vec<u8> {
        self.state
            .lock()
            .unwrap()
            .files
            .get(&normalize(path))
            .cloned()
            .unwrap_or_default()
    }

    pub fn fault(&self, path: &str, fault: Fault) {
        self.state
            .lock()
            .unwrap()
            .faults
            .insert(normalize(path), fault);
    }

    /// Requires the bearer token flow for /v2/ (realm: this server's /token).
    pub fn require_bearer(&self, token: &str) {
        self.state.lock().unwrap().bearer = Some(token.to_string());
    }

    /// Serves `path` with a `Content-Type` header.
    pub fn content_type(&self, path: &str, value: &str) {
        self.state
            .lock()
            .unwrap()
            .content_types
            .insert(normalize(path), value.to_string());
    }

    pub fn clear_faults(&self) {
        self.state.lock().unwrap().faults.clear();
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().log.clone()
    }

    pub fn clear_log(&self) {
        self.state.lock().unwrap().log.clear();
    }
}

fn normalize(path: &str) -> String {
    format!("/{}", path.trim_start_matches('/'))
}

fn serve(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut stream = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("/").to_string();
        let mut range = None;
        let mut authorization = None;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 {
                return Ok(());
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("range")
            {
                range = Some(value.trim().to_string());
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("authorization")
            {
                authorization = Some(value.trim().to_string());
            }
        }
        // Absolute-form targets come from clients that use this server as a proxy.
        let proxied = target.starts_with("http://");
        let path = if proxied {
            let without_scheme = &target["http://".len()..];
            without_scheme
                .find('/')
                .map_or("/".to_string(), |index| without_scheme[index..].to_string())
        } else {
            target.clone()
        };
        // Request paths are percent-encoded (apt sends `%253a` for a file named `1%3a...`).
        let path = percent_encoding::percent_decode_str(&path)
            .decode_utf8_lossy()
            .into_owned();
        let (body, fault, content_type, denied) = {
            let mut state = state.lock().unwrap();
            state.log.push(Request {
                method: method.clone(),
                path: path.clone(),
                range: range.clone(),
                proxied,
                authorization: authorization.clone(),
            });
            let denied = match &state.bearer {
                Some(token) if path.starts_with("/v2/") => {
                    authorization.as_deref() != Some(format!("Bearer {token}").as_str())
                }
                _ => false,
            };
            if path.starts_with("/token")
                && !state.faults.contains_key("/token")
                && let Some(token) = &state.bearer
            {
                let body = format!("{{\"token\":\"{token}\"}}");
                write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )?;
                continue;
            }
            let fault = match state.faults.get_mut(&path) {
                Some(Fault::Status { status, times }) if *times > 0 => {
                    *times -= 1;
                    Some(Fault::Status {
                        status: *status,
                        times: 0,
                    })
                }
                Some(Fault::DropAfter { bytes, times }) if *times > 0 => {
                    *times -= 1;
                    Some(Fault::DropAfter {
                        bytes: *bytes,
                        times: 0,
                    })
                }
                Some(Fault::Status { .. }) | Some(Fault::DropAfter { .. }) => None,
                other => other.cloned(),
            };
            (
                state.files.get(&path).cloned(),
                fault,
                state.content_types.get(&path).cloned(),
                denied,
            )
        };
        if let Some(Fault::Redirect { location }) = &fault {
            write!(
                stream,
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
            )?;
            continue;
        }
        if denied {
            let port = stream.local_addr()?.port();
            write!(
                stream,
                "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nWWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"test-registry\"\r\n\r\n"
            )?;
            continue;
        }
        if let Some(Fault::Endless) = fault {
            stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")?;
            let block = vec![b'z'; 1 << 20];
            for _ in 0..1024 {
                if stream.write_all(&block).is_err() {
                    break;
                }
            }
            let _ = stream.shutdown(Shutdown::Both);
            return Ok(());
        }
        if let Some(Fault::IgnoreRangeAndDrop { bytes }) = fault
            && let Some(body) = &body
        {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )?;
            stream.write_all(&body[..bytes.min(body.len())])?;
            stream.flush()?;
            let _ = stream.shutdown(Shutdown::Both);
            return Ok(());
        }
        if let Some(Fault::Status { status, .. }) = fault {
            write!(
                stream,
                "HTTP/1.1 {status} Injected\r\nContent-Length: 0\r\nRetry-After: 0\r\nConnection: keep-alive\r\n\r\n"
            )?;
            continue;
        }
        let Some(mut body) = body else {
            write!(
                stream,
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
            )?;
            continue;
        };
        if let Some(Fault::Corrupt { offset }) = fault
            && offset < body.len()
        {
            body[offset] ^= 0xff;
        }
        let total = body.len();
        let start = range
            .as_deref()
            .and_then(|value| value.strip_prefix("bytes="))
            .and_then(|value| value.strip_suffix('-'))
            .and_then(|value| value.parse::<usize>().ok());
        let (status, slice) = match start {
            Some(start) if start >= total => {
                write!(
                    stream,
                    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{total}\r\nContent-Length: 0\r\n\r\n"
                )?;
                continue;
            }
            Some(start) => ("206 Partial Content", &body[start..]),
            None => ("200 OK", &body[..]),
        };
        let mut head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n",
            slice.len()
        );
        if let Some(content_type) = &content_type {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        if let Some(start) = start {
            head.push_str(&format!(
                "Content-Range: bytes {start}-{}/{total}\r\n",
                total - 1
            ));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        if method == "HEAD" {
            continue;
        }
        match fault {
            Some(Fault::DropAfter { bytes, .. }) => {
                stream.write_all(&slice[..bytes.min(slice.len())])?;
                stream.flush()?;
                let _ = stream.shutdown(Shutdown::Both);
                return Ok(());
            }
            Some(Fault::Slow { chunk, pause }) => {
                for piece in slice.chunks(chunk.max(1)) {
                    stream.write_all(piece)?;
                    stream.flush()?;
                    std::thread::sleep(pause);
                }
            }
            _ => stream.write_all(slice)?,
        }
        stream.flush()?;
    }
}
