//! Delta media: `materialize --since OLD` carries only what OLD does not have, with the
//! metadata complete and signed for the new lock; `verify` says which base it is a delta of.

use std::collections::BTreeMap;

use crate::registry::Layout;
use crate::support::{Env, bytes, files_under};

/// A workspace with a file of `content` (at `artifacts/<name>`) and an image from a
/// workspace layout.
fn workspace(env: &Env, name: &str, content: &[u8]) {
    workspace_with_image(env, name, content, "v1");
}

/// [`workspace`] with the image at `tag`: `v1` is one layer; any other tag adds a second
/// layer of its own (a patch release of the image).
fn workspace_with_image(env: &Env, name: &str, content: &[u8], tag: &str) {
    let mut layout = Layout::new(&env.workspace().join("images"));
    let base = layout.layer(&[("etc/os-release", &bytes(5, 300_000))]);
    let mut layers = vec![base];
    if tag != "v1" {
        layers.push(layout.layer(&[("patch", tag.as_bytes())]));
    }
    let image = layout.image("amd64", &layers);
    layout.tag(tag, "application/vnd.oci.image.manifest.v1+json", &image);
    env.workspace_file(&format!("artifacts/{name}"), content);
    env.manifest(
        "media.toml",
        &format!(
            "[[file]]\nname = \"tool\"\nurl = \"artifacts/{name}\"\npath = \"tools/tool\"\n\n\
             [[image]]\nref = \"registry.k8s.io/app:{tag}\"\nlayout = \"images\"\n"
        ),
    );
}

fn listed(root: &std::path::Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(root.join("SHA256SUMS"))
        .unwrap()
        .lines()
        .map(|line| {
            let (digest, path) = line.split_once("  ").unwrap();
            (path.to_string(), digest.to_string())
        })
        .collect()
}

#[test]
fn a_delta_carries_only_what_the_base_lacks_and_verifies_as_a_delta_of_it() {
    let env = Env::new();
    workspace(&env, "tool-1", &bytes(1, 2_000_000));
    let full_v1 = env.temp.path().join("full-v1");
    env.run(&["materialize", "--to", full_v1.to_str().unwrap()])
        .success();
    let v1_lock = env.lock_text();

    // v2: the file changes, the image does not.
    let new_tool = bytes(2, 1_500_000);
    workspace(&env, "tool-2", &new_tool);
    let delta = env.temp.path().join("delta");
    let run = env.run(&[
        "materialize",
        "--to",
        delta.to_str().unwrap(),
        "--since",
        full_v1.to_str().unwrap(),
    ]);
    run.success()
        .stderr_has("Delta")
        .stderr_has("1 changed; 1.43 MiB of pinned content added, 1.91 MiB removed");
    let full_v2 = env.temp.path().join("full-v2");
    env.run(&["materialize", "--to", full_v2.to_str().unwrap()])
        .success();

    // The delta's SHA256SUMS lists the whole v2 tree (the DELTA marker aside, and nginx.conf,
    // which names the tree's directory).
    let mut delta_list = listed(&delta);
    assert!(delta_list.remove("DELTA").is_some());
    let mut v2_list = listed(&full_v2);
    for list in [&mut delta_list, &mut v2_list] {
        list.remove("config/nginx.conf");
    }
    assert_eq!(delta_list, v2_list);
    // It carries the new file and no byte of the image, which v1 had.
    let carried = files_under(&delta);
    assert!(carried.iter().any(|path| path.ends_with("tools/tool")));
    assert!(
        !carried
            .iter()
            .any(|path| path.to_string_lossy().starts_with("oci/blobs/")),
        "{carried:?}"
    );
    let v1_files = listed(&full_v1);
    let carried_bytes: u64 = carried
        .iter()
        .map(|path| std::fs::metadata(delta.join(path)).unwrap().len())
        .sum();
    let content_bytes = new_tool.len() as u64;
    assert!(
        carried_bytes < content_bytes + 200_000,
        "carried {carried_bytes} bytes for {content_bytes} of new content"
    );
    for path in &carried {
        let path = path.to_string_lossy();
        if path.starts_with("oci/blobs/") || path == "files/tools/tool" {
            assert_ne!(v1_files.get(&*path), delta_list.get(&*path));
        }
    }

    // verify: the delta, of which base, signed by the key.
    let key = full_v1.join("keys/airgap.asc");
    let run = env.run(&[
        "verify",
        delta.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    run.success()
        .stderr_has("a delta of the base with lock sha256:");
    let base = crate::support::sha256_hex(v1_lock.as_bytes());
    run.stderr_has(&base);
    // A file left out beyond what DELTA says is a failure.
    std::fs::remove_file(delta.join("files/tools/tool")).unwrap();
    env.run(&["verify", delta.to_str().unwrap()])
        .failure()
        .stdout_has("DELTA (says 4 files are left out; 5 are missing)");

    // The base may also be given as a lockfile: the same files are left out.
    let lock_file = env.temp.path().join("v1.lock");
    std::fs::write(&lock_file, &v1_lock).unwrap();
    let from_lock = env.temp.path().join("delta-from-lock");
    env.run(&[
        "materialize",
        "--to",
        from_lock.to_str().unwrap(),
        "--since",
        lock_file.to_str().unwrap(),
    ])
    .success();
    std::fs::copy(
        full_v2.join("files/tools/tool"),
        delta.join("files/tools/tool"),
    )
    .unwrap();
    // A lockfile does not say which airgap made the base, so its delta also carries the
    // media's own binary; everything else is the same.
    let without_binary = |root: &std::path::Path| -> Vec<std::path::PathBuf> {
        files_under(root)
            .into_iter()
            .filter(|path| !path.starts_with("bin"))
            .collect()
    };
    assert_eq!(without_binary(&from_lock), without_binary(&delta));
    assert!(
        files_under(&from_lock)
            .iter()
            .any(|path| path.starts_with("bin"))
    );

    // A delta never goes into its own base: that would delete the base's files.
    env.run(&[
        "materialize",
        "--to",
        full_v2.to_str().unwrap(),
        "--since",
        full_v2.to_str().unwrap(),
    ])
    .failure()
    .stderr_has("is the tree --to writes");
    assert!(full_v2.join("files/tools/tool").is_file());

    // A delta cannot be the base of another.
    env.run(&[
        "materialize",
        "--to",
        env.temp.path().join("x").to_str().unwrap(),
        "--since",
        delta.to_str().unwrap(),
    ])
    .failure()
    .stderr_has("is a delta tree itself");
}

/// Three versions of the workspace, each materialized in full, and the deltas between them:
/// (full trees, deltas v1→v2 and v2→v3, the locks).
fn chain(
    env: &Env,
) -> (
    Vec<std::path::PathBuf>,
    Vec<std::path::PathBuf>,
    Vec<String>,
) {
    let mut fulls = Vec::new();
    let mut deltas = Vec::new();
    let mut locks = Vec::new();
    for version in 1..=3u64 {
        // v2 changes the file; v3 the file and the image's tag (a new layer over the old).
        let tag = if version == 3 { "v3" } else { "v1" };
        workspace_with_image(
            env,
            &format!("tool-{version}"),
            &bytes(version, 700_000),
            tag,
        );
        let full = env.temp.path().join(format!("full-v{version}"));
        env.run(&["materialize", "--to", full.to_str().unwrap()])
            .success();
        if let Some(previous) = fulls.last() {
            let delta = env
                .temp
                .path()
                .join(format!("delta-v{}-v{version}", version - 1));
            env.run(&[
                "materialize",
                "--to",
                delta.to_str().unwrap(),
                "--since",
                std::path::Path::new(previous).to_str().unwrap(),
            ])
            .success();
            deltas.push(delta);
        }
        locks.push(env.lock_text());
        fulls.push(full);
    }
    (fulls, deltas, locks)
}

fn apply(env: &Env, args: &[&str]) -> crate::support::Run {
    let mut all = vec!["apply"];
    all.extend_from_slice(args);
    env.run(&all)
}

/// The mirror's current tree, as its SHA256SUMS lists it (DELTA and nginx.conf aside).
fn current_list(mirror: &std::path::Path) -> BTreeMap<String, String> {
    let mut list = listed(&mirror.join("current"));
    list.remove("DELTA");
    list.remove("config/nginx.conf");
    list
}

#[test]
fn deltas_applied_in_order_give_the_full_tree_and_a_wrong_base_is_refused() {
    let env = Env::new();
    let (fulls, deltas, locks) = chain(&env);
    let key = fulls[0].join("keys/airgap.asc");
    let key = key.to_str().unwrap();
    let mirror = env.temp.path().join("mirror");
    let to = mirror.to_str().unwrap();
    apply(
        &env,
        &[fulls[0].to_str().unwrap(), "--to", to, "--key", key],
    )
    .success();
    // The v2→v3 delta does not fit a v1 mirror: refused, nothing changed.
    let before = files_under(&mirror);
    apply(
        &env,
        &[deltas[1].to_str().unwrap(), "--to", to, "--key", key],
    )
    .failure()
    .stderr_has("is a delta of the base with lock")
    .stderr_has("the mirror was not changed");
    assert_eq!(files_under(&mirror), before);
    // In order, the mirror ends equal to the full v3 tree.
    for delta in &deltas {
        apply(&env, &[delta.to_str().unwrap(), "--to", to, "--key", key])
            .success()
            .stderr_has("copied")
            .stderr_has("of pinned content added")
            .stderr_has("file tool: sha256:");
        env.run(&["verify", to, "--key", key]).success();
    }
    let mut full = listed(&fulls[2]);
    full.remove("config/nginx.conf");
    assert_eq!(current_list(&mirror), full);
    for path in full.keys() {
        if path.starts_with("files/") || path.starts_with("oci/blobs/") {
            assert_eq!(
                std::fs::read(mirror.join("current").join(path)).unwrap(),
                std::fs::read(fulls[2].join(path)).unwrap(),
                "{path}"
            );
        }
    }
    // skopeo pulls the new image from the served mirror.
    let served = crate::serve::serve(&mirror, &[]);
    let run = crate::registry::skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://127.0.0.1:{}/app:v3", served.port),
    ]);
    assert_eq!(run.code, 0, "skopeo inspect: {}", run.stderr);
    assert!(run.stdout.contains("\"Layers\""), "{}", run.stdout);
    drop(served);
    // Rollback goes to v2, and verifies; prune keeps only the current generation.
    apply(&env, &["--rollback", "--to", to]).success();
    assert_eq!(
        std::fs::read_to_string(mirror.join("current/airgap.lock")).unwrap(),
        locks[1]
    );
    env.run(&["verify", to, "--key", key]).success();
    apply(&env, &["--to", to, "--prune"]).success();
    let generations: Vec<_> = std::fs::read_dir(mirror.join("generations"))
        .unwrap()
        .collect();
    assert_eq!(generations.len(), 1);
    env.run(&["verify", to, "--key", key]).success();
    // Another key's signature is refused.
    let other = Env::new();
    other.workspace_file("artifacts/x", b"x");
    other.manifest("f.toml", "[[file]]\nname = \"x\"\nurl = \"artifacts/x\"\n");
    other.materialize(&[]).success();
    let wrong_key = other.media().join("keys/airgap.asc");
    apply(
        &env,
        &[
            deltas[1].to_str().unwrap(),
            "--to",
            to,
            "--key",
            wrong_key.to_str().unwrap(),
        ],
    )
    .failure()
    .stderr_has("does not verify");
}

#[test]
fn an_apply_killed_at_any_point_completes_when_run_again() {
    use rand::Rng;
    let env = Env::new();
    let (fulls, deltas, locks) = chain(&env);
    let key = fulls[0].join("keys/airgap.asc");
    let key = key.to_str().unwrap();
    let mirror = env.temp.path().join("mirror");
    let to = mirror.to_str().unwrap();
    apply(
        &env,
        &[fulls[1].to_str().unwrap(), "--to", to, "--key", key],
    )
    .success();
    let mut rng = rand::thread_rng();
    for _ in 0..10 {
        let mut child = env.spawn(&[
            "apply",
            deltas[1].to_str().unwrap(),
            "--to",
            to,
            "--key",
            key,
        ]);
        std::thread::sleep(std::time::Duration::from_millis(rng.gen_range(0..60)));
        let _ = child.kill();
        let _ = child.wait();
        // At any moment the mirror serves a whole generation: v2 or v3.
        let lock = std::fs::read_to_string(mirror.join("current/airgap.lock")).unwrap();
        assert!(lock == locks[1] || lock == locks[2]);
        env.run(&["verify", to, "--key", key]).success();
        apply(
            &env,
            &[deltas[1].to_str().unwrap(), "--to", to, "--key", key],
        )
        .success();
        assert_eq!(
            std::fs::read_to_string(mirror.join("current/airgap.lock")).unwrap(),
            locks[2]
        );
        env.run(&["verify", to, "--key", key]).success();
        apply(&env, &["--rollback", "--to", to]).success();
        apply(&env, &["--to", to, "--keep", "1"]).success();
    }
}

/// A GET of `path` from the server at `port`: (status, body).
fn get(port: u16, path: &str) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap();
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, response[split + 4..].to_vec())
}

#[test]
fn serve_follows_the_mirror_through_an_apply_without_a_failed_request() {
    let env = Env::new();
    let (fulls, deltas, _) = chain(&env);
    let key = fulls[0].join("keys/airgap.asc");
    let key = key.to_str().unwrap();
    let mirror = env.temp.path().join("mirror");
    let to = mirror.to_str().unwrap();
    apply(
        &env,
        &[fulls[1].to_str().unwrap(), "--to", to, "--key", key],
    )
    .success();
    let served = crate::serve::serve(&mirror, &[]);
    let port = served.port;
    let v2 = std::fs::read(fulls[1].join("files/tools/tool")).unwrap();
    let v3 = std::fs::read(fulls[2].join("files/tools/tool")).unwrap();
    assert_eq!(get(port, "/files/tools/tool"), (200, v2.clone()));
    // Clients keep asking while the delta is applied: every answer is whole, v2 or v3.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            let (v2, v3) = (v2.clone(), v3.clone());
            std::thread::spawn(move || {
                let mut answered = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let (status, body) = get(port, "/files/tools/tool");
                    assert_eq!(status, 200);
                    assert!(body == v2 || body == v3, "a body of {} bytes", body.len());
                    // The image moves from v1 to v3: each tag is there in its generation.
                    let (status, lock) = get(port, "/airgap.lock");
                    assert_eq!(status, 200);
                    let tag = if String::from_utf8_lossy(&lock).contains("app:v3") {
                        "v3"
                    } else {
                        "v1"
                    };
                    let (status, _) = get(port, &format!("/v2/app/manifests/{tag}"));
                    assert!(status == 200 || status == 404, "{status}");
                    answered += 2;
                }
                answered
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(200));
    apply(
        &env,
        &[deltas[1].to_str().unwrap(), "--to", to, "--key", key],
    )
    .success();
    std::thread::sleep(std::time::Duration::from_millis(200));
    apply(&env, &["--rollback", "--to", to]).success();
    std::thread::sleep(std::time::Duration::from_millis(200));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answered: usize = clients
        .into_iter()
        .map(|client| client.join().unwrap())
        .sum();
    assert!(answered > 20, "{answered} requests");
    // No restart: the server answers from the generation `current` names.
    assert_eq!(get(port, "/files/tools/tool"), (200, v2));
    apply(
        &env,
        &[deltas[1].to_str().unwrap(), "--to", to, "--key", key],
    )
    .success();
    assert_eq!(get(port, "/files/tools/tool"), (200, v3));
}

#[test]
fn a_patch_that_moves_an_apt_package_reaches_apt_get_through_the_applied_mirror() {
    // v1 pins kubelet 1.35.3 from a flat repository in the workspace, v2 moves it to 1.35.4;
    // the v1->v2 delta applied to a v1 mirror serves apt-get the new version.
    let env = Env::new();
    crate::apt::workspace_with_keys(&env);
    let repo = env.workspace().join("k8s-repo");
    for version in ["1.35.3-1.1", "1.35.4-1.1"] {
        crate::apt_repos::deb_for(&repo.join("amd64"), "kubelet", version, "amd64", "");
    }
    crate::apt_repos::index_flat(&repo);
    let manifest = |version: &str| {
        format!(
            "[enclave]\nurl = \"http://mirror.enclave.invalid\"\n\n[[apt]]\nname = \"kubernetes\"\nurl = \"k8s-repo\"\nsuite = \"/\"\narchitectures = [\"amd64\"]\nkeyring = \"keys/archive.gpg\"\npackages = [\"kubelet={version}\"]\n"
        )
    };
    env.manifest("apt.toml", &manifest("1.35.3-1.1"));
    let full = env.temp.path().join("full-v1");
    env.run(&["materialize", "--to", full.to_str().unwrap()])
        .success();
    env.manifest("apt.toml", &manifest("1.35.4-1.1"));
    let delta = env.temp.path().join("delta");
    env.run(&[
        "materialize",
        "--to",
        delta.to_str().unwrap(),
        "--since",
        full.to_str().unwrap(),
    ])
    .success()
    .stderr_has("apt kubernetes/kubelet (amd64): 1.35.3-1.1 -> 1.35.4-1.1");
    assert!(
        !files_under(&delta)
            .iter()
            .any(|path| path.to_string_lossy().contains("1.35.3"))
    );
    let key = full.join("keys/airgap.asc");
    let key = key.to_str().unwrap();
    let mirror = env.temp.path().join("mirror");
    let to = mirror.to_str().unwrap();
    apply(&env, &[full.to_str().unwrap(), "--to", to, "--key", key]).success();
    apply(&env, &[delta.to_str().unwrap(), "--to", to, "--key", key]).success();

    let served = crate::serve::serve(&mirror, &[]);
    let sources = std::fs::read_to_string(mirror.join("current/config/apt/kubernetes.sources"))
        .unwrap()
        .replace(
            "http://mirror.enclave.invalid",
            &format!("http://127.0.0.1:{}", served.port),
        );
    let node = crate::apt::AptRoot::new(&env.temp.path().join("node"), &sources);
    let update = node.apt_get(&["update", "-q"]);
    assert_eq!(update.code, 0, "{}{}", update.stdout, update.stderr);
    let install = node.apt_get(&["install", "--download-only", "-y", "-q", "kubelet"]);
    assert_eq!(install.code, 0, "{}{}", install.stdout, install.stderr);
    assert!(
        node.root
            .join("var/cache/apt/archives/kubelet_1.35.4-1.1_amd64.deb")
            .is_file()
    );
}
