//! The README's walkthrough, run as written: every `$ ` command of its `console` blocks, in
//! one shell, from the repository's root with a fresh HOME and the built `airgap` first on
//! PATH; every output line shown must appear in what the commands print (`…` stands for any
//! text). A registry for the push step is Debian's docker-registry on 127.0.0.1:5000.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::registry::Registry;
use crate::support::BINARY;

/// The commands of the walkthrough, each with the output lines the README shows for it.
fn steps(readme: &str) -> Vec<(String, Vec<String>)> {
    let section = readme
        .split("\n## Walkthrough\n")
        .nth(1)
        .expect("a Walkthrough section")
        .split("\n## ")
        .next()
        .unwrap();
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_console = false;
    for line in section.lines() {
        if line.starts_with("```console") {
            in_console = true;
        } else if line.starts_with("```") {
            in_console = false;
        } else if in_console {
            if let Some(command) = line.strip_prefix("$ ") {
                steps.push((command.to_string(), Vec::new()));
            } else if !line.trim().is_empty() {
                steps
                    .last_mut()
                    .expect("output after a command")
                    .1
                    .push(line.to_string());
            }
        }
    }
    steps
}

/// Whether `line` matches `pattern`, `…` standing for any text, surrounding blanks ignored.
fn matches(pattern: &str, line: &str) -> bool {
    airgap::policy::matches(&pattern.trim().replace('…', "*"), line.trim())
}

#[test]
fn the_readme_walkthrough_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let steps = steps(&readme);
    assert!(steps.len() >= 10, "{steps:?}");
    let home = tempfile::tempdir().unwrap();
    let registry = Registry::start_at(&home.path().join("registry"), 5000);
    // One shell runs every command; a marker before each tells whose output follows.
    let mut script = String::from("set -e\n");
    for (index, (command, _)) in steps.iter().enumerate() {
        script.push_str(&format!("echo '@@step {index}@@' >&2\n{command}\n"));
    }
    script.push_str("kill $(jobs -p) 2>/dev/null || true\nwait 2>/dev/null || true\n");
    let binary_dir = Path::new(BINARY).parent().unwrap();
    let path = format!(
        "{}:{}",
        binary_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(root)
        .env("HOME", home.path())
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env_remove("AIRGAP_CACHE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    drop(registry);
    // stdout and stderr together, in order enough: each step's lines follow its marker.
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(output.status.success(), "the walkthrough failed:\n{text}");
    let all: Vec<&str> = text.lines().collect();
    for (index, (command, expected)) in steps.iter().enumerate() {
        for line in expected {
            assert!(
                all.iter().any(|seen| matches(line, seen)),
                "`{command}` should print a line like\n  {line}\nbut the walkthrough printed:\n{text}"
            );
        }
        assert!(
            text.contains(&format!("@@step {index}@@")),
            "step {index} did not run"
        );
    }
}
