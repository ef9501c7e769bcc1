//! `airgap serve DIR`: one read-only HTTP(S) server for the enclave. Static files under the
//! tree's prefixes, and the OCI registry API over `DIR/oci`. It never writes into `DIR`.
//!
//! Depends on `media` (the tree's layout) and leaf modules; nothing depends on it but
//! `commands`.

pub mod access;
pub mod files;
pub mod limits;
pub mod registry;
pub mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{Method, Request, Response, StatusCode};
use axum::response::IntoResponse;

use crate::printer::Printer;

/// How to serve.
pub struct ServeSettings {
    pub root: PathBuf,
    pub listen: Vec<SocketAddr>,
    pub tls: Option<tls::TlsFiles>,
    /// HTTP Basic credentials and open prefixes (`--htpasswd`, `--access`).
    pub access: Option<access::Access>,
    pub max_connections: usize,
    pub header_timeout: Duration,
    /// How long a write may wait for a client that does not read.
    pub send_timeout: Duration,
    /// How long a connection may move no byte either way before it is closed.
    pub idle_timeout: Duration,
    pub max_header_bytes: usize,
    /// The top-level folders served as plain files (the caller knows the kinds).
    pub served: Vec<&'static str>,
    pub log_format: LogFormat,
}

/// The access log's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `host - - [time] "request" status bytes "referer" "user-agent"`.
    Combined,
    /// `host - - [time] "request" status bytes`.
    Common,
    /// One JSON object per request.
    Json,
}

struct Shared {
    /// The tree served now: fixed, or a mirror's current generation.
    generation: std::sync::RwLock<Arc<Generation>>,
    /// For a mirror (`generations/` and `current`): its directory, followed on every request.
    mirror: Option<PathBuf>,
    /// Top-level entries served as files: the served folders and `files::TOP_FILES`.
    served: Vec<String>,
    printer: Printer,
    log_format: LogFormat,
    access: Option<Arc<access::Access>>,
}

/// One tree and its registry index. A request holds the one it started with to its end, so
/// no answer mixes two generations of a mirror, and an old generation's files stay until
/// `apply --prune`.
struct Generation {
    root: PathBuf,
    registry: registry::Registry,
}

impl Shared {
    /// The generation to answer from: for a mirror, the one `current` names now (loaded once
    /// when it changes: its index.json and manifests; a generation that cannot be loaded
    /// leaves the previous one served).
    async fn generation(&self) -> Arc<Generation> {
        let held = self.generation.read().unwrap().clone();
        let Some(mirror) = &self.mirror else {
            return held;
        };
        let Some(now) = crate::media::mirror::Mirror::new(mirror)
            .current()
            .and_then(|path| path.canonicalize().ok())
        else {
            return held;
        };
        if now == held.root {
            return held;
        }
        let loaded = tokio::task::spawn_blocking({
            let now = now.clone();
            move || registry::Registry::load(&now)
        })
        .await;
        match loaded {
            Ok(Ok(registry)) => {
                let generation = Arc::new(Generation {
                    root: now.clone(),
                    registry,
                });
                *self.generation.write().unwrap() = generation.clone();
                self.printer
                    .status("Serving", format!("generation {}", now.display()));
                generation
            }
            _ => held,
        }
    }
}

/// Runs until SIGTERM or Ctrl-C, then drains connections for up to 10 seconds.
/// Why the server could not start, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot serve {path}: {message}")]
    Root { path: PathBuf, message: String },
    #[error(transparent)]
    Layout(#[from] registry::LayoutError),
    #[error("cannot load the TLS configuration: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("cannot listen on {address}: {message}")]
    Listen {
        address: SocketAddr,
        message: String,
        in_use: bool,
    },
    #[error("the server stopped: {0}")]
    Stopped(String),
    #[error("the server task failed: {0}")]
    Task(String),
}

impl crate::hint::Hint for ServeError {
    fn hint(&self) -> Option<String> {
        match self {
            ServeError::Listen {
                address,
                in_use: true,
                ..
            } => Some(format!(
                "another process listens on port {port} (`ss -ltnp 'sport = :{port}'` shows which); stop it or pass another --listen port. `--listen [::]:{port}` alone already takes IPv4 clients",
                port = address.port()
            )),
            ServeError::Listen { .. } => Some(
                "pass an address of this host, e.g. --listen 127.0.0.1:8080 or --listen [::]:8080"
                    .to_string(),
            ),
            ServeError::Root { .. } => {
                Some("pass the directory `airgap materialize --to` wrote".to_string())
            }
            ServeError::Tls(_) => Some(
                "give a PEM certificate chain, its unencrypted PEM private key and, for --client-ca, the PEM CA certificates client certificates chain to"
                    .to_string(),
            ),
            _ => None,
        }
    }
}

pub async fn run(settings: ServeSettings, printer: Printer) -> Result<(), ServeError> {
    let mirror =
        crate::media::mirror::Mirror::is_mirror(&settings.root).then(|| settings.root.clone());
    let served_root = match &mirror {
        Some(mirror) => mirror.join(crate::media::mirror::CURRENT),
        None => settings.root.clone(),
    };
    let root = served_root
        .canonicalize()
        .map_err(|error| ServeError::Root {
            path: settings.root.clone(),
            message: error.to_string(),
        })?;
    let registry = registry::Registry::load(&root)?;
    let repositories = registry.repositories();
    let served = settings
        .served
        .iter()
        .chain(files::TOP_FILES.iter())
        .map(|name| name.to_string())
        .collect();
    let shared = Arc::new(Shared {
        generation: std::sync::RwLock::new(Arc::new(Generation {
            root: root.clone(),
            registry,
        })),
        mirror,
        served,
        printer: printer.clone(),
        log_format: settings.log_format,
        access: settings.access.map(Arc::new),
    });
    let access = shared.access.clone();
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(shared)
        .into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    let tls = match &settings.tls {
        Some(files) => Some(axum_server::tls_rustls::RustlsConfig::from_config(
            Arc::new(files.server_config()?),
        )),
        None => None,
    };
    if let Some(warning) = limits::raise_open_files(settings.max_connections) {
        printer.warn(warning);
    }
    let limit = limits::LimitAcceptor::new(
        settings.max_connections,
        settings.send_timeout,
        settings.idle_timeout,
    );
    // Every socket is bound before anything is served or announced: a port in use fails the
    // start with nothing printed as serving.
    let mut listeners = Vec::new();
    for address in &settings.listen {
        let listener = bind(*address, &settings.listen, settings.max_connections)?;
        listeners.push((*address, listener));
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    for (address, listener) in &listeners {
        printer.status(
            "Serving",
            format!(
                "{} on {scheme}://{}{}",
                root.display(),
                listener.local_addr().unwrap_or(*address),
                if address.ip() == std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
                    && !v6_only(address, &settings.listen)
                {
                    " (IPv4 too)"
                } else {
                    ""
                }
            ),
        );
    }
    let mut servers = Vec::new();
    for (address, listener) in listeners {
        let listen_error = |error: std::io::Error| ServeError::Listen {
            address,
            in_use: error.kind() == std::io::ErrorKind::AddrInUse,
            message: error.to_string(),
        };
        let mut server = axum_server::from_tcp(listener)
            .map_err(listen_error)?
            .handle(handle.clone());
        server
            .http_builder()
            .http1()
            .max_buf_size(settings.max_header_bytes.max(8192))
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(settings.header_timeout);
        let app = app.clone();
        let limit = limit.clone();
        let tls = tls.clone();
        servers.push(tokio::spawn(async move {
            match tls {
                Some(config) => {
                    server
                        .acceptor(
                            axum_server::tls_rustls::RustlsAcceptor::new(config).acceptor(limit),
                        )
                        .serve(app)
                        .await
                }
                None => server.acceptor(limit).serve(app).await,
            }
        }));
    }
    if !repositories.is_empty() {
        printer.detail(format!("registry mirrors: {}", repositories.join(", ")));
    }
    let shutdown = handle.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        shutdown.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    // SIGHUP: the certificates and the users again, without dropping a connection; what
    // cannot be read leaves the old in place.
    if let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    {
        let (files, config, access, printer) =
            (settings.tls.clone(), tls.clone(), access, printer.clone());
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                if let (Some(files), Some(config)) = (&files, &config) {
                    match files.server_config() {
                        Ok(fresh) => {
                            config.reload_from_config(Arc::new(fresh));
                            printer.status(
                                "Reloaded",
                                format!("TLS certificate {}", files.certificate.display()),
                            );
                        }
                        Err(error) => printer.warn(format!("kept the TLS configuration: {error}")),
                    }
                }
                if let Some(access) = &access {
                    match access.reload() {
                        Ok(users) => printer.status("Reloaded", format!("{users} users")),
                        Err(error) => printer.warn(format!("kept the users: {error}")),
                    }
                }
            }
        });
    }
    for server in servers {
        match server.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(ServeError::Stopped(error.to_string())),
            Err(error) => return Err(ServeError::Task(error.to_string())),
        }
    }
    printer.status("Stopped", "all connections drained");
    Ok(())
}

/// Whether the IPv6 socket for `address` must take IPv6 only: when an IPv4 address of the same
/// port is also listened on (`0.0.0.0:P` beside `[::]:P`). Alone, `[::]:P` takes IPv4 clients
/// too (as IPv4-mapped addresses), whatever the system's default.
fn v6_only(address: &SocketAddr, all: &[SocketAddr]) -> bool {
    all.iter()
        .any(|other| other.is_ipv4() && other.port() == address.port())
}

/// A listening socket for `address`, with a backlog as deep as the connections allowed: the
/// default of 128 drops the SYNs of a burst (a thousand nodes pulling at once), and each waits
/// a second to retry.
fn bind(
    address: SocketAddr,
    all: &[SocketAddr],
    max_connections: usize,
) -> Result<std::net::TcpListener, ServeError> {
    let listen_error = |error: std::io::Error| ServeError::Listen {
        address,
        in_use: error.kind() == std::io::ErrorKind::AddrInUse,
        message: error.to_string(),
    };
    let domain = if address.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))
        .map_err(listen_error)?;
    if address.is_ipv6() {
        socket
            .set_only_v6(v6_only(&address, all))
            .map_err(listen_error)?;
    }
    socket.set_reuse_address(true).map_err(listen_error)?;
    socket.bind(&address.into()).map_err(listen_error)?;
    let backlog = max_connections.clamp(128, 4096) as i32;
    socket.listen(backlog).map_err(listen_error)?;
    socket.set_nonblocking(true).map_err(listen_error)?;
    Ok(socket.into())
}

async fn wait_for_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response<Body> {
    let started = Instant::now();
    let method = request.method().clone();
    let uri = request.uri().clone();
    let version = request.version();
    let (referer, agent) = {
        let header = |name: axum::http::header::HeaderName| {
            request
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("-")
                .to_string()
        };
        (
            header(axum::http::header::REFERER),
            header(axum::http::header::USER_AGENT),
        )
    };
    let response = route(&shared, peer, request).await;
    let length = response
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let entry = AccessEntry {
        client: peer.ip().to_canonical(),
        time: chrono::Utc::now(),
        request: format!("{method} {uri} {version:?}"),
        status: response.status().as_u16(),
        length,
        referer,
        agent,
        milliseconds: started.elapsed().as_secs_f64() * 1000.0,
    };
    shared
        .printer
        .result_stderr(entry.render(shared.log_format));
    response
}

/// One line of the access log.
struct AccessEntry {
    /// The client, IPv4-mapped addresses shown as IPv4.
    client: std::net::IpAddr,
    time: chrono::DateTime<chrono::Utc>,
    request: String,
    status: u16,
    length: String,
    referer: String,
    agent: String,
    milliseconds: f64,
}

impl AccessEntry {
    fn render(&self, format: LogFormat) -> String {
        // The request line and headers come from the client: escaped so a line stays one line.
        let quoted = |text: &str| text.escape_default().to_string();
        let common = format!(
            "{} - - [{}] \"{}\" {} {}",
            self.client,
            self.time.format("%d/%b/%Y:%H:%M:%S %z"),
            quoted(&self.request),
            self.status,
            self.length
        );
        match format {
            LogFormat::Common => common,
            LogFormat::Combined => format!(
                "{common} \"{}\" \"{}\"",
                quoted(&self.referer),
                quoted(&self.agent)
            ),
            LogFormat::Json => serde_json::json!({
                "time": self.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "client": self.client.to_string(),
                "request": self.request,
                "status": self.status,
                "bytes": self.length.parse::<u64>().ok(),
                "referer": (self.referer != "-").then_some(&self.referer),
                "user_agent": (self.agent != "-").then_some(&self.agent),
                "duration_ms": (self.milliseconds * 10.0).round() / 10.0,
            })
            .to_string(),
        }
    }
}

async fn route(shared: &Shared, peer: SocketAddr, request: Request<Body>) -> Response<Body> {
    let path = request.uri().path().to_string();
    if let Some(access) = &shared.access
        && access.guards(&path)
    {
        let client = peer.ip().to_canonical();
        let authorization = request
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        match access.check(client, authorization).await {
            access::Decision::Allow(_) => {}
            refused => {
                if authorization.is_some() {
                    shared.printer.warn(format!(
                        "{client}: credentials refused{} ({} failures in the last minute)",
                        access::user_of(authorization)
                            .map(|user| format!(" for user `{user}`"))
                            .unwrap_or_default(),
                        access.failures(client)
                    ));
                }
                return refusal(&path, refused);
            }
        }
    }
    if path == "/v2" || path.starts_with("/v2/") {
        return shared.generation().await.registry.handle(request).await;
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, "this server is read-only\n").into_response();
    }
    if path == "/healthz" {
        return files::plain(StatusCode::OK, "ok\n");
    }
    let generation = shared.generation().await;
    match files::resolve(&generation.root, &shared.served, &path) {
        Ok(resolved) => files::serve(&generation.root, &shared.served, resolved, request).await,
        Err(files::Refusal::BadRequest) => files::plain(StatusCode::BAD_REQUEST, "bad request\n"),
        Err(files::Refusal::NotFound) => files::plain(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// The answer to a request without acceptable credentials: 401 with a Basic challenge (as
/// distribution answers, so container clients send their configured credentials), or 429.
fn refusal(path: &str, decision: access::Decision) -> Response<Body> {
    let registry = path == "/v2" || path.starts_with("/v2/");
    let (status, code, message, retry) = match decision {
        access::Decision::Throttled(seconds) => (
            StatusCode::TOO_MANY_REQUESTS,
            "TOOMANYREQUESTS",
            "too many failed attempts from this address; wait and try again with the right credentials",
            Some(seconds),
        ),
        _ => (
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "authentication required: this server takes HTTP Basic credentials",
            None,
        ),
    };
    let mut builder = Response::builder().status(status).header(
        axum::http::header::WWW_AUTHENTICATE,
        format!("Basic realm=\"{}\"", access::REALM),
    );
    if let Some(seconds) = retry {
        builder = builder.header(axum::http::header::RETRY_AFTER, seconds.to_string());
    }
    let body = if registry {
        builder = builder
            .header(axum::http::header::CONTENT_TYPE, "application/json")
            .header("Docker-Distribution-API-Version", "registry/2.0");
        serde_json::json!({"errors": [{"code": code, "message": message}]}).to_string()
    } else {
        builder = builder.header(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        );
        format!("{message}\n")
    };
    builder
        .body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// Whether `root` looks like a media tree, or a mirror of them (its `current` generation).
pub fn is_media(root: &Path) -> bool {
    root.join("SHA256SUMS").is_file()
        || root.join("airgap.lock").is_file()
        || crate::media::mirror::Mirror::is_mirror(root)
}
