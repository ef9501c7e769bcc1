//! The map of `lib.rs`, checked: every `crate::` path in every module is read, and an arrow
//! the map forbids fails the test with the file and line that draws it.

use std::path::Path;

/// `(from, to, why)`: a module under `from` must not name `to`.
const FORBIDDEN: &[(&str, &str, &str)] = &[
    (
        "commands",
        "commands",
        "a command is argument parsing plus one call into ops",
    ),
    ("source", "media", "fetching does not know the media tree"),
    (
        "source",
        "kinds",
        "the downloader is shared by the kinds, below them",
    ),
    ("media", "source", "the media tree never fetches"),
    (
        "media",
        "kinds",
        "the media tree is below the kinds that fill it",
    ),
    (
        "render",
        "oci::push",
        "render shares oci::target with push, not push itself",
    ),
    ("render", "ops", "ops calls render"),
    (
        "serve",
        "source",
        "the server reads the media, never upstreams",
    ),
    (
        "serve",
        "manifest",
        "the server reads the media, not the manifests",
    ),
    ("serve", "http", "the server has no HTTP client"),
    (
        "serve",
        "kinds",
        "the caller tells the server what it serves",
    ),
    ("lock", "http", "the lock never touches the network"),
    (
        "lock",
        "kinds",
        "the lock's generic parts sit below the kinds",
    ),
    (
        "manifest",
        "lock",
        "manifests are read before anything is locked",
    ),
    ("kinds", "ops", "ops calls the kinds"),
    ("kinds", "render", "render reads what the kinds pinned"),
    ("kinds", "serve", "serve reads what the kinds placed"),
    (
        "oci",
        "kinds",
        "images and OCI charts share oci, below the kinds",
    ),
    (
        "oci",
        "media::tree",
        "the OCI client does not write the tree",
    ),
    ("ops", "commands", "commands call ops"),
    (
        "policy",
        "source",
        "policies check bytes they are given; ops finds and fetches them",
    ),
    (
        "policy",
        "oci",
        "policies check bytes they are given; ops finds and fetches them",
    ),
    ("policy", "kinds", "the pins carry the policy's evidence"),
    ("policy", "ops", "ops calls the policy checks"),
];

/// Every `crate::...` path a source file names, with its line number, outside comments.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut paths = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(start) = rest.find("crate::") {
            let tail = &rest[start + "crate::".len()..];
            let end = tail
                .find(|character: char| {
                    !(character.is_ascii_alphanumeric() || character == '_' || character == ':')
                })
                .unwrap_or(tail.len());
            paths.push((number + 1, tail[..end].trim_end_matches(':').to_string()));
            rest = &tail[end..];
        }
    }
    paths
}

/// The module a source file belongs to, as a path below `src/` without the extension
/// (`kinds/apt/kind`).
fn module_of(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).unwrap_or(file);
    relative
        .with_extension("")
        .to_string_lossy()
        .replace('\\', "/")
}

fn violations(root: &Path) -> Vec<String> {
    let kinds: Vec<String> = std::fs::read_dir(root.join("kinds"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|entry| entry.path().is_dir())
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(root).into_iter().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|extension| extension != "rs") {
            continue;
        }
        let module = module_of(root, path);
        let top = module.split('/').next().unwrap_or("");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for (line, used) in crate_paths(&text) {
            let used_path = used.replace("::", "/");
            for (from, to, why) in FORBIDDEN {
                let to_path = to.replace("::", "/");
                let names = used_path == to_path || used_path.starts_with(&format!("{to_path}/"));
                if top == *from && names {
                    found.push(format!(
                        "src/{module}.rs:{line}: {from} -> crate::{used} ({why})"
                    ));
                }
            }
            // Kinds never import each other.
            if let (Some(own), Some(other)) = (
                module
                    .strip_prefix("kinds/")
                    .and_then(|rest| rest.split('/').next()),
                used_path
                    .strip_prefix("kinds/")
                    .and_then(|rest| rest.split('/').next()),
            ) && kinds.iter().any(|kind| kind == own)
                && kinds.iter().any(|kind| kind == other)
                && own != other
            {
                found.push(format!(
                    "src/{module}.rs:{line}: kind {own} -> kind {other} (kinds never import each other)"
                ));
            }
        }
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_module_draws_an_arrow_the_map_forbids() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let found = violations(&root);
        assert!(found.is_empty(), "forbidden arrows:\n{}", found.join("\n"));
    }

    #[test]
    fn a_forbidden_arrow_is_found() {
        let directory = tempfile::tempdir().unwrap();
        let root = directory.path();
        std::fs::create_dir_all(root.join("serve")).unwrap();
        std::fs::create_dir_all(root.join("kinds/apt")).unwrap();
        std::fs::create_dir_all(root.join("kinds/yum")).unwrap();
        std::fs::write(
            root.join("serve/files.rs"),
            "use crate::digest::Digest;\n// crate::manifest in a comment is fine\nuse crate::source::Downloader;\n",
        )
        .unwrap();
        std::fs::write(
            root.join("kinds/apt/kind.rs"),
            "use crate::kinds::yum::Yum;\nuse crate::kinds::Kind;\n",
        )
        .unwrap();
        let found = violations(root);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("src/kinds/apt/kind.rs:1: kind apt -> kind yum"));
        assert!(found[1].starts_with("src/serve/files.rs:3: serve -> crate::source"));
    }
}
