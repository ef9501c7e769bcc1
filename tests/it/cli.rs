//! The command line itself: init, completions, man page, exit codes, the quickstart example.

use crate::support::{BINARY, Env, output, tool};

#[test]
fn init_writes_a_workspace_whose_manifests_parse() {
    let env = Env::new();
    let target = env.temp.path().join("new-workspace");
    env.run(&["init", target.to_str().unwrap()]).success();
    assert!(target.join("manifests/10-files.toml").exists());
    // The examples parse: the only complaint offline is that nothing is pinned yet.
    let mut command = std::process::Command::new(BINARY);
    command.args(["-C", target.to_str().unwrap(), "lock", "--offline"]);
    let run = output(command);
    run.failure()
        .stderr_has("--offline forbids the network")
        .stderr_has("file kubeadm (amd64)");
    env.run(&["init", target.to_str().unwrap()])
        .failure()
        .stderr_has("already has manifests");
}

#[test]
fn completions_and_man_page() {
    let env = Env::new();
    env.run(&["completions", "bash"])
        .success()
        .stdout_has("_airgap()");
    env.run(&["completions", "zsh"])
        .success()
        .stdout_has("#compdef airgap");
    env.run(&["manpage"]).success().stdout_has(".TH airgap");
    // One page per command, nested ones too, each naming itself.
    let pages = env.temp.path().join("man");
    env.run(&["manpage", "--dir", pages.to_str().unwrap()])
        .success();
    for page in [
        "airgap.1",
        "airgap-materialize.1",
        "airgap-verify.1",
        "airgap-import-kubespray.1",
        "airgap-cache-prune.1",
    ] {
        let text = std::fs::read_to_string(pages.join(page)).unwrap();
        assert!(
            text.contains(&format!(".TH {}", page.trim_end_matches(".1"))),
            "{page}"
        );
    }
    // Options show where they apply: fetching options on the commands that fetch only.
    let verify = std::fs::read_to_string(pages.join("airgap-verify.1")).unwrap();
    let lock = std::fs::read_to_string(pages.join("airgap-lock.1")).unwrap();
    assert!(!verify.contains("fetch\\-grace"), "{verify}");
    assert!(lock.contains("fetch\\-grace"), "{lock}");
    assert!(
        verify.contains("quiet") && verify.contains("cache"),
        "{verify}"
    );
}

#[test]
fn cache_shows_itself_and_prunes_what_no_lock_needs() {
    let env = Env::new();
    env.workspace_file("artifacts/one", &crate::support::bytes(7, 5_000));
    env.manifest(
        "files.toml",
        "[[file]]\nname = \"one\"\nurl = \"artifacts/one\"\n",
    );
    env.materialize(&[]).success();
    let stray = env.cache().join("sha256").join("00".repeat(32));
    std::fs::write(&stray, b"nobody needs this").unwrap();
    std::fs::write(env.cache().join("partial").join("interrupted"), b"").unwrap();
    env.run(&["cache"])
        .success()
        .stdout_has(&env.cache().display().to_string())
        .stdout_has("1 partial download (0 B)");
    env.run(&["cache", "prune", "--keep-recent", "0", "--dry-run"])
        .success()
        .stderr_has("Would remove");
    assert!(stray.exists(), "--dry-run removes nothing");
    env.run(&["cache", "prune", "--keep-recent", "0"])
        .success()
        .stderr_has("kept 1 blob");
    assert!(!stray.exists());
    assert!(!env.cache().join("partial").join("interrupted").exists());
    // What the lock needs stayed: the media is made again without the network or the source.
    std::fs::remove_file(env.workspace().join("artifacts/one")).unwrap();
    std::fs::remove_dir_all(env.media()).unwrap();
    env.materialize(&["--offline"]).success();
    env.verify(&[]).success();
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let env = Env::new();
    assert_eq!(env.run(&["materialize"]).code, 1);
    assert_eq!(env.run(&["--help"]).code, 0);
}

#[test]
fn the_quickstart_example_runs_offline_with_its_committed_lock() {
    let env = Env::new();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    let media = env.media();
    let mut command = env.command_in(&example);
    command.args(["materialize", "--locked", "--to", media.to_str().unwrap()]);
    output(command).success();
    tool("sha256sum", &["-c", "--strict", "SHA256SUMS"], &media).success();
    // The in-house image from the example's OCI layout is on the media, and umoci unpacks it.
    let bundle = env.temp.path().join("bundle");
    let image = format!(
        "{}:registry.enclave.internal/site/hello:1.0",
        media.join("oci").display()
    );
    tool(
        "umoci",
        &[
            "unpack",
            "--rootless",
            "--image",
            &image,
            bundle.to_str().unwrap(),
        ],
        env.temp.path(),
    )
    .success();
    assert!(bundle.join("rootfs/usr/local/bin/hello").exists());
    // The example's apt archive became a signed repository of exactly its closure.
    let index = std::fs::read_to_string(
        media.join("apt/site-tools/dists/stable/main/binary-amd64/Packages"),
    )
    .unwrap();
    assert!(
        index.contains("Package: airgap-hello\n") && index.contains("Package: airgap-hello-data\n")
    );
    assert!(media.join("apt/site-tools/dists/stable/InRelease").exists());
    assert!(media.join("config/apt/site-tools.sources").exists());
    // And its yum repository, with regenerated, signed metadata.
    assert!(media.join("yum/site-rpms/repodata/repomd.xml.asc").exists());
    assert!(
        media
            .join("yum/site-rpms/Packages/site-motd-data-1.0-1.noarch.rpm")
            .exists()
    );
    assert!(media.join("config/yum/site-rpms.repo").exists());
    // And its git repository, ready for dumb HTTP.
    assert!(media.join("git/site-playbooks.git/info/refs").exists());
    // And its chart, in a Helm repository of the media.
    assert!(media.join("charts/site-app-0.1.0.tgz").exists());
    assert!(
        std::fs::read_to_string(media.join("charts/index.yaml"))
            .unwrap()
            .contains("site-app")
    );
    let key = media.join("keys/airgap.asc");
    env.run(&[
        "verify",
        media.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ])
    .success();
}

#[test]
fn the_kubespray_manifest_at_the_top_parses_and_carries_kubesprays_checksums() {
    // The repository root is a workspace for Kubespray v2.31.0; offline, the only complaint
    // is that nothing is pinned yet (it is locked with internet).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut command = std::process::Command::new(BINARY);
    command.args(["-C", root.to_str().unwrap(), "lock", "--offline"]);
    let run = output(command);
    run.failure()
        .stderr_has("--offline forbids the network")
        .stderr_has("git kubespray")
        .stderr_has("file kubeadm (arm64)")
        .stderr_has("image quay.io/calico/node:v3.31.5");
    let manifest = std::fs::read_to_string(root.join("manifests/kubespray-v2.31.0.toml")).unwrap();
    let checksums =
        std::fs::read_to_string(root.join(
            "../shared/data/kubespray-v2.31.0/roles_kubespray_defaults_vars_main_checksums.yml",
        ));
    if let Ok(checksums) = checksums {
        for line in manifest
            .lines()
            .filter(|line| line.starts_with("sha256 = "))
        {
            for digest in line.split('"').filter(|part| part.starts_with("sha256:")) {
                assert!(
                    checksums.contains(digest),
                    "{digest} is not one of Kubespray's checksums"
                );
            }
        }
    }
}

#[test]
fn every_cause_of_an_error_is_printed_once() {
    let env = Env::new();
    let target = env.temp.path().join("workspace");
    env.run(&["init", target.to_str().unwrap()]).success();
    // A lock that cannot be read: the reason is the operating system's, and it is printed
    // once, not once by the message and again as its cause.
    std::fs::create_dir(target.join("airgap.lock")).unwrap();
    let mut command = std::process::Command::new(BINARY);
    command.args(["-C", target.to_str().unwrap(), "lock", "--offline"]);
    let run = output(command);
    let run = run.failure().stderr_has("cannot read");
    assert_eq!(
        run.stderr.matches("Is a directory").count(),
        1,
        "{}",
        run.stderr
    );
}

#[test]
fn the_hint_comes_once_after_the_message_and_its_causes() {
    let env = Env::new();
    let missing = env.temp.path().join("nothing.lock");
    let run = env.run(&["diff", missing.to_str().unwrap(), missing.to_str().unwrap()]);
    let run = run.failure().stderr_has("does not exist");
    assert_eq!(run.stderr.matches("hint:").count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.trim_end().ends_with(
            "hint: pass two lockfiles, or two workspaces or media trees that hold airgap.lock"
        ),
        "{}",
        run.stderr
    );
}
