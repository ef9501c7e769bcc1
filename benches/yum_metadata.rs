//! Times airgap's yum metadata generation (primary, filelists, other, repomd.xml and its
//! signature, from the RPM headers) for the `.rpm` files of a directory. `benches/yum.sh` runs
//! it next to `createrepo_c` on the same files and prints the ratio.
//! Usage: cargo bench --bench yum_metadata -- RPM_DIR

use std::time::Instant;

use airgap::digest::Digest;
use airgap::kinds::yum::repository as yum_repository;
use airgap::kinds::yum::{LockedRpm, LockedYum};
use airgap::media::signing::Signer;
use airgap::media::tree::Tree;

fn main() {
    let Some(directory) = std::env::args()
        .skip(1)
        .find(|argument| !argument.starts_with('-'))
    else {
        eprintln!("usage: cargo bench --bench yum_metadata -- RPM_DIR");
        return;
    };
    let work = tempfile::tempdir().expect("temp dir");
    let (signer, _) =
        Signer::load_or_create(&work.path().join("key.asc"), true).expect("signing key");
    let media = work.path().join("media");
    let tree = Tree::open(&media).expect("tree");
    let mut rpms = Vec::new();
    for entry in std::fs::read_dir(&directory).expect("rpm directory") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|extension| extension != "rpm") {
            continue;
        }
        let metadata = rpm::PackageMetadata::open(&path).expect("rpm header");
        let (digest, size) = Digest::of_file(&path).expect("hash");
        let location = format!(
            "Packages/{}",
            path.file_name().expect("name").to_string_lossy()
        );
        let target = media.join("yum/bench").join(&location);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&path, &target).expect("copy");
        rpms.push(LockedRpm {
            name: metadata.get_name().unwrap_or_default().to_string(),
            epoch: metadata.get_epoch().unwrap_or(0),
            version: metadata.get_version().unwrap_or_default().to_string(),
            release: metadata.get_release().unwrap_or_default().to_string(),
            arch: metadata.get_arch().unwrap_or_default().to_string(),
            location: airgap::relative_path::RelativePath::new(&location).expect("a package path"),
            digest,
            size,
        });
    }
    let yum = LockedYum {
        name: "bench".to_string(),
        url: "http://127.0.0.1/repo/".to_string(),
        arch: "x86_64".to_string(),
        gpgkey: None,
        insecure: true,
        packages: Vec::new(),
        exclude: Vec::new(),
        weak_deps: true,
        gpgcheck: true,
        modules: Vec::new(),
        repomd: Digest::of_bytes(b""),
        modular: false,
        rpms,
    };
    let runs = 10;
    let mut total = 0.0;
    for _ in 0..runs {
        let _ = std::fs::remove_dir_all(media.join("yum/bench/repodata"));
        let started = Instant::now();
        yum_repository::write(&tree, &yum, &signer).expect("write");
        total += started.elapsed().as_secs_f64();
    }
    println!(
        "airgap-yum-metadata {:.6} seconds per run, {} packages",
        total / f64::from(runs),
        yum.rpms.len()
    );
}
