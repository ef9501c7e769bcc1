#![no_main]

// SHA256SUMS of a media tree.
libfuzzer_sys::fuzz_target!(|text: &str| {
    if let Ok(entries) = airgap::media::sums::parse(text) {
        for path in entries.keys() {
            assert!(!path.starts_with('/') && !path.split('/').any(|part| part == ".."));
        }
    }
});
