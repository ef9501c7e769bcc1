#![no_main]

// A yum repomd.xml.
libfuzzer_sys::fuzz_target!(|text: &str| {
    let _ = airgap::kinds::yum::metadata::parse_repomd(text);
});
