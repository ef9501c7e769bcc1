#![no_main]

// deb822 documents (Release, Packages, control files) from an upstream.
libfuzzer_sys::fuzz_target!(|text: &str| {
    let _ = airgap::deb822::parse_all(text);
});
