//! Every parser of outside input, as one entry point each taking raw bytes: what the fuzz
//! targets in `fuzz/` run under libFuzzer (nightly), and what the property tests run on
//! stable in CI with the same seeds and regression inputs. A target must never panic, hang or
//! grow without bound on any input; where a parser has an invariant (what it accepts stays
//! inside the tree, what it renders reads back the same) the target asserts it.
//!
//! Not part of the command-line tool: hidden from the documentation, kept public so that the
//! fuzz crate (outside this one) can reach the crate-private parsers through it.

use std::path::{Component, Path};

/// One fuzz target: its name (the `fuzz/fuzz_targets/<name>.rs` that calls it) and body.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

/// Every target, in the order `scripts/fuzz` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "deb822",
        run: deb822,
    },
    Target {
        name: "apt_release",
        run: apt_release,
    },
    Target {
        name: "apt_packages",
        run: apt_packages,
    },
    Target {
        name: "yum_repomd",
        run: yum_repomd,
    },
    Target {
        name: "yum_primary",
        run: yum_primary,
    },
    Target {
        name: "yum_filelists",
        run: yum_filelists,
    },
    Target {
        name: "yum_modules",
        run: yum_modules,
    },
    Target {
        name: "yum_rich",
        run: yum_rich,
    },
    Target {
        name: "helm_index",
        run: helm_index,
    },
    Target {
        name: "chart_archive",
        run: chart_archive,
    },
    Target {
        name: "chart_files",
        run: chart_files,
    },
    Target {
        name: "oci_manifest",
        run: oci_manifest,
    },
    Target {
        name: "oci_reference",
        run: oci_reference,
    },
    Target {
        name: "manifest",
        run: manifest,
    },
    Target {
        name: "lockfile",
        run: lockfile,
    },
    Target {
        name: "sha256sums",
        run: sha256sums,
    },
    Target {
        name: "relative_path",
        run: relative_path,
    },
    Target {
        name: "serve_path",
        run: serve_path,
    },
    Target {
        name: "range",
        run: range,
    },
    Target {
        name: "signature",
        run: signature,
    },
    Target {
        name: "pypi_index",
        run: pypi_index,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|target| target.name == name)
}

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// deb822 documents (Release, Packages, control files) from an upstream.
pub fn deb822(data: &[u8]) {
    if let Some(text) = text(data) {
        let _ = crate::deb822::parse_all(text);
    }
}

/// An apt Release, after its signature checked out.
pub fn apt_release(data: &[u8]) {
    if let Some(text) = text(data)
        && let Ok(release) = crate::kinds::apt::release::parse(text)
    {
        let _ = crate::kinds::apt::release::check_valid_until(&release, 0);
    }
}

/// A Packages index, streamed, and every package's dependencies.
pub fn apt_packages(data: &[u8]) {
    let mut packages = Vec::new();
    let _ = crate::kinds::apt::index::parse_packages(data, 0, "main", &mut packages);
    for package in &packages {
        let _ = crate::kinds::apt::index::parse_relations(&package.depends);
    }
}

/// A yum repository's repomd.xml.
pub fn yum_repomd(data: &[u8]) {
    if let Some(text) = text(data) {
        let _ = crate::kinds::yum::metadata::parse_repomd(text);
    }
}

/// A yum primary.xml, streamed.
pub fn yum_primary(data: &[u8]) {
    let _ = crate::kinds::yum::metadata::parse_primary(data, |_| {});
}

/// A yum filelists.xml, streamed, looking for a few paths.
pub fn yum_filelists(data: &[u8]) {
    let wanted = std::collections::HashSet::from(["/usr/bin/a".to_string()]);
    let _ = crate::kinds::yum::metadata::parse_filelists(data, &wanted, |_, _| {});
}

/// A yum modules.yaml, and the packages its streams would hide.
pub fn yum_modules(data: &[u8]) {
    if let Some(text) = text(data)
        && let Ok(modules) = crate::kinds::yum::modules::Modules::parse(text)
    {
        let packages = [crate::kinds::yum::metadata::RpmPackage {
            name: "a".into(),
            version: "1".into(),
            release: "1".into(),
            arch: "x86_64".into(),
            ..Default::default()
        }];
        let enabled: Vec<String> = modules
            .streams
            .keys()
            .take(1)
            .map(|(name, stream)| format!("{name}:{stream}"))
            .collect();
        let _ = modules.hidden(&packages, &enabled);
    }
}

/// An RPM rich dependency (`(a or (b >= 1 if c))`).
pub fn yum_rich(data: &[u8]) {
    if let Some(text) = text(data) {
        let _ = crate::kinds::yum::resolve::parse_rich(text);
    }
}

/// A Helm repository's index.yaml, and the choice of a version from it.
pub fn helm_index(data: &[u8]) {
    if let Some(text) = text(data)
        && let Ok(index) = crate::kinds::chart::Index::parse(text)
    {
        for versions in index.entries.values() {
            let _ = crate::kinds::chart::Index::newest(versions, &semver::VersionReq::STAR);
        }
    }
}

/// A chart archive (`.tgz`): its members, the images and dependencies its files declare.
pub fn chart_archive(data: &[u8]) {
    use crate::kinds::chart::{ChartArchive, IMAGE_SOURCES, declared_images_in, unvendored_in};
    if let Ok(contents) = ChartArchive::from_reader(data, &IMAGE_SOURCES) {
        let _ = declared_images_in(&contents);
        let _ = unvendored_in(&contents);
    }
}

/// A chart's files as text, without the archive around them: the input is split at NUL bytes
/// into `Chart.yaml`, `values.yaml` and `images.lock`, so the fuzzer reaches the YAML readers
/// directly.
pub fn chart_files(data: &[u8]) {
    use crate::kinds::chart::{ChartArchive, declared_images_in, unvendored_in};
    let Some(text) = text(data) else { return };
    let mut contents = ChartArchive {
        files: Default::default(),
        paths: Vec::new(),
    };
    for (name, part) in ["Chart.yaml", "values.yaml", "images.lock"]
        .into_iter()
        .zip(text.split('\0'))
    {
        contents.files.insert(name.to_string(), part.to_string());
        contents.paths.push(name.to_string());
    }
    let _ = declared_images_in(&contents);
    let _ = unvendored_in(&contents);
}

/// An OCI manifest or index (or Docker schema 2) from a registry.
pub fn oci_manifest(data: &[u8]) {
    let _ = crate::oci::manifest::parse(data, None);
    let _ = crate::oci::manifest::parse(data, Some("application/vnd.oci.image.index.v1+json"));
}

/// An image reference from a manifest, a chart or a layout: what parses prints and parses
/// back the same.
pub fn oci_reference(data: &[u8]) {
    if let Some(text) = text(data)
        && let Ok(reference) = crate::oci::reference::Reference::parse(text)
    {
        let printed = reference.to_string();
        let again = crate::oci::reference::Reference::parse(&printed)
            .unwrap_or_else(|error| panic!("{printed:?} does not parse back: {error}"));
        assert_eq!(again.to_string(), printed);
    }
}

/// A manifest file, loaded and validated as `manifests/fuzz.toml` of a workspace that does
/// not exist; an error must render (its spans point into the text).
pub fn manifest(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let sources = [(
        std::path::PathBuf::from("manifests/fuzz.toml"),
        text.to_string(),
    )];
    if let Err(error) = crate::kinds::load_sources(Path::new("/nonexistent-workspace"), &sources) {
        let _ = error.to_string();
    }
}

/// A lockfile, as a media tree carries it (and a hand may have edited it): what parses
/// renders, and the rendering reads back the same.
pub fn lockfile(data: &[u8]) {
    let path = Path::new("airgap.lock");
    if let Some(text) = text(data)
        && let Ok(lock) = crate::kinds::Lockfile::parse(path, text)
    {
        let rendered = lock.render();
        let again = crate::kinds::Lockfile::parse(path, &rendered)
            .unwrap_or_else(|error| panic!("a rendered lock does not read back: {error}"));
        assert_eq!(again.render(), rendered);
    }
}

/// SHA256SUMS of a media tree: what it accepts stays inside the tree.
pub fn sha256sums(data: &[u8]) {
    if let Some(text) = text(data)
        && let Ok(entries) = crate::media::sums::parse(text)
    {
        for path in entries.keys() {
            assert!(
                !path.starts_with('/') && !path.split('/').any(|part| part == ".."),
                "{path:?}"
            );
        }
    }
}

/// Every path from outside goes through `RelativePath`: what it accepts stays inside.
pub fn relative_path(data: &[u8]) {
    if let Some(text) = text(data)
        && let Ok(path) = crate::relative_path::RelativePath::new(text)
    {
        assert_inside(Path::new(path.as_str()), text);
    }
}

/// A request path as a client sends it to `serve`: what the decoder accepts stays inside.
pub fn serve_path(data: &[u8]) {
    if let Some(text) = text(data)
        && let Ok(path) = crate::serve::files::decode(text)
    {
        assert_inside(&path, text);
    }
}

/// A `Range` header: every range the server would send lies inside the file.
pub fn range(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let Some(ranges) = crate::serve::files::parse_ranges(text) else {
        return;
    };
    for length in [0, 1, 10, 1 << 20, u64::MAX] {
        for (first, last) in crate::serve::files::satisfiable(&ranges, length) {
            assert!(first <= last && last < length, "{text:?} on {length} bytes");
        }
    }
}

fn assert_inside(path: &Path, input: &str) {
    assert!(
        Path::new("/tree").join(path).starts_with("/tree"),
        "{input:?}"
    );
    for component in path.components() {
        assert!(matches!(component, Component::Normal(_)), "{input:?}");
    }
}

/// The trust a signature target checks against: a cosign key and a test Sigstore trusted root
/// (`fuzz/trust/`, made by `tests/it/oracles/sign.py`), so a seed made with them reaches the
/// deepest checks.
fn fuzz_trust() -> &'static [crate::policy::check::Trusted] {
    use crate::policy::{LockedPolicy, Trust};
    static TRUST: std::sync::OnceLock<Vec<crate::policy::check::Trusted>> =
        std::sync::OnceLock::new();
    TRUST.get_or_init(|| {
        let material = |trust: Trust, bytes: &[u8]| {
            let policy = LockedPolicy {
                name: "fuzz".to_string(),
                images: vec!["*".to_string()],
                files: Vec::new(),
                trust,
                identity: Some("fuzz@example.org".to_string()),
                issuer: Some("https://issuer.example.org".to_string()),
                material: crate::relative_path::RelativePath::new("trust").expect("a path"),
                sha256: crate::digest::Digest::of_bytes(bytes),
            };
            crate::policy::check::Trusted::load(&policy, bytes).expect("the fuzz trust loads")
        };
        vec![
            material(Trust::Key, include_bytes!("../fuzz/trust/cosign.pub")),
            material(
                Trust::Keyless,
                include_bytes!("../fuzz/trust/trusted_root.json"),
            ),
        ]
    })
}

/// A signature from a registry or beside a file: the input is split at NUL bytes into a
/// payload or Sigstore bundle, the layer's annotations (JSON) and a signature text; each is
/// checked by a key and by a keyless trust, and read as a certificate and a signature.
pub fn signature(data: &[u8]) {
    let mut parts = data.splitn(3, |byte| *byte == 0);
    let first = parts.next().unwrap_or_default();
    let second = parts.next().unwrap_or_default();
    let third = parts.next().unwrap_or_default();
    let annotations: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(second).unwrap_or_default();
    let signature = text(third).unwrap_or_default();
    let subject = crate::digest::Digest::of_bytes(b"subject");
    for trusted in fuzz_trust() {
        let _ =
            crate::policy::check::simple_signing(trusted, first, signature, &annotations, &subject);
        let _ = crate::policy::check::bundle(trusted, first, &subject);
    }
    let _ = crate::policy::check::certificate_der(second);
    let _ = crate::policy::check::decode_signature(third);
}

/// A Python index's project page (PEP 503 HTML or PEP 691 JSON), a distribution's core
/// metadata, requirement lines and wheel file names, from an index. Every link must come out
/// absolute (resolved against the page) and without its hash fragment.
pub fn pypi_index(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(files) = crate::kinds::pypi::index::parse("http://index.example/simple/x/", &text) {
        for file in files {
            assert!(
                file.url.contains("://") && !file.url.contains('#'),
                "{}",
                file.url
            );
            let _ = crate::kinds::pypi::tags::Filename::parse(&file.filename);
        }
    }
    let metadata = crate::kinds::pypi::metadata::parse(&text);
    for requirement in metadata.requires_dist {
        let _ = crate::kinds::pypi::entry::normalize_requirement(&requirement);
    }
    for (_, line) in crate::kinds::pypi::entry::requirement_lines(&text) {
        let _ = crate::kinds::pypi::entry::normalize_requirement(&line);
    }
}

#[cfg(test)]
mod tests {
    /// The signature seeds are valid signatures over the target's subject: the fuzzer starts
    /// from inputs that pass every check, not from ones refused at the first.
    #[test]
    fn signature_seeds_verify() {
        let [key, keyless] = super::fuzz_trust() else {
            panic!("two trusts");
        };
        let subject = crate::digest::Digest::of_bytes(b"subject");
        let bundle = include_bytes!("../fuzz/seeds/signature/bundle");
        assert_eq!(
            crate::policy::check::bundle(keyless, bundle, &subject),
            Ok("fuzz@example.org (https://issuer.example.org)".to_string())
        );
        let seed = include_bytes!("../fuzz/seeds/signature/cosign-key");
        let mut parts = seed.splitn(3, |byte| *byte == 0);
        let payload = parts.next().unwrap();
        let annotations: std::collections::BTreeMap<String, String> =
            serde_json::from_slice(parts.next().unwrap()).unwrap();
        let signature = std::str::from_utf8(parts.next().unwrap()).unwrap();
        let named: serde_json::Value = serde_json::from_slice(payload).unwrap();
        let digest = crate::digest::Digest::parse(
            named["critical"]["image"]["docker-manifest-digest"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(digest, subject);
        assert!(
            crate::policy::check::simple_signing(key, payload, signature, &annotations, &subject)
                .unwrap()
                .starts_with("key sha256:")
        );
    }
}
