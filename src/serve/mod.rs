//! `airgap serve DIR`: one read-only HTTP(S) server for the enclave. Static files under the
//! tree's prefixes, and the OCI registry API over `DIR/oci`. It never writes into `DIR`.
//!
//! Depends on `media` (the tree's layout) and leaf modules; nothing depends on it but
//! `commands`.

pub mod files;
pub mod limits;
pub mod registry;

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
    pub tls: Option<(PathBuf, PathBuf)>,
    pub max_connections: usize,
    pub header_timeout: Duration,
    /// How long a write may wait for a client that does not read.
    pub send_timeout: Duration,
    /// How long a connection may move no byte either way before it is closed.
    pub idle_timeout: Duration,
    pub max_header_bytes: usize,
    /// The top-level folders served as plain files (the caller knows the kinds).
    pub served: Vec<&'static str>,
}

struct Shared {
    /// The tree served now: fixed, or a mirror's current generation.
    generation: std::sync::RwLock<Arc<Generation>>,
    /// For a mirror (`generations/` and `current`): its directory, followed on every request.
    mirror: Option<PathBuf>,
    /// Top-level entries served as files: the served folders and `files::TOP_FILES`.
    served: Vec<String>,
    printer: Printer,
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
    #[error("cannot load the TLS certificate {certificate} and key {key}: {message}")]
    Tls {
        certificate: PathBuf,
        key: PathBuf,
        message: String,
    },
    #[error("cannot listen on {address}: {message}")]
    Listen {
        address: SocketAddr,
        message: String,
    },
    #[error("the server stopped: {0}")]
    Stopped(String),
    #[error("the server task failed: {0}")]
    Task(String),
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
    });
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(shared)
        .into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    let tls = match &settings.tls {
        Some((certificate, key)) => Some(
            axum_server::tls_rustls::RustlsConfig::from_pem_file(certificate, key)
                .await
                .map_err(|error| ServeError::Tls {
                    certificate: certificate.clone(),
                    key: key.clone(),
                    message: error.to_string(),
                })?,
        ),
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
    let mut servers = Vec::new();
    for address in &settings.listen {
        let listen_error = |error: std::io::Error| ServeError::Listen {
            address: *address,
            message: error.to_string(),
        };
        // A backlog as deep as the connections allowed: std's default of 128 drops the SYNs
        // of a burst (a thousand nodes pulling at once), and each waits a second to retry.
        let socket = if address.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
        .map_err(listen_error)?;
        socket.set_reuseaddr(true).map_err(listen_error)?;
        socket.bind(*address).map_err(listen_error)?;
        let backlog = settings.max_connections.clamp(128, 4096) as u32;
        let listener = socket
            .listen(backlog)
            .and_then(|listener| listener.into_std())
            .map_err(listen_error)?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        printer.status(
            "Serving",
            format!(
                "{} on {scheme}://{}",
                root.display(),
                listener.local_addr().unwrap_or(*address)
            ),
        );
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
    let response = route(&shared, request).await;
    let length = response
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-")
        .to_string();
    shared.printer.result_stderr(format!(
        "{peer} {method} {uri} {} {length} {:.1}ms",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    ));
    response
}

async fn route(shared: &Shared, request: Request<Body>) -> Response<Body> {
    let path = request.uri().path().to_string();
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

/// Whether `root` looks like a media tree, or a mirror of them (its `current` generation).
pub fn is_media(root: &Path) -> bool {
    root.join("SHA256SUMS").is_file()
        || root.join("airgap.lock").is_file()
        || crate::media::mirror::Mirror::is_mirror(root)
}
