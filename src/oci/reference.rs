//! Image references as Docker and containerd read them: `busybox` is
//! `docker.io/library/busybox:latest`, served from `registry-1.docker.io`; a first component
//! with a `.`, a `:` or `localhost` is a registry host; `tag`, `@digest` or `tag@digest`.

use std::fmt;

use crate::digest::Digest;

/// A parsed, normalized reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// The registry as users write it (`docker.io`, `registry.k8s.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// The repository path (`library/busybox`, `kube-apiserver`).
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

/// Why a text is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("the reference is empty")]
    Empty,
    #[error("`{0}` contains whitespace")]
    Whitespace(String),
    #[error("`{text}`: {message}")]
    Digest { text: String, message: String },
    #[error("`{text}` has an invalid tag `{tag}`")]
    Tag { text: String, tag: String },
    #[error(
        "`{text}` has an invalid repository `{repository}` (lowercase letters, digits, `.`, `_`, `-`, separated by `/`)"
    )]
    Repository { text: String, repository: String },
}

impl Reference {
    /// Parses and normalizes a reference; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Reference, ReferenceError> {
        if text.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if text.chars().any(char::is_whitespace) {
            return Err(ReferenceError::Whitespace(text.to_string()));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (
                rest,
                Some(
                    Digest::parse(digest).map_err(|error| ReferenceError::Digest {
                        text: text.to_string(),
                        message: error.to_string(),
                    })?,
                ),
            ),
            None => (text, None),
        };
        // A tag is after the last ':' that comes after the last '/'.
        let slash = rest.rfind('/').map_or(0, |index| index + 1);
        let (name, tag) = match rest[slash..].rfind(':') {
            Some(colon) => (
                &rest[..slash + colon],
                Some(rest[slash + colon + 1..].to_string()),
            ),
            None => (rest, None),
        };
        if let Some(tag) = &tag {
            let valid = !tag.is_empty()
                && tag.len() <= 128
                && tag.chars().all(|character| {
                    character.is_ascii_alphanumeric() || matches!(character, '_' | '.' | '-')
                })
                && !tag.starts_with(['.', '-']);
            if !valid {
                return Err(ReferenceError::Tag {
                    text: text.to_string(),
                    tag: tag.clone(),
                });
            }
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
                (first.to_string(), rest.to_string())
            }
            _ => ("docker.io".to_string(), name.to_string()),
        };
        let registry = if registry == "index.docker.io" || registry == "registry-1.docker.io" {
            "docker.io".to_string()
        } else {
            registry
        };
        let repository = if registry == "docker.io" && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        let repository_valid = !repository.is_empty()
            && repository.split('/').all(|component| {
                !component.is_empty()
                    && component.chars().all(|character| {
                        character.is_ascii_lowercase()
                            || character.is_ascii_digit()
                            || matches!(character, '.' | '_' | '-')
                    })
                    && component.starts_with(|character: char| character.is_ascii_alphanumeric())
            });
        if !repository_valid {
            return Err(ReferenceError::Repository {
                text: text.to_string(),
                repository,
            });
        }
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".to_string())
        } else {
            tag
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The host the API is served from (Docker Hub's API host differs from its name).
    pub fn api_host(&self) -> &str {
        if self.registry == "docker.io" {
            "registry-1.docker.io"
        } else {
            &self.registry
        }
    }

    /// Whether the registry is on a loopback address, which may be reached over plain HTTP.
    pub fn is_loopback(&self) -> bool {
        let host = match self.registry.strip_prefix('[') {
            Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
            None => {
                self.registry
                    .rsplit_once(':')
                    .map_or(self.registry.as_str(), |(host, port)| {
                        if port.chars().all(|character| character.is_ascii_digit()) {
                            host
                        } else {
                            self.registry.as_str()
                        }
                    })
            }
        };
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|address| address.is_loopback())
    }

    /// `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The tag, or the digest, to ask the registry for.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => "latest".to_string(),
        }
    }
}

impl fmt::Display for Reference {
    /// The full form: `registry/repository[:tag][@digest]`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(formatter, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(formatter, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_conventions() {
        let busybox = Reference::parse("busybox").unwrap();
        assert_eq!(busybox.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(busybox.api_host(), "registry-1.docker.io");
        assert_eq!(
            Reference::parse("calico/node:v3.28.1").unwrap().to_string(),
            "docker.io/calico/node:v3.28.1"
        );
        assert_eq!(
            Reference::parse("index.docker.io/library/nginx:1")
                .unwrap()
                .to_string(),
            "docker.io/library/nginx:1"
        );
    }

    #[test]
    fn hosts_ports_and_digests() {
        let hex = "a".repeat(64);
        let pause = Reference::parse(&format!("registry.k8s.io/pause:3.10@sha256:{hex}")).unwrap();
        assert_eq!(pause.registry, "registry.k8s.io");
        assert_eq!(pause.repository, "pause");
        assert_eq!(pause.tag.as_deref(), Some("3.10"));
        assert_eq!(pause.manifest_reference(), format!("sha256:{hex}"));
        let local = Reference::parse("127.0.0.1:5000/team/app").unwrap();
        assert_eq!(local.registry, "127.0.0.1:5000");
        assert_eq!(local.tag.as_deref(), Some("latest"));
        assert!(local.is_loopback());
        assert!(Reference::parse("localhost/app:1").unwrap().is_loopback());
        assert!(Reference::parse("[::1]:5000/app:1").unwrap().is_loopback());
        assert!(!Reference::parse("quay.io/a/b:1").unwrap().is_loopback());
    }

    #[test]
    fn rejects_bad_references() {
        assert!(Reference::parse("Registry.k8s.io/Pause:3.10").is_err());
        assert!(Reference::parse("pause:").is_err());
        assert!(Reference::parse("pause@sha256:abc").is_err());
        assert!(Reference::parse("").is_err());
    }
}
