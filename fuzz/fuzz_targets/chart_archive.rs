#![no_main]

// The body is airgap::fuzzing::chart_archive, which the property tests run on stable too.
libfuzzer_sys::fuzz_target!(|data: &[u8]| airgap::fuzzing::chart_archive(data));
