#![no_main]

// An image reference from a manifest, a chart or a layout.
libfuzzer_sys::fuzz_target!(|text: &str| {
    if let Ok(reference) = airgap::oci::reference::Reference::parse(text) {
        let _ = airgap::oci::reference::Reference::parse(&reference.to_string());
    }
});
