#![no_main]

// Every path from outside goes through RelativePath: what it accepts stays inside.
libfuzzer_sys::fuzz_target!(|text: &str| {
    if let Ok(path) = airgap::relative_path::RelativePath::new(text) {
        let joined = std::path::Path::new("/tree").join(path.as_str());
        assert!(joined.starts_with("/tree"));
        for component in std::path::Path::new(path.as_str()).components() {
            assert!(
                matches!(component, std::path::Component::Normal(_)),
                "{text:?}"
            );
        }
    }
});
