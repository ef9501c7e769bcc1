#![no_main]

// The body is airgap::fuzzing::apt_release, which the property tests run on stable too.
libfuzzer_sys::fuzz_target!(|data: &[u8]| airgap::fuzzing::apt_release(data));
