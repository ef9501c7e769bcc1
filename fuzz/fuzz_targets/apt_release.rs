#![no_main]

// An apt Release, after its signature checked out.
libfuzzer_sys::fuzz_target!(|text: &str| {
    if let Ok(release) = airgap::kinds::apt::release::parse(text) {
        let _ = airgap::kinds::apt::release::check_valid_until(&release, 0);
    }
});
