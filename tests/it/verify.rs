//! `verify`: integrity against SHA256SUMS and the lock, origin against a trusted key, and
//! the signature as gpg sees it.

use std::path::Path;

use crate::support::{Env, bytes, sha256_hex, tool};

fn materialized() -> Env {
    let env = Env::new();
    env.workspace_file("artifacts/one", &bytes(40, 10_000));
    env.workspace_file("artifacts/two", &bytes(41, 20_000));
    env.manifest(
        "files.toml",
        "[[file]]\nname = \"one\"\nurl = \"artifacts/one\"\n\n[[file]]\nname = \"two\"\nurl = \"artifacts/two\"\n",
    );
    env.materialize(&[]).success();
    env
}

fn rewrite(path: &Path, bytes: &[u8]) {
    // Files placed from the cache are read-only (they may share the cache's inode).
    let _ = std::fs::remove_file(path);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn finds_a_flipped_byte_a_missing_file_and_an_extra_file() {
    let env = materialized();
    let one = env.media().join("files/local/artifacts/one");
    let mut content = std::fs::read(&one).unwrap();
    content[17] ^= 1;
    rewrite(&one, &content);
    std::fs::remove_file(env.media().join("files/local/artifacts/two")).unwrap();
    std::fs::write(env.media().join("files/extra"), b"smuggled").unwrap();
    let run = env.verify(&[]);
    run.failure()
        .stdout_has("changed     files/local/artifacts/one")
        .stdout_has("missing     files/local/artifacts/two")
        .stdout_has("unexpected  files/extra")
        .stderr_has("3 problems among");
    // A rerun of materialize repairs the tree (even though the flipped file may have shared
    // its inode with the cache) and removes the stranger.
    env.materialize(&[]).success();
    env.verify(&[]).success();
}

#[test]
fn gpg_accepts_the_signature_with_the_published_key() {
    let env = materialized();
    let home = env.temp.path().join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    let home = home.to_str().unwrap();
    tool(
        "gpg",
        &["--batch", "--homedir", home, "--import", "keys/airgap.asc"],
        &env.media(),
    )
    .success();
    tool(
        "gpg",
        &[
            "--batch",
            "--homedir",
            home,
            "--verify",
            "SHA256SUMS.asc",
            "SHA256SUMS",
        ],
        &env.media(),
    )
    .success()
    .stderr_has("Good signature");
}

#[test]
fn key_checks_origin_and_rejects_rewritten_media() {
    let env = materialized();
    let trusted = env.temp.path().join("trusted.asc");
    std::fs::copy(env.media().join("keys/airgap.asc"), &trusted).unwrap();
    let key = trusted.to_str().unwrap();
    env.verify(&["--key", key])
        .success()
        .stderr_has("signed by the trusted key");

    // Tamper on the way: a file, the lock and SHA256SUMS all rewritten consistently.
    let media = env.media();
    let evil = b"evil payload".to_vec();
    let old_hex = sha256_hex(&std::fs::read(media.join("files/local/artifacts/one")).unwrap());
    rewrite(&media.join("files/local/artifacts/one"), &evil);
    let lock = std::fs::read_to_string(media.join("airgap.lock"))
        .unwrap()
        .replace(&old_hex, &sha256_hex(&evil));
    rewrite(&media.join("airgap.lock"), lock.as_bytes());
    let sums = std::fs::read_to_string(media.join("SHA256SUMS")).unwrap();
    let sums: String = sums
        .lines()
        .map(|line| {
            let (_, path) = line.split_once("  ").unwrap();
            format!(
                "{}  {path}\n",
                sha256_hex(&std::fs::read(media.join(path)).unwrap())
            )
        })
        .collect();
    rewrite(&media.join("SHA256SUMS"), sums.as_bytes());
    tool("sha256sum", &["-c", "SHA256SUMS"], &media).success();
    env.verify(&[]).success().stderr_has("not origin");
    env.verify(&["--key", key])
        .failure()
        .stdout_has("bad-origin  SHA256SUMS.asc");
}

#[test]
fn a_key_that_is_not_the_signers_is_rejected() {
    let env = materialized();
    let other = materialized();
    let key = other.media().join("keys/airgap.asc");
    env.verify(&["--key", key.to_str().unwrap()])
        .failure()
        .stdout_has("bad-origin");
    std::fs::remove_file(env.media().join("SHA256SUMS.asc")).unwrap();
    let own = env.temp.path().join("own.asc");
    std::fs::copy(env.media().join("keys/airgap.asc"), &own).unwrap();
    env.verify(&["--key", own.to_str().unwrap()])
        .failure()
        .stdout_has("unsigned");
}

#[test]
fn a_key_made_by_gpg_can_sign_the_media() {
    let env = Env::new();
    env.workspace_file("artifacts/one", b"one");
    env.manifest(
        "files.toml",
        "[[file]]\nname = \"one\"\nurl = \"artifacts/one\"\n",
    );
    let home = env.temp.path().join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    let home = home.to_str().unwrap();
    let here = env.temp.path();
    tool(
        "gpg",
        &[
            "--batch",
            "--homedir",
            home,
            "--passphrase",
            "",
            "--quick-gen-key",
            "Site Release <release@example.org>",
            "ed25519",
            "sign",
            "never",
        ],
        here,
    )
    .success();
    let exported = tool(
        "gpg",
        &[
            "--batch",
            "--homedir",
            home,
            "--armor",
            "--export-secret-keys",
        ],
        here,
    );
    std::fs::write(here.join("site.key"), &exported.success().stdout).unwrap();
    let public = tool(
        "gpg",
        &["--batch", "--homedir", home, "--armor", "--export"],
        here,
    );
    std::fs::write(here.join("site.pub"), &public.success().stdout).unwrap();
    env.materialize(&["--signing-key", here.join("site.key").to_str().unwrap()])
        .success();
    env.verify(&["--key", here.join("site.pub").to_str().unwrap()])
        .success();
    tool(
        "gpg",
        &[
            "--batch",
            "--homedir",
            home,
            "--verify",
            "SHA256SUMS.asc",
            "SHA256SUMS",
        ],
        &env.media(),
    )
    .success();
    assert!(
        !env.config().join("airgap/signing-key.asc").exists(),
        "no default key is made when one is given"
    );
}

#[test]
fn verify_refuses_a_list_that_points_outside() {
    let env = materialized();
    let sums = std::fs::read_to_string(env.media().join("SHA256SUMS")).unwrap()
        + &format!("{}  ../../etc/passwd\n", sha256_hex(b""));
    std::fs::write(env.media().join("SHA256SUMS"), sums).unwrap();
    env.verify(&[])
        .failure()
        .stderr_has("outside the media tree");
}

#[test]
fn a_changed_list_is_a_bad_signature_and_a_fifo_is_named_a_fifo() {
    // Failed before: a list changed after signing was reported as signed by another key, and
    // a FIFO where a file is listed was called a symlink.
    let env = materialized();
    let media = env.media();
    let key = env.temp.path().join("trusted.asc");
    std::fs::copy(media.join("keys/airgap.asc"), &key).unwrap();
    let sums = std::fs::read_to_string(media.join("SHA256SUMS")).unwrap();
    rewrite(&media.join("SHA256SUMS"), format!("{sums}\n").as_bytes());
    env.verify(&["--key", key.to_str().unwrap()])
        .failure()
        .stdout_has("bad-origin  SHA256SUMS.asc (the signature does not verify: the list was changed after signing, or signed by another key)");
    rewrite(&media.join("SHA256SUMS"), sums.as_bytes());
    let one = media.join("files/local/artifacts/one");
    std::fs::remove_file(&one).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&one)
            .status()
            .unwrap()
            .success()
    );
    env.verify(&[])
        .failure()
        .stdout_has("files/local/artifacts/one (a FIFO where a file is listed)");
}

#[test]
fn what_an_interrupted_run_left_is_named_and_removed_by_the_next_run() {
    // Failed before: a crash left .airgap-tmp-* files in the tree and nothing ever removed
    // them, so verify failed on the tree forever.
    let env = materialized();
    let media = env.media();
    std::fs::write(media.join(".airgap-tmp-0123-SHA256SUMS"), b"half").unwrap();
    std::fs::create_dir_all(media.join("files/.airgap-tmp-4567.git/objects")).unwrap();
    env.verify(&[])
        .failure()
        .stdout_has(".airgap-tmp-0123-SHA256SUMS (left by an interrupted run; `airgap materialize` again removes it)");
    env.materialize(&[]).success();
    assert!(!media.join(".airgap-tmp-0123-SHA256SUMS").exists());
    assert!(!media.join("files/.airgap-tmp-4567.git").exists());
    env.verify(&[]).success();
}

#[test]
fn the_media_carries_its_own_airgap_and_says_how_to_verify_with_stock_tools() {
    let env = Env::new();
    env.workspace_file("artifacts/one", &bytes(42, 10_000));
    env.manifest(
        "files.toml",
        "[[file]]\nname = \"one\"\nurl = \"artifacts/one\"\n",
    );
    let media = env.media();
    env.materialize(&[])
        .success()
        .stderr_has(&format!(
            "next: airgap verify {} --key {}/keys/airgap.asc",
            media.display(),
            media.display()
        ))
        .stderr_has(&format!("airgap serve {} --listen", media.display()));
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let binary = format!("bin/airgap-linux-{arch}");
    let sums = std::fs::read_to_string(media.join("SHA256SUMS")).unwrap();
    assert!(sums.contains(&format!("  {binary}\n")), "{sums}");
    assert!(sums.contains("  README.txt\n"), "{sums}");
    // The copy on the media is the airgap that wrote it, and it verifies the media by itself.
    let copied = media.join(&binary);
    let running = Path::new(env!("CARGO_BIN_EXE_airgap"));
    assert_eq!(
        sha256_hex(&std::fs::read(&copied).unwrap()),
        sha256_hex(&std::fs::read(running).unwrap())
    );
    let trusted = env.temp.path().join("trusted.asc");
    std::fs::copy(media.join("keys/airgap.asc"), &trusted).unwrap();
    tool(
        copied.to_str().unwrap(),
        &["verify", ".", "--key", trusted.to_str().unwrap()],
        &media,
    )
    .success()
    .stderr_has("SHA256SUMS is signed by the trusted key");
    // README.txt names the lock and the stock commands, which work as written.
    let readme = std::fs::read_to_string(media.join("README.txt")).unwrap();
    let lock_digest = sha256_hex(&std::fs::read(media.join("airgap.lock")).unwrap());
    assert!(
        readme.contains(&format!("airgap.lock (sha256:{lock_digest})")),
        "{readme}"
    );
    assert!(
        readme.contains("sha256sum --check --strict SHA256SUMS"),
        "{readme}"
    );
    assert!(
        readme.contains("gpg --verify SHA256SUMS.asc SHA256SUMS"),
        "{readme}"
    );
    assert!(readme.contains(&format!("{binary} serve .")), "{readme}");
    tool(
        "sha256sum",
        &["--check", "--strict", "--quiet", "SHA256SUMS"],
        &media,
    )
    .success();
    // A second materialize keeps the binary as it is (no copy, no rehash) and stays verified.
    env.materialize(&[]).success().stderr_has("0 written");
    env.verify(&[]).success();
}
