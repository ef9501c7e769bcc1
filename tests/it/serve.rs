//! `airgap serve` against real clients: skopeo pulling images by host-prefixed and by
//! flattened names, apt-get and dnf installing from the served repositories, curl for ranges,
//! conditional requests and TLS, and a hostile-input suite on raw sockets.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::registry::{Layout, Registry, raw_digest, skopeo};
use crate::support::{BINARY, Env, Run, TestCa, bytes, output, sha256_hex};

/// A running `airgap serve`, stopped with SIGTERM when dropped.
pub struct Served {
    child: Child,
    pub port: u16,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .arg(self.child.id().to_string())
                .status();
        }
        let _ = self.child.wait();
    }
}

/// Starts `airgap serve media` on a port of its own choosing (read back from its status line,
/// so parallel tests never race for a port), with extra arguments.
pub fn serve(media: &Path, extra: &[&str]) -> Served {
    use std::io::BufRead;
    let mut child = Command::new(BINARY)
        .arg("serve")
        .arg(media)
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("airgap serve");
    let stderr = child.stderr.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sender = Some(sender);
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(port) = line
                .rsplit_once("127.0.0.1:")
                .and_then(|(_, port)| port.trim().parse::<u16>().ok())
                && let Some(sender) = sender.take()
            {
                let _ = sender.send(port);
            }
        }
    });
    let port = receiver
        .recv_timeout(Duration::from_secs(20))
        .expect("airgap serve did not start");
    Served { child, port }
}

impl Served {
    /// Kills the server at once (SIGKILL), as a crash or a lost machine would.
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The peak resident memory of the server so far (`VmHWM`), in bytes.
    pub fn peak_memory(&self) -> u64 {
        crate::support::peak_memory(self.child.id()).unwrap()
    }
}

/// Sends raw bytes and returns the raw response (head and body).
fn raw(port: u16, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.write_all(request);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    response
}

fn curl(args: &[&str]) -> Run {
    let mut command = Command::new("curl");
    command.args(["-sS", "--path-as-is"]).args(args);
    output(command)
}

/// A tree with a file and two images named as on their real registries (built in-house into
/// workspace layouts, so no upstream registry runs while the media is served). Returns the
/// digests of the two images.
pub fn media_with_images(env: &Env) -> (String, String) {
    let mut layout = Layout::new(&env.workspace().join("images"));
    let base = layout.layer(&[("etc/os-release", b"ID=served\n")]);
    let amd64 = layout.image("amd64", std::slice::from_ref(&base));
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
    env.workspace_file("artifacts/big.bin", &bytes(70, 3_000_000));
    env.manifest(
        "media.toml",
        "[[file]]\nname = \"big\"\nurl = \"artifacts/big.bin\"\npath = \"tools/big.bin\"\n\n\
         [[image]]\nref = \"registry.k8s.io/kube-apiserver:v1.33.4\"\nlayout = \"images\"\nplatforms = [\"all\"]\n\n\
         [[image]]\nref = \"quay.io/calico/node:v3.28.1\"\nlayout = \"images\"\n",
    );
    env.materialize(&[]).success();
    (
        format!("sha256:{}", sha256_hex(&index)),
        format!("sha256:{}", sha256_hex(&calico)),
    )
}

#[test]
fn skopeo_pulls_every_image_by_host_prefixed_and_flattened_names() {
    let env = Env::new();
    let (apiserver_digest, calico_digest) = media_with_images(&env);
    let (apiserver_digest, calico_digest) = (apiserver_digest.as_str(), calico_digest.as_str());
    let served = serve(&env.media(), &[]);
    let server = format!("127.0.0.1:{}", served.port);
    let second = Registry::start(&env.temp.path().join("second"), None);
    let cases = [
        (
            format!("{server}/registry.k8s.io/kube-apiserver:v1.33.4"),
            "a/apiserver:1",
            apiserver_digest,
        ),
        (
            format!("{server}/kube-apiserver:v1.33.4"),
            "b/apiserver:1",
            apiserver_digest,
        ),
        (
            format!("{server}/quay.io/calico/node:v3.28.1"),
            "a/calico:1",
            calico_digest,
        ),
        (
            format!("{server}/calico/node:v3.28.1"),
            "b/calico:1",
            calico_digest,
        ),
    ];
    for (source, destination, digest) in cases {
        let run = skopeo(&[
            "copy",
            "--quiet",
            "--all",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &format!("docker://{source}"),
            &format!("docker://{}/{destination}", second.host()),
        ]);
        assert_eq!(run.code, 0, "skopeo copy {source}: {}", run.stderr);
        assert_eq!(
            raw_digest(&format!("{}/{destination}", second.host()), &[]),
            digest,
            "{source}"
        );
    }
    // containerd's mirrors send ?ns=<upstream registry>.
    let by_namespace = curl(&[
        "-i",
        "-H",
        "Accept: application/vnd.oci.image.index.v1+json",
        &format!("http://{server}/v2/kube-apiserver/manifests/v1.33.4?ns=registry.k8s.io"),
    ]);
    assert!(
        by_namespace
            .stdout
            .contains(&format!("docker-content-digest: {apiserver_digest}")),
        "{}",
        by_namespace.stdout
    );
    let catalog = curl(&[&format!("http://{server}/v2/_catalog")]);
    assert!(
        catalog.stdout.contains("quay.io/calico/node"),
        "{}",
        catalog.stdout
    );
    let unknown = curl(&["-i", &format!("http://{server}/v2/nothing/manifests/1")]);
    assert!(
        unknown.stdout.contains("404") && unknown.stdout.contains("NAME_UNKNOWN"),
        "{}",
        unknown.stdout
    );
    let write = curl(&[
        "-i",
        "-X",
        "PUT",
        &format!("http://{server}/v2/kube-apiserver/manifests/v2"),
    ]);
    assert!(
        write.stdout.contains("405") && write.stdout.contains("UNSUPPORTED"),
        "{}",
        write.stdout
    );
    let upload = curl(&[
        "-i",
        "-X",
        "POST",
        &format!("http://{server}/v2/kube-apiserver/blobs/uploads/"),
    ]);
    assert!(upload.stdout.contains("UNSUPPORTED"), "{}", upload.stdout);
}

#[test]
fn files_with_ranges_conditional_requests_and_listings() {
    let env = Env::new();
    env.workspace_file("artifacts/big.bin", &bytes(71, 100_000));
    env.manifest(
        "files.toml",
        "[[file]]\nname = \"big\"\nurl = \"artifacts/big.bin\"\npath = \"tools/big.bin\"\n",
    );
    env.materialize(&[]).success();
    let served = serve(&env.media(), &[]);
    let url = format!("http://127.0.0.1:{}/files/tools/big.bin", served.port);
    let content = bytes(71, 100_000);
    let head = curl(&["-I", &url]);
    assert!(
        head.stdout.contains("content-length: 100000"),
        "{}",
        head.stdout
    );
    let etag = head
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("etag: "))
        .unwrap()
        .trim()
        .to_string();
    let ranged = Command::new("curl")
        .args(["-s", "-r", "1000-1999", &url])
        .output()
        .unwrap();
    assert_eq!(ranged.stdout, content[1000..2000]);
    let multi = curl(&["-i", "-r", "0-9,50000-50009", &url]);
    assert!(
        multi.stdout.contains("206") && multi.stdout.contains("multipart/byteranges"),
        "{}",
        multi.stdout
    );
    let not_modified = curl(&["-i", "-H", &format!("If-None-Match: {etag}"), &url]);
    assert!(
        not_modified.stdout.starts_with("HTTP/1.1 304"),
        "{}",
        not_modified.stdout
    );
    let listing = curl(&[&format!("http://127.0.0.1:{}/files/tools/", served.port)]);
    assert!(listing.stdout.contains("big.bin"), "{}", listing.stdout);
    let full = Command::new("curl").args(["-s", &url]).output().unwrap();
    assert_eq!(sha256_hex(&full.stdout), sha256_hex(&content));
    let health = curl(&[&format!("http://127.0.0.1:{}/healthz", served.port)]);
    assert_eq!(health.stdout, "ok\n");
}

#[test]
fn hostile_requests_never_leave_the_tree_nor_stop_the_server() {
    let env = Env::new();
    env.workspace_file("artifacts/a", b"inside");
    env.manifest(
        "files.toml",
        "[[file]]\nname = \"a\"\nurl = \"artifacts/a\"\npath = \"a\"\n",
    );
    env.materialize(&[]).success();
    // A secret next to the tree, and a symlink inside the tree pointing at it.
    let secret = "TOP-SECRET-OUTSIDE-THE-MEDIA";
    std::fs::write(env.temp.path().join("secret.txt"), secret).unwrap();
    std::os::unix::fs::symlink(
        env.temp.path().join("secret.txt"),
        env.media().join("files/link"),
    )
    .unwrap();
    std::os::unix::fs::symlink(env.temp.path(), env.media().join("files/escape")).unwrap();
    let before = crate::support::tool("sha256sum", &["-c", "--quiet", "SHA256SUMS"], &env.media());
    assert_eq!(before.code, 0);
    let served = serve(&env.media(), &["--header-timeout", "2"]);
    let port = served.port;
    let long = "a/".repeat(5000);
    let huge_header = format!(
        "GET /files/a HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(200_000)
    );
    let requests: Vec<Vec<u8>> = vec![
        b"GET /files/../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /files/..%2fsecret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /files/%2e%2e/secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /files/%2E%2E%2Fsecret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /files/%252e%252e/secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /files/....//secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /files/..\\secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /files/%5c..%5csecret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /files/link HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /files/escape/secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /files/escape/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /../../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET //secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /files/a%00.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /files/%ff%fe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /files/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /files/%c0%ae%c0%ae/secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET http://127.0.0.1/../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /oci/../../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /keys/../../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /v2/../../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /v2/a/blobs/sha256:../../../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /v2/a/blobs/..%2f..%2fsecret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /v2/a/manifests/../../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        format!("GET /files/{long} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").into_bytes(),
        huge_header.into_bytes(),
        b"GARBAGE\r\n\r\n".to_vec(),
        b"GET\r\n\r\n".to_vec(),
        b"GET /files/a HTTP/9.9\r\n\r\n".to_vec(),
        b"\x00\x01\x02\x03\r\n\r\n".to_vec(),
        b"GET /files/a HTTP/1.1\r\nHost: x\r\nRange: bytes=99999999999999999999-\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /files/a HTTP/1.1\r\nHost: x\r\nRange: bytes=5-1,-0,abc\r\nConnection: close\r\n\r\n".to_vec(),
        b"DELETE /files/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"PUT /files/new HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc".to_vec(),
        b"POST /v2/a/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
    ];
    assert!(requests.len() >= 30);
    for request in &requests {
        let response = raw(port, request);
        let text = String::from_utf8_lossy(&response);
        assert!(
            !text.contains(secret),
            "leaked the secret for {:?}:\n{text}",
            String::from_utf8_lossy(request)
        );
    }
    // Still alive, and still serving what is inside.
    let inside = raw(
        port,
        b"GET /files/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(String::from_utf8_lossy(&inside).ends_with("inside"));
    // Nothing was written into the tree.
    assert!(!env.media().join("files/new").exists());
    std::fs::remove_file(env.media().join("files/link")).unwrap();
    std::fs::remove_file(env.media().join("files/escape")).unwrap();
    let after = crate::support::tool("sha256sum", &["-c", "--quiet", "SHA256SUMS"], &env.media());
    assert_eq!(after.code, 0);
}

#[test]
fn a_slow_client_does_not_block_a_normal_one() {
    let env = Env::new();
    env.workspace_file("artifacts/a", b"inside");
    env.manifest(
        "files.toml",
        "[[file]]\nname = \"a\"\nurl = \"artifacts/a\"\npath = \"a\"\n",
    );
    env.materialize(&[]).success();
    let served = serve(&env.media(), &["--header-timeout", "2"]);
    let port = served.port;
    // Slowloris: many connections that trickle headers and never finish them.
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .write_all(b"GET /files/a HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        slow.push(stream);
    }
    let started = Instant::now();
    let response = raw(
        port,
        b"GET /files/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(String::from_utf8_lossy(&response).ends_with("inside"));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a normal request waited {:?}",
        started.elapsed()
    );
    // The trickling clients are cut off after the header timeout.
    std::thread::sleep(Duration::from_secs(3));
    let mut closed = 0;
    for stream in &mut slow {
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut buffer = [0u8; 256];
        if stream.read(&mut buffer).is_ok() {
            closed += 1;
        }
    }
    assert_eq!(closed, slow.len(), "slow clients must be disconnected");
}

#[test]
fn tls_with_a_test_ca() {
    let env = Env::new();
    env.workspace_file("artifacts/a", b"over tls");
    env.manifest(
        "files.toml",
        "[[file]]\nname = \"a\"\nurl = \"artifacts/a\"\npath = \"a\"\n",
    );
    env.materialize(&[]).success();
    let tls = TestCa::write(&env.temp.path().join("tls"));
    let served = serve(
        &env.media(),
        &[
            "--tls-cert",
            tls.cert.to_str().unwrap(),
            "--tls-key",
            tls.key.to_str().unwrap(),
        ],
    );
    let url = format!("https://127.0.0.1:{}/files/a", served.port);
    let trusted = curl(&["--cacert", tls.ca.to_str().unwrap(), &url]);
    assert_eq!(trusted.stdout, "over tls", "{}", trusted.stderr);
    let untrusted = curl(&[&url]);
    assert_ne!(untrusted.code, 0);
}

/// Debian's containerd, as root on a private socket, root and state directory.
pub struct Containerd {
    child: Child,
    socket: std::path::PathBuf,
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Containerd {
    pub fn start(directory: &Path) -> Containerd {
        std::fs::create_dir_all(directory).unwrap();
        let socket = directory.join("containerd.sock");
        let config = directory.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\n[grpc]\n  address = \"{1}\"\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  disable_apparmor = true\n",
                directory.display(),
                socket.display()
            ),
        )
        .unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("containerd is installed");
        let containerd = Containerd { child, socket };
        let deadline = Instant::now() + Duration::from_secs(30);
        while containerd.ctr(&["version"]).code != 0 {
            assert!(Instant::now() < deadline, "containerd did not start");
            std::thread::sleep(Duration::from_millis(200));
        }
        containerd
    }

    fn ctr(&self, args: &[&str]) -> Run {
        let mut command = Command::new("ctr");
        command.arg("--address").arg(&self.socket).args(args);
        output(command)
    }
}

/// `ctr images pull` through the rendered hosts.toml files; returns the pull's outcome.
pub fn ctr_pull(containerd: &Containerd, hosts: &Path, reference: &str) -> Run {
    containerd.ctr(&[
        "images",
        "pull",
        "--snapshotter",
        "native",
        "--hosts-dir",
        hosts.to_str().unwrap(),
        reference,
    ])
}

pub fn assert_pulled(containerd: &Containerd, reference: &str, digest: &str) {
    let listed = containerd.ctr(&["images", "ls"]);
    let line = listed
        .stdout
        .lines()
        .find(|line| line.starts_with(reference))
        .unwrap_or_default();
    assert!(
        line.contains(digest),
        "{reference} is not {digest}:\n{}",
        listed.stdout
    );
}

#[test]
fn containerd_pulls_by_original_names_through_the_mirror() {
    let env = Env::new();
    let (apiserver_digest, calico_digest) = media_with_images(&env);
    let served = serve(&env.media(), &[]);
    // The configuration rendered for where the server listens in this test.
    let url = format!("http://127.0.0.1:{}", served.port);
    env.run(&["render", env.media().to_str().unwrap(), "--url", &url])
        .success();
    let hosts = env.media().join("config/containerd/certs.d");
    for registry in ["registry.k8s.io", "quay.io"] {
        let text = std::fs::read_to_string(hosts.join(registry).join("hosts.toml")).unwrap();
        assert!(
            text.contains(&format!("server = \"https://{registry}\"")),
            "{text}"
        );
    }
    let containerd = Containerd::start(&env.temp.path().join("containerd"));
    // By the original names, and by Kubespray's `{{ registry_host }}/<upstream>/...` names
    // (plain HTTP to the media's own host:port, from its host_port_ directory).
    let own = format!(
        "127.0.0.1:{}/registry.k8s.io/kube-apiserver:v1.33.4",
        served.port
    );
    for (reference, digest) in [
        ("registry.k8s.io/kube-apiserver:v1.33.4", &apiserver_digest),
        ("quay.io/calico/node:v3.28.1", &calico_digest),
        (own.as_str(), &apiserver_digest),
    ] {
        let pull = ctr_pull(&containerd, &hosts, reference);
        assert_eq!(
            pull.code, 0,
            "ctr images pull {reference}: {}{}",
            pull.stdout, pull.stderr
        );
        assert_pulled(&containerd, reference, digest);
    }
}

#[test]
fn containerd_trusts_the_private_ca_named_in_hosts_toml() {
    let env = Env::new();
    let (apiserver_digest, _) = media_with_images(&env);
    let tls = TestCa::write(&env.temp.path().join("tls"));
    let served = serve(
        &env.media(),
        &[
            "--tls-cert",
            tls.cert.to_str().unwrap(),
            "--tls-key",
            tls.key.to_str().unwrap(),
        ],
    );
    let media = env.media();
    let url = format!("https://127.0.0.1:{}", served.port);
    let hosts = media.join("config/containerd/certs.d");
    let containerd = Containerd::start(&env.temp.path().join("containerd"));
    let reference = "registry.k8s.io/kube-apiserver:v1.33.4";

    // Without the CA, containerd refuses the server's certificate.
    env.run(&["render", media.to_str().unwrap(), "--url", &url])
        .success();
    let refused = ctr_pull(&containerd, &hosts, reference);
    assert_ne!(refused.code, 0, "{}", refused.stdout);

    env.run(&[
        "render",
        media.to_str().unwrap(),
        "--url",
        &url,
        "--ca",
        tls.ca.to_str().unwrap(),
    ])
    .success();
    let text = std::fs::read_to_string(hosts.join("registry.k8s.io").join("hosts.toml")).unwrap();
    assert!(text.contains("ca = \"ca.crt\""), "{text}");
    let pull = ctr_pull(&containerd, &hosts, reference);
    assert_eq!(pull.code, 0, "{}{}", pull.stdout, pull.stderr);
    assert_pulled(&containerd, reference, &apiserver_digest);
    env.verify(&[]).success();
}

#[test]
fn git_clones_a_served_repository_over_dumb_http() {
    let env = Env::new();
    env.workspace_file("artifacts/a", b"a");
    env.manifest(
        "files.toml",
        "[[file]]\nname = \"a\"\nurl = \"artifacts/a\"\npath = \"a\"\n",
    );
    env.materialize(&[]).success();
    // A bare repository as the git issue will write it: a commit, a tag, update-server-info.
    let work = env.temp.path().join("work");
    let bare = env.media().join("git/demo.git");
    let git = crate::git::git;
    std::fs::create_dir_all(&work).unwrap();
    git(&["init", "-q"], &work);
    std::fs::write(work.join("README"), "served over dumb HTTP\n").unwrap();
    git(&["add", "README"], &work);
    git(&["commit", "-q", "-m", "first"], &work);
    git(&["tag", "v1.0"], &work);
    git(
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
        env.temp.path(),
    );
    git(&["update-server-info"], &bare);
    let served = serve(&env.media(), &[]);
    let clone = env.temp.path().join("clone");
    git(
        &[
            "clone",
            "-q",
            "--branch",
            "v1.0",
            &format!("http://127.0.0.1:{}/git/demo.git", served.port),
            clone.to_str().unwrap(),
        ],
        env.temp.path(),
    );
    assert_eq!(
        std::fs::read_to_string(clone.join("README")).unwrap(),
        "served over dumb HTTP\n"
    );
}

#[test]
fn the_rendered_nginx_conf_passes_nginx_t_and_serves_the_tree() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    env.workspace_file("artifacts/a", b"served by nginx");
    env.manifest(
        "files.toml",
        "[enclave]\nurl = \"http://mirror.enclave.internal:8080\"\n\n[[file]]\nname = \"a\"\nurl = \"artifacts/a\"\npath = \"tools/a\"\n",
    );
    env.materialize(&[]).success();
    let conf = env.media().join("config/nginx.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(
        text.contains("listen 8080;") && text.contains(&format!("root {};", env.media().display())),
        "{text}"
    );
    let checked = crate::support::tool(
        "nginx",
        &["-t", "-c", conf.to_str().unwrap()],
        env.temp.path(),
    );
    assert_eq!(checked.code, 0, "nginx -t: {}", checked.stderr);
    // Run it on a free port, with its pid file in the test's directory.
    for directory in [
        env.temp.path().to_path_buf(),
        env.media(),
        env.media().join("files"),
        env.media().join("files/tools"),
    ] {
        std::fs::set_permissions(&directory, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let running = text.replace("listen 8080;", &format!("listen 127.0.0.1:{port};"));
    let nginx =
        crate::support::start_nginx(&running, "pid /run/airgap-nginx.pid;", env.temp.path());
    let fetched = curl(&[&format!("http://127.0.0.1:{port}/files/tools/a")]);
    let outside = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("http://127.0.0.1:{port}/oci/index.json"),
    ]);
    drop(nginx);
    assert_eq!(fetched.stdout, "served by nginx");
    assert_eq!(outside.stdout, "404");
}

#[test]
fn blobs_and_files_that_leave_the_tree_or_never_end_are_not_served() {
    // Failed before: a blob symlinked to a file outside the tree was served (the registry only
    // checked is_file()), and a FIFO in the tree made a GET hang until the client gave up.
    let env = Env::new();
    media_with_images(&env);
    let media = env.media();
    let blobs = media.join("oci/blobs/sha256");
    let layer = std::fs::read_dir(&blobs)
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .find(|path| std::fs::read(path).unwrap().starts_with(&[0x1f, 0x8b]))
        .expect("a gzip layer");
    let layer_hex = layer.file_name().unwrap().to_string_lossy().into_owned();
    let outside = env.temp.path().join("secret.txt");
    std::fs::write(&outside, b"outside the tree").unwrap();
    std::fs::remove_file(&layer).unwrap();
    std::os::unix::fs::symlink(&outside, &layer).unwrap();
    let fifo_hex = sha256_hex(b"a fifo");
    for fifo in [media.join("files/fifo"), blobs.join(&fifo_hex)] {
        let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
    }
    let served = serve(&media, &[]);
    let base = format!("http://127.0.0.1:{}", served.port);
    for path in [
        format!("/v2/registry.k8s.io/kube-apiserver/blobs/sha256:{layer_hex}"),
        format!("/v2/registry.k8s.io/kube-apiserver/blobs/sha256:{fifo_hex}"),
        "/files/fifo".to_string(),
    ] {
        let started = Instant::now();
        let run = curl(&[
            "--max-time",
            "5",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{base}{path}"),
        ]);
        assert_eq!(run.stdout.trim(), "404", "{path}: {}", run.stderr);
        assert!(started.elapsed() < Duration::from_secs(4), "{path} hung");
    }
}

#[test]
fn many_multi_range_requests_are_streamed_not_built_in_memory() {
    // Failed before: each multipart answer was built in memory (up to 64 MiB a request), so
    // parallel `bytes=0-,0-,...` requests took the server past a GiB.
    let env = Env::new();
    media_with_images(&env);
    let served = serve(&env.media(), &[]);
    let url = format!("http://127.0.0.1:{}/files/tools/big.bin", served.port);
    let content = std::fs::read(env.media().join("files/tools/big.bin")).unwrap();
    let exact = Command::new("curl")
        .args(["-s", "-r", "0-9,100-104", &url])
        .output()
        .unwrap();
    let body = String::from_utf8_lossy(&exact.stdout).into_owned();
    assert!(
        body.contains(&format!("Content-Range: bytes 0-9/{}", content.len())),
        "{body}"
    );
    assert!(
        exact
            .stdout
            .windows(10)
            .any(|window| window == &content[0..10])
    );
    assert!(
        exact
            .stdout
            .windows(5)
            .any(|window| window == &content[100..105])
    );
    let ranges = vec!["0-"; 16].join(",");
    let clients: Vec<_> = (0..24)
        .map(|_| {
            Command::new("curl")
                .args([
                    "-s",
                    "-o",
                    "/dev/null",
                    "-r",
                    &ranges,
                    "--limit-rate",
                    "20M",
                    &url,
                ])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut client in clients {
        client.wait().unwrap();
    }
    let peak = served.peak_memory();
    assert!(peak < 256 << 20, "the server peaked at {} MiB", peak >> 20);
}

#[test]
fn clients_that_never_read_lose_their_slots_after_the_send_timeout() {
    // Failed before: a client that asked for a large answer and never read held its
    // connection slot forever; with every slot taken, nothing else was served.
    let env = Env::new();
    media_with_images(&env);
    let served = serve(
        &env.media(),
        &["--max-connections", "8", "--send-timeout", "2"],
    );
    let ranges = vec!["0-"; 16].join(",");
    let request =
        format!("GET /files/tools/big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes={ranges}\r\n\r\n");
    // Eight clients ask for 48 MB each and never read a byte.
    let stuck: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut stream = TcpStream::connect(("127.0.0.1", served.port)).unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let health = || {
        let response = raw(
            served.port,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        String::from_utf8_lossy(&response).contains("200 OK")
    };
    assert!(
        !health(),
        "every slot should be taken while the clients stall"
    );
    let started = Instant::now();
    while !health() {
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "no slot was freed after the send timeout"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(stuck);
}

#[test]
fn a_thousand_idle_or_never_reading_clients_free_their_slots_and_healthz_answers() {
    // Failed before: a client that connects and sends nothing held its slot forever (hyper's
    // header timeout starts at the first byte), and the listen backlog of 128 made the burst
    // of connections take seconds. A thousand connections take every slot: most
    // send nothing at all, some ask for a large file and never read. /healthz is refused while they hold the slots, and answers within
    // a second of the header or send timeout freeing them; the server's memory stays bounded.
    let env = Env::new();
    media_with_images(&env);
    let served = serve(
        &env.media(),
        &[
            "--max-connections",
            "1000",
            "--header-timeout",
            "3",
            "--send-timeout",
            "3",
            "--idle-timeout",
            "3",
        ],
    );
    let request = "GET /files/tools/big.bin HTTP/1.1\r\nHost: x\r\n\r\n";
    let opened = Instant::now();
    let mut clients = Vec::new();
    for number in 0..1000 {
        let mut stream = TcpStream::connect(("127.0.0.1", served.port)).unwrap();
        if number % 50 == 0 {
            stream.write_all(request.as_bytes()).unwrap();
        }
        clients.push(stream);
    }
    std::thread::sleep(Duration::from_millis(300));
    let health = || {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", served.port)) else {
            return false;
        };
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        if stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .is_err()
        {
            return false;
        }
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        String::from_utf8_lossy(&response).contains("200 OK")
    };
    assert!(
        !health(),
        "every slot should be taken by the thousand clients ({:?} after they began)",
        opened.elapsed()
    );
    while !health() {
        assert!(
            opened.elapsed() < Duration::from_secs(3 + 1 + 2),
            "no slot freed: {:?} after the clients connected",
            opened.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let answered = opened.elapsed();
    eprintln!("/healthz answered {answered:?} after the thousand clients began to connect");
    assert!(
        answered >= Duration::from_secs(2),
        "answered after {answered:?}: the slots were not all taken"
    );
    // Every client was cut off: reads end (end of stream or reset) instead of waiting.
    let mut cut = 0;
    for stream in &mut clients {
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buffer = vec![0u8; 1 << 16];
        let closed = loop {
            match stream.read(&mut buffer) {
                Ok(0) => break true,
                Ok(_) => continue,
                Err(error)
                    if matches!(
                        error.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break false;
                }
                Err(_) => break true,
            }
        };
        cut += usize::from(closed);
    }
    assert_eq!(cut, clients.len());
    let peak = served.peak_memory();
    assert!(peak < 256 << 20, "the server peaked at {} MiB", peak >> 20);
}

/// A media tree with one file, for the listen tests.
fn small_media(env: &Env) {
    env.workspace_file("artifacts/one", b"one\n");
    env.manifest(
        "files.toml",
        "[[file]]\nname = \"one\"\nurl = \"artifacts/one\"\n",
    );
    env.materialize(&[]).success();
}

/// A port free on both IPv4 and IPv6 right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("[::]:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `airgap serve` with exactly these `--listen` arguments; returns the child and its stderr
/// lines as they come.
fn serve_listening(
    media: &Path,
    listen: &[String],
    extra: &[&str],
) -> (Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let mut command = Command::new(BINARY);
    command.arg("serve").arg(media);
    for address in listen {
        command.args(["--listen", address]);
    }
    let mut child = command
        .args(extra)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("airgap serve");
    let stderr = child.stderr.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = sender.send(line);
        }
    });
    (child, receiver)
}

fn wait_for(lines: &std::sync::mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(100)) {
            let found = line.contains(needle);
            seen.push(line);
            if found {
                return;
            }
        }
    }
    panic!("no line with {needle:?} in {seen:?}");
}

#[test]
fn listens_dual_stack_with_both_addresses_or_with_the_ipv6_one_alone() {
    let env = Env::new();
    small_media(&env);
    for listen in [
        vec![format!("0.0.0.0:{}", free_port())],
        vec![format!("[::]:{}", free_port())],
    ] {
        let port: u16 = listen[0].rsplit(':').next().unwrap().parse().unwrap();
        let both = vec![format!("0.0.0.0:{port}"), format!("[::]:{port}")];
        for addresses in [both, vec![format!("[::]:{port}")]] {
            let (mut child, lines) =
                serve_listening(&env.media(), &addresses, &["--log-format", "combined"]);
            let mut seen = Vec::new();
            for _ in &addresses {
                wait_for(&lines, "Serving", &mut seen);
            }
            for url in [
                format!("http://127.0.0.1:{port}/files/local/artifacts/one"),
                format!("http://[::1]:{port}/files/local/artifacts/one"),
            ] {
                let run = curl(&["-f", "-A", "test-agent", &url]);
                assert_eq!(run.stdout, "one\n", "{addresses:?} {url}: {}", run.stderr);
            }
            // The access log: combined format with a timestamp; an IPv4 client through the
            // IPv6 socket shows as IPv4.
            wait_for(&lines, "\"test-agent\"", &mut seen);
            let logged = seen.join("\n");
            assert!(
                logged.contains("127.0.0.1 - - [")
                    && logged.contains(
                        "] \"GET /files/local/artifacts/one HTTP/1.1\" 200 4 \"-\" \"test-agent\""
                    ),
                "{logged}"
            );
            assert!(!logged.contains("::ffff:"), "{logged}");
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }
}

#[test]
fn a_port_in_use_fails_with_a_hint_and_serves_nothing() {
    let env = Env::new();
    small_media(&env);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let free = free_port();
    // The free address is not announced either: every socket is bound before "Serving".
    let mut command = env.command(&[
        "serve",
        env.media().to_str().unwrap(),
        "--listen",
        &format!("127.0.0.1:{free}"),
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    let run = output({
        command.stdin(Stdio::null());
        command
    });
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(!run.stderr.contains("Serving"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("hint: another process listens on port {port}")),
        "{}",
        run.stderr
    );
}

#[test]
fn the_access_log_can_be_json() {
    let env = Env::new();
    small_media(&env);
    let port = free_port();
    let (mut child, lines) = serve_listening(
        &env.media(),
        &[format!("127.0.0.1:{port}")],
        &["--log-format", "json"],
    );
    let mut seen = Vec::new();
    wait_for(&lines, "Serving", &mut seen);
    curl(&[
        "-f",
        &format!("http://127.0.0.1:{port}/files/local/artifacts/one"),
    ])
    .success();
    wait_for(&lines, "\"status\"", &mut seen);
    let line = seen.last().unwrap();
    let entry: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(entry["client"], "127.0.0.1");
    assert_eq!(entry["status"], 200);
    assert_eq!(entry["bytes"], 4);
    assert_eq!(entry["request"], "GET /files/local/artifacts/one HTTP/1.1");
    assert!(entry["time"].as_str().unwrap().ends_with('Z'), "{line}");
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}
