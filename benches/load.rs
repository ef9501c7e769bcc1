//! A small HTTP(S) load client: CONNECTIONS tasks fetch URL over and over for SECONDS (keep-alive,
//! bodies streamed and counted, never held), optionally presenting a client certificate.
//! `benches/access.sh` runs it against `airgap serve` with TLS and with mutual TLS, side by side.
//! Usage: [LOAD_BASIC=USER:PASSWORD] cargo bench --bench load -- URL CONNECTIONS SECONDS CA [CERT KEY]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn main() {
    let arguments: Vec<String> = std::env::args()
        .skip(1)
        .filter(|argument| !argument.starts_with("--"))
        .collect();
    if arguments.len() < 4 {
        eprintln!("usage: cargo bench --bench load -- URL CONNECTIONS SECONDS CA [CERT KEY]");
        return;
    }
    let url = arguments[0].clone();
    let connections: usize = arguments[1].parse().expect("CONNECTIONS");
    let seconds: u64 = arguments[2].parse().expect("SECONDS");
    let ca = std::fs::read(&arguments[3]).expect("CA file");
    let mut builder = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(connections)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA PEM"));
    if let (Some(cert), Some(key)) = (arguments.get(4), arguments.get(5)) {
        let mut pem = std::fs::read(cert).expect("certificate");
        pem.extend(std::fs::read(key).expect("key"));
        builder = builder.identity(reqwest::Identity::from_pem(&pem).expect("identity"));
    }
    let client = builder.build().expect("client");
    // LOAD_BASIC=user:password: HTTP Basic on every request.
    let basic: Option<(String, String)> = std::env::var("LOAD_BASIC").ok().and_then(|value| {
        value
            .split_once(':')
            .map(|(user, password)| (user.to_string(), password.to_string()))
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let requests = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let (client, url, basic) = (client.clone(), url.clone(), basic.clone());
            let (requests, bytes, errors) = (requests.clone(), bytes.clone(), errors.clone());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    let mut request = client
                        .get(&url)
                        .header("Accept", "application/vnd.oci.image.manifest.v1+json");
                    if let Some((user, password)) = basic.as_ref() {
                        request = request.basic_auth(user, Some(password));
                    }
                    match request.send().await {
                        Ok(mut response) if response.status().is_success() => {
                            let mut failed = false;
                            loop {
                                match response.chunk().await {
                                    Ok(Some(chunk)) => {
                                        bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                                    }
                                    Ok(None) => break,
                                    Err(_) => {
                                        failed = true;
                                        break;
                                    }
                                }
                            }
                            if failed {
                                errors.fetch_add(1, Ordering::Relaxed);
                            } else {
                                requests.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{:.0} {:.1} {}",
        requests.load(Ordering::Relaxed) as f64 / elapsed,
        bytes.load(Ordering::Relaxed) as f64 / elapsed / 1048576.0,
        errors.load(Ordering::Relaxed)
    );
}
