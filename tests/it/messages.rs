//! The messages a new user meets first, as snapshots (insta): each names the file, path or
//! address, says what is wrong, and hints at what to do. Temporary paths are replaced by
//! `[TMP]` so the snapshots hold on any machine.

use crate::support::{Env, bytes};

fn normalized(env: &Env, text: &str) -> String {
    text.replace(&env.temp.path().display().to_string(), "[TMP]")
}

#[test]
fn lock_outside_a_workspace() {
    let env = Env::new();
    let empty = env.temp.path().join("not-a-workspace");
    std::fs::create_dir_all(&empty).unwrap();
    let mut command = env.command_in(&empty);
    command.arg("lock");
    let run = crate::support::output(command);
    assert_eq!(run.code, 1);
    insta::assert_snapshot!("lock_outside_a_workspace", normalized(&env, &run.stderr));
}

#[test]
fn verify_of_a_missing_directory() {
    let env = Env::new();
    let missing = env.temp.path().join("no-such-media");
    let run = env.run(&["verify", missing.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    insta::assert_snapshot!(
        "verify_of_a_missing_directory",
        normalized(&env, &run.stderr)
    );
}

#[test]
fn push_to_an_unreachable_registry() {
    let env = Env::new();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    let media = env.media();
    let mut command = env.command_in(&example);
    command.args(["materialize", "--locked", "--to", media.to_str().unwrap()]);
    crate::support::output(command).success();
    // Port 1 on loopback: nothing listens there.
    let run = env.run(&[
        "push",
        media.to_str().unwrap(),
        "--registry",
        "127.0.0.1:1/mirror",
    ]);
    assert_eq!(run.code, 1);
    insta::assert_snapshot!(
        "push_to_an_unreachable_registry",
        normalized(&env, &run.stderr)
    );
}

#[test]
fn a_failed_verification_counts_in_words() {
    let env = Env::new();
    env.workspace_file("artifacts/one", &bytes(2, 100));
    env.manifest(
        "files.toml",
        "[[file]]\nname = \"one\"\nurl = \"artifacts/one\"\n",
    );
    env.materialize(&[]).success();
    std::fs::remove_file(env.media().join("files/local/artifacts/one")).unwrap();
    let run = env.verify(&[]);
    assert_eq!(run.code, 1);
    let text = normalized(&env, &run.stdout) + &normalized(&env, &run.stderr);
    // The file count follows the binary the media carries; the words are what matter.
    let text = regex_lite_files(&text);
    insta::assert_snapshot!("a_failed_verification_counts_in_words", text);
}

/// `among N files` with the number left out.
fn regex_lite_files(text: &str) -> String {
    text.lines()
        .map(|line| match line.find(" among ") {
            Some(at) => format!("{} among [N] files", &line[..at]),
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}
