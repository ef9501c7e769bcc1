//! `[[image]]` end to end against Debian's docker-registry, filled by skopeo, checked by
//! skopeo and umoci; a fake registry (our upstream) only for faults and the token flow.

use std::path::Path;

use serde_json::Value;

use crate::registry::{Layout, Registry, push, raw_digest, skopeo};
use crate::support::{Env, bytes, sha256_hex, tool};
use crate::upstream::{Fault, Upstream};

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Images pushed to a registry: a multi-arch OCI index, the same as a Docker manifest list,
/// and two single-platform images sharing their base layer.
struct Fixture {
    registry: Registry,
    /// Every layer and config digest the fixture's images use, deduplicated.
    shared_layer: String,
}

fn fixture(root: &Path) -> Fixture {
    let registry = Registry::start(&root.join("registry"), None);
    let mut layout = Layout::new(&root.join("build"));
    let base = layout.layer(&[
        ("etc/os-release", b"ID=airgap-test\n"),
        ("bin/base", &bytes(60, 50_000)),
    ]);
    let amd64 = layout.layer(&[("app/amd64", &bytes(61, 30_000))]);
    let arm64 = layout.layer(&[("app/arm64", &bytes(62, 30_000))]);
    let extra = layout.layer(&[("app/extra", &bytes(63, 10_000))]);
    let manifest_amd64 = layout.image("amd64", &[base.clone(), amd64]);
    let manifest_arm64 = layout.image("arm64", &[base.clone(), arm64]);
    let index = layout.index(&[("amd64", &manifest_amd64), ("arm64", &manifest_arm64)]);
    layout.tag("multi", OCI_INDEX, &index);
    let single_a = layout.image("amd64", std::slice::from_ref(&base));
    layout.tag("single-a", OCI_MANIFEST, &single_a);
    let single_b = layout.image("amd64", &[base.clone(), extra]);
    layout.tag("single-b", OCI_MANIFEST, &single_b);
    let host = registry.host();
    push(
        &layout.dir,
        "multi",
        &format!("{host}/team/multi:1.0"),
        &["--all"],
    );
    push(
        &layout.dir,
        "multi",
        &format!("{host}/team/multi-docker:1.0"),
        &["--all", "--format", "v2s2"],
    );
    push(
        &layout.dir,
        "single-a",
        &format!("{host}/team/single-a:1"),
        &[],
    );
    push(
        &layout.dir,
        "single-b",
        &format!("{host}/team/single-b:1"),
        &[],
    );
    Fixture {
        registry,
        shared_layer: format!("sha256:{}", sha256_hex(&base.0)),
    }
}

fn images_manifest(host: &str) -> String {
    format!(
        "[[image]]\nref = \"{host}/team/multi:1.0\"\nplatforms = [\"all\"]\n\n\
         [[image]]\nref = \"{host}/team/multi-docker:1.0\"\n\n\
         [[image]]\nref = \"{host}/team/single-a:1\"\n\n\
         [[image]]\nref = \"{host}/team/single-b:1\"\n"
    )
}

fn index_json(media: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(media.join("oci/index.json")).unwrap()).unwrap()
}

fn entry<'a>(index: &'a Value, name: &str) -> &'a Value {
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["annotations"]["org.opencontainers.image.ref.name"] == name)
        .unwrap_or_else(|| panic!("no entry {name} in {index}"))
}

#[test]
fn images_lock_to_the_digests_skopeo_reports_and_the_layout_round_trips() {
    let env = Env::new();
    let fixture = fixture(env.temp.path());
    let host = fixture.registry.host();
    env.manifest("images.toml", &images_manifest(&host));
    env.run(&["lock"]).success();
    let lock: toml::Table = toml::from_str(&env.lock_text()).unwrap();
    let images = lock["image"].as_array().unwrap();
    for image in images {
        let reference = image["ref"].as_str().unwrap();
        assert_eq!(
            image["digest"].as_str().unwrap(),
            raw_digest(reference, &[]),
            "{reference}"
        );
    }
    let multi = images
        .iter()
        .find(|image| image["ref"].as_str().unwrap().ends_with("/team/multi:1.0"))
        .unwrap();
    assert_eq!(multi["media_type"].as_str().unwrap(), OCI_INDEX);
    assert_eq!(
        multi["manifest"].as_array().unwrap().len(),
        2,
        "platforms = [\"all\"] keeps both"
    );
    let docker = images
        .iter()
        .find(|image| image["ref"].as_str().unwrap().contains("multi-docker"))
        .unwrap();
    assert_eq!(docker["media_type"].as_str().unwrap(), DOCKER_LIST);
    let kept = docker["manifest"].as_array().unwrap();
    assert_eq!(kept.len(), 1, "the default platform is linux/amd64");
    assert_eq!(kept[0]["platform"].as_str().unwrap(), "linux/amd64");
    let list = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{host}/team/multi-docker:1.0"),
    ]);
    let list: Value = serde_json::from_str(&list.stdout).unwrap();
    let amd64 = list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|child| child["platform"]["architecture"] == "amd64")
        .unwrap();
    assert_eq!(
        kept[0]["digest"].as_str().unwrap(),
        amd64["digest"].as_str().unwrap()
    );

    env.materialize(&[]).success();
    let media = env.media();
    env.verify(&[]).success();
    tool(
        "sha256sum",
        &["-c", "--strict", "--quiet", "SHA256SUMS"],
        &media,
    )
    .success();
    let index = index_json(&media);

    // Docker-typed manifests are stored verbatim under their own digest and media type.
    let docker_entry = entry(&index, &format!("{host}/team/multi-docker:1.0"));
    assert_eq!(docker_entry["mediaType"], DOCKER_LIST);
    let docker_digest = docker_entry["digest"].as_str().unwrap();
    assert_eq!(docker_digest, docker["digest"].as_str().unwrap());
    let stored = std::fs::read(media.join("oci/blobs/sha256").join(&docker_digest[7..])).unwrap();
    assert_eq!(format!("sha256:{}", sha256_hex(&stored)), docker_digest);

    // Shared layers are stored once (blobs are named by digest: one file per digest).
    let blobs: Vec<String> = std::fs::read_dir(media.join("oci/blobs/sha256"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(blobs.contains(&fixture.shared_layer[7..].to_string()));

    // skopeo reads the OCI-typed images back and reproduces the original digests.
    let second = Registry::start(&env.temp.path().join("second"), None);
    for (name, all) in [
        ("team/multi:1.0", true),
        ("team/single-a:1", false),
        ("team/single-b:1", false),
    ] {
        let source = format!("oci:{}:{host}/{name}", media.join("oci").display());
        let destination = format!("docker://{}/{name}", second.host());
        let mut args = vec!["copy", "--quiet", "--dest-tls-verify=false"];
        if all {
            args.push("--all");
        }
        args.push(&source);
        args.push(&destination);
        let run = skopeo(&args);
        assert_eq!(run.code, 0, "skopeo {args:?}: {}", run.stderr);
        assert_eq!(
            raw_digest(&format!("{}/{name}", second.host()), &[]),
            raw_digest(&format!("{host}/{name}"), &[]),
            "{name} round-trips through the media"
        );
    }
    // umoci unpacks every OCI-typed image from the media.
    for name in ["team/single-a:1", "team/single-b:1"] {
        let bundle = env
            .temp
            .path()
            .join(format!("bundle-{}", name.replace(['/', ':'], "-")));
        let run = tool(
            "umoci",
            &[
                "unpack",
                "--rootless",
                "--image",
                &format!("{}:{host}/{name}", media.join("oci").display()),
                bundle.to_str().unwrap(),
            ],
            env.temp.path(),
        );
        assert_eq!(run.code, 0, "umoci: {}", run.stderr);
        assert!(bundle.join("rootfs/etc/os-release").exists());
    }
}

#[test]
fn a_second_materialize_fetches_nothing_and_dropped_images_leave_the_layout() {
    let env = Env::new();
    let fixture = fixture(env.temp.path());
    let host = fixture.registry.host();
    env.manifest("images.toml", &images_manifest(&host));
    env.materialize(&[]).success();
    let before = std::fs::read(env.media().join("oci/index.json")).unwrap();
    env.materialize(&[]).success().stderr_has("0 B downloaded");
    assert_eq!(
        std::fs::read(env.media().join("oci/index.json")).unwrap(),
        before
    );
    env.manifest(
        "images.toml",
        &format!("[[image]]\nref = \"{host}/team/single-a:1\"\n"),
    );
    env.materialize(&[]).success();
    let index = index_json(&env.media());
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    env.verify(&[]).success();
}

#[test]
fn a_registry_behind_htpasswd_takes_credentials_from_the_docker_config() {
    let env = Env::new();
    let registry = Registry::start(
        &env.temp.path().join("registry"),
        Some(("puller", "s3cret-pw")),
    );
    let mut layout = Layout::new(&env.temp.path().join("build"));
    let layer = layout.layer(&[("hello", b"hello")]);
    let image = layout.image("amd64", &[layer]);
    layout.tag("v1", OCI_MANIFEST, &image);
    let host = registry.host();
    let run = skopeo(&[
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        "--dest-creds",
        "puller:s3cret-pw",
        &format!("oci:{}:v1", layout.dir.display()),
        &format!("docker://{host}/private/app:v1"),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    env.manifest(
        "images.toml",
        &format!("[[image]]\nref = \"{host}/private/app:v1\"\n"),
    );

    let docker_config = env.temp.path().join("docker");
    std::fs::create_dir_all(&docker_config).unwrap();
    let mut command = env.command(&["lock"]);
    command.env("DOCKER_CONFIG", &docker_config);
    let run = crate::support::output(command);
    run.failure()
        .stderr_has("needs credentials")
        .stderr_has("docker login");

    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode("puller:s3cret-pw");
    std::fs::write(
        docker_config.join("config.json"),
        format!("{{\"auths\": {{\"{host}\": {{\"auth\": \"{auth}\"}}}}}}"),
    )
    .unwrap();
    let media = env.media();
    let mut command = env.command(&["-v", "materialize", "--to", media.to_str().unwrap()]);
    command.env("DOCKER_CONFIG", &docker_config);
    let run = crate::support::output(command);
    run.success();
    assert!(!run.stderr.contains("s3cret") && !run.stderr.contains(&auth));
    assert!(!env.lock_text().contains("s3cret") && !env.lock_text().contains(&auth));
    let sums = std::fs::read_to_string(media.join("SHA256SUMS")).unwrap();
    for line in sums.lines() {
        let path = line.split_once("  ").unwrap().1;
        let content = std::fs::read(media.join(path)).unwrap();
        assert!(
            !String::from_utf8_lossy(&content).contains("s3cret"),
            "{path}"
        );
    }
}

/// A registry served by our upstream: for the token flow and for a wrong byte in a blob,
/// which the real registry cannot be made to produce.
fn fake_registry(upstream: &Upstream, corrupt_layer: bool) -> (String, String) {
    let build = tempfile::tempdir().unwrap();
    let layout = Layout::new(build.path());
    let layer = layout.layer(&[("data", &bytes(64, 20_000))]);
    let manifest = layout.image("amd64", std::slice::from_ref(&layer));
    let parsed: Value = serde_json::from_slice(&manifest).unwrap();
    upstream.put("v2/", b"{}".to_vec());
    upstream.put("v2/team/app/manifests/1.0", manifest.clone());
    upstream.content_type("v2/team/app/manifests/1.0", OCI_MANIFEST);
    let manifest_digest = format!("sha256:{}", sha256_hex(&manifest));
    upstream.put(
        &format!("v2/team/app/manifests/{manifest_digest}"),
        manifest.clone(),
    );
    for descriptor in std::iter::once(&parsed["config"]).chain(parsed["layers"].as_array().unwrap())
    {
        let digest = descriptor["digest"].as_str().unwrap();
        let blob = std::fs::read(build.path().join("blobs/sha256").join(&digest[7..])).unwrap();
        upstream.put(&format!("v2/team/app/blobs/{digest}"), blob);
    }
    let layer_digest = format!("sha256:{}", sha256_hex(&layer.0));
    if corrupt_layer {
        upstream.fault(
            &format!("v2/team/app/blobs/{layer_digest}"),
            Fault::Corrupt { offset: 100 },
        );
    }
    (manifest_digest, layer_digest)
}

#[test]
fn a_blob_with_a_wrong_byte_is_rejected_naming_the_digest() {
    let env = Env::new();
    let upstream = Upstream::start();
    let (_, layer_digest) = fake_registry(&upstream, true);
    env.manifest(
        "images.toml",
        &format!(
            "[[image]]\nref = \"127.0.0.1:{}/team/app:1.0\"\n",
            upstream.port()
        ),
    );
    env.materialize(&[])
        .failure()
        .stderr_has(&layer_digest)
        .stderr_has("do not match");
    assert!(
        !env.media()
            .join("oci/blobs/sha256")
            .join(&layer_digest[7..])
            .exists()
    );
    assert!(!env.media().join("SHA256SUMS").exists());
}

#[test]
fn the_registry_token_flow() {
    let env = Env::new();
    let upstream = Upstream::start();
    let (manifest_digest, _) = fake_registry(&upstream, false);
    upstream.require_bearer("token-for-pull");
    env.manifest(
        "images.toml",
        &format!(
            "[[image]]\nref = \"127.0.0.1:{}/team/app:1.0\"\n",
            upstream.port()
        ),
    );
    env.materialize(&[]).success();
    assert!(env.lock_text().contains(&manifest_digest));
    let requests = upstream.requests();
    assert!(
        requests
            .iter()
            .any(|request| request.path.starts_with("/token"))
    );
    assert!(
        requests
            .iter()
            .filter(|request| request.path.contains("/blobs/"))
            .all(|request| request.authorization.as_deref() == Some("Bearer token-for-pull")),
        "{requests:?}"
    );
}

#[test]
fn blob_redirects_to_another_host_do_not_carry_the_registry_token() {
    let env = Env::new();
    let upstream = Upstream::start();
    let storage = Upstream::start();
    let (_, layer_digest) = fake_registry(&upstream, false);
    upstream.require_bearer("registry-only-token");
    let blob_path = format!("v2/team/app/blobs/{layer_digest}");
    // The layer lives in "object storage"; the registry's blob URL redirects there.
    let layer = upstream.body(&blob_path);
    storage.put("bucket/layer", layer);
    upstream.fault(
        &blob_path,
        Fault::Redirect {
            location: storage.url("bucket/layer"),
        },
    );
    env.manifest(
        "images.toml",
        &format!(
            "[[image]]\nref = \"127.0.0.1:{}/team/app:1.0\"\n",
            upstream.port()
        ),
    );
    env.materialize(&[]).success();
    let storage_requests = storage.requests();
    assert_eq!(storage_requests.len(), 1, "{storage_requests:?}");
    assert_eq!(
        storage_requests[0].authorization, None,
        "the token must not leave the registry's host"
    );
    assert!(
        env.media()
            .join("oci/blobs/sha256")
            .join(&layer_digest[7..])
            .exists()
    );
}

#[test]
fn referrers_from_the_referrers_api_including_unknown_artifact_types() {
    let env = Env::new();
    let upstream = Upstream::start();
    let (manifest_digest, _) = fake_registry(&upstream, false);
    // An SBOM attached through the referrers API: an artifact with types nobody here knows.
    let sbom = br#"{"spdxVersion":"SPDX-2.3"}"#.to_vec();
    let sbom_digest = format!("sha256:{}", sha256_hex(&sbom));
    let empty = b"{}".to_vec();
    let artifact = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom.v1",
        "config": {"mediaType": "application/vnd.example.unknown.config+json", "digest": format!("sha256:{}", sha256_hex(&empty)), "size": 2},
        "layers": [{"mediaType": "application/spdx+json", "digest": sbom_digest, "size": sbom.len()}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": 0},
    }))
    .unwrap();
    let artifact_digest = format!("sha256:{}", sha256_hex(&artifact));
    upstream.put(
        &format!("v2/team/app/manifests/{artifact_digest}"),
        artifact.clone(),
    );
    upstream.put(&format!("v2/team/app/blobs/{sbom_digest}"), sbom);
    upstream.put(
        &format!("v2/team/app/blobs/sha256:{}", sha256_hex(&empty)),
        empty,
    );
    let referrers = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": artifact_digest, "size": artifact.len(), "artifactType": "application/vnd.example.sbom.v1"}],
    }))
    .unwrap();
    upstream.put(
        &format!("v2/team/app/referrers/{manifest_digest}"),
        referrers,
    );
    env.manifest(
        "images.toml",
        &format!(
            "[[image]]\nref = \"127.0.0.1:{}/team/app:1.0\"\nreferrers = true\n",
            upstream.port()
        ),
    );
    env.materialize(&[]).success();
    let lock = env.lock_text();
    assert!(lock.contains(&artifact_digest), "{lock}");
    assert!(
        lock.contains("artifact_type = \"application/vnd.example.sbom.v1\""),
        "{lock}"
    );
    let blobs = env.media().join("oci/blobs/sha256");
    assert!(blobs.join(&artifact_digest[7..]).exists());
    assert!(blobs.join(&sbom_digest[7..]).exists());
    let index = index_json(&env.media());
    assert!(
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|entry| entry["digest"] == artifact_digest.as_str())
    );
    env.verify(&[]).success();
}

#[test]
fn images_from_a_workspace_layout() {
    let env = Env::new();
    let mut layout = Layout::new(&env.workspace().join("build/oci"));
    let layer = layout.layer(&[("srv/site", b"in-house build")]);
    let image = layout.image("amd64", &[layer]);
    layout.tag("2.1", OCI_MANIFEST, &image);
    env.manifest(
        "images.toml",
        "[[image]]\nref = \"registry.example.internal/site/tool:2.1\"\nlayout = \"build/oci\"\n",
    );
    env.materialize(&[]).success();
    let lock = env.lock_text();
    assert!(
        lock.contains(&format!("sha256:{}", sha256_hex(&image))),
        "{lock}"
    );
    assert!(lock.contains("layout = \"build/oci\""));
    let index = index_json(&env.media());
    entry(&index, "registry.example.internal/site/tool:2.1");
    let bundle = env.temp.path().join("bundle");
    let run = tool(
        "umoci",
        &[
            "unpack",
            "--rootless",
            "--image",
            &format!(
                "{}:registry.example.internal/site/tool:2.1",
                env.media().join("oci").display()
            ),
            bundle.to_str().unwrap(),
        ],
        env.temp.path(),
    );
    assert_eq!(run.code, 0, "umoci: {}", run.stderr);
    assert_eq!(
        std::fs::read(bundle.join("rootfs/srv/site")).unwrap(),
        b"in-house build"
    );
}

#[test]
fn signatures_found_by_tag_come_along_and_a_moved_tag_keeps_its_pin() {
    let env = Env::new();
    let fixture = fixture(env.temp.path());
    let host = fixture.registry.host();
    let digest = raw_digest(&format!("{host}/team/single-a:1"), &[]);
    // A cosign-style signature: an OCI artifact tagged sha256-<hex>.sig.
    let mut signatures = Layout::new(&env.temp.path().join("signatures"));
    let payload = signatures.layer(&[("payload", b"signed")]);
    let signature = signatures.image("amd64", &[payload]);
    signatures.tag("sig", OCI_MANIFEST, &signature);
    let tag = format!("sha256-{}.sig", &digest[7..]);
    push(
        &signatures.dir,
        "sig",
        &format!("{host}/team/single-a:{tag}"),
        &[],
    );
    env.manifest(
        "images.toml",
        &format!("[[image]]\nref = \"{host}/team/single-a:1@{digest}\"\nreferrers = true\n"),
    );
    env.materialize(&[]).success();
    let lock = env.lock_text();
    assert!(lock.contains(&format!("tag = \"{tag}\"")), "{lock}");
    entry(
        &index_json(&env.media()),
        &format!("{host}/team/single-a:{tag}"),
    );
    env.verify(&[]).success();

    // Move the tag: the pinned digest stays, with a warning.
    let mut other = Layout::new(&env.temp.path().join("other"));
    let layer = other.layer(&[("new", b"new")]);
    let image = other.image("amd64", &[layer]);
    other.tag("new", OCI_MANIFEST, &image);
    push(&other.dir, "new", &format!("{host}/team/single-a:1"), &[]);
    env.run(&["lock", "--update"])
        .success()
        .stderr_has("now points at");
    assert!(env.lock_text().contains(&digest));
}

#[test]
fn image_manifest_errors_are_located() {
    let env = Env::new();
    env.manifest("images.toml", "[[image]]\nref = \"Bad/Name:1\"\n\n[[image]]\nref = \"busybox\"\nplatforms = [\"amd64\"]\n");
    env.run(&["lock", "--offline"])
        .failure()
        .stderr_has("manifests/images.toml:2:7:")
        .stderr_has("invalid repository")
        .stderr_has("manifests/images.toml:6:14: `amd64` is not a platform");
}
