//! The lockfile: deterministic bytes, `--locked`, `--offline`, `--update`, versions, `diff`.

use crate::support::{Env, bytes, sha256_hex};
use crate::upstream::Upstream;

fn three_files(upstream: &Upstream) -> String {
    upstream.put("k8s/amd64/kubeadm", bytes(20, 3000));
    upstream.put("k8s/arm64/kubeadm", bytes(21, 3000));
    upstream.put(
        "k8s/amd64/kubeadm.sha256",
        format!("{}  kubeadm\n", sha256_hex(&bytes(20, 3000))),
    );
    upstream.put(
        "k8s/arm64/kubeadm.sha256",
        format!("{}  kubeadm\n", sha256_hex(&bytes(21, 3000))),
    );
    upstream.put("cni/cni.tgz", bytes(22, 5000));
    format!(
        "[enclave]\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\n\n\
         [[file]]\nname = \"kubeadm\"\nurl = \"{}\"\nchecksum_url = \"{}\"\n\n\
         [[file]]\nname = \"cni\"\nurl = \"{}\"\nsha256 = \"{}\"\n",
        upstream.url("k8s/{arch}/kubeadm"),
        upstream.url("k8s/{arch}/kubeadm.sha256"),
        upstream.url("cni/cni.tgz"),
        sha256_hex(&bytes(22, 5000)),
    )
}

#[test]
fn the_lock_is_byte_identical_across_runs_and_caches() {
    let upstream = Upstream::start();
    let manifest = three_files(&upstream);
    let first = Env::new();
    first.manifest("files.toml", &manifest);
    first.run(&["lock"]).success();
    let second = Env::new();
    second.manifest("files.toml", &manifest);
    second.run(&["lock"]).success();
    assert_eq!(first.lock_text(), second.lock_text());
    // Rerunning changes nothing and does not rewrite the file.
    let path = first.workspace().join("airgap.lock");
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    first.run(&["lock"]).success();
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );
    let text = first.lock_text();
    assert!(text.starts_with("# This file is written by airgap"));
    assert!(text.contains("version = 1\n"));
    assert_eq!(text.matches("[[file]]").count(), 3, "{text}");
}

#[test]
fn locked_fails_on_a_changed_manifest_and_writes_nothing() {
    let env = Env::new();
    let upstream = Upstream::start();
    env.manifest("files.toml", &three_files(&upstream));
    env.run(&["lock", "--locked"])
        .failure()
        .stderr_has("airgap.lock does not exist");
    assert!(!env.workspace().join("airgap.lock").exists());
    env.run(&["lock"]).success();
    env.run(&["lock", "--locked"]).success();
    let before = env.lock_text();
    upstream.put("cni/cni-v2.tgz", bytes(23, 10));
    let changed = three_files(&upstream).replace("cni/cni.tgz", "cni/cni-v2.tgz");
    env.manifest("files.toml", &changed);
    upstream.clear_log();
    env.run(&["lock", "--locked"])
        .failure()
        .stderr_has("file cni: its `url` changed");
    env.materialize(&["--locked"])
        .failure()
        .stderr_has("--locked");
    assert_eq!(env.lock_text(), before);
    assert!(
        upstream.requests().is_empty(),
        "--locked decides without the network"
    );
}

#[test]
fn offline_needs_every_pin_and_never_touches_the_network() {
    let env = Env::new();
    let upstream = Upstream::start();
    env.manifest("files.toml", &three_files(&upstream));
    env.run(&["lock", "--offline"])
        .failure()
        .stderr_has("--offline")
        .stderr_has("file kubeadm (arm64)");
    env.run(&["lock"]).success();
    upstream.clear_log();
    env.run(&["lock", "--offline"]).success();
    assert!(upstream.requests().is_empty());
}

#[test]
fn pins_of_unchanged_entries_are_kept_and_update_reresolves() {
    let env = Env::new();
    let upstream = Upstream::start();
    upstream.put("tool", bytes(30, 100));
    env.manifest(
        "files.toml",
        &format!(
            "[[file]]\nname = \"tool\"\nurl = \"{}\"\n",
            upstream.url("tool")
        ),
    );
    env.run(&["lock"]).success();
    let first = env.lock_text();
    // Upstream republishes under the same URL: the pin stays until asked.
    upstream.put("tool", bytes(31, 100));
    env.run(&["lock"]).success();
    assert_eq!(env.lock_text(), first);
    env.run(&["lock", "--update", "nosuch"])
        .failure()
        .stderr_has("`nosuch`");
    env.run(&["lock", "--update", "tool"]).success();
    assert!(env.lock_text().contains(&sha256_hex(&bytes(31, 100))));
    // materialize then refuses stale cache-less bytes? No: it fetches the new pin.
    env.materialize(&[]).success();
}

#[test]
fn an_unknown_lock_version_is_a_clear_error() {
    let env = Env::new();
    env.workspace_file("artifacts/x", b"x");
    env.manifest(
        "files.toml",
        "[[file]]\nname = \"x\"\nurl = \"artifacts/x\"\n",
    );
    env.run(&["lock"]).success();
    let text = env.lock_text().replace("version = 1", "version = 2");
    std::fs::write(env.workspace().join("airgap.lock"), &text).unwrap();
    env.run(&["lock"])
        .failure()
        .stderr_has("lockfile version 2");
    assert_eq!(
        env.lock_text(),
        text,
        "an unreadable lock is never overwritten"
    );
}

#[test]
fn diff_shows_added_removed_and_changed_artifacts() {
    let env = Env::new();
    let upstream = Upstream::start();
    env.manifest("files.toml", &three_files(&upstream));
    env.run(&["lock"]).success();
    let old = env.temp.path().join("old.lock");
    std::fs::copy(env.workspace().join("airgap.lock"), &old).unwrap();
    upstream.put("cni/cni-v2.tgz", bytes(24, 10));
    upstream.put("etcd", bytes(25, 10));
    let new_manifest = three_files(&upstream)
        .replace("cni/cni.tgz", "cni/cni-v2.tgz")
        .replace(&sha256_hex(&bytes(22, 5000)), &sha256_hex(&bytes(24, 10)))
        .replace(
            "platforms = [\"linux/amd64\", \"linux/arm64\"]",
            "platforms = [\"linux/amd64\"]",
        )
        + &format!(
            "\n[[file]]\nname = \"etcd\"\nurl = \"{}\"\n",
            upstream.url("etcd")
        );
    env.manifest("files.toml", &new_manifest);
    env.run(&["lock"]).success();
    let run = env.run(&[
        "diff",
        old.to_str().unwrap(),
        env.workspace().to_str().unwrap(),
    ]);
    run.success()
        .stdout_has("+ file etcd")
        .stdout_has("- file kubeadm (arm64)")
        .stdout_has("~ file cni  url ")
        .stdout_has(&format!(
            "sha256:{} -> sha256:{}",
            sha256_hex(&bytes(22, 5000)),
            sha256_hex(&bytes(24, 10))
        ));
    assert_eq!(run.stdout.lines().count(), 3, "{}", run.stdout);
    // The summary: what moved, and the bytes of pinned content on each side.
    run.stderr_has("1 added, 1 removed, 1 changed; 20 B of pinned content added")
        .stderr_has(&format!(
            "file cni: sha256:{} -> sha256:{}",
            &sha256_hex(&bytes(22, 5000))[..12],
            &sha256_hex(&bytes(24, 10))[..12]
        ));
    let json = env.run(&[
        "diff",
        "--json",
        old.to_str().unwrap(),
        env.workspace().to_str().unwrap(),
    ]);
    let parsed: serde_json::Value = serde_json::from_str(&json.success().stdout).unwrap();
    assert_eq!(parsed["summary"]["added"], 1);
    assert_eq!(parsed["summary"]["bytes_added"], 20);
    let changes: Vec<&str> = parsed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|change| change["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["changed", "added", "removed"]);
}
