//! The one HTTP client of the tool: rustls, proxies from `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`,
//! an optional extra CA bundle (corporate TLS inspection), timeouts and the retry policy.
//! Every network access goes through here, so tests can point it at a local server.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Settings for the client.
#[derive(Debug, Clone, Default)]
pub struct HttpSettings {
    /// PEM bundle of extra trusted CA certificates.
    pub ca_bundle: Option<PathBuf>,
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    #[error("cannot read the CA bundle {path}: {cause}")]
    ReadBundle {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path} is not a PEM bundle of certificates: {message}")]
    BadBundle { path: PathBuf, message: String },
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

/// Builds the shared client. Proxies come from the environment (reqwest's default).
pub fn client(settings: &HttpSettings) -> Result<reqwest::Client, HttpSetupError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("airgap/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(60))
        // Redirects to other hosts (object storage) are followed; reqwest drops the
        // Authorization header when the host changes.
        .redirect(reqwest::redirect::Policy::limited(10));
    if let Some(path) = &settings.ca_bundle {
        builder = builder.tls_certs_merge(read_bundle(path)?);
    }
    builder
        .build()
        .map_err(|error| HttpSetupError::Client(error.to_string()))
}

fn read_bundle(path: &Path) -> Result<Vec<reqwest::Certificate>, HttpSetupError> {
    let bytes = std::fs::read(path).map_err(|source| HttpSetupError::ReadBundle {
        path: path.to_path_buf(),
        cause: source,
    })?;
    let certificates = reqwest::Certificate::from_pem_bundle(&bytes).map_err(|error| {
        HttpSetupError::BadBundle {
            path: path.to_path_buf(),
            message: error.to_string(),
        }
    })?;
    if certificates.is_empty() {
        return Err(HttpSetupError::BadBundle {
            path: path.to_path_buf(),
            message: "no certificate found".to_string(),
        });
    }
    Ok(certificates)
}

/// How often and how patiently transient failures are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Consecutive failed attempts (without any progress) before giving up.
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The pause before retry number `failures` (1-based), or what `Retry-After` asked for.
    pub fn delay(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(asked) = retry_after {
            return asked.min(self.max_delay);
        }
        let factor = 2u32.saturating_pow(failures.saturating_sub(1));
        (self.base_delay * factor).min(self.max_delay)
    }
}

/// Whether a status is worth retrying.
pub fn is_transient(status: reqwest::StatusCode) -> bool {
    status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
}

/// `Retry-After` in seconds (the HTTP-date form is treated as absent).
pub fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Whether a transport error (as rendered by [`error_chain`]) is a TLS certificate problem,
/// which no retry can fix.
pub fn is_certificate_error(chain: &str) -> bool {
    chain.contains("certificate")
}

/// Whether a transport error cannot be fixed by trying again: a certificate the client does
/// not trust, or a name that does not exist (NXDOMAIN). A temporary resolver failure
/// ("Temporary failure in name resolution") is retried.
pub fn is_permanent(chain: &str) -> bool {
    is_certificate_error(chain)
        || chain.contains("Name or service not known")
        || chain.contains("No address associated with hostname")
        || chain.contains("nodename nor servname provided")
}

/// The full chain of an error, which reqwest hides behind "error sending request".
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = without_url(&error.to_string());
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// reqwest's text without its ` for url (...)`: the messages that show a transfer's error name
/// the URL once themselves.
fn without_url(text: &str) -> String {
    match text.find(" for url (") {
        Some(start) => match text[start..].find(')') {
            Some(end) => format!("{}{}", &text[..start], &text[start + end + 1..]),
            None => text.to_string(),
        },
        None => text.to_string(),
    }
}

impl crate::hint::Hint for HttpSetupError {
    fn hint(&self) -> Option<String> {
        match self {
            HttpSetupError::BadBundle { .. } => {
                Some("pass a file with one or more -----BEGIN CERTIFICATE----- blocks".to_string())
            }
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}
