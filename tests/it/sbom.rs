//! The SBOM: CycloneDX 1.6 JSON on the media, checked by tools nobody here wrote: the
//! `cyclonedx-python-lib` schema validator and `packageurl-python` (`tests/it/oracles/`, in the
//! virtualenv `scripts/test` makes at target/pyenv).

use std::path::Path;

use crate::support::{Env, output};

fn python() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pyenv/bin/python")
}

#[test]
fn the_quickstart_sbom_validates_and_names_every_pin_with_its_digest() {
    let env = Env::new();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    let media = env.media();
    let mut command = env.command_in(&example);
    command.args(["materialize", "--locked", "--to", media.to_str().unwrap()]);
    output(command).success();
    let path = media.join("sbom/airgap.cdx.json");
    let text = std::fs::read_to_string(&path).unwrap();
    // Listed in SHA256SUMS like every file of the tree.
    assert!(
        std::fs::read_to_string(media.join("SHA256SUMS"))
            .unwrap()
            .contains("  sbom/airgap.cdx.json\n")
    );

    let checked = output({
        let mut command = std::process::Command::new(python());
        command
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/oracles/sbom_check.py"))
            .arg(&path);
        command
    });
    assert_eq!(checked.code, 0, "{}{}", checked.stdout, checked.stderr);
    let purls: Vec<&str> = checked.stdout.lines().collect();
    for kind in ["generic", "oci", "deb", "rpm"] {
        assert!(
            purls
                .iter()
                .any(|line| line.starts_with(&format!("{kind} "))),
            "no {kind} purl: {purls:?}"
        );
    }

    // Every pin of the lock is there with its digest (a git repository with its commit).
    let document: serde_json::Value = serde_json::from_str(&text).unwrap();
    let components = document["components"].as_array().unwrap();
    let hashes: Vec<String> = components
        .iter()
        .filter_map(|component| component["hashes"][0]["content"].as_str())
        .map(str::to_string)
        .collect();
    let lock: toml::Table =
        toml::from_str(&std::fs::read_to_string(example.join("airgap.lock")).unwrap()).unwrap();
    let mut pinned = 0;
    for (table, nested) in [
        ("file", None),
        ("image", None),
        ("chart", None),
        ("apt", Some("package")),
        ("yum", Some("package")),
    ] {
        for entry in lock
            .get(table)
            .and_then(|value| value.as_array())
            .into_iter()
            .flatten()
        {
            let pins: Vec<&toml::Value> = match nested {
                Some(key) => entry[key].as_array().unwrap().iter().collect(),
                None => vec![entry],
            };
            for pin in pins {
                let digest = pin["digest"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("sha256:");
                assert!(hashes.iter().any(|hash| hash == digest), "{table} {digest}");
                pinned += 1;
            }
        }
    }
    for git in lock["git"].as_array().unwrap() {
        let commit = git["commit"].as_str().unwrap();
        assert!(
            components
                .iter()
                .any(|component| component["version"] == commit)
        );
        pinned += 1;
    }
    assert_eq!(components.len(), pinned);

    // Deterministic: the same lock gives the same bytes, on the media and from `airgap sbom`.
    let mut command = env.command_in(&example);
    command.args(["sbom"]);
    let printed = output(command);
    assert_eq!(printed.code, 0, "{}", printed.stderr);
    assert_eq!(printed.stdout, text);
}
