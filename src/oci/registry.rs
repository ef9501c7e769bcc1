//! The pull side of the OCI distribution API over the one HTTP client: finding the scheme
//! (plain HTTP only for loopback registries or ones declared `insecure`), the auth challenge,
//! credentials from the docker config (`auths`, `credHelpers`, `credsStore`), bearer tokens
//! per repository, and manifests as raw bytes. Blobs go through the downloader, with the
//! `Authorization` header this module provides. Credentials never leave this module except
//! as that header: not into the lock, the media or any message.

use std::collections::HashMap;

use base64::Engine as _;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use tokio::sync::Mutex;

use crate::digest::Digest;
use crate::http;
use crate::oci::manifest;
use crate::oci::reference::Reference;
use crate::printer::Printer;

/// Why a registry request failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{registry}: cannot reach the registry at {url}: {message}")]
    Unreachable {
        registry: String,
        url: String,
        message: String,
    },
    #[error("{reference}: the registry refused access ({status})")]
    Denied {
        reference: String,
        status: StatusCode,
        hint: String,
    },
    #[error("{reference}: {url} answered {status}")]
    Status {
        reference: String,
        url: String,
        status: StatusCode,
        hint: &'static str,
    },
    #[error("{reference}: the manifest {detail}")]
    BadManifest { reference: String, detail: String },
    #[error(
        "{reference}: the registry sent a manifest whose digest is {actual}, but {expected} was asked for"
    )]
    DigestMismatch {
        reference: String,
        expected: Digest,
        actual: Digest,
    },
}

/// How a registry wants to be authenticated.
#[derive(Debug, Clone)]
enum Challenge {
    None,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

#[derive(Clone)]
enum Credential {
    Basic { username: String, password: String },
    IdentityToken(String),
}

#[derive(Clone)]
struct Host {
    /// `https://host` or `http://host`.
    base: String,
    challenge: Challenge,
    credential: Option<Credential>,
}

/// A raw manifest as the registry sent it.
#[derive(Debug, Clone)]
pub struct RawManifest {
    pub bytes: Vec<u8>,
    pub digest: Digest,
    pub content_type: Option<String>,
}

/// The registry client, shared by all images of a run.
pub struct Registry {
    client: reqwest::Client,
    printer: Printer,
    /// How transient failures are retried (`settings.retry`).
    retry: http::RetryPolicy,
    /// Every request's deadline: the grace, plus its body's cap at the minimum rate.
    pace: crate::limits::Pace,
    hosts: Mutex<HashMap<String, Host>>,
    tokens: Mutex<HashMap<(String, String), String>>,
}

impl Registry {
    pub fn new(
        client: reqwest::Client,
        printer: Printer,
        retry: http::RetryPolicy,
        pace: crate::limits::Pace,
    ) -> Registry {
        Registry {
            client,
            printer,
            retry,
            pace,
            hosts: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// A GET whose whole exchange, body included, must end within the pace's deadline for a
    /// body of `cap` bytes: a token service or registry that trickles its answer is given up.
    fn get(&self, url: &str, cap: u64) -> reqwest::RequestBuilder {
        self.client
            .get(url)
            .timeout(self.pace.start().remaining(cap))
    }

    /// The base URL and auth scheme of the reference's registry, discovered once per run.
    async fn host(&self, reference: &Reference, insecure: bool) -> Result<Host, RegistryError> {
        let mut hosts = self.hosts.lock().await;
        if let Some(host) = hosts.get(&reference.registry) {
            return Ok(host.clone());
        }
        let schemes: &[&str] = if insecure {
            &["http"]
        } else if reference.is_loopback() {
            // As Docker does: loopback registries may speak plain HTTP.
            &["https", "http"]
        } else {
            &["https"]
        };
        let mut last_error = String::new();
        let mut found = None;
        for scheme in schemes {
            let url = format!("{scheme}://{}/v2/", reference.api_host());
            match self.get(&url, crate::limits::ERROR_BODY).send().await {
                Ok(response) => {
                    let challenge = match response.status() {
                        status if status.is_success() => Challenge::None,
                        StatusCode::UNAUTHORIZED => parse_challenge(&response),
                        status => {
                            return Err(RegistryError::Status {
                                reference: reference.to_string(),
                                url,
                                status,
                                hint: "this does not look like an OCI registry; check the registry host",
                            });
                        }
                    };
                    found = Some((format!("{scheme}://{}", reference.api_host()), challenge));
                    break;
                }
                Err(error) => {
                    last_error = http::error_chain(&error);
                    // A certificate that fails is an answer: never retry it as plain HTTP.
                    if http::is_certificate_error(&last_error) {
                        return Err(RegistryError::Unreachable {
                            registry: reference.registry.clone(),
                            url,
                            message: last_error,
                        });
                    }
                }
            }
        }
        let Some((base, challenge)) = found else {
            return Err(RegistryError::Unreachable {
                registry: reference.registry.clone(),
                url: format!("{}://{}/v2/", schemes[0], reference.api_host()),
                message: last_error,
            });
        };
        let host = Host {
            base,
            challenge,
            credential: self.credential(reference),
        };
        hosts.insert(reference.registry.clone(), host.clone());
        Ok(host)
    }

    /// Credentials from the docker config, if any (`DOCKER_CONFIG` or `~/.docker`).
    fn credential(&self, reference: &Reference) -> Option<Credential> {
        // The environment first (CI and scripts): never a command-line argument, which
        // other users can read from the process list.
        if let (Ok(username), Ok(password)) = (
            std::env::var("AIRGAP_REGISTRY_USERNAME"),
            std::env::var("AIRGAP_REGISTRY_PASSWORD"),
        ) && std::env::var("AIRGAP_REGISTRY_HOST")
            .map_or(true, |host| host == reference.registry)
        {
            return Some(Credential::Basic { username, password });
        }
        let server = if reference.registry == "docker.io" {
            "https://index.docker.io/v1/".to_string()
        } else {
            reference.registry.clone()
        };
        match docker_credential::get_credential(&server) {
            Ok(docker_credential::DockerCredential::UsernamePassword(username, password)) => {
                Some(Credential::Basic { username, password })
            }
            Ok(docker_credential::DockerCredential::IdentityToken(token)) => {
                Some(Credential::IdentityToken(token))
            }
            Err(
                docker_credential::CredentialRetrievalError::NoCredentialConfigured
                | docker_credential::CredentialRetrievalError::ConfigNotFound
                | docker_credential::CredentialRetrievalError::ConfigReadError,
            ) => None,
            Err(error) => {
                // The helper's own output may hold secrets: say only which kind of failure.
                let kind = match error {
                    docker_credential::CredentialRetrievalError::HelperFailure {
                        helper, ..
                    } => {
                        format!("the credential helper `{helper}` failed")
                    }
                    other => other.to_string(),
                };
                self.printer.warn(format!(
                    "{}: cannot read credentials from the docker config ({kind}); trying anonymously",
                    reference.registry
                ));
                None
            }
        }
    }

    /// The `Authorization` header for pulling from `reference`'s repository, if one is needed.
    /// `refresh` drops a cached token (after a 401).
    pub async fn authorization(
        &self,
        reference: &Reference,
        insecure: bool,
        refresh: bool,
    ) -> Result<HeaderMap, RegistryError> {
        let scopes = [format!("repository:{}:pull", reference.repository)];
        self.authorization_for(reference, insecure, refresh, &scopes)
            .await
    }

    /// The `Authorization` header for the given token scopes (e.g. `repository:a/b:pull,push`
    /// and, to mount a blob from another repository, `repository:c/d:pull`).
    pub async fn authorization_for(
        &self,
        reference: &Reference,
        insecure: bool,
        refresh: bool,
        scopes: &[String],
    ) -> Result<HeaderMap, RegistryError> {
        let host = self.host(reference, insecure).await?;
        let mut headers = HeaderMap::new();
        let value = match &host.challenge {
            Challenge::None => None,
            Challenge::Basic => match &host.credential {
                Some(Credential::Basic { username, password }) => Some(basic(username, password)),
                _ => None,
            },
            Challenge::Bearer { realm, service } => {
                let key = (reference.registry.clone(), scopes.join(" "));
                let mut tokens = self.tokens.lock().await;
                if refresh {
                    tokens.remove(&key);
                }
                match tokens.get(&key) {
                    Some(token) => Some(format!("Bearer {token}")),
                    None => {
                        let token = self
                            .token(reference, &host, realm, service.as_deref(), scopes)
                            .await?;
                        tokens.insert(key, token.clone());
                        Some(format!("Bearer {token}"))
                    }
                }
            }
        };
        if let Some(value) = value
            && let Ok(mut header) = HeaderValue::from_str(&value)
        {
            header.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, header);
        }
        Ok(headers)
    }

    async fn token(
        &self,
        reference: &Reference,
        host: &Host,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<String, RegistryError> {
        let scope = scopes.join(" ");
        let mut query: Vec<(&str, &str)> = scopes
            .iter()
            .map(|scope| ("scope", scope.as_str()))
            .collect();
        if let Some(service) = service {
            query.push(("service", service));
        }
        let request = match &host.credential {
            Some(Credential::IdentityToken(token)) => {
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.as_str()),
                    ("client_id", "airgap"),
                    ("scope", scope.as_str()),
                ];
                if let Some(service) = service {
                    form.push(("service", service));
                }
                let body = form
                    .iter()
                    .map(|(key, value)| {
                        format!(
                            "{key}={}",
                            percent_encoding::utf8_percent_encode(
                                value,
                                percent_encoding::NON_ALPHANUMERIC
                            )
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("&");
                self.client
                    .post(realm)
                    .timeout(self.pace.start().remaining(crate::limits::TOKEN_BODY))
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(body)
            }
            Some(Credential::Basic { username, password }) => self
                .get(realm, crate::limits::TOKEN_BODY)
                .query(&query)
                .header(reqwest::header::AUTHORIZATION, basic(username, password)),
            None => self.get(realm, crate::limits::TOKEN_BODY).query(&query),
        };
        let response = request
            .send()
            .await
            .map_err(|error| unreachable(reference, realm.to_string(), &error))?;
        let status = response.status();
        if !status.is_success() {
            return Err(RegistryError::Denied {
                reference: reference.to_string(),
                status,
                hint: denied_hint(host, reference),
            });
        }
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
        }
        // A token is a few KiB: a body without end is refused, never held.
        let body = read_limited(response, crate::limits::TOKEN_BODY as usize)
            .await
            .map_err(|message| RegistryError::BadManifest {
                reference: reference.to_string(),
                detail: format!("token endpoint {realm} {message}"),
            })?;
        let parsed: TokenResponse =
            serde_json::from_slice(&body).map_err(|error| RegistryError::BadManifest {
                reference: reference.to_string(),
                detail: format!(
                    "token endpoint {realm} answered with something that is not a token: {error}"
                ),
            })?;
        parsed
            .token
            .or(parsed.access_token)
            .ok_or_else(|| RegistryError::BadManifest {
                reference: reference.to_string(),
                detail: format!("token endpoint {realm} answered without a token"),
            })
    }

    /// `https://host` or `http://host` of the reference's registry, discovered once per run.
    pub async fn base(
        &self,
        reference: &Reference,
        insecure: bool,
    ) -> Result<String, RegistryError> {
        Ok(self.host(reference, insecure).await?.base)
    }

    /// The URL of a blob of `reference`'s repository.
    pub async fn blob_url(
        &self,
        reference: &Reference,
        insecure: bool,
        digest: &Digest,
    ) -> Result<String, RegistryError> {
        let host = self.host(reference, insecure).await?;
        Ok(format!(
            "{}/v2/{}/blobs/{digest}",
            host.base, reference.repository
        ))
    }

    /// GETs a manifest (by tag or digest) as raw bytes. A manifest asked for by digest must
    /// have that digest.
    pub async fn manifest(
        &self,
        reference: &Reference,
        insecure: bool,
        wanted: &str,
    ) -> Result<RawManifest, RegistryError> {
        let host = self.host(reference, insecure).await?;
        let url = format!(
            "{}/v2/{}/manifests/{wanted}",
            host.base, reference.repository
        );
        let mut refreshed = false;
        let mut attempt = 0u32;
        let policy = self.retry;
        loop {
            attempt += 1;
            let headers = self.authorization(reference, insecure, refreshed).await?;
            let sent = self
                .get(&url, manifest::MAX_MANIFEST_BYTES as u64)
                .headers(headers)
                .header(reqwest::header::ACCEPT, manifest::ACCEPT)
                .send()
                .await;
            let response = match sent {
                Ok(response) => response,
                Err(error)
                    if attempt < policy.attempts
                        && !http::is_permanent(&http::error_chain(&error)) =>
                {
                    tokio::time::sleep(policy.delay(attempt, None)).await;
                    continue;
                }
                Err(error) => {
                    return Err(RegistryError::Unreachable {
                        registry: reference.registry.clone(),
                        url,
                        message: http::error_chain(&error),
                    });
                }
            };
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !refreshed {
                refreshed = true;
                continue;
            }
            if http::is_transient(status) && attempt < policy.attempts {
                tokio::time::sleep(policy.delay(attempt, http::retry_after(&response))).await;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(RegistryError::Denied {
                    reference: reference.to_string(),
                    status,
                    hint: denied_hint(&host, reference),
                });
            }
            if !status.is_success() {
                return Err(RegistryError::Status {
                    reference: reference.to_string(),
                    url,
                    status,
                    hint: if status == StatusCode::NOT_FOUND {
                        "check the repository and tag; the registry does not have them"
                    } else {
                        "check the reference in the manifest"
                    },
                });
            }
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .map(str::to_string);
            let bytes = read_limited(response, manifest::MAX_MANIFEST_BYTES)
                .await
                .map_err(|detail| RegistryError::BadManifest {
                    reference: reference.to_string(),
                    detail,
                })?;
            let digest = Digest::of_bytes(&bytes);
            if let Ok(expected) = Digest::parse(wanted)
                && expected != digest
            {
                return Err(RegistryError::DigestMismatch {
                    reference: reference.to_string(),
                    expected,
                    actual: digest,
                });
            }
            return Ok(RawManifest {
                bytes,
                digest,
                content_type,
            });
        }
    }

    /// The tags of `reference`'s repository (for tag-schema referrers), empty when the
    /// registry will not list them.
    pub async fn tags(
        &self,
        reference: &Reference,
        insecure: bool,
    ) -> Result<Vec<String>, RegistryError> {
        let host = self.host(reference, insecure).await?;
        let headers = self.authorization(reference, insecure, false).await?;
        let url = format!("{}/v2/{}/tags/list", host.base, reference.repository);
        let response = self
            .get(&url, 16 << 20)
            .headers(headers)
            .send()
            .await
            .map_err(|error| unreachable(reference, url.clone(), &error))?;
        if !response.status().is_success() {
            return Ok(Vec::new());
        }
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let bytes = read_limited(response, 16 << 20).await.unwrap_or_default();
        Ok(serde_json::from_slice::<TagList>(&bytes)
            .ok()
            .and_then(|list| list.tags)
            .unwrap_or_default())
    }

    /// The OCI referrers API for `digest`: the index of artifacts that refer to it, or `None`
    /// when the registry does not implement the API.
    pub async fn referrers(
        &self,
        reference: &Reference,
        insecure: bool,
        digest: &Digest,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        let host = self.host(reference, insecure).await?;
        let headers = self.authorization(reference, insecure, false).await?;
        let url = format!(
            "{}/v2/{}/referrers/{digest}",
            host.base, reference.repository
        );
        let response = self
            .get(&url, manifest::MAX_MANIFEST_BYTES as u64)
            .headers(headers)
            .header(reqwest::header::ACCEPT, manifest::OCI_INDEX)
            .send()
            .await
            .map_err(|error| unreachable(reference, url.clone(), &error))?;
        if !response.status().is_success() {
            return Ok(None);
        }
        Ok(read_limited(response, manifest::MAX_MANIFEST_BYTES)
            .await
            .ok())
    }
}

/// A transport failure talking to `reference`'s registry at `url`.
fn unreachable(reference: &Reference, url: impl ToString, error: &reqwest::Error) -> RegistryError {
    RegistryError::Unreachable {
        registry: reference.registry.clone(),
        url: url.to_string(),
        message: http::error_chain(error),
    }
}

fn basic(username: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
    )
}

fn denied_hint(host: &Host, reference: &Reference) -> String {
    if host.credential.is_none() {
        format!(
            "{} needs credentials: log in with `docker login {}` (or add them to $DOCKER_CONFIG/config.json)",
            reference.registry, reference.registry
        )
    } else {
        format!(
            "the credentials in the docker config for {} were refused, or they do not grant pull on {}",
            reference.registry, reference.repository
        )
    }
}

/// Parses `WWW-Authenticate: Bearer realm="…",service="…"` or `Basic realm="…"`.
fn parse_challenge(response: &reqwest::Response) -> Challenge {
    let Some(value) = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|value| value.to_str().ok())
    else {
        return Challenge::Basic;
    };
    let (scheme, parameters) = value.trim().split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Challenge::Basic;
    }
    let mut realm = None;
    let mut service = None;
    for part in split_parameters(parameters) {
        if let Some((key, value)) = part.split_once('=') {
            let value = value.trim().trim_matches('"').to_string();
            match key.trim().to_ascii_lowercase().as_str() {
                "realm" => realm = Some(value),
                "service" => service = Some(value),
                _ => {}
            }
        }
    }
    match realm {
        Some(realm) => Challenge::Bearer { realm, service },
        None => Challenge::Basic,
    }
}

/// Splits `a="x,y",b=z` at the commas outside quotes.
fn split_parameters(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for character in text.chars() {
        match character {
            '"' => {
                quoted = !quoted;
                current.push(character);
            }
            ',' if !quoted => parts.push(std::mem::take(&mut current)),
            _ => current.push(character),
        }
    }
    parts.push(current);
    parts
}

/// The start of an error response's body, for a message: at most `limits::ERROR_BODY` bytes.
pub async fn error_body(response: reqwest::Response) -> String {
    match read_limited(response, crate::limits::ERROR_BODY as usize).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => "(a body too large to show)".to_string(),
    }
}

async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| format!("could not be read: {}", http::error_chain(&error)))?
    {
        if bytes.len() + chunk.len() > limit {
            return Err(format!("is larger than {limit} bytes; refusing it"));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

impl crate::hint::Hint for RegistryError {
    fn hint(&self) -> Option<String> {
        match self {
            RegistryError::Unreachable { .. } => Some("check the network path (HTTPS_PROXY, NO_PROXY, --ca-cert); a registry that only speaks plain HTTP must be declared with `insecure = true`".to_string()),
            RegistryError::Denied { hint, .. } => Some(hint.to_string()),
            RegistryError::Status { hint, .. } => Some(hint.to_string()),
            RegistryError::DigestMismatch { .. } => Some("the registry or something between it and you changed the bytes; do not trust this source".to_string()),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}
