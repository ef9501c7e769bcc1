//! `[[pypi]]` against a loopback PEP 503 index of real wheels (`scripts/pypi-fixture`: Kubespray
//! v2.31.0's requirements fetched once with `pip download`, and small wheels made there for
//! markers, extras and `Requires-Python`), checked against pip itself: the same distributions
//! as `pip install --dry-run --report` for the same target, and an install with
//! `--require-hashes` from the media through `airgap serve`, after which `ansible --version`
//! runs.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use crate::support::{BINARY, Env, output};
use crate::upstream::Upstream;

fn fixture() -> PathBuf {
    crate::support::fixture("pypi-fixture")
}

/// The fixture's index on a loopback upstream (a project page answers at `simple/<name>/`).
fn index() -> Upstream {
    let upstream = Upstream::start();
    let root = fixture().join("index");
    crate::support::serve_directory(&upstream, &root);
    for file in crate::support::files_under(&root) {
        let relative = file.to_string_lossy().into_owned();
        if let Some(directory) = relative.strip_suffix("index.html") {
            upstream.put(directory, std::fs::read(root.join(&file)).unwrap());
            upstream.content_type(directory, "text/html");
        }
    }
    upstream
}

fn manifest(index: &Upstream, requirements: &str) -> String {
    format!(
        "[[pypi]]\nname = \"admin\"\nindex = \"{}\"\n{requirements}\npython = \"3.11\"\nplatforms = [\"manylinux_2_28_x86_64\"]\n",
        index.url("simple").trim_end_matches('/')
    )
}

/// (name, version, file) of every distribution the lock pins.
fn locked(env: &Env) -> BTreeSet<(String, String, String)> {
    let lock: toml::Table = toml::from_str(&env.lock_text()).unwrap();
    lock["pypi"].as_array().unwrap()[0]["package"]
        .as_array()
        .unwrap()
        .iter()
        .map(|dist| {
            (
                dist["name"].as_str().unwrap().to_string(),
                dist["version"].as_str().unwrap().to_string(),
                dist["filename"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// What pip would install for the same target, from the same index: `pip install --dry-run
/// --report` for CPython 3.11 on manylinux_2_28 / manylinux2014 x86_64, wheels only.
fn pip_picks(
    env: &Env,
    index: &Upstream,
    requirements: &[&str],
) -> BTreeSet<(String, String, String)> {
    let report = env.temp.path().join("report.json");
    let mut command = Command::new(fixture().join("venv/bin/pip"));
    command
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--dry-run",
            "--ignore-installed",
            "--only-binary=:all:",
            "--python-version",
            "3.11",
            "--implementation",
            "cp",
            "--platform",
            "manylinux_2_28_x86_64",
            "--platform",
            "manylinux2014_x86_64",
            "--no-cache-dir",
        ])
        .arg("--target")
        .arg(env.temp.path().join("pip-target"))
        .arg("--report")
        .arg(&report)
        .arg("--index-url")
        .arg(index.url("simple"))
        .args(requirements);
    let run = output(command);
    assert_eq!(run.code, 0, "pip: {}{}", run.stdout, run.stderr);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    report["install"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let url = item["download_info"]["url"].as_str().unwrap();
            (
                normalize(item["metadata"]["name"].as_str().unwrap()),
                item["metadata"]["version"].as_str().unwrap().to_string(),
                url.rsplit('/').next().unwrap().to_string(),
            )
        })
        .collect()
}

fn normalize(name: &str) -> String {
    airgap::kinds::pypi::index::normalize(name)
}

fn kubespray_workspace(env: &Env, index: &Upstream) {
    env.workspace_file(
        "kubespray/requirements.txt",
        &std::fs::read(fixture().join("requirements.txt")).unwrap(),
    );
    env.manifest(
        "pypi.toml",
        &manifest(index, "requirements = \"kubespray/requirements.txt\""),
    );
}

#[test]
fn the_lock_picks_the_distributions_pip_picks_for_kubesprays_requirements() {
    let env = Env::new();
    let index = index();
    kubespray_workspace(&env, &index);
    env.run(&["lock"]).success();
    let ours = locked(&env);
    // The index serves PEP 658 metadata for these: no wheel was downloaded to resolve (a HEAD
    // tells each file's size, which an HTML index does not give).
    let wheels: Vec<String> = index
        .requests()
        .into_iter()
        .filter(|request| request.method != "HEAD" && request.path.ends_with(".whl"))
        .map(|request| request.path)
        .collect();
    assert!(wheels.is_empty(), "downloaded to resolve: {wheels:?}");
    let requirements = fixture().join("requirements.txt");
    let theirs = pip_picks(&env, &index, &["-r", requirements.to_str().unwrap()]);
    assert_eq!(ours, theirs, "airgap's closure differs from pip's");
    assert!(
        ours.iter()
            .any(|(name, version, _)| name == "ansible-core" && version.starts_with("2.18."))
    );
    // Nothing changed: the lock stands, offline.
    env.run(&["lock", "--offline"]).success();
}

#[test]
fn markers_extras_and_requires_python_are_evaluated_for_the_target() {
    let env = Env::new();
    let index = index();
    let packages = ["markers-demo", "extras-demo[feature]", "pyreq"];
    env.manifest(
        "pypi.toml",
        &manifest(
            &index,
            "packages = [\"markers-demo\", \"extras-demo[feature]\", \"pyreq\"]",
        ),
    );
    env.run(&["lock"]).success();
    let ours = locked(&env);
    let names: BTreeSet<(&str, &str)> = ours
        .iter()
        .map(|(name, version, _)| (name.as_str(), version.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("extra-dep", "1.1"),
            ("extras-demo", "1.0"),
            ("linux-only", "1.0"),
            ("markers-demo", "1.0"),
            ("pyreq", "1.0"),
        ]
        .into_iter()
        .collect()
    );
    assert_eq!(ours, pip_picks(&env, &index, &packages));
}

#[test]
fn a_tampered_wheel_or_a_missing_platform_fails_the_lock_by_name() {
    let env = Env::new();
    let index = index();
    env.manifest("pypi.toml", &manifest(&index, "packages = [\"tampered\"]"));
    env.run(&["lock"])
        .failure()
        .stderr_has("tampered-1.0-py3-none-any.whl")
        .stderr_has("do not match the sha256 the index gives");
    assert!(!env.workspace().join("airgap.lock").exists());

    env.manifest(
        "pypi.toml",
        &manifest(&index, "packages = [\"no-linux-wheel\"]"),
    );
    env.run(&["lock"])
        .failure()
        .stderr_has("no file of no-linux-wheel")
        .stderr_has("no_linux_wheel-1.0-cp311-cp311-win_amd64.whl")
        .stderr_has("cp311-cp311-manylinux_2_28_x86_64")
        .stderr_has("hint:");
}

#[test]
fn pypi_manifest_errors_are_located() {
    let env = Env::new();
    env.workspace_file("requirements.txt", b"ansible==11.13.0\n-r more.txt\n");
    env.manifest(
        "pypi.toml",
        "[[pypi]]\nname = \"admin\"\nindex = \"https://pypi.org/simple\"\nrequirements = \"requirements.txt\"\npython = \"3\"\nplatforms = [\"win_amd64\"]\n",
    );
    env.run(&["lock", "--offline"])
        .failure()
        .stderr_has("requirements.txt:2: `-r more.txt` is an option")
        .stderr_has("`3` is not a Python version")
        .stderr_has("`win_amd64` is not a Linux wheel platform");
}

#[test]
fn pip_installs_the_locked_set_with_require_hashes_from_airgap_serve_and_ansible_runs() {
    let env = Env::new();
    let index = index();
    kubespray_workspace(&env, &index);
    env.materialize(&[]).success();
    drop(index);
    let media = env.media();
    let lockfile = media.join("pypi/admin/requirements.lock.txt");
    let text = std::fs::read_to_string(&lockfile).unwrap();
    assert!(
        text.contains("ansible==11.13.0 \\\n    --hash=sha256:"),
        "{text}"
    );
    let served = crate::serve::serve(&media, &[]);
    let url = format!("http://127.0.0.1:{}", served.port);
    let out = env.temp.path().join("rendered");
    let mut command = Command::new(BINARY);
    command
        .arg("render")
        .arg(&media)
        .args(["--url", &url, "--out"])
        .arg(&out);
    let run = output(command);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let conf = out.join("config/pip/pip.conf");
    let pip_conf = std::fs::read_to_string(&conf).unwrap();
    assert!(
        pip_conf.contains(&format!("index-url = {url}/pypi/admin/simple/"))
            && pip_conf.contains("trusted-host = 127.0.0.1"),
        "{pip_conf}"
    );
    // A fresh venv, no cache, nothing but the rendered pip.conf and the media's server.
    let venv = env.temp.path().join("venv");
    let created = output({
        let mut command = Command::new("python3");
        command.args(["-m", "venv"]).arg(&venv);
        command
    });
    assert_eq!(created.code, 0, "{}", created.stderr);
    let install = output({
        let mut command = Command::new(venv.join("bin/pip"));
        command
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-cache-dir",
                "--require-hashes",
                "-r",
            ])
            .arg(&lockfile)
            .env("PIP_CONFIG_FILE", &conf)
            .env_remove("PIP_INDEX_URL")
            .env_remove("PIP_EXTRA_INDEX_URL");
        command
    });
    assert_eq!(
        install.code, 0,
        "pip install: {}{}",
        install.stdout, install.stderr
    );
    let version = output({
        let mut command = Command::new(venv.join("bin/ansible"));
        command
            .arg("--version")
            .env("ANSIBLE_HOME", env.temp.path().join("ansible-home"));
        command
    });
    assert_eq!(version.code, 0, "{}", version.stderr);
    assert!(version.stdout.contains("core 2.18."), "{}", version.stdout);
}

#[test]
fn import_kubespray_with_python_emits_the_checkouts_requirements_as_a_pypi_set() {
    let env = Env::new();
    let checkout = crate::import::kubespray_tree(env.temp.path());
    std::fs::copy(
        fixture().join("requirements.txt"),
        checkout.join("requirements.txt"),
    )
    .unwrap();
    let mut command = env.command_in(env.temp.path());
    command.current_dir(env.temp.path()).args([
        "import",
        "kubespray",
        "kubespray",
        "--arch",
        "amd64",
        "--python",
        "3.11",
    ]);
    let run = output(command);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(
            "[[pypi]]\nname = \"kubespray-admin\"\nindex = \"https://pypi.org/simple\"\npackages = [\"ansible==11.13.0\", \"cryptography==46.0.7\", \"jmespath==1.1.0\", \"netaddr==1.3.0\"]\npython = \"3.11\"\nplatforms = [\"manylinux_2_28_x86_64\"]\n"
        ),
        "{}",
        run.stdout
    );
    // The entry locks as it is (here against the loopback index instead of PyPI).
    let index = index();
    let entry = &run.stdout[run.stdout.find("[[pypi]]").unwrap()..];
    let entry = &entry[..entry.find("\n\n").unwrap_or(entry.len())];
    env.manifest(
        "pypi.toml",
        &entry.replace(
            "https://pypi.org/simple",
            index.url("simple").trim_end_matches('/'),
        ),
    );
    env.run(&["lock"]).success();
    assert!(
        env.lock_text()
            .contains("filename = \"ansible-11.13.0-py3-none-any.whl\"")
    );
}
