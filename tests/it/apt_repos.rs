//! apt repositories as operators point `[[apt]]` at them, checked against apt-get on the same
//! repositories: a flat repository (`deb URL /`, as pkgs.k8s.io publishes) built with
//! `apt-ftparchive` over .debs built with `dpkg-deb`, with several versions of one package
//! (version pins); a mirror that lacks the `.xz` index; an archive that says `Acquire-By-Hash`
//! but only has the canonical paths; a conflicting pair.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::apt::{
    AptRoot, apt_manifest, fixture, locked_debs, served_fixture, workspace_with_keys,
};
use crate::support::{Env, output, serve_directory};
use crate::upstream::{Fault, Upstream};

/// Builds a binary package with `dpkg-deb` into `directory`.
fn deb(directory: &Path, name: &str, version: &str, extra: &str) {
    deb_for(directory, name, version, "amd64", extra);
}

/// [`deb`] for another architecture (`all` too).
pub(crate) fn deb_for(directory: &Path, name: &str, version: &str, arch: &str, extra: &str) {
    let build = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(build.path().join("DEBIAN")).unwrap();
    std::fs::create_dir_all(build.path().join("usr/share/doc").join(name)).unwrap();
    std::fs::write(
        build.path().join("usr/share/doc").join(name).join("README"),
        format!("{name} {version}\n"),
    )
    .unwrap();
    std::fs::write(
        build.path().join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: airgap tests <tests@example.org>\nDescription: {name} for the tests\n{extra}"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(directory).unwrap();
    let built = output({
        let mut command = Command::new("dpkg-deb");
        command
            .args(["--root-owner-group", "-Zgzip", "--build"])
            .arg(build.path())
            .arg(directory.join(format!("{name}_{version}_{arch}.deb")));
        command
    });
    assert_eq!(built.code, 0, "{}", built.stderr);
}

/// Indexes and signs the flat repository at `repo` (its .debs already there).
pub(crate) fn index_flat(repo: &Path) {
    let shell = format!(
        "set -e; cd '{}'; apt-ftparchive packages . > Packages; gzip -9nk Packages; \
         apt-ftparchive release . > Release; \
         gpg --batch --yes --local-user 'airgap test archive' --clearsign -o InRelease Release",
        repo.display()
    );
    let built = output({
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(shell)
            .env("GNUPGHOME", fixture().join("gnupg"));
        command
    });
    assert_eq!(built.code, 0, "{}", built.stderr);
}

/// A flat repository at `repo`: .debs under `amd64/`, `Packages` (and `.gz`) and a signed
/// `InRelease` at the root, as pkgs.k8s.io lays it out.
fn flat_repo(repo: &Path) {
    let pool = repo.join("amd64");
    for version in ["1.35.3-1.1", "1.35.4-1.1", "1.36.0-1.1"] {
        deb(&pool, "kubelet", version, "Depends: kube-helper\n");
    }
    deb(&pool, "kube-helper", "1.0-1", "");
    deb(
        &pool,
        "kubeadm",
        "1.35.4-1.1",
        "Depends: kubelet (>= 1.35)\n",
    );
    deb(&pool, "tool-a", "1.0", "Conflicts: tool-b\n");
    deb(&pool, "tool-b", "1.0", "");
    index_flat(repo);
}

fn flat_manifest(upstream: &Upstream, packages: &[&str]) -> String {
    let list = packages
        .iter()
        .map(|name| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "[[apt]]\nname = \"kubernetes\"\nurl = \"{}\"\nsuite = \"/\"\narchitectures = [\"amd64\"]\nkeyring = \"keys/archive.gpg\"\npackages = [{list}]\n",
        upstream.url("").trim_end_matches('/')
    )
}

/// What `apt-get -s install ARGS` would install, as (name, version).
fn simulated(apt: &AptRoot, args: &[&str]) -> Result<BTreeSet<(String, String)>, String> {
    let mut all = vec!["-s", "install"];
    all.extend_from_slice(args);
    let simulation = apt.apt_get(&all);
    if simulation.code != 0 {
        return Err(format!("{}{}", simulation.stdout, simulation.stderr));
    }
    Ok(simulation
        .stdout
        .lines()
        .filter_map(|line| line.strip_prefix("Inst "))
        .map(|line| {
            let (name, rest) = line.split_once(" (").unwrap();
            (
                name.to_string(),
                rest.split_whitespace().next().unwrap().to_string(),
            )
        })
        .collect())
}

#[test]
fn a_flat_repository_with_version_pins_matches_apt_get_and_the_media_serves_stock_apt() {
    let env = Env::new();
    workspace_with_keys(&env);
    let repo = env.temp.path().join("flat");
    flat_repo(&repo);
    let upstream = Upstream::start();
    serve_directory(&upstream, &repo);
    let request = ["kubeadm", "kubelet=1.35.4-1.1"];
    env.manifest(
        "apt.toml",
        &format!(
            "[enclave]\nurl = \"http://mirror.enclave.invalid\"\n\n{}",
            flat_manifest(&upstream, &request)
        ),
    );
    env.run(&["lock"]).success();
    let ours = locked_debs(&env.lock_text());
    assert!(ours.contains(&("kubelet".to_string(), "1.35.4-1.1".to_string())));

    // apt-get on the same flat repository, with the same request.
    let apt = AptRoot::new(
        env.temp.path(),
        &format!(
            "Types: deb\nURIs: {}\nSuites: /\nSigned-By: {}\n",
            upstream.url(""),
            fixture().join("keys/archive.gpg").display()
        ),
    );
    let update = apt.apt_get(&["update", "-q"]);
    assert_eq!(update.code, 0, "{}{}", update.stdout, update.stderr);
    let theirs = simulated(&apt, &request).unwrap();
    assert_eq!(ours, theirs, "airgap's closure differs from apt-get's");
    // Without the pin both take the newest kubelet.
    let newest = simulated(&apt, &["kubeadm"]).unwrap();
    assert!(newest.contains(&("kubelet".to_string(), "1.36.0-1.1".to_string())));

    // A pin that matches nothing names the versions there are, and keeps the lock.
    let lock = env.lock_text();
    env.manifest(
        "apt.toml",
        &flat_manifest(&upstream, &["kubelet=1.34.0-1.1"]),
    );
    env.run(&["lock"])
        .failure()
        .stderr_has("`kubelet=1.34.0-1.1` matches no version of kubelet")
        .stderr_has("1.36.0-1.1, 1.35.4-1.1, 1.35.3-1.1");
    assert_eq!(env.lock_text(), lock);

    // The media republishes it; the rendered .sources works with stock apt.
    env.manifest(
        "apt.toml",
        &format!(
            "[enclave]\nurl = \"http://mirror.enclave.invalid\"\n\n{}",
            flat_manifest(&upstream, &request)
        ),
    );
    env.materialize(&[]).success();
    env.verify(&[]).success();
    let media = env.media();
    let served = crate::serve::serve(&media, &[]);
    let sources = std::fs::read_to_string(media.join("config/apt/kubernetes.sources"))
        .unwrap()
        .replace(
            "http://mirror.enclave.invalid",
            &format!("http://127.0.0.1:{}", served.port),
        );
    let node = AptRoot::new(&env.temp.path().join("node"), &sources);
    let update = node.apt_get(&["update", "-q"]);
    assert_eq!(update.code, 0, "{}{}", update.stdout, update.stderr);
    let mut args = vec!["install", "--download-only", "-y", "-q"];
    args.extend_from_slice(&request);
    let install = node.apt_get(&args);
    assert_eq!(install.code, 0, "{}{}", install.stdout, install.stderr);
    let downloaded: BTreeSet<String> = std::fs::read_dir(node.root.join("var/cache/apt/archives"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".deb"))
        .collect();
    assert_eq!(downloaded.len(), ours.len(), "{downloaded:?}");
    assert!(downloaded.contains("kubelet_1.35.4-1.1_amd64.deb"));
}

#[test]
fn a_conflicting_pair_is_refused_naming_both_as_apt_get_refuses_it() {
    let env = Env::new();
    workspace_with_keys(&env);
    let repo = env.temp.path().join("flat");
    flat_repo(&repo);
    let upstream = Upstream::start();
    serve_directory(&upstream, &repo);
    env.manifest("apt.toml", &flat_manifest(&upstream, &["tool-a", "tool-b"]));
    env.run(&["lock"])
        .failure()
        .stderr_has("tool-a 1.0 and tool-b 1.0 cannot be installed together")
        .stderr_has("Conflicts `tool-b`");
    let apt = AptRoot::new(
        env.temp.path(),
        &format!(
            "Types: deb\nURIs: {}\nSuites: /\nSigned-By: {}\n",
            upstream.url(""),
            fixture().join("keys/archive.gpg").display()
        ),
    );
    assert_eq!(apt.apt_get(&["update", "-q"]).code, 0);
    assert!(simulated(&apt, &["tool-a", "tool-b"]).is_err());
}

#[test]
fn a_mirror_without_the_xz_index_or_the_by_hash_files_works_as_with_apt_get() {
    // Failed before: a mirror that lacked Packages.xz (listed in the Release) failed the lock
    // outright, while apt-get went on to Packages.gz.
    let (env, upstream) = served_fixture();
    upstream.fault(
        "dists/stable/main/binary-amd64/Packages.xz",
        Fault::Status {
            status: 404,
            times: 1000,
        },
    );
    let names = crate::apt::packages();
    env.manifest(
        "apt.toml",
        &apt_manifest(&upstream, "keys/archive.gpg", &names, ""),
    );
    env.run(&["lock"]).success();
    let paths: Vec<String> = upstream
        .requests()
        .iter()
        .map(|request| request.path.clone())
        .collect();
    assert!(
        paths
            .iter()
            .any(|path| path.ends_with("binary-amd64/Packages.gz"))
    );
    let ours = locked_debs(&env.lock_text());
    let apt = AptRoot::new(
        env.temp.path(),
        &format!(
            "Types: deb\nURIs: {}\nSuites: stable\nComponents: main\nSigned-By: {}\n",
            upstream.url(""),
            fixture().join("keys/archive.gpg").display()
        ),
    );
    assert_eq!(apt.apt_get(&["update", "-q"]).code, 0);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(ours, simulated(&apt, &names).unwrap());

    // An archive that says Acquire-By-Hash but has only the canonical paths.
    let env = Env::new();
    workspace_with_keys(&env);
    let digest = crate::support::sha256_hex(b"x");
    let index = format!(
        "Package: app\nVersion: 1.0\nArchitecture: amd64\nFilename: pool/app.deb\nSize: 1\nSHA256: {digest}\n"
    );
    let repo = env.temp.path().join("repo");
    crate::apt::signed_repo(&repo, &index, "Acquire-By-Hash: yes\n", false, true);
    let upstream = Upstream::start();
    serve_directory(&upstream, &repo);
    upstream.put("pool/app.deb", b"x".to_vec());
    env.manifest(
        "apt.toml",
        &apt_manifest(&upstream, "keys/archive.gpg", &["app".to_string()], ""),
    );
    env.run(&["lock"]).success();
    let paths: Vec<String> = upstream
        .requests()
        .iter()
        .map(|request| request.path.clone())
        .collect();
    assert!(paths.iter().any(|path| path.contains("/by-hash/SHA256/")));
    assert!(
        paths
            .iter()
            .any(|path| path.ends_with("binary-amd64/Packages"))
    );
}

#[test]
fn two_architectures_resolve_each_as_apt_get_on_that_architecture() {
    let env = Env::new();
    workspace_with_keys(&env);
    let repo = env.temp.path().join("flat");
    for arch in ["amd64", "arm64"] {
        let pool = repo.join(arch);
        deb_for(
            &pool,
            "kubelet",
            "1.35.4-1.1",
            arch,
            "Depends: kube-helper, kube-docs\n",
        );
        deb_for(&pool, "kube-helper", "1.0-1", arch, "");
    }
    deb_for(&repo.join("all"), "kube-docs", "1.0-1", "all", "");
    deb_for(&repo.join("amd64"), "amd64-only", "1.0", "amd64", "");
    index_flat(&repo);
    let upstream = Upstream::start();
    serve_directory(&upstream, &repo);
    env.manifest(
        "apt.toml",
        &flat_manifest(&upstream, &["kubelet"]).replace(
            "architectures = [\"amd64\"]",
            "architectures = [\"amd64\", \"arm64\"]",
        ),
    );
    env.run(&["lock"]).success();
    let lock: toml::Table = toml::from_str(&env.lock_text()).unwrap();
    let locked: BTreeSet<(String, String)> = lock["apt"].as_array().unwrap()[0]["package"]
        .as_array()
        .unwrap()
        .iter()
        .map(|deb| {
            (
                deb["name"].as_str().unwrap().to_string(),
                deb["architecture"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for arch in ["amd64", "arm64"] {
        let root = env.temp.path().join(format!("root-{arch}"));
        let apt = AptRoot::new(
            &root,
            &format!(
                "Types: deb\nURIs: {}\nSuites: /\nSigned-By: {}\n",
                upstream.url(""),
                fixture().join("keys/archive.gpg").display()
            ),
        );
        let conf = std::fs::read_to_string(apt.root.join("apt.conf"))
            .unwrap()
            .replace("\"amd64\"", &format!("\"{arch}\""));
        std::fs::write(apt.root.join("apt.conf"), conf).unwrap();
        assert_eq!(apt.apt_get(&["update", "-q"]).code, 0);
        let theirs = simulated(&apt, &["kubelet"]).unwrap();
        for (name, _) in &theirs {
            let expected = if name == "kube-docs" { "all" } else { arch };
            assert!(
                locked.contains(&(name.clone(), expected.to_string())),
                "{arch}: apt-get installs {name}, the lock has {locked:?}"
            );
        }
        let ours_for_arch = locked
            .iter()
            .filter(|(_, locked_arch)| locked_arch == arch || locked_arch == "all")
            .count();
        assert_eq!(
            ours_for_arch,
            theirs.len(),
            "{arch}: {locked:?} vs {theirs:?}"
        );
    }
    assert!(!locked.iter().any(|(name, _)| name == "amd64-only"));
}
