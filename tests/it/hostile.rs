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
