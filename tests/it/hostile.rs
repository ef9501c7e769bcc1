//! Hostile inputs: a workspace given as the media target, credentials written into URLs,
//! a media tree whose blobs point outside it, special files in a served tree.

use crate::support::Env;

#[test]
fn a_workspace_is_not_taken_for_a_media_tree() {
    // Failed before: a workspace holds an airgap.lock, so materialize took it for a tree and
    // pruned everything it does not list (keys, in-house artifacts, manifests' neighbours).
    let env = Env::new();
    env.workspace_file("artifacts/x", b"x");
    env.workspace_file("keys/trusted.asc", b"key");
    env.manifest(
        "files.toml",
        "[[file]]\nname = \"x\"\nurl = \"artifacts/x\"\n",
    );
    env.run(&["lock"]).success();
    let workspace = env.workspace();
    env.run(&["materialize", "--to", workspace.to_str().unwrap()])
        .failure()
        .stderr_has("is a workspace (it has manifests/), not a media tree")
        .stderr_has("hint: give --to a separate directory");
    for kept in [
        "artifacts/x",
        "keys/trusted.asc",
        "airgap.lock",
        "manifests/files.toml",
    ] {
        assert!(workspace.join(kept).is_file(), "{kept} was removed");
    }
    assert!(!workspace.join("SHA256SUMS").exists());
}

#[test]
fn credentials_in_urls_are_refused_and_never_printed() {
    // Failed before: the URL with its password went into the lock, onto the media (served at
    // /airgap.lock) and into messages.
    let env = Env::new();
    env.manifest(
        "files.toml",
        "[[file]]\nname = \"x\"\nurl = \"http://builder:s3cret@127.0.0.1:9/x\"\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\n",
    );
    env.manifest(
        "git.toml",
        "[[git]]\nname = \"repo\"\nurl = \"https://ghp_t0ken@127.0.0.1:9/repo.git\"\nref = \"main\"\n",
    );
    let run = env.run(&["lock"]);
    let run = run
        .failure()
        .stderr_has("files.toml:3")
        .stderr_has("carries credentials")
        .stderr_has("git.toml:3")
        .stderr_has("~/.netrc");
    assert!(!run.stderr.contains("s3cret"), "{}", run.stderr);
    assert!(!run.stderr.contains("ghp_t0ken"), "{}", run.stderr);
    assert!(!env.workspace().join("airgap.lock").exists());
}

#[test]
fn render_out_refuses_names_that_leave_the_directory() {
    // Failed before: `render --out` joined names from the tree's lock to the output
    // directory, so a tampered lock wrote a file outside it. The lock's reader now refuses
    // such a name (and render would refuse the path it makes, too).
    let env = Env::new();
    env.workspace_file("artifacts/x", b"x");
    env.manifest(
        "files.toml",
        "[[file]]\nname = \"x\"\nurl = \"artifacts/x\"\n",
    );
    env.materialize(&[]).success();
    let lock_path = env.media().join("airgap.lock");
    let mut lock = std::fs::read_to_string(&lock_path).unwrap();
    lock.push_str(&format!(
        "\n[[apt]]\nname = \"../../../escaped\"\nurl = \"http://deb.example.org/debian\"\nsuite = \"stable\"\ncomponents = [\"main\"]\narchitectures = [\"amd64\"]\npackages = [\"x\"]\nrelease = \"sha256:{}\"\nrelease_date = \"Sat, 01 Jan 2000 00:00:00 UTC\"\n",
        "0".repeat(64)
    ));
    let _ = std::fs::remove_file(&lock_path);
    std::fs::write(&lock_path, lock).unwrap();
    let out = env.temp.path().join("a/b/c/out");
    let media = env.media();
    env.run(&[
        "render",
        media.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--url",
        "http://mirror.example:8080",
    ])
    .failure()
    .stderr_has("is not a valid lockfile")
    .stderr_has("`../../../escaped` is not an entry name");
    // Where the tampered name pointed: out/config/apt/../../../ is out's parent.
    assert!(!env.temp.path().join("a/b/c/escaped.sources").exists());
}

#[test]
fn an_endless_body_stops_one_byte_past_the_pinned_size() {
    // Failed before: the pinned size was no limit; the body filled the cache until the
    // upstream stopped (here at 1 GiB), and only then did the digest fail.
    let env = Env::new();
    let upstream = crate::upstream::Upstream::start();
    upstream.put("/tool", b"ten bytes!".to_vec());
    env.manifest(
        "files.toml",
        &format!(
            "[[file]]\nname = \"tool\"\nurl = \"{}\"\n",
            upstream.url("/tool")
        ),
    );
    env.run(&["lock"]).success();
    std::fs::remove_dir_all(env.cache()).unwrap();
    upstream.fault("/tool", crate::upstream::Fault::Endless);
    let started = std::time::Instant::now();
    env.materialize(&[])
        .failure()
        .stderr_has("sends more than the 10 bytes it may");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let cached: u64 = walkdir::WalkDir::new(env.cache())
        .into_iter()
        .flatten()
        .filter(|entry| entry.file_type().is_file())
        .map(|entry| entry.metadata().unwrap().len())
        .sum();
    assert!(cached < 1 << 20, "{cached} bytes kept in the cache");
}

#[test]
fn a_server_that_ignores_range_and_drops_early_is_given_up() {
    // Failed before: every attempt sent the same first bytes, which counted as progress and
    // reset the failure count, so the fetch went on forever.
    let env = Env::new();
    let upstream = crate::upstream::Upstream::start();
    let body = vec![b'a'; 4096];
    upstream.put("/big", body.clone());
    upstream.fault(
        "/big",
        crate::upstream::Fault::IgnoreRangeAndDrop { bytes: 1000 },
    );
    env.manifest(
        "files.toml",
        &format!(
            "[[file]]\nname = \"big\"\nurl = \"{}\"\nsha256 = \"{}\"\n",
            upstream.url("/big"),
            crate::support::sha256_hex(&body)
        ),
    );
    env.run(&["lock"])
        .failure()
        .stderr_has("cannot fetch")
        .stderr_has("attempts");
    let requests = upstream
        .requests()
        .iter()
        .filter(|request| request.path == "/big")
        .count();
    assert!(requests <= 8, "{requests} requests");
}

#[test]
fn a_trickling_server_is_given_up_at_the_pace_deadline() {
    // Failed before: a server that sends a few bytes a second never trips a read timeout;
    // the fetch of 200 KB at 100 bytes/s would have taken more than half an hour.
    let env = Env::new();
    let upstream = crate::upstream::Upstream::start();
    let body = vec![b't'; 200_000];
    upstream.put("/slow", body.clone());
    upstream.fault(
        "/slow",
        crate::upstream::Fault::Slow {
            chunk: 10,
            pause: std::time::Duration::from_millis(100),
        },
    );
    env.manifest(
        "files.toml",
        &format!(
            "[[file]]\nname = \"slow\"\nurl = \"{}\"\nsha256 = \"{}\"\n",
            upstream.url("/slow"),
            crate::support::sha256_hex(&body)
        ),
    );
    let started = std::time::Instant::now();
    env.run(&["lock", "--fetch-grace", "2", "--min-rate", "1K"])
        .failure()
        .stderr_has("file slow")
        .stderr_has("/slow is too slow")
        .stderr_has("lower --min-rate or raise --fetch-grace");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    // A rate the link can keep passes the same server (here: everything in 2 s of grace plus
    // what 100 B/s of progress buys at a floor of 50 B/s).
    upstream.put("/slow", body[..1000].to_vec());
    env.manifest(
        "files.toml",
        &format!(
            "[[file]]\nname = \"slow\"\nurl = \"{}\"\nsha256 = \"{}\"\n",
            upstream.url("/slow"),
            crate::support::sha256_hex(&body[..1000])
        ),
    );
    env.run(&["lock", "--fetch-grace", "2", "--min-rate", "50"])
        .success();
}
