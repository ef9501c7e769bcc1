//! Connection limits: at most N connections at once (the rest are closed at once rather than
//! queued), each holding a permit for its lifetime, so a crowd of slow clients cannot take
//! every socket; and a send timeout, so a client that never reads what it asked for loses its
//! connection (and frees its permit) instead of holding it forever; and an idle timeout, so a
//! client that connects and sends nothing (hyper's header timeout only starts at the first
//! byte) or keeps an unused connection open loses it too. Header size and header read time are
//! limited in hyper's builder (mod.rs).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Accepts a connection only while a permit is free.
#[derive(Clone)]
pub struct LimitAcceptor {
    permits: Arc<Semaphore>,
    send_timeout: Duration,
    idle_timeout: Duration,
}

impl LimitAcceptor {
    pub fn new(connections: usize, send_timeout: Duration, idle_timeout: Duration) -> Self {
        LimitAcceptor {
            permits: Arc::new(Semaphore::new(connections)),
            send_timeout,
            idle_timeout,
        }
    }
}

impl<I, S> Accept<I, S> for LimitAcceptor
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Send + 'static,
{
    type Stream = Limited<I>;
    type Service = S;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let permit = self.permits.clone().try_acquire_owned();
        let send_timeout = self.send_timeout;
        let idle_timeout = self.idle_timeout;
        Box::pin(async move {
            match permit {
                Ok(permit) => Ok((
                    Limited {
                        inner: stream,
                        _permit: permit,
                        send_timeout,
                        stalled: None,
                        idle_timeout,
                        active: tokio::time::Instant::now(),
                        idle: None,
                    },
                    service,
                )),
                Err(_) => Err(io::Error::other("connection limit reached")),
            }
        })
    }
}

/// A stream that holds a connection permit until it is dropped, fails a write that has
/// waited longer than the send timeout for the client to read, and fails a read once no byte
/// has moved either way for the idle timeout.
pub struct Limited<I> {
    inner: I,
    _permit: OwnedSemaphorePermit,
    send_timeout: Duration,
    /// Since when writes have been waiting, when they are.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
    idle_timeout: Duration,
    /// When a byte last moved, read or written.
    active: tokio::time::Instant,
    /// The idle clock of a waiting read.
    idle: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<I> Limited<I> {
    /// A read that waits: `Pending` until the connection has been idle (nothing read nor
    /// written) for the idle timeout, then a time-out error. A response being sent keeps the
    /// connection active, however long it takes.
    fn watch_idle(&mut self, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        let deadline = self.active + self.idle_timeout;
        let clock = self
            .idle
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if clock.deadline() != deadline {
            clock.as_mut().reset(deadline);
        }
        match clock.as_mut().poll(context) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the connection is idle",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// What a write that could not go on returns: ready results pass and clear the clock;
    /// `Pending` starts it (or checks it), and turns into a time-out error once it runs out.
    fn watch<T>(
        &mut self,
        context: &mut Context<'_>,
        outcome: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match outcome {
            Poll::Ready(result) => {
                self.stalled = None;
                if result.is_ok() {
                    self.active = tokio::time::Instant::now();
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                let timeout = self.send_timeout;
                let clock = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match clock.as_mut().poll(context) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client does not read",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Limited<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buffer.filled().len();
        match Pin::new(&mut self.inner).poll_read(context, buffer) {
            Poll::Ready(Ok(())) => {
                if buffer.filled().len() > before {
                    self.active = tokio::time::Instant::now();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => self.watch_idle(context),
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Limited<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &[u8],
    ) -> Poll<io::Result<usize>> {
        let outcome = Pin::new(&mut self.inner).poll_write(context, buffer);
        self.watch(context, outcome)
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        let outcome = Pin::new(&mut self.inner).poll_flush(context);
        self.watch(context, outcome)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(context)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let outcome = Pin::new(&mut self.inner).poll_write_vectored(context, buffers);
        self.watch(context, outcome)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Raises the soft limit on open files to the hard one, as far as `connections` need (each
/// connection is a descriptor, and the tree's files are more), and says so when the hard limit
/// is too low: a server out of descriptors refuses every client, `/healthz` included.
pub fn raise_open_files(connections: usize) -> Option<String> {
    let wanted = connections.saturating_add(256) as libc::rlim_t;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur >= wanted {
            return None;
        }
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max.min(wanted),
            rlim_max: limit.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 && raised.rlim_cur >= wanted {
            return None;
        }
    }
    Some(format!(
        "--max-connections {connections} needs about {wanted} open files, but the limit is {}; raise it (`ulimit -n`, or LimitNOFILE= in a systemd unit)",
        limit.rlim_max
    ))
}
