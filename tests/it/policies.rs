//! Signature policies end to end: signatures made by Python's `cryptography` package in
//! cosign's formats (`tests/it/oracles/sign.py`), pushed into Debian's docker-registry or
//! served by the test upstream; `lock` accepts or refuses them, and `verify --policies`
//! checks them again offline on the media.

use std::path::{Path, PathBuf};

use crate::registry::{Layout, Registry, push, raw_digest};
use crate::support::{Env, bytes, output};
use crate::upstream::Upstream;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn sign(args: &[&str]) {
    let mut command = std::process::Command::new(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pyenv/bin/python"),
    );
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/oracles/sign.py"))
        .args(args);
    let run = output(command);
    assert_eq!(
        run.code, 0,
        "sign.py {args:?}: {}{}",
        run.stdout, run.stderr
    );
}

/// A registry with two images: `vendor/app:1` and an unsigned `vendor/other:1`.
fn signed_registry(root: &Path) -> (Registry, String, String) {
    let registry = Registry::start(&root.join("registry"), None);
    let layout_dir = root.join("build");
    let mut layout = Layout::new(&layout_dir);
    let first = layout.layer(&[("app", &bytes(80, 20_000))]);
    let image = layout.image("amd64", &[first]);
    layout.tag("app", OCI_MANIFEST, &image);
    let second = layout.layer(&[("other", &bytes(81, 20_000))]);
    let other = layout.image("amd64", &[second]);
    layout.tag("other", OCI_MANIFEST, &other);
    let host = registry.host();
    push(&layout_dir, "app", &format!("{host}/vendor/app:1"), &[]);
    push(&layout_dir, "other", &format!("{host}/vendor/other:1"), &[]);
    let digest = raw_digest(&format!("{host}/vendor/app:1"), &[]);
    let other_digest = raw_digest(&format!("{host}/vendor/other:1"), &[]);
    (registry, digest, other_digest)
}

fn keys(env: &Env, name: &str) -> PathBuf {
    let directory = env.workspace().join("keys").join(name);
    std::fs::create_dir_all(&directory).unwrap();
    sign(&["keygen", directory.to_str().unwrap()]);
    directory
}

#[test]
fn a_key_policy_accepts_the_signed_image_and_refuses_another_key_and_a_moved_tag() {
    let env = Env::new();
    let (registry, digest, _) = signed_registry(env.temp.path());
    let host = registry.host();
    let vendor = keys(&env, "vendor");
    let stranger = keys(&env, "stranger");
    sign(&[
        "sign-image",
        vendor.join("cosign.key").to_str().unwrap(),
        &host,
        "vendor/app",
        &digest,
    ]);
    let policy = |key: &str| {
        format!(
            "[[policy]]\nname = \"vendor\"\nimages = [\"{host}/vendor/*\"]\nkey = \"keys/{key}/cosign.pub\"\n"
        )
    };
    env.manifest("policy.toml", &policy("vendor"));
    env.manifest(
        "images.toml",
        &format!("[[image]]\nref = \"{host}/vendor/app:1\"\n"),
    );
    env.run(&["lock"]).success().stderr_has("Verified");
    let lock = env.lock_text();
    assert!(lock.contains("[image.signature]"), "{lock}");
    assert!(lock.contains("policy = \"vendor\""), "{lock}");
    assert!(lock.contains("format = \"cosign\""), "{lock}");
    assert!(
        lock.contains(&format!("tag = \"sha256-{}.sig\"", &digest[7..])),
        "{lock}"
    );

    // The signature and the key travel on the media; verify re-checks them without the
    // registry.
    env.materialize(&["--locked"]).success();
    assert!(env.media().join("policies/vendor/cosign.pub").is_file());
    // The SBOM carries the evidence and links the signature on the media; still valid
    // CycloneDX 1.6 for the schema validator nobody here wrote.
    let sbom_path = env.media().join("sbom/airgap.cdx.json");
    let mut check = std::process::Command::new(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pyenv/bin/python"),
    );
    check
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/oracles/sbom_check.py"))
        .arg(&sbom_path);
    let checked = output(check);
    assert_eq!(checked.code, 0, "{}{}", checked.stdout, checked.stderr);
    let sbom: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sbom_path).unwrap()).unwrap();
    let image = &sbom["components"][0];
    let properties = image["properties"].to_string();
    assert!(
        properties.contains("airgap:signature:policy"),
        "{properties}"
    );
    assert!(
        properties.contains(&format!(
            "key sha256:{}",
            crate::support::sha256_hex(&std::fs::read(vendor.join("cosign.pub")).unwrap())
        )),
        "{properties}"
    );
    let references = image["externalReferences"].to_string();
    assert!(references.contains("digital-signature"), "{references}");
    assert!(references.contains("oci/blobs/sha256/"), "{references}");
    drop(registry);
    env.verify(&["--policies"])
        .success()
        .stderr_has("1 signature verified offline");

    // A tampered key on the media is caught (SHA256SUMS, and the lock's digest of it).
    let key_on_media = env.media().join("policies/vendor/cosign.pub");
    std::fs::write(
        &key_on_media,
        std::fs::read(stranger.join("cosign.pub")).unwrap(),
    )
    .unwrap();
    env.verify(&["--policies"])
        .failure()
        .stdout_has("policies/vendor/cosign.pub");

    // Another key: the same signature no longer satisfies the policy.
    let (registry, digest, other_digest) = {
        let env_root = env.temp.path().join("second");
        signed_registry(&env_root)
    };
    let host = registry.host();
    sign(&[
        "sign-image",
        vendor.join("cosign.key").to_str().unwrap(),
        &host,
        "vendor/app",
        &digest,
    ]);
    env.manifest(
        "policy.toml",
        &format!(
            "[[policy]]\nname = \"vendor\"\nimages = [\"{host}/vendor/*\"]\nkey = \"keys/stranger/cosign.pub\"\n"
        ),
    );
    env.manifest(
        "images.toml",
        &format!("[[image]]\nref = \"{host}/vendor/app:1\"\n"),
    );
    let before = env.lock_text();
    env.run(&["lock"])
        .failure()
        .stderr_has(&format!("image {host}/vendor/app:1"))
        .stderr_has("policy `vendor` requires a signature by the key keys/stranger/cosign.pub")
        .stderr_has("it is not signed by the policy's key")
        .stderr_has("hint: do not pin what the policy refuses");
    assert_eq!(env.lock_text(), before, "a refused lock is not written");

    // The right key again, then the tag moves to an unsigned image: refused.
    env.manifest(
        "policy.toml",
        &format!(
            "[[policy]]\nname = \"vendor\"\nimages = [\"{host}/vendor/*\"]\nkey = \"keys/vendor/cosign.pub\"\n"
        ),
    );
    env.run(&["lock"]).success();
    let layout_dir = env.temp.path().join("second/build");
    push(&layout_dir, "other", &format!("{host}/vendor/app:1"), &[]);
    env.run(&["lock", "--update"])
        .failure()
        .stderr_has(&other_digest)
        .stderr_has("found: no signature");
}

#[test]
fn a_keyless_bundle_is_checked_against_the_trusted_root_identity_and_issuer() {
    let env = Env::new();
    let (registry, digest, other_digest) = signed_registry(env.temp.path());
    let host = registry.host();
    let root = env.workspace().join("keys/sigstore");
    std::fs::create_dir_all(&root).unwrap();
    sign(&["make-root", root.to_str().unwrap()]);
    sign(&[
        "bundle-image",
        root.to_str().unwrap(),
        "release@example.org",
        "https://issuer.example.org",
        &host,
        "vendor/app",
        &digest,
    ]);
    // The other image with cosign's classic keyless tag signature (certificate and log bundle
    // in annotations), as registry.k8s.io's images are signed.
    sign(&[
        "sign-image-keyless",
        root.to_str().unwrap(),
        "release@example.org",
        "https://issuer.example.org",
        &host,
        "vendor/other",
        &other_digest,
    ]);
    let policy = |identity: &str, issuer: &str| {
        format!(
            "[[policy]]\nname = \"release\"\nimages = [\"{host}/vendor/*\"]\nidentity = \"{identity}\"\nissuer = \"{issuer}\"\ntrusted_root = \"keys/sigstore/trusted_root.json\"\n"
        )
    };
    env.manifest(
        "images.toml",
        &format!(
            "[[image]]\nref = \"{host}/vendor/app:1\"\n\n[[image]]\nref = \"{host}/vendor/other:1\"\n"
        ),
    );
    env.manifest(
        "policy.toml",
        &policy("release@example.org", "https://issuer.example.org"),
    );
    env.run(&["lock"]).success();
    let lock = env.lock_text();
    assert!(lock.contains("format = \"bundle\""), "{lock}");
    assert!(lock.contains("format = \"cosign\""), "{lock}");
    assert!(
        lock.contains("signer = \"release@example.org (https://issuer.example.org)\""),
        "{lock}"
    );
    env.materialize(&["--locked"]).success();
    env.verify(&["--policies"])
        .success()
        .stderr_has("2 signatures verified");

    // Another identity or another issuer: the same bundle is refused.
    env.manifest(
        "policy.toml",
        &policy("someone@example.org", "https://issuer.example.org"),
    );
    env.run(&["lock"])
        .failure()
        .stderr_has("policy `release` requires a signature by someone@example.org")
        .stderr_has("SubjectAltName");
    env.manifest(
        "policy.toml",
        &policy("release@example.org", "https://other.example.org"),
    );
    env.run(&["lock"]).failure().stderr_has("OIDCIssuer");

    // Another Sigstore's root: the certificate does not chain.
    let other = env.workspace().join("keys/other");
    std::fs::create_dir_all(&other).unwrap();
    sign(&["make-root", other.to_str().unwrap()]);
    env.manifest(
        "policy.toml",
        &policy("release@example.org", "https://issuer.example.org")
            .replace("keys/sigstore/", "keys/other/"),
    );
    env.run(&["lock"])
        .failure()
        .stderr_has("is not in the trusted root");
}

#[test]
fn file_signatures_by_key_certificate_and_openpgp_travel_and_verify_offline() {
    let env = Env::new();
    let upstream = Upstream::start();
    let work = env.temp.path().join("sign");
    std::fs::create_dir_all(&work).unwrap();
    let vendor = keys(&env, "vendor");
    let root = env.workspace().join("keys/sigstore");
    std::fs::create_dir_all(&root).unwrap();
    sign(&["make-root", root.to_str().unwrap()]);

    // A cosign blob signature with a key.
    let tool = bytes(90, 300_000);
    std::fs::write(work.join("tool"), &tool).unwrap();
    sign(&[
        "sign-blob",
        vendor.join("cosign.key").to_str().unwrap(),
        work.join("tool").to_str().unwrap(),
        work.join("tool.sig").to_str().unwrap(),
    ]);
    // A keyless one with its certificate, as dl.k8s.io publishes kubeadm.sig and kubeadm.cert.
    let kubeadm = bytes(91, 200_000);
    std::fs::write(work.join("kubeadm"), &kubeadm).unwrap();
    sign(&[
        "keyless-blob",
        root.to_str().unwrap(),
        "krel@example.org",
        "https://accounts.example.org",
        work.join("kubeadm").to_str().unwrap(),
        work.join("kubeadm.sig").to_str().unwrap(),
        work.join("kubeadm.cert").to_str().unwrap(),
    ]);
    // An OpenPGP detached signature made by gpg.
    let archive = bytes(92, 100_000);
    std::fs::write(work.join("archive.tar"), &archive).unwrap();
    let gnupg = env.temp.path().join("gnupg");
    std::fs::create_dir_all(&gnupg).unwrap();
    let gpg = |args: &[&str]| {
        let mut command = std::process::Command::new("gpg");
        command
            .env("GNUPGHOME", &gnupg)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args);
        let run = output(command);
        assert_eq!(run.code, 0, "gpg {args:?}: {}", run.stderr);
    };
    gpg(&[
        "--quick-gen-key",
        "Release <release@example.org>",
        "ed25519",
        "sign",
        "never",
    ]);
    gpg(&[
        "--armor",
        "--detach-sign",
        "--output",
        work.join("archive.tar.asc").to_str().unwrap(),
        work.join("archive.tar").to_str().unwrap(),
    ]);
    gpg(&[
        "--export",
        "--output",
        env.workspace().join("keys/release.gpg").to_str().unwrap(),
    ]);

    for name in [
        "tool",
        "tool.sig",
        "kubeadm",
        "kubeadm.sig",
        "kubeadm.cert",
        "archive.tar",
        "archive.tar.asc",
    ] {
        upstream.put(
            &format!("/dl/{name}"),
            std::fs::read(work.join(name)).unwrap(),
        );
    }
    let url = |name: &str| upstream.url(&format!("/dl/{name}"));
    env.manifest(
        "files.toml",
        &format!(
            "[[file]]\nname = \"tool\"\nurl = \"{}\"\nsignature_url = \"{}\"\n\n\
             [[file]]\nname = \"kubeadm\"\nurl = \"{}\"\nsignature_url = \"{}\"\ncertificate_url = \"{}\"\n\n\
             [[file]]\nname = \"archive\"\nurl = \"{}\"\nsignature_url = \"{}\"\n",
            url("tool"),
            url("tool.sig"),
            url("kubeadm"),
            url("kubeadm.sig"),
            url("kubeadm.cert"),
            url("archive.tar"),
            url("archive.tar.asc"),
        ),
    );
    env.manifest(
        "policy.toml",
        &format!(
            "[[policy]]\nname = \"vendor\"\nfiles = [\"{}\"]\nkey = \"keys/vendor/cosign.pub\"\n\n\
             [[policy]]\nname = \"k8s\"\nfiles = [\"{}\"]\nidentity = \"krel@example.org\"\nissuer = \"https://accounts.example.org\"\ntrusted_root = \"keys/sigstore/trusted_root.json\"\n\n\
             [[policy]]\nname = \"release\"\nfiles = [\"{}*\"]\nkeyring = \"keys/release.gpg\"\n",
            url("tool"),
            url("kubeadm"),
            url("archive"),
        ),
    );
    env.run(&["lock"])
        .success()
        .stderr_has("Verified 3 signatures");
    let lock = env.lock_text();
    for format in [
        "format = \"blob\"",
        "format = \"openpgp\"",
        "signer = \"krel@example.org (https://accounts.example.org)\"",
    ] {
        assert!(lock.contains(format), "{format}: {lock}");
    }
    env.materialize(&["--locked"]).success();
    let files = env.media().join("files");
    let host_dir = std::fs::read_dir(&files)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    for name in [
        "dl/tool.sig",
        "dl/kubeadm.sig",
        "dl/kubeadm.cert",
        "dl/archive.tar.asc",
    ] {
        assert!(
            host_dir.join(name).is_file(),
            "{name} travels beside its file"
        );
    }
    drop(upstream);
    env.verify(&["--policies"])
        .success()
        .stderr_has("3 signatures verified offline");

    // A signature that does not match its file is refused at lock time, naming the file.
    let upstream = Upstream::start();
    for name in [
        "tool",
        "kubeadm",
        "kubeadm.sig",
        "kubeadm.cert",
        "archive.tar",
        "archive.tar.asc",
    ] {
        upstream.put(
            &format!("/dl/{name}"),
            std::fs::read(work.join(name)).unwrap(),
        );
    }
    upstream.put(
        "/dl/tool.sig",
        std::fs::read(work.join("kubeadm.sig")).unwrap(),
    );
    env.manifest(
        "files.toml",
        &format!(
            "[[file]]\nname = \"tool\"\nurl = \"{}\"\nsignature_url = \"{}\"\n",
            upstream.url("/dl/tool"),
            upstream.url("/dl/tool.sig"),
        ),
    );
    env.manifest(
        "policy.toml",
        &format!(
            "[[policy]]\nname = \"vendor\"\nfiles = [\"{}\"]\nkey = \"keys/vendor/cosign.pub\"\n",
            upstream.url("/dl/*")
        ),
    );
    env.run(&["lock"])
        .failure()
        .stderr_has("file tool: policy `vendor` requires a signature")
        .stderr_has("the signature does not match the file");
}

#[test]
fn policy_manifest_errors_are_located() {
    let env = Env::new();
    env.manifest(
        "policy.toml",
        "[[policy]]\nname = \"a\"\nimages = [\"x/*\"]\nkey = \"keys/missing.pub\"\n\n[[policy]]\nname = \"b\"\n\n[[policy]]\nname = \"c\"\nimages = [\"y/*\"]\nkey = \"k\"\nkeyring = \"r\"\n",
    );
    env.run(&["lock", "--offline"])
        .failure()
        .stderr_has("manifests/policy.toml:4:7: cannot read keys/missing.pub")
        .stderr_has("policy `b` covers nothing")
        .stderr_has("policy `c` mixes kinds of signer");
}
