//! Rendered configuration: the Kubespray inventory read by Ansible itself, `airgap render`
//! re-rendering a signed tree, template overrides, and snapshots of every file rendered for
//! the quickstart example.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Env, output, sha256_hex, tool};
use crate::upstream::Upstream;

const KUBE: &str = "1.35.4";
const ETCD: &str = "3.5.21";
const CONTAINERD: &str = "2.1.4";

/// An upstream with Kubespray's binaries at their real URL paths (both architectures), and a
/// workspace locking them plus one file Kubespray does not know.
fn kubespray_workspace(env: &Env, upstream: &Upstream) {
    for arch in ["amd64", "arm64"] {
        for binary in ["kubeadm", "kubelet", "kubectl"] {
            upstream.put(
                &format!("release/v{KUBE}/bin/linux/{arch}/{binary}"),
                format!("{binary} {KUBE} {arch}"),
            );
        }
        upstream.put(
            &format!("etcd-io/etcd/releases/download/v{ETCD}/etcd-v{ETCD}-linux-{arch}.tar.gz"),
            format!("etcd {arch}"),
        );
        upstream.put(
            &format!(
                "containerd/containerd/releases/download/v{CONTAINERD}/containerd-{CONTAINERD}-linux-{arch}.tar.gz"
            ),
            format!("containerd {arch}"),
        );
    }
    upstream.put("site/readme.txt", "not Kubespray's");
    let base = upstream.url("");
    let base = base.trim_end_matches('/');
    env.manifest(
        "cluster.toml",
        &format!(
            r#"[enclave]
url = "http://mirror.enclave.test:8080"
replicas = ["10.0.0.11:8080", "[fd00::12]:8080"]
platforms = ["linux/amd64", "linux/arm64"]

[[file]]
name = "kubeadm"
url = "{base}/release/v{KUBE}/bin/linux/{{arch}}/kubeadm"

[[file]]
name = "kubelet"
url = "{base}/release/v{KUBE}/bin/linux/{{arch}}/kubelet"

[[file]]
name = "kubectl"
url = "{base}/release/v{KUBE}/bin/linux/{{arch}}/kubectl"

[[file]]
name = "etcd"
url = "{base}/etcd-io/etcd/releases/download/v{ETCD}/etcd-v{ETCD}-linux-{{arch}}.tar.gz"

[[file]]
name = "containerd"
url = "{base}/containerd/containerd/releases/download/v{CONTAINERD}/containerd-{CONTAINERD}-linux-{{arch}}.tar.gz"

[[file]]
name = "readme"
url = "{base}/site/readme.txt"

[kubespray]
[[kubespray.host]]
name = "cp1"
address = "10.0.0.11"
groups = ["kube_control_plane", "etcd", "kube_node"]

[[kubespray.host]]
name = "worker1"
address = "10.0.0.21"
ip = "10.1.0.21"
groups = ["kube_node"]
"#
        ),
    );
}

fn inventory(media: &Path) -> PathBuf {
    media.join("kubespray/inventory/airgap/inventory.ini")
}

/// `ansible-inventory --list` of the rendered inventory, as JSON.
fn ansible_inventory(media: &Path) -> serde_json::Value {
    let mut command = Command::new("ansible-inventory");
    command
        .arg("-i")
        .arg(inventory(media))
        .arg("--list")
        .env(
            "ANSIBLE_LOCAL_TEMP",
            media.parent().unwrap().join("ansible-tmp"),
        )
        .env("ANSIBLE_HOME", media.parent().unwrap().join("ansible-home"));
    let run = output(command);
    assert_eq!(run.code, 0, "ansible-inventory: {}", run.stderr);
    serde_json::from_str(&run.stdout).expect("ansible-inventory prints JSON")
}

/// Ansible's own templating of a variable for one host (the debug action runs on the
/// controller: no connection to the host is made), with the facts Kubespray would gather.
fn ansible_value(media: &Path, host: &str, variable: &str, arch: &str) -> String {
    let architecture = if arch == "arm64" { "aarch64" } else { "x86_64" };
    let mut command = Command::new("ansible");
    command
        .arg(host)
        .arg("-i")
        .arg(inventory(media))
        .args(["-m", "debug", "-a"])
        .arg(format!("msg={{{{ {variable} }}}}"))
        .args(["-e", &format!("image_arch={arch}")])
        .args(["-e", "ansible_system=Linux"])
        .args(["-e", &format!("ansible_architecture={architecture}")])
        .env("ANSIBLE_LOAD_CALLBACK_PLUGINS", "1")
        .env("ANSIBLE_STDOUT_CALLBACK", "json")
        .env(
            "ANSIBLE_LOCAL_TEMP",
            media.parent().unwrap().join("ansible-tmp"),
        )
        .env("ANSIBLE_HOME", media.parent().unwrap().join("ansible-home"));
    let run = output(command);
    assert_eq!(
        run.code, 0,
        "ansible {variable}: {}{}",
        run.stdout, run.stderr
    );
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("json callback");
    json["plays"][0]["tasks"][0]["hosts"][host]["msg"]
        .as_str()
        .unwrap_or_else(|| panic!("no msg for {variable}: {}", run.stdout))
        .to_string()
}

#[test]
fn ansible_reads_the_inventory_and_every_download_url_names_a_media_file() {
    let env = Env::new();
    let upstream = Upstream::start();
    kubespray_workspace(&env, &upstream);
    let run = env.materialize(&[]);
    run.success();
    // Kubespray's defaults also download these; the lock lacks them and the user is told.
    for missing in ["cni", "crictl", "runc", "nerdctl", "calicoctl"] {
        run.stderr_has(&format!("downloads {missing} "));
    }
    let media = env.media();
    let inventory = ansible_inventory(&media);
    let hosts = |group: &str| -> Vec<String> {
        inventory[group]["hosts"]
            .as_array()
            .map(|hosts| {
                hosts
                    .iter()
                    .map(|host| host.as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(hosts("kube_control_plane"), ["cp1"]);
    assert_eq!(hosts("etcd"), ["cp1"]);
    assert_eq!(hosts("kube_node"), ["cp1", "worker1"]);
    let worker = &inventory["_meta"]["hostvars"]["worker1"];
    assert_eq!(worker["ansible_host"], "10.0.0.21");
    assert_eq!(worker["ip"], "10.1.0.21");
    assert_eq!(
        worker["files_repo"],
        "http://mirror.enclave.test:8080/files"
    );
    assert_eq!(worker["registry_host"], "mirror.enclave.test:8080");
    // [enclave].replicas: the load balancer in front of them, listening on the URL's port.
    let balancer = std::fs::read_to_string(env.media().join("config/nginx/balancer.conf")).unwrap();
    assert!(
        balancer.contains("server 10.0.0.11:8080 ")
            && balancer.contains("server [fd00::12]:8080 ")
            && balancer.contains("listen 8080;"),
        "{balancer}"
    );
    assert_eq!(worker["kube_version"], KUBE);
    assert_eq!(worker["etcd_version"], ETCD);
    assert_eq!(worker["containerd_version"], CONTAINERD);
    for variable in [
        "kube_image_repo",
        "gcr_image_repo",
        "docker_image_repo",
        "quay_image_repo",
        "github_image_repo",
    ] {
        assert!(
            worker[variable]
                .as_str()
                .unwrap()
                .starts_with("{{ registry_host }}/"),
            "{variable}: {}",
            worker[variable]
        );
    }
    let offline = std::fs::read_to_string(
        media.join("kubespray/inventory/airgap/group_vars/all/offline.yml"),
    )
    .unwrap();
    assert!(
        offline.contains(
            "#   readme: http://mirror.enclave.test:8080/files/127.0.0.1/site/readme.txt"
        ),
        "{offline}"
    );

    // Ansible templates each URL and checksum as Kubespray would on an amd64 and an arm64
    // node: the URL names a file of the media, and the checksum is that file's sha256.
    let prefix = "http://mirror.enclave.test:8080/files/";
    for (variable, checksum) in [
        ("kubeadm_download_url", "kubeadm_binary_checksum"),
        ("kubelet_download_url", "kubelet_binary_checksum"),
        ("kubectl_download_url", "kubectl_binary_checksum"),
        ("etcd_download_url", "etcd_binary_checksum"),
        ("containerd_download_url", "containerd_checksum"),
    ] {
        for arch in ["amd64", "arm64"] {
            let url = ansible_value(&media, "cp1", variable, arch);
            let relative = url
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("{variable} = {url} is not below files_repo"));
            let path = media.join("files").join(relative);
            let bytes = std::fs::read(&path).unwrap_or_else(|_| {
                panic!("{variable} ({arch}) = {url}: no such file on the media")
            });
            assert!(String::from_utf8_lossy(&bytes).contains(arch), "{url}");
            let sum = ansible_value(&media, "cp1", checksum, arch);
            assert_eq!(
                sum,
                format!("sha256:{}", sha256_hex(&bytes)),
                "{checksum} ({arch})"
            );
        }
    }
}

#[test]
fn render_changes_the_url_and_hosts_and_signs_the_tree_again() {
    let env = Env::new();
    let upstream = Upstream::start();
    kubespray_workspace(&env, &upstream);
    env.materialize(&[]).success();
    let media = env.media();
    let media_arg = media.to_str().unwrap();
    env.run(&[
        "render",
        media_arg,
        "--url",
        "https://10.9.9.9:8443",
        "--host",
        "n1=10.0.0.5/kube_control_plane,etcd,kube_node",
    ])
    .success()
    .stderr_has("Rendered");
    let inventory = ansible_inventory(&media);
    assert_eq!(inventory["kube_node"]["hosts"], serde_json::json!(["n1"]));
    assert_eq!(
        inventory["_meta"]["hostvars"]["n1"]["files_repo"],
        "https://10.9.9.9:8443/files"
    );
    assert!(inventory["_meta"]["hostvars"].get("cp1").is_none());
    let sources = std::fs::read_to_string(media.join("config/airgap-render.toml")).unwrap();
    assert!(sources.contains("https://10.9.9.9:8443"), "{sources}");
    // The tree still verifies, against the key that made it.
    let key = media.join("keys/airgap.asc");
    let pinned = env.temp.path().join("pinned.asc");
    std::fs::copy(&key, &pinned).unwrap();
    env.verify(&["--key", pinned.to_str().unwrap()]).success();
    assert_eq!(
        tool("sha256sum", &["--quiet", "-c", "SHA256SUMS"], &media).code,
        0
    );

    // --out leaves the tree alone and needs no key.
    let before = std::fs::read(media.join("SHA256SUMS")).unwrap();
    let out = env.temp.path().join("elsewhere");
    let mut command = env.command(&[
        "render",
        media_arg,
        "--url",
        "http://10.7.7.7",
        "--out",
        out.to_str().unwrap(),
    ]);
    command.env("XDG_CONFIG_HOME", env.temp.path().join("no-config"));
    let run = output(command);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let moved =
        std::fs::read_to_string(out.join("kubespray/inventory/airgap/group_vars/all/offline.yml"))
            .unwrap();
    assert!(
        moved.contains("files_repo: \"http://10.7.7.7/files\""),
        "{moved}"
    );
    assert_eq!(std::fs::read(media.join("SHA256SUMS")).unwrap(), before);

    // Without the tree's key, rendering into the tree is refused and changes nothing.
    let mut command = env.command(&["render", media_arg, "--url", "http://10.7.7.7"]);
    command.env("XDG_CONFIG_HOME", env.temp.path().join("no-config"));
    let run = output(command);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("--out DIR"), "{}", run.stderr);
    assert_eq!(std::fs::read(media.join("SHA256SUMS")).unwrap(), before);

    // A list someone changed is never signed again.
    let mut list = String::from_utf8(before.clone()).unwrap();
    list.push_str(&format!("{}  files/extra\n", "0".repeat(64)));
    std::fs::write(media.join("SHA256SUMS"), &list).unwrap();
    env.run(&["render", media_arg, "--url", "http://10.7.7.7"])
        .failure()
        .stderr_has("is not signed by this key");
    assert_eq!(
        std::fs::read_to_string(media.join("SHA256SUMS")).unwrap(),
        list
    );

    env.run(&["render", media_arg, "--host", "bad host"])
        .failure()
        .stderr_has("NAME=ADDRESS/GROUP");
}

#[test]
fn templates_from_a_directory_replace_the_built_in_ones_by_name() {
    let env = Env::new();
    env.workspace_file("artifacts/a", b"a");
    env.manifest(
        "files.toml",
        "[[file]]\nname = \"a\"\nurl = \"artifacts/a\"\npath = \"a\"\n",
    );
    let templates = env.temp.path().join("templates");
    std::fs::create_dir_all(templates.join("kubespray")).unwrap();
    std::fs::write(
        templates.join("kubespray/offline.yml.j2"),
        "# site copy\nfiles_repo: {{ files_repo | tojson }}\nsite_option: true\n",
    )
    .unwrap();
    env.materialize(&["--templates", templates.to_str().unwrap()])
        .success();
    let offline = std::fs::read_to_string(
        env.media()
            .join("kubespray/inventory/airgap/group_vars/all/offline.yml"),
    )
    .unwrap();
    assert_eq!(
        offline,
        "# site copy\nfiles_repo: \"http://127.0.0.1:8080/files\"\nsite_option: true\n"
    );
    env.verify(&[]).success();

    // A misnamed template and a broken one are errors that name the file.
    std::fs::write(templates.join("kubespray/ofline.yml.j2"), "x").unwrap();
    env.materialize(&["--templates", templates.to_str().unwrap()])
        .failure()
        .stderr_has("ofline.yml.j2")
        .stderr_has("kubespray/offline.yml.j2");
    std::fs::remove_file(templates.join("kubespray/ofline.yml.j2")).unwrap();
    std::fs::write(
        templates.join("kubespray/offline.yml.j2"),
        "{{ no_such_value }}\n",
    )
    .unwrap();
    env.materialize(&["--templates", templates.to_str().unwrap()])
        .failure()
        .stderr_has("kubespray/offline.yml.j2")
        .stderr_has("undefined");
}

/// Every file rendered for the quickstart, pinned. The tree's root and the signing key
/// differ per run and are replaced by placeholders.
#[test]
fn quickstart_rendered_files_snapshots() {
    let env = Env::new();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    let media = env.media();
    let mut command = env.command_in(&example);
    command.args(["materialize", "--locked", "--to", media.to_str().unwrap()]);
    let run = output(command);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let public_key = std::fs::read_to_string(media.join("keys/airgap.asc")).unwrap();
    let root = std::path::absolute(&media).unwrap();
    let mut rendered = Vec::new();
    for top in ["config", "kubespray"] {
        for entry in walkdir::WalkDir::new(media.join(top)).sort_by_file_name() {
            let entry = entry.unwrap();
            if entry.file_type().is_file() {
                rendered.push(entry.path().strip_prefix(&media).unwrap().to_path_buf());
            }
        }
    }
    assert!(rendered.len() >= 9, "{rendered:?}");
    for relative in rendered {
        let mut text = std::fs::read_to_string(media.join(&relative)).unwrap();
        text = text.replace(root.to_str().unwrap(), "<MEDIA>");
        for line in public_key
            .lines()
            .filter(|line| !line.is_empty() && !line.starts_with("-----"))
        {
            text = text.replace(line, "<KEY>");
        }
        // The key's length varies by a byte now and then: one placeholder for all its lines.
        while text.contains("<KEY>\n <KEY>") {
            text = text.replace("<KEY>\n <KEY>", "<KEY>");
        }
        let name = relative.to_string_lossy().replace(['/', ':'], "__");
        insta::assert_snapshot!(name, text);
    }
}
