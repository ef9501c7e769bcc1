//! One bill of materials for everything a lock pins: CycloneDX 1.6 JSON, one component per
//! pinned artifact with its digest, a package URL (purl) and where it came from. Each kind
//! describes its own pins as [`Component`]s (`Kind::components`); this module only writes the
//! document. Deterministic: no timestamp, the serial number derived from the lock's digest,
//! components in the lock's order, so the same lock gives the same bytes.
//!
//! A leaf: it uses only `digest`.

use crate::digest::Digest;

/// Where the SBOM goes on the media.
pub const PATH: &str = "sbom/airgap.cdx.json";

/// One pinned artifact.
#[derive(Debug, Clone, Default)]
pub struct Component {
    /// CycloneDX's component type: `file`, `container`, `library`, `application`, `data`.
    pub kind: &'static str,
    /// airgap's kind (`file`, `image`, `apt`, ...), as a property.
    pub airgap_kind: &'static str,
    pub name: String,
    pub version: Option<String>,
    pub purl: String,
    pub sha256: Option<Digest>,
    /// Where it was fetched from.
    pub source: Option<String>,
    /// Its path on the media, when it has one.
    pub media_path: Option<String>,
    /// More `airgap:` properties (the signature evidence: `airgap:signature:policy`, ...).
    pub properties: Vec<(String, String)>,
    /// Documents on the media about this component: its signatures, and the SBOMs and
    /// attestations its upstream attached.
    pub references: Vec<Reference>,
}

/// An external reference to a document on the media (a path relative to the tree's root).
#[derive(Debug, Clone)]
pub struct Reference {
    /// CycloneDX's reference type: `bom`, `attestation`, `digital-signature`, `other`.
    pub kind: &'static str,
    pub url: String,
    pub sha256: Digest,
    pub comment: String,
}

/// The properties a pin's signature evidence gives its component.
pub fn evidence_properties(evidence: &crate::policy::Evidence) -> Vec<(String, String)> {
    vec![
        (
            "airgap:signature:policy".to_string(),
            evidence.policy.clone(),
        ),
        (
            "airgap:signature:format".to_string(),
            evidence.format.clone(),
        ),
        (
            "airgap:signature:signer".to_string(),
            evidence.signer.clone(),
        ),
        (
            "airgap:signature:digest".to_string(),
            evidence.signature.to_string(),
        ),
    ]
}

/// A package URL, as the purl specification writes one: `pkg:TYPE/[NAMESPACE/]NAME[@VERSION]
/// [?QUALIFIERS]`, each part percent-encoded, qualifiers sorted by key.
pub fn purl(
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    version: Option<&str>,
    qualifiers: &[(&str, &str)],
) -> String {
    let mut text = format!("pkg:{kind}/");
    if let Some(namespace) = namespace {
        for segment in namespace.split('/') {
            text.push_str(&encode(segment));
            text.push('/');
        }
    }
    text.push_str(&encode(name));
    if let Some(version) = version {
        text.push('@');
        text.push_str(&encode(version));
    }
    let mut qualifiers: Vec<&(&str, &str)> = qualifiers
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .collect();
    qualifiers.sort();
    for (index, (key, value)) in qualifiers.iter().enumerate() {
        text.push(if index == 0 { '?' } else { '&' });
        text.push_str(key);
        text.push('=');
        text.push_str(&encode_qualifier(value));
    }
    text
}

/// Characters a purl leaves as they are.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A purl segment: everything but unreserved characters (and `+`) percent-encoded (`:` as
/// `%3A`).
fn encode(text: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &UNRESERVED.remove(b'+');
    percent_encoding::utf8_percent_encode(text, SEGMENT).to_string()
}

/// A qualifier value: `/` and `:` may stay (a URL reads as one), the rest as a segment.
fn encode_qualifier(text: &str) -> String {
    const VALUE: &percent_encoding::AsciiSet = &UNRESERVED.remove(b'/').remove(b':');
    percent_encoding::utf8_percent_encode(text, VALUE).to_string()
}

/// The CycloneDX 1.6 JSON document for `components`, made from the lock with digest `lock`.
/// Written from borrowed, typed records (no tree of JSON values: thousands of images would
/// take tens of MiB), fields in the order they are declared.
pub fn document(lock: &Digest, components: &[Component]) -> String {
    let mut bytes = Vec::new();
    // Writing into memory fails only on serialization errors, which typed records do not have.
    let _ = write_document(&mut bytes, lock, components);
    String::from_utf8(bytes).unwrap_or_default()
}

/// [`document`], streamed into `writer` (the media's copy is never held whole).
pub fn write_document(
    writer: &mut dyn std::io::Write,
    lock: &Digest,
    components: &[Component],
) -> std::io::Result<()> {
    let hex = lock.hex();
    // A name-based UUID (version 5 bits, RFC 4122 variant) from the lock's digest.
    let serial = format!(
        "urn:uuid:{}-{}-5{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    );
    let mut seen = std::collections::BTreeMap::new();
    let components: Vec<Out<'_>> = components
        .iter()
        .map(|component| {
            let count = seen.entry(component.purl.as_str()).or_insert(0);
            *count += 1;
            let reference = if *count == 1 {
                component.purl.clone()
            } else {
                format!("{}#{count}", component.purl)
            };
            let mut references: Vec<ReferenceOut<'_>> = component
                .source
                .iter()
                .map(|source| ReferenceOut {
                    kind: "distribution",
                    url: source,
                    comment: None,
                    hashes: Vec::new(),
                })
                .collect();
            references.extend(component.references.iter().map(|reference| ReferenceOut {
                kind: reference.kind,
                url: &reference.url,
                comment: Some(&reference.comment),
                hashes: vec![Hash {
                    alg: "SHA-256",
                    content: reference.sha256.hex(),
                }],
            }));
            let mut properties = vec![Property {
                name: "airgap:kind",
                value: component.airgap_kind,
            }];
            if let Some(path) = &component.media_path {
                properties.push(Property {
                    name: "airgap:media-path",
                    value: path,
                });
            }
            properties.extend(
                component
                    .properties
                    .iter()
                    .map(|(name, value)| Property { name, value }),
            );
            Out {
                kind: component.kind,
                reference,
                name: &component.name,
                purl: &component.purl,
                version: component.version.as_deref(),
                hashes: component
                    .sha256
                    .iter()
                    .map(|digest| Hash {
                        alg: "SHA-256",
                        content: digest.hex(),
                    })
                    .collect(),
                references,
                properties,
            }
        })
        .collect();
    let lock_text = lock.to_string();
    let document = DocumentOut {
        format: "CycloneDX",
        spec: "1.6",
        serial,
        version: 1,
        metadata: MetadataOut {
            tools: ToolsOut {
                components: vec![ToolOut {
                    kind: "application",
                    name: "airgap",
                    version: env!("CARGO_PKG_VERSION"),
                }],
            },
            properties: vec![Property {
                name: "airgap:lock",
                value: &lock_text,
            }],
        },
        components,
    };
    serde_json::to_writer_pretty(&mut *writer, &document)?;
    writer.write_all(b"\n")
}

#[derive(serde::Serialize)]
struct DocumentOut<'a> {
    #[serde(rename = "bomFormat")]
    format: &'static str,
    #[serde(rename = "specVersion")]
    spec: &'static str,
    #[serde(rename = "serialNumber")]
    serial: String,
    version: u32,
    metadata: MetadataOut<'a>,
    components: Vec<Out<'a>>,
}

#[derive(serde::Serialize)]
struct MetadataOut<'a> {
    tools: ToolsOut,
    properties: Vec<Property<'a>>,
}

#[derive(serde::Serialize)]
struct ToolsOut {
    components: Vec<ToolOut>,
}

#[derive(serde::Serialize)]
struct ToolOut {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'static str,
    version: &'static str,
}

#[derive(serde::Serialize)]
struct Out<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "bom-ref")]
    reference: String,
    name: &'a str,
    purl: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hashes: Vec<Hash>,
    #[serde(rename = "externalReferences", skip_serializing_if = "Vec::is_empty")]
    references: Vec<ReferenceOut<'a>>,
    properties: Vec<Property<'a>>,
}

#[derive(serde::Serialize)]
struct ReferenceOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hashes: Vec<Hash>,
}

#[derive(serde::Serialize)]
struct Hash {
    alg: &'static str,
    content: String,
}

#[derive(serde::Serialize)]
struct Property<'a> {
    name: &'a str,
    value: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_encode_as_the_specification_says() {
        assert_eq!(
            purl(
                "deb",
                Some("debian"),
                "curl",
                Some("1:7.88.1-10"),
                &[("arch", "amd64")]
            ),
            "pkg:deb/debian/curl@1%3A7.88.1-10?arch=amd64"
        );
        assert_eq!(
            purl(
                "generic",
                None,
                "kubeadm",
                None,
                &[(
                    "download_url",
                    "https://dl.k8s.io/v1.35.0/bin/linux/amd64/kubeadm?x=1&y"
                )]
            ),
            "pkg:generic/kubeadm?download_url=https://dl.k8s.io/v1.35.0/bin/linux/amd64/kubeadm%3Fx%3D1%26y"
        );
    }
}
