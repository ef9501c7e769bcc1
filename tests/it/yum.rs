//! `[[yum]]` end to end against a real repository (RPMs built with `rpmbuild`, indexed by
//! `createrepo_c`, repomd signed by `gpg`; `scripts/yum-fixture`), checked against `dnf`
//! itself: the same closure as `dnf download --resolve --alldeps` in an empty install root,
//! and a stock dnf downloads from the media repository with `repo_gpgcheck` on.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Env, Run, output, serve_directory, tool};
use crate::upstream::{Fault, Upstream};

pub(crate) fn fixture() -> PathBuf {
    crate::support::fixture("yum-fixture")
}

/// A workspace with the fixture's keys, and an upstream serving the fixture's repository.
fn served_fixture() -> (Env, Upstream) {
    let env = Env::new();
    workspace_with_keys(&env);
    let upstream = Upstream::start();
    serve_directory(&upstream, &fixture().join("repo"));
    (env, upstream)
}

pub(crate) fn yum_manifest(upstream: &Upstream, gpgkey: Option<&str>, packages: &[&str]) -> String {
    let list = packages
        .iter()
        .map(|name| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let key = gpgkey
        .map(|key| format!("gpgkey = \"{key}\"\n"))
        .unwrap_or_default();
    format!(
        "[[yum]]\nname = \"test\"\nurl = \"{}\"\narch = \"x86_64\"\n{key}packages = [{list}]\n",
        upstream.url("")
    )
}

pub(crate) fn workspace_with_keys(env: &Env) {
    for name in ["RPM-GPG-KEY-test", "RPM-GPG-KEY-wrong"] {
        env.workspace_file(
            &format!("keys/{name}"),
            &std::fs::read(fixture().join("keys").join(name)).unwrap(),
        );
    }
}

fn locked_rpms(lock: &str) -> BTreeSet<String> {
    let lock: toml::Table = toml::from_str(lock).unwrap();
    lock["yum"].as_array().unwrap()[0]["package"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rpm| {
            format!(
                "{}-{}-{}.{}.rpm",
                rpm["name"].as_str().unwrap(),
                rpm["version"].as_str().unwrap(),
                rpm["release"].as_str().unwrap(),
                rpm["arch"].as_str().unwrap()
            )
        })
        .collect()
}

/// `dnf download --resolve --alldeps` into `destination` from an empty install root.
fn dnf_download(root: &Path, destination: &Path, repository: &[&str], packages: &[&str]) -> Run {
    std::fs::create_dir_all(root).unwrap();
    std::fs::create_dir_all(destination).unwrap();
    let mut command = Command::new("dnf");
    command
        .args([
            "download",
            "--resolve",
            "--alldeps",
            "-y",
            "--releasever=9",
            "--setopt=reposdir=/dev/null",
        ])
        .arg(format!("--installroot={}", root.display()))
        .arg(format!("--destdir={}", destination.display()))
        .args(repository)
        .args(packages);
    output(command)
}

fn downloaded(destination: &Path) -> BTreeSet<String> {
    std::fs::read_dir(destination)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".rpm"))
        .collect()
}

#[test]
fn the_lock_resolves_the_closure_dnf_would_install() {
    let (env, upstream) = served_fixture();
    env.manifest(
        "yum.toml",
        &yum_manifest(&upstream, Some("keys/RPM-GPG-KEY-test"), &["app"]),
    );
    env.run(&["lock"]).success();
    let ours = locked_rpms(&env.lock_text());

    let destination = env.temp.path().join("dnf-download");
    let repository = format!("--repofrompath=fixture,{}", upstream.url(""));
    let run = dnf_download(
        &env.temp.path().join("dnf-root"),
        &destination,
        &[&repository, "--repo=fixture", "--nogpgcheck"],
        &["app"],
    );
    assert_eq!(run.code, 0, "dnf download: {}{}", run.stdout, run.stderr);
    let theirs = downloaded(&destination);
    assert!(
        theirs.contains("new-thing-2.0-1.x86_64.rpm"),
        "the obsoleter replaces old-thing: {theirs:?}"
    );
    // Weak dependencies are on by default, as in dnf: what app recommends (and what that
    // recommends), what supplements app; not what cannot be installed.
    for weak in [
        "app-extras-1.0-1.noarch.rpm",
        "extras-docs-1.0-1.noarch.rpm",
        "app-plugin-1.0-1.x86_64.rpm",
    ] {
        assert!(theirs.contains(weak), "{weak}: {theirs:?}");
    }
    assert!(!theirs.contains("unrelated-1.0-1.x86_64.rpm"));
    assert_eq!(ours, theirs, "airgap's closure differs from dnf's");
}

#[test]
fn without_weak_dependencies_the_lock_matches_dnf_with_install_weak_deps_off() {
    // Failed before: Recommends and Supplements were never followed, nor could they be
    // turned off; the oracle is dnf install --downloadonly (dnf download ignores the option).
    let (env, upstream) = served_fixture();
    env.manifest(
        "yum.toml",
        &format!(
            "{}weak_deps = false\n",
            yum_manifest(&upstream, Some("keys/RPM-GPG-KEY-test"), &["app"])
        ),
    );
    env.run(&["lock"]).success();
    assert!(env.lock_text().contains("weak_deps = false"));
    let ours = locked_rpms(&env.lock_text());
    let root = env.temp.path().join("dnf-root");
    let destination = env.temp.path().join("dnf-install");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&destination).unwrap();
    let run = output({
        let mut command = Command::new("dnf");
        command
            .args([
                "install",
                "--downloadonly",
                "-y",
                "--releasever=9",
                "--setopt=reposdir=/dev/null",
                "--setopt=install_weak_deps=False",
                "--nogpgcheck",
                "--repo=fixture",
            ])
            .arg(format!("--repofrompath=fixture,{}", upstream.url("")))
            .arg(format!("--installroot={}", root.display()))
            .arg(format!("--downloaddir={}", destination.display()))
            .arg("app");
        command
    });
    assert_eq!(run.code, 0, "dnf install: {}{}", run.stdout, run.stderr);
    let theirs = downloaded(&destination);
    assert!(
        !theirs.contains("app-extras-1.0-1.noarch.rpm"),
        "{theirs:?}"
    );
    assert_eq!(ours, theirs, "airgap's closure differs from dnf's");
}

#[test]
fn package_signatures_are_checked_at_materialize() {
    // Failed before: the packages' own signatures were never looked at; a package signed by
    // another key reached the media, and a node with gpgcheck=1 refused it.
    let env = Env::new();
    workspace_with_keys(&env);
    let upstream = Upstream::start();
    serve_directory(&upstream, &fixture().join("repo-badsig"));
    env.manifest(
        "yum.toml",
        &yum_manifest(&upstream, Some("keys/RPM-GPG-KEY-test"), &["app"]),
    );
    env.run(&["lock"]).success();
    env.materialize(&[])
        .failure()
        .stderr_has("yum test: helper-1.2-1.x86_64")
        .stderr_has("holds no signature by a key of the keyring")
        .stderr_has("gpgcheck = false");
    let placed = crate::support::files_under(&env.media());
    assert!(
        !placed
            .iter()
            .any(|path| path.to_string_lossy().contains("helper-1.2")),
        "{placed:?}"
    );
    // The same packages from the well-signed repository pass, and the .repo says gpgcheck=1.
    let env = Env::new();
    workspace_with_keys(&env);
    let good = Upstream::start();
    serve_directory(&good, &fixture().join("repo"));
    env.manifest(
        "yum.toml",
        &yum_manifest(&good, Some("keys/RPM-GPG-KEY-test"), &["app"]),
    );
    env.materialize(&[]).success();
    let repo = std::fs::read_to_string(env.media().join("config/yum/test.repo")).unwrap();
    assert!(repo.contains("gpgcheck=1"), "{repo}");
    // gpgcheck = false takes the badly signed one, and says so in the .repo.
    env.manifest(
        "yum.toml",
        &format!(
            "{}gpgcheck = false\n",
            yum_manifest(&upstream, Some("keys/RPM-GPG-KEY-test"), &["app"])
        ),
    );
    env.materialize(&[]).success();
    let repo = std::fs::read_to_string(env.media().join("config/yum/test.repo")).unwrap();
    assert!(repo.contains("gpgcheck=0"), "{repo}");
}

#[test]
fn the_media_repository_is_trusted_and_downloaded_from_by_stock_dnf() {
    let (env, upstream) = served_fixture();
    env.manifest(
        "yum.toml",
        &format!(
            "[enclave]\nurl = \"http://mirror.enclave.invalid\"\n\n{}",
            yum_manifest(&upstream, Some("keys/RPM-GPG-KEY-test"), &["app"])
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
    // Served by `airgap serve`, at the URL the node's .repo names (here: where it listens).
    let served = crate::serve::serve(&media, &[]);
    let base = format!("http://127.0.0.1:{}", served.port);

    // The rendered .repo file, as a node would use it: repo_gpgcheck=1 with the bundle key.
    let repos = env.temp.path().join("repos.d");
    std::fs::create_dir_all(&repos).unwrap();
    let repo = std::fs::read_to_string(media.join("config/yum/test.repo"))
        .unwrap()
        .replace("http://mirror.enclave.invalid", &base);
    assert!(repo.contains("repo_gpgcheck=1"));
    std::fs::write(repos.join("test.repo"), &repo).unwrap();
    let destination = env.temp.path().join("from-media");
    let reposdir = format!("--setopt=reposdir={}", repos.display());
    // The packages are signed by the fixture's key, which the .repo names beside the bundle
    // key: dnf checks both the metadata and the packages.
    let run = dnf_download(
        &env.temp.path().join("node-root"),
        &destination,
        &[&reposdir],
        &["app"],
    );
    assert_eq!(
        run.code, 0,
        "dnf download from the media: {}{}",
        run.stdout, run.stderr
    );
    assert_eq!(downloaded(&destination), locked_rpms(&env.lock_text()));

    // A repomd signed by another key is refused by dnf.
    let signature = media.join("yum/test/repodata/repomd.xml.asc");
    let other = Env::new();
    other.workspace_file("artifacts/x", b"x");
    other.manifest(
        "files.toml",
        "[[file]]\nname = \"x\"\nurl = \"artifacts/x\"\n",
    );
    other.materialize(&[]).success();
    let forged = Upstream::start();
    serve_directory(&forged, &media);
    let foreign_key = std::fs::read(other.media().join("keys/airgap.asc")).unwrap();
    forged.put("keys/airgap.asc", foreign_key);
    let _ = signature;
    let repo = repo.replace(&base, forged.url("").trim_end_matches('/'));
    std::fs::write(repos.join("test.repo"), repo).unwrap();
    let run = dnf_download(
        &env.temp.path().join("forged-root"),
        &env.temp.path().join("forged"),
        &[&reposdir, "--setopt=airgap-test.gpgcheck=0"],
        &["app"],
    );
    assert_ne!(
        run.code, 0,
        "dnf must refuse metadata signed by another key: {}{}",
        run.stdout, run.stderr
    );
}

#[test]
fn a_wrong_key_a_tampered_primary_and_unsatisfiable_names_fail_and_keep_the_lock() {
    let fixture = fixture();
    let (env, upstream) = served_fixture();
    env.manifest(
        "yum.toml",
        &yum_manifest(&upstream, Some("keys/RPM-GPG-KEY-test"), &["app"]),
    );
    env.run(&["lock"]).success();
    let good = env.lock_text();

    env.manifest(
        "yum.toml",
        &yum_manifest(&upstream, Some("keys/RPM-GPG-KEY-wrong"), &["app"]),
    );
    env.run(&["lock"])
        .failure()
        .stderr_has("yum test")
        .stderr_has("repomd.xml.asc");
    assert_eq!(env.lock_text(), good);

    env.manifest("yum.toml", &yum_manifest(&upstream, None, &["app"]));
    env.run(&["lock"]).failure().stderr_has("has no `gpgkey`");
    assert_eq!(env.lock_text(), good);

    env.manifest(
        "yum.toml",
        &yum_manifest(
            &upstream,
            Some("keys/RPM-GPG-KEY-test"),
            &["no-such-package"],
        ),
    );
    env.run(&["lock"])
        .failure()
        .stderr_has("`no-such-package` is not a package");
    assert_eq!(env.lock_text(), good);

    env.manifest(
        "yum.toml",
        &yum_manifest(&upstream, Some("keys/RPM-GPG-KEY-test"), &["unrelated"]),
    );
    env.run(&["lock"])
        .failure()
        .stderr_has("requires `does-not-exist`")
        .stderr_has("needed by: unrelated");
    assert_eq!(env.lock_text(), good);

    std::fs::remove_dir_all(env.cache()).unwrap();
    let primary = std::fs::read_dir(fixture.join("repo/repodata"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .find(|name| name.ends_with("-primary.xml.gz"))
        .unwrap();
    upstream.fault(
        &format!("repodata/{primary}"),
        Fault::Corrupt { offset: 30 },
    );
    env.manifest(
        "yum.toml",
        &yum_manifest(&upstream, Some("keys/RPM-GPG-KEY-test"), &["app", "helper"]),
    );
    env.run(&["lock"])
        .failure()
        .stderr_has("primary.xml.gz")
        .stderr_has("do not match");
    assert_eq!(env.lock_text(), good);
}

/// What dnf downloads for `packages` from `url` with `modules` enabled first (`dnf module
/// enable`), in an empty install root.
fn dnf_with_modules(env: &Env, url: &str, modules: &[&str], packages: &[&str]) -> BTreeSet<String> {
    let root = env.temp.path().join("dnf-modular-root");
    let destination = env.temp.path().join("dnf-modular");
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(&destination);
    let repository = format!("--repofrompath=modular,{url}");
    if !modules.is_empty() {
        std::fs::create_dir_all(&root).unwrap();
        let run = output({
            let mut command = Command::new("dnf");
            command
                .args(["module", "enable", "-y", "--releasever=9", "--nogpgcheck"])
                .args(["--setopt=reposdir=/dev/null", "--repo=modular"])
                .arg(&repository)
                .arg(format!("--installroot={}", root.display()))
                .args(modules);
            command
        });
        assert_eq!(
            run.code, 0,
            "dnf module enable: {}{}",
            run.stdout, run.stderr
        );
    }
    let run = dnf_download(
        &root,
        &destination,
        &[&repository, "--repo=modular", "--nogpgcheck"],
        packages,
    );
    assert_eq!(run.code, 0, "dnf download: {}{}", run.stdout, run.stderr);
    downloaded(&destination)
}

#[test]
fn module_default_streams_apply_and_modules_enables_another_as_dnf_does() {
    // Failed before: modules.yaml only warned; toolbox resolved to 3.0 (the newest of all
    // streams) where dnf installs the default stream's 2.0.
    let env = Env::new();
    workspace_with_keys(&env);
    let upstream = Upstream::start();
    serve_directory(&upstream, &fixture().join("repo-modular"));
    env.manifest(
        "yum.toml",
        &yum_manifest(&upstream, Some("keys/RPM-GPG-KEY-test"), &["toolbox"]),
    );
    env.run(&["lock"]).success();
    let ours = locked_rpms(&env.lock_text());
    assert!(ours.contains("toolbox-2.0-1.x86_64.rpm"), "{ours:?}");
    assert_eq!(
        ours,
        dnf_with_modules(&env, &upstream.url(""), &[], &["toolbox"])
    );

    env.manifest(
        "yum.toml",
        &format!(
            "{}modules = [\"toolbox:three\"]\n",
            yum_manifest(&upstream, Some("keys/RPM-GPG-KEY-test"), &["toolbox"])
        ),
    );
    env.run(&["lock"]).success();
    let ours = locked_rpms(&env.lock_text());
    assert!(ours.contains("toolbox-3.0-1.x86_64.rpm"), "{ours:?}");
    assert_eq!(
        ours,
        dnf_with_modules(&env, &upstream.url(""), &["toolbox:three"], &["toolbox"])
    );

    let lock = env.lock_text();
    env.manifest(
        "yum.toml",
        &format!(
            "{}modules = [\"toolbox:nine\"]\n",
            yum_manifest(&upstream, Some("keys/RPM-GPG-KEY-test"), &["toolbox"])
        ),
    );
    env.run(&["lock"]).failure().stderr_has(
        "the module stream `toolbox:nine` does not exist; there are: toolbox:three, toolbox:two",
    );
    assert_eq!(env.lock_text(), lock);
}

#[test]
fn a_path_only_filelists_has_is_found_there_as_dnf_finds_it() {
    // Failed before: widget requires /usr/share/widget/data.conf, which primary.xml does not
    // list (createrepo_c puts only /etc and bin paths there); the lock said nothing provides it.
    let (env, upstream) = served_fixture();
    env.manifest(
        "yum.toml",
        &yum_manifest(&upstream, Some("keys/RPM-GPG-KEY-test"), &["widget"]),
    );
    env.run(&["lock"]).success();
    let ours = locked_rpms(&env.lock_text());
    assert!(ours.contains("widget-data-1.0-1.noarch.rpm"), "{ours:?}");
    let destination = env.temp.path().join("dnf-download");
    let repository = format!("--repofrompath=fixture,{}", upstream.url(""));
    let run = dnf_download(
        &env.temp.path().join("dnf-root"),
        &destination,
        &[&repository, "--repo=fixture", "--nogpgcheck"],
        &["widget"],
    );
    assert_eq!(run.code, 0, "dnf download: {}{}", run.stdout, run.stderr);
    assert_eq!(ours, downloaded(&destination));
}

#[test]
fn versions_in_requests_are_read_as_dnf_reads_them() {
    // Failed before: `libfoo-1.0` was refused as a name; a pin is what operators write to keep
    // kubelet at the cluster's version.
    let (env, upstream) = served_fixture();
    let repository = format!("--repofrompath=fixture,{}", upstream.url(""));
    for request in ["libfoo-1.0", "libfoo-1:1.0-1.x86_64", "libfoo = 1:1.0"] {
        env.manifest(
            "yum.toml",
            &yum_manifest(&upstream, Some("keys/RPM-GPG-KEY-test"), &[request]),
        );
        env.run(&["lock"]).success();
        let ours = locked_rpms(&env.lock_text());
        assert!(
            ours.contains("libfoo-1.0-1.x86_64.rpm"),
            "{request}: {ours:?}"
        );
        if !request.contains(' ') {
            let destination = env.temp.path().join(format!("dnf-{}", request.len()));
            let run = dnf_download(
                &env.temp.path().join(format!("dnf-root-{}", request.len())),
                &destination,
                &[&repository, "--repo=fixture", "--nogpgcheck"],
                &[request],
            );
            assert_eq!(run.code, 0, "dnf download: {}{}", run.stdout, run.stderr);
            assert_eq!(ours, downloaded(&destination), "{request}");
        }
    }
    // A pin the rest of the closure cannot live with, and a pin that matches nothing.
    env.manifest(
        "yum.toml",
        &yum_manifest(
            &upstream,
            Some("keys/RPM-GPG-KEY-test"),
            &["app", "libfoo-1.0"],
        ),
    );
    env.run(&["lock"])
        .failure()
        .stderr_has("requires `libfoo >= 1:2.0`");
    env.manifest(
        "yum.toml",
        &yum_manifest(&upstream, Some("keys/RPM-GPG-KEY-test"), &["libfoo-9.0"]),
    );
    env.run(&["lock"])
        .failure()
        .stderr_has("`libfoo-9.0` matches no version of libfoo; there are: 2.1-1, 1.0-1");
}
