#![no_main]

// The body is airgap::fuzzing::sha256sums, which the property tests run on stable too.
libfuzzer_sys::fuzz_target!(|data: &[u8]| airgap::fuzzing::sha256sums(data));
