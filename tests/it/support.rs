//! Test helpers: each test gets its own temp dir with a workspace, home, config and cache,
//! and runs the real `airgap` binary.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const BINARY: &str = env!("CARGO_BIN_EXE_airgap");

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn success(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn failure(&self) -> &Self {
        assert_eq!(
            self.code, 1,
            "expected exit 1\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}:\n{}",
            self.stdout
        );
        self
    }
}

/// An isolated environment: workspace, media target, home, config and cache.
pub struct Env {
    pub temp: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        let temp = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(temp.path().join("workspace/manifests")).unwrap();
        Env { temp }
    }

    pub fn workspace(&self) -> PathBuf {
        self.temp.path().join("workspace")
    }

    pub fn media(&self) -> PathBuf {
        self.temp.path().join("media")
    }

    pub fn cache(&self) -> PathBuf {
        self.temp.path().join("cache")
    }

    pub fn config(&self) -> PathBuf {
        self.temp.path().join("config")
    }

    pub fn lock_text(&self) -> String {
        std::fs::read_to_string(self.workspace().join("airgap.lock")).expect("airgap.lock")
    }

    /// Writes `manifests/<name>`.
    pub fn manifest(&self, name: &str, text: &str) {
        std::fs::write(self.workspace().join("manifests").join(name), text).unwrap();
    }

    /// Writes a file inside the workspace (for local sources).
    pub fn workspace_file(&self, relative: &str, bytes: &[u8]) {
        let path = self.workspace().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = self.command_in(&self.workspace());
        command.args(args);
        command
    }

    /// The binary with this environment's home, config and cache, run on `workspace`.
    pub fn command_in(&self, workspace: &Path) -> Command {
        let mut command = Command::new(BINARY);
        command
            .arg("-C")
            .arg(workspace)
            .arg("--cache")
            .arg(self.cache())
            .env("HOME", self.temp.path().join("home"))
            .env("XDG_CONFIG_HOME", self.config())
            .env("XDG_CACHE_HOME", self.temp.path().join("xdg-cache"))
            .env("NO_COLOR", "1")
            .env_remove("AIRGAP_CACHE")
            .env_remove("AIRGAP_SIGNING_KEY")
            .stdin(Stdio::null());
        for variable in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "NO_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
            "no_proxy",
        ] {
            command.env_remove(variable);
        }
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        output(self.command(args))
    }

    /// [`run`](Self::run), watched: peak memory and time (see [`watch`]).
    pub fn run_watched(&self, args: &[&str]) -> Watched {
        watch(self.command(args))
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn airgap")
    }

    /// `materialize --to <media>`.
    pub fn materialize(&self, extra: &[&str]) -> Run {
        let media = self.media();
        let mut args = vec!["materialize", "--to", media.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    pub fn verify(&self, extra: &[&str]) -> Run {
        let media = self.media();
        let mut args = vec!["verify", media.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.run(&args)
    }
}

/// A run watched while it ran: its outcome, its peak resident memory (`VmHWM` from
/// `/proc/<pid>/status`, sampled until it exits) and how long it took.
pub struct Watched {
    pub run: Run,
    pub peak: u64,
    pub elapsed: std::time::Duration,
}

impl Watched {
    /// Asserts the run stayed under `bytes` of memory and `limit` of time.
    #[track_caller]
    pub fn within(&self, bytes: u64, limit: std::time::Duration) -> &Run {
        eprintln!(
            "watched: peak {} MiB, {:.2} s",
            self.peak >> 20,
            self.elapsed.as_secs_f64()
        );
        assert!(
            self.peak < bytes,
            "peaked at {} MiB\n{}",
            self.peak >> 20,
            self.run.stderr
        );
        assert!(
            self.elapsed < limit,
            "took {:?}\n{}",
            self.elapsed,
            self.run.stderr
        );
        &self.run
    }
}

/// Runs `command`, sampling its `VmHWM` every few milliseconds until it exits.
pub fn watch(mut command: Command) -> Watched {
    use std::io::Read;
    let started = std::time::Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let mut peak = 0;
    let status = loop {
        if let Some(bytes) = peak_memory(child.id()) {
            peak = peak.max(bytes);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    Watched {
        run: Run {
            code: status.code().unwrap_or(-1),
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        },
        peak,
        elapsed: started.elapsed(),
    }
}

/// The peak resident memory of process `pid` so far (`VmHWM` of `/proc/<pid>/status`), in
/// bytes; `None` once it has exited.
pub fn peak_memory(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Every regular file under `directory`, relative to it, sorted.
pub fn files_under(directory: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = walkdir::WalkDir::new(directory)
        .into_iter()
        .flatten()
        .filter(|entry| entry.file_type().is_file())
        .map(|entry| entry.path().strip_prefix(directory).unwrap().to_path_buf())
        .collect();
    found.sort();
    found
}

pub fn output(mut command: Command) -> Run {
    let output = command.output().expect("run command");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Deterministic pseudo-random bytes (xorshift), so large test files need no fixtures.
pub fn bytes(seed: u64, length: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(length);
    while out.len() < length {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(length);
    out
}

/// Runs a plain command (sha256sum, gpg) and returns its outcome.
pub fn tool(program: &str, args: &[&str], directory: &Path) -> Run {
    let mut command = Command::new(program);
    command.args(args).current_dir(directory);
    output(command)
}

/// Builds (once) the test upstream made by `scripts/<script>` into `target/<script>` and
/// returns its directory.
pub fn fixture(script: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let directory = root.join("target").join(script);
    build_once(script, &directory.join("complete"));
    directory
}

/// Runs `scripts/<script>` unless `done` exists, once across parallel tests: a lock in this
/// process (tests run in threads) and a file lock across processes (two `cargo test` runs, or
/// `scripts/test` beside one). Without it two tests each start the script, and the second
/// one's `rm -rf` pulls the fixture from under the first.
pub fn build_once(script: &str, done: &Path) {
    static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _in_process = BUILDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if done.exists() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(root.join("target")).unwrap();
    let lock_path = root.join("target").join(format!(".{script}.lock"));
    let lock = std::fs::File::create(&lock_path).unwrap();
    lock.lock().unwrap();
    if !done.exists() {
        let mut command = Command::new("bash");
        command.arg(root.join("scripts").join(script));
        let run = output(command);
        assert_eq!(run.code, 0, "scripts/{script} failed: {}", run.stderr);
    }
    lock.unlock().unwrap();
}

/// Serves every file below `directory` from `upstream` at the same relative path.
pub fn serve_directory(upstream: &crate::upstream::Upstream, directory: &Path) {
    for entry in walkdir::WalkDir::new(directory) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let relative = entry
                .path()
                .strip_prefix(directory)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            upstream.put(&relative, std::fs::read(entry.path()).unwrap());
        }
    }
}

/// A private CA and a certificate for 127.0.0.1 signed by it, written as `ca.pem`,
/// `cert.pem` and `key.pem` into `directory`.
pub struct TestCa {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    pub fn write(directory: &Path) -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "airgap test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf_params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
        std::fs::create_dir_all(directory).unwrap();
        let paths = TestCa {
            ca: directory.join("ca.pem"),
            cert: directory.join("cert.pem"),
            key: directory.join("key.pem"),
        };
        std::fs::write(&paths.ca, ca.pem()).unwrap();
        std::fs::write(&paths.cert, leaf.pem()).unwrap();
        std::fs::write(&paths.key, leaf_key.serialize_pem()).unwrap();
        paths
    }
}

/// An nginx daemon started by [`start_nginx`], stopped when dropped.
pub struct Nginx {
    pid: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pid) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

/// Runs nginx with the configuration `text`, its `pid_line` (a rendered `pid ...;`) replaced
/// by a pid file in `directory`, where the configuration is written too.
pub fn start_nginx(text: &str, pid_line: &str, directory: &Path) -> Nginx {
    let pid = directory.join("nginx.pid");
    let copy = directory.join("nginx-running.conf");
    std::fs::write(
        &copy,
        text.replace(pid_line, &format!("pid {};", pid.display())),
    )
    .unwrap();
    // The daemon keeps stderr (error_log stderr), so it must not be a pipe we wait on.
    let started = Command::new("nginx")
        .arg("-c")
        .arg(&copy)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(started.success(), "nginx did not start");
    std::thread::sleep(std::time::Duration::from_millis(300));
    Nginx { pid }
}
