//! Hostile inputs: a workspace given as the media target, credentials written into URLs,
//! a media tree whose blobs point outside it, special files in a served tree; and one
//! hostile upstream per kind, each run watched: nothing is written outside the workspace's
//! lock and the cache, peak memory (`VmHWM`) stays under [`MEMORY`], the command ends within
//! its limit, and the error names the artifact. (The hostile clients of serve are in
//! serve.rs.)

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::{Env, files_under, serve_directory};
use crate::upstream::{Fault, Upstream};

/// No hostile input may take a command above this.
const MEMORY: u64 = 256 << 20;

/// `prefix` followed by `mib` MiB of `x`, gzipped (by gzip, which is fast in a debug test
/// build): an index or member that inflates a thousandfold.
fn gzip_bomb(prefix: &str, mib: u64) -> Vec<u8> {
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{{ printf '%s' \"$PREFIX\"; head -c {mib}M /dev/zero | tr '\\0' x; }} | gzip -1"
        ))
        .env("PREFIX", prefix)
        .output()
        .unwrap();
    assert!(output.status.success());
    output.stdout
}

/// Every file of the environment except the cache's: what a failed lock may not change.
fn outside_the_cache(env: &Env) -> Vec<PathBuf> {
    let cache = env.cache();
    let cache = cache.strip_prefix(env.temp.path()).unwrap();
    files_under(env.temp.path())
        .into_iter()
        .filter(|path| !path.starts_with(cache))
        .collect()
}

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

#[test]
fn file_an_endless_body_is_bounded_in_memory_and_time() {
    let env = Env::new();
    let upstream = Upstream::start();
    upstream.put("/tool", b"ten bytes!".to_vec());
    env.manifest(
        "files.toml",
        &format!(
            "[[file]]\nname = \"tool\"\nurl = \"{}\"\n",
            upstream.url("/tool")
        ),
    );
    env.run(&["lock"]).success();
    let lock = env.lock_text();
    std::fs::remove_dir_all(env.cache()).unwrap();
    upstream.fault("/tool", Fault::Endless);
    let before = outside_the_cache(&env);
    let media = env.media();
    env.run_watched(&["materialize", "--to", media.to_str().unwrap()])
        .within(MEMORY, Duration::from_secs(20))
        .failure()
        .stderr_has("file tool");
    assert_eq!(env.lock_text(), lock);
    // The media tree may have been started, and the first materialize makes a signing key;
    // nothing else changed.
    let after: Vec<PathBuf> = outside_the_cache(&env)
        .into_iter()
        .filter(|path| !path.starts_with("media") && !path.starts_with("config"))
        .collect();
    assert_eq!(after, before);
}

#[test]
fn apt_a_signed_index_that_inflates_to_one_endless_line() {
    // A hostile archive owner signs what it likes: a 500 KiB Packages.gz holding one line of
    // 512 MiB. Read whole, the line alone would take the lock past 512 MiB.
    let env = Env::new();
    crate::apt::workspace_with_keys(&env);
    let repo = env.temp.path().join("repo");
    crate::apt::signed_repo_with_index(
        &repo,
        "Packages.gz",
        &gzip_bomb("Package: app\nDescription: ", 512),
    );
    let upstream = Upstream::start();
    serve_directory(&upstream, &repo);
    env.manifest(
        "apt.toml",
        &crate::apt::apt_manifest(&upstream, "keys/archive.gpg", &["app".to_string()], ""),
    );
    let before = outside_the_cache(&env);
    env.run_watched(&["lock"])
        .within(MEMORY, Duration::from_secs(60))
        .failure()
        .stderr_has("apt debian")
        .stderr_has("Packages.gz")
        .stderr_has("is longer than");
    assert_eq!(outside_the_cache(&env), before);
}

#[test]
fn yum_signed_metadata_with_one_endless_element() {
    // A repomd.xml signed by the repository's key names a primary.xml.gz whose first
    // package's name is 512 MiB long: quick-xml would hold it whole.
    let env = Env::new();
    crate::yum::workspace_with_keys(&env);
    let fixture = crate::yum::fixture();
    let repo = env.temp.path().join("repo");
    copy_tree(&fixture.join("repo"), &repo);
    let primary = gzip_bomb(
        "<?xml version=\"1.0\"?><metadata packages=\"1\"><package type=\"rpm\"><name>",
        512,
    );
    let repomd_path = repo.join("repodata/repomd.xml");
    let repomd = std::fs::read_to_string(&repomd_path).unwrap();
    // Point the primary entry at the bomb: its location, checksum and size.
    let start = repomd.find("<data type=\"primary\">").unwrap();
    let end = start + repomd[start..].find("</data>").unwrap() + "</data>".len();
    let hex = crate::support::sha256_hex(&primary);
    let entry = format!(
        "<data type=\"primary\"><checksum type=\"sha256\">{hex}</checksum><location href=\"repodata/{hex}-primary.xml.gz\"/><size>{}</size></data>",
        primary.len()
    );
    let repomd = format!("{}{entry}{}", &repomd[..start], &repomd[end..]);
    std::fs::write(&repomd_path, &repomd).unwrap();
    std::fs::write(
        repo.join(format!("repodata/{hex}-primary.xml.gz")),
        &primary,
    )
    .unwrap();
    let signed = std::process::Command::new("gpg")
        .env("GNUPGHOME", fixture.join("gnupg"))
        .args(["--batch", "--yes", "--local-user", "airgap test yum repo"])
        .args(["--armor", "--detach-sign", "-o"])
        .arg(repo.join("repodata/repomd.xml.asc"))
        .arg(&repomd_path)
        .output()
        .unwrap();
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let upstream = Upstream::start();
    serve_directory(&upstream, &repo);
    env.manifest(
        "yum.toml",
        &crate::yum::yum_manifest(&upstream, Some("keys/RPM-GPG-KEY-test"), &["app"]),
    );
    let before = outside_the_cache(&env);
    env.run_watched(&["lock"])
        .within(MEMORY, Duration::from_secs(60))
        .failure()
        .stderr_has("yum test")
        .stderr_has("an element is longer than");
    assert_eq!(outside_the_cache(&env), before);
}

#[test]
fn chart_a_chart_yaml_that_inflates_to_512_mib() {
    let env = Env::new();
    let repo = env.temp.path().join("charts");
    std::fs::create_dir_all(&repo).unwrap();
    // tar with one member, Chart.yaml of 512 MiB, gzipped: built by the shell's tools.
    let built = std::process::Command::new("sh")
        .arg("-c")
        .arg(
            "mkdir -p build/app && { printf 'apiVersion: v2\\nname: app\\nversion: 1.0.0\\ndescription: '; \
             head -c 512M /dev/zero | tr '\\0' x; } > build/app/Chart.yaml && \
             tar -C build -cf - app | gzip -1 > app-1.0.0.tgz && rm -r build",
        )
        .current_dir(&repo)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let archive = std::fs::read(repo.join("app-1.0.0.tgz")).unwrap();
    std::fs::write(
        repo.join("index.yaml"),
        format!(
            "apiVersion: v1\nentries:\n  app:\n    - name: app\n      version: 1.0.0\n      urls: [app-1.0.0.tgz]\n      digest: {}\n",
            crate::support::sha256_hex(&archive)
        ),
    )
    .unwrap();
    let upstream = Upstream::start();
    serve_directory(&upstream, &repo);
    env.manifest(
        "charts.toml",
        &format!(
            "[[chart]]\nname = \"app\"\nrepo = \"{}\"\nversion = \"1.0.0\"\n",
            upstream.url("").trim_end_matches('/')
        ),
    );
    let before = outside_the_cache(&env);
    env.run_watched(&["lock"])
        .within(MEMORY, Duration::from_secs(60))
        .failure()
        .stderr_has("chart app")
        .stderr_has("Chart.yaml")
        .stderr_has("when decompressed");
    assert_eq!(outside_the_cache(&env), before);
}

#[test]
fn image_a_token_service_that_never_stops() {
    // Failed before the token body was bounded: 3.6 GB resident in 12 s.
    let env = Env::new();
    let upstream = Upstream::start();
    upstream.put("v2/", b"{}".to_vec());
    upstream.require_bearer("token");
    upstream.fault("/token", Fault::Endless);
    env.manifest(
        "images.toml",
        &format!(
            "[[image]]\nref = \"127.0.0.1:{}/team/app:1.0\"\n",
            upstream.port()
        ),
    );
    let before = outside_the_cache(&env);
    env.run_watched(&["lock"])
        .within(MEMORY, Duration::from_secs(30))
        .failure()
        .stderr_has("127.0.0.1")
        .stderr_has("team/app");
    assert_eq!(outside_the_cache(&env), before);
}

#[test]
fn git_a_remote_that_trickles_is_given_up_at_the_pace() {
    // Failed before: git was run without a speed limit; 100 KiB of refs at 100 bytes/s
    // would have held the lock for 17 minutes.
    let env = Env::new();
    let upstream = Upstream::start();
    let mut refs = String::new();
    for number in 0..2000 {
        refs.push_str(&format!("{:040x}\trefs/tags/v{number}\n", number + 1));
    }
    let path = "/repo.git/info/refs?service=git-upload-pack";
    upstream.put(path, refs.into_bytes());
    upstream.fault(
        path,
        Fault::Slow {
            chunk: 10,
            pause: Duration::from_millis(100),
        },
    );
    env.manifest(
        "git.toml",
        &format!(
            "[[git]]\nname = \"site\"\nurl = \"{}\"\nref = \"v1\"\n",
            upstream.url("/repo.git")
        ),
    );
    let before = outside_the_cache(&env);
    env.run_watched(&["lock", "--fetch-grace", "2", "--min-rate", "1K"])
        .within(MEMORY, Duration::from_secs(20))
        .failure()
        .stderr_has("git site");
    assert_eq!(outside_the_cache(&env), before);
}

fn copy_tree(from: &Path, to: &Path) {
    for file in files_under(from) {
        let target = to.join(&file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(from.join(&file), target).unwrap();
    }
}
