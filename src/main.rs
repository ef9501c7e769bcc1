use std::process::ExitCode;

fn main() -> ExitCode {
    airgap::run(std::env::args_os())
}
