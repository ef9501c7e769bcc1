#![no_main]

// An OCI manifest or index (or Docker schema 2) from a registry.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = airgap::oci::manifest::parse(data, None);
    let _ = airgap::oci::manifest::parse(data, Some("application/vnd.oci.image.index.v1+json"));
});
