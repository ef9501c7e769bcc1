//! `airgap push`: a materialized tree into Debian's `docker-registry` (htpasswd), checked with
//! `skopeo inspect --raw` and counted in the registry's own access log; containerd pulls
//! through the registry with the configuration `render --registry` wrote.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::registry::{Layout, Registry, descriptor, skopeo};
use crate::support::{Env, Run, TestCa, bytes, output, sha256_hex};

const USER: &str = "pusher";
const PASSWORD: &str = "s3cret-push";

/// A tree with a multi-arch OCI index, a single image sharing its base layer, and a Docker
/// schema 2 manifest list (sharing the base too); returns (reference, locked digest).
fn media(env: &Env, big_layer: usize) -> Vec<(String, String)> {
    let mut layout = Layout::new(&env.workspace().join("images"));
    let base = layout.layer(&[("etc/os-release", b"ID=pushed\n")]);
    let big = layout.layer(&[("big.bin", &bytes(9, big_layer))]);
    let amd64 = layout.image("amd64", &[base.clone(), big]);
    let arm64 = layout.image("arm64", &[base.clone(), layout.layer(&[("arm", b"arm")])]);
    let index = layout.index(&[("amd64", &amd64), ("arm64", &arm64)]);
    layout.tag("v1.33.4", "application/vnd.oci.image.index.v1+json", &index);
    let calico = layout.image(
        "amd64",
        &[base.clone(), layout.layer(&[("calico", b"calico")])],
    );
    layout.tag(
        "v3.28.1",
        "application/vnd.oci.image.manifest.v1+json",
        &calico,
    );
    // Docker schema 2: config and layer media types of Docker, listed in a manifest list.
    let docker_image = |arch: &str, extra: &[u8]| -> Vec<u8> {
        let layer = layout.layer(&[("coredns", extra)]);
        let config = serde_json::to_vec(&json!({
            "architecture": arch, "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [
                format!("sha256:{}", sha256_hex(&base.1)), format!("sha256:{}", sha256_hex(&layer.1))]},
        }))
        .unwrap();
        layout.blob(&config);
        layout.blob(&layer.0);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": descriptor("application/vnd.docker.container.image.v1+json", &config),
            "layers": [
                descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", &base.0),
                descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", &layer.0),
            ],
        }))
        .unwrap();
        layout.blob(&manifest);
        manifest
    };
    let coredns_amd64 = docker_image("amd64", b"amd64");
    let coredns_arm64 = docker_image("arm64", b"arm64");
    let mut entries = Vec::new();
    for (arch, manifest) in [("amd64", &coredns_amd64), ("arm64", &coredns_arm64)] {
        let mut entry = descriptor(
            "application/vnd.docker.distribution.manifest.v2+json",
            manifest,
        );
        entry["platform"] = json!({"os": "linux", "architecture": arch});
        entries.push(entry);
    }
    let list = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": entries,
    }))
    .unwrap();
    layout.blob(&list);
    layout.tag(
        "v1.11.3",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        &list,
    );
    env.manifest(
        "images.toml",
        "[[image]]\nref = \"registry.k8s.io/kube-apiserver:v1.33.4\"\nlayout = \"images\"\nplatforms = [\"all\"]\n\n\
         [[image]]\nref = \"quay.io/calico/node:v3.28.1\"\nlayout = \"images\"\n\n\
         [[image]]\nref = \"registry.k8s.io/coredns/coredns:v1.11.3\"\nlayout = \"images\"\nplatforms = [\"all\"]\n",
    );
    env.materialize(&[]).success();
    vec![
        (
            "registry.k8s.io/kube-apiserver:v1.33.4".to_string(),
            format!("sha256:{}", sha256_hex(&index)),
        ),
        (
            "quay.io/calico/node:v3.28.1".to_string(),
            format!("sha256:{}", sha256_hex(&calico)),
        ),
        (
            "registry.k8s.io/coredns/coredns:v1.11.3".to_string(),
            format!("sha256:{}", sha256_hex(&list)),
        ),
    ]
}

fn push(env: &Env, registry: &str, extra: &[&str], password: &str) -> Run {
    let media = env.media();
    let mut args = vec!["push", media.to_str().unwrap(), "--registry", registry];
    args.extend_from_slice(extra);
    let mut command = env.command(&args);
    command
        .env("AIRGAP_REGISTRY_USERNAME", USER)
        .env("AIRGAP_REGISTRY_PASSWORD", password);
    output(command)
}

fn inspect(reference: &str) -> String {
    let creds = format!("{USER}:{PASSWORD}");
    let target = format!("docker://{reference}");
    let run = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &creds,
        &target,
    ]);
    assert_eq!(run.code, 0, "skopeo inspect {reference}: {}", run.stderr);
    format!("sha256:{}", sha256_hex(run.stdout.as_bytes()))
}

/// Blob upload requests (session starts, chunks, commits) in the registry's access log.
fn uploads(log: &str) -> usize {
    log.lines()
        .filter(|line| {
            line.contains("/blobs/uploads/")
                && (line.contains("\"POST ")
                    || line.contains("\"PUT ")
                    || line.contains("\"PATCH "))
        })
        .count()
}

fn log(directory: &Path) -> String {
    std::fs::read_to_string(directory.join("registry.log")).unwrap_or_default()
}

#[test]
fn push_keeps_every_digest_under_both_layouts_and_sends_nothing_twice() {
    let env = Env::new();
    let images = media(&env, 3 << 20);
    let directory = env.temp.path().join("registry");
    let registry = Registry::start(&directory, Some((USER, PASSWORD)));
    let host = registry.host();

    // Wrong credentials: a clear failure before any upload.
    let refused = push(&env, &format!("{host}/mirror"), &[], "wrong");
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("refuses these credentials"),
        "{}",
        refused.stderr
    );
    assert!(
        !refused.stderr.contains("wrong"),
        "the password leaked: {}",
        refused.stderr
    );
    assert_eq!(uploads(&log(&directory)), 0);

    // Dry run: says what it would send, sends nothing.
    let dry = push(&env, &format!("{host}/mirror"), &["--dry-run"], PASSWORD);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stderr.contains("Would push"), "{}", dry.stderr);
    assert!(
        dry.stdout.contains(&format!(
            "{host}/mirror/registry.k8s.io/kube-apiserver:v1.33.4"
        )),
        "{}",
        dry.stdout
    );
    assert_eq!(uploads(&log(&directory)), 0);

    let first = push(&env, &format!("{host}/mirror"), &[], PASSWORD);
    assert_eq!(first.code, 0, "{}", first.stderr);
    // The base layer is shared by three repositories: sent once, mounted into the others.
    assert!(
        log(&directory).contains("mount=sha256"),
        "no cross-repository mount"
    );
    for (reference, digest) in &images {
        assert_eq!(
            &inspect(&format!("{host}/mirror/{reference}")),
            digest,
            "{reference}"
        );
    }
    let before = uploads(&log(&directory));
    assert!(before > 0);
    let again = push(&env, &format!("{host}/mirror"), &[], PASSWORD);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        uploads(&log(&directory)),
        before,
        "a second push sent blobs: {}",
        again.stderr
    );

    // Flat: Kubespray's names (the upstream registry dropped), in chunks this time.
    let flat = push(
        &env,
        &format!("{host}/flat"),
        &["--layout", "flat", "--chunk-size", "1"],
        PASSWORD,
    );
    assert_eq!(flat.code, 0, "{}", flat.stderr);
    for (reference, digest) in &images {
        let path = reference.split_once('/').unwrap().1;
        assert_eq!(
            &inspect(&format!("{host}/flat/{path}")),
            digest,
            "{reference}"
        );
    }
}

#[test]
fn flat_names_that_collide_are_listed() {
    let env = Env::new();
    let mut layout = Layout::new(&env.workspace().join("images"));
    let image = layout.image("amd64", &[layout.layer(&[("a", b"a")])]);
    layout.tag("v1", "application/vnd.oci.image.manifest.v1+json", &image);
    env.manifest(
        "images.toml",
        "[[image]]\nref = \"quay.io/calico/node:v1\"\nlayout = \"images\"\n\n\
         [[image]]\nref = \"docker.io/calico/node:v1\"\nlayout = \"images\"\n",
    );
    env.materialize(&[]).success();
    let run = push(&env, "127.0.0.1:9/flat", &["--layout", "flat"], PASSWORD);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("127.0.0.1:9/flat/calico/node <- docker.io/calico/node, quay.io/calico/node"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_push_killed_midway_completes_when_run_again() {
    let env = Env::new();
    let images = media(&env, 48 << 20);
    let directory = env.temp.path().join("registry");
    let registry = Registry::start(&directory, Some((USER, PASSWORD)));
    let host = registry.host();
    let media = env.media();
    let target = format!("{host}/mirror");
    let mut command = env.command(&[
        "push",
        media.to_str().unwrap(),
        "--registry",
        &target,
        "--jobs",
        "1",
    ]);
    command
        .env("AIRGAP_REGISTRY_USERNAME", USER)
        .env("AIRGAP_REGISTRY_PASSWORD", PASSWORD)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = command.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while uploads(&log(&directory)) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    let rerun = push(&env, &target, &[], PASSWORD);
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    for (reference, digest) in &images {
        assert_eq!(
            &inspect(&format!("{target}/{reference}")),
            digest,
            "{reference}"
        );
    }
}

#[test]
fn containerd_pulls_by_original_names_from_the_pushed_registry() {
    let env = Env::new();
    let images = media(&env, 100_000);
    let directory = env.temp.path().join("registry");
    let registry = Registry::start(&directory, None);
    let target = format!("http://{}/mirror", registry.host());
    let run = push(&env, &target, &[], PASSWORD);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let media = env.media();
    env.run(&["render", media.to_str().unwrap(), "--registry", &target])
        .success();
    let offline = std::fs::read_to_string(
        media.join("kubespray/inventory/airgap/group_vars/all/offline.yml"),
    )
    .unwrap();
    assert!(
        offline.contains(&format!("registry_host: \"{}\"", registry.host())),
        "{offline}"
    );
    assert!(
        offline.contains("kube_image_repo: \"{{ registry_host }}/mirror/registry.k8s.io\""),
        "{offline}"
    );
    let hosts = media.join("config/containerd/certs.d");
    let containerd = crate::serve::Containerd::start(&env.temp.path().join("containerd"));
    for (reference, digest) in &images {
        let pull = crate::serve::ctr_pull(&containerd, &hosts, reference);
        assert_eq!(
            pull.code, 0,
            "ctr images pull {reference}: {}{}",
            pull.stdout, pull.stderr
        );
        crate::serve::assert_pulled(&containerd, reference, digest);
    }
    env.verify(&[]).success();
}

#[test]
fn a_registry_behind_a_private_ca_needs_that_ca() {
    let env = Env::new();
    let images = media(&env, 50_000);
    let tls = TestCa::write(&env.temp.path().join("tls"));
    let directory = env.temp.path().join("registry");
    let registry = Registry::start_with(
        &directory,
        Some((USER, PASSWORD)),
        Some((&tls.cert, &tls.key)),
    );
    let target = format!("{}/mirror", registry.host());
    let untrusted = push(&env, &target, &[], PASSWORD);
    assert_eq!(untrusted.code, 1, "{}", untrusted.stderr);
    assert!(untrusted.stderr.contains("--ca"), "{}", untrusted.stderr);
    assert_eq!(uploads(&log(&directory)), 0);
    let trusted = push(&env, &target, &["--ca", tls.ca.to_str().unwrap()], PASSWORD);
    assert_eq!(trusted.code, 0, "{}", trusted.stderr);
    for (reference, digest) in &images {
        assert_eq!(
            &inspect(&format!("{target}/{reference}")),
            digest,
            "{reference}"
        );
    }
}

/// A token service for docker-registry's `auth: token`: checks basic credentials and answers
/// an ES256 JWT granting the scopes asked for, signed by a key whose self-signed certificate
/// is the registry's root bundle (and the token's `x5c`). It records the scopes asked for.
struct TokenService {
    port: u16,
    scopes: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl TokenService {
    fn start(directory: &Path) -> (TokenService, std::path::PathBuf) {
        use base64::Engine as _;
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "airgap test token signer");
        let certificate = params.self_signed(&key).unwrap();
        let bundle = directory.join("token-root.pem");
        std::fs::create_dir_all(directory).unwrap();
        std::fs::write(&bundle, certificate.pem()).unwrap();
        let signer = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &key.serialize_der(),
        )
        .unwrap();
        let x5c = base64::engine::general_purpose::STANDARD.encode(certificate.der());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let scopes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let recorded = scopes.clone();
        std::thread::spawn(move || {
            use std::io::{BufRead, Write};
            let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            for stream in listener.incoming().flatten() {
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                let _ = reader.read_line(&mut request);
                let mut authorized = false;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    let expected = format!(
                        "basic {}",
                        base64::engine::general_purpose::STANDARD
                            .encode(format!("{USER}:{PASSWORD}"))
                    );
                    if line.to_ascii_lowercase().starts_with("authorization:")
                        && line[14..].trim().eq_ignore_ascii_case(&expected)
                    {
                        authorized = true;
                    }
                }
                let query = request
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string();
                let asked: Vec<String> = query
                    .split(['?', '&'])
                    .filter_map(|pair| pair.strip_prefix("scope="))
                    .map(|scope| {
                        percent_encoding::percent_decode_str(scope)
                            .decode_utf8_lossy()
                            .into_owned()
                    })
                    .collect();
                recorded.lock().unwrap().extend(asked.iter().cloned());
                let mut stream = stream;
                if !authorized {
                    let _ = stream.write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    continue;
                }
                let access: Vec<serde_json::Value> = asked
                    .iter()
                    .filter_map(|scope| {
                        let parts: Vec<&str> = scope.split(':').collect();
                        (parts.len() == 3).then(|| {
                            json!({"type": parts[0], "name": parts[1], "actions": parts[2].split(',').collect::<Vec<_>>()})
                        })
                    })
                    .collect();
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                let header = json!({"typ": "JWT", "alg": "ES256", "x5c": [x5c]});
                let claims = json!({
                    "iss": "airgap-test", "sub": USER, "aud": "airgap-registry",
                    "exp": now + 300, "nbf": now - 10, "iat": now - 10,
                    "jti": format!("{now}-{}", access.len()), "access": access,
                });
                let signing_input = format!(
                    "{}.{}",
                    url.encode(header.to_string()),
                    url.encode(claims.to_string())
                );
                let rng = aws_lc_rs::rand::SystemRandom::new();
                let signature = signer.sign(&rng, signing_input.as_bytes()).unwrap();
                let token = format!("{signing_input}.{}", url.encode(signature.as_ref()));
                let body = json!({"token": token}).to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (TokenService { port, scopes }, bundle)
    }
}

#[test]
fn a_registry_with_token_auth_gets_push_and_mount_scopes() {
    let env = Env::new();
    let images = media(&env, 50_000);
    let directory = env.temp.path().join("registry");
    let (tokens, bundle) = TokenService::start(&directory);
    let registry = Registry::start_with_auth(
        &directory,
        &format!(
            "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: airgap-registry\n    issuer: airgap-test\n    rootcertbundle: {}\n",
            tokens.port,
            bundle.display()
        ),
    );
    let target = format!("{}/mirror", registry.host());
    let refused = push(&env, &target, &[], "wrong");
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert_eq!(uploads(&log(&directory)), 0);
    let run = push(&env, &target, &[], PASSWORD);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for (reference, digest) in &images {
        assert_eq!(
            &inspect(&format!("{target}/{reference}")),
            digest,
            "{reference}"
        );
    }
    let scopes = tokens.scopes.lock().unwrap().clone();
    assert!(
        scopes
            .iter()
            .any(|scope| scope == "repository:mirror/registry.k8s.io/kube-apiserver:pull,push"),
        "{scopes:?}"
    );
    // Mounting a shared blob asks to pull from the repository it came from.
    assert!(log(&directory).contains("mount=sha256"));
    assert!(
        scopes
            .iter()
            .any(|scope| scope.ends_with(":pull") && scope.starts_with("repository:mirror/")),
        "{scopes:?}"
    );
}
