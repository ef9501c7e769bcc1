//! `[[git]]`: refs of each kind pinned to the right commit, the bare repository on the media
//! cloned over HTTP through `airgap serve`, and a moved ref that keeps its pin.

use std::path::Path;
use std::process::Command;

use crate::support::{Env, output};

/// Runs git with a fixed identity in `directory`; fails the test on error; returns stdout.
pub fn git(args: &[&str], directory: &Path) -> String {
    let mut command = Command::new("git");
    command
        .args([
            "-c",
            "user.name=airgap",
            "-c",
            "user.email=airgap@example.org",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(directory);
    let run = output(command);
    assert_eq!(run.code, 0, "git {args:?}: {}", run.stderr);
    run.stdout.trim().to_string()
}

fn commit(directory: &Path, file: &str, content: &str) -> String {
    std::fs::write(directory.join(file), content).unwrap();
    git(&["add", file], directory);
    git(&["commit", "-q", "-m", content], directory);
    git(&["rev-parse", "HEAD"], directory)
}

#[test]
fn refs_pin_commits_and_the_media_clones_over_http() {
    let env = Env::new();
    let upstream = env.workspace().join("upstream");
    std::fs::create_dir_all(&upstream).unwrap();
    git(&["init", "-q"], &upstream);
    let first = commit(&upstream, "README", "first");
    git(&["tag", "-a", "v1.0", "-m", "release 1.0"], &upstream);
    let second = commit(&upstream, "README", "second");
    git(&["branch", "release-2"], &upstream);
    let third = commit(&upstream, "README", "third");
    env.manifest(
        "git.toml",
        &format!(
            "[[git]]\nname = \"tagged\"\nurl = \"upstream\"\nref = \"v1.0\"\n\n\
             [[git]]\nname = \"branch\"\nurl = \"file://{}\"\nref = \"release-2\"\n\n\
             [[git]]\nname = \"commit\"\nurl = \"upstream\"\nref = \"{second}\"\n",
            upstream.display()
        ),
    );
    env.run(&["lock"]).success();
    let lock: toml::Table = toml::from_str(&env.lock_text()).unwrap();
    let pinned = |name: &str| {
        let entry = lock["git"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["name"].as_str() == Some(name))
            .unwrap();
        (
            entry["kind"].as_str().unwrap().to_string(),
            entry["commit"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(pinned("tagged"), ("tag".to_string(), first.clone()));
    assert_eq!(pinned("branch"), ("branch".to_string(), second.clone()));
    assert_eq!(pinned("commit"), ("commit".to_string(), second.clone()));

    // The branch moves on upstream: the pin holds until `lock --update`.
    git(&["checkout", "-q", "release-2"], &upstream);
    let moved = commit(&upstream, "README", "fourth");
    env.run(&["lock"]).success();
    assert!(env.lock_text().contains(&second) && !env.lock_text().contains(&moved));

    env.materialize(&[]).success();
    env.verify(&[]).success();
    let served = crate::serve::serve(&env.media(), &[]);
    for (name, expected) in [("tagged", &first), ("branch", &second), ("commit", &second)] {
        let clone = env.temp.path().join(format!("clone-{name}"));
        git(
            &[
                "clone",
                "-q",
                &format!("http://127.0.0.1:{}/git/{name}.git", served.port),
                clone.to_str().unwrap(),
            ],
            env.temp.path(),
        );
        assert_eq!(&git(&["rev-parse", "HEAD"], &clone), expected, "{name}");
    }
    let tagged = env.temp.path().join("clone-tag");
    git(
        &[
            "clone",
            "-q",
            "--branch",
            "v1.0",
            &format!("http://127.0.0.1:{}/git/tagged.git", served.port),
            tagged.to_str().unwrap(),
        ],
        env.temp.path(),
    );
    assert_eq!(
        std::fs::read_to_string(tagged.join("README")).unwrap(),
        "first"
    );
    drop(served);

    env.run(&["lock", "--update", "branch"]).success();
    assert!(env.lock_text().contains(&moved));
    let _ = third;
    env.manifest(
        "git.toml",
        "[[git]]\nname = \"tagged\"\nurl = \"upstream\"\nref = \"v9\"\n",
    );
    env.run(&["lock"])
        .failure()
        .stderr_has("has no tag or branch `v9`");
}
