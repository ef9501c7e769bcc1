//! HTTPS upstreams behind a private CA, as behind a TLS-inspecting corporate proxy: a real
//! nginx on loopback serves TLS with a certificate from a CA made here; `--ca-cert` makes
//! airgap trust it, and without it the failure says what to do.

use std::process::Command;

use crate::support::{Env, TestCa, bytes, sha256_hex};

struct Nginx {
    pid_file: std::path::PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pid_file) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_private_ca_is_trusted_only_when_given() {
    let env = Env::new();
    let root = env.temp.path().join("tls");
    std::fs::create_dir_all(root.join("www/pkg")).unwrap();
    // nginx workers run unprivileged: they must be able to read the tree.
    for directory in [
        env.temp.path(),
        &root,
        &root.join("www"),
        &root.join("www/pkg"),
    ] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(directory, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let content = bytes(50, 40_000);
    std::fs::write(root.join("www/pkg/calicoctl"), &content).unwrap();

    TestCa::write(&root);

    let port = free_port();
    let dir = root.display();
    let config = format!(
        "daemon on; worker_processes 1; pid {dir}/nginx.pid; error_log {dir}/error.log;\n\
         events {{ worker_connections 32; }}\n\
         http {{ access_log off; client_body_temp_path {dir}; proxy_temp_path {dir}; fastcgi_temp_path {dir};\n\
         uwsgi_temp_path {dir}; scgi_temp_path {dir};\n\
         server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {dir}/cert.pem; ssl_certificate_key {dir}/key.pem;\n\
         root {dir}/www; }} }}\n"
    );
    std::fs::write(root.join("nginx.conf"), config).unwrap();
    let status = Command::new("nginx")
        .arg("-c")
        .arg(root.join("nginx.conf"))
        .status()
        .expect("nginx is installed");
    assert!(status.success(), "nginx failed to start");
    let _nginx = Nginx {
        pid_file: root.join("nginx.pid"),
    };
    std::thread::sleep(std::time::Duration::from_millis(300));

    env.manifest(
        "files.toml",
        &format!(
            "[[file]]\nname = \"calicoctl\"\nurl = \"https://127.0.0.1:{port}/pkg/calicoctl\"\nsha256 = \"{}\"\n",
            sha256_hex(&content)
        ),
    );
    env.run(&["lock"])
        .failure()
        .stderr_has("file calicoctl")
        .stderr_has("--ca-cert");
    let ca_path = root.join("ca.pem");
    env.run(&["lock", "--ca-cert", ca_path.to_str().unwrap()])
        .success();
    env.run(&[
        "lock",
        "--ca-cert",
        root.join("key.pem").to_str().unwrap(),
        "--update",
    ])
    .failure()
    .stderr_has("not a PEM bundle of certificates");
}
