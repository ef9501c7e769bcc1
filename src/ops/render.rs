//! Rendering: the configuration written into a tree by materialize ([`write_rendered`]), and
//! `airgap render DIR`, which re-renders `config/` and `kubespray/` of a media tree from its lock and
//! the inputs it was rendered with, changing those the command line gives (`--url`, `--host`,
//! `--ca`). Into the tree (SHA256SUMS signed again, with the key that signed it) or, with
//! `--out`, into a separate directory that leaves the signed tree untouched.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow};

use crate::cli::RenderArgs;
use crate::digest::Digest;
use crate::hint::Hinted;
use crate::kinds::Lockfile;
use crate::manifest::KubesprayHost;
use crate::media::signing::{self, Signer};
use crate::media::sums;
use crate::media::tree::{self, Tree};
use crate::render::{self, Inputs, Templates};
use crate::settings::Settings;

pub fn run(settings: &Settings, args: &RenderArgs) -> Result<()> {
    let root = &args.dir;
    let (lock_text, lock) = tree_lock(root)?;
    let mut inputs = match Inputs::read(root) {
        Ok(inputs) => inputs,
        Err(_) if args.url.is_some() => Inputs::default(),
        Err(error) => return Err(error.into()),
    };
    apply(&mut inputs, args)?;
    let templates = Templates::new(args.templates.as_deref())?;

    if let Some(out) = &args.out {
        let public_key = std::fs::read_to_string(root.join(tree::PUBLIC_KEY))
            .with_context(|| format!("cannot read {}", root.join(tree::PUBLIC_KEY).display()))?;
        let absolute = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
        let rendered = render::render(&lock, &inputs, &absolute, &public_key, &templates)?;
        for warning in &rendered.warnings {
            settings.printer.warn(warning);
        }
        for (relative, text) in &rendered.files {
            // Names come from the tree's lock, which may have been tampered with.
            let relative = crate::relative_path::RelativePath::new(relative).map_err(|problem| {
                crate::hint::Hinted::new(
                    format!("refusing to write `{}` below --out: {problem}", relative.escape_debug()),
                    "the tree's lock names a path outside; verify the tree with `airgap verify --key`",
                )
            })?;
            let path = out.join(relative.as_str());
            crate::store::atomic_write(&path, text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        settings.printer.status(
            "Rendered",
            format!(
                "{} files for {} into {} (the tree is unchanged)",
                rendered.files.len(),
                inputs.url,
                out.display()
            ),
        );
        return Ok(());
    }

    let signer = signer_of(root, args)?;
    let mut entries = signed_entries(root, &signer, &lock_text)?;
    entries.retain(|relative, _| {
        !render::ROOTS
            .iter()
            .any(|prefix| relative.starts_with(&format!("{prefix}/")))
    });
    let tree = Tree::open(root)?;
    let rendered = write_rendered(settings, &tree, &lock, &inputs, &signer, &templates)?;
    let count = rendered.len();
    entries.extend(rendered);
    let keep = entries.keys().cloned().collect();
    for prefix in render::ROOTS {
        for removed in tree.prune(prefix, &keep)? {
            settings
                .printer
                .detail(format!("removed {removed} (no longer rendered)"));
        }
    }
    tree.finish(&lock_text, entries, &signer)?;
    settings.printer.status(
        "Rendered",
        format!(
            "{count} files for {} into {}; SHA256SUMS signed again",
            inputs.url,
            root.display()
        ),
    );
    Ok(())
}

/// Renders the configuration into the tree; returns the files written, with their digests.
pub fn write_rendered(
    settings: &Settings,
    tree: &Tree,
    lock: &crate::kinds::Lockfile,
    inputs: &crate::render::Inputs,
    signer: &Signer,
    templates: &crate::render::Templates,
) -> Result<BTreeMap<String, Digest>> {
    let root = std::path::absolute(tree.root()).unwrap_or_else(|_| tree.root().to_path_buf());
    let rendered = crate::render::render(
        lock,
        inputs,
        &root,
        &signer.public_key_armored()?,
        templates,
    )?;
    for warning in &rendered.warnings {
        settings.printer.warn(warning);
    }
    let mut entries = BTreeMap::new();
    for (relative, text) in rendered.files {
        tree.write_if_changed(&relative, text.as_bytes())?;
        entries.insert(relative, Digest::of_bytes(text.as_bytes()));
    }
    Ok(entries)
}

/// The lock of a media tree: its exact text (what SHA256SUMS lists) and its model.
pub fn tree_lock(root: &Path) -> Result<(String, Lockfile)> {
    let lock_path = root.join(tree::LOCK);
    let lock_text = std::fs::read_to_string(&lock_path).with_context(|| {
        format!(
            "cannot read {}; give a media tree written by `airgap materialize`",
            lock_path.display()
        )
    })?;
    let lock = Lockfile::parse(&lock_path, &lock_text)?;
    Ok((lock_text, lock))
}

/// Applies the command line's changes to the inputs.
fn apply(inputs: &mut Inputs, args: &RenderArgs) -> Result<()> {
    if let Some(url) = &args.url {
        match url::Url::parse(url) {
            Ok(parsed)
                if matches!(parsed.scheme(), "http" | "https") && parsed.host_str().is_some() =>
            {
                inputs.url = url.trim_end_matches('/').to_string();
            }
            _ => {
                return Err(Hinted::new(
                    format!("--url {url} is not an http(s) URL"),
                    "give where the nodes reach the media, e.g. https://mirror.enclave.internal:8443",
                )
                .into());
            }
        }
    }
    if !args.hosts.is_empty() {
        inputs.kubespray.host = args
            .hosts
            .iter()
            .map(|text| parse_host(text))
            .collect::<Result<_>>()?;
    }
    if args.no_client_auth {
        inputs.client = render::Client::default();
    }
    let flag = |name: &str, problem: String| -> anyhow::Error {
        Hinted::new(
            format!("--{name} {problem}"),
            "give a path on the nodes, e.g. /etc/airgap/client.crt (or a variable prefix such as AIRGAP)",
        )
        .into()
    };
    if let (Some(cert), Some(key)) = (&args.client_cert, &args.client_key) {
        inputs.client.cert =
            Some(render::Client::node_path(cert).map_err(|problem| flag("client-cert", problem))?);
        inputs.client.key =
            Some(render::Client::node_path(key).map_err(|problem| flag("client-key", problem))?);
    }
    if let Some(prefix) = &args.credentials_from {
        inputs.client.credentials = Some(
            render::Client::variable_prefix(prefix)
                .map_err(|problem| flag("credentials-from", problem))?,
        );
    }
    if let Some(path) = &args.ca_on_node {
        inputs.client.ca_path =
            Some(render::Client::node_path(path).map_err(|problem| flag("ca-on-node", problem))?);
    }
    if !args.runtimes.is_empty() {
        let joined = args.runtimes.join(",");
        inputs.runtimes = if joined.trim() == "all" {
            Vec::new()
        } else {
            render::runtimes::Runtime::parse_list(&joined).map_err(|problem| {
                Hinted::new(
                    format!("--runtime {problem}"),
                    "e.g. --runtime containerd,crio (or --runtime all)",
                )
            })?
        };
    }
    if !args.replicas.is_empty() {
        inputs.replicas = args
            .replicas
            .iter()
            .map(|text| {
                render::replica_address(text).map_err(|problem| {
                    Hinted::new(
                        format!("--replica {} {problem}", text.escape_debug()),
                        "give where the load balancer reaches each `airgap serve`, e.g. --replica 10.0.0.11:8080",
                    )
                    .into()
                })
            })
            .collect::<Result<_>>()?;
    }
    if args.no_registry {
        inputs.registry = None;
    }
    if let Some(registry) = &args.registry {
        let layout = args.layout.map(Into::into).unwrap_or_default();
        inputs.registry = Some(
            crate::oci::target::Target::parse(registry, layout)
                .map_err(|message| anyhow!("--registry {message}"))?,
        );
    }
    if args.no_ca {
        inputs.ca = None;
    }
    if let Some(path) = &args.ca {
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the CA certificate {}", path.display()))?;
        if !pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(Hinted::new(
                format!("{} holds no PEM certificate", path.display()),
                "give the CA certificate that signs the server's TLS certificate",
            )
            .into());
        }
        inputs.ca = Some(pem);
    }
    Ok(())
}

/// `NAME=ADDRESS/GROUP[,GROUP...]`.
fn parse_host(text: &str) -> Result<KubesprayHost> {
    let usage = || {
        anyhow::Error::from(Hinted::new(
            format!("--host {text} is not NAME=ADDRESS/GROUP[,GROUP...]"),
            "e.g. --host cp1=10.0.0.11/kube_control_plane,etcd,kube_node",
        ))
    };
    let (name, rest) = text.split_once('=').ok_or_else(usage)?;
    let (address, groups) = rest.rsplit_once('/').ok_or_else(usage)?;
    let groups: Vec<String> = groups
        .split(',')
        .map(str::trim)
        .filter(|group| !group.is_empty())
        .map(str::to_string)
        .collect();
    // The same rules as `[[kubespray.host]]` in a manifest.
    let valid_name = crate::manifest::validate::is_inventory_name(name);
    let valid_groups = !groups.is_empty()
        && groups
            .iter()
            .all(|group| crate::manifest::validate::is_identifier(group));
    if !valid_name || address.is_empty() || address.contains(char::is_whitespace) || !valid_groups {
        return Err(usage());
    }
    Ok(KubesprayHost {
        name: name.to_string(),
        address: address.to_string(),
        ip: None,
        groups,
    })
}

/// The key that signed the tree: its public half must be the tree's keys/airgap.asc (the apt
/// and yum metadata are signed with it; another key would orphan them).
fn signer_of(root: &Path, args: &RenderArgs) -> Result<Signer> {
    let key_path = args
        .signing_key
        .clone()
        .unwrap_or_else(Signer::default_path);
    let (signer, _) = Signer::load_or_create(&key_path, false).map_err(|error| {
        Hinted::new(
            format!("cannot load the signing key {}: {error}", key_path.display()),
            "render where the tree was materialized, pass --signing-key, or use --out DIR to write the configuration outside the signed tree",
        )
    })?;
    let tree_key = signing::read_public_key(&root.join(tree::PUBLIC_KEY))?;
    if signing::fingerprint(&tree_key) != signer.fingerprint() {
        return Err(Hinted::new(
            format!(
                "{} signed this tree with key {}, not with {} ({})",
                tree::PUBLIC_KEY,
                signing::fingerprint(&tree_key),
                signer.fingerprint(),
                key_path.display()
            ),
            "pass --signing-key with the tree's key, or use --out DIR to write the configuration outside the signed tree",
        )
        .into());
    }
    Ok(signer)
}

/// The tree's SHA256SUMS, after checking that this key signed it and that it lists the lock
/// as it is: re-signing must never vouch for a list someone else changed.
fn signed_entries(
    root: &Path,
    signer: &Signer,
    lock_text: &str,
) -> Result<BTreeMap<String, Digest>> {
    let list_path = root.join(sums::SUMS);
    let list = std::fs::read(&list_path)
        .with_context(|| format!("cannot read {}", list_path.display()))?;
    let signature = std::fs::read(root.join(sums::SIGNATURE)).unwrap_or_default();
    if !signer.signed(&list, &signature) {
        return Err(Hinted::new(
            format!(
                "{} of {} is not signed by this key as it is",
                sums::SUMS,
                root.display()
            ),
            format!(
                "run `airgap verify {} --key KEY`; a tree whose list changed must be materialized again",
                root.display()
            ),
        )
        .into());
    }
    let entries = sums::parse(&String::from_utf8_lossy(&list))
        .map_err(|message| anyhow!("{}: {message}", list_path.display()))?;
    if entries.get(tree::LOCK) != Some(&Digest::of_bytes(lock_text.as_bytes())) {
        return Err(Hinted::new(
            format!(
                "{} of {} is not the lock SHA256SUMS lists",
                tree::LOCK,
                root.display()
            ),
            format!(
                "run `airgap verify {}`; materialize the tree again",
                root.display()
            ),
        )
        .into());
    }
    Ok(entries)
}
