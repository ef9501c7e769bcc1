//! Several `airgap serve` replicas over one media tree behind the nginx load balancer that
//! `render --replica` writes: a client loop keeps pulling through it while one replica is
//! killed, and no request fails.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::serve::{media_with_images, serve};
use crate::support::{BINARY, Env, bytes, output, sha256_hex};

/// One GET through the balancer into `path`; the HTTP status and the bytes' sha256. A client
/// retries as container runtimes and apt do: up to three attempts on a transport error.
fn fetch(url: &str, accept: &str, into: &std::path::Path) -> (String, String, u32) {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let run = output({
            let mut command = Command::new("curl");
            command.args([
                "-sS",
                "--max-time",
                "10",
                "-H",
                accept,
                "-o",
                into.to_str().unwrap(),
                "-w",
                "%{http_code}",
                url,
            ]);
            command
        });
        if run.code == 0 || attempts == 3 {
            let body = std::fs::read(into).unwrap_or_default();
            return (run.stdout, sha256_hex(&body), attempts);
        }
    }
}

#[test]
fn two_replicas_behind_the_rendered_nginx_balancer_survive_one_being_killed() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let (_, calico) = media_with_images(&env);
    let mut first = serve(&env.media(), &[]);
    let second = serve(&env.media(), &[]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Rendered beside the tree (--out), as an operator would for the balancer host.
    let out = env.temp.path().join("balancer");
    let rendered = output({
        let mut command = Command::new(BINARY);
        command.arg("render").arg(env.media()).args([
            "--out",
            out.to_str().unwrap(),
            "--url",
            &format!("http://mirror.enclave.internal:{port}"),
            "--replica",
            &format!("127.0.0.1:{}", first.port),
            "--replica",
            &format!("127.0.0.1:{}", second.port),
        ]);
        command
    });
    assert_eq!(rendered.code, 0, "{}", rendered.stderr);
    let conf = out.join("config/nginx/balancer.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(
        text.contains(&format!("server 127.0.0.1:{} ", first.port))
            && text.contains(&format!("server 127.0.0.1:{} ", second.port))
            && text.contains(&format!("listen {port};")),
        "{text}"
    );
    let checked = crate::support::tool(
        "nginx",
        &["-t", "-c", conf.to_str().unwrap()],
        env.temp.path(),
    );
    assert_eq!(checked.code, 0, "nginx -t: {}", checked.stderr);
    std::fs::set_permissions(env.temp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let running = text
        .replace(
            &format!("listen {port};"),
            &format!("listen 127.0.0.1:{port};"),
        )
        .replace("worker_processes auto;", "worker_processes 2;");
    let _nginx = crate::support::start_nginx(
        &running,
        "pid /run/airgap-nginx-balancer.pid;",
        env.temp.path(),
    );

    let big = sha256_hex(&bytes(70, 3_000_000));
    let manifest_hex = calico.trim_start_matches("sha256:").to_string();
    let requests = [
        (
            format!("http://127.0.0.1:{port}/files/tools/big.bin"),
            "X-Client: loop",
            big,
        ),
        (
            format!("http://127.0.0.1:{port}/v2/calico/node/manifests/v3.28.1?ns=quay.io"),
            "Accept: application/vnd.oci.image.manifest.v1+json",
            manifest_hex,
        ),
    ];
    let body = env.temp.path().join("body");
    let (mut total, mut retried, mut failed) = (0, 0, Vec::new());
    let start = Instant::now();
    let mut killed = false;
    while start.elapsed() < Duration::from_secs(6) {
        if !killed && start.elapsed() > Duration::from_secs(2) {
            first.kill_hard();
            killed = true;
        }
        for (url, accept, want) in &requests {
            let (status, got, attempts) = fetch(url, accept, &body);
            total += 1;
            retried += u32::from(attempts > 1);
            if status != "200" || &got != want {
                failed.push(format!("{url}: {status} after {attempts} attempts"));
            }
        }
    }
    assert!(killed && total > 20, "{total} requests");
    assert!(
        failed.is_empty(),
        "{} of {total} failed: {failed:?}",
        failed.len()
    );
    eprintln!("{total} requests through the balancer, {retried} retried by the client");
}
