//! The fuzz targets (`airgap::fuzzing`) on stable, in every CI run: each runs every input
//! `scripts/fuzz` seeds its corpus with (fixtures, hand-written seeds, past crashes), then a
//! small budget of property-test cases: random bytes and random edits of those seeds.
//! `PROPTEST_CASES` raises the budget.

use std::path::PathBuf;

use airgap::fuzzing::{TARGETS, Target};
use proptest::prelude::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every input of `target`'s corpus that the repository carries.
fn inputs(target: &Target) -> Vec<(String, Vec<u8>)> {
    let root = root();
    let mut found = Vec::new();
    let fixtures = std::fs::read_to_string(root.join("fuzz/fixtures.txt")).unwrap();
    for line in fixtures.lines().filter(|line| !line.starts_with('#')) {
        let Some((name, path)) = line.split_once(' ') else {
            continue;
        };
        if name != target.name {
            continue;
        }
        let bytes = std::fs::read(root.join(path))
            .unwrap_or_else(|error| panic!("fuzz/fixtures.txt names {path}: {error}"));
        let bytes = if path.ends_with(".gz") {
            let mut inflated = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(bytes.as_slice()),
                &mut inflated,
            )
            .unwrap();
            inflated
        } else {
            bytes
        };
        found.push((path.to_string(), bytes));
    }
    for folder in ["seeds", "regressions"] {
        let directory = root.join("fuzz").join(folder).join(target.name);
        for entry in std::fs::read_dir(&directory).into_iter().flatten() {
            let path = entry.unwrap().path();
            found.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    found
}

#[test]
fn every_target_has_a_fuzz_binary_and_every_binary_a_target() {
    let directory = root().join("fuzz/fuzz_targets");
    let mut files: Vec<String> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            path.file_stem().unwrap().to_string_lossy().into_owned()
        })
        .collect();
    files.sort();
    let mut names: Vec<String> = TARGETS.iter().map(|target| target.name.into()).collect();
    names.sort();
    assert_eq!(files, names);
    let manifest = std::fs::read_to_string(root().join("fuzz/Cargo.toml")).unwrap();
    for name in &names {
        let body = std::fs::read_to_string(directory.join(format!("{name}.rs"))).unwrap();
        assert!(
            body.contains(&format!("airgap::fuzzing::{name}(")),
            "{name}.rs"
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml lacks {name}"
        );
    }
    for name in [
        "manifest",
        "helm_index",
        "chart_archive",
        "serve_path",
        "range",
    ] {
        assert!(names.iter().any(|target| target == name), "{name}");
    }
}

#[test]
fn every_carried_input_runs_clean() {
    let mut total = 0;
    for target in TARGETS {
        let inputs = inputs(target);
        if !matches!(target.name, "yum_rich" | "oci_reference" | "relative_path") {
            assert!(!inputs.is_empty(), "{} has no seed", target.name);
        }
        for (name, bytes) in inputs {
            let outcome = std::panic::catch_unwind(|| (target.run)(&bytes));
            assert!(outcome.is_ok(), "{} panics on {name}", target.name);
            total += 1;
        }
    }
    assert!(total >= 30, "{total} inputs");
}

/// An edit of a seed: where (a fraction of its length), what, with which byte.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, u8),
    Remove(usize, usize),
    Truncate(usize),
    Repeat(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Edit::Flip(at, byte)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Edit::Insert(at, byte)),
        (any::<usize>(), 1..64usize).prop_map(|(at, count)| Edit::Remove(at, count)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), 1..64usize).prop_map(|(at, count)| Edit::Repeat(at, count)),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let length = bytes.len().max(1);
        match *edit {
            Edit::Flip(at, byte) => {
                if !bytes.is_empty() {
                    bytes[at % length] ^= byte;
                }
            }
            Edit::Insert(at, byte) => bytes.insert(at % (bytes.len() + 1), byte),
            Edit::Remove(at, count) => {
                let start = at % length;
                let end = (start + count).min(bytes.len());
                if start < end {
                    bytes.drain(start..end);
                }
            }
            Edit::Truncate(at) => bytes.truncate(at % length),
            Edit::Repeat(at, count) => {
                let start = at % length;
                let end = (start + count).min(bytes.len());
                if start < end {
                    let copy = bytes[start..end].to_vec();
                    bytes.splice(end..end, copy);
                }
            }
        }
    }
    bytes
}

fn run_properties(target: &'static Target) {
    let seeds: Vec<Vec<u8>> = inputs(target)
        .into_iter()
        .map(|(_, bytes)| bytes)
        .chain(std::iter::once(Vec::new()))
        .collect();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(64);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let count = seeds.len();
    let strategy = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256).boxed(),
        (0..count, proptest::collection::vec(edit(), 1..8))
            .prop_map(move |(seed, edits)| apply(seeds[seed].clone(), &edits))
            .boxed(),
    ];
    runner
        .run(&strategy, |bytes| {
            (target.run)(&bytes);
            Ok(())
        })
        .unwrap_or_else(|failure| panic!("{}: {failure}", target.name));
}

#[test]
fn random_and_edited_inputs_run_clean() {
    for target in TARGETS {
        run_properties(target);
    }
}
