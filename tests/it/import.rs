//! `airgap import kubespray`: Kubespray v2.31.0's own defaults (data/) evaluated for
//! several configurations, compared with values read from those files by hand.

use std::path::{Path, PathBuf};

use crate::support::{Env, Run, output};

/// Lays the test data out as a Kubespray tree at `<directory>/kubespray`.
pub(crate) fn kubespray_tree(directory: &Path) -> PathBuf {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/kubespray-v2.31.0");
    let root = directory.join("kubespray");
    for (flat, path) in [
        (
            "roles_kubespray_defaults_defaults_main_download.yml",
            "roles/kubespray_defaults/defaults/main/download.yml",
        ),
        (
            "roles_kubespray_defaults_defaults_main_main.yml",
            "roles/kubespray_defaults/defaults/main/main.yml",
        ),
        (
            "roles_kubespray_defaults_vars_main_checksums.yml",
            "roles/kubespray_defaults/vars/main/checksums.yml",
        ),
        (
            "roles_kubespray_defaults_vars_main_main.yml",
            "roles/kubespray_defaults/vars/main/main.yml",
        ),
        (
            "roles_system_packages_vars_main.yml",
            "roles/system_packages/vars/main.yml",
        ),
        (
            "roles_system_packages_defaults_main.yml",
            "roles/system_packages/defaults/main.yml",
        ),
    ] {
        let target = root.join(path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(data.join(flat), target).unwrap();
    }
    root
}

fn import(env: &Env, args: &[&str]) -> Run {
    kubespray_tree(env.temp.path());
    let mut command = env.command_in(env.temp.path());
    command.current_dir(env.temp.path());
    command
        .args(["import", "kubespray", "kubespray"])
        .args(args);
    output(command)
}

/// Kubespray's checksum for a binary, read from checksums.yml.
fn checksum(table: &str, arch: &str, version: &str) -> String {
    let data = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/kubespray-v2.31.0/roles_kubespray_defaults_vars_main_checksums.yml");
    let yaml: serde_json::Value =
        yaml_serde::from_str(&std::fs::read_to_string(data).unwrap()).unwrap();
    yaml[table][arch][version]
        .as_str()
        .unwrap_or_else(|| panic!("{table}[{arch}][{version}]"))
        .to_string()
}

/// The `[[file]]` entry named `name` in the output.
fn file_entry<'a>(manifest: &'a str, name: &str) -> &'a str {
    let start = manifest
        .find(&format!("[[file]]\nname = \"{name}\"\n"))
        .unwrap_or_else(|| panic!("no [[file]] {name} in:\n{manifest}"));
    let rest = &manifest[start..];
    let end = rest[8..].find("\n\n").map_or(rest.len(), |end| end + 8);
    &rest[..end]
}

#[test]
fn defaults_give_the_enabled_downloads_with_kubespray_checksums() {
    let env = Env::new();
    let run = import(&env, &["--kube-version", "1.35.4", "--arch", "amd64"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let manifest = &run.stdout;
    // Values read from download.yml by hand for kube 1.35.4: etcd 3.6.10, CNI 1.9.1,
    // crictl 1.35.0, runc 1.4.2, containerd 2.2.3, nerdctl 2.2.2, Calico 3.31.5.
    for (name, url, table, version) in [
        (
            "kubeadm",
            "https://dl.k8s.io/release/v1.35.4/bin/linux/amd64/kubeadm",
            "kubeadm_checksums",
            "1.35.4",
        ),
        (
            "kubelet",
            "https://dl.k8s.io/release/v1.35.4/bin/linux/amd64/kubelet",
            "kubelet_checksums",
            "1.35.4",
        ),
        (
            "kubectl",
            "https://dl.k8s.io/release/v1.35.4/bin/linux/amd64/kubectl",
            "kubectl_checksums",
            "1.35.4",
        ),
        (
            "etcd",
            "https://github.com/etcd-io/etcd/releases/download/v3.6.10/etcd-v3.6.10-linux-amd64.tar.gz",
            "etcd_binary_checksums",
            "3.6.10",
        ),
        (
            "cni",
            "https://github.com/containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-amd64-v1.9.1.tgz",
            "cni_binary_checksums",
            "1.9.1",
        ),
        (
            "crictl",
            "https://github.com/kubernetes-sigs/cri-tools/releases/download/v1.35.0/crictl-v1.35.0-linux-amd64.tar.gz",
            "crictl_checksums",
            "1.35.0",
        ),
        (
            "runc",
            "https://github.com/opencontainers/runc/releases/download/v1.4.2/runc.amd64",
            "runc_checksums",
            "1.4.2",
        ),
        (
            "containerd",
            "https://github.com/containerd/containerd/releases/download/v2.2.3/containerd-2.2.3-linux-amd64.tar.gz",
            "containerd_archive_checksums",
            "2.2.3",
        ),
        (
            "nerdctl",
            "https://github.com/containerd/nerdctl/releases/download/v2.2.2/nerdctl-2.2.2-linux-amd64.tar.gz",
            "nerdctl_archive_checksums",
            "2.2.2",
        ),
        (
            "calicoctl",
            "https://github.com/projectcalico/calico/releases/download/v3.31.5/calicoctl-linux-amd64",
            "calicoctl_binary_checksums",
            "3.31.5",
        ),
    ] {
        let entry = file_entry(manifest, name);
        assert!(entry.contains(&format!("url = \"{url}\"")), "{entry}");
        let sum = checksum(table, "amd64", version);
        assert!(
            entry.contains(&format!("sha256 = \"{sum}\"")),
            "{name}: {entry}"
        );
    }
    for image in [
        "quay.io/calico/node:v3.31.5",
        "quay.io/calico/cni:v3.31.5",
        "quay.io/calico/kube-controllers:v3.31.5",
        "registry.k8s.io/pause:3.10.1",
        "registry.k8s.io/coredns/coredns:v1.12.4",
        "registry.k8s.io/dns/k8s-dns-node-cache:1.25.0",
        "registry.k8s.io/kube-apiserver:v1.35.4",
        "registry.k8s.io/kube-controller-manager:v1.35.4",
        "registry.k8s.io/kube-scheduler:v1.35.4",
        "registry.k8s.io/kube-proxy:v1.35.4",
    ] {
        assert!(
            manifest.contains(&format!("ref = \"{image}\"")),
            "{image} missing:\n{manifest}"
        );
    }
    for absent in ["cilium", "kata", "gvisor", "crio", "flannel"] {
        assert!(
            !manifest.contains(absent),
            "{absent} is not enabled by default:\n{manifest}"
        );
    }
    // Each entry names its Kubespray download key.
    assert!(manifest.contains("# kubespray download `kubeadm` (kubeadm_download_url)"));

    // The output is a manifest airgap reads.
    std::fs::write(env.workspace().join("manifests/kubespray.toml"), manifest).unwrap();
    let checked = env.run(&["lock", "--offline"]);
    assert!(
        !checked.stderr.contains("manifests/kubespray.toml:"),
        "{}",
        checked.stderr
    );
}

#[test]
fn several_architectures_share_one_entry_with_a_checksum_each() {
    let env = Env::new();
    let run = import(&env, &["--arch", "amd64,arm64"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let entry = file_entry(&run.stdout, "kubeadm");
    assert!(
        entry.contains("url = \"https://dl.k8s.io/release/v1.35.4/bin/linux/{arch}/kubeadm\""),
        "{entry}"
    );
    assert!(entry.contains("arch = [\"amd64\", \"arm64\"]"), "{entry}");
    assert!(
        entry.contains(&format!(
            "arm64 = \"{}\"",
            checksum("kubeadm_checksums", "arm64", "1.35.4")
        )),
        "{entry}"
    );
    assert!(
        run.stdout
            .contains("platforms = [\"linux/amd64\", \"linux/arm64\"]")
    );
}

#[test]
fn all_lists_every_download_url_and_image_of_download_yml() {
    let env = Env::new();
    let run = import(&env, &["--all"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let download = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("data/kubespray-v2.31.0/roles_kubespray_defaults_defaults_main_download.yml"),
    )
    .unwrap();
    let table = download.split("\ndownloads:\n").nth(1).unwrap();
    let mut key = "";
    let mut checked = 0;
    for line in table.lines() {
        if let Some(name) = line
            .strip_prefix("  ")
            .and_then(|rest| rest.strip_suffix(':'))
            && !name.starts_with(' ')
        {
            key = name;
        }
        let trimmed = line.trim();
        if trimmed.starts_with("url: ") || trimmed.starts_with("repo: ") {
            assert!(
                run.stdout
                    .contains(&format!("# kubespray download `{key}`")),
                "downloads.{key} ({trimmed}) is missing from --all"
            );
            checked += 1;
        }
    }
    assert!(checked > 60, "{checked}");
    for line in download.lines() {
        if let Some((variable, _)) = line.split_once("_download_url:")
            && !variable.starts_with('#')
            && !variable.contains(' ')
        {
            assert!(
                run.stdout.contains(&format!("({variable}_download_url)")),
                "{variable}_download_url is missing from --all"
            );
        }
    }
}

#[test]
fn set_and_inventory_change_the_selection_with_ansible_precedence() {
    let env = Env::new();
    let run = import(
        &env,
        &[
            "--set",
            "kube_network_plugin=cilium",
            "--set",
            "container_manager=crio",
            "--arch",
            "arm64",
            "--kube-version",
            "1.33.10",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let manifest = &run.stdout;
    assert!(
        manifest.contains("ref = \"quay.io/cilium/cilium:v1.19.3\""),
        "{manifest}"
    );
    assert!(
        manifest.contains("ref = \"quay.io/cilium/operator:v1.19.3\""),
        "{manifest}"
    );
    let crio = file_entry(manifest, "crio");
    assert!(crio.contains("cri-o.arm64.v1.33."), "{crio}");
    assert!(file_entry(manifest, "kubeadm").contains("/v1.33.10/bin/linux/arm64/kubeadm"));
    assert!(!manifest.contains("calico"), "{manifest}");
    assert!(
        !manifest.contains("[[file]]\nname = \"containerd\""),
        "{manifest}"
    );

    // group_vars beat the defaults; --set beats group_vars.
    let inventory = env.temp.path().join("inventory");
    std::fs::create_dir_all(inventory.join("group_vars/k8s_cluster")).unwrap();
    std::fs::write(
        inventory.join("group_vars/k8s_cluster/k8s-net.yml"),
        "kube_network_plugin: flannel\nhelm_enabled: true\n",
    )
    .unwrap();
    let from_inventory = import(&env, &["--inventory", inventory.to_str().unwrap()]);
    assert_eq!(from_inventory.code, 0, "{}", from_inventory.stderr);
    assert!(
        from_inventory
            .stdout
            .contains("docker.io/flannel/flannel:v0.28.4"),
        "{}",
        from_inventory.stdout
    );
    assert!(from_inventory.stdout.contains("[[file]]\nname = \"helm\""));
    let overridden = import(
        &env,
        &[
            "--inventory",
            inventory.to_str().unwrap(),
            "--set",
            "kube_network_plugin=calico",
        ],
    );
    assert!(
        overridden.stdout.contains("quay.io/calico/node"),
        "{}",
        overridden.stdout
    );
    assert!(!overridden.stdout.contains("flannel"));
}

#[test]
fn a_value_that_cannot_be_evaluated_is_an_error_naming_it() {
    let env = Env::new();
    let run = import(&env, &["--kube-version", "1.99.0"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stderr.contains("cannot evaluate `"), "{}", run.stderr);
    assert!(
        run.stderr.contains("{{"),
        "the expression is named: {}",
        run.stderr
    );
    assert!(run.stdout.is_empty());

    let run = import(&env, &["--set", "nonsense"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("KEY=VALUE"), "{}", run.stderr);
}

#[test]
fn a_bare_repository_gives_the_same_manifest_as_its_work_tree() {
    let env = Env::new();
    let tree = kubespray_tree(env.temp.path());
    let git = |args: &[&str], directory: &Path| {
        let run = crate::support::tool("git", args, directory);
        assert_eq!(run.code, 0, "git {args:?}: {}", run.stderr);
        run.stdout
    };
    git(&["init", "-q", "-b", "main"], &tree);
    git(&["add", "."], &tree);
    git(
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "v2.31.0",
        ],
        &tree,
    );
    let bare = env.temp.path().join("kubespray.git");
    git(
        &[
            "clone",
            "-q",
            "--bare",
            tree.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
        env.temp.path(),
    );
    let commit = git(&["rev-parse", "HEAD"], &tree);
    let from_tree = output({
        let mut command = env.command(&["import", "kubespray", tree.to_str().unwrap()]);
        command.current_dir(env.temp.path());
        command
    });
    let from_bare = output({
        let mut command = env.command(&[
            "import",
            "kubespray",
            bare.to_str().unwrap(),
            "--rev",
            "main",
        ]);
        command.current_dir(env.temp.path());
        command
    });
    assert_eq!(from_bare.code, 0, "{}", from_bare.stderr);
    assert!(
        from_bare.stdout.contains(commit.trim()),
        "the commit is named"
    );
    let body = |text: &str| text.lines().skip(3).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&from_tree.stdout), body(&from_bare.stdout));
}

#[test]
fn the_repository_manifest_is_what_the_import_gives() {
    let env = Env::new();
    let run = import(&env, &["--kube-version", "1.35.4", "--arch", "amd64,arm64"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/kubespray-v2.31.0-downloads.toml"),
    )
    .unwrap();
    assert_eq!(
        committed.trim_end(),
        run.stdout.trim_end(),
        "regenerate it as the README shows"
    );
}

/// The `packages = [...]` list of the entry of kind `table` in the output.
fn os_packages(manifest: &str, table: &str) -> Vec<String> {
    let start = manifest
        .find(&format!("[[{table}]]"))
        .unwrap_or_else(|| panic!("no [[{table}]] in:\n{manifest}"));
    let line = manifest[start..]
        .lines()
        .find(|line| line.starts_with("packages = "))
        .unwrap();
    let list: toml::Table = toml::from_str(line).unwrap();
    list["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|name| name.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn os_packages_are_what_kubespray_installs_on_that_system() {
    // Read by hand from roles/system_packages/vars/main.yml with Kubespray's defaults
    // (kube_proxy_mode ipvs, ntp off, ping_access_ip on) for a node of k8s_cluster.
    let env = Env::new();
    let run = import(&env, &["--os", "debian-12"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let debian = [
        "apparmor",
        "apt-transport-https",
        "bash-completion",
        "conntrack",
        "curl",
        "e2fsprogs",
        "ebtables",
        "gnupg",
        "iproute2",
        "iptables",
        "iputils-ping",
        "ipvsadm",
        "libseccomp2",
        "mergerfs",
        "openssl",
        "python3-apt",
        "rsync",
        "socat",
        "software-properties-common",
        "tar",
        "unzip",
        "xfsprogs",
    ];
    assert_eq!(os_packages(&run.stdout, "apt"), debian);
    assert!(run.stdout.contains("suite = \"bookworm\""));
    assert!(run.stdout.contains("# url = "));

    let run = import(
        &env,
        &["--os", "rocky-9", "--set", "kube_proxy_mode=nftables"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rocky = [
        "bash-completion",
        "conntrack",
        "container-selinux",
        "curl",
        "device-mapper-libs",
        "e2fsprogs",
        "ebtables",
        "iproute",
        "ipset",
        "iptables",
        "iputils",
        "libseccomp",
        "nftables",
        "nss",
        "openssl",
        "rsync",
        "socat",
        "tar",
        "unzip",
        "xfsprogs",
    ];
    assert_eq!(os_packages(&run.stdout, "yum"), rocky);
    assert!(run.stdout.contains("arch = \"x86_64\""));

    // Debian 11 has no mergerfs but gnupg; Ubuntu neither.
    let run = import(&env, &["--os", "ubuntu-24.04"]);
    let ubuntu = os_packages(&run.stdout, "apt");
    assert!(!ubuntu.contains(&"gnupg".to_string()) && !ubuntu.contains(&"mergerfs".to_string()));
    assert!(run.stdout.contains("suite = \"noble\""));

    let run = import(&env, &["--os", "opensuse-15"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("debian-12"), "{}", run.stderr);
}
