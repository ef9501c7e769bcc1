//! `[[file]]` end to end: fetch, verify, resume, retry, refuse wrong bytes, survive a kill.

use std::time::Duration;

use crate::support::{Env, bytes, sha256_hex, tool};
use crate::upstream::{Fault, Upstream};

fn one_pinned_file(env: &Env, upstream: &Upstream, name: &str, content: &[u8]) {
    upstream.put(&format!("dl/{name}"), content.to_vec());
    env.manifest(
        "files.toml",
        &format!(
            "[[file]]\nname = \"{name}\"\nurl = \"{}\"\nsha256 = \"{}\"\n",
            upstream.url(&format!("dl/{name}")),
            sha256_hex(content)
        ),
    );
}

#[test]
fn materializes_a_tree_that_sha256sum_accepts() {
    let env = Env::new();
    let upstream = Upstream::start();
    let content = bytes(1, 300_000);
    one_pinned_file(&env, &upstream, "tool", &content);
    env.materialize(&[]).success();
    let placed = env.media().join("files/127.0.0.1/dl/tool");
    assert_eq!(std::fs::read(&placed).unwrap(), content);
    tool("sha256sum", &["-c", "--strict", "SHA256SUMS"], &env.media()).success();
    env.verify(&[])
        .success()
        .stderr_has("checked integrity, not origin");
}

#[test]
fn a_wrong_byte_is_refused_with_artifact_url_and_both_digests() {
    let env = Env::new();
    let upstream = Upstream::start();
    let content = bytes(2, 100_000);
    one_pinned_file(&env, &upstream, "kubeadm", &content);
    upstream.fault("dl/kubeadm", Fault::Corrupt { offset: 5_000 });
    let mut corrupted = content.clone();
    corrupted[5_000] ^= 0xff;
    let run = env.materialize(&[]);
    run.failure()
        .stderr_has("file kubeadm")
        .stderr_has(&upstream.url("dl/kubeadm"))
        .stderr_has(&format!("sha256:{}", sha256_hex(&content)))
        .stderr_has(&format!("sha256:{}", sha256_hex(&corrupted)));
    // Nothing at the final path, in the media or in the cache.
    assert!(!env.media().join("files/127.0.0.1/dl/kubeadm").exists());
    assert!(
        !env.cache()
            .join("sha256")
            .join(sha256_hex(&corrupted))
            .exists()
    );
    assert!(
        !env.cache()
            .join("sha256")
            .join(sha256_hex(&content))
            .exists()
    );
    assert!(
        !env.workspace().join("airgap.lock").exists(),
        "a failed lock writes no lockfile"
    );
}

#[test]
fn a_dropped_connection_is_resumed_with_range() {
    let env = Env::new();
    let upstream = Upstream::start();
    let content = bytes(3, 2_000_000);
    one_pinned_file(&env, &upstream, "etcd.tar.gz", &content);
    upstream.fault(
        "dl/etcd.tar.gz",
        Fault::DropAfter {
            bytes: 700_000,
            times: 1,
        },
    );
    env.materialize(&[]).success();
    assert_eq!(
        std::fs::read(env.media().join("files/127.0.0.1/dl/etcd.tar.gz")).unwrap(),
        content
    );
    let requests = upstream.requests();
    let ranged: Vec<_> = requests
        .iter()
        .filter_map(|request| request.range.clone())
        .collect();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(ranged.len(), 1, "{requests:?}");
    let offset: usize = ranged[0]
        .trim_start_matches("bytes=")
        .trim_end_matches('-')
        .parse()
        .unwrap();
    assert!(offset > 0 && offset <= 700_000, "resumed from {offset}");
}

#[test]
fn transient_errors_are_retried() {
    let env = Env::new();
    let upstream = Upstream::start();
    let content = bytes(4, 10_000);
    one_pinned_file(&env, &upstream, "crictl", &content);
    upstream.fault(
        "dl/crictl",
        Fault::Status {
            status: 503,
            times: 2,
        },
    );
    env.materialize(&[]).success();
    let requests = upstream.requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert!(requests.iter().all(|request| request.path == "/dl/crictl"));
}

#[test]
fn a_missing_upstream_file_names_the_artifact_and_url() {
    let env = Env::new();
    let upstream = Upstream::start();
    env.manifest(
        "files.toml",
        &format!(
            "[[file]]\nname = \"gone\"\nurl = \"{}\"\n",
            upstream.url("nope/gone")
        ),
    );
    env.run(&["lock"])
        .failure()
        .stderr_has("file gone")
        .stderr_has(&upstream.url("nope/gone"))
        .stderr_has("404");
}

#[test]
fn a_second_materialize_downloads_nothing() {
    let env = Env::new();
    let upstream = Upstream::start();
    one_pinned_file(&env, &upstream, "kubelet", &bytes(5, 50_000));
    env.materialize(&[]).success();
    let sums = std::fs::read(env.media().join("SHA256SUMS")).unwrap();
    let signature = std::fs::read(env.media().join("SHA256SUMS.asc")).unwrap();
    upstream.clear_log();
    env.materialize(&[])
        .success()
        .stderr_has("1 already present");
    assert!(upstream.requests().is_empty(), "{:?}", upstream.requests());
    assert_eq!(std::fs::read(env.media().join("SHA256SUMS")).unwrap(), sums);
    assert_eq!(
        std::fs::read(env.media().join("SHA256SUMS.asc")).unwrap(),
        signature,
        "an unchanged list is not re-signed"
    );
}

#[test]
fn a_killed_materialize_completes_on_rerun() {
    let env = Env::new();
    let upstream = Upstream::start();
    let content = bytes(6, 4_000_000);
    one_pinned_file(&env, &upstream, "containerd.tar.gz", &content);
    upstream.fault(
        "dl/containerd.tar.gz",
        Fault::Slow {
            chunk: 64 * 1024,
            pause: Duration::from_millis(20),
        },
    );
    let mut child = env.spawn(&["materialize", "--to", env.media().to_str().unwrap()]);
    // Wait until some bytes have arrived, then kill it hard.
    let partial_dir = env.cache().join("partial");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let received: u64 = std::fs::read_dir(&partial_dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|entry| entry.metadata().map_or(0, |m| m.len()))
                    .sum()
            })
            .unwrap_or(0);
        if received > 300_000 || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let final_path = env.media().join("files/127.0.0.1/dl/containerd.tar.gz");
    assert!(!final_path.exists() || std::fs::read(&final_path).unwrap() == content);
    assert!(
        !env.media().join("SHA256SUMS").exists(),
        "no list vouches for a half-written tree"
    );

    upstream.clear_faults();
    upstream.clear_log();
    env.materialize(&[]).success();
    assert_eq!(std::fs::read(&final_path).unwrap(), content);
    assert!(
        upstream
            .requests()
            .iter()
            .any(|request| request.range.is_some()),
        "the rerun resumes the partial download: {:?}",
        upstream.requests()
    );
    env.verify(&[]).success();
    tool("sha256sum", &["-c", "--strict", "SHA256SUMS"], &env.media()).success();
}

#[test]
fn checksum_files_in_every_published_form() {
    let env = Env::new();
    let upstream = Upstream::start();
    let amd64 = bytes(7, 20_000);
    let arm64 = bytes(8, 20_000);
    upstream.put("v1/amd64/kubectl", amd64.clone());
    upstream.put("v1/arm64/kubectl", arm64.clone());
    // A bare digest for one architecture, a SHA256SUMS list for the other.
    upstream.put(
        "v1/amd64/kubectl.sha256",
        format!("{}\n", sha256_hex(&amd64)),
    );
    upstream.put(
        "v1/arm64/kubectl.sha256",
        format!(
            "{}  other\n{}  kubectl\n",
            sha256_hex(b"other"),
            sha256_hex(&arm64)
        ),
    );
    upstream.put("v2/kubectl", bytes(9, 100));
    upstream.put(
        "v2/SHA256SUMS",
        format!("{}  kubectl\n", sha256_hex(b"something else")),
    );
    env.manifest(
        "files.toml",
        &format!(
            "[[file]]\nname = \"kubectl\"\nurl = \"{}\"\narch = [\"amd64\", \"arm64\"]\nchecksum_url = \"{}\"\n",
            upstream.url("v1/{arch}/kubectl"),
            upstream.url("v1/{arch}/kubectl.sha256"),
        ),
    );
    env.run(&["lock"]).success();
    let lock = env.lock_text();
    assert!(
        lock.contains(&format!("sha256:{}", sha256_hex(&amd64))),
        "{lock}"
    );
    assert!(
        lock.contains(&format!("sha256:{}", sha256_hex(&arm64))),
        "{lock}"
    );
    assert!(lock.contains("pinned_by = \"checksum-url\""), "{lock}");

    // A published digest that does not match the bytes stops the lock.
    env.manifest(
        "more.toml",
        &format!(
            "[[file]]\nname = \"other\"\nurl = \"{}\"\nchecksum_url = \"{}\"\n",
            upstream.url("v2/kubectl"),
            upstream.url("v2/SHA256SUMS"),
        ),
    );
    let before = env.lock_text();
    env.run(&["lock"])
        .failure()
        .stderr_has("file other")
        .stderr_has("do not match");
    assert_eq!(
        env.lock_text(),
        before,
        "a failed lock leaves the lockfile as it was"
    );
}

#[test]
fn first_use_is_a_named_warning() {
    let env = Env::new();
    let upstream = Upstream::start();
    upstream.put("x/helm", bytes(10, 1000));
    env.manifest(
        "files.toml",
        &format!(
            "[[file]]\nname = \"helm\"\nurl = \"{}\"\n",
            upstream.url("x/helm")
        ),
    );
    env.run(&["lock"])
        .success()
        .stderr_has("warning: file helm")
        .stderr_has("trusting the bytes seen now");
    assert!(env.lock_text().contains("pinned_by = \"first-use\""));
}

#[test]
fn local_sources_and_a_custom_path() {
    let env = Env::new();
    env.workspace_file("artifacts/amd64/bootstrap", b"amd64 build");
    env.workspace_file("artifacts/arm64/bootstrap", b"arm64 build");
    let absolute = env.temp.path().join("outside.bin");
    std::fs::write(&absolute, b"built elsewhere").unwrap();
    env.manifest(
        "files.toml",
        &format!(
            "[enclave]\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\n\n\
             [[file]]\nname = \"bootstrap\"\nurl = \"artifacts/{{arch}}/bootstrap\"\npath = \"site/{{arch}}/bootstrap\"\n\n\
             [[file]]\nname = \"outside\"\nurl = \"file://{}\"\n",
            absolute.display()
        ),
    );
    env.materialize(&[]).success();
    assert_eq!(
        std::fs::read(env.media().join("files/site/amd64/bootstrap")).unwrap(),
        b"amd64 build"
    );
    assert_eq!(
        std::fs::read(env.media().join("files/site/arm64/bootstrap")).unwrap(),
        b"arm64 build"
    );
    assert_eq!(
        std::fs::read(env.media().join("files/local/outside.bin")).unwrap(),
        b"built elsewhere"
    );
}

#[test]
fn http_proxy_from_the_environment_is_used() {
    let env = Env::new();
    let proxy = Upstream::start();
    let content = bytes(11, 5_000);
    proxy.put("release/runc", content.clone());
    env.manifest(
        "files.toml",
        &format!(
            "[[file]]\nname = \"runc\"\nurl = \"http://upstream.airgap-test.invalid/release/runc\"\nsha256 = \"{}\"\n",
            sha256_hex(&content)
        ),
    );
    let mut command = env.command(&["lock"]);
    command.env("HTTP_PROXY", format!("http://127.0.0.1:{}", proxy.port()));
    let run = crate::support::output(command);
    run.success();
    assert!(
        proxy.requests().iter().all(|request| request.proxied),
        "{:?}",
        proxy.requests()
    );
    assert!(
        env.lock_text()
            .contains("path = \"upstream.airgap-test.invalid/release/runc\"")
    );
}

#[test]
fn files_dropped_from_the_lock_leave_the_media() {
    let env = Env::new();
    let upstream = Upstream::start();
    upstream.put("a", bytes(12, 100));
    upstream.put("b", bytes(13, 100));
    let both = format!(
        "[[file]]\nname = \"a\"\nurl = \"{}\"\n\n[[file]]\nname = \"b\"\nurl = \"{}\"\n",
        upstream.url("a"),
        upstream.url("b")
    );
    env.manifest("files.toml", &both);
    env.materialize(&[]).success();
    assert!(env.media().join("files/127.0.0.1/b").exists());
    env.manifest(
        "files.toml",
        &format!("[[file]]\nname = \"a\"\nurl = \"{}\"\n", upstream.url("a")),
    );
    env.materialize(&[]).success();
    assert!(!env.media().join("files/127.0.0.1/b").exists());
    env.verify(&[]).success();
}

#[test]
fn a_foreign_directory_is_not_overwritten() {
    let env = Env::new();
    env.workspace_file("artifacts/x", b"x");
    env.manifest(
        "files.toml",
        "[[file]]\nname = \"x\"\nurl = \"artifacts/x\"\n",
    );
    std::fs::create_dir_all(env.media()).unwrap();
    std::fs::write(env.media().join("holiday.jpg"), b"precious").unwrap();
    env.materialize(&[])
        .failure()
        .stderr_has("not an airgap media tree");
    assert_eq!(
        std::fs::read(env.media().join("holiday.jpg")).unwrap(),
        b"precious"
    );
}
