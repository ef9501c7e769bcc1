//! One integration test binary: it drives the real `airgap` binary against local upstreams.

mod support;
mod upstream;

mod access;
mod apt;
mod apt_repos;
mod charts;
mod cli;
mod delta;
mod files;
mod fuzz_inputs;
mod git;
mod hostile;
mod images;
mod import;
mod lock;
mod manifest_errors;
mod messages;
mod policies;
mod push;
mod pypi;
mod registry;
mod render;
mod replicas;
mod runtimes;
mod sbom;
mod serve;
mod tls;
mod verify;
mod walkthrough;
mod yum;
