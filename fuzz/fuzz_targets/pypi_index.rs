#![no_main]

// The body is airgap::fuzzing::pypi_index, which the property tests run on stable too.
libfuzzer_sys::fuzz_target!(|data: &[u8]| airgap::fuzzing::pypi_index(data));
