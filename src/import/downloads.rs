//! Kubespray's download table, derived from Kubespray's own data: for every file of its
//! `downloads:` table, the variable that holds the URL, the variable the sha256 is checked
//! against, where it is fetched from (host and path, with Kubespray's variables as slots), and
//! whether Kubespray's default configuration fetches it (evaluated, not assumed). `render`
//! reads it to recognise the lock's files, so a new Kubespray release is new data, not Rust.

use std::collections::BTreeSet;

use yaml_serde::Value as Yaml;

use super::{DEFAULTS, ImportError, Options, Tree, import_tree, parse_layer};

/// One file Kubespray downloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// The `downloads:` key (`kubeadm`).
    pub key: String,
    /// The variable that holds the URL (`kubeadm_download_url`).
    pub variable: String,
    /// The variable Kubespray checks the sha256 against, when the table names one.
    pub checksum: Option<String>,
    /// The host it is fetched from by default (`dl.k8s.io`).
    pub upstream: String,
    /// The path below the host: `{name}` is a Kubespray variable, `{arch}` `image_arch`,
    /// `{architecture}` `ansible_architecture`, `{system}` `ansible_system | lower`, `{static}`
    /// containerd's optional `static-`.
    pub path: String,
    /// Fetched by Kubespray's default configuration.
    pub default: bool,
}

/// The download table of the Kubespray release this binary carries.
pub fn builtin() -> Result<Vec<Download>, ImportError> {
    table(&Tree::Embedded)
}

fn table(tree: &Tree) -> Result<Vec<Download>, ImportError> {
    let defaults = parse_layer(&tree.files(DEFAULTS)?)?;
    let enabled: BTreeSet<String> = import_tree(tree, &Options::default())?
        .files
        .into_iter()
        .map(|file| file.variable)
        .collect();
    let downloads = defaults
        .get("downloads")
        .and_then(Yaml::as_mapping)
        .ok_or_else(|| invalid("`downloads:` is missing"))?;
    let mut table = Vec::new();
    for (key, entry) in downloads {
        let (Some(key), Some(entry)) = (key.as_str(), entry.as_mapping()) else {
            continue;
        };
        let Some(variable) = entry
            .get("url")
            .and_then(Yaml::as_str)
            .and_then(single_variable)
        else {
            continue;
        };
        let template = defaults
            .get(variable.as_str())
            .and_then(Yaml::as_str)
            .ok_or_else(|| {
                invalid(&format!(
                    "downloads.{key}.url names `{variable}`, which is not a string"
                ))
            })?;
        let (upstream, path) = location(template, &defaults)
            .map_err(|message| invalid(&format!("{variable}: {message}")))?;
        let checksum = entry
            .get("checksum")
            .and_then(Yaml::as_str)
            .and_then(first_identifier)
            .filter(|name| name.ends_with("_checksum") && defaults.contains_key(name.as_str()));
        table.push(Download {
            key: key.to_string(),
            default: enabled.contains(&variable),
            variable,
            checksum,
            upstream,
            path,
        });
    }
    Ok(table)
}

fn invalid(message: &str) -> ImportError {
    ImportError::Invalid(format!("Kubespray's download table: {message}"))
}

/// `{{ name }}` → `name`.
fn single_variable(text: &str) -> Option<String> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    is_identifier(inner).then(|| inner.to_string())
}

/// The first identifier of a Jinja expression (`{{ a_checksum if x else y }}` → `a_checksum`).
fn first_identifier(expression: &str) -> Option<String> {
    let inner = expression.trim().strip_prefix("{{")?.trim_start();
    let name: String = inner
        .chars()
        .take_while(|character| character.is_ascii_alphanumeric() || *character == '_')
        .collect();
    is_identifier(&name).then_some(name)
}

fn is_identifier(text: &str) -> bool {
    text.starts_with(|character: char| character.is_ascii_alphabetic() || character == '_')
        && text
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || character == '_')
}

/// Splits a URL template into its host and its path with slots: a leading `{{ x_url }}` is
/// the base URL variable (a plain URL in the defaults), the rest is literal text and the
/// expressions Kubespray uses in paths.
fn location(
    template: &str,
    defaults: &std::collections::HashMap<String, Yaml>,
) -> Result<(String, String), String> {
    let (base, rest) = match template.strip_prefix("{{") {
        Some(after) => {
            let end = after.find("}}").ok_or("an expression is not closed")?;
            let name = after[..end].trim();
            let base = defaults
                .get(name)
                .and_then(Yaml::as_str)
                .ok_or_else(|| format!("the base URL `{name}` is not a plain string"))?;
            (base.to_string(), after[end + 2..].to_string())
        }
        None => (template.to_string(), String::new()),
    };
    let full = format!("{base}{rest}");
    let after_scheme = full
        .split_once("://")
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("`{full}` is not a URL"))?;
    let (host, path) = after_scheme
        .split_once('/')
        .ok_or_else(|| format!("`{full}` has no path"))?;
    Ok((host.to_string(), slots(path)?))
}

/// Kubespray's path expressions as slots.
fn slots(path: &str) -> Result<String, String> {
    let mut result = String::new();
    let mut rest = path;
    while let Some(open) = rest.find("{{") {
        result.push_str(&rest[..open]);
        let close = rest[open..]
            .find("}}")
            .map(|close| open + close)
            .ok_or("an expression is not closed")?;
        let expression = rest[open + 2..close].trim();
        let slot = match expression {
            "image_arch" => "arch".to_string(),
            "ansible_architecture" => "architecture".to_string(),
            "ansible_system | lower" => "system".to_string(),
            "'static-' if containerd_static_binary" => "static".to_string(),
            name if is_identifier(name) => name.to_string(),
            other => {
                return Err(format!(
                    "the path expression `{other}` is not one airgap knows"
                ));
            }
        };
        result.push('{');
        result.push_str(&slot);
        result.push('}');
        rest = &rest[close + 2..];
    }
    result.push_str(rest);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table as it was written by hand for Kubespray v2.31.0, before it was derived:
    /// (key, variable, checksum, upstream, path).
    const WRITTEN: &str = include_str!("downloads_v2.31.0.txt");

    #[test]
    fn the_derived_table_is_kubesprays() {
        let derived = builtin().unwrap();
        let mut expected: Vec<(String, String, Option<String>, String, String)> = WRITTEN
            .lines()
            .map(|line| {
                let fields: Vec<&str> = line.split('|').collect();
                (
                    fields[0].to_string(),
                    fields[1].to_string(),
                    Some(fields[2].to_string()).filter(|text| !text.is_empty()),
                    fields[3].to_string(),
                    fields[4].to_string(),
                )
            })
            .collect();
        let mut found: Vec<(String, String, Option<String>, String, String)> = derived
            .iter()
            .map(|download| {
                (
                    download.key.clone(),
                    download.variable.clone(),
                    download.checksum.clone(),
                    download.upstream.clone(),
                    download.path.clone(),
                )
            })
            .collect();
        expected.sort();
        found.sort();
        assert_eq!(found, expected);
        // Kubespray's default configuration (containerd, Calico, etcd on the hosts).
        let default: BTreeSet<&str> = derived
            .iter()
            .filter(|download| download.default)
            .map(|download| download.key.as_str())
            .collect();
        assert_eq!(
            default,
            BTreeSet::from([
                "calico_crds",
                "calicoctl",
                "cni",
                "containerd",
                "crictl",
                "etcd",
                "kubeadm",
                "kubectl",
                "kubelet",
                "nerdctl",
                "runc",
            ])
        );
    }

    #[test]
    fn an_unknown_path_expression_is_an_error() {
        assert!(slots("a/{{ image_arch }}/b").is_ok());
        assert!(slots("a/{{ x | upper }}/b").is_err());
    }
}
