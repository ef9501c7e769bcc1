//! `[[apt]]` end to end against a real signed repository (real .deb files fetched with
//! `apt-get download`, indexed by `apt-ftparchive`, signed by `gpg`; `scripts/apt-fixture`),
//! checked against `apt-get` itself: its simulation must pick the same closure, and a stock
//! `apt-get` must trust and install from the media repository.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Env, Run, output, serve_directory, sha256_hex, tool};
use crate::upstream::{Fault, Upstream};

pub(crate) fn fixture() -> PathBuf {
    crate::support::fixture("apt-fixture")
}

pub(crate) fn packages() -> Vec<String> {
    std::fs::read_to_string(fixture().join("packages"))
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// A workspace with the fixture's keys, and an upstream serving the fixture's repository.
pub(crate) fn served_fixture() -> (Env, Upstream) {
    let env = Env::new();
    workspace_with_keys(&env);
    let upstream = Upstream::start();
    serve_directory(&upstream, &fixture().join("repo"));
    (env, upstream)
}

pub(crate) fn apt_manifest(
    upstream: &Upstream,
    keyring: &str,
    packages: &[String],
    extra: &str,
) -> String {
    let list = packages
        .iter()
        .map(|name| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "[[apt]]\nname = \"debian\"\nurl = \"{}\"\nsuite = \"stable\"\ncomponents = [\"main\"]\narchitectures = [\"amd64\"]\nkeyring = \"{keyring}\"\npackages = [{list}]\n{extra}",
        upstream.url("").trim_end_matches('/')
    )
}

pub(crate) fn workspace_with_keys(env: &Env) {
    for name in ["archive.gpg", "archive.asc", "wrong.gpg"] {
        env.workspace_file(
            &format!("keys/{name}"),
            &std::fs::read(fixture().join("keys").join(name)).unwrap(),
        );
    }
}

/// An isolated apt root: its own config, lists, cache and an empty dpkg status.
pub(crate) struct AptRoot {
    pub(crate) root: PathBuf,
}

impl AptRoot {
    pub(crate) fn new(parent: &Path, sources: &str) -> AptRoot {
        let root = parent.join("aptroot");
        for directory in [
            "etc/apt/sources.list.d",
            "etc/apt/apt.conf.d",
            "etc/apt/preferences.d",
            "etc/apt/trusted.gpg.d",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "var/lib/dpkg",
            "var/log/apt",
        ] {
            std::fs::create_dir_all(root.join(directory)).unwrap();
        }
        std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
        std::fs::write(root.join("etc/apt/sources.list.d/test.sources"), sources).unwrap();
        std::fs::write(
            root.join("apt.conf"),
            format!(
                "Dir \"{root}/\";\nDir::State::status \"{root}/var/lib/dpkg/status\";\nAPT::Architecture \"amd64\";\nAPT::Architectures {{ \"amd64\"; }};\nAPT::Sandbox::User \"root\";\nDebug::NoLocking \"true\";\nAcquire::Languages \"none\";\nAPT::Install-Recommends \"false\";\n",
                root = root.display()
            ),
        )
        .unwrap();
        AptRoot { root }
    }

    pub(crate) fn apt_get(&self, args: &[&str]) -> Run {
        let mut command = Command::new("apt-get");
        command
            .env("APT_CONFIG", self.root.join("apt.conf"))
            .args(args);
        output(command)
    }
}

fn sources_for(url: &str, keyring: &Path) -> String {
    format!(
        "Types: deb\nURIs: {url}\nSuites: stable\nComponents: main\nArchitectures: amd64\nSigned-By: {}\n",
        keyring.display()
    )
}

pub(crate) fn locked_debs(lock: &str) -> BTreeSet<(String, String)> {
    let lock: toml::Table = toml::from_str(lock).unwrap();
    lock["apt"].as_array().unwrap()[0]["package"]
        .as_array()
        .unwrap()
        .iter()
        .map(|deb| {
            (
                deb["name"].as_str().unwrap().to_string(),
                deb["version"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_lock_resolves_the_closure_apt_get_would_install() {
    let fixture = fixture();
    let (env, upstream) = served_fixture();
    env.manifest(
        "apt.toml",
        &apt_manifest(&upstream, "keys/archive.gpg", &packages(), ""),
    );
    env.run(&["lock"]).success();
    let ours = locked_debs(&env.lock_text());

    let apt = AptRoot::new(
        env.temp.path(),
        &sources_for(
            upstream.url("").trim_end_matches('/'),
            &fixture.join("keys/archive.gpg"),
        ),
    );
    let update = apt.apt_get(&["update", "-q"]);
    assert_eq!(
        update.code, 0,
        "apt-get update: {}{}",
        update.stdout, update.stderr
    );
    let mut args = vec!["-s", "install"];
    let names = packages();
    args.extend(names.iter().map(String::as_str));
    let simulation = apt.apt_get(&args);
    assert_eq!(
        simulation.code, 0,
        "apt-get -s install: {}{}",
        simulation.stdout, simulation.stderr
    );
    let theirs: BTreeSet<(String, String)> = simulation
        .stdout
        .lines()
        .filter_map(|line| line.strip_prefix("Inst "))
        .map(|line| {
            let (name, rest) = line.split_once(" (").unwrap();
            let version = rest.split_whitespace().next().unwrap();
            (name.to_string(), version.to_string())
        })
        .collect();
    assert!(!theirs.is_empty());
    assert_eq!(ours, theirs, "airgap's closure differs from apt-get's");

    // The armored keyring works as well as the binary one, and the lock is reproducible.
    let first = env.lock_text();
    env.manifest(
        "apt.toml",
        &apt_manifest(&upstream, "keys/archive.asc", &packages(), ""),
    );
    env.run(&["lock"]).success();
    assert_eq!(locked_debs(&env.lock_text()), locked_debs(&first));
}

#[test]
fn the_media_repository_is_trusted_and_installed_from_by_stock_apt_get() {
    let fixture = fixture();
    let (env, upstream) = served_fixture();
    env.manifest(
        "apt.toml",
        &format!(
            "[enclave]\nurl = \"http://mirror.enclave.invalid\"\n\n{}",
            apt_manifest(&upstream, "keys/archive.gpg", &packages(), "")
        ),
    );
    env.materialize(&[]).success();
    env.verify(&[]).success();
    let media = env.media();
    tool(
        "sha256sum",
        &["-c", "--strict", "--quiet", "SHA256SUMS"],
        &media,
    )
    .success();
    // Indexes are regenerated: they list exactly the pinned packages.
    let packages_index =
        std::fs::read_to_string(media.join("apt/debian/dists/stable/main/binary-amd64/Packages"))
            .unwrap();
    assert_eq!(
        packages_index.matches("\nPackage: ").count()
            + usize::from(packages_index.starts_with("Package: ")),
        locked_debs(&env.lock_text()).len()
    );

    // Served by `airgap serve`; the rendered .sources, with the bundle key inline, is all a
    // node needs (its URL points at where the server listens in this test).
    let served = crate::serve::serve(&media, &[]);
    let base = format!("http://127.0.0.1:{}", served.port);
    let sources = std::fs::read_to_string(media.join("config/apt/debian.sources"))
        .unwrap()
        .replace("http://mirror.enclave.invalid", &base);
    assert!(sources.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    let apt = AptRoot::new(env.temp.path(), &sources);
    let update = apt.apt_get(&["update", "-q"]);
    assert_eq!(
        update.code, 0,
        "apt-get update: {}{}",
        update.stdout, update.stderr
    );
    assert!(
        !update.stderr.contains("NO_PUBKEY") && !update.stderr.contains("not signed"),
        "{}",
        update.stderr
    );
    let names = packages();
    let mut args = vec!["install", "--download-only", "-y", "-q"];
    args.extend(names.iter().map(String::as_str));
    let install = apt.apt_get(&args);
    assert_eq!(
        install.code, 0,
        "apt-get install: {}{}",
        install.stdout, install.stderr
    );
    let downloaded = std::fs::read_dir(apt.root.join("var/cache/apt/archives"))
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".deb")
        })
        .count();
    assert_eq!(downloaded, locked_debs(&env.lock_text()).len());

    // With another key in Signed-By, apt refuses the media.
    let wrong = env.temp.path().join("other-root");
    let apt = AptRoot::new(
        &wrong,
        &sources_for(
            &format!("{base}/apt/debian"),
            &fixture.join("keys/archive.gpg"),
        ),
    );
    let update = apt.apt_get(&["update", "-q"]);
    assert!(
        update.code != 0
            || update.stderr.contains("NO_PUBKEY")
            || update.stderr.contains("not signed"),
        "{}",
        update.stderr
    );
}

#[test]
fn a_wrong_keyring_a_tampered_index_and_unknown_names_fail_and_keep_the_lock() {
    let (env, upstream) = served_fixture();
    env.manifest(
        "apt.toml",
        &apt_manifest(&upstream, "keys/archive.gpg", &packages(), ""),
    );
    env.run(&["lock"]).success();
    let good = env.lock_text();

    env.manifest(
        "apt.toml",
        &apt_manifest(&upstream, "keys/wrong.gpg", &packages(), ""),
    );
    env.run(&["lock"])
        .failure()
        .stderr_has("apt debian")
        .stderr_has("not signed by any key of the keyring");
    assert_eq!(env.lock_text(), good);

    env.manifest(
        "apt.toml",
        &apt_manifest(
            &upstream,
            "keys/archive.gpg",
            &["no-such-package".to_string()],
            "",
        ),
    );
    env.run(&["lock"])
        .failure()
        .stderr_has("`no-such-package` is not a package");
    assert_eq!(env.lock_text(), good);

    // A fresh cache, so the index is fetched again, with a flipped byte.
    std::fs::remove_dir_all(env.cache()).unwrap();
    upstream.fault(
        "dists/stable/main/binary-amd64/Packages.xz",
        Fault::Corrupt { offset: 40 },
    );
    env.manifest(
        "apt.toml",
        &apt_manifest(
            &upstream,
            "keys/archive.gpg",
            &packages(),
            "recommends = true\n",
        ),
    );
    env.run(&["lock"])
        .failure()
        .stderr_has("Packages.xz")
        .stderr_has("do not match");
    assert_eq!(env.lock_text(), good);
}

/// Writes a small repository signed by the fixture's archive key: `packages` as the index,
/// `release_extra` added to the Release, served by-hash when asked, and signed as InRelease
/// or as Release + Release.gpg.
pub(crate) fn signed_repo(
    directory: &Path,
    packages: &str,
    release_extra: &str,
    by_hash: bool,
    inline: bool,
) {
    let index_dir = directory.join("dists/stable/main/binary-amd64");
    std::fs::create_dir_all(&index_dir).unwrap();
    let hex = sha256_hex(packages.as_bytes());
    if by_hash {
        std::fs::create_dir_all(index_dir.join("by-hash/SHA256")).unwrap();
        std::fs::write(index_dir.join("by-hash/SHA256").join(&hex), packages).unwrap();
    } else {
        std::fs::write(index_dir.join("Packages"), packages).unwrap();
    }
    let release = format!(
        "Origin: test\nSuite: stable\nCodename: stable\nDate: Sat, 10 Jun 2023 08:52:42 UTC\n{release_extra}Architectures: amd64\nComponents: main\nSHA256:\n {hex} {} main/binary-amd64/Packages\n",
        packages.len()
    );
    sign_release(directory, &release, inline);
}

/// A repository whose one index is `name` (`Packages`, `Packages.gz`, ...) holding `bytes`,
/// signed as InRelease by the fixture's archive key: what a hostile archive owner can publish.
pub(crate) fn signed_repo_with_index(directory: &Path, name: &str, bytes: &[u8]) {
    let index_dir = directory.join("dists/stable/main/binary-amd64");
    std::fs::create_dir_all(&index_dir).unwrap();
    std::fs::write(index_dir.join(name), bytes).unwrap();
    let release = format!(
        "Origin: test\nSuite: stable\nCodename: stable\nDate: Sat, 10 Jun 2023 08:52:42 UTC\nArchitectures: amd64\nComponents: main\nSHA256:\n {} {} main/binary-amd64/{name}\n",
        sha256_hex(bytes),
        bytes.len()
    );
    sign_release(directory, &release, true);
}

/// Writes `dists/stable/Release` and signs it, as InRelease or Release.gpg.
fn sign_release(directory: &Path, release: &str, inline: bool) {
    std::fs::write(directory.join("dists/stable/Release"), release).unwrap();
    let mut command = Command::new("gpg");
    command.env("GNUPGHOME", fixture().join("gnupg")).args([
        "--batch",
        "--yes",
        "--local-user",
        "airgap test archive",
    ]);
    if inline {
        command
            .args(["--clearsign", "-o"])
            .arg(directory.join("dists/stable/InRelease"));
    } else {
        command
            .args(["-abs", "-o"])
            .arg(directory.join("dists/stable/Release.gpg"));
    }
    command.arg(directory.join("dists/stable/Release"));
    let signed = output(command);
    assert_eq!(signed.code, 0, "{}", signed.stderr);
}

fn two_packages() -> String {
    let digest = sha256_hex(b"x");
    format!(
        "Package: app\nVersion: 1.0\nArchitecture: amd64\nDepends: libmiddle (>= 2)\nFilename: pool/app.deb\nSize: 1\nSHA256: {digest}\n\n\
         Package: libmiddle\nVersion: 2.1\nArchitecture: amd64\nDepends: libc6 | libmissing (>= 1~)\nFilename: pool/libmiddle.deb\nSize: 1\nSHA256: {digest}\n"
    )
}

#[test]
fn a_missing_dependency_prints_the_chain_that_needs_it() {
    let env = Env::new();
    workspace_with_keys(&env);
    // `app` needs `libmissing` through `libmiddle`.
    let repo = env.temp.path().join("repo");
    signed_repo(&repo, &two_packages(), "", false, true);
    let upstream = Upstream::start();
    serve_directory(&upstream, &repo);
    env.manifest(
        "apt.toml",
        &apt_manifest(&upstream, "keys/archive.gpg", &["app".to_string()], ""),
    );
    env.run(&["lock"])
        .failure()
        .stderr_has("libmiddle 2.1 depends on `libc6 | libmissing (>= 1~)`")
        .stderr_has("needed by: app <- libmiddle");
    // Excluding what the nodes already have makes it resolvable.
    env.manifest(
        "apt.toml",
        &apt_manifest(
            &upstream,
            "keys/archive.gpg",
            &["app".to_string()],
            "exclude = [\"libc6\"]\n",
        ),
    );
    env.run(&["lock"]).success();
    assert_eq!(locked_debs(&env.lock_text()).len(), 2);
}

#[test]
fn release_gpg_by_hash_and_an_expired_release() {
    let env = Env::new();
    workspace_with_keys(&env);
    let manifest = |upstream: &Upstream| {
        apt_manifest(
            upstream,
            "keys/archive.gpg",
            &["app".to_string()],
            "exclude = [\"libc6\"]\n",
        )
    };
    // No InRelease: Release + Release.gpg, and the index only under by-hash.
    let repo = env.temp.path().join("detached");
    signed_repo(
        &repo,
        &two_packages(),
        "Acquire-By-Hash: yes\n",
        true,
        false,
    );
    let upstream = Upstream::start();
    serve_directory(&upstream, &repo);
    env.manifest("apt.toml", &manifest(&upstream));
    env.run(&["lock"]).success();
    assert!(
        upstream
            .requests()
            .iter()
            .any(|request| request.path.contains("/by-hash/SHA256/"))
    );
    assert!(
        upstream
            .requests()
            .iter()
            .any(|request| request.path.ends_with("/Release.gpg"))
    );

    // A Release whose Valid-Until has passed is refused.
    let stale = env.temp.path().join("stale");
    signed_repo(
        &stale,
        &two_packages(),
        "Valid-Until: Sun, 11 Jun 2023 08:52:42 UTC\n",
        false,
        true,
    );
    let old = Upstream::start();
    serve_directory(&old, &stale);
    let before = env.lock_text();
    env.manifest("apt.toml", &manifest(&old));
    env.run(&["lock"])
        .failure()
        .stderr_has("expired")
        .stderr_has("Valid-Until");
    assert_eq!(env.lock_text(), before);
}

#[test]
fn an_apt_entry_without_keyring_is_refused() {
    let env = Env::new();
    env.manifest(
        "apt.toml",
        "[[apt]]\nname = \"x\"\nurl = \"http://deb.example.org/debian\"\nsuite = \"stable\"\ncomponents = [\"main\"]\narchitectures = [\"amd64\"]\npackages = [\"socat\"]\n",
    );
    env.run(&["lock", "--offline"])
        .failure()
        .stderr_has("manifests/apt.toml:1:1:")
        .stderr_has("has no `keyring`")
        .stderr_has("insecure = true");
}

#[test]
fn a_pool_path_that_leaves_the_repository_is_refused_at_lock() {
    // Failed before: a signed index naming `Filename: ../../../x.deb` was pinned, and
    // materialize then wrote the file outside --to (a signature does not help against a
    // hostile archive owner).
    let env = Env::new();
    workspace_with_keys(&env);
    let digest = sha256_hex(b"x");
    let index = format!(
        "Package: app\nVersion: 1.0\nArchitecture: amd64\nFilename: ../../../../escaped.deb\nSize: 1\nSHA256: {digest}\n"
    );
    let repo = env.temp.path().join("repo");
    signed_repo(&repo, &index, "", false, true);
    let upstream = Upstream::start();
    serve_directory(&upstream, &repo);
    upstream.put("escaped.deb", b"x".to_vec());
    env.manifest(
        "apt.toml",
        &apt_manifest(&upstream, "keys/archive.gpg", &["app".to_string()], ""),
    );
    env.run(&["lock"])
        .failure()
        .stderr_has("names the pool file of app 1.0 as `../../../../escaped.deb`")
        .stderr_has("would leave its directory");
    assert!(!env.workspace().join("airgap.lock").exists());
}

#[test]
fn a_hand_edited_lock_with_a_path_outside_is_refused_when_read() {
    let env = Env::new();
    env.workspace_file("artifacts/x", b"x");
    env.manifest(
        "files.toml",
        "[[file]]\nname = \"x\"\nurl = \"artifacts/x\"\n",
    );
    env.run(&["lock"]).success();
    let lock = env
        .lock_text()
        .replace("path = \"local/artifacts/x\"", "path = \"../../outside\"");
    std::fs::write(env.workspace().join("airgap.lock"), lock).unwrap();
    env.materialize(&[])
        .failure()
        .stderr_has("airgap.lock is not a valid lockfile")
        .stderr_has("would leave its directory");
    assert!(!env.temp.path().join("outside").exists());
}
