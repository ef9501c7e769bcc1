//! Who may read the mirror: `airgap serve` with mutual TLS (`--client-ca`) and with HTTP Basic
//! (`--htpasswd`, `--access`), and the rendered client configuration, checked by the real
//! clients on loopback over the quickstart's media: curl, apt-get, dnf, containerd, helm, git
//! and skopeo. Certificates come from CAs made here.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{BINARY, Env, Run, TestCa, output};

/// The quickstart's media (files, an image, apt, yum, git, a chart), materialized offline.
fn quickstart(env: &Env) -> PathBuf {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    let media = env.media();
    let mut command = env.command_in(&example);
    command.args(["materialize", "--locked", "--to", media.to_str().unwrap()]);
    let run = output(command);
    assert_eq!(run.code, 0, "{}", run.stderr);
    media
}

/// Client certificates: a CA, and certificates it (or another CA) signs.
struct ClientCa {
    directory: PathBuf,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl ClientCa {
    fn new(directory: &Path, name: &str) -> ClientCa {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        std::fs::create_dir_all(directory).unwrap();
        std::fs::write(directory.join(format!("{name}.pem")), &pem).unwrap();
        ClientCa {
            directory: directory.to_path_buf(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.directory.join(name)
    }

    /// A client certificate `name.crt` and key `name.key`, valid from `from` to `until`
    /// (years); (certificate, key).
    fn issue(&self, name: &str, from: i32, until: i32) -> (PathBuf, PathBuf) {
        use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair};
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = rcgen::date_time_ymd(from, 1, 1);
        params.not_after = rcgen::date_time_ymd(until, 1, 1);
        let key = KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        let (cert_path, key_path) = (
            self.directory.join(format!("{name}.crt")),
            self.directory.join(format!("{name}.key")),
        );
        std::fs::write(&cert_path, certificate.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }
}

/// `airgap serve` with its log going to a file (to check what it says), on a port it chooses.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(media: &Path, log: &Path, extra: &[&str]) -> Server {
        let child = Command::new(BINARY)
            .arg("serve")
            .arg(media)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        // Dropped (so killed and waited for) if it never says where it listens.
        let mut server = Server {
            child,
            port: 0,
            log: log.to_path_buf(),
        };
        for _ in 0..200 {
            if let Some(port) = server.log().lines().find_map(|line| {
                line.rsplit_once("127.0.0.1:")
                    .and_then(|(_, port)| port.trim().parse().ok())
            }) {
                server.port = port;
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("airgap serve did not start: {}", server.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn curl(args: &[&str]) -> Run {
    let mut command = Command::new("curl");
    command.args(["-sS", "--max-time", "20"]).args(args);
    output(command)
}

/// `airgap render media --out OUT` with these arguments.
fn render(env: &Env, media: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = env.temp.path().join(name);
    let mut command = Command::new(BINARY);
    command
        .arg("render")
        .arg(media)
        .arg("--out")
        .arg(&out)
        .args(args);
    let run = output(command);
    assert_eq!(run.code, 0, "render: {}", run.stderr);
    out
}

#[test]
fn mutual_tls_lets_in_only_certificates_of_the_client_ca_and_every_rendered_client_presents_one() {
    let env = Env::new();
    let media = quickstart(&env);
    let tls = TestCa::write(&env.temp.path().join("tls"));
    let clients = ClientCa::new(&env.temp.path().join("clients"), "client-ca");
    let (cert, key) = clients.issue("node1", 2020, 2090);
    let (expired, expired_key) = clients.issue("expired", 2020, 2021);
    let strangers = ClientCa::new(&env.temp.path().join("strangers"), "other-ca");
    let (foreign, foreign_key) = strangers.issue("intruder", 2020, 2090);
    let server = Server::start(
        &media,
        &env.temp.path().join("serve.log"),
        &[
            "--tls-cert",
            tls.cert.to_str().unwrap(),
            "--tls-key",
            tls.key.to_str().unwrap(),
            "--client-ca",
            clients.path("client-ca.pem").to_str().unwrap(),
        ],
    );
    let base = format!("https://127.0.0.1:{}", server.port);
    let file = format!("{base}/files/local/artifacts/cluster-settings.yaml");
    let ca = tls.ca.to_str().unwrap();
    // A client CA without a server certificate is refused before anything listens.
    env.run(&["serve", media.to_str().unwrap(), "--client-ca", ca])
        .failure()
        .stderr_has("--tls-cert");

    // curl: in with the certificate; without one, with another CA's, or an expired one, the
    // handshake fails.
    let fetched = curl(&[
        "--cacert",
        ca,
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        &file,
    ]);
    assert_eq!(fetched.code, 0, "{}", fetched.stderr);
    assert!(fetched.stdout.contains("cluster"), "{}", fetched.stdout);
    for (label, args) in [
        ("no certificate", vec![]),
        (
            "another CA",
            vec![
                "--cert",
                foreign.to_str().unwrap(),
                "--key",
                foreign_key.to_str().unwrap(),
            ],
        ),
        (
            "expired",
            vec![
                "--cert",
                expired.to_str().unwrap(),
                "--key",
                expired_key.to_str().unwrap(),
            ],
        ),
    ] {
        let mut all = vec!["--cacert", ca];
        all.extend(args);
        all.push(&file);
        let refused = curl(&all);
        assert_ne!(refused.code, 0, "{label}: {}", refused.stdout);
        assert!(!refused.stdout.contains("cluster"), "{label}");
    }

    // Every client, configured only by what render wrote (the node paths are this test's).
    let out = render(
        &env,
        &media,
        "mtls",
        &[
            "--url",
            &base,
            "--ca",
            ca,
            "--ca-on-node",
            ca,
            "--client-cert",
            cert.to_str().unwrap(),
            "--client-key",
            key.to_str().unwrap(),
        ],
    );
    let config = out.join("config");

    // apt-get: the .sources and the apt.conf.d snippet.
    let sources = std::fs::read_to_string(config.join("apt/site-tools.sources")).unwrap();
    let apt = crate::apt::AptRoot::new(env.temp.path(), &sources);
    std::fs::copy(
        config.join("apt/apt.conf.d/80airgap-client.conf"),
        apt.root.join("etc/apt/apt.conf.d/80airgap-client.conf"),
    )
    .unwrap();
    apt_installs(&apt);

    // dnf: the .repo.
    dnf_downloads(&env, &config.join("yum"));

    // containerd: hosts.toml with `client`; without it, the pull is refused.
    let containerd = crate::serve::Containerd::start(&env.temp.path().join("containerd"));
    let reference = "registry.enclave.internal/site/hello:1.0";
    let pulled = crate::serve::ctr_pull(&containerd, &config.join("containerd/certs.d"), reference);
    assert_eq!(
        pulled.code, 0,
        "ctr pull: {}{}",
        pulled.stdout, pulled.stderr
    );
    let without = render(
        &env,
        &media,
        "no-client",
        &["--url", &base, "--ca", ca, "--no-client-auth"],
    );
    let hosts = std::fs::read_to_string(
        without.join("config/containerd/certs.d/registry.enclave.internal/hosts.toml"),
    )
    .unwrap();
    assert!(!hosts.contains("client ="), "{hosts}");
    // (ctr resolves the tag at the server on every pull, even with the content at hand.)
    let refused = crate::serve::ctr_pull(
        &containerd,
        &without.join("config/containerd/certs.d"),
        reference,
    );
    assert_ne!(refused.code, 0, "{}", refused.stdout);

    // helm: repositories.yaml with certFile/keyFile.
    let helm = crate::charts::helm_binary();
    let helm_home = env.temp.path().join("helm-home");
    let helm_run = |args: &[&str]| {
        let mut command = Command::new(&helm);
        command
            .args(args)
            .arg("--repository-config")
            .arg(config.join("helm/repositories.yaml"))
            .arg("--repository-cache")
            .arg(helm_home.join("cache"))
            .env("HELM_CONFIG_HOME", helm_home.join("config"))
            .env("HELM_CACHE_HOME", helm_home.join("cache"))
            .env("HELM_DATA_HOME", helm_home.join("data"))
            .current_dir(env.temp.path());
        output(command)
    };
    let updated = helm_run(&["repo", "update"]);
    assert_eq!(
        updated.code, 0,
        "helm repo update: {}{}",
        updated.stdout, updated.stderr
    );
    let pulled = helm_run(&["pull", "airgap/site-app"]);
    assert_eq!(
        pulled.code, 0,
        "helm pull: {}{}",
        pulled.stdout, pulled.stderr
    );
    assert!(env.temp.path().join("site-app-0.1.0.tgz").is_file());

    // git: the rendered gitconfig as the global configuration.
    let clone = env.temp.path().join("clone");
    let mut command = Command::new("git");
    command
        .args(["clone", "-q", "--branch", "v1.0"])
        .arg(format!("{base}/git/site-playbooks.git"))
        .arg(&clone)
        .env("GIT_CONFIG_GLOBAL", config.join("git/gitconfig"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        // A CA bundle in the environment would override the configuration's sslCAInfo.
        .env_remove("GIT_SSL_CAINFO")
        .env_remove("GIT_SSL_CAPATH");
    let cloned = output(command);
    assert_eq!(
        cloned.code,
        0,
        "git clone: {}{}\n{}",
        cloned.stdout,
        cloned.stderr,
        std::fs::read_to_string(config.join("git/gitconfig")).unwrap_or_default()
    );

    // Neither the client key nor the server's leaves a trace in the media or the rendering.
    let secrets = [
        std::fs::read_to_string(&key).unwrap(),
        std::fs::read_to_string(&tls.key).unwrap(),
    ];
    for directory in [&media, &out] {
        for file in crate::support::files_under(directory) {
            let bytes = std::fs::read(directory.join(&file)).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            for secret in &secrets {
                let body = secret.lines().nth(1).unwrap();
                assert!(
                    !text.contains(body),
                    "{} holds a private key",
                    file.display()
                );
            }
        }
    }
}

/// `apt-get update` and `install --download-only airgap-hello` in an apt root set up with the
/// rendered files.
fn apt_installs(apt: &crate::apt::AptRoot) {
    let update = apt.apt_get(&["update", "-q"]);
    assert_eq!(
        update.code, 0,
        "apt-get update: {}{}",
        update.stdout, update.stderr
    );
    let install = apt.apt_get(&["install", "--download-only", "-y", "-q", "airgap-hello"]);
    assert_eq!(
        install.code, 0,
        "apt-get install: {}{}",
        install.stdout, install.stderr
    );
}

/// `dnf download site-motd` into an empty install root with the `.repo` files of `repos`.
fn dnf_downloads(env: &Env, repos: &Path) {
    let root = env.temp.path().join("dnf-root");
    let destination = env.temp.path().join("dnf-download");
    let _ = std::fs::remove_dir_all(&destination);
    std::fs::create_dir_all(&root).unwrap();
    let mut command = Command::new("dnf");
    command
        .args(["download", "-y", "--releasever=9"])
        .arg(format!("--setopt=reposdir={}", repos.display()))
        .arg(format!("--installroot={}", root.display()))
        .arg(format!("--destdir={}", destination.display()))
        .arg("site-motd");
    let downloaded = output(command);
    assert_eq!(
        downloaded.code, 0,
        "dnf download: {}{}",
        downloaded.stdout, downloaded.stderr
    );
    assert!(std::fs::read_dir(&destination).unwrap().count() > 0);
}

/// `htpasswd -B` (Apache's tool) writing one user into a new file.
fn htpasswd(path: &Path, user: &str, password: &str) {
    let run = output({
        let mut command = Command::new("htpasswd");
        command.args(["-cbB"]).arg(path).args([user, password]);
        command
    });
    assert_eq!(run.code, 0, "htpasswd: {}", run.stderr);
}

#[test]
fn basic_credentials_guard_every_route_but_the_open_ones_and_guessing_is_slowed() {
    let env = Env::new();
    let media = quickstart(&env);
    let password = "pw-7f3a9c-enclave";
    let users = env.temp.path().join("htpasswd");
    htpasswd(&users, "node", password);
    let rules = env.temp.path().join("access.toml");
    std::fs::write(&rules, "open = [\"/keys/\"]\n").unwrap();
    let server = Server::start(
        &media,
        &env.temp.path().join("serve.log"),
        &[
            "--htpasswd",
            users.to_str().unwrap(),
            "--access",
            rules.to_str().unwrap(),
        ],
    );
    let base = format!("http://127.0.0.1:{}", server.port);
    let creds = format!("node:{password}");
    let status = |args: &[&str]| {
        let mut all = vec!["-o", "/dev/null", "-w", "%{http_code}"];
        all.extend_from_slice(args);
        curl(&all).stdout
    };
    let file = format!("{base}/files/local/artifacts/cluster-settings.yaml");
    assert_eq!(status(&[&file]), "401");
    assert_eq!(status(&["-u", &creds, &file]), "200");
    assert_eq!(status(&["-u", "node:wrong", &file]), "401");
    assert_eq!(status(&[&format!("{base}/healthz")]), "200");
    assert_eq!(status(&[&format!("{base}/keys/airgap.asc")]), "200");
    // The registry answers as distribution does: 401 with a Basic challenge.
    let challenge = curl(&["-i", &format!("{base}/v2/")]);
    assert!(
        challenge.stdout.contains("401")
            && challenge
                .stdout
                .to_ascii_lowercase()
                .contains("www-authenticate: basic realm=\"airgap\""),
        "{}",
        challenge.stdout
    );
    // skopeo with --creds gets the image; without, it is refused.
    let image = format!(
        "docker://127.0.0.1:{}/registry.enclave.internal/site/hello:1.0",
        server.port
    );
    let inspected = crate::registry::skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &creds,
        &image,
    ]);
    assert_eq!(inspected.code, 0, "{}", inspected.stderr);
    let refused = crate::registry::skopeo(&["inspect", "--raw", "--tls-verify=false", &image]);
    assert_ne!(refused.code, 0);

    // apt with the rendered auth.conf.d entry, filled in with envsubst as its comment says.
    let out = render(
        &env,
        &media,
        "basic",
        &["--url", &base, "--credentials-from", "AIRGAP"],
    );
    let template = out.join("config/apt/auth.conf.d/airgap.conf");
    let filled = output({
        let mut command = Command::new("envsubst");
        command
            .env("AIRGAP_USERNAME", "node")
            .env("AIRGAP_PASSWORD", password)
            .stdin(std::fs::File::open(&template).unwrap());
        command
    });
    assert_eq!(filled.code, 0, "{}", filled.stderr);
    let sources = std::fs::read_to_string(out.join("config/apt/site-tools.sources")).unwrap();
    let apt = crate::apt::AptRoot::new(env.temp.path(), &sources);
    let auth = apt.root.join("etc/apt/auth.conf.d");
    std::fs::create_dir_all(&auth).unwrap();
    std::fs::write(auth.join("airgap.conf"), &filled.stdout).unwrap();
    apt_installs(&apt);

    // dnf with the rendered .repo, filled in the same way.
    let repo = output({
        let mut command = Command::new("envsubst");
        command
            .env("AIRGAP_USERNAME", "node")
            .env("AIRGAP_PASSWORD", password)
            .stdin(std::fs::File::open(out.join("config/yum/site-rpms.repo")).unwrap());
        command
    });
    let repos = env.temp.path().join("repos");
    std::fs::create_dir_all(&repos).unwrap();
    std::fs::write(repos.join("site-rpms.repo"), &repo.stdout).unwrap();
    dnf_downloads(&env, &repos);

    // Kubespray: Ansible takes the credentials from the admin host's environment into
    // files_repo and containerd's registry auth; Kubespray's downloads then get the files.
    let debug = |variable: &str| {
        let mut command = Command::new("ansible");
        command
            .arg("cp1")
            .arg("-i")
            .arg(out.join("kubespray/inventory/airgap/inventory.ini"))
            .args(["-m", "debug", "-a", &format!("msg={{{{ {variable} }}}}")])
            .env("AIRGAP_USERNAME", "node")
            .env("AIRGAP_PASSWORD", password)
            .env("ANSIBLE_LOAD_CALLBACK_PLUGINS", "1")
            .env("ANSIBLE_STDOUT_CALLBACK", "json")
            .env("ANSIBLE_LOCAL_TEMP", env.temp.path().join("ansible-tmp"))
            .env("ANSIBLE_HOME", env.temp.path().join("ansible-home"));
        let run = output(command);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        json["plays"][0]["tasks"][0]["hosts"]["cp1"]["msg"].clone()
    };
    let files_repo = debug("files_repo");
    let files_repo = files_repo.as_str().unwrap();
    assert_eq!(
        files_repo,
        format!("http://node:{password}@127.0.0.1:{}/files", server.port)
    );
    assert_eq!(
        status(&[&format!(
            "{files_repo}/local/artifacts/cluster-settings.yaml"
        )]),
        "200"
    );
    let auth = debug("containerd_registry_auth");
    assert_eq!(auth[0]["username"], "node", "{auth}");
    assert_eq!(auth[0]["password"], password, "{auth}");

    // Fifty wrong passwords from one address: after ten, 429 without a check; another address
    // (127.0.0.2) is still served.
    let mut answers = Vec::new();
    for attempt in 0..50 {
        answers.push(status(&["-u", &format!("node:guess{attempt}"), &file]));
    }
    // (Two refusals came before: the wrong password above, and skopeo's unauthenticated try.)
    assert!(answers[..5].iter().all(|code| code == "401"), "{answers:?}");
    assert!(
        answers[10..].iter().all(|code| code == "429"),
        "{answers:?}"
    );
    assert_eq!(status(&["-u", &creds, &file]), "429");
    assert_eq!(
        status(&["--interface", "127.0.0.2", "-u", &creds, &file]),
        "200"
    );

    // The log names the address and the user of refused attempts, never a password.
    let log = server.log();
    assert!(
        log.contains("127.0.0.1: credentials refused for user `node`"),
        "{log}"
    );
    assert!(!log.contains(password) && !log.contains("guess1"), "{log}");
    for directory in [&media, &out] {
        for file in crate::support::files_under(directory) {
            let text = String::from_utf8_lossy(&std::fs::read(directory.join(&file)).unwrap())
                .into_owned();
            assert!(
                !text.contains(password),
                "{} holds the password",
                file.display()
            );
        }
    }
}

#[test]
fn sighup_takes_up_a_rotated_certificate_without_dropping_the_service() {
    let env = Env::new();
    let media = quickstart(&env);
    let first = TestCa::write(&env.temp.path().join("first"));
    let live = env.temp.path().join("live");
    std::fs::create_dir_all(&live).unwrap();
    std::fs::copy(&first.cert, live.join("cert.pem")).unwrap();
    std::fs::copy(&first.key, live.join("key.pem")).unwrap();
    let server = Server::start(
        &media,
        &env.temp.path().join("serve.log"),
        &[
            "--tls-cert",
            live.join("cert.pem").to_str().unwrap(),
            "--tls-key",
            live.join("key.pem").to_str().unwrap(),
        ],
    );
    let url = format!("https://127.0.0.1:{}/healthz", server.port);
    assert_eq!(
        curl(&["--cacert", first.ca.to_str().unwrap(), &url]).stdout,
        "ok\n"
    );
    let second = TestCa::write(&env.temp.path().join("second"));
    std::fs::copy(&second.cert, live.join("cert.pem")).unwrap();
    std::fs::copy(&second.key, live.join("key.pem")).unwrap();
    let _ = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status();
    let mut reloaded = false;
    for _ in 0..50 {
        if server.log().contains("Reloaded") {
            reloaded = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(reloaded, "{}", server.log());
    assert_eq!(
        curl(&["--cacert", second.ca.to_str().unwrap(), &url]).stdout,
        "ok\n"
    );
    assert_ne!(
        curl(&["--cacert", first.ca.to_str().unwrap(), &url]).code,
        0
    );
}
