//! Every malformed manifest gets a located error (`file:line:col`), a hint, exit status 1,
//! and never a panic.

use crate::support::Env;

const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn check(text: &str, location: &str, message: &str) {
    let env = Env::new();
    env.manifest("10-files.toml", text);
    let run = env.run(&["lock", "--offline"]);
    run.failure()
        .stderr_has(&format!("manifests/10-files.toml:{location}:"))
        .stderr_has(message)
        .stderr_has("hint:");
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(!env.workspace().join("airgap.lock").exists());
}

#[test]
fn unknown_key() {
    check(
        "[[file]]\nname = \"a\"\nurl = \"x\"\nsh256 = \"abc\"\n",
        "4:1",
        "unknown field `sh256`",
    );
}

#[test]
fn bad_toml_syntax() {
    check(
        "[[file]]\nname = \"a\nurl = \"x\"\n",
        "2:10",
        "invalid basic string",
    );
}

#[test]
fn missing_url() {
    check("[[file]]\nname = \"a\"\n", "1:1", "missing field `url`");
}

#[test]
fn malformed_digest() {
    check(
        "[[file]]\nname = \"a\"\nurl = \"x\"\nsha256 = \"abc123\"\n",
        "4:10",
        "not a sha256 digest",
    );
}

#[test]
fn other_digest_algorithm() {
    check(
        &format!("[[file]]\nname = \"a\"\nurl = \"x\"\nsha256 = \"sha512:{HEX}\"\n"),
        "4:10",
        "unsupported digest algorithm",
    );
}

#[test]
fn unsupported_url_scheme() {
    check(
        "[[file]]\nname = \"a\"\nurl = \"ftp://example.org/a\"\n",
        "3:7",
        "unsupported scheme `ftp`",
    );
}

#[test]
fn unparsable_url() {
    check(
        "[[file]]\nname = \"a\"\nurl = \"http://exa mple.org/a\"\n",
        "3:7",
        "not a valid URL",
    );
}

#[test]
fn one_digest_for_two_architectures() {
    check(
        &format!(
            "[[file]]\nname = \"a\"\nurl = \"https://h/{{arch}}/a\"\narch = [\"amd64\", \"arm64\"]\nsha256 = \"{HEX}\"\n"
        ),
        "5:10",
        "one `sha256` for 2 architectures",
    );
}

#[test]
fn digest_for_an_architecture_not_fetched() {
    check(
        &format!(
            "[[file]]\nname = \"a\"\nurl = \"https://h/{{arch}}/a\"\narch = [\"amd64\"]\nsha256 = {{ s390x = \"{HEX}\" }}\n"
        ),
        "5:10",
        "`s390x`",
    );
}

#[test]
fn arch_without_placeholder() {
    check(
        "[[file]]\nname = \"a\"\nurl = \"https://h/a\"\narch = [\"amd64\"]\n",
        "4:8",
        "`arch` is set",
    );
}

#[test]
fn unknown_placeholder() {
    check(
        "[[file]]\nname = \"a\"\nurl = \"https://h/{os}/a\"\n",
        "3:7",
        "unknown placeholder `{os}`",
    );
}

#[test]
fn path_escaping_the_tree() {
    check(
        "[[file]]\nname = \"a\"\nurl = \"https://h/a\"\npath = \"../../etc/passwd\"\n",
        "4:8",
        "`..`",
    );
}

#[test]
fn kubespray_host_with_a_bad_group() {
    check(
        "[kubespray]\n[[kubespray.host]]\nname = \"cp1\"\naddress = \"10.0.0.11\"\ngroups = [\"etcd\", \"kube node\"]\n",
        "5:19",
        "`kube node` is not an Ansible group name",
    );
}

#[test]
fn kubespray_host_listed_twice() {
    check(
        "[kubespray]\n[[kubespray.host]]\nname = \"cp1\"\naddress = \"10.0.0.11\"\ngroups = [\"etcd\"]\n[[kubespray.host]]\nname = \"cp1\"\naddress = \"10.0.0.12\"\ngroups = [\"kube_node\"]\n",
        "7:8",
        "host `cp1` is listed twice",
    );
}

#[test]
fn dns_forward_to_a_name() {
    check(
        "[[dns.forward]]\nzone = \"corp.example.com\"\nto = [\"dns.corp\"]\n",
        "3:7",
        "`dns.corp` is not a resolver address",
    );
}

#[test]
fn enclave_ca_that_is_not_a_certificate() {
    let env = Env::new();
    env.workspace_file("tls/ca.pem", b"not a certificate");
    env.manifest("enclave.toml", "[enclave]\nca = \"tls/ca.pem\"\n");
    env.run(&["lock", "--offline"])
        .failure()
        .stderr_has("manifests/enclave.toml:2:6:")
        .stderr_has("holds no PEM certificate")
        .stderr_has("hint:");
}

#[test]
fn replica_that_would_break_out_of_the_nginx_config() {
    check(
        "[enclave]\nreplicas = [\"10.0.0.1:8080\", \"x; include /etc/passwd:80\"]\n",
        "2:30",
        "is not a host name or IP address",
    );
}

#[test]
fn bad_platform() {
    check(
        "[enclave]\nplatforms = [\"amd64\"]\n",
        "2:14",
        "not a platform",
    );
}

#[test]
fn duplicate_names_across_files() {
    let env = Env::new();
    env.manifest(
        "a.toml",
        "[[file]]\nname = \"kubeadm\"\nurl = \"https://h/a\"\n",
    );
    env.manifest(
        "b.toml",
        "\n[[file]]\nname = \"kubeadm\"\nurl = \"https://h/b\"\n",
    );
    env.run(&["lock", "--offline"])
        .failure()
        .stderr_has("manifests/b.toml:3:8: duplicate name `kubeadm`")
        .stderr_has("first defined at manifests/a.toml:2:8");
}

#[test]
fn two_enclaves_and_several_problems_at_once() {
    let env = Env::new();
    env.manifest("a.toml", "[enclave]\nurl = \"https://m:8443\"\n");
    env.manifest(
        "b.toml",
        "[enclave]\nurl = \"https://n\"\n\n[[file]]\nname = \"bad name\"\nurl = \"x\"\n",
    );
    env.run(&["lock"])
        .failure()
        .stderr_has("manifests/b.toml:1:1: `[enclave]` is defined twice")
        .stderr_has("manifests/b.toml:5:8: `bad name` is not a valid name")
        .stderr_has("2 problems");
}

#[test]
fn no_manifests_at_all() {
    let env = Env::new();
    env.run(&["lock"])
        .failure()
        .stderr_has("no manifests found")
        .stderr_has("airgap init");
}

#[test]
fn unknown_keys_do_not_hide_the_files_other_problems() {
    let env = crate::support::Env::new();
    env.manifest(
        "a.toml",
        "[[file]]\nname = \"a\"\nurl = \"artifacts/a\"\nbogus = 1\n\n[[image]]\nref = \"busybox\"\nplatforms = [\"amd64\"]\ncolour = \"red\"\n",
    );
    env.run(&["lock", "--offline"])
        .failure()
        .stderr_has("manifests/a.toml:4:1: unknown field `bogus`")
        .stderr_has("manifests/a.toml:9:1: unknown field `colour`")
        .stderr_has("manifests/a.toml:8:14: `amd64` is not a platform")
        .stderr_has("3 problems in the manifests");
}
