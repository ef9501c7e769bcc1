//! The runtimes' own mirror configuration, checked by the real consumers with no upstream
//! registry running: podman and skopeo pull every locked image by its original name through the
//! rendered containers-registries.conf (through `airgap serve`, over TLS with the rendered
//! certs.d CA, and through a registry filled by `airgap push`, both layouts); Kubespray's own
//! CRI-O template, rendered by Ansible from the rendered `crio_registries`, gives a
//! registries.conf that podman pulls through; RKE2/k3s `registries.yaml` has the documented
//! structure and containerd, fed the same mirrors as `hosts.toml`, pulls through it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::registry::{Layout, Registry};
use crate::serve::{Containerd, ctr_pull, serve};
use crate::support::{BINARY, Env, Run, TestCa, output, sha256_hex};

/// A tree with an OCI index on registry.k8s.io, an image on quay.io and one on Docker Hub
/// (`busybox`, whose repository is `library/busybox`); (reference, locked digest) of each.
fn media(env: &Env, url: &str) -> Vec<(String, String)> {
    let mut layout = Layout::new(&env.workspace().join("images"));
    let base = layout.layer(&[("etc/os-release", b"ID=runtimes\n")]);
    let amd64 = layout.image("amd64", std::slice::from_ref(&base));
    let arm64 = layout.image("arm64", &[base.clone(), layout.layer(&[("arm", b"arm")])]);
    let index = layout.index(&[("amd64", &amd64), ("arm64", &arm64)]);
    layout.tag("v1.33.4", "application/vnd.oci.image.index.v1+json", &index);
    let calico = layout.image(
        "amd64",
        &[base.clone(), layout.layer(&[("calico", b"calico")])],
    );
    layout.tag(
        "v3.28.1",
        "application/vnd.oci.image.manifest.v1+json",
        &calico,
    );
    let busybox = layout.image("amd64", &[layout.layer(&[("bin/busybox", b"busybox")])]);
    layout.tag(
        "1.36",
        "application/vnd.oci.image.manifest.v1+json",
        &busybox,
    );
    env.manifest(
        "images.toml",
        &format!(
            "[enclave]\nurl = \"{url}\"\n\n\
             [[image]]\nref = \"registry.k8s.io/kube-apiserver:v1.33.4\"\nlayout = \"images\"\nplatforms = [\"all\"]\n\n\
             [[image]]\nref = \"quay.io/calico/node:v3.28.1\"\nlayout = \"images\"\n\n\
             [[image]]\nref = \"busybox:1.36\"\nlayout = \"images\"\n"
        ),
    );
    env.materialize(&[]).success();
    vec![
        (
            "registry.k8s.io/kube-apiserver:v1.33.4".to_string(),
            format!("sha256:{}", sha256_hex(&index)),
        ),
        (
            "quay.io/calico/node:v3.28.1".to_string(),
            format!("sha256:{}", sha256_hex(&calico)),
        ),
        (
            "docker.io/library/busybox:1.36".to_string(),
            format!("sha256:{}", sha256_hex(&busybox)),
        ),
    ]
}

/// `airgap render DIR --out OUT` with these arguments; the rendered directory.
fn render(env: &Env, name: &str, args: &[&str]) -> PathBuf {
    let out = env.temp.path().join(name);
    let mut command = Command::new(BINARY);
    command
        .arg("render")
        .arg(env.media())
        .arg("--out")
        .arg(&out)
        .args(args);
    let run = output(command);
    assert_eq!(run.code, 0, "render {args:?}: {}", run.stderr);
    out
}

/// podman as root with a private storage root, reading `conf` as its registries.conf.
fn podman(env: &Env, conf: &Path, args: &[&str]) -> Run {
    let storage = env.temp.path().join("podman");
    let mut command = Command::new("podman");
    command
        .arg("--root")
        .arg(storage.join("root"))
        .arg("--runroot")
        .arg(storage.join("run"))
        .args(["--storage-driver", "vfs"])
        .args(args)
        .env("CONTAINERS_REGISTRIES_CONF", conf);
    output(command)
}

/// `skopeo inspect --raw` of `reference` through `conf`: the digest of the bytes it got.
fn inspect(conf: &Path, reference: &str, extra: &[&str]) -> String {
    let mut command = Command::new("skopeo");
    command
        .arg("--registries-conf")
        .arg(conf)
        .arg("inspect")
        .arg("--raw")
        .args(extra)
        .arg(format!("docker://{reference}"));
    let run = output(command);
    assert_eq!(run.code, 0, "skopeo inspect {reference}: {}", run.stderr);
    format!("sha256:{}", sha256_hex(run.stdout.as_bytes()))
}

/// Every image pulls by its original name through `conf`: skopeo gets the locked bytes and
/// podman pulls (and so unpacks) it.
fn pulls_through(env: &Env, conf: &Path, images: &[(String, String)], extra: &[&str]) {
    for (reference, digest) in images {
        assert_eq!(&inspect(conf, reference, extra), digest, "{reference}");
        let mut args = vec!["pull", "--quiet"];
        args.extend_from_slice(extra);
        args.push(reference);
        let pulled = podman(env, conf, &args);
        assert_eq!(pulled.code, 0, "podman pull {reference}: {}", pulled.stderr);
    }
    let removed = podman(env, conf, &["rmi", "--all", "--force"]);
    assert_eq!(removed.code, 0, "{}", removed.stderr);
}

#[test]
fn podman_and_skopeo_pull_by_original_names_through_airgap_serve() {
    let env = Env::new();
    let images = media(&env, "http://mirror.enclave.test:8080");
    let served = serve(&env.media(), &[]);
    let url = format!("http://127.0.0.1:{}", served.port);
    let out = render(&env, "plain", &["--url", &url]);
    let conf = out.join("config/containers/registries.conf.d/50-airgap.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    for registry in ["registry.k8s.io", "quay.io", "docker.io"] {
        assert!(
            text.contains(&format!(
                "prefix = \"{registry}\"\nlocation = \"{registry}\"\n\n[[registry.mirror]]\nlocation = \"127.0.0.1:{}/{registry}\"\ninsecure = true",
                served.port
            )),
            "{text}"
        );
    }
    pulls_through(&env, &conf, &images, &[]);

    // Only the chosen runtimes are written; the tree's own rendering has them all.
    let only = render(&env, "only", &["--url", &url, "--runtime", "crio,rke2"]);
    assert!(
        only.join("config/containers/registries.conf.d/50-airgap.conf")
            .is_file()
    );
    assert!(only.join("config/rke2/registries.yaml").is_file());
    assert!(!only.join("config/k3s").exists() && !only.join("config/containerd").exists());
    let offline =
        std::fs::read_to_string(only.join("kubespray/inventory/airgap/group_vars/all/offline.yml"))
            .unwrap();
    assert!(
        offline.contains("container_manager: \"crio\"")
            && !offline.contains("containerd_registries_mirrors"),
        "{offline}"
    );
    for file in [
        "containerd/certs.d/quay.io/hosts.toml",
        "k3s/registries.yaml",
        "rke2/registries.yaml",
    ] {
        assert!(env.media().join("config").join(file).is_file(), "{file}");
    }
    let wrong = env.run(&[
        "render",
        env.media().to_str().unwrap(),
        "--out",
        "x",
        "--runtime",
        "docker",
    ]);
    wrong
        .failure()
        .stderr_has("`docker` is not a runtime")
        .stderr_has("containerd, crio, rke2, k3s");
}

#[test]
fn podman_and_skopeo_trust_the_private_ca_from_the_rendered_certs_d() {
    let env = Env::new();
    let images = media(&env, "https://mirror.enclave.test:8443");
    let tls = TestCa::write(&env.temp.path().join("tls"));
    let served = serve(
        &env.media(),
        &[
            "--tls-cert",
            tls.cert.to_str().unwrap(),
            "--tls-key",
            tls.key.to_str().unwrap(),
        ],
    );
    let host = format!("127.0.0.1:{}", served.port);
    let out = render(
        &env,
        "tls",
        &[
            "--url",
            &format!("https://{host}"),
            "--ca",
            tls.ca.to_str().unwrap(),
        ],
    );
    let conf = out.join("config/containers/registries.conf.d/50-airgap.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(!text.contains("insecure"), "{text}");
    let certs = out.join(format!("config/containers/certs.d/{host}"));
    assert_eq!(
        std::fs::read_to_string(certs.join("ca.crt")).unwrap(),
        std::fs::read_to_string(&tls.ca).unwrap()
    );
    let cert_dir = certs.to_str().unwrap();
    pulls_through(&env, &conf, &images, &["--cert-dir", cert_dir]);
    // Without the CA, TLS fails: the CA is what let them through.
    let mut command = Command::new("skopeo");
    command.arg("--registries-conf").arg(&conf).args([
        "inspect",
        "--raw",
        "docker://quay.io/calico/node:v3.28.1",
    ]);
    assert_ne!(output(command).code, 0);
}

#[test]
fn podman_pulls_by_original_names_from_a_pushed_registry_under_both_layouts() {
    let env = Env::new();
    let images = media(&env, "http://mirror.enclave.test:8080");
    let registry = Registry::start(&env.temp.path().join("registry"), None);
    for (layout, prefix) in [("nested", "mirror"), ("flat", "flat")] {
        let target = format!("http://{}/{prefix}", registry.host());
        let pushed = env.run(&[
            "push",
            env.media().to_str().unwrap(),
            "--registry",
            &target,
            "--layout",
            layout,
        ]);
        pushed.success();
        let out = render(&env, layout, &["--registry", &target, "--layout", layout]);
        let conf = out.join("config/containers/registries.conf.d/50-airgap.conf");
        let text = std::fs::read_to_string(&conf).unwrap();
        let expected = match layout {
            "nested" => format!("location = \"{}/mirror/quay.io\"", registry.host()),
            _ => format!("location = \"{}/flat\"", registry.host()),
        };
        assert!(text.contains(&expected), "{text}");
        pulls_through(&env, &conf, &images, &[]);
        // RKE2: the same target, with a rewrite that adds the prefix.
        let rke2: Registries = yaml_serde::from_str(
            &std::fs::read_to_string(out.join("config/rke2/registries.yaml")).unwrap(),
        )
        .expect("RKE2's documented structure");
        let quay = &rke2.mirrors["quay.io"];
        assert_eq!(quay.endpoint, [format!("http://{}", registry.host())]);
        let rewrite = quay.rewrite.as_ref().unwrap();
        assert_eq!(
            rewrite["^(.*)$"],
            if layout == "nested" {
                "mirror/quay.io/$1"
            } else {
                "flat/$1"
            }
        );
    }
}

/// RKE2's and k3s' `registries.yaml`, as their documentation describes it; unknown keys are
/// errors, so a misspelt key fails the test.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Registries {
    mirrors: BTreeMap<String, Mirror>,
    #[serde(default)]
    configs: BTreeMap<String, Config>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Mirror {
    endpoint: Vec<String>,
    #[serde(default)]
    rewrite: Option<BTreeMap<String, String>>,
}

// Fields the test does not read still belong to the schema being checked.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    auth: Option<BTreeMap<String, String>>,
    #[serde(default)]
    tls: Option<Tls>,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tls {
    #[serde(default)]
    ca_file: Option<String>,
    #[serde(default)]
    cert_file: Option<String>,
    #[serde(default)]
    key_file: Option<String>,
    #[serde(default)]
    insecure_skip_verify: Option<bool>,
}

#[test]
fn rke2_and_k3s_registries_yaml_lead_containerd_to_the_media() {
    let env = Env::new();
    let images = media(&env, "http://mirror.enclave.test:8080");
    let served = serve(&env.media(), &[]);
    let url = format!("http://127.0.0.1:{}", served.port);
    let tls = TestCa::write(&env.temp.path().join("tls"));
    let with_ca = render(
        &env,
        "ca",
        &["--url", &url, "--ca", tls.ca.to_str().unwrap()],
    );
    let parsed: Registries = yaml_serde::from_str(
        &std::fs::read_to_string(with_ca.join("config/k3s/registries.yaml")).unwrap(),
    )
    .expect("k3s' documented structure");
    let host = format!("127.0.0.1:{}", served.port);
    assert_eq!(
        parsed.configs[&host]
            .tls
            .as_ref()
            .unwrap()
            .ca_file
            .as_deref(),
        Some("/etc/rancher/k3s/airgap-enclave-ca.crt")
    );
    let out = render(&env, "rke2", &["--url", &url]);
    let rke2: Registries = yaml_serde::from_str(
        &std::fs::read_to_string(out.join("config/rke2/registries.yaml")).unwrap(),
    )
    .expect("RKE2's documented structure");
    for registry in ["registry.k8s.io", "quay.io", "docker.io"] {
        assert_eq!(
            rke2.mirrors[registry].endpoint,
            std::slice::from_ref(&url),
            "{registry}"
        );
        assert!(rke2.mirrors[registry].rewrite.is_none());
    }
    // What RKE2 does with it: one containerd hosts.toml per mirror, the endpoint as a host.
    let hosts = env.temp.path().join("from-rke2");
    for (registry, mirror) in &rke2.mirrors {
        let server = if registry == "docker.io" {
            "https://registry-1.docker.io".to_string()
        } else {
            format!("https://{registry}")
        };
        let directory = hosts.join(registry);
        std::fs::create_dir_all(&directory).unwrap();
        let mut text = format!("server = \"{server}\"\n");
        for endpoint in &mirror.endpoint {
            text.push_str(&format!(
                "\n[host.\"{endpoint}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
            ));
        }
        std::fs::write(directory.join("hosts.toml"), text).unwrap();
    }
    let containerd = Containerd::start(&env.temp.path().join("containerd"));
    for (reference, _) in &images {
        let pull = ctr_pull(&containerd, &hosts, reference);
        assert_eq!(
            pull.code, 0,
            "ctr pull {reference}: {}{}",
            pull.stdout, pull.stderr
        );
    }
}

/// `ansible-playbook` over a copy of the rendered inventory with Kubespray's role defaults
/// beneath it (`group_vars/all/000-kubespray-defaults.yml`, overridden by `offline.yml` as role
/// defaults are by inventory variables), running `tasks` on the host `node1` locally.
fn kubespray_play(env: &Env, rendered: &Path, tasks: &str, extra: &[&str]) -> Run {
    let inventory = env.temp.path().join("inventory");
    let _ = std::fs::remove_dir_all(&inventory);
    let source = rendered.join("kubespray/inventory/airgap");
    for file in crate::support::files_under(&source) {
        let target = inventory.join(&file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(source.join(&file), &target).unwrap();
    }
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/kubespray-v2.31.0");
    std::fs::copy(
        data.join("roles_kubespray_defaults_defaults_main_main.yml"),
        inventory.join("group_vars/all/000-kubespray-defaults.yml"),
    )
    .unwrap();
    // ansible.utils' ipwrap (a collection ansible-core does not ship), for nodelocaldns.
    let filters = env
        .temp
        .path()
        .join("collections/ansible_collections/ansible/utils/plugins/filter");
    std::fs::create_dir_all(&filters).unwrap();
    std::fs::write(
        filters.join("ipwrap.py"),
        "class FilterModule:\n    def filters(self):\n        return {'ipwrap': lambda value: '[%s]' % value if ':' in str(value) else value}\n",
    )
    .unwrap();
    let playbook = env.temp.path().join("play.yml");
    std::fs::write(
        &playbook,
        format!(
            "- hosts: node1\n  gather_facts: false\n  connection: local\n  vars:\n    ansible_python_interpreter: \"{{{{ ansible_playbook_python }}}}\"\n    data: {data:?}\n    out: {out:?}\n  tasks:\n{tasks}",
            data = data.display().to_string(),
            out = env.temp.path().join("out").display().to_string(),
        ),
    )
    .unwrap();
    std::fs::create_dir_all(env.temp.path().join("out")).unwrap();
    let mut command = Command::new("ansible-playbook");
    command
        .arg("-i")
        .arg(inventory.join("inventory.ini"))
        .arg(&playbook)
        .args(extra)
        .env(
            "ANSIBLE_COLLECTIONS_PATH",
            env.temp.path().join("collections"),
        )
        .env("ANSIBLE_LOCAL_TEMP", env.temp.path().join("ansible-tmp"))
        .env("ANSIBLE_HOME", env.temp.path().join("ansible-home"));
    let run = output(command);
    assert_eq!(
        run.code, 0,
        "ansible-playbook: {}{}",
        run.stdout, run.stderr
    );
    run
}

#[test]
fn kubespray_renders_crio_registries_that_podman_pulls_through() {
    let env = Env::new();
    let images = media(&env, "http://mirror.enclave.test:8080");
    let served = serve(&env.media(), &[]);
    let url = format!("http://127.0.0.1:{}", served.port);
    let out = render(
        &env,
        "crio",
        &[
            "--url",
            &url,
            "--host",
            "node1=127.0.0.1/kube_control_plane,etcd,kube_node",
        ],
    );
    // Kubespray's own variable, as Ansible sees it on a node with container_manager=crio.
    let mut command = Command::new("ansible");
    command
        .arg("node1")
        .arg("-i")
        .arg(out.join("kubespray/inventory/airgap/inventory.ini"))
        .args([
            "-m",
            "debug",
            "-a",
            "var=crio_registries",
            "-e",
            "container_manager=crio",
        ])
        .env("ANSIBLE_LOAD_CALLBACK_PLUGINS", "1")
        .env("ANSIBLE_STDOUT_CALLBACK", "json")
        .env("ANSIBLE_LOCAL_TEMP", env.temp.path().join("ansible-tmp"))
        .env("ANSIBLE_HOME", env.temp.path().join("ansible-home"));
    let run = output(command);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let registries = json["plays"][0]["tasks"][0]["hosts"]["node1"]["crio_registries"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", run.stdout))
        .clone();
    let prefixes: Vec<&str> = registries
        .iter()
        .map(|entry| entry["prefix"].as_str().unwrap())
        .collect();
    let own = format!("127.0.0.1:{}", served.port);
    assert_eq!(
        prefixes,
        ["docker.io", "quay.io", "registry.k8s.io", own.as_str()]
    );

    // Kubespray's template, once per item as its CRI-O role does, by Ansible's template module.
    kubespray_play(
        &env,
        &out,
        "    - ansible.builtin.template:\n        src: \"{{ data }}/roles_container-engine_cri-o_templates_registry.conf.j2\"\n        dest: \"{{ out }}/{{ item.prefix | regex_replace(':', '_') }}.conf\"\n      loop: \"{{ crio_registries }}\"\n",
        &["-e", "container_manager=crio"],
    );
    let mut conf = String::new();
    let parts = env.temp.path().join("out");
    for part in crate::support::files_under(&parts) {
        conf.push_str(&std::fs::read_to_string(parts.join(part)).unwrap());
        conf.push('\n');
    }
    let file = env.temp.path().join("kubespray-registries.conf");
    std::fs::write(&file, &conf).unwrap();
    pulls_through(&env, &file, &images, &[]);
}

#[test]
fn kubespray_renders_coredns_and_nodelocaldns_forwarding_the_dns_zones() {
    let env = Env::new();
    env.workspace_file("artifacts/a", b"a");
    env.manifest(
        "dns.toml",
        "[[file]]\nname = \"a\"\nurl = \"artifacts/a\"\n\n\
         [[kubespray.host]]\nname = \"node1\"\naddress = \"127.0.0.1\"\ngroups = [\"kube_control_plane\", \"etcd\", \"kube_node\"]\n\n\
         [[dns.forward]]\nzone = \"corp.example.com\"\nto = [\"10.0.0.53\", \"10.0.0.54\"]\n\n\
         [[dns.forward]]\nzone = \"lab.internal\"\nto = [\"10.9.0.53\"]\n",
    );
    env.materialize(&[]).success();
    // The role's own defaults and the task-set facts these templates also read.
    let extra = [
        "-e",
        r#"{"old_dns_domains": []}"#,
        "-e",
        "coredns_default_zone_cache_block='cache 30'",
        "-e",
        "forwardTarget=/etc/resolv.conf",
        "-e",
        "upstreamForwardTarget=/etc/resolv.conf",
        "-e",
        "nodelocaldns_prometheus_port=9253",
        "-e",
        "nodelocaldns_secondary_prometheus_port=9255",
        "-e",
        "cluster_name=cluster.local",
        "-e",
        "enable_coredns_reverse_dns_lookups=true",
    ];
    kubespray_play(
        &env,
        &env.media(),
        "    - ansible.builtin.template:\n        src: \"{{ data }}/roles_kubernetes-apps_ansible_templates_coredns-config.yml.j2\"\n        dest: \"{{ out }}/coredns.yml\"\n    - ansible.builtin.template:\n        src: \"{{ data }}/roles_kubernetes-apps_ansible_templates_nodelocaldns-config.yml.j2\"\n        dest: \"{{ out }}/nodelocaldns.yml\"\n",
        &extra,
    );
    for (file, bind) in [("coredns.yml", false), ("nodelocaldns.yml", true)] {
        let text = std::fs::read_to_string(env.temp.path().join("out").join(file)).unwrap();
        let map: yaml_serde::Value = yaml_serde::from_str(&text).expect("a ConfigMap");
        let corefile = map["data"]["Corefile"].as_str().unwrap();
        for (zone, resolvers) in [
            ("corp.example.com:53", "10.0.0.53 10.0.0.54"),
            ("lab.internal:53", "10.9.0.53"),
        ] {
            let start = corefile
                .find(&format!("{zone} {{"))
                .unwrap_or_else(|| panic!("{file} has no block for {zone}:\n{corefile}"));
            let block = &corefile[start..start + corefile[start..].find("\n}").unwrap()];
            assert!(
                block.contains(&format!("forward . {resolvers}")),
                "{file}: {block}"
            );
            assert_eq!(
                block.contains("bind 169.254.25.10"),
                bind,
                "{file}: {block}"
            );
        }
    }
}
