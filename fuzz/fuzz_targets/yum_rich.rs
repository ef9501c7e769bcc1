#![no_main]

// An RPM rich dependency.
libfuzzer_sys::fuzz_target!(|text: &str| {
    let _ = airgap::kinds::yum::resolve::parse_rich(text);
});
