//! Times airgap's apt metadata generation (Packages, .gz, .xz, Release, InRelease,
//! Release.gpg) for the `.deb` files of a pool directory. `benches/apt.sh` runs it next to
//! `apt-ftparchive packages` on the same files and prints the ratio.
//! Usage: cargo bench --bench apt_metadata -- REPO_DIR   (REPO_DIR/pool/main/*.deb)

use std::time::Instant;

use airgap::digest::Digest;
use airgap::kinds::apt::{LockedApt, LockedDeb};
use airgap::kinds::apt::{deb, repository as apt_repository};
use airgap::media::signing::Signer;
use airgap::media::tree::Tree;

fn main() {
    let Some(repository) = std::env::args()
        .skip(1)
        .find(|argument| !argument.starts_with('-'))
    else {
        eprintln!("usage: cargo bench --bench apt_metadata -- REPO_DIR");
        return;
    };
    let pool = std::path::Path::new(&repository).join("pool/main");
    let work = tempfile::tempdir().expect("temp dir");
    let (signer, _) =
        Signer::load_or_create(&work.path().join("key.asc"), true).expect("signing key");
    let media = work.path().join("media");
    let tree = Tree::open(&media).expect("tree");
    let mut debs = Vec::new();
    for entry in std::fs::read_dir(&pool).expect("pool/main") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|extension| extension != "deb") {
            continue;
        }
        let control = deb::control(&path).expect("control");
        let (digest, size) = Digest::of_file(&path).expect("hash");
        let filename = format!(
            "pool/main/{}",
            path.file_name().expect("name").to_string_lossy()
        );
        let target = media.join("apt/bench").join(&filename);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&path, &target).expect("copy");
        debs.push(LockedDeb {
            name: control.get("Package").unwrap_or_default().to_string(),
            version: control.get("Version").unwrap_or_default().to_string(),
            architecture: control.get("Architecture").unwrap_or_default().to_string(),
            component: "main".to_string(),
            filename: airgap::relative_path::RelativePath::new(&filename).expect("a pool path"),
            digest,
            size,
        });
    }
    let apt = LockedApt {
        name: "bench".to_string(),
        url: "http://127.0.0.1/debian".to_string(),
        suite: "stable".to_string(),
        components: vec!["main".to_string()],
        architectures: vec!["amd64".to_string()],
        keyring: None,
        insecure: true,
        packages: Vec::new(),
        recommends: false,
        exclude: Vec::new(),
        release: Digest::of_bytes(b""),
        release_date: "Sat, 10 Jun 2023 08:52:42 UTC".to_string(),
        debs,
    };
    let runs = 10;
    let mut total = 0.0;
    for _ in 0..runs {
        let _ = std::fs::remove_dir_all(media.join("apt/bench/dists"));
        let started = Instant::now();
        apt_repository::write(&tree, &apt, &signer).expect("write");
        total += started.elapsed().as_secs_f64();
    }
    println!(
        "airgap-apt-metadata {:.6} seconds per run, {} packages",
        total / f64::from(runs),
        apt.debs.len()
    );
}
