//! `[[chart]]` from HTTP repositories made by a real `helm` (`helm package`, `helm repo index`),
//! and the media's `charts/` served by `airgap serve` to `helm repo add` + `helm pull`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Env, Run, output, sha256_hex};
use crate::upstream::Upstream;

pub(crate) fn helm_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let binary = root.join("target/tools/helm");
    crate::support::build_once("helm-tool", &binary);
    binary
}

/// `helm` with its config, cache and data in the test's own directory.
fn helm(env: &Env, args: &[&str], directory: &Path) -> Run {
    let home = env.temp.path().join("helm-home");
    let mut command = Command::new(helm_binary());
    command
        .args(args)
        .current_dir(directory)
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env("HELM_REGISTRY_CONFIG", home.join("registry.json"));
    let run = output(command);
    assert_eq!(run.code, 0, "helm {args:?}: {}{}", run.stdout, run.stderr);
    run
}

/// A chart repository with `demo` 1.0.0, 1.2.0 and 2.0.0-rc.1, indexed by helm.
fn repository(env: &Env) -> PathBuf {
    let build = env.temp.path().join("charts-build");
    let repo = env.temp.path().join("charts-repo");
    std::fs::create_dir_all(&build).unwrap();
    std::fs::create_dir_all(&repo).unwrap();
    for version in ["1.0.0", "1.2.0", "2.0.0-rc.1"] {
        let chart = build.join(format!("demo-{version}"));
        std::fs::create_dir_all(chart.join("templates")).unwrap();
        std::fs::write(
            chart.join("Chart.yaml"),
            format!("apiVersion: v2\nname: demo\nversion: {version}\nappVersion: \"{version}\"\ndescription: a chart for the airgap tests\n"),
        )
        .unwrap();
        std::fs::write(chart.join("values.yaml"), "replicas: 1\n").unwrap();
        std::fs::write(
            chart.join("templates/configmap.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\ndata:\n  replicas: \"{{ .Values.replicas }}\"\n",
        )
        .unwrap();
        helm(
            env,
            &[
                "package",
                chart.to_str().unwrap(),
                "-d",
                repo.to_str().unwrap(),
            ],
            &build,
        );
    }
    helm(env, &["repo", "index", repo.to_str().unwrap()], &build);
    repo
}

#[test]
fn charts_lock_to_the_newest_matching_version_and_the_media_is_a_helm_repository() {
    let env = Env::new();
    let repo = repository(&env);
    let upstream = Upstream::start();
    crate::support::serve_directory(&upstream, &repo);
    let base = upstream.url("").trim_end_matches('/').to_string();
    env.manifest(
        "charts.toml",
        &format!("[[chart]]\nname = \"demo\"\nrepo = \"{base}\"\nversion = \"^1.0\"\n"),
    );
    env.run(&["lock"]).success();
    let archive = std::fs::read(repo.join("demo-1.2.0.tgz")).unwrap();
    let lock = env.lock_text();
    assert!(
        lock.contains("version = \"1.2.0\""),
        "a prerelease is not taken for ^1.0: {lock}"
    );
    assert!(
        lock.contains(&format!("sha256:{}", sha256_hex(&archive))),
        "{lock}"
    );

    // An exact version.
    env.manifest(
        "charts.toml",
        &format!("[[chart]]\nname = \"demo\"\nrepo = \"{base}\"\nversion = \"1.0.0\"\n"),
    );
    env.run(&["lock"]).success();
    assert!(env.lock_text().contains("version = \"1.0.0\""));
    env.manifest(
        "charts.toml",
        &format!("[[chart]]\nname = \"demo\"\nrepo = \"{base}\"\nversion = \"^1.0\"\n"),
    );

    env.materialize(&[]).success();
    env.verify(&[]).success();
    let served = crate::serve::serve(&env.media(), &[]);
    let pulled = env.temp.path().join("pulled");
    std::fs::create_dir_all(&pulled).unwrap();
    // The rendered repositories.yaml names the media's chart repository.
    let repositories =
        std::fs::read_to_string(env.media().join("config/helm/repositories.yaml")).unwrap();
    assert!(
        repositories.contains("name: airgap") && repositories.contains("/charts"),
        "{repositories}"
    );
    helm(
        &env,
        &[
            "repo",
            "add",
            "media",
            &format!("http://127.0.0.1:{}/charts", served.port),
        ],
        env.temp.path(),
    );
    helm(
        &env,
        &[
            "pull",
            "media/demo",
            "--version",
            "1.2.0",
            "-d",
            pulled.to_str().unwrap(),
        ],
        env.temp.path(),
    );
    assert_eq!(
        std::fs::read(pulled.join("demo-1.2.0.tgz")).unwrap(),
        archive,
        "helm pull gives the same archive bytes"
    );
    let search = helm(
        &env,
        &["search", "repo", "media/demo", "--versions"],
        env.temp.path(),
    );
    assert!(
        search.stdout.contains("1.2.0") && !search.stdout.contains("1.0.0"),
        "the index lists exactly the media's charts: {}",
        search.stdout
    );
}

#[test]
fn chart_errors_are_clear() {
    let env = Env::new();
    let repo = repository(&env);
    let upstream = Upstream::start();
    crate::support::serve_directory(&upstream, &repo);
    let base = upstream.url("").trim_end_matches('/').to_string();
    env.manifest(
        "charts.toml",
        &format!("[[chart]]\nname = \"demo\"\nrepo = \"{base}\"\nversion = \"^3\"\n"),
    );
    env.run(&["lock"])
        .failure()
        .stderr_has("no version of `demo` matches `^3`")
        .stderr_has("1.2.0");
    env.manifest(
        "charts.toml",
        &format!("[[chart]]\nname = \"other\"\nrepo = \"{base}\"\nversion = \"1.0.0\"\n"),
    );
    env.run(&["lock"])
        .failure()
        .stderr_has("has no chart named `other`");
    // A remote index pointing at this machine's files is refused, and nothing is read.
    let secret = env.temp.path().join("secret.txt");
    std::fs::write(&secret, "not for the media").unwrap();
    let hostile = Upstream::start();
    hostile.put(
        "index.yaml",
        format!(
            "apiVersion: v1\nentries:\n  demo:\n  - name: demo\n    version: 1.0.0\n    urls:\n    - file://{}\n",
            secret.display()
        ),
    );
    env.manifest(
        "charts.toml",
        &format!(
            "[[chart]]\nname = \"demo\"\nrepo = \"{}\"\nversion = \"1.0.0\"\n",
            hostile.url("").trim_end_matches('/')
        ),
    );
    env.run(&["lock"])
        .failure()
        .stderr_has("which is not an http(s) URL");
    assert!(!env.workspace().join("airgap.lock").exists());
}

#[test]
fn oci_charts_lock_to_manifests_and_helm_pulls_them_from_airgap_serve() {
    let env = Env::new();
    let repo = repository(&env);
    let registry = crate::registry::Registry::start(&env.temp.path().join("registry"), None);
    for version in ["1.0.0", "1.2.0"] {
        let archive = repo.join(format!("demo-{version}.tgz"));
        helm(
            &env,
            &[
                "push",
                archive.to_str().unwrap(),
                &format!("oci://{}/charts", registry.host()),
                "--plain-http",
            ],
            env.temp.path(),
        );
    }
    env.manifest(
        "charts.toml",
        &format!(
            "[[chart]]\nname = \"demo\"\nrepo = \"oci://{}/charts\"\nversion = \"~1.2\"\n",
            registry.host()
        ),
    );
    env.run(&["lock"]).success();
    let archive = std::fs::read(repo.join("demo-1.2.0.tgz")).unwrap();
    let lock = env.lock_text();
    assert!(lock.contains("version = \"1.2.0\""), "{lock}");
    assert!(
        lock.contains(&format!("sha256:{}", sha256_hex(&archive))),
        "the chart layer is helm's archive: {lock}"
    );
    let manifest_digest =
        crate::registry::raw_digest(&format!("{}/charts/demo:1.2.0", registry.host()), &[]);
    assert!(lock.contains(&manifest_digest), "{lock}");

    env.materialize(&[]).success();
    env.verify(&[]).success();
    drop(registry);
    let served = crate::serve::serve(&env.media(), &[]);
    let pulled = env.temp.path().join("pulled-oci");
    std::fs::create_dir_all(&pulled).unwrap();
    helm(
        &env,
        &[
            "pull",
            &format!("oci://127.0.0.1:{}/charts/demo", served.port),
            "--version",
            "1.2.0",
            "--plain-http",
            "-d",
            pulled.to_str().unwrap(),
        ],
        env.temp.path(),
    );
    assert_eq!(
        std::fs::read(pulled.join("demo-1.2.0.tgz")).unwrap(),
        archive
    );
    // The same chart is also in the media's HTTP repository.
    assert_eq!(
        std::fs::read(env.media().join("charts/demo-1.2.0.tgz")).unwrap(),
        archive
    );
}

/// Packages the chart directory `chart` with helm into a repository served on loopback, and
/// writes a `[[chart]]` entry for it with `images = true`.
fn chart_with_images(env: &Env, chart: &Path, name: &str, version: &str) -> Upstream {
    let repo = env.temp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let directory = env.temp.path();
    helm(
        env,
        &[
            "package",
            chart.to_str().unwrap(),
            "-d",
            repo.to_str().unwrap(),
        ],
        directory,
    );
    helm(env, &["repo", "index", repo.to_str().unwrap()], directory);
    let upstream = Upstream::start();
    crate::support::serve_directory(&upstream, &repo);
    env.manifest(
        "charts.toml",
        &format!(
            "[[chart]]\nname = \"{name}\"\nrepo = \"{}\"\nversion = \"{version}\"\nimages = true\n",
            upstream.url("").trim_end_matches('/')
        ),
    );
    upstream
}

#[test]
fn chart_images_become_image_entries_marked_with_their_chart() {
    let env = Env::new();
    let registry = crate::registry::Registry::start(&env.temp.path().join("registry"), None);
    let host = registry.host();
    let mut layout = crate::registry::Layout::new(&env.temp.path().join("images"));
    let layer = layout.layer(&[("app", b"app")]);
    let image = layout.image("amd64", &[layer]);
    layout.tag("one", "application/vnd.oci.image.manifest.v1+json", &image);
    crate::registry::push(&layout.dir, "one", &format!("{host}/team/app:1.5"), &[]);
    crate::registry::push(&layout.dir, "one", &format!("{host}/team/helper:2"), &[]);
    crate::registry::push(&layout.dir, "one", &format!("{host}/team/rendered:3"), &[]);
    crate::registry::push(&layout.dir, "one", &format!("{host}/team/locked:4"), &[]);
    crate::registry::push(&layout.dir, "one", &format!("{host}/team/annotated:5"), &[]);

    // A chart that names one image in values.yaml (tag from appVersion) and one in its
    // artifacthub.io/images annotation; a templated image string is ignored.
    let chart = env.temp.path().join("build/withimages");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        format!(
            "apiVersion: v2\nname: withimages\nversion: 0.3.0\nappVersion: \"1.5\"\nannotations:\n  artifacthub.io/images: |\n    - name: helper\n      image: {host}/team/helper:2\n  helm.sh/images: |\n    - name: annotated\n      image: {host}/team/annotated:5\n"
        ),
    )
    .unwrap();
    std::fs::write(
        chart.join("values.yaml"),
        format!(
            "image:\n  registry: {host}\n  repository: team/app\n  tag: \"\"\nsidecar:\n  image: \"{{{{ .Values.sidecarImage }}}}\"\ndeploy:\n  ref: {host}/team/rendered:3\n"
        ),
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
    )
    .unwrap();
    std::fs::write(
        chart.join(".images.lock.yaml"),
        format!("images:\n  - name: locked\n    image: {host}/team/locked:4\n"),
    )
    .unwrap();
    // Only `helm template` finds this one: the value is not under an `image` key.
    std::fs::write(
        chart.join("templates/pod.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n    - name: x\n      image: {{ .Values.deploy.ref }}\n",
    )
    .unwrap();
    let _upstream = chart_with_images(&env, &chart, "withimages", "0.3.0");
    // With helm on the PATH, `helm template` is read too.
    let mut command = env.command(&["lock"]);
    let path = format!(
        "{}:{}",
        helm_binary().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    command.env("PATH", path);
    crate::support::output(command).success();
    let lock: toml::Table = toml::from_str(&env.lock_text()).unwrap();
    let images = lock["image"].as_array().unwrap();
    let references: Vec<(&str, &str)> = images
        .iter()
        .map(|image| {
            (
                image["ref"].as_str().unwrap(),
                image["chart"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        references,
        [
            (format!("{host}/team/annotated:5").as_str(), "withimages"),
            (format!("{host}/team/app:1.5").as_str(), "withimages"),
            (format!("{host}/team/helper:2").as_str(), "withimages"),
            (format!("{host}/team/locked:4").as_str(), "withimages"),
            (format!("{host}/team/rendered:3").as_str(), "withimages"),
        ]
    );
    // Relocking keeps them with their chart; materialize carries them.
    env.run(&["lock", "--locked"]).success();
    env.materialize(&[]).success();
    let index = std::fs::read_to_string(env.media().join("oci/index.json")).unwrap();
    assert!(
        index.contains(&format!("{host}/team/app:1.5"))
            && index.contains(&format!("{host}/team/helper:2")),
        "{index}"
    );
}

#[test]
fn dependencies_a_chart_does_not_vendor_are_pinned_too() {
    let env = Env::new();
    let repo = repository(&env);
    let upstream = Upstream::start();
    let base = upstream.url("").trim_end_matches('/').to_string();
    // An umbrella chart that needs demo ^1.0 from the same repository, without vendoring it.
    let umbrella = env.temp.path().join("build/umbrella");
    std::fs::create_dir_all(umbrella.join("templates")).unwrap();
    std::fs::write(
        umbrella.join("Chart.yaml"),
        format!("apiVersion: v2\nname: umbrella\nversion: 1.0.0\ndependencies:\n  - name: demo\n    version: \"^1.0\"\n    repository: {base}\n"),
    )
    .unwrap();
    // `helm package` refuses unvendored dependencies; a chart archive is a gzip'd tar of the
    // chart's directory, which is how upstreams that publish such charts build them.
    let packed = crate::support::tool(
        "tar",
        &[
            "-czf",
            repo.join("umbrella-1.0.0.tgz").to_str().unwrap(),
            "-C",
            umbrella.parent().unwrap().to_str().unwrap(),
            "umbrella",
        ],
        env.temp.path(),
    );
    assert_eq!(packed.code, 0, "{}", packed.stderr);
    helm(
        &env,
        &["repo", "index", repo.to_str().unwrap()],
        env.temp.path(),
    );
    crate::support::serve_directory(&upstream, &repo);
    env.manifest(
        "charts.toml",
        &format!("[[chart]]\nname = \"umbrella\"\nrepo = \"{base}\"\nversion = \"1.0.0\"\n"),
    );
    env.run(&["lock"]).success();
    let lock: toml::Table = toml::from_str(&env.lock_text()).unwrap();
    let charts: Vec<(String, String, String)> = lock["chart"]
        .as_array()
        .unwrap()
        .iter()
        .map(|chart| {
            (
                chart["name"].as_str().unwrap().to_string(),
                chart["version"].as_str().unwrap().to_string(),
                chart
                    .get("dependency_of")
                    .and_then(|value| value.as_str())
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        charts,
        [
            (
                "demo".to_string(),
                "1.2.0".to_string(),
                "umbrella".to_string()
            ),
            ("umbrella".to_string(), "1.0.0".to_string(), String::new()),
        ]
    );
    env.run(&["lock", "--locked"]).success();
    env.materialize(&[]).success();
    env.verify(&[]).success();
    assert!(env.media().join("charts/demo-1.2.0.tgz").exists());
    let index = std::fs::read_to_string(env.media().join("charts/index.yaml")).unwrap();
    assert!(
        index.contains("umbrella") && index.contains("demo"),
        "{index}"
    );
}

#[test]
fn relocation_values_make_helm_template_name_only_the_enclave_registry() {
    let env = Env::new();
    let upstream_registry =
        crate::registry::Registry::start(&env.temp.path().join("upstream"), None);
    let host = upstream_registry.host();
    let mut layout = crate::registry::Layout::new(&env.temp.path().join("images"));
    let layer = layout.layer(&[("app", b"app")]);
    let image = layout.image("amd64", &[layer]);
    layout.tag("one", "application/vnd.oci.image.manifest.v1+json", &image);
    for name in ["app:1.5", "helper:2", "rendered:3", "worker:7"] {
        crate::registry::push(&layout.dir, "one", &format!("{host}/team/{name}"), &[]);
    }
    // Four ways a chart names an image: a map with registry and digest fields (tag from
    // appVersion), a map whose repository carries the registry, an `image:` string, and a
    // string under another key that a template puts into an image field.
    let chart = env.temp.path().join("build/relocatable");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: relocatable\nversion: 0.1.0\nappVersion: \"1.5\"\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("values.yaml"),
        format!(
            "image:\n  registry: {host}\n  repository: team/app\n  tag: \"\"\n  digest: \"\"\nworker:\n  image:\n    repository: {host}/team/worker\n    tag: \"7\"\nsidecar:\n  image: {host}/team/helper:2\ndeploy:\n  ref: {host}/team/rendered:3\n"
        ),
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/pod.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n\
         \x20   - name: app\n      image: \"{{ .Values.image.registry }}/{{ .Values.image.repository }}{{ if .Values.image.digest }}@{{ .Values.image.digest }}{{ else }}:{{ .Values.image.tag | default .Chart.AppVersion }}{{ end }}\"\n\
         \x20   - name: worker\n      image: \"{{ .Values.worker.image.repository }}:{{ .Values.worker.image.tag }}\"\n\
         \x20   - name: sidecar\n      image: \"{{ .Values.sidecar.image }}\"\n\
         \x20   - name: deploy\n      image: \"{{ .Values.deploy.ref }}\"\n",
    )
    .unwrap();
    let _upstream = chart_with_images(&env, &chart, "relocatable", "0.1.0");
    let mut command = env.command(&["materialize", "--to", env.media().to_str().unwrap()]);
    let path = format!(
        "{}:{}",
        helm_binary().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    command.env("PATH", path);
    crate::support::output(command).success();
    let lock = env.lock_text();
    for name in ["app:1.5", "helper:2", "rendered:3", "worker:7"] {
        assert!(
            lock.contains(&format!("{host}/team/{name}")),
            "{name}: {lock}"
        );
    }

    let enclave = crate::registry::Registry::start(&env.temp.path().join("enclave"), None);
    let target = format!("http://{}/mirror", enclave.host());
    env.run(&["push", env.media().to_str().unwrap(), "--registry", &target])
        .success();
    drop(upstream_registry);
    let out = env.temp.path().join("rendered");
    env.run(&[
        "render",
        env.media().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--registry",
        &target,
    ])
    .success();
    let values = out.join("config/helm/values/relocatable.yaml");
    let text = std::fs::read_to_string(&values).unwrap();
    assert!(!text.contains("Not placed"), "{text}");
    let archive = env.media().join("charts/relocatable-0.1.0.tgz");
    let rendered = helm(
        &env,
        &[
            "template",
            "x",
            archive.to_str().unwrap(),
            "-f",
            values.to_str().unwrap(),
        ],
        env.temp.path(),
    );
    let images: Vec<String> = rendered
        .stdout
        .lines()
        .filter_map(|line| line.trim().strip_prefix("image: "))
        .map(|image| image.trim_matches('"').to_string())
        .collect();
    assert_eq!(images.len(), 4, "{}", rendered.stdout);
    for image in &images {
        assert!(
            image.starts_with(&format!("{}/mirror/", enclave.host())),
            "{image} is outside the enclave registry:\n{text}"
        );
        // skopeo takes a tag or a digest, not both (nodes take both).
        let by = match image.split_once('@') {
            Some((named, digest)) => {
                let (path, last) = named.rsplit_once('/').unwrap();
                format!("{path}/{}@{digest}", last.split(':').next().unwrap())
            }
            None => image.clone(),
        };
        let found = crate::registry::skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{by}"),
        ]);
        assert_eq!(
            found.code, 0,
            "{image} is not in the enclave registry: {}",
            found.stderr
        );
    }
    // The map with a digest field is pinned by digest.
    assert!(
        images
            .iter()
            .any(|image| image.contains("/team/app@sha256:")),
        "{images:?}"
    );
}
