#![no_main]

// A yum primary.xml, streamed.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = airgap::kinds::yum::metadata::parse_primary(data, |_| {});
});
