#![no_main]

// The body is airgap::fuzzing::oci_reference, which the property tests run on stable too.
libfuzzer_sys::fuzz_target!(|data: &[u8]| airgap::fuzzing::oci_reference(data));
