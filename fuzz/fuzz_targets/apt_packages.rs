#![no_main]

// A Packages index, streamed.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut packages = Vec::new();
    let _ = airgap::kinds::apt::index::parse_packages(data, 0, "main", &mut packages);
    for package in &packages {
        let _ = airgap::kinds::apt::index::parse_relations(&package.depends);
    }
});
