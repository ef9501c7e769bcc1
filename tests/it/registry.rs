//! Real registries for the image tests: Debian's `docker-registry` (CNCF distribution) on
//! 127.0.0.1, optionally behind htpasswd, filled with `skopeo` from OCI layouts that these
//! helpers build with real `tar` and `gzip` (so that `umoci` can unpack them).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Run, output, sha256_hex};

/// A running `docker-registry`, stopped when dropped.
pub struct Registry {
    child: Child,
    pub port: u16,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// Starts a registry storing into `directory`, with basic auth when `htpasswd` is given
    /// (`user`, `password`).
    pub fn start(directory: &Path, htpasswd: Option<(&str, &str)>) -> Registry {
        Registry::start_with(directory, htpasswd, None)
    }

    /// A registry with this `auth:` section (e.g. token auth).
    pub fn start_with_auth(directory: &Path, auth: &str) -> Registry {
        Registry::launch(directory, None, None, auth)
    }

    /// A registry on a fixed port (the README's walkthrough names 127.0.0.1:5000).
    pub fn start_at(directory: &Path, port: u16) -> Registry {
        Registry::launch_on(directory, None, None, "", port)
    }

    /// As [`Registry::start`], over TLS with this PEM certificate and key when given.
    pub fn start_with(
        directory: &Path,
        htpasswd: Option<(&str, &str)>,
        tls: Option<(&Path, &Path)>,
    ) -> Registry {
        Registry::launch(directory, htpasswd, tls, "")
    }

    fn launch(
        directory: &Path,
        htpasswd: Option<(&str, &str)>,
        tls: Option<(&Path, &Path)>,
        auth: &str,
    ) -> Registry {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Registry::launch_on(directory, htpasswd, tls, auth, port)
    }

    fn launch_on(
        directory: &Path,
        htpasswd: Option<(&str, &str)>,
        tls: Option<(&Path, &Path)>,
        auth: &str,
        port: u16,
    ) -> Registry {
        std::fs::create_dir_all(directory.join("storage")).unwrap();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            directory.join("storage").display()
        );
        if let Some((certificate, key)) = tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                certificate.display(),
                key.display()
            ));
        }
        if let Some((user, password)) = htpasswd {
            let file = directory.join("htpasswd");
            let run = output({
                let mut command = Command::new("htpasswd");
                command.args(["-Bbc", file.to_str().unwrap(), user, password]);
                command
            });
            assert_eq!(run.code, 0, "htpasswd: {}", run.stderr);
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: airgap-test\n    path: {}\n",
                file.display()
            ));
        }
        config.push_str(auth);
        let config_path = directory.join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        // The access log (one line per request) goes to registry.log for tests that count
        // requests.
        let log = std::fs::File::create(directory.join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry is installed");
        let registry = Registry { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// `skopeo` with TLS off for loopback registries.
pub fn skopeo(args: &[&str]) -> Run {
    let mut command = Command::new("skopeo");
    command.args(args);
    output(command)
}

/// Pushes `layout:tag` to `docker://destination`, with extra skopeo copy flags.
pub fn push(layout: &Path, tag: &str, destination: &str, extra: &[&str]) {
    let source = format!("oci:{}:{tag}", layout.display());
    let destination = format!("docker://{destination}");
    let mut args = vec!["copy", "--quiet", "--dest-tls-verify=false"];
    args.extend_from_slice(extra);
    args.push(&source);
    args.push(&destination);
    let run = skopeo(&args);
    assert_eq!(run.code, 0, "skopeo {args:?}: {}", run.stderr);
}

/// `skopeo inspect --raw` digest of a registry reference.
pub fn raw_digest(reference: &str, extra: &[&str]) -> String {
    let target = format!("docker://{reference}");
    let mut args = vec!["inspect", "--raw", "--tls-verify=false"];
    args.extend_from_slice(extra);
    args.push(&target);
    let run = skopeo(&args);
    assert_eq!(run.code, 0, "skopeo inspect: {}", run.stderr);
    format!("sha256:{}", sha256_hex(run.stdout.as_bytes()))
}

/// A descriptor as JSON.
pub fn descriptor(media_type: &str, bytes: &[u8]) -> serde_json::Value {
    json!({"mediaType": media_type, "digest": format!("sha256:{}", sha256_hex(bytes)), "size": bytes.len()})
}

/// Builds OCI image layouts on disk.
pub struct Layout {
    pub dir: PathBuf,
    entries: Vec<serde_json::Value>,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let layout = Layout {
            dir: dir.to_path_buf(),
            entries: Vec::new(),
        };
        layout.write_index();
        layout
    }

    pub fn blob(&self, bytes: &[u8]) -> String {
        let hex = sha256_hex(bytes);
        std::fs::write(self.dir.join("blobs/sha256").join(&hex), bytes).unwrap();
        format!("sha256:{hex}")
    }

    /// A gzip'd tar layer holding `files` (name, content), reproducible; returns (gz, tar).
    pub fn layer(&self, files: &[(&str, &[u8])]) -> (Vec<u8>, Vec<u8>) {
        let source = tempfile::tempdir().unwrap();
        for (name, content) in files {
            let path = source.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        let tar = Command::new("tar")
            .args([
                "--sort=name",
                "--mtime=@0",
                "--owner=0",
                "--group=0",
                "--numeric-owner",
                "-cf",
                "-",
                "-C",
            ])
            .arg(source.path())
            .arg(".")
            .output()
            .unwrap();
        assert!(tar.status.success());
        let mut gzip = Command::new("gzip")
            .args(["-n", "-c"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Fed from a thread: a large layer fills the output pipe before the input is written.
        let mut stdin = gzip.stdin.take().unwrap();
        let input = tar.stdout.clone();
        let feeder = std::thread::spawn(move || {
            use std::io::Write;
            stdin.write_all(&input).unwrap();
        });
        let compressed = gzip.wait_with_output().unwrap();
        feeder.join().unwrap();
        (compressed.stdout, tar.stdout)
    }

    /// An image manifest for `arch` with the given layers; returns its bytes.
    pub fn image(&self, arch: &str, layers: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let diff_ids: Vec<String> = layers
            .iter()
            .map(|(_, tar)| format!("sha256:{}", sha256_hex(tar)))
            .collect();
        let config = serde_json::to_vec(&json!({
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/bin/true"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap();
        self.blob(&config);
        let layer_descriptors: Vec<serde_json::Value> = layers
            .iter()
            .map(|(gz, _)| {
                self.blob(gz);
                descriptor("application/vnd.oci.image.layer.v1.tar+gzip", gz)
            })
            .collect();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
            "layers": layer_descriptors,
        }))
        .unwrap();
        self.blob(&manifest);
        manifest
    }

    /// An image index over (arch, manifest bytes); returns its bytes.
    pub fn index(&self, manifests: &[(&str, &[u8])]) -> Vec<u8> {
        let entries: Vec<serde_json::Value> = manifests
            .iter()
            .map(|(arch, bytes)| {
                let mut entry = descriptor("application/vnd.oci.image.manifest.v1+json", bytes);
                entry["platform"] = json!({"os": "linux", "architecture": arch});
                entry
            })
            .collect();
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": entries,
        }))
        .unwrap();
        self.blob(&index);
        index
    }

    /// Names `bytes` (a manifest or index) `tag` in index.json.
    pub fn tag(&mut self, tag: &str, media_type: &str, bytes: &[u8]) {
        let mut entry = descriptor(media_type, bytes);
        entry["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        self.entries.push(entry);
        self.write_index();
    }

    fn write_index(&self) {
        let index = json!({"schemaVersion": 2, "manifests": self.entries});
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
    }
}
