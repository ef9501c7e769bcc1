#![no_main]

// A lockfile, as a media tree carries it (and a hand may have edited it).
libfuzzer_sys::fuzz_target!(|text: &str| {
    if let Ok(lock) = airgap::kinds::Lockfile::parse(std::path::Path::new("airgap.lock"), text) {
        let rendered = lock.render();
        let again = airgap::kinds::Lockfile::parse(std::path::Path::new("airgap.lock"), &rendered)
            .expect("a rendered lock reads back");
        assert_eq!(again.render(), rendered);
    }
});
